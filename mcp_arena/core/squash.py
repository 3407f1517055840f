"""Squash and undo as plans: release a contiguous tag→now range into the session's anchored summary.

A squash is one appended record; the raw range stays in the log. Ranges are
kept nested or disjoint: a squash that starts inside an earlier active squash
is widened to cover it whole. Undo appends a record that reverts the newest
active squash and restores the summary before it.

Everything here is computed from the ledger and what the caller passes in (the
trail's file entries, the token counter); nothing is written. The engine checks
the summary, chooses the span, plans, then persists the plan's record and tag.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mcp_arena.core import listing, summary
from mcp_arena.core.ledger import Ledger, SquashRecord, Tag
from mcp_arena.core.results import SquashResult
from mcp_arena.core.summary import ChangedFile
from mcp_arena.errors import InvalidArgument, NothingToSquash, UnknownTag


def resolve_tag(ledger: Ledger, from_tag: str | None) -> Tag:
    if from_tag:
        tag = ledger.tags.get(from_tag)
        if tag is None:
            raise UnknownTag(_unknown_tag(ledger, from_tag))
        return tag
    tag = ledger.last_tag()
    if tag is None:
        raise UnknownTag("no tag in this session yet: call tag(name=...) where the range should start, work, then squash.")
    return tag


def _unknown_tag(ledger: Ledger, from_tag: str) -> str:
    """Names the closest tags and the newest ones, never the session's whole tag list (it grows with the session)."""
    names = [tag.name for tag in ledger.agent_tags()]
    close = difflib.get_close_matches(from_tag, names, n=3)
    hint = f"did you mean {', '.join(repr(n) for n in close)}? " if close else ""
    return (
        f"unknown tag {from_tag[:80]!r}; {hint}tags in this session, newest last: {listing.names_within(names)}. "
        "Omit from_tag to squash from the last tag."
    )


def squash_range(ledger: Ledger, tag: Tag, squash_seq: int) -> tuple[int, int, list[str]]:
    """(from_seq, to_seq, notes): everything after the tag up to the squash call itself."""
    from_seq, to_seq = tag.seq + 1, squash_seq - 1
    notes: list[str] = []
    if to_seq < from_seq or ledger.only_kinds(from_seq, to_seq, ("tool_result", "guide")):
        # only the tag call's own result (and its guide) follow the tag
        raise NothingToSquash(f"nothing to squash: no events after tag '{tag.name}' yet. Work first, then squash.")
    for record in ledger.active_squashes():
        if record.from_seq <= from_seq and to_seq <= record.to_seq:
            raise NothingToSquash(
                f"nothing to squash: everything after '{tag.name}' was already squashed (seq {record.from_seq}–{record.to_seq}). "
                "Tag again after new work, or squash from an earlier tag."
            )
        if record.from_seq < from_seq <= record.to_seq:
            notes.append(
                f"Note: the range started inside an earlier squash (seq {record.from_seq}–{record.to_seq}), "
                f"so it was widened to start at seq {record.from_seq}."
            )
            from_seq = record.from_seq
    swallowed = [r.record for r in ledger.active_squashes() if from_seq <= r.from_seq and r.to_seq <= to_seq]
    if swallowed:
        notes.append(
            f"Note: this squash covers earlier squash(es) #{', #'.join(map(str, swallowed))} whole; "
            "their summaries were already merged into the anchored summary."
        )
    crossed = [seq for seq in ledger.compactions if from_seq <= seq <= to_seq]
    if crossed:
        notes.append(
            f"Note: the range spans {len(crossed)} host compaction(s) (seq {', '.join(map(str, crossed))}); "
            "the host had already dropped part of it. The raw events stay searchable."
        )
    return from_seq, to_seq, notes


def live_tokens_in(ledger: Ledger, from_seq: int, to_seq: int) -> int:
    inner = sum(
        ledger.tokens_between(r.from_seq, r.to_seq)
        for r in ledger.active_squashes()
        if from_seq <= r.from_seq and r.to_seq <= to_seq
    )
    return ledger.tokens_between(from_seq, to_seq) - inner


def backup_name(ledger: Ledger, tag: Tag) -> str:
    name, suffix = f"{tag.name}@backup", 2
    while name in ledger.tags:
        name, suffix = f"{tag.name}@backup{suffix}", suffix + 1
    return name


def check_summary(text: str, count_tokens: Callable[[str], int], limit: int) -> str:
    """The agent's summary, stripped; raises when it is empty or over `limit` tokens."""
    agent_summary = (text or "").strip()
    if not agent_summary:
        raise InvalidArgument("summary is empty: pass the anchored summary (## Session Intent, ## Files Modified, "
                              "## Decisions Made, ## Current State, ## Next Steps) or plain text")
    size = count_tokens(agent_summary)
    if size > limit:
        raise InvalidArgument(f"summary is {size:,} tokens; the limit is {limit:,}. Keep decisions, paths and errors; drop narration.")
    return agent_summary


@dataclass(frozen=True)
class Span:
    """The range a squash releases: after `tag` up to the squash call, widened to whole earlier squashes."""

    tag: Tag
    from_seq: int
    to_seq: int
    notes: tuple[str, ...]


def choose_span(ledger: Ledger, from_tag: str | None, squash_seq: int) -> Span:
    tag = resolve_tag(ledger, from_tag)
    from_seq, to_seq, notes = squash_range(ledger, tag, squash_seq)
    return Span(tag, from_seq, to_seq, tuple(notes))


@dataclass(frozen=True)
class SquashPlan:
    """What a squash appends: its record and the backup tag of the raw range; and what the agent reads."""

    record: SquashRecord
    backup: Tag
    result: SquashResult


def plan(
    ledger: Ledger,
    seq: int,
    agent_summary: str,
    span: Span,
    trail_files: Sequence[ChangedFile],
    count_tokens: Callable[[str], int],
) -> SquashPlan:
    """Merge the agent's summary (and the files the trail saw in the span) into the anchored summary."""
    previous = summary.parse(ledger.anchored_summary()) if ledger.anchored_summary() else None
    try:
        merged = summary.merge(previous, summary.parse(agent_summary), trail_files)
    except ValueError as exc:
        raise InvalidArgument(f"summary could not be read: {exc}") from exc
    anchored = summary.render(merged.summary)
    tokens_before = live_tokens_in(ledger, span.from_seq, span.to_seq)
    tokens_after = count_tokens(anchored)
    record = SquashRecord(
        record=len(ledger.squashes),
        op="squash",
        from_seq=span.from_seq,
        to_seq=span.to_seq,
        tag=span.tag.name,
        summary=agent_summary,
        anchored=anchored,
        filled=tuple(merged.filled_from_trail),
        tokens_before=tokens_before,
        tokens_after=tokens_after,
        undoes=-1,
        seq=seq,
    )
    note = f"raw range {span.from_seq}–{span.to_seq} before squash #{record.record}"
    backup = Tag(backup_name(ledger, span.tag), span.tag.seq, note, "backup")
    result = SquashResult(
        session=ledger.session,
        tag=span.tag.name,
        from_seq=span.from_seq,
        to_seq=span.to_seq,
        events=span.to_seq - span.from_seq + 1,
        tokens_before=tokens_before,
        tokens_after=tokens_after,
        tokens_freed=max(tokens_before - tokens_after, 0),
        backup_tag=backup.name,
        filled_from_trail=list(merged.filled_from_trail),
        notes=list(span.notes),
        anchored_summary=anchored,
    )
    return SquashPlan(record=record, backup=backup, result=result)


def plan_undo(ledger: Ledger, seq: int) -> SquashRecord:
    """The record that reverts the newest active squash; the summary before it comes back."""
    active = sorted(ledger.active_squashes(), key=lambda r: r.record)
    if not active:
        raise NothingToSquash("no active squash to undo in this session")
    target = active[-1]
    earlier = [r for r in ledger.squashes if r.record < target.record]
    return SquashRecord(
        record=len(ledger.squashes),
        op="undo",
        from_seq=target.from_seq,
        to_seq=target.to_seq,
        tag=target.tag,
        summary="",
        anchored=earlier[-1].anchored if earlier else "",
        filled=(),
        tokens_before=0,
        tokens_after=0,
        undoes=target.record,
        seq=seq,
    )


def versions(ledger: Ledger, keep: int) -> list[SquashRecord]:
    """The newest `keep` summary versions, newest last."""
    return ledger.squashes[-keep:]

