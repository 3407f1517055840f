"""Feeds: what the server learns about a host's context from outside its own tools.

Transcript parsers (pure Python, no MCP, no LanceDB), one per agent:

- `claude_code`  Claude Code session JSONL → events; `turn_usage` (exact context size per API request)
- `swe_agent`    SWE-agent `.traj` → events; `parse_action` for command lines
- `openhands`    OpenHands event lists / evaluation JSONL → events, one session per record
- `formats`      `detect`, `read_sessions`, `read_any`, `session_ids` over all three

The live transcript feed:

- `tail`    `TranscriptTail`: incremental, restart-safe reading of a growing JSONL file
- `live`    `ClaudeCodeFeed`: tail + parser, `poll()` → new events, `state()` to persist
- `locate`  `auto` discovery of the current Claude Code transcript from a working directory
- `runtime` `TranscriptRuntime`: binds the live feed to the engine (session = the Claude Code session id)

Commands for people and hosts (registered into `mcp-arena` by `commands`):

- `commands` `ingest`, `replay`, `hook`
- `replay`   turn-by-turn replay: real usage next to the arena's figure, zone and advice
- `hooks`    Claude Code `SessionStart` (re-inject after compaction) and `PreCompact` hooks
"""
