"""mcp-arena: an MCP server that lets an agent manage its own context window like an arena allocator.

The public surface: `Settings`, `Arena` (the engine, no MCP in it), `build_server`
(the MCP server over it) and the error tree in `mcp_arena.errors`.
"""

__version__ = "0.1.0"

from .arena import Arena, Reply  # noqa: E402
from .config import Settings  # noqa: E402
from .errors import ArenaError  # noqa: E402

__all__ = ["Arena", "ArenaError", "Reply", "Settings", "__version__", "build_server"]


def build_server(settings=None, arena=None):
    """See `mcp_arena.server.build_server` (imported lazily: the engine needs no MCP)."""
    from .server import build_server as build

    return build(settings, arena)
