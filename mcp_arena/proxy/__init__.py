"""The arena in front of the user's other MCP servers: the client side of the proxy.

May import: `mcp_arena.config`, `mcp_arena.errors`, `mcp_arena.core` and the MCP SDK's client; never LanceDB, the engine, the server or the CLI.

`config` reads an `mcpServers` file into server specs, and `secrets` keeps their tokens
out of every repr, message and log line; `transport` opens one connection (stdio
subprocess, streamable HTTP, SSE); `upstream` keeps one server connected (start, restart
with backoff, calls with a timeout, faults turned into `UpstreamError`s with a model-facing
message); `pool` runs every server of a file and fixes the list of tools the arena
re-exports. The server side (re-exporting the tools, the arena's call path) lives beside
`server.py`, not here.
"""
