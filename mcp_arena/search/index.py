"""memory_search: hybrid full-text + vector retrieval over the arena's events.

Public API (no MCP in here)::

    index = SearchIndex(RecallTables(events, vectors, ...),  # handles from their owner (tables.py)
                        semantic=True, embedder=None,
                        count_tokens=estimate_tokens,
                        embeds=None)         # (kind, tool) -> bool: events worth a vector
    index.notify_appended(session, n, rows, version)  # after every append; cheap, never blocks
                                             # rows: [(seq, kind, tool, text)] appended here,
                                             # committed at events-table `version`
    index.notify_indexed(version)            # the events' full-text index covers up to version
    outcome = index.search(session, query, limit=5, max_tokens=1500,
                           newest_seq=None)  # the session's newest committed seq, if known
    outcome = index.search(SearchFilter.of(session, scope="squashed",  # or narrowed
                           squashed_ranges=[(from_seq, to_seq), ...], kinds=None, tools=None,
                           exclude_tools=None, exclude_kinds=None, seq_min=None, seq_max=None), query)
    outcome.hits        # tuple[SearchHit(seq, kind, tool, score, snippet, via)]
    outcome.mode        # "hybrid" | "hybrid+fulltext-tail" | "fulltext"
    outcome.not_embedded, outcome.embedded_inline, outcome.truncated, outcome.note
    index.catch_up(session=None) -> int      # embed everything missing now (tests, bench)
    index.close()                            # stop the background thread

Two legs, fused with reciprocal-rank fusion (RRF, k=60; ties broken by seq; see
`rank.py`): the LanceDB full-text index on `events.text`, and a vector search
over the `vectors` table that `vectors.py` writes. Every filter applies inside
both searches; a wide filter is applied after a session-only prefilter (see
`_filtered`).

Long events are searched by their chunks (`chunks.py`): overlapping windows of
~96 tokens, each with its vector and text in the vectors table. The vector leg
ranks an event by its best row (it fetches `_CHUNK_OVERFETCH` rows per event it
ranks), and the snippet is cut from that window. The full-text leg adds the
windows' own BM25 (a full-text index on the vectors' text, `_windows_leg`): a
long event whose windows are stored ranks there by its best window instead of by
its whole text, where one sentence weighs nothing against 8k tokens and any word
turns up somewhere (`_with_windows`). Until the owner has built that index the
search asks for it once and goes on with whole events.

Freshness: the background thread (`worker.py`) embeds appended events in
batches off the request path. A search still sees every event appended before
it: a not-yet-embedded tail that is short (at most `inline_tail_max` events and
`inline_tail_tokens` tokens matching the filters) is embedded during the
search; a longer one is searched by full text only and the outcome says so
(`mode="hybrid+fulltext-tail"`, `not_embedded`). The tail's text is held in
memory from `notify_appended(..., rows)` until embedded (`tail.py`), so the
engine's searches don't look it up in the table; a caller that can't vouch for
the tail (no `newest_seq`) gets the lookup.

The full-text leg asks LanceDB for indexed rows only (`fast_search`) when this
process holds every row of the session the index does not cover yet, and ranks
those rows itself (see `fresh.py`); otherwise LanceDB walks the unindexed
fragments, one per commit since the last index update.

The tables are their owner's: this library never opens, creates or optimizes
one. It asks the owner to build the full-text index when it finds none (at
`prepare()`, on the first search, on a background pass), learns from
`notify_indexed` how far the owner's optimize brought it, and reports the
vector rows it writes so the owner's maintenance compacts and indexes them.

Filters are built only with `lancedb.expr`; no caller string is pasted into SQL.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from lancedb.expr import Expr, col, lit

from mcp_arena.errors import InvalidArgument
from mcp_arena.search.chunks import fits_whole
from mcp_arena.search.embedder import Embedder, EmbeddingModelError
from mcp_arena.search.filter import SCOPES, SearchFilter, build_filter, merge_ranges
from mcp_arena.search.fresh import FreshRow, FreshRows, bm25_order, interleave
from mcp_arena.search.rank import (
    coverage_weight,
    dedupe_by_best,
    estimate_tokens,
    make_snippet,
    plan_budget,
    rrf_fuse,
    term_coverage,
)
from mcp_arena.search.tables import RecallTables
from mcp_arena.search.tail import TailRow
from mcp_arena.search.vectors import VectorWriter
from mcp_arena.search.words import query_terms
from mcp_arena.search.worker import Background

__all__ = ["SCOPES", "SearchFilter", "SearchIndex", "SearchOutcome", "SearchHit", "build_filter", "merge_ranges"]

logger = logging.getLogger(__name__)

# The vector index is IVF_FLAT probed in every partition: results stay exact,
# yet LanceDB's indexed path measured ~5x faster than its flat scan at 100k
# rows (17 ms vs 87 ms), and it trains in seconds.
_EXHAUSTIVE_PROBES = 1_000_000
_OVERFETCH = 3
# The vector leg fetches this many rows per event it ranks: a long event's windows often sit
# next to each other in the ranking, and an event counts once, by its best chunk.
_CHUNK_OVERFETCH = 2
# Until the long events' windows have their full-text index, a search looks for it this often.
_WINDOWS_CHECK_SECONDS = 10.0
_MODEL_MAX_TOKENS = 256

MODE_HYBRID = "hybrid"
MODE_HYBRID_TAIL = "hybrid+fulltext-tail"
MODE_FULLTEXT = "fulltext"


@dataclass(frozen=True)
class SearchHit:
    seq: int
    kind: str
    tool: str
    score: float  # RRF score: sum over legs of 1 / (60 + rank)
    snippet: str
    via: tuple[str, ...]  # which legs found it: "fulltext", "vector"


@dataclass(frozen=True)
class SearchOutcome:
    hits: tuple[SearchHit, ...]
    mode: str
    not_embedded: int = 0  # events of the session without a stored vector yet
    embedded_inline: int = 0  # of those, embedded during this search
    truncated: bool = False  # hits were left out to stay within max_tokens
    note: str = ""


@dataclass
class _VectorLeg:
    order: list[int] = field(default_factory=list)
    not_embedded: int = 0  # events of the session without a stored vector
    embedded_inline: int = 0  # of those, embedded by this search
    fulltext_only: int = 0  # of those matching the filter, left to the full-text leg
    tail_seqs: set[int] = field(default_factory=set)  # the full-text-only ones, when known one by one
    upto: int | None = None  # the highest seq with a stored vector, when known
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)  # each event's best row in hand, for rendering

    def unranked(self, seq: int) -> bool:
        """Whether the vector leg could not rank this event at all (no vector yet)."""
        if not self.fulltext_only:
            return False
        if self.tail_seqs:
            return seq in self.tail_seqs
        return self.upto is None or seq > self.upto


def _filtered(start_query: Callable[[], Any], filt: SearchFilter, columns: list[str], depth: int, also: Expr | None = None) -> pa.Table:
    """The top `depth` rows of a query under the filter.

    Each clause of a LanceDB prefilter costs a pass over the session's rows
    (~3–5 ms at 100k events), while most searches exclude only a few events
    (the arena's own recall results, the call in flight). So a wide filter
    prefilters by session only, over-fetches, and applies the rest here; when
    that leaves too few rows, or the filter is narrow, LanceDB applies it all. `also`: a clause
    on the queried table's own columns, applied inside LanceDB either way.
    """
    if not filt.narrow:
        where = filt.session_expr() if also is None else filt.session_expr() & also
        fetched = start_query().where(where).select(columns).limit(depth * _OVERFETCH).to_arrow()
        keep = [filt.matches(s, k, t) for s, k, t in zip(*(fetched.column(c).to_pylist() for c in ("seq", "kind", "tool")))]
        kept = fetched.filter(pa.array(keep, type=pa.bool_())) if not all(keep) else fetched
        if kept.num_rows >= depth or fetched.num_rows < depth * _OVERFETCH:
            return kept.slice(0, depth)
    whole = filt.expr()
    if whole is not None and also is not None:
        whole = whole & also
    return start_query().where(whole).select(columns).limit(depth).to_arrow()


def _with_windows(
    order: list[int],
    weights: dict[int, float],
    rows: dict[int, dict[str, Any]],
    windows: list[dict[str, Any]],
    terms: Sequence[str],
    has_windows: Callable[[int, dict[str, Any]], bool],
) -> list[int]:
    """The full-text ranking of whole events with the long events' windows merged in, rank by rank
    (BM25 over windows and over whole events are not on one scale). A long event ranks, weighs and is
    shown as its best window: its whole text holds most query words by its length alone, so its
    whole-text hit is dropped once its windows are stored (`has_windows(seq, row)`), found or not.
    `weights` and `rows` are updated in place."""
    best: dict[int, dict[str, Any]] = {}
    for row in windows:  # best first
        best.setdefault(row["seq"], row)
    whole = [seq for seq in order if seq not in best and (fits_whole(rows[seq]["text"] or "") or not has_windows(seq, rows[seq]))]
    for seq, row in best.items():
        weights[seq] = coverage_weight(row["text"] or "", terms)
        rows[seq] = row
    return interleave(whole, list(best))


def _best_texts(
    vector_rows: dict[int, dict[str, Any]], fulltext_rows: dict[int, dict[str, Any]], terms: Sequence[str]
) -> dict[int, dict[str, Any]]:
    """The row each hit's snippet is cut from: the whole event from the full-text leg, except where
    the vector leg matched a window of a long event (chunk >= 1): that window, unless it holds none of
    the query's words and the whole text does (a keyword hit is shown where the words are)."""
    rows = {**vector_rows, **fulltext_rows}
    for seq, row in vector_rows.items():
        whole = fulltext_rows.get(seq)
        if whole is None or not row.get("chunk"):
            continue
        if term_coverage(row["text"] or "", terms) or not term_coverage(whole["text"] or "", terms):
            rows[seq] = row
    return rows


class SearchIndex:
    """Hybrid search over one LanceDB events table; see the module docstring."""

    def __init__(
        self,
        tables: RecallTables,
        *,
        semantic: bool = True,
        embedder: Embedder | None = None,
        count_tokens: Callable[[str], int] = estimate_tokens,
        inline_tail_max: int = 8,
        inline_tail_tokens: int = 64,
        embed_chunk: int = 128,
        idle_seconds: float = 30.0,
        settle_seconds: float = 1.0,
        settle_max_seconds: float = 10.0,
        start_worker: bool = True,
        embeds: Callable[[str, str], bool] | None = None,
    ) -> None:
        self._tables = tables
        self._events = tables.events
        self._count_tokens = count_tokens
        self._inline_tail_max = inline_tail_max
        self._inline_tail_tokens = inline_tail_tokens
        self.background = Background(
            self._background_pass,
            idle_seconds=idle_seconds,
            settle_seconds=settle_seconds,
            settle_max_seconds=settle_max_seconds,
        )
        self.vectors: VectorWriter | None = None  # None: full text only
        if semantic:
            self.vectors = VectorWriter(
                tables,
                embedder if embedder is not None else Embedder(),
                self.background,
                embeds=embeds or (lambda kind, tool: True),
                embed_chunk=embed_chunk,
            )
        self._fts_ready = False
        self._fts_name = "text_idx"
        self._windows_ready = False  # the vectors' text has its full-text index (long events' windows)
        self._windows_asked = False
        self._windows_checked = 0.0  # time.monotonic() of the last look for that index
        self._fresh = FreshRows()  # rows the full-text index does not cover yet
        self._last_fulltext_path = ""  # "indexed+fresh" or "all fragments", for tests
        self._executor: ThreadPoolExecutor | None = None
        self._executor_guard = threading.Lock()
        if start_worker:
            self.background.start()

    # -- public -------------------------------------------------------------------------------

    @property
    def semantic(self) -> bool:
        return self.vectors is not None and not self.vectors.error

    def notify_appended(
        self, session: str, n: int = 1, rows: Sequence[TailRow] | None = None, version: int | None = None
    ) -> None:
        """`rows` (seq, kind, tool, text), ascending: the events this process just appended,
        committed at events-table `version`. Without them (appended by another writer, or
        unknown) the next search looks its tail up and walks the unindexed fragments."""
        if rows is not None and version is not None:
            self._fresh.add(session, version, rows)
        elif n:
            self._fresh.forget(session)
        if self.vectors is not None:
            self.vectors.appended(session, max(0, int(n)), rows)
        self.background.wake()

    def notify_indexed(self, version: int) -> None:
        """The events table's full-text index now covers every row up to `version`
        (whoever owns that table's optimize says so)."""
        self._fresh.indexed(version)

    def search(
        self,
        where: str | SearchFilter,
        query: str,
        *,
        limit: int = 5,
        max_tokens: int = 1500,
        newest_seq: int | None = None,
    ) -> SearchOutcome:
        """`where`: a session id (all of it), or a `SearchFilter` naming the session and narrowing it.

        `newest_seq`: the session's newest committed seq, when the caller knows that no other
        writer can append meanwhile (the engine does: it holds the session's lock). With it, a
        search whose tail this process appended itself skips looking the tail up in the table."""
        query = (query or "").strip()
        if not query:
            raise InvalidArgument('query is empty: describe what to recall, e.g. memory_search(query="redis timeout")')
        if limit < 1:
            raise InvalidArgument(f"limit must be at least 1; got {limit}")
        filt = SearchFilter.of(where) if isinstance(where, str) else where
        session = filt.session
        mode = MODE_HYBRID if self.semantic else MODE_FULLTEXT
        if filt.empty:
            note = "no squashed ranges in this session" if filt.scope == "squashed" else "the seq range is empty"
            return SearchOutcome(hits=(), mode=mode, note=note)
        self._tables.refresh(vectors=False)
        depth = max(4 * limit, 20)
        pending = self._tables.pending(session)  # written, not committed yet: ranked from memory
        if pending and newest_seq is not None:
            newest_seq = min(newest_seq, pending[0][0] - 1)  # the table (and the held tail) end below them
        pending = [row for row in pending if filt.matches(*row[:3])]
        # The full-text leg runs on the pool while this thread embeds the query:
        # both release the GIL, and they are the two largest costs of a search.
        vectors = self.vectors if self.semantic else None
        fulltext = self._pool().submit(self._fulltext_leg, query, filt, depth, pending) if vectors is not None else None
        windows = self._pool().submit(self._windows_leg, vectors, query, filt, depth) if vectors is not None and self._windows_ready else None
        vector: _VectorLeg | None = None
        note = ""
        if vectors is not None:
            try:
                vector = self._vector_leg(vectors, filt, query, depth, newest_seq, pending)
            except EmbeddingModelError as exc:
                vectors.fail(exc)
            except Exception as exc:  # a broken vector table must not take recall down with it
                logger.exception("vector search failed; answering from full text only")
                note = f"vector search failed ({type(exc).__name__}); full text only"
        fulltext_order, fulltext_weights, known_rows = (
            fulltext.result() if fulltext is not None else self._fulltext_leg(query, filt, depth, pending)
        )
        if windows is not None and vectors is not None:
            # Vectors are stored in seq order, a long event's windows with its other rows.
            covered = vector.upto if vector is not None and vector.upto is not None else -1

            def has_windows(seq: int, row: dict[str, Any]) -> bool:
                return seq <= covered and vectors.embeds(row["kind"], row["tool"])

            fulltext_order = _with_windows(fulltext_order, fulltext_weights, known_rows, windows.result(), query_terms(query), has_windows)
        ranked: dict[str, Sequence[int]] = {"fulltext": fulltext_order}
        unranked: set[int] = set()
        if vector is not None:
            ranked["vector"] = vector.order
            known_rows = _best_texts(vector.rows, known_rows, query_terms(query))
            unranked = {seq for seq in fulltext_order if vector.unranked(seq)}
        if vector is None:
            mode = MODE_FULLTEXT
            if self.vectors is not None and self.vectors.error:
                note = "semantic layer unavailable: " + self.vectors.error
        elif vector.fulltext_only:
            mode = MODE_HYBRID_TAIL
            note = f"{vector.fulltext_only} recent events searched by full text only (embedding in progress)"
        fused = rrf_fuse(ranked, weights={"fulltext": fulltext_weights}, unranked_twice=unranked)[:limit]
        hits, truncated = self._render_hits(session, query, fused, max_tokens, known_rows)
        return SearchOutcome(
            hits=hits,
            mode=mode,
            not_embedded=vector.not_embedded if vector is not None else 0,
            embedded_inline=vector.embedded_inline if vector is not None else 0,
            truncated=truncated,
            note=note,
        )

    def catch_up(self, session: str | None = None) -> int:
        """Embed every event still missing a vector (one session or all); returns how many."""
        if self.vectors is None or self.vectors.error:
            return 0
        return self.vectors.catch_up(session)

    def prepare(self) -> None:
        """Find the full-text index (or have the owner build it) now; a search would on first use."""
        self._ensure_fulltext_index()

    def foreground(self) -> contextlib.AbstractContextManager[None]:
        """Mark a tool call in progress: background embedding yields to it between small batches."""
        return self.background.foreground()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the background thread and the search pool (waits for their current step)."""
        self.background.stop()
        with self._executor_guard:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        self.background.join(timeout)

    # -- the background pass ------------------------------------------------------------------

    def _background_pass(self) -> None:
        if self.vectors is not None:
            try:
                self.vectors.embed_pending()
            except EmbeddingModelError as exc:
                self.vectors.fail(exc)
            except Exception:  # the thread must survive anything one pass throws
                logger.exception("background embedding failed; will retry on the next append")
        try:
            self._ensure_fulltext_index()
        except Exception:
            logger.exception("search index maintenance failed; will retry later")

    # -- legs ---------------------------------------------------------------------------------

    def _fulltext_leg(
        self, query: str, filt: SearchFilter, depth: int, pending: Sequence[TailRow] = ()
    ) -> tuple[list[int], dict[int, float], dict[int, dict[str, Any]]]:
        """Seqs by BM25, each one's fusion weight, and the rows themselves. `pending`: rows not in the
        table yet (filtered), ranked here with the fresh ones.

        BM25 ranks an event that matches one common word ("run") above nothing
        at all; weighting the leg by the squared share of query terms a hit
        contains keeps such one-word matches from burying a strong semantic hit
        when the two are fused, while full matches keep their whole weight.
        """
        from lancedb.query import MatchQuery

        if not self._fts_ready:  # once per process: a search must not depend on the worker having run
            self._ensure_fulltext_index()
        elif not self._windows_ready and time.monotonic() - self._windows_checked > _WINDOWS_CHECK_SECONDS:
            self._ensure_windows_index()
        fresh = self._held_unindexed(filt)
        self._last_fulltext_path = "all fragments" if fresh is None else "indexed+fresh"

        def start_query() -> Any:
            # MatchQuery is a pydantic dataclass: mypy sees its defaulted fields as required.
            builder = self._events.search(MatchQuery(query, "text"), query_type="fts")  # type: ignore[call-arg]
            return builder if fresh is None else builder.fast_search()  # the fresh rows come from memory

        rows = _filtered(start_query, filt, ["seq", "kind", "tool", "text", "_score"], depth)
        seqs = rows.column("seq").to_pylist()
        order = dedupe_by_best(zip(seqs, rows.column("_score").to_pylist()))
        by_seq = {row["seq"]: row for row in rows.drop_columns(["_score"]).to_pylist()}
        in_memory = list(fresh or ())
        known = {row.seq for row in in_memory}
        in_memory += [FreshRow(seq, -1, kind, tool, text or "") for seq, kind, tool, text in pending if seq not in known]
        if in_memory:
            fresh_order = bm25_order(query, in_memory)[:depth]
            order = interleave(order, fresh_order)
            held = {row.seq: row for row in in_memory}
            for seq in fresh_order:
                by_seq.setdefault(seq, {"seq": seq, "kind": held[seq].kind, "tool": held[seq].tool, "text": held[seq].text})
        terms = query_terms(query)
        weights = {seq: coverage_weight(row["text"] or "", terms) for seq, row in by_seq.items()}
        return order, weights, by_seq

    def _windows_leg(self, vectors: VectorWriter, query: str, filt: SearchFilter, depth: int) -> list[dict[str, Any]]:
        """Windows of long events (chunk >= 1) by BM25 over the vectors' text, best first: one sentence
        in an 8k-token log weighs nothing in the BM25 of the whole event, and all in a 200-token window.
        Empty when that index is unusable (the search goes on with the events' full text)."""
        from lancedb.query import MatchQuery

        def start_query() -> Any:
            return vectors.table.search(MatchQuery(query, "text"), query_type="fts")  # type: ignore[call-arg]

        try:
            rows = _filtered(start_query, filt, ["seq", "chunk", "kind", "tool", "text", "_score"], depth * _CHUNK_OVERFETCH, col("chunk") >= lit(1))
        except Exception as exc:  # an index dropped or rebuilt under us: full text of whole events still answers
            logger.info("full-text search of long events' windows failed: %s", exc)
            return []
        windows: list[dict[str, Any]] = rows.drop_columns(["_score"]).to_pylist()  # placeholders are chunk 0: never here
        return windows

    def _vector_leg(
        self, vectors: VectorWriter, filt: SearchFilter, query: str, depth: int, newest_seq: int | None, pending: Sequence[TailRow] = ()
    ) -> _VectorLeg:
        """Seqs by similarity; the session's events without a stored vector are embedded
        here when few and short, else left to the full-text leg (and counted)."""
        session = filt.session
        self._tables.refresh(events=False)
        # Read before the vector query: an event the worker embeds meanwhile is then in one or the other.
        tail = vectors.tail.upto(session, newest_seq)
        looked_up = None if tail is not None else self._pool().submit(vectors.tail_from_table, session, newest_seq)
        query_vector = vectors.embedder.embed_query(query)
        stored = _filtered(
            lambda: vectors.table.search(query_vector, vector_column_name="vector")
            .distance_type("dot")
            .nprobes(_EXHAUSTIVE_PROBES),
            filt,
            ["seq", "kind", "tool", "_distance", *(["text"] if vectors.has_text else []), *(["chunk"] if vectors.has_chunk else [])],
            depth * (_CHUNK_OVERFETCH if vectors.has_chunk else 1),
        )
        # LanceDB's dot distance is 1 - dot product; vectors are unit length.
        kinds, tools = stored.column("kind").to_pylist(), stored.column("tool").to_pylist()
        placeholder = [not vectors.embeds(kind, tool) for kind, tool in zip(kinds, tools)]
        if any(placeholder):
            stored = stored.filter(pa.array([not p for p in placeholder], type=pa.bool_()))
        pairs = list(zip(stored.column("seq").to_pylist(), (1.0 - d for d in stored.column("_distance").to_pylist())))
        stored_rows = stored.drop_columns(["_distance"]).to_pylist() if vectors.has_text else []
        if looked_up is not None:
            not_embedded, tail = looked_up.result()
        else:
            not_embedded = len(tail or ())
        rows = None if tail is None else [row for row in tail if filt.matches(*row[:3]) and vectors.embeds(row[1], row[2])]
        if rows is not None:  # the uncommitted ones (already filtered) go with the tail
            held = {row[0] for row in rows}
            rows += [row for row in pending if row[0] not in held and vectors.embeds(row[1], row[2])]
        leg = _VectorLeg(not_embedded=not_embedded, upto=vectors.known_embedded_max(session))
        if rows is None:  # too many to hold: every event above the embedded maximum is full-text only
            leg.fulltext_only = vectors.count_unembedded(session, filt.expr())
        elif rows and self._fits_inline(rows):
            embedded = vectors.embedder.embed([text for _, _, _, text in rows])
            pairs.extend(zip((row[0] for row in rows), (embedded @ query_vector).tolist()))
            leg.embedded_inline = len(rows)
        elif rows:
            leg.fulltext_only = len(rows)
            leg.tail_seqs = {row[0] for row in rows}
        for row in stored_rows:  # nearest first: the first row of an event is its best chunk
            leg.rows.setdefault(row["seq"], row)
        if rows:
            leg.rows.update((seq, {"seq": seq, "kind": kind, "tool": tool, "text": text}) for seq, kind, tool, text in rows)
        if not_embedded:
            self.notify_appended(session, 0)
        leg.order = dedupe_by_best(pairs)
        return leg

    def _fits_inline(self, rows: list[TailRow]) -> bool:
        """Embedding costs ~0.3 ms per token on one core: only a short tail is worth the wait."""
        tokens = sum(min(estimate_tokens(text), _MODEL_MAX_TOKENS) for _, _, _, text in rows)
        return len(rows) <= self._inline_tail_max and tokens <= self._inline_tail_tokens

    def _render_hits(
        self,
        session: str,
        query: str,
        fused: list[tuple[int, float, tuple[str, ...]]],
        max_tokens: int,
        known_rows: dict[int, dict[str, Any]],
    ) -> tuple[tuple[SearchHit, ...], bool]:
        kept, per_hit = plan_budget(len(fused), max_tokens)
        fused_kept = fused[:kept]
        if not fused_kept:
            return (), False
        missing = [seq for seq, _, _ in fused_kept if seq not in known_rows]
        rows = {**known_rows, **(self._rows_by_seq(session, missing) if missing else {})}
        terms = query_terms(query)
        hits = []
        for seq, score, via in fused_kept:
            row = rows.get(seq)
            if row is None:
                continue
            snippet = make_snippet(row["text"] or "", terms, per_hit, self._count_tokens)
            hits.append(SearchHit(seq=seq, kind=row["kind"], tool=row["tool"], score=score, snippet=snippet, via=via))
        return tuple(hits), kept < len(fused)

    def _rows_by_seq(self, session: str, seqs: list[int]) -> dict[int, dict[str, Any]]:
        where = (col("session") == lit(session)) & col("seq").isin(seqs)
        table = self._events.search().where(where).select(["seq", "kind", "tool", "text"]).limit(len(seqs) * 2).to_arrow()
        return {row["seq"]: row for row in table.to_pylist()}

    # -- the full-text index: found or asked for, and the rows it leaves out ---------------------

    def _ensure_windows_index(self) -> None:
        """Whether the vectors' text has its full-text index; when windows of long events wait
        without one, ask the tables' owner (once) for its maintenance, which builds it."""
        vectors = self.vectors
        if self._windows_ready or vectors is None or not (vectors.has_chunk and vectors.has_text):
            return
        self._windows_checked = time.monotonic()
        try:
            if any(i.index_type == "FTS" and list(i.columns) == ["text"] for i in vectors.table.list_indices()):
                self._windows_ready = True
            elif not self._windows_asked and vectors.table.count_rows((col("chunk") >= lit(1)).to_sql()):
                self._windows_asked = True
                self._tables.maintain_vectors()
        except Exception as exc:  # the windows' index is an improvement of recall, never a requirement
            logger.info("the windows' full-text index is not usable yet: %s", exc)

    def _ensure_fulltext_index(self) -> None:
        self._ensure_windows_index()
        if self._fts_ready:
            return
        existing = self._fulltext_index_name()
        if existing is not None:
            self._fts_name = existing
            self._note_fully_indexed()
            self._fts_ready = True
            return
        version = self._tables.build_fulltext_index()
        if version is None:  # no rows yet, another writer raced, or an owner that builds none
            return
        self._fresh.indexed(version)
        self._fts_name = self._fulltext_index_name() or self._fts_name
        self._fts_ready = True

    def _fulltext_index_name(self) -> str | None:
        return next((i.name for i in self._events.list_indices() if i.index_type == "FTS" and list(i.columns) == ["text"]), None)

    def _held_unindexed(self, filt: SearchFilter) -> list[FreshRow] | None:
        """The session's rows the full-text index leaves out, held here, under the filter;
        None when they are not all known (the query then walks the unindexed fragments)."""
        if not self._fts_ready:
            return None
        fresh = self._fresh.rows_for(filt.session)
        if fresh is None and self._fresh.tracks(filt.session) and self._all_unindexed_held():
            fresh = self._fresh.rows_for(filt.session)
        return None if fresh is None else [row for row in fresh if filt.matches(row.seq, row.kind, row.tool)]

    def _all_unindexed_held(self) -> bool:
        unindexed = self._unindexed_rows()
        return unindexed is not None and self._fresh.trust_if_all_held(unindexed)

    def _note_fully_indexed(self) -> None:
        """An index found on opening: when it covers every row, the fresh rows start from here."""
        version = self._events.version
        if self._unindexed_rows() == 0:
            self._fresh.indexed(version)

    def _unindexed_rows(self) -> int | None:
        """Rows of the events table the full-text index leaves out; None when LanceDB can't say."""
        try:
            stats = self._events.index_stats(self._fts_name)
        except Exception as exc:  # statistics are an optimisation here, never a requirement
            logger.info("full-text index statistics unavailable: %s", exc)
            return None
        return None if stats is None else stats.num_unindexed_rows

    # -- helpers ------------------------------------------------------------------------------

    def _pool(self) -> ThreadPoolExecutor:
        with self._executor_guard:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=3, thread_name_prefix="arena-search")
            return self._executor
