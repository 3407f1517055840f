"""The not-yet-embedded tail this process appended, held in memory until its vectors are stored.

A search must see every event appended before it, embedded or not. The engine
appends through this process and hands the events' text over (`remember`), so a
search finds the session's unembedded tail here instead of looking it up in the
events table. Per session the tail keeps the text by seq and a cover: every seq
up to the cover has a stored vector or sits in the tail. A search that knows the
session's newest seq (`newest_seq`, the engine holds the session's lock) takes
the tail from memory when the cover reaches it (`upto`); otherwise it looks the
tail up and `hold`s what it found. Events appended by another writer break the
cover until such a lookup. Thread-safe: the search threads read while the
background worker embeds and forgets.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

TailRow = tuple[int, str, str, str]  # seq, kind, tool, text

# Not-yet-embedded events held in memory per session (their text); beyond it the tail is dropped.
TAIL_MAX = 20_000


class HeldTail:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tail: dict[str, dict[int, tuple[str, str, str]]] = {}  # appended here, not embedded yet
        self._covered_upto: dict[str, int] = {}  # every seq <= this has a vector or sits in _tail

    def remember(self, session: str, rows: Sequence[TailRow] | None) -> None:
        """Events just appended; None when appended elsewhere (what is missing is then unknown
        until a lookup or the worker says)."""
        with self._lock:
            tail = self._tail.setdefault(session, {})
            covered = self._covered_upto.pop(session, None)
            if rows is None:
                return
            for seq, kind, tool, text in rows:
                tail[seq] = (kind, tool, text)
            if len(tail) > TAIL_MAX:
                tail.clear()
                return
            if covered is not None:
                self._extend_cover(session, covered)

    def hold(self, session: str, rows: list[TailRow], upto: int) -> None:
        """`rows` are all the session's events up to `upto` without a vector: hold exactly those."""
        with self._lock:
            tail = self._tail.setdefault(session, {})
            for seq in [seq for seq in tail if seq <= upto]:
                del tail[seq]
            tail.update((seq, (kind, tool, text)) for seq, kind, tool, text in rows if seq <= upto)
            self._extend_cover(session, upto)

    def forget(self, session: str, seqs: Iterable[int]) -> None:
        """These events have stored vectors now."""
        with self._lock:
            tail = self._tail.get(session)
            if tail:
                for seq in seqs:
                    tail.pop(seq, None)

    def reconcile(self, session: str, stored: Iterable[int], event_seqs: list[int], missing: list[int]) -> None:
        """A scan found the session's events (`event_seqs`, ascending) and those without a vector
        (`missing`): drop what another process embedded, and extend the cover when the tail holds
        every missing one."""
        with self._lock:
            tail = self._tail.get(session, {})
            for seq in stored:
                tail.pop(seq, None)
            if event_seqs and all(seq in tail for seq in missing):
                self._extend_cover(session, event_seqs[-1])

    def upto(self, session: str, newest_seq: int | None) -> list[TailRow] | None:
        """Events up to `newest_seq` without a stored vector, when this process knows them all."""
        if newest_seq is None:
            return None
        with self._lock:
            covered = self._covered_upto.get(session)
            if covered is None or covered < newest_seq:
                return None
            tail = self._tail.get(session, {})
            return sorted((seq, *row) for seq, row in tail.items() if seq <= newest_seq)

    def rows(self, session: str, seqs: Sequence[int]) -> list[TailRow]:
        """The held ones of these events, in the order given."""
        with self._lock:
            tail = self._tail.get(session, {})
            return [(seq, *tail[seq]) for seq in seqs if seq in tail]

    def _extend_cover(self, session: str, upto: int) -> None:
        """Every event up to `upto` has a vector or sits in the tail (caller holds the lock):
        raise the cover to it, and on through the tail's consecutive seqs."""
        upto = max(upto, self._covered_upto.get(session, upto))
        tail = self._tail.get(session, {})
        while upto + 1 in tail:
            upto += 1
        self._covered_upto[session] = upto
