"""The tables recall works over, as their owner hands them to it.

The recall library queries the events table, appends rows to the vectors table
and reads both tables' index statistics; it never opens, creates or optimizes a
table. Whoever owns the storage (the engine's `Store`; a test or a bench) opens
them and passes the handles here, with two duties recall needs on its path:

- `build_fulltext_index()`: build the events' full-text index when it is
  missing; returns the events version the new index covers, or None when it was
  not built now (no rows yet, or another writer raced). A search works without
  the index (LanceDB then scans), so the default builds nothing.
- `vectors_added(rows)`: count the vector rows recall appended towards the
  owner's next optimize (compaction and index updates are the owner's).
- `pending(session)`: the session's events written but not committed to the
  table yet (seq, kind, tool, text), ascending: a search ranks them from memory
  (full text) and embeds them with the tail. A row may be committed meanwhile
  and found twice: each seq counts once.
- `maintain_vectors()`: windows of long events are stored but the vectors' text
  has no full-text index yet: the owner's maintenance should build it (off the
  request path; recall asks once per process, and searches without it meanwhile).

`consistent_reads`: whether the handles see other handles' commits on their own
(a connection with `read_consistency_interval` set); else recall checks out the
latest version before it reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _builds_nothing() -> int | None:
    return None


def _counts_nothing(rows: int) -> None:
    return None


def _does_nothing() -> None:
    return None


def _nothing_pending(session: str) -> list[tuple[int, str, str, str]]:
    return []


@dataclass(frozen=True)
class RecallTables:
    events: Any
    vectors: Any | None = None  # None: recall by full text only
    consistent_reads: bool = False
    build_fulltext_index: Callable[[], int | None] = _builds_nothing
    vectors_added: Callable[[int], None] = _counts_nothing
    maintain_vectors: Callable[[], None] = _does_nothing
    pending: Callable[[str], list[tuple[int, str, str, str]]] = _nothing_pending

    def refresh(self, *, events: bool = True, vectors: bool = True) -> None:
        """Check out the newest versions, when the handles don't see other handles' writes on their own."""
        if self.consistent_reads:
            return
        if events:
            self.events.checkout_latest()
        if vectors and self.vectors is not None:
            self.vectors.checkout_latest()
