"""Bounded listings: how many entries of a list fit a token budget, and the line that says what was left out.

A result must not grow with the session's history unless the caller asked for the
history, and then only up to a budget. The rules here choose what a listing shows;
the result models (`core.results`) render it. Pure: the caller passes the token
counter, and measures the rendered text once more (`Arena` and `Trail` do) because
counting lines one by one is a close estimate, not an exact one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")

# A name list inside an error message (existing tags, close matches): a count bound, no budget needed.
MAX_NAMES_IN_ERROR = 10
# Longest run of a note or a path a listing line shows; the full value stays in the log.
MAX_NOTE_SHOWN = 120
MAX_PATH_SHOWN = 300


def more_line(more: int, narrow: str) -> str:
    """The line every bounded listing ends with when it left entries out."""
    return f"{more:,} more — narrow with {narrow}."


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the cut marked with "…" (the middle goes, so a path keeps its file name)."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def clip_end(text: str, limit: int) -> str:
    """`text` cut to `limit` characters at the end (a note: its start says the most)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def names_within(names: Sequence[str], shown: int = MAX_NAMES_IN_ERROR) -> str:
    """"a, b, c" — the last `shown` names (newest last), and how many older ones were left out."""
    if not names:
        return "none yet"
    kept = list(names[-shown:])
    older = len(names) - len(kept)
    return (f"{older:,} older, then " if older else "") + ", ".join(kept)


def fit(lines: Sequence[str], budget: int, count_tokens: Callable[[str], int]) -> int:
    """How many leading `lines` fit in `budget` tokens, one line each."""
    used = 0
    for shown, line in enumerate(lines):
        used += count_tokens(line) + 1
        if used > budget:
            return shown
    return len(lines)


def share(
    groups: Mapping[str, Sequence[T]],
    line: Callable[[T], str],
    budget: int,
    count_tokens: Callable[[str], int],
) -> dict[str, int]:
    """How many leading entries of each group fit in `budget` tokens, taken in turns (one entry of each
    group per round), so that one long group does not crowd out the others. Groups list their most
    important entries first (for the trail, the most recently touched); a group closes at its first
    entry that does not fit, and the others go on."""
    shown = {name: 0 for name in groups}
    used = 0
    open_groups = [name for name, entries in groups.items() if entries]
    while open_groups:
        still_open = []
        for name in open_groups:
            cost = count_tokens(line(groups[name][shown[name]])) + 1
            if used + cost > budget:
                continue
            used += cost
            shown[name] += 1
            if shown[name] < len(groups[name]):
                still_open.append(name)
        open_groups = still_open
    return shown
