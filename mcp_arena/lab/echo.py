"""The echo floor of `mcp-arena bench`: one trivial tool on a plain SDK `MCPServer`, over stdio.

    python -m mcp_arena.lab.echo

Whatever a tool call costs on this machine with this SDK and this client before any server
work (process pipes, JSON-RPC framing, the SDK's dispatch and validation) is what `echo`
costs. The bench spawns it beside the arena, drives it with the same client code in the
same run, and reports every arena tool's latency as a ratio to it. Imports nothing of the
arena.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

ECHO_TOOL = "echo"


def build_echo_server() -> MCPServer:
    server = MCPServer("echo-floor")

    @server.tool(name=ECHO_TOOL)
    def echo(text: str = "") -> str:
        """Return the text unchanged."""
        return text

    return server


if __name__ == "__main__":
    build_echo_server().run("stdio")
