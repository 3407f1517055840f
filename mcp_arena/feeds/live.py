"""The live transcript feed: a tail over a Claude Code session file plus the parser.

`ClaudeCodeFeed(path).poll()` returns the events appended since the last
poll; `state()` is one JSON-ready dict (the tail's offset and the parser's
memory) to persist, and `ClaudeCodeFeed(path, state)` resumes from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp_arena.core.events import EventDraft
from mcp_arena.feeds.claude_code import ClaudeCodeParser
from mcp_arena.feeds.tail import TranscriptTail


class ClaudeCodeFeed:
    def __init__(self, path: str | Path, state: dict[str, Any] | None = None, source: str = "transcript") -> None:
        state = state or {}
        self.tail = TranscriptTail(path, state.get("tail"))
        self.parser = ClaudeCodeParser(source=source, state=state.get("parser"))

    @property
    def path(self) -> Path:
        return self.tail.path

    def poll(self, max_lines: int | None = None) -> list[EventDraft]:
        """Events of the complete lines appended since the last poll."""
        events: list[EventDraft] = []
        for line in self.tail.read_new(max_lines=max_lines):
            events.extend(self.parser.feed(line))
        return events

    def state(self) -> dict[str, Any]:
        return {"tail": self.tail.state.to_dict(), "parser": self.parser.state()}
