"""mcp-arena: an MCP server that lets an agent manage its own context window like an arena allocator.

The public surface: `Settings`, `Arena` (the engine, no MCP in it), `build_server`
(the MCP server over it) and the error tree in `mcp_arena.errors`. Names are
imported on first use: importing LanceDB takes well over a second, and the
server answers `initialize` before it needs it. `__version__` is read from the
installed package's metadata.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing costs every start, the hook client's too

__all__ = ["Arena", "ArenaError", "Reply", "Settings", "__version__", "build_server"]

_WHERE = {
    "Arena": "mcp_arena.engine.arena",
    "Reply": "mcp_arena.engine.arena",
    "Settings": "mcp_arena.config",
    "ArenaError": "mcp_arena.errors",
    "build_server": "mcp_arena.server",
}

if TYPE_CHECKING:
    from typing import Any

    from mcp_arena.config import Settings
    from mcp_arena.engine.arena import Arena, Reply
    from mcp_arena.errors import ArenaError
    from mcp_arena.server import build_server

    __version__: str


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("mcp-arena")
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'mcp_arena' has no attribute {name!r}")
