"""Probe-based evaluation of compression (seed 003): probes, not ROUGE; tokens per task, not per request.

    mcp-arena eval PATH… [--window auto|N] [--top-k 5] [--json FILE]

From a transcript (or `gen:N`, a generated session) probes with known answers
are derived deterministically:

- recall: the exact error message of each failed tool call, the commands run,
  values seen in tool results (test counts, ids, versions);
- artifact: the exact sets of files created / modified / read;
- continuation: the last user request;
- decision: assistant sentences stating that a choice was made.

The transcript is then replayed into a fresh arena, one turn at a time (a turn
ends where a model response opens, `feeds.turns.turns`). After each turn the
policy tags when a user request (`feeds.turns.is_user_request`) came in (or
when `context_status` says "tag now") and squashes when `context_status`
advises it. The squash text is the agent's own where the
transcript has one (a Claude Code compact summary); otherwise a deterministic
extractive summary built from the log stands in for the agent's. Each probe is
answered from what the arena would give the agent — the anchored summary,
`artifact_index`, `memory_search` top-k, and the live (unsquashed) tail — and
the report says which of them answered it, and how many answered probes were
about squashed history (the ones that test compression).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_arena.core.events import EventDraft
from mcp_arena.core.tools import TOOL_NAMES
from mcp_arena.feeds.turns import is_user_request, turns

if TYPE_CHECKING:  # imported where used: the engine (and LanceDB) load only when a replay runs
    from mcp_arena.config import Settings
    from mcp_arena.engine.arena import Arena

CallsById = dict[str, tuple[int, EventDraft]]  # a tool call's id -> (its index in the transcript, the call)

PROBE_TYPES = ("recall", "artifact", "continuation", "decision")
MAX_PROBES_PER_KIND = 12
ANSWER_CHARS = 160
ERROR_LINE = re.compile(r"^\s*\w*(?:Error|Exception|error|failed|Failed|FAILED)\b.*$", re.MULTILINE)
VALUE_PATTERNS = (
    re.compile(r"\b\d+ (?:passed|failed|errors?|warnings?|tests?)\b"),
    re.compile(r"\b(?:ID|PID|port|Port|version|Version)[:= ]+[\w.-]*\d[\w.-]*"),
    re.compile(r"\bv?\d+\.\d+\.\d+\b"),
)
DECISION_CUE = re.compile(
    r"\b(?:decided|decide to|I'll use|we'll use|I will use|we will use|instead of|rather than|going with|"
    r"go with|opted|chose|choose to|the fix is to|the approach is|we'll keep|I'll keep)\b",
    re.IGNORECASE,
)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
STANDIN_NOTE = (
    "squash text: the transcript's own summary where it has one; otherwise a deterministic extractive "
    "summary built from the log (first/last user request, last assistant sentences, last result) that "
    "stands in for the agent's"
)


@dataclass
class Probe:
    type: str
    kind: str  # error | command | value | created | modified | read | request | decision
    question: str
    expected: Any  # a string, or a sorted list of paths for artifact probes
    query: str  # what the agent would pass to memory_search
    draft: int  # index of the transcript event that holds the answer
    answered_by: list[str] = field(default_factory=list)
    squashed: bool = False


# -- probes ------------------------------------------------------------------------------------


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:ANSWER_CHARS]
    return ""


def error_message(text: str) -> str:
    """The line that names the error (a traceback's last `XxxError:` line), else the first line."""
    found = ERROR_LINE.findall(text)
    return (found[-1].strip() if found else first_line(text))[:ANSWER_CHARS]


def call_arguments(draft: EventDraft) -> dict[str, Any]:
    try:
        value = json.loads(draft.text) if draft.text else {}
    except json.JSONDecodeError:
        return {"command": draft.text}
    return value if isinstance(value, dict) else {}


def derive_probes(drafts: list[EventDraft], cwd: str | None = None) -> list[Probe]:
    """Every probe of a transcript, deterministic, at most MAX_PROBES_PER_KIND per kind."""
    calls = {d.call_id: (i, d) for i, d in enumerate(drafts) if d.kind == "tool_call" and d.call_id}
    probes = [*_error_probes(drafts, calls), *_command_probes(drafts), *_value_probes(drafts, calls)]
    probes += _artifact_probes(drafts, cwd) + _continuation_probes(drafts) + _decision_probes(drafts)
    return _capped(probes)


def _capped(probes: list[Probe]) -> list[Probe]:
    """At most MAX_PROBES_PER_KIND per kind, spread evenly over the transcript; duplicates dropped."""
    by_kind: dict[str, list[Probe]] = {}
    seen: set[tuple[str, str]] = set()
    for probe in probes:
        key = (probe.kind, json.dumps(probe.expected))
        if key not in seen:
            seen.add(key)
            by_kind.setdefault(probe.kind, []).append(probe)
    kept = []
    for group in by_kind.values():
        step = max(len(group) / MAX_PROBES_PER_KIND, 1.0)
        kept += [group[int(i * step)] for i in range(min(len(group), MAX_PROBES_PER_KIND))]
    return sorted(kept, key=lambda p: (PROBE_TYPES.index(p.type), p.draft, p.kind))


def _command_of(draft: EventDraft) -> str:
    command = call_arguments(draft).get("command")
    return first_line(command) if isinstance(command, str) else ""


def _error_probes(drafts: list[EventDraft], calls: CallsById) -> list[Probe]:
    probes = []
    for i, d in enumerate(drafts):
        if d.kind != "tool_result" or not d.is_error or not error_message(d.text):
            continue
        call = calls.get(d.call_id, (i, EventDraft(kind="tool_call", text="", tool=d.tool)))[1]
        what = _command_of(call) or call.text[:100]
        probes.append(Probe("recall", "error", f"What error did the failed {d.tool or 'tool'} call ({what[:80]}) give?",
                            error_message(d.text), f"{d.tool} error {what}".strip(), i))
    return probes


def _command_probes(drafts: list[EventDraft]) -> list[Probe]:
    probes = []
    for i, d in enumerate(drafts):
        command = _command_of(d) if d.kind == "tool_call" else ""
        if not command:
            continue
        purpose = next((_sentences(p.text)[:1] for p in reversed(drafts[:i]) if p.kind == "assistant" and p.text.strip()), [])
        query = purpose[0][:150] if purpose else f"{d.tool} command"
        probes.append(Probe("recall", "command", f"Which command did we run for: {query}?", command, f"command run {query}", i))
    return probes


def _value_probes(drafts: list[EventDraft], calls: CallsById) -> list[Probe]:
    probes = []
    for i, d in enumerate(drafts):
        if d.kind != "tool_result" or d.is_error:
            continue
        call = calls.get(d.call_id, (i, EventDraft(kind="tool_call", text="", tool=d.tool)))[1]
        for pattern in VALUE_PATTERNS:
            match = pattern.search(d.text)
            if match:
                what = _command_of(call) or call.text[:100] or d.tool
                probes.append(Probe("recall", "value", f"What did {what[:80]} show?", match.group(0), f"output of {what}", i))
                break
    return probes


def artifact_truth(drafts: list[EventDraft], cwd: str | None = None) -> dict[str, list[str]]:
    """Files created / modified / read, as the trail folds the file actions of the transcript's tool calls."""
    from mcp_arena.core import artifacts, extract

    records, editor = [], extract.EditorState()  # SWE-agent edits apply to the file opened last
    for i, d in enumerate(drafts):
        if d.kind == "tool_call" and d.tool:
            for found in extract.extract(d.tool, call_arguments(d), cwd=cwd, state=editor):
                records.append(artifacts.ArtifactRecord(path=found.path, action=found.action, seq=i, note="", source="import"))
    view = artifacts.index(artifacts.fold(records))
    return {
        "created": sorted(s.path for s in view.created),
        "modified": sorted(s.path for s in view.modified),
        "read": sorted(s.path for s in view.read_only),
    }


def _artifact_probes(drafts: list[EventDraft], cwd: str | None) -> list[Probe]:
    truth = artifact_truth(drafts, cwd)
    last = len(drafts) - 1
    return [
        Probe("artifact", action, f"Which files did we {'only read' if action == 'read' else action.rstrip('d') + 'e'}?", paths, f"files {action}", last)
        for action, paths in truth.items()
        if paths
    ]


def _continuation_probes(drafts: list[EventDraft]) -> list[Probe]:
    requests = [(i, d) for i, d in enumerate(drafts) if is_user_request(d)]
    if not requests:
        return []
    i, d = requests[-1]
    return [Probe("continuation", "request", "What did the user ask for last (what is still open)?", first_line(d.text)[:100], "user request next steps", i)]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text) if len(s.strip()) > 12]


def _decision_probes(drafts: list[EventDraft]) -> list[Probe]:
    probes = []
    for i, d in enumerate(drafts):
        if d.kind != "assistant":
            continue
        for sentence in _sentences(d.text):
            if DECISION_CUE.search(sentence):
                topic = " ".join(re.findall(r"[A-Za-z_][\w./-]{3,}", DECISION_CUE.sub(" ", sentence))[:8])
                probes.append(Probe("decision", "decision", f"What did we decide about {topic}?", sentence[:ANSWER_CHARS], f"decided {topic}", i))
    return probes


# -- the extractive stand-in summary -------------------------------------------------------------


def extractive_summary(rows: list[dict[str, Any]]) -> str:
    """The five anchored sections from a range of the log; Files Modified is left to the artifact trail."""
    requests = [r["text"] for r in rows if is_user_request(_draft_of(r))]
    thoughts = [s for r in rows if r["kind"] == "assistant" for s in _sentences(r["text"])[:1]]
    results = [r for r in rows if r["kind"] == "tool_result" and r["tool"] not in ARENA_TOOLS]
    failed = sum(1 for r in results if r["is_error"])
    last = f" Last: {results[-1]['tool']} → {first_line(results[-1]['text'])}" if results else ""
    sections = {
        "Session Intent": first_line(requests[0]) if requests else "",
        "Decisions Made": "\n".join(f"- {s[:ANSWER_CHARS]}" for s in thoughts[-3:]),
        "Current State": f"{len(results)} tool calls in this range, {failed} failed.{last}",
        "Next Steps": first_line(requests[-1]) if requests else (thoughts[-1][:ANSWER_CHARS] if thoughts else ""),
    }
    return "\n\n".join(f"## {name}\n{body}" for name, body in sections.items() if body.strip())


def _draft_of(row: dict[str, Any]) -> EventDraft:
    """A log row (meta as stored JSON, or absent) as the draft it was appended from."""
    return EventDraft(kind=row["kind"], text=row["text"], meta=json.loads(row.get("meta") or "{}"))


ARENA_TOOLS = TOOL_NAMES


def transcript_summary(draft: EventDraft) -> str | None:
    """The agent's own summary text when the transcript carries one here."""
    if draft.meta.get("compact_summary") or (draft.kind == "note" and draft.meta.get("subtype") == "summary"):
        return draft.text.strip() or None
    return None


# -- replay --------------------------------------------------------------------------------------


@dataclass
class Replay:
    seqs: list[int]  # seq of each transcript draft
    squashes: int = 0
    agent_summaries: int = 0
    turn_live_tokens: list[int] = field(default_factory=list)
    turn_total_tokens: list[int] = field(default_factory=list)


def auto_window(drafts: list[EventDraft], count_tokens: Callable[[str], int]) -> int:
    """A window a third of the transcript's size (at least 1,000), so the policy has something to do."""
    return max(1_000, sum(count_tokens(d.text) for d in drafts) // 3)


def replay(arena: Arena, session: str, drafts: list[EventDraft], cwd: str | None) -> Replay:
    from mcp_arena.core.status import status as context_status

    arena.ensure_session(session, origin="import", label="eval")
    state = Replay(seqs=[])
    tags = 0
    for turn in turns(drafts):
        events = arena.append(session, turn, cwd=cwd)
        state.seqs.extend(e.seq for e in events)
        own_summary = next((s for s in map(transcript_summary, turn) if s), None)
        with arena.locked(session) as ledger:
            status = context_status(ledger, arena.settings)
            state.turn_live_tokens.append(ledger.live_tokens())
            state.turn_total_tokens.append(ledger.total_tokens)
        if own_summary and status.last_tag and status.steps_since_tag > 0:
            state.agent_summaries += _squash(arena, session, own_summary)
        elif status.advice == "squash now":
            state.squashes += _squash(arena, session, None)
        if any(map(is_user_request, turn)) or status.advice == "tag now":
            arena.tag(f"t{tags}")  # the arena's default session is the replayed one
            tags += 1
    return state


def _squash(arena: Arena, session: str, text: str | None) -> int:
    if text is None:
        with arena.locked(session) as ledger:
            tag = ledger.last_tag()
            if tag is None:  # nothing to squash from (the advice says "squash now" only once a tag exists)
                return 0
            rows = arena.store.events(session, seq_min=tag.seq + 1, seq_max=ledger.last_seq)
        text = extractive_summary(rows)
    reply = arena.squash(text)
    return 0 if reply.is_error else 1


# -- answering -----------------------------------------------------------------------------------


def normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


def answer(arena: Arena, session: str, probes: list[Probe], replayed: Replay, top_k: int) -> None:
    with arena.locked(session) as ledger:
        summary = normalise(ledger.anchored_summary())
        ranges = [(r.from_seq, r.to_seq) for r in ledger.active_squashes()]

    def inside(seq: int) -> bool:
        return any(a <= seq <= b for a, b in ranges)

    live = normalise("\n".join(r["text"] for r in arena.store.events(session) if not inside(r["seq"])))
    trail = _trail_sets(arena, session)
    for probe in probes:
        probe.squashed = inside(replayed.seqs[probe.draft])
        if probe.type == "artifact":
            _answer_artifact(probe, summary, trail)
            continue
        expected = normalise(probe.expected)
        if expected in summary:
            probe.answered_by.append("summary")
        if expected in live:
            probe.answered_by.append("live")
        if probe.type != "continuation" and expected in _search_text(arena, session, probe.query, top_k):
            probe.answered_by.append("memory_search")


def _trail_sets(arena: Arena, session: str) -> dict[str, list[str]]:
    """One artifact_index(action=...) per question, as an agent asks it (a listing is bounded by a token budget)."""
    sets = {}
    for action, group in (("created", "created"), ("modified", "modified"), ("read", "read_only")):
        data = arena.artifact_index(action=action).structured or {}
        sets[action] = sorted(e["path"] for e in data.get(group, []))
    return sets


def _answer_artifact(probe: Probe, summary: str, trail: dict[str, list[str]]) -> None:
    if trail.get(probe.kind) == probe.expected:
        probe.answered_by.append("artifact_index")
    if probe.kind != "read" and all(normalise(path) in summary for path in probe.expected):
        probe.answered_by.append("summary")


def _search_text(arena: Arena, session: str, query: str, top_k: int) -> str:
    reply = arena.memory_search(query[:900], limit=top_k)
    hits = (reply.structured or {}).get("hits", [])
    return normalise("\n".join(hit["snippet"] for hit in hits))


# -- one transcript, end to end -------------------------------------------------------------------


def evaluate_session(label: str, session: str, drafts: list[EventDraft], *, window: str, top_k: int, semantic: bool) -> dict[str, Any]:
    from mcp_arena.config import Settings
    from mcp_arena.core.tokens import TokenCounter
    from mcp_arena.engine.arena import Arena

    cwd = next((d.meta.get("cwd") for d in drafts if d.meta.get("cwd")), None)
    probes = derive_probes(drafts, cwd)
    with tempfile.TemporaryDirectory(prefix="mcp-arena-eval-") as home:
        size = auto_window(drafts, TokenCounter().count) if window == "auto" else int(window)
        arena = Arena(Settings(home=Path(home), window_tokens=size, semantic=semantic, session=session))
        try:
            replayed = replay(arena, session, drafts, cwd)
            if semantic:
                arena.search.index.catch_up(session)
            answer(arena, session, probes, replayed, top_k)
            return _report(label, session, drafts, probes, replayed, arena, size)
        finally:
            arena.close()


def _report(label: str, session: str, drafts: list[EventDraft], probes: list[Probe], replayed: Replay, arena: Arena, window: int) -> dict[str, Any]:
    with arena.locked(session) as ledger:
        squashed = sum(r.tokens_before for r in ledger.active_squashes())
        anchored = arena.count_tokens(ledger.anchored_summary())
        logged, live = ledger.total_tokens, ledger.live_tokens()
    refetch = sum(arena.count_tokens(drafts[p.draft].text) for p in probes if not p.answered_by and p.type != "artifact")
    return {
        "file": label,
        "session": session,
        "events": len(drafts),
        "window_tokens": window,
        "squashes": replayed.squashes,
        "agent_summaries": replayed.agent_summaries,
        "probes": per_type(probes),
        "compression": {
            "squashed_tokens": squashed,
            "anchored_summary_tokens": anchored,
            "ratio": round(squashed / anchored, 1) if anchored else None,
            "logged_tokens": logged,
            "live_tokens": live,
            "context_ratio": round(logged / live, 2) if live else None,
        },
        "tokens_per_task": {
            "arena": sum(replayed.turn_live_tokens) + refetch,
            "refetch": refetch,
            "no_management": sum(replayed.turn_total_tokens),
            "turns": len(replayed.turn_live_tokens),
        },
        "probe_details": [asdict(p) for p in probes],
    }


def per_type(probes: list[Probe]) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for kind in PROBE_TYPES:
        group = [p for p in probes if p.type == kind]
        squashed = [p for p in group if p.squashed]
        table[kind] = {
            "answered": sum(1 for p in group if p.answered_by),
            "total": len(group),
            "squashed_answered": sum(1 for p in squashed if p.answered_by),
            "squashed_total": len(squashed),
            "by_source": dict(sorted(Counter(s for p in group for s in p.answered_by).items())),
        }
    return table


# -- the command ---------------------------------------------------------------------------------


def render_markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        f"Probe-based evaluation ({STANDIN_NOTE}). Cells: answered/total (of which about squashed history).",
        "",
        "| file | events | window | squashes | recall | artifact | continuation | decision | compression | tokens/task arena vs none |",
        "| --- | ---: | ---: | ---: | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        cells = [_cell(r["probes"][kind]) for kind in PROBE_TYPES]
        c, t = r["compression"], r["tokens_per_task"]
        ratio = f"{c['ratio']}:1 ({c['squashed_tokens']:,}→{c['anchored_summary_tokens']:,})" if c["ratio"] else "–"
        lines.append(
            f"| {r['file']} [{r['session'][:24]}] | {r['events']} | {r['window_tokens']:,} | {r['squashes'] + r['agent_summaries']} | "
            + " | ".join(cells)
            + f" | {ratio} | {t['arena']:,} vs {t['no_management']:,} |"
        )
    totals = {kind: _sum_cells(results, kind) for kind in PROBE_TYPES}
    lines.append("| **all** | | | | " + " | ".join(_cell(totals[k]) for k in PROBE_TYPES) + " | | |")
    return "\n".join(lines) + "\n"


def _cell(row: dict[str, Any]) -> str:
    if not row["total"]:
        return "–"
    return f"{row['answered']}/{row['total']} ({row['squashed_answered']}/{row['squashed_total']})"


def _sum_cells(results: list[dict[str, Any]], kind: str) -> dict[str, int]:
    keys = ("answered", "total", "squashed_answered", "squashed_total")
    return {key: sum(r["probes"][kind][key] for r in results) for key in keys}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="transcript files (Claude Code, SWE-agent, OpenHands) or gen:N")
    parser.add_argument("--window", default="auto", help="context window for the replay: 'auto' (a third of the transcript) or tokens")
    parser.add_argument("--top-k", type=int, default=5, help="memory_search hits an answer may come from")
    parser.add_argument("--no-semantic", action="store_true", help="full-text search only")
    parser.add_argument("--json", type=Path, help="also write the full results (every probe) here")


def run(args: argparse.Namespace, _settings: Settings) -> int:
    from mcp_arena.lab.workload import sources

    results = []
    for path in args.paths:
        for label, session, drafts in sources(path):
            results.append(evaluate_session(label, session, drafts, window=args.window, top_k=args.top_k, semantic=not args.no_semantic))
    sys.stdout.write(render_markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True, ensure_ascii=False, default=str))
    return 0
