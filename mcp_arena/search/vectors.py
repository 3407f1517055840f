"""The vector layer's writer: which events still lack a vector, and embedding them.

The events table is append-only and never rewritten, so vectors live in a table
of their own (its schema is the store's: session, seq, chunk, kind, tool,
vector[384], text). An event the model reads whole is one row, chunk 0; a long
one is one row per overlapping window of it, chunks 1..n (`chunks.py`), plus a
chunk 0 for the whole event, all written in one commit, so an event with any row
has all of them, and every event has a chunk 0.

A long event's windows are stored as their residual: the window's vector less
`RESIDUAL` times the mean of the event's windows, normalised. The windows of a
log are mostly alike (request lines, test ids) and the mean is what they share;
what is left is what sets a window apart, such as the one line that states a
fact, which then stands out to a query about it (bench, 24 facts buried in
2k–20k-token logs among 10,000 events: 0.50 -> 0.58 of them in the vector leg's
top 5; 0.8 and 1.0 did no better and lose more of the shared meaning). The
whole event's chunk 0 is that mean, normalised: a query about what the log is as
a whole finds it there. Kind, tool and
the chunk's text are copied next to each vector (events never change), so every
filter applies inside the vector search and a vector hit needs no second read.
A vectors table from before the text or the chunk column is still read and
written without it (one row per event, its text truncated by the model). Events
that `embeds` turns down (the engine's own boilerplate) get one zero placeholder
instead of vectors: found by full text only, never by the vector leg, and never
counted as missing again.

What is missing, per session: every seq up to `complete_upto` has a vector;
`embedded_max` is the highest seq with one (vectors are written in seq order, so
a search treats the events above it as not embedded); both only grow, and are
refreshed from the table when another process may have written. The text of
events this process appended waits in `tail` (see `tail.py`) until embedded.

Catch-up embeds the missing events of a session `embed_chunk` events at a time;
on the background thread it yields to tool calls before its scans and between
model batches (see `worker.py`). Who runs it: the background pass
(`embed_pending`, round-robin over the sessions appended to), or a caller
(`catch_up`). Each write is reported to the tables' owner (`vectors_added`),
whose maintenance compacts and indexes the table.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from lancedb.expr import Expr, col, lit

from mcp_arena.search.chunks import Chunk, chunks_of
from mcp_arena.search.embedder import DIMENSION, Embedder
from mcp_arena.search.tables import RecallTables
from mcp_arena.search.tail import HeldTail, TailRow
from mcp_arena.search.worker import Background

logger = logging.getLogger(__name__)

# What a vector row keeps of its chunk's text: more than the model reads (256 tokens).
VECTOR_TEXT_CHARS = 8192
# How much of the mean of a long event's windows each window's vector loses (see above).
RESIDUAL = 0.5
# Vector rows at most in one commit: a batch of long events is written a few events at a time
# (an event's chunks are never split), so a backlog of long results shows progress as it goes.
ROWS_PER_WRITE = 1024
# Not-yet-embedded events looked up in the events table at most per search.
TAIL_FETCH_MAX = 512
_TAIL_COLUMNS = ("seq", "kind", "tool", "text")
_TAIL_SCHEMA = pa.schema([("seq", pa.int64()), ("kind", pa.string()), ("tool", pa.string()), ("text", pa.string())])


class VectorWriter:
    def __init__(
        self,
        tables: RecallTables,
        embedder: Embedder,
        background: Background,
        *,
        embeds: Callable[[str, str], bool],
        embed_chunk: int,
    ) -> None:
        if tables.vectors is None:
            raise ValueError("semantic search needs the vectors table; hand it over, or turn semantic search off")
        self._tables = tables
        self.table = tables.vectors
        self.embedder = embedder
        # Which events (kind, tool) are worth a vector; the rest get a zero placeholder and are
        # found by full text only (cheaper than a second notion of "missing" in the catch-up).
        self.embeds = embeds
        self._background = background
        self._embed_chunk = embed_chunk
        self._schema = self.table.schema  # written as it is: a table from before the text column has none
        self.has_text = "text" in self._schema.names
        self.has_chunk = "chunk" in self._schema.names
        self.error = ""  # why the semantic layer is off, once the model failed
        self.tail = HeldTail()
        self._state_lock = threading.Lock()  # guards the dicts and the set below
        self._embed_lock = threading.Lock()  # one embedding pass at a time per process
        self._embedded_max: dict[str, int] = {}  # highest seq with a stored vector, per session
        self._complete_upto: dict[str, int] = {}  # every seq <= this has a vector, per session
        self._pending: set[str] = set()
        self._discover_all = True  # the worker's first pass looks for any session behind

    def fail(self, exc: Exception) -> None:
        if not self.error:
            logger.error("semantic search disabled, full text only: %s", exc)
        self.error = str(exc)

    def appended(self, session: str, n: int, rows: Sequence[TailRow] | None) -> None:
        """`n` events appended to the session; `rows` their (seq, kind, tool, text) when this process
        appended them (held until embedded), None when another writer did."""
        with self._state_lock:
            self._pending.add(session)
        if n and not self.error:
            self.tail.remember(session, rows)

    def known_embedded_max(self, session: str) -> int | None:
        """The highest seq known here to have a stored vector (no lookup)."""
        return self._embedded_max.get(session)

    # -- catch-up -----------------------------------------------------------------------------

    def catch_up(self, session: str | None = None) -> int:
        """Embed every event still missing a vector (one session or all); returns how many."""
        self._tables.refresh()
        sessions = [session] if session is not None else self._sessions_behind()
        total = 0
        for name in sessions:
            while True:
                done, remaining = self._embed_missing(name, self._embed_chunk * 8)
                total += done
                if remaining == 0 or done == 0:
                    break
        return total

    def embed_pending(self) -> None:
        """The background pass: the sessions appended to since the last pass (on the first pass,
        every session behind), round-robin one chunk each, so a long backlog never starves a busy session."""
        if self.error:
            with self._state_lock:
                self._pending.clear()
            return
        self._tables.refresh()
        with self._state_lock:
            sessions = set(self._pending)
            self._pending.clear()
            discover, self._discover_all = self._discover_all, False
        if discover:
            self._background.yield_to_calls()
            sessions.update(self._sessions_behind())
        while sessions and not self._background.stopping:
            for session in sorted(sessions):
                done, remaining = self._embed_missing(session, self._embed_chunk)
                if remaining == 0 or done == 0:
                    sessions.discard(session)
            with self._state_lock:
                sessions.update(self._pending)
                self._pending.clear()

    def _embed_missing(self, session: str, max_events: int) -> tuple[int, int]:
        """Embed up to max_events missing events of a session: (embedded, still missing)."""
        on_worker = self._background.is_current()
        if on_worker:
            self._background.yield_to_calls()
        with self._embed_lock:
            missing = self._missing_seqs(session)
            if not missing:
                return 0, 0
            done = 0
            for start in range(0, min(len(missing), max_events), self._embed_chunk):
                if self._background.stopping:
                    break
                if on_worker:
                    self._background.wait_for_a_pause()
                done += self._embed_seqs(session, missing[start : min(start + self._embed_chunk, max_events)])
            return done, len(missing) - done

    def _missing_seqs(self, session: str) -> list[int]:
        """Seqs of the session's events without a vector, ascending."""
        complete = self._complete_upto.get(session)
        where = col("session") == lit(session)
        if complete is not None:
            where = where & (col("seq") > lit(complete))
        event_seqs = _seqs(self._tables.events, where)
        vector_seqs = set(self._vector_seqs(where))
        missing = [seq for seq in event_seqs if seq not in vector_seqs]
        prefix_end = (missing[0] - 1) if missing else (event_seqs[-1] if event_seqs else complete)
        with self._state_lock:
            if prefix_end is not None:
                self._complete_upto[session] = prefix_end
            if vector_seqs:
                self._raise_embedded_max(session, max(vector_seqs))
        self.tail.reconcile(session, vector_seqs, event_seqs, missing)  # another process may have embedded some
        return missing

    def _embed_seqs(self, session: str, seqs: list[int]) -> int:
        rows = self._rows_to_embed(session, seqs)
        if rows.num_rows == 0:
            return 0
        events = list(zip(*(rows.column(name).to_pylist() for name in _TAIL_COLUMNS)))
        embedded = 0
        for group in _writes(events, [self.chunks(kind, tool, text or "") for _, kind, tool, text in events]):
            self._write(session, group)
            embedded += len(group)
        return embedded

    def chunks(self, kind: str, tool: str, text: str) -> list[Chunk]:
        """The chunks an event is stored as: the whole (0) and the windows (1..n) of a long one that
        is worth vectors; else the whole alone."""
        if self.has_chunk and self.embeds(kind, tool):
            windows = chunks_of(text)
            return windows if windows[0].number == 0 else [Chunk(0, 0, len(text)), *windows]
        return [Chunk(0, 0, len(text))]

    def _write(self, session: str, group: list[tuple[TailRow, list[Chunk]]]) -> None:
        """One commit: every chunk of these events, embedded (zeros for placeholders)."""
        seqs, kinds, tools, texts, numbers = [], [], [], [], []
        for (seq, kind, tool, text), chunks in group:
            for chunk in chunks:
                seqs.append(seq)
                kinds.append(kind)
                tools.append(tool)
                texts.append(chunk.of(text or ""))
                numbers.append(chunk.number)
        wholes_of_long = {i for i, number in enumerate(numbers[:-1]) if number == 0 and numbers[i + 1] == 1}
        if wholes_of_long:  # the model runs on the windows; a long event's whole is their mean
            run = [i for i in range(len(texts)) if i not in wholes_of_long]
            vectors = np.zeros((len(texts), DIMENSION), dtype=np.float32)
            vectors[run] = self.vectors_for([texts[i] for i in run], [kinds[i] for i in run], [tools[i] for i in run])
            _residuals(vectors, numbers)
        else:
            vectors = self.vectors_for(texts, kinds, tools)
        columns: dict[str, Any] = {"session": [session] * len(seqs), "seq": seqs, "kind": kinds, "tool": tools}
        columns["vector"] = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIMENSION)
        if self.has_chunk:
            columns["chunk"] = numbers
        if self.has_text:
            columns["text"] = [text[:VECTOR_TEXT_CHARS] for text in texts]
        self.table.add(pa.table(columns, schema=self._schema))
        with self._state_lock:
            self._raise_embedded_max(session, seqs[-1])
        self._tables.vectors_added(len(seqs))
        self.tail.forget(session, [row[0] for row, _ in group])  # only now: a search reads one or the other

    def vectors_for(self, texts: list[str], kinds: list[str], tools: list[str]) -> Any:
        """Embeddings of the texts worth one; zeros for the rest. On the background thread the
        model waits for a pause in the calls between its batches."""
        pause = self._background.wait_for_a_pause if self._background.is_current() else None
        worth = [i for i, (kind, tool) in enumerate(zip(kinds, tools)) if self.embeds(kind, tool)]
        if len(worth) == len(texts):
            return self.embedder.embed(texts, between_batches=pause)
        vectors = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        if worth:
            vectors[worth] = self.embedder.embed([texts[i] for i in worth], between_batches=pause)
        return vectors

    def _rows_to_embed(self, session: str, seqs: list[int]) -> pa.Table:
        """seq, kind, tool, text of these events: from the tail in memory, else from the table."""
        held = self.tail.rows(session, seqs)
        if len(held) == len(seqs):
            return pa.table(dict(zip(_TAIL_COLUMNS, map(list, zip(*held)))), schema=_TAIL_SCHEMA)
        where = (col("session") == lit(session)) & (col("seq") >= lit(seqs[0])) & (col("seq") <= lit(seqs[-1]))
        rows = self._tables.events.search().where(where).select(list(_TAIL_COLUMNS)).limit(None).to_arrow()
        wanted = set(seqs)
        return rows.filter(pa.array([seq in wanted for seq in rows.column("seq").to_pylist()])).sort_by("seq")

    def _sessions_behind(self) -> list[str]:
        """Sessions whose events outnumber their vectors (any process may have appended)."""
        events = self._tables.events.search().select(["session"]).limit(None).to_arrow()
        vectors = self.table.search().select(["session", "seq"]).limit(None).to_arrow()
        event_counts = _counts(events.group_by("session").aggregate([("session", "count")]), "session_count")
        vector_counts = _counts(vectors.group_by("session").aggregate([("seq", "count_distinct")]), "seq_count_distinct")
        return sorted(s for s, n in event_counts.items() if n > vector_counts.get(s, 0))

    # -- what a search needs to know of the unembedded tail -------------------------------------

    def tail_from_table(self, session: str, newest_seq: int | None) -> tuple[int, list[TailRow] | None]:
        """(events of the session without a stored vector, those events — None when too many to hold).

        With `newest_seq` the events found are held in memory, so the next searches need no lookup."""
        self._refresh_embedded_max(session)  # another process may have embedded some
        upto = self._embedded_max_of(session)
        where = col("session") == lit(session)
        if upto is not None:
            where = where & (col("seq") > lit(upto))
        table = self._tables.events.search().where(where).select(list(_TAIL_COLUMNS)).limit(TAIL_FETCH_MAX + 1).to_arrow()
        if table.num_rows > TAIL_FETCH_MAX:
            return self.count_unembedded(session, None), None
        rows = sorted((seq, kind, tool, text or "") for seq, kind, tool, text in zip(*(table.column(c).to_pylist() for c in _TAIL_COLUMNS)))
        if newest_seq is not None:
            self.tail.hold(session, rows, newest_seq)
        return len(rows), rows

    def count_unembedded(self, session: str, where: Expr | None) -> int:
        """Events of the session (under `where`, when given) above the highest seq with a vector."""
        upto = self._embedded_max_of(session)
        where = (col("session") == lit(session)) if where is None else where
        if upto is not None:
            where = where & (col("seq") > lit(upto))
        unembedded: int = self._tables.events.count_rows(where.to_sql())  # the handles are untyped (tables.py)
        return unembedded

    def _vector_seqs(self, where: Expr) -> list[int]:
        """Seqs with stored vectors under `where`, ascending: one row per event read (its chunk 0)."""
        if self.has_chunk:
            where = where & (col("chunk") == lit(0))
        return _seqs(self.table, where)

    def _raise_embedded_max(self, session: str, seq: int) -> None:
        if seq > self._embedded_max.get(session, -1):
            self._embedded_max[session] = seq

    def _embedded_max_of(self, session: str) -> int | None:
        with self._state_lock:
            if session in self._embedded_max:
                return self._embedded_max[session]
        seqs = self._vector_seqs(col("session") == lit(session))
        if not seqs:
            return None
        with self._state_lock:
            self._raise_embedded_max(session, seqs[-1])
            return self._embedded_max[session]

    def _refresh_embedded_max(self, session: str) -> bool:
        """Pick up vectors stored by other processes; True when the known maximum moved."""
        known = self._embedded_max_of(session)
        where = col("session") == lit(session)
        if known is not None:
            where = where & (col("seq") > lit(known))
        newer = self._vector_seqs(where)
        if not newer:
            return False
        with self._state_lock:
            self._raise_embedded_max(session, newer[-1])
        return True


def _residuals(vectors: Any, numbers: list[int]) -> None:
    """In place: each long event's windows (numbers 1..n after its 0) become their residual from
    the windows' mean, and its 0 that mean (normalised both)."""
    start = 0
    while start < len(numbers):
        end = start + 1
        while end < len(numbers) and numbers[end] >= 1:
            end += 1
        if end - start > 1:
            windows = vectors[start + 1 : end]
            mean = windows.mean(axis=0)
            windows -= RESIDUAL * mean
            vectors[start] = mean
            block = vectors[start:end]
            block /= np.clip(np.linalg.norm(block, axis=1, keepdims=True), 1e-12, None)
        start = end


def _writes(events: list[TailRow], chunks: list[list[Chunk]]) -> Iterator[list[tuple[TailRow, list[Chunk]]]]:
    """The events in groups of about ROWS_PER_WRITE chunks, in seq order; an event is never split."""
    group: list[tuple[TailRow, list[Chunk]]] = []
    rows = 0
    for event, its_chunks in zip(events, chunks):
        if group and rows + len(its_chunks) > ROWS_PER_WRITE:
            yield group
            group, rows = [], 0
        group.append((event, its_chunks))
        rows += len(its_chunks)
    if group:
        yield group


def _seqs(table: Any, where: Expr) -> list[int]:
    rows = table.search().where(where).select(["seq"]).limit(None).to_arrow()
    return sorted(rows.column("seq").to_pylist())


def _counts(grouped: pa.Table, count_column: str) -> dict[str, int]:
    return dict(zip(grouped.column("session").to_pylist(), grouped.column(count_column).to_pylist()))
