"""The stateful engine: every LanceDB table, lock, thread and cache; one method per tool.

May import: `mcp_arena.core`, `mcp_arena.search`, `mcp_arena.feeds`, `mcp_arena.config`, `mcp_arena.errors`; never MCP, the server, the CLI or the lab.
"""
