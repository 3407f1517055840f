"""A small SDK-built MCP server that misbehaves on request: the upstream of the proxy tests.

Run as `python fault_server.py` (stdio), `--http PORT` (streamable HTTP on 127.0.0.1, path /mcp)
or `--sse PORT` (SSE, path /sse). Environment:

    FAULT_NAME        its name, echoed back by `echo` (tells two instances apart)
    FAULT_LOG         a file each notable event is appended to (started, cancelled, ...)
    FAULT_BREAK_FILE  when this file exists, the server refuses to start (exit code 3)
    FAULT_SECRET      a token; printed to stderr at start so tests can check it never leaks

Tools: echo, big, image, crash, hang, slow_progress, flip_tools, fail, protocol_error, stats
(structured output), and `tag` (clashes with an arena tool on purpose).
"""

# ruff: noqa: E402  (the SDK is imported after the refusal check, so a refusing server exits at once)
from __future__ import annotations

import os
import sys
from pathlib import Path

NAME = os.environ.get("FAULT_NAME", "fault")


def note(event: str) -> None:
    log = os.environ.get("FAULT_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{NAME} {event}\n")


def announce_or_refuse() -> None:
    secret = os.environ.get("FAULT_SECRET", "")
    sys.stderr.write(f"fault server {NAME} starting (token {secret})\n")
    sys.stderr.flush()
    break_file = os.environ.get("FAULT_BREAK_FILE")
    if break_file and Path(break_file).exists():
        sys.stderr.write(f"fault server {NAME}: refusing to start, token {secret} rejected\n")
        note("refused")
        sys.exit(3)


if __name__ == "__main__":
    announce_or_refuse()

import argparse
import base64

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, ImageContent, TextContent, ToolAnnotations
from pydantic import BaseModel

# The smallest valid PNG: one transparent pixel.
PIXEL_PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


class Stats(BaseModel):
    words: int
    chars: int


server = MCPServer(NAME, instructions="a misbehaving test server")


@server.tool(meta={"example.com/origin": "fault-server"})
def echo(text: str) -> str:
    """Return the text, prefixed with this server's name."""
    return f"{NAME}: {text}"


@server.tool(title="Many lines", annotations=ToolAnnotations(read_only_hint=True))
def big(lines: int) -> str:
    """Return `lines` numbered lines."""
    return "\n".join(f"line {n} of {lines}" for n in range(1, lines + 1))


@server.tool()
def image() -> CallToolResult:
    """Return a one-pixel PNG as an image content block."""
    data = base64.b64encode(PIXEL_PNG).decode()
    return CallToolResult(content=[TextContent(type="text", text="a pixel"), ImageContent(type="image", data=data, mime_type="image/png")])


@server.tool()
def crash() -> str:
    """Exit the process at once, without answering."""
    note("crashing")
    sys.stderr.write("fault server: crashing on request\n")
    sys.stderr.flush()
    os._exit(1)


@server.tool()
async def hang(seconds: float = 3600) -> str:
    """Sleep; records a cancellation if the request is cancelled."""
    note("hanging")
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        note("cancelled")
        raise
    return "woke up"


@server.tool()
async def slow_progress(steps: int, ctx: Context, delay: float = 0.05) -> str:
    """Report `steps` progress notifications, then answer."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step}")
        await anyio.sleep(delay)
    return f"done after {steps} steps"


@server.tool()
async def flip_tools(ctx: Context) -> str:
    """Announce that the tool list changed (it did not)."""
    await ctx.session.send_tool_list_changed()
    return "announced"


@server.tool()
def fail(reason: str = "it failed") -> str:
    """Raise an ordinary tool error (an isError result)."""
    raise ToolError(reason)


@server.tool()
def protocol_error() -> str:
    """Answer with a JSON-RPC error instead of a result."""
    raise MCPError(code=-32603, message="the upstream broke its own protocol")


@server.tool()
def stats(text: str) -> Stats:
    """Count the words and characters of the text (structured output)."""
    return Stats(words=len(text.split()), chars=len(text))


@server.tool()
def tag(label: str) -> str:
    """A tool whose name clashes with the arena's own `tag`."""
    return f"{NAME} tagged {label}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, help="serve streamable HTTP on 127.0.0.1:PORT (path /mcp)")
    parser.add_argument("--sse", type=int, help="serve SSE on 127.0.0.1:PORT (path /sse)")
    args = parser.parse_args()
    note("started")
    if args.http:
        server.run("streamable-http", host="127.0.0.1", port=args.http)
    elif args.sse:
        server.run("sse", host="127.0.0.1", port=args.sse)
    else:
        server.run("stdio")


if __name__ == "__main__":
    main()
