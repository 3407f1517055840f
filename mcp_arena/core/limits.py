"""Bounds on what a caller may send: every argument of the six tools has one.

`problem(tool, arguments)` names the first argument over its bound, and the bound,
before a call does any work: the engine checks it before it logs the call, and logs
an over-bound argument as a short placeholder (`clipped`), so a 4 MB string costs
neither a tokenizer pass nor a row of that size. What the bounds leave to the tools'
own validation (a tag name's alphabet, known kinds and actions, a seq inside the
log, a summary's size in tokens) runs after, in their bodies. `LIMITS` is also the
table the README documents (`rows`). HTTP bodies are capped before any of this
(`Settings.max_request_bytes`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mcp_arena.core.globs import MAX_GLOB_LENGTH, MAX_GLOB_WILDCARDS

# A tag's note and an artifact record's note: a line or two that says why, not a document.
MAX_NOTE_CHARS = 500
MAX_REPORTED_TOKENS = 10_000_000  # used_tokens / window_tokens: beyond any model's window
MAX_QUERY_CHARS = 1_000  # a memory_search query: words, not a document
MAX_LIMIT = 50  # memory_search hits; the result has a token budget anyway
MAX_NAMES = 20  # kinds / tools filters of one memory_search
MAX_NAME_CHARS = 200  # one tool name in a filter
MAX_RECORDS = 100  # artifact_index file actions in one call
MAX_PATH_CHARS = 4_096  # a recorded path (PATH_MAX on Linux)
MAX_SEQ = 2**53 - 1  # the largest integer JSON carries exactly; seqs are int64 in the store
MAX_PAGE = 100_000  # pages of one trimmed result
SUMMARY_CHARS_PER_TOKEN = 10  # the summary's character bound: its token limit x this (prose is ~4)
# An argument the tool checks precisely itself (a tag name's alphabet, a known scope): the bound
# here only spares the work on absurd input, and the table shows the tool's rule.
TOOL_CHECKED_CHARS = 1_000


@dataclass(frozen=True)
class Text:
    """A string of at most `chars` characters (`rule`: the tool's own, stricter check, for the table)."""

    chars: int
    rule: str = ""

    def problem(self, name: str, value: Any) -> str | None:
        size = len(value) if isinstance(value, str) else len(str(value))
        return f"{name} is {size:,} characters; keep it under {self.chars:,} (its limit)" if size > self.chars else None

    def describe(self) -> str:
        return self.rule or f"≤ {self.chars:,} characters"


@dataclass(frozen=True)
class Whole:
    """An integer from `low` to `high`; `low_by_tool`: the tool checks the low end itself (its message
    says what a negative seq means), this bound only the high one (beyond int64, the store fails)."""

    low: int
    high: int
    low_by_tool: bool = False

    def problem(self, name: str, value: Any) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{name} must be a whole number; got {_shown(value)}"
        if value > self.high or (value < self.low and not self.low_by_tool):
            return f"{name} must be between {self.low:,} and {self.high:,} (its limit); got {_shown(value)}"
        return None

    def describe(self) -> str:
        return f"{self.low:,} – {self.high:,}"


@dataclass(frozen=True)
class Names:
    """A list of at most `items` strings of at most `chars` characters each."""

    items: int
    chars: int

    def problem(self, name: str, value: Any) -> str | None:
        values = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        if len(values) > self.items:
            return f"{len(values)} {name} given; name at most {self.items} (its limit)"
        for item in values:
            found = Text(self.chars).problem(f"each of {name}", item)
            if found:
                return found
        return None

    def describe(self) -> str:
        return f"≤ {self.items} names of ≤ {self.chars:,} characters"


@dataclass(frozen=True)
class Records:
    """File actions: at most `items`, each path and note bounded."""

    items: int
    path_chars: int
    note_chars: int

    def problem(self, name: str, value: Any) -> str | None:
        records = list(value) if isinstance(value, Sequence) else []
        if len(records) > self.items:
            return f"{len(records)} records in one call; send at most {self.items} (the limit of {name})"
        for number, record in enumerate(records, 1):
            fields = record if isinstance(record, Mapping) else {}
            found = Text(self.path_chars).problem(f"record {number}: path", fields.get("path") or "") or Text(self.note_chars).problem(
                f"record {number}: note", fields.get("note") or ""
            )
            if found:
                return found
        return None

    def describe(self) -> str:
        return f"≤ {self.items} records; path ≤ {self.path_chars:,}, note ≤ {self.note_chars:,} characters"


Bound = Text | Whole | Names | Records
SEQ = Whole(0, MAX_SEQ, low_by_tool=True)
SESSION = Text(200, "1–128 of A-Z a-z 0-9 . _ : @ -")  # 200: room for the caller's own `<principal>/` prefix
TAG = "1–64 of A-Z a-z 0-9 . _ -"
GLOB = f"≤ {MAX_GLOB_LENGTH} characters, ≤ {MAX_GLOB_WILDCARDS} `*`/`**` runs (matched in linear time)"


def limits(max_summary_tokens: int = 4_000) -> dict[str, dict[str, Bound]]:
    """tool -> argument -> its bound; the summary's depends on the `max_summary_tokens` setting."""
    return {
        "context_status": {"session": SESSION, "used_tokens": Whole(0, MAX_REPORTED_TOKENS), "window_tokens": Whole(1_000, MAX_REPORTED_TOKENS)},
        "tag": {"session": SESSION, "name": Text(TOOL_CHECKED_CHARS, TAG), "note": Text(MAX_NOTE_CHARS)},
        "squash": {
            "session": SESSION,
            "summary": Text(
                max_summary_tokens * SUMMARY_CHARS_PER_TOKEN,
                f"≤ {max_summary_tokens:,} tokens (MAX_SUMMARY_TOKENS), ≤ {max_summary_tokens * SUMMARY_CHARS_PER_TOKEN:,} characters",
            ),
            "from_tag": Text(TOOL_CHECKED_CHARS, f"an existing tag: {TAG}"),
        },
        "load_skill": {"session": SESSION, "name": Text(TOOL_CHECKED_CHARS, "a name of the catalog")},
        "memory_search": {
            "session": SESSION,
            "query": Text(MAX_QUERY_CHARS),
            "limit": Whole(1, MAX_LIMIT),
            "scope": Text(TOOL_CHECKED_CHARS, "all, squashed or live"),
            "kinds": Names(MAX_NAMES, MAX_NAME_CHARS),
            "tools": Names(MAX_NAMES, MAX_NAME_CHARS),
            "from_seq": SEQ,
            "to_seq": SEQ,
            "seq": SEQ,
            "page": Whole(1, MAX_PAGE, low_by_tool=True),
        },
        "artifact_index": {
            "session": SESSION,
            "record": Records(MAX_RECORDS, MAX_PATH_CHARS, MAX_NOTE_CHARS),
            "path": Text(MAX_GLOB_LENGTH, GLOB),
            "action": Text(TOOL_CHECKED_CHARS, "created, modified, read or deleted"),
        },
    }


LIMITS = limits()


def problem(tool: str, arguments: Mapping[str, Any], max_summary_tokens: int = 4_000) -> str | None:
    """What is wrong with the first argument over its bound (naming the bound), or None."""
    bounds = limits(max_summary_tokens).get(tool, {})
    for name, value in arguments.items():
        bound = bounds.get(name)
        found = bound.problem(name, value) if bound is not None and value is not None else None
        if found:
            return found
    return None


def clipped(tool: str, arguments: Mapping[str, Any], max_summary_tokens: int = 4_000) -> dict[str, Any]:
    """`arguments` as the log keeps them: an argument over its bound becomes a placeholder naming its size."""
    bounds = limits(max_summary_tokens).get(tool, {})
    kept: dict[str, Any] = {}
    for name, value in arguments.items():
        bound = bounds.get(name)
        if bound is None or value is None or bound.problem(name, value) is None:
            kept[name] = value
        elif isinstance(bound, Whole):
            kept[name] = f"<not logged: out of its range ({bound.describe()})>"
        else:
            size = f"{len(value):,} {'characters' if isinstance(value, str) else 'items'}" if isinstance(value, (str, Sequence)) else "too long"
            kept[name] = f"<not logged: {size}, over the limit ({bound.describe()})>"
    return kept


def _shown(value: Any) -> str:
    """A short rendering of a caller's value (an int of thousands of digits cannot even be printed)."""
    if isinstance(value, int) and abs(value) >= 10**40:
        return f"a {value.bit_length()}-bit number"
    return str(value)[:40]


def rows(max_summary_tokens: int = 4_000) -> list[tuple[str, str, str]]:
    """(tool, argument, bound) for the README's table."""
    return [(tool, name, bound.describe()) for tool, bounds in limits(max_summary_tokens).items() for name, bound in bounds.items()]
