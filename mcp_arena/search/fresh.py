"""Rows the full-text index does not cover yet, held in memory and ranked here.

LanceDB's full-text search walks every fragment its index does not cover, and
the arena commits one small fragment per tool call: between two index updates
a query at 10k events slows from ~3 ms to ~11 ms (64 fragments). This process
saw every row it appended, so it keeps their text until the index covers them.
A search then asks LanceDB for the indexed rows only (`fast_search`) and ranks
the fresh rows here by BM25 among themselves (words from `words.stems`:
LanceDB's tokenizer costs a round trip through its event loop, 6 ms under
load); the two rankings are interleaved rank by rank, as the scores of the two
are not on one scale.

When the fresh rows are complete: every commit of the session newer than the
index's watermark (the events version its last update started from) went
through this process. The session's first commit seen here sets `tracked_from`
(its version - 1); a row appended by another writer drops the session; and the
watermark must reach `tracked_from` before the session's searches use the fresh
rows. Until then they walk the unindexed fragments, as LanceDB does by default,
unless the index leaves out exactly as many rows as are held here: then the rows
it leaves out are these (`trust_if_all_held`; only an optimize run by another
process between our appends could fake that count).

    fresh = FreshRows()
    fresh.add(session, version, [(seq, kind, tool, text), ...])  # our commit
    fresh.forget(session)                     # another writer appended to it
    fresh.indexed(version)                    # the index covers rows <= version
    rows = fresh.rows_for(session)            # None: not known to be complete
    order = bm25_order(query, rows)           # seqs, best first
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from mcp_arena.search.words import stems

# BM25's usual constants (LanceDB's too).
_K1 = 1.2
_B = 0.75


@dataclass
class FreshRow:
    seq: int
    version: int
    kind: str
    tool: str
    text: str
    words: Counter[str] | None = None  # the text's words and their counts, on first search
    length: int = 0  # how many words


@dataclass
class _Session:
    tracked_from: int  # every commit of the session above this version is held (or indexed)
    rows: dict[int, FreshRow] = field(default_factory=dict)


class FreshRows:
    def __init__(self, max_rows: int = 4096, max_chars: int = 16_000_000) -> None:
        self._max_rows = max_rows
        self._max_chars = max_chars
        self._sessions: dict[str, _Session] = {}
        self._held = 0
        self._held_chars = 0
        self._watermark = -1
        self._lock = threading.Lock()

    def add(self, session: str, version: int, rows: Sequence[tuple[int, str, str, str]]) -> None:
        """Rows this process committed at `version` (seq, kind, tool, text)."""
        with self._lock:
            state = self._sessions.get(session)
            if state is None:
                state = self._sessions[session] = _Session(tracked_from=version - 1)
            for seq, kind, tool, text in rows:
                self._release(state.rows.pop(seq, None))
                state.rows[seq] = FreshRow(seq, version, kind, tool, text or "")
                self._held += 1
                self._held_chars += len(text or "")
            if self._held > self._max_rows or self._held_chars > self._max_chars:
                self._drop(session)  # an index that stopped updating, or huge results: stop holding

    def forget(self, session: str) -> None:
        """Another writer appended to the session: what is fresh there is no longer known."""
        with self._lock:
            self._drop(session)

    def indexed(self, version: int) -> None:
        """The full-text index now covers every row committed at or before `version`."""
        with self._lock:
            if version <= self._watermark:
                return
            self._watermark = version
            for state in self._sessions.values():
                for seq in [seq for seq, row in state.rows.items() if row.version <= version]:
                    self._release(state.rows.pop(seq))

    def tracks(self, session: str) -> bool:
        with self._lock:
            return session in self._sessions

    def trust_if_all_held(self, unindexed: int) -> bool:
        """The index leaves out `unindexed` rows: when that is just what is held here, every
        session held is complete, whatever the watermark."""
        with self._lock:
            if unindexed != self._held:
                return False
            for state in self._sessions.values():
                state.tracked_from = -1
            return True

    def rows_for(self, session: str) -> list[FreshRow] | None:
        """The session's rows the index does not cover, by seq; None when they are not all known."""
        with self._lock:
            state = self._sessions.get(session)
            if state is None or self._watermark < state.tracked_from:
                return None
            return [state.rows[seq] for seq in sorted(state.rows)]

    @property
    def watermark(self) -> int:
        return self._watermark

    def _drop(self, session: str) -> None:
        state = self._sessions.pop(session, None)
        for row in state.rows.values() if state is not None else ():
            self._release(row)

    def _release(self, row: FreshRow | None) -> None:
        if row is not None:
            self._held -= 1
            self._held_chars -= len(row.text)


def bm25_order(query: str, rows: Sequence[FreshRow]) -> list[int]:
    """Seqs of the rows holding a query word, by BM25 over these rows (best first, ties by seq)."""
    terms = set(stems(query))
    if not terms or not rows:
        return []
    counts: list[Counter[str]] = []
    for row in rows:
        if row.words is None:  # concurrent searches may both fill it in: the same words
            words = stems(row.text)
            row.length, row.words = len(words), Counter(words)
        counts.append(row.words)
    lengths = [row.length for row in rows]
    average = (sum(lengths) / len(rows)) or 1.0
    frequency = Counter(term for c in counts for term in terms if c[term])
    idf = {term: math.log(1 + (len(rows) - n + 0.5) / (n + 0.5)) for term, n in frequency.items()}
    scored = []
    for row, count, length in zip(rows, counts, lengths):
        score = sum(
            idf[term] * count[term] * (_K1 + 1) / (count[term] + _K1 * (1 - _B + _B * length / average))
            for term in frequency
            if count[term]
        )
        if score > 0:
            scored.append((-score, row.seq))
    return [seq for _, seq in sorted(scored)]


def interleave(first: Sequence[int], second: Sequence[int]) -> list[int]:
    """Two rankings merged rank by rank (first's item before second's), each seq once."""
    merged: list[int] = []
    seen: set[int] = set()
    for pair in zip(first, second):
        for seq in pair:
            if seq not in seen:
                seen.add(seq)
                merged.append(seq)
    longer = first if len(first) > len(second) else second
    for seq in longer[min(len(first), len(second)) :]:
        if seq not in seen:
            seen.add(seq)
            merged.append(seq)
    return merged
