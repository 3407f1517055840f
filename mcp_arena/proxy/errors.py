"""What can go wrong on the client side of the proxy, as `ArenaError`s.

    ArenaError
    ├── UpstreamConfigError     the --upstream file is missing, not JSON or not a valid mcpServers entry
    └── UpstreamError           one proxied call failed; the message names the server and what happened
        ├── UpstreamUnavailable the server is down (failed to start, crashed and not yet restarted)
        ├── UpstreamLost        the connection broke during the call (crash, exit, network)
        ├── UpstreamTimeout     no answer within the call timeout; the request was cancelled upstream
        ├── UpstreamProtocolError  a JSON-RPC error or a malformed result instead of a tool result
        └── UnknownProxiedTool  no exported tool has that name

Every message is written for the model (what happened, what to do next) and never
contains a secret: messages are built from the server key, the command or the URL
without its query, and text passed through the server's `redact`.
"""

from __future__ import annotations

from mcp_arena.errors import ArenaError


class UpstreamConfigError(ArenaError):
    """The upstream file cannot be used; the message names the file, the key and the fix."""


class UpstreamError(ArenaError):
    """A proxied call failed. `server` is the upstream's key, `tool` the upstream's own tool name."""

    def __init__(self, message: str, *, server: str, tool: str = ""):
        super().__init__(message)
        self.server = server
        self.tool = tool


class UpstreamUnavailable(UpstreamError):
    pass


class UpstreamLost(UpstreamError):
    pass


class UpstreamTimeout(UpstreamError):
    pass


class UpstreamProtocolError(UpstreamError):
    pass


class UnknownProxiedTool(UpstreamError):
    pass
