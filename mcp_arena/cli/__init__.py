"""The `mcp-arena` command: one explicit table of subcommands, each imported when it runs; demo, ingest, replay, hooks.

May import any room; nothing imports it but `mcp_arena.__main__`.
"""
