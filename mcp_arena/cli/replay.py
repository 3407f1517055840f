"""Replay a transcript turn by turn through a fresh arena: what context_status would have said.

A turn ends with the first event of each main-thread model response
(`feeds.turns`: for Claude Code, the assistant event that carries the
request's usage; for formats without message ids, every assistant event).
After each turn the session's `context_status` is computed and printed next to
the real usage: the real figure is the context the model was sent
(`feeds.claude_code.context_tokens`), the arena's own count is the tokens it
logged itself (what it would estimate without the transcript's usage).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from mcp_arena.core.events import EventDraft
from mcp_arena.engine.transcript import UsageSampler
from mcp_arena.feeds import formats
from mcp_arena.feeds.turns import turns


@dataclass(frozen=True)
class TurnRow:
    turn: int
    real: int | None
    counted: int
    used_pct: float
    zone: str
    advice: str
    compactions: int


def replay(arena: Any, path: str, out: TextIO, session: str | None = None) -> list[TurnRow]:
    from mcp_arena.core.status import status as context_status

    session_id, drafts = _pick_session(path, session)
    arena.ensure_session(session_id, origin="import", label=str(path))
    sampler = UsageSampler(arena.settings.window_tokens)
    rows: list[TurnRow] = []
    out.write(f"replay of {path} (session {session_id}, window {arena.settings.window_tokens:,})\n")
    out.write(f"{'turn':>5} {'real':>9} {'arena':>9} {'used%':>6}  {'zone':<7} advice\n")
    for number, turn in enumerate(turns(drafts), start=1):
        sampled = sampler.apply(turn)
        arena.append(session_id, sampled)
        with arena.locked(session_id) as ledger:
            status = context_status(ledger, arena.settings)
        real = _real_usage(sampled)
        row = TurnRow(number, real, status.live_tokens, status.usage_pct, status.zone, status.advice, status.host_compactions)
        rows.append(row)
        out.write(_format_row(row) + "\n")
    out.write(summary_table(rows))
    return rows


def _pick_session(path: str, wanted: str | None) -> tuple[str, Iterator[EventDraft]]:
    for session_id, drafts in formats.read_sessions(path, source="import"):
        if wanted is None or session_id == wanted:
            return session_id, drafts
    raise ValueError(f"{path} holds no session {wanted!r}")


def _real_usage(turn: list[EventDraft]) -> int | None:
    samples = [draft.meta["usage_sample"]["used"] for draft in turn if "usage_sample" in draft.meta]
    return samples[-1] if samples else None


def _format_row(row: TurnRow) -> str:
    real = f"{row.real:,}" if row.real is not None else "—"
    squash = "  ← squash here" if row.zone == "above" else ""
    return f"{row.turn:>5} {real:>9} {row.counted:>9,} {row.used_pct:>5.1f}%  {row.zone:<7} {row.advice}{squash}"


def summary_table(rows: list[TurnRow]) -> str:
    reals = [row.real for row in rows if row.real is not None]
    advised = [row.turn for row in rows if row.zone == "above"]
    first = f" (first at turn {advised[0]})" if advised else ""
    lines = [
        "",
        "summary",
        f"  turns                      {len(rows)}",
        f"  turns with real usage      {len(reals)}",
        f"  peak real usage            {max(reals):,}" if reals else "  peak real usage            —",
        f"  peak arena count           {max((row.counted for row in rows), default=0):,}",
        f"  turns advised to squash    {len(advised)}{first}",
        f"  host compactions           {rows[-1].compactions if rows else 0}",
    ]
    return "\n".join(lines) + "\n"
