"""The shape of one arena-log entry before and after it gets its place in the log.

Feeds (transcript, proxy, ingest) and the server's own tool wrappers produce
`EventDraft`s; the store gives each a dense per-session `seq` and a token count
and keeps it as an immutable `Event`. Nothing ever edits an event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = (
    "user",  # a user message
    "assistant",  # assistant text (a model turn)
    "tool_call",  # a tool invocation: `tool` names it, `text` holds its arguments (JSON)
    "tool_result",  # what the tool returned; `is_error` marks failures
    "guide",  # a skill guide or reminder the pager attached to a result
    "summary",  # an anchored summary produced by a squash
    "note",  # anything else worth keeping (hook records, notes)
    "compaction",  # the host compacted its context (Claude Code compact_boundary)
)

SOURCES = ("self", "reported", "transcript", "proxy", "import")


@dataclass(frozen=True)
class EventDraft:
    kind: str
    text: str
    tool: str = ""
    is_error: bool = False
    source: str = "self"
    call_id: str = ""  # pairs a tool_call with its tool_result
    ts: float | None = None  # unix seconds; None means "now" at append time
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. {"usage": {...}} on assistant turns
    # Tokens the host's context holds for this event when that is not the text's count: a trimmed
    # result is logged whole (for recall and page-back) but the host was shown only its trimmed view.
    context_tokens: int | None = None


@dataclass(frozen=True)
class Event:
    session: str
    seq: int
    kind: str
    text: str
    tokens: int
    tool: str = ""
    is_error: bool = False
    source: str = "self"
    call_id: str = ""
    ts: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
