"""The arena's rules, pure: events, the ledger fold, status, squash plans, summaries, file actions
and the trail, skills and their pager, result models and their text, token counts.

May import: `mcp_arena.config`, `mcp_arena.errors` and other `core` modules; never LanceDB, MCP, threads or any other room.
"""
