"""The in-memory fold of one session: what the arena knows about its window.

A ledger is rebuilt from the LanceDB log when a process first touches a
session, then advanced with every event appended (by this process or, seen at
the next lock, by another). It holds only aggregates and small records, so
status and tag stay O(1) in the length of the history.
"""

from __future__ import annotations

import bisect
import json
from array import array
from dataclasses import dataclass, field
from typing import Any

from mcp_arena.core.events import KINDS, Event

KIND_CODES = {kind: code for code, kind in enumerate(KINDS)}
UNKNOWN_KIND = len(KINDS)


@dataclass(frozen=True)
class Tag:
    name: str
    seq: int
    note: str = ""
    origin: str = "agent"  # agent | backup | hook


@dataclass(frozen=True)
class SquashRecord:
    record: int
    op: str  # squash | undo
    from_seq: int
    to_seq: int
    tag: str
    summary: str
    anchored: str
    filled: tuple[str, ...]
    tokens_before: int
    tokens_after: int
    undoes: int
    seq: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SquashRecord:
        fields = {name: row[name] for name in cls.__dataclass_fields__ if name != "filled"}
        return cls(**fields, filled=tuple(json.loads(row["filled"] or "[]")))

    def row(self, session: str, ts: float) -> dict[str, Any]:
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return {**fields, "session": session, "filled": json.dumps(list(self.filled)), "ts": ts}


@dataclass(frozen=True)
class UsageSample:
    """A usage figure the arena was given (reported by the agent, or read from a transcript)."""

    seq: int
    used: int
    window: int
    source: str  # reported | transcript
    live_at: int  # the arena's live tokens when the figure was taken


@dataclass(slots=True)
class LoggedCall:
    """What the log holds of one call its feed named by id (a Claude Code tool_use id), so a feed can
    tell its copy of a call another feed logged first (the transcript's copy of what the PostToolUse
    hook logged) from a new call."""

    call_seq: int = -1  # the first tool_call logged with this id; -1: none
    result_seq: int = -1  # the first tool_result
    by_hook: bool = False  # a hook logged part of it: the log holds the tool's original output
    shown_tokens: int = 0  # a trimmed result's tokens as the host was shown them
    kept_out: int = 0  # a trimmed result's tokens kept out of the host's context (0: not trimmed, or undone)


@dataclass
class Ledger:
    session: str
    last_seq: int = -1
    cumulative: array[int] = field(default_factory=lambda: array("q", [0]))  # cumulative[i] = tokens of seq < i
    step_seqs: list[int] = field(default_factory=list)  # seqs of tool_call events, ascending
    kind_codes: bytearray = field(default_factory=bytearray)  # kind_codes[seq]: index into events.KINDS
    tags: dict[str, Tag] = field(default_factory=dict)
    squashes: list[SquashRecord] = field(default_factory=list)
    samples: list[UsageSample] = field(default_factory=list)
    compactions: list[int] = field(default_factory=list)  # seqs of host compactions
    trimmed_results: int = 0  # tool results the shaper trimmed before the host saw them
    tokens_kept_out: int = 0  # their original tokens minus the tokens the host was shown
    calls: dict[str, LoggedCall] = field(default_factory=dict)  # by call id: calls whose feed names them
    pager_state: Any = None

    # -- folding ---------------------------------------------------------------------------------

    def fold(self, event: Event) -> None:
        if event.seq != self.last_seq + 1:
            raise ValueError(f"{self.session}: event seq {event.seq} after {self.last_seq}")
        self.last_seq = event.seq
        self.cumulative.append(self.cumulative[-1] + event.tokens)
        self.kind_codes.append(KIND_CODES.get(event.kind, UNKNOWN_KIND))
        if event.kind == "tool_call":
            self.step_seqs.append(event.seq)
        elif event.kind == "compaction":
            self.compactions.append(event.seq)
        trimmed = event.meta.get("trim") if event.meta else None
        if trimmed:
            self.trimmed_results += 1
            self.tokens_kept_out += int(trimmed["tokens"]) - int(trimmed["shown_tokens"])
        if event.call_id:
            self._fold_call(event, trimmed)
        usage = event.meta.get("usage_sample") if event.meta else None
        if usage:
            self.samples.append(
                UsageSample(
                    seq=event.seq,
                    used=int(usage["used"]),
                    window=int(usage["window"]),
                    source=usage["source"],
                    live_at=self.live_tokens(),
                )
            )

    def _fold_call(self, event: Event, trimmed: dict[str, Any] | None) -> None:
        call = self.calls.get(event.call_id)
        if call is None:
            call = self.calls[event.call_id] = LoggedCall()
        if event.kind == "tool_call" and call.call_seq < 0:
            call.call_seq = event.seq
        elif event.kind == "tool_result" and call.result_seq < 0:
            call.result_seq = event.seq
            if trimmed:
                call.shown_tokens = int(trimmed["shown_tokens"])
                call.kept_out = int(trimmed["tokens"]) - call.shown_tokens
        call.by_hook = call.by_hook or event.source == "hook"
        undone = event.meta.get("untrimmed") if event.meta else None
        if undone:  # the host kept the whole output after all: the trim saved nothing
            self.trimmed_results -= 1
            self.tokens_kept_out -= int(undone["tokens_kept_out"])
            call.kept_out = 0

    def set_records(self, tags: list[Tag], squashes: list[SquashRecord]) -> None:
        self.tags = {tag.name: tag for tag in sorted(tags, key=lambda t: (t.seq, t.name))}
        self.squashes = sorted(squashes, key=lambda s: s.record)

    # -- token arithmetic ------------------------------------------------------------------------

    @property
    def total_tokens(self) -> int:
        return self.cumulative[-1]

    def tokens_between(self, from_seq: int, to_seq: int) -> int:
        """Tokens of events from_seq..to_seq inclusive."""
        if to_seq < from_seq:
            return 0
        return self.cumulative[min(to_seq, self.last_seq) + 1] - self.cumulative[max(from_seq, 0)]

    def active_squashes(self) -> list[SquashRecord]:
        """Squashes not undone, outermost only (a later squash may swallow earlier ones)."""
        undone = {record.undoes for record in self.squashes if record.op == "undo"}
        active = [r for r in self.squashes if r.op == "squash" and r.record not in undone]
        return [
            r
            for r in active
            if not any(o is not r and o.from_seq <= r.from_seq and r.to_seq <= o.to_seq and o.record > r.record for o in active)
        ]

    def squashed_tokens(self) -> int:
        return sum(self.tokens_between(r.from_seq, r.to_seq) for r in self.active_squashes())

    def tokens_freed(self) -> int:
        """Tokens of the squashed ranges minus the summaries that replace them (outermost squashes)."""
        return max(self.squashed_tokens() - sum(r.tokens_after for r in self.active_squashes()), 0)

    def live_tokens(self) -> int:
        """All tokens minus squashed ranges (each squash's summary is in its own result event)."""
        return self.total_tokens - self.squashed_tokens()

    def only_kinds(self, from_seq: int, to_seq: int, kinds: tuple[str, ...]) -> bool:
        """Whether every event from_seq..to_seq is of one of `kinds`."""
        allowed = {KIND_CODES[kind] for kind in kinds}
        return all(code in allowed for code in self.kind_codes[from_seq : to_seq + 1])

    # -- steps and tags --------------------------------------------------------------------------

    @property
    def steps(self) -> int:
        return len(self.step_seqs)

    def steps_after(self, seq: int) -> int:
        return len(self.step_seqs) - bisect.bisect_right(self.step_seqs, seq)

    def steps_between(self, after_seq: int, upto_seq: int) -> int:
        """Steps (tool calls) with after_seq < seq <= upto_seq."""
        return bisect.bisect_right(self.step_seqs, upto_seq) - bisect.bisect_right(self.step_seqs, after_seq)

    def agent_tags(self) -> list[Tag]:
        return [tag for tag in self.tags.values() if tag.origin != "backup"]

    def last_tag(self) -> Tag | None:
        tags = self.agent_tags()
        return tags[-1] if tags else None

    def tokens_per_step(self, window: int) -> float:
        """Average tokens logged per completed step over the last `window` steps (the newest step may be in progress)."""
        completed = self.step_seqs[-(window + 1) :]
        if len(completed) < 2:
            return 0.0
        return (self.cumulative[completed[-1]] - self.cumulative[completed[0]]) / (len(completed) - 1)

    def anchored_summary(self) -> str:
        """The session's running anchored summary: the newest record's, honouring undos."""
        return self.squashes[-1].anchored if self.squashes else ""
