"""mcp-arena: an MCP server that lets an agent manage its own context window like an arena allocator.

The public surface: `Settings`, `Arena` (the engine, no MCP in it), `build_server`
(the MCP server over it) and the error tree in `mcp_arena.errors`. Names are
imported on first use: importing LanceDB takes well over a second, and the
server answers `initialize` before it needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = ["Arena", "ArenaError", "Reply", "Settings", "__version__", "build_server"]

_WHERE = {
    "Arena": "mcp_arena.engine.arena",
    "Reply": "mcp_arena.engine.arena",
    "Settings": "mcp_arena.config",
    "ArenaError": "mcp_arena.errors",
    "build_server": "mcp_arena.server",
}

if TYPE_CHECKING:
    from mcp_arena.__init__.arena import Arena, Reply
    from mcp_arena.__init__.config import Settings
    from mcp_arena.__init__.errors import ArenaError
    from mcp_arena.__init__.server import build_server


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'mcp_arena' has no attribute {name!r}")
