"""A session seen whole, as figures: what `mcp-arena report` draws.

Pure: `gather` folds what the store holds of one session — its events (the text
of tool calls is enough), squash records and artifact records — with the
settings into a `Report` of plain values; `core.report_page` draws it as HTML.
Every figure names where it comes from, and a figure the log does not hold is
`None` (the page says "not recorded"): nothing is estimated silently.

Usage over the session: the usage samples the ledger folds (exact, from a host
transcript, or reported by the agent); a session without any is drawn from the
arena's own count (live tokens after each event) and labelled an estimate.
Either series is cut to at most `MAX_POINTS` points for the chart by keeping the
lowest and highest point of each x-bucket, so peaks survive downsampling.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mcp_arena.config import Settings
from mcp_arena.core import artifacts
from mcp_arena.core.events import Event
from mcp_arena.core.ledger import Ledger, SquashRecord
from mcp_arena.core.tools import ToolName

MAX_POINTS = 500  # plotted usage points: 249 x-buckets × (min, max) + the first and the last
MAX_GUIDES_LISTED = 200  # guide pages listed one by one (all are counted in the table above them)
MAX_READ_ONLY_LISTED = 300  # read-only files listed; created, modified and deleted files are all listed


@dataclass(frozen=True)
class UsagePoint:
    seq: int
    used: int
    window: int
    source: str  # transcript | reported | estimate

    @property
    def pct(self) -> float:
        return 100 * self.used / self.window if self.window else 0.0


@dataclass(frozen=True)
class SquashMark:
    """One squash record as drawn: the range it released and what it cost."""

    record: int
    tag: str
    from_seq: int
    to_seq: int
    seq: int  # where in the log it was made
    tokens_before: int  # the range's live tokens when it was squashed
    tokens_after: int  # the anchored summary that replaced it
    active: bool  # not undone, not swallowed by a later squash
    seconds: float | None  # time the server took (call to result), when it served the squash

    @property
    def tokens_freed(self) -> int:
        return max(self.tokens_before - self.tokens_after, 0)

    @property
    def ratio(self) -> float | None:
        return self.tokens_before / self.tokens_after if self.tokens_after else None


@dataclass(frozen=True)
class KeptOut:
    """Tokens a tool's results did not bring into the host's context: trimmed by the proxy or the hook."""

    tool: str
    results: int
    tokens: int  # the originals' tokens
    shown: int  # what the host was shown of them
    undone: int = 0  # trims the host did not apply after all (their savings are taken back out)

    @property
    def kept_out(self) -> int:
        return self.tokens - self.shown


@dataclass(frozen=True)
class GuidePage:
    seq: int
    skill: str
    tier: str  # full | reminder
    reason: str  # first-use | steps | errors | requested
    tool: str  # the tool whose result it came with


@dataclass(frozen=True)
class Timing:
    """Durations of one kind of server work, in milliseconds (nearest-rank percentiles)."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Timing | None:
        if not seconds:
            return None
        ranked = sorted(s * 1000 for s in seconds)
        return cls(len(ranked), _rank(ranked, 50), _rank(ranked, 95), _rank(ranked, 99), ranked[-1])


@dataclass(frozen=True)
class Report:
    session: str
    label: str
    origin: str
    events: int
    first_ts: float | None
    last_ts: float | None
    kinds: dict[str, int]
    sources: dict[str, int]
    window: int  # the window of the newest usage figure
    zone: tuple[float, float]  # percent
    stages: tuple[tuple[int, str, float], ...]  # (stage, name, percent)
    usage: tuple[UsagePoint, ...]  # the plotted points (downsampled)
    usage_samples: int  # samples in the log (0: the chart shows the estimate)
    usage_sources: tuple[str, ...]
    usage_now: UsagePoint | None
    usage_peak: UsagePoint | None
    compactions: tuple[int, ...]
    logged_tokens: int
    live_tokens: int
    tokens_freed: int
    squashes: tuple[SquashMark, ...]
    trimmed_results: int
    tokens_kept_out: int
    kept_out: tuple[KeptOut, ...]  # per tool, most kept out first
    trail: artifacts.TrailIndex
    guides: tuple[GuidePage, ...]
    errors: tuple[tuple[int, str], ...]  # (seq, tool) of every failed event
    search: Timing | None  # memory_search queries the server answered
    summary_time: Timing | None  # squashes the server served (planned and merged into the anchored summary)
    tool_calls: int = 0

    @property
    def last_seq(self) -> int:
        return self.events - 1

    @property
    def compression(self) -> tuple[int, int] | None:
        """(tokens before, tokens after) over the active squashes: the summary layer's compression rate."""
        active = [s for s in self.squashes if s.active]
        if not active:
            return None
        return sum(s.tokens_before for s in active), sum(s.tokens_after for s in active)

    def errors_by_tool(self) -> list[tuple[str, int]]:
        return Counter(tool or "(no tool)" for _, tool in self.errors).most_common()

    def guides_by_reason(self) -> list[tuple[tuple[str, str, str], int]]:
        """((skill, tier, reason), pages), most first."""
        counts = Counter((g.skill, g.tier, g.reason) for g in self.guides)
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def gather(
    session: str,
    events: Sequence[Event],
    squashes: Sequence[SquashRecord],
    records: Sequence[artifacts.ArtifactRecord],
    settings: Settings,
    *,
    label: str = "",
    origin: str = "",
) -> Report:
    """The report of a session from its events in seq order (tool calls with their text; other
    texts are not read), its squash records and its artifact records."""
    ledger = Ledger(session=session)
    for event in events:
        ledger.fold(event)
    ledger.set_records([], list(squashes))
    window = ledger.samples[-1].window if ledger.samples else settings.window_tokens
    usage_all = _usage_series(ledger, window)
    kept = _kept_out(events)
    return Report(
        session=session,
        label=label,
        origin=origin,
        events=len(events),
        first_ts=events[0].ts if events else None,
        last_ts=events[-1].ts if events else None,
        kinds=dict(Counter(e.kind for e in events).most_common()),
        sources=dict(Counter(e.source for e in events).most_common()),
        window=window,
        zone=(settings.zone_low * 100, settings.zone_high * 100),
        stages=((1, "soft trim", settings.stage1 * 100), (2, "hard clear", settings.stage2 * 100), (3, "graded compression", settings.stage3 * 100)),
        usage=tuple(usage_all[i] for i in downsample([p.seq for p in usage_all], [p.pct for p in usage_all], MAX_POINTS)),
        usage_samples=len(ledger.samples),
        usage_sources=tuple(dict.fromkeys(p.source for p in usage_all)),
        usage_now=usage_all[-1] if usage_all else None,
        usage_peak=max(usage_all, key=lambda p: p.pct) if usage_all else None,
        compactions=tuple(ledger.compactions),
        logged_tokens=ledger.total_tokens,
        live_tokens=ledger.live_tokens(),
        tokens_freed=ledger.tokens_freed(),
        squashes=_squash_marks(ledger, events),
        trimmed_results=ledger.trimmed_results,
        tokens_kept_out=ledger.tokens_kept_out,
        kept_out=kept,
        trail=artifacts.index(artifacts.fold(records)),
        guides=tuple(_guide(e) for e in events if e.kind == "guide"),
        errors=tuple((e.seq, e.tool) for e in events if e.is_error),
        search=Timing.of(_served_seconds(events, ToolName.MEMORY_SEARCH, _is_query)),
        summary_time=Timing.of(_served_seconds(events, ToolName.SQUASH)),
        tool_calls=ledger.steps,
    )


# -- usage ---------------------------------------------------------------------------------------


def _usage_series(ledger: Ledger, window: int) -> list[UsagePoint]:
    """The usage samples (exact figures), or, without any, the arena's live tokens after every event."""
    if ledger.samples:
        return [UsagePoint(s.seq, s.used, s.window, s.source) for s in ledger.samples]
    return [UsagePoint(seq, live, window, "estimate") for seq, live in enumerate(live_after_each_event(ledger))]


def live_after_each_event(ledger: Ledger) -> list[int]:
    """Live tokens after each event: all tokens logged so far minus the ranges squashed by then
    (a squash counts from the position it was made at; an undo from its own)."""
    records = sorted(ledger.squashes, key=lambda r: (r.seq, r.record))
    probe = Ledger(session=ledger.session, last_seq=ledger.last_seq, cumulative=ledger.cumulative)
    live: list[int] = []
    made = 0
    squashed = 0
    for seq in range(ledger.last_seq + 1):
        if made < len(records) and records[made].seq <= seq:
            while made < len(records) and records[made].seq <= seq:
                made += 1
            probe.squashes = sorted(records[:made], key=lambda r: r.record)
            squashed = probe.squashed_tokens()
        live.append(ledger.cumulative[seq + 1] - squashed)
    return live


def downsample(xs: Sequence[int], ys: Sequence[float], max_points: int) -> list[int]:
    """Indices of the points to draw: all when they fit, else the first, the last and the lowest
    and highest point of each of (max_points - 2) // 2 equal x-buckets, in order."""
    if len(xs) <= max_points:
        return list(range(len(xs)))
    buckets = max((max_points - 2) // 2, 1)
    width = (xs[-1] - xs[0]) / buckets or 1.0
    keep = {0, len(xs) - 1}
    bucket, low, high = -1, 0, 0
    for i, (x, y) in enumerate(zip(xs, ys)):
        b = min(int((x - xs[0]) / width), buckets - 1)
        if b != bucket:
            if bucket >= 0:
                keep.update((low, high))
            bucket, low, high = b, i, i
        elif y < ys[low]:
            low = i
        elif y > ys[high]:
            high = i
    keep.update((low, high))
    return sorted(keep)


# -- squashes, shaping, guides, timings ------------------------------------------------------------


def _squash_marks(ledger: Ledger, events: Sequence[Event]) -> tuple[SquashMark, ...]:
    active = {r.record for r in ledger.active_squashes()}
    served = dict(_served(events, ToolName.SQUASH))
    return tuple(
        SquashMark(
            record=r.record,
            tag=r.tag,
            from_seq=r.from_seq,
            to_seq=r.to_seq,
            seq=r.seq,
            tokens_before=r.tokens_before,
            tokens_after=r.tokens_after,
            active=r.record in active,
            seconds=served.get(r.seq),
        )
        for r in ledger.squashes
        if r.op == "squash"
    )


def _kept_out(events: Sequence[Event]) -> tuple[KeptOut, ...]:
    """Per tool: trimmed results, their tokens and what the host was shown (an `untrimmed` note
    takes a trim the host did not apply back out, as the ledger does)."""
    by_tool: dict[str, list[int]] = {}  # tool -> [results, tokens, shown, undone]
    tool_at: dict[int, str] = {}
    for event in events:
        trim = event.meta.get("trim") if event.meta else None
        undone = event.meta.get("untrimmed") if event.meta else None
        if trim:
            tool_at[event.seq] = event.tool
            row = by_tool.setdefault(event.tool, [0, 0, 0, 0])
            row[0] += 1
            row[1] += int(trim["tokens"])
            row[2] += int(trim["shown_tokens"])
        if undone:
            row = by_tool.setdefault(tool_at.get(int(undone.get("seq", -1)), event.tool), [0, 0, 0, 0])
            row[2] += int(undone["tokens_kept_out"])  # the host was shown it all after all
            row[3] += 1
    kept = [KeptOut(tool, results, tokens, shown, undone) for tool, (results, tokens, shown, undone) in by_tool.items()]
    kept.sort(key=lambda k: (-k.kept_out, k.tool))
    return tuple(kept)


def _guide(event: Event) -> GuidePage:
    meta = event.meta or {}
    return GuidePage(event.seq, str(meta.get("skill", "")), str(meta.get("tier", "")), str(meta.get("reason", "")), event.tool)


def _served(events: Sequence[Event], tool: str, wanted: Any = None) -> list[tuple[int, float]]:
    """(call seq, seconds) of the calls of one of the arena's tools that this arena served: a call
    and its result are logged by the server itself (source `self`) as the call starts and as its
    body returns, so the time between them is the server's work on it."""
    found = []
    for call, result in zip(events, events[1:]):
        if call.kind != "tool_call" or call.tool != tool or call.source != "self":
            continue
        if result.kind == "tool_result" and result.tool == tool and result.source == "self" and not result.is_error:
            if wanted is None or wanted(call):
                found.append((call.seq, max(result.ts - call.ts, 0.0)))
    return found


def _served_seconds(events: Sequence[Event], tool: str, wanted: Any = None) -> list[float]:
    return [seconds for _, seconds in _served(events, tool, wanted)]


def _is_query(call: Event) -> bool:
    """A memory_search that searched (not a page-back of a trimmed result by seq)."""
    try:
        arguments = json.loads(call.text) if call.text else {}
    except json.JSONDecodeError:
        return True
    return not (isinstance(arguments, dict) and arguments.get("seq") is not None)


def _rank(ranked: Sequence[float], percent: float) -> float:
    return ranked[max(math.ceil(percent / 100 * len(ranked)) - 1, 0)]
