"""context_status as a pure function of a session's ledger and the settings."""

from __future__ import annotations

from collections.abc import Sequence

from mcp_arena.config import Settings
from mcp_arena.core.ledger import Ledger, UsageSample
from mcp_arena.core.results import Advice, NextStage, StatusResult, UsageSource, Zone

STAGE_NAMES = {1: "soft trim", 2: "hard clear", 3: "graded compression"}

ESTIMATE_BLIND_SPOTS = (
    "counts only what this server saw (its own calls and results{since}); it cannot see the host's "
    "system prompt, user messages or other tools' calls. Pass used_tokens (and window_tokens) for an exact figure."
)


def usage_figure(ledger: Ledger, settings: Settings) -> tuple[int, int, UsageSource, str]:
    """(used, window, source, note): the best figure the arena has for the host's window."""
    sample = ledger.samples[-1] if ledger.samples else None
    if sample is not None and (sample.source == "transcript" or sample.seq == ledger.last_seq):
        source: UsageSource = "transcript" if sample.source == "transcript" else "reported"  # the only two a sample has
        return sample.used, sample.window, source, _fresh_note(sample)
    if sample is not None:
        grown = ledger.live_tokens() - sample.live_at
        note = ESTIMATE_BLIND_SPOTS.format(since=f" since the {sample.source} figure at seq {sample.seq}")
        return max(sample.used + grown, 0), sample.window, "estimate", note
    return ledger.live_tokens(), settings.window_tokens, "estimate", ESTIMATE_BLIND_SPOTS.format(since="")


def _fresh_note(sample: UsageSample) -> str:
    if sample.source == "reported":
        return "reported by the agent in this call"
    return (
        f"exact: the context of the host's last request, from its transcript (seq {sample.seq}); "
        "that response's own output and anything after it are not in the figure yet"
    )


def zone_of(fraction: float, settings: Settings) -> Zone:
    if fraction < settings.zone_low:
        return "below"
    if fraction <= settings.zone_high:
        return "inside"
    return "above"


def stages(settings: Settings) -> dict[int, float]:
    return {1: settings.stage1, 2: settings.stage2, 3: settings.stage3}


def next_stage(used: int, window: int, settings: Settings) -> tuple[NextStage | None, int]:
    """The next pruning stage not yet reached, and the highest stage reached (0 for none)."""
    reached = 0
    for stage, threshold in stages(settings).items():
        limit = int(window * threshold)
        if used < limit:
            return NextStage(stage=stage, name=STAGE_NAMES[stage], threshold_pct=threshold * 100, tokens_away=limit - used), reached
        reached = stage
    return None, reached


def turns_left(used: int, window: int, per_turn: float, settings: Settings) -> int | None:
    if per_turn <= 0:
        return None
    headroom = int(window * settings.stage1) - used
    return max(int(headroom // per_turn), 0)


def advise(fraction: float, steps_since_tag: int, has_tag: bool, settings: Settings) -> tuple[Advice, str]:
    squashable = has_tag and steps_since_tag > 0
    if fraction > settings.zone_high and squashable:
        return "squash now", (
            "Above the Goldilocks zone: finish the current step, then call squash(summary=...) with the "
            "five anchored sections to release the range since the last tag."
        )
    if fraction > settings.zone_high:
        return "tag now", (
            "Above the Goldilocks zone with nothing to squash yet: call tag(name=...) now, and squash "
            "once the current subtask is done."
        )
    if steps_since_tag >= settings.tag_after_steps:
        return "tag now", (
            f"{steps_since_tag} steps since the last tag: call tag(name=...) at this boundary so the "
            "next squash releases a clean range."
        )
    return "keep working", "Inside budget: keep working; tag at the next subtask boundary."


def status(ledger: Ledger, settings: Settings, upstreams: Sequence[str] = ()) -> StatusResult:
    """The dashboard of a session; `upstreams`: lines on proxied servers that are down or changed."""
    used, window, source, note = usage_figure(ledger, settings)
    fraction = used / window if window else 0.0
    tag = ledger.last_tag()
    since_tag = ledger.steps_after(tag.seq) if tag else ledger.steps
    stage, reached = next_stage(used, window, settings)
    per_turn = turn_growth(ledger, settings)
    advice, advice_text = advise(fraction, since_tag, tag is not None, settings)
    return StatusResult(
        session=ledger.session,
        used_tokens=used,
        window_tokens=window,
        usage_pct=round(fraction * 100, 1),
        source=source,
        source_note=note,
        zone=zone_of(fraction, settings),
        zone_pct=(round(settings.zone_low * 100, 1), round(settings.zone_high * 100, 1)),
        steps=ledger.steps,
        steps_since_tag=since_tag,
        last_tag=tag.name if tag else None,
        next_stage=stage,
        stage_reached=reached,
        turns_left=turns_left(used, window, per_turn, settings),
        tokens_per_turn=round(per_turn),
        live_tokens=ledger.live_tokens(),
        logged_tokens=ledger.total_tokens,
        squashes=len(ledger.active_squashes()),
        tokens_freed=ledger.tokens_freed(),
        host_compactions=len(ledger.compactions),
        trimmed_results=ledger.trimmed_results,
        tokens_kept_out=ledger.tokens_kept_out,
        upstreams=list(upstreams),
        advice=advice,
        advice_text=advice_text,
    )


def turn_growth(ledger: Ledger, settings: Settings) -> float:
    """Tokens per turn: the real growth between usage figures of the newest source when there are
    two or more (per transcript turn, or per step between reports), else the log's own rate."""
    if ledger.samples:
        source = ledger.samples[-1].source
        recent = [s for s in ledger.samples if s.source == source][-(settings.turns_window + 1) :]
        growth = [
            (later.used - earlier.used) / (1 if source == "transcript" else max(ledger.steps_between(earlier.seq, later.seq), 1))
            for earlier, later in zip(recent, recent[1:])
            if later.used >= earlier.used
        ]
        if growth:
            return sum(growth) / len(growth)
    return ledger.tokens_per_step(settings.turns_window)
