"""Feeds: what the server learns about a host's context from outside its own tools.

Transcript parsers (pure Python, no MCP, no LanceDB), one per agent:

- `claude_code`  Claude Code session JSONL → events; `turn_usage`, `context_tokens` (exact context size per API request)
- `swe_agent`    SWE-agent `.traj` → events; `parse_action` for command lines
- `openhands`    OpenHands event lists / evaluation JSONL → events, one session per record
- `formats`      `detect`, `read_sessions`, `read_any`, `session_ids` over all three
- `turns`        over all three: where a model turn opens, which user event is a request

The live transcript feed:

- `tail`    `TranscriptTail`: incremental, restart-safe reading of a growing JSONL file
- `live`    `ClaudeCodeFeed`: tail + parser, `poll()` → new events, `state()` to persist
- `locate`  `auto` discovery of the current Claude Code transcript from a working directory

May import: `mcp_arena.core`, `mcp_arena.errors` and other `feeds` modules; never LanceDB, MCP, the engine or the CLI.
The engine binds the live feed to a session (`engine.transcript`); the CLI's `ingest`, `replay` and `hook` use the parsers.
"""
