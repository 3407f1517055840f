"""What one memory_search may match: a session, a scope, kinds, tools, a seq range.

The same filter runs in two places: inside LanceDB, as a `lancedb.expr` (never
SQL text pasted from caller strings), and in Python over rows already in hand
(the not-yet-embedded tail, and hits fetched with only the session as prefilter).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lancedb.expr import Expr, col, lit

from mcp_arena.errors import InvalidArgument

SCOPES = ("all", "squashed", "live")


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping inclusive ranges (adjacent ones joined)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted((int(a), int(b)) for a, b in ranges if int(a) <= int(b)):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _in_range(start: int, end: int) -> Expr:
    return (col("seq") >= lit(start)) & (col("seq") <= lit(end))


def _any_of(parts: list[Expr]) -> Expr:
    combined = parts[0]
    for part in parts[1:]:
        combined = combined | part
    return combined


def _names(values: Sequence[str] | None) -> frozenset[str] | None:
    return frozenset(str(v) for v in values) if values else None


@dataclass(frozen=True)
class SearchFilter:
    session: str
    scope: str = "all"
    squashed: tuple[tuple[int, int], ...] = ()  # merged, inclusive
    kinds: frozenset[str] | None = None
    tools: frozenset[str] | None = None
    exclude_tools: frozenset[str] | None = None
    exclude_kinds: frozenset[str] | None = None
    seq_min: int | None = None
    seq_max: int | None = None

    @classmethod
    def of(
        cls,
        session: str,
        *,
        scope: str = "all",
        squashed_ranges: Iterable[tuple[int, int]] = (),
        kinds: Sequence[str] | None = None,
        tools: Sequence[str] | None = None,
        exclude_tools: Sequence[str] | None = None,
        exclude_kinds: Sequence[str] | None = None,
        seq_min: int | None = None,
        seq_max: int | None = None,
    ) -> SearchFilter:
        if scope not in SCOPES:
            raise InvalidArgument(f"unknown scope {str(scope)[:40]!r}; use one of: {', '.join(SCOPES)}")
        return cls(
            session=session,
            scope=scope,
            squashed=tuple(merge_ranges(squashed_ranges)),
            kinds=_names(kinds),
            tools=_names(tools),
            exclude_tools=_names(exclude_tools),
            exclude_kinds=_names(exclude_kinds),
            seq_min=None if seq_min is None else int(seq_min),
            seq_max=None if seq_max is None else int(seq_max),
        )

    @property
    def empty(self) -> bool:
        """Nothing can match: a squashed scope with no squash, or an inverted seq range."""
        if self.scope == "squashed" and not self.squashed:
            return True
        return self.seq_min is not None and self.seq_max is not None and self.seq_min > self.seq_max

    @property
    def narrow(self) -> bool:
        """Likely to keep a small part of the session: better applied inside LanceDB than after it."""
        return self.scope == "squashed" or bool(self.kinds) or bool(self.tools) or self.seq_min is not None

    def session_expr(self) -> Expr:
        return col("session") == lit(self.session)

    def expr(self) -> Expr | None:
        """The whole filter for LanceDB; None when nothing can match."""
        if self.empty:
            return None
        where = self.session_expr()
        ranges = [_in_range(a, b) for a, b in self.squashed]
        if self.scope == "squashed":
            where = where & _any_of(ranges)
        elif self.scope == "live" and ranges:
            where = where & ~_any_of(ranges)
        if self.kinds:
            where = where & col("kind").isin(sorted(self.kinds))
        if self.tools:
            where = where & col("tool").isin(sorted(self.tools))
        if self.exclude_tools:
            where = where & ~col("tool").isin(sorted(self.exclude_tools))
        if self.exclude_kinds:
            where = where & ~col("kind").isin(sorted(self.exclude_kinds))
        if self.seq_min is not None:
            where = where & (col("seq") >= lit(self.seq_min))
        if self.seq_max is not None:
            where = where & (col("seq") <= lit(self.seq_max))
        return where

    def matches(self, seq: int, kind: str, tool: str) -> bool:
        """The filter beyond the session, for a row of this session already in hand."""
        if self.seq_min is not None and seq < self.seq_min:
            return False
        if self.seq_max is not None and seq > self.seq_max:
            return False
        if self.kinds and kind not in self.kinds:
            return False
        if self.tools and tool not in self.tools:
            return False
        if self.exclude_tools and tool in self.exclude_tools:
            return False
        if self.exclude_kinds and kind in self.exclude_kinds:
            return False
        if self.scope == "all":
            return True
        inside = any(a <= seq <= b for a, b in self.squashed)
        return inside if self.scope == "squashed" else not inside


def build_filter(session: str, **options: Any) -> Expr | None:
    """The LanceDB filter for these options (see `SearchFilter.of`); None when nothing can match."""
    return SearchFilter.of(session, **options).expr()
