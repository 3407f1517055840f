"""memory_search: hybrid full-text + vector retrieval over the arena's events.

Public API (no MCP in here)::

    index = SearchIndex(db, events_table, semantic=True, embedder=None,
                        optimize_every=1000, keep_versions_seconds=3600,
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

Two legs, fused with reciprocal-rank fusion (RRF, k=60; ties broken by seq):
the LanceDB full-text index on `events.text`, and a vector search over our own
`vectors` table (session, seq, kind, tool, vector[384], text). The events table
is append-only and never rewritten, so vectors live apart; kind, tool and the
(clipped) text are copied next to each vector (events never change), so every
filter applies inside the vector search and a vector hit needs no second read.
A wide filter is applied after a session-only prefilter (see `_filtered`).
Events that `embeds` turns down (the engine's own boilerplate) get a zero
placeholder instead of a vector: found by full text only, never by the vector leg.

Freshness: a daemon thread embeds appended events in batches off the request
path. A search still sees every event appended before it: a not-yet-embedded
tail that is short (at most `inline_tail_max` events and `inline_tail_tokens`
tokens matching the filters) is embedded during the search; a longer one is
searched by full text only and the outcome says so (`mode="hybrid+fulltext-tail"`,
`not_embedded`). The tail's text is held in memory from `notify_appended(...,
rows)` until embedded, so the engine's searches don't look it up in the table;
a caller that can't vouch for the tail (no `newest_seq`) gets the lookup.

The full-text leg asks LanceDB for indexed rows only (`fast_search`) when this
process holds every row of the session the index does not cover yet, and ranks
those rows itself (see `search_fresh`); otherwise LanceDB walks the unindexed
fragments, one per commit since the last index update.

Maintenance runs in the same thread, never on a request: the full-text index is
created when missing, both tables are `optimize()`d (compaction, index update,
cleanup of versions older than `keep_versions_seconds`) every `optimize_every`
appended rows, and the vector table gets an IVF_FLAT index (probed
exhaustively, so still exact) once it holds `vector_index_min_rows` rows.

Filters are built only with `lancedb.expr`; no caller string is pasted into SQL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pyarrow as pa
from lancedb.expr import Expr, col, lit

from mcp_arena.search.embedder import DIMENSION, Embedder, EmbeddingModelError
from mcp_arena.errors import InvalidArgument
from mcp_arena.search.filter import SCOPES, SearchFilter, build_filter, merge_ranges
from mcp_arena.search.fresh import FreshRow, FreshRows, bm25_order, interleave
from mcp_arena.search.words import query_terms

__all__ = ["SCOPES", "SearchFilter", "SearchIndex", "SearchOutcome", "SearchHit", "build_filter", "merge_ranges"]

logger = logging.getLogger(__name__)

VECTORS_TABLE = "vectors"
VECTORS_SCHEMA = pa.schema(
    [
        ("session", pa.string()),
        ("seq", pa.int64()),
        ("kind", pa.string()),
        ("tool", pa.string()),
        ("vector", pa.list_(pa.float32(), DIMENSION)),
        ("text", pa.string()),  # the event's text (clipped), so a vector hit needs no second read
    ]
)
# What a vector row keeps of its event's text: more than the model reads (256 tokens).
VECTOR_TEXT_CHARS = 8192
# Tables made before the text column: still read and written, their hits' text read from events.
_VECTORS_SCHEMA_V1 = pa.schema([f for f in VECTORS_SCHEMA if f.name != "text"])

RRF_K = 60
# The vector index is IVF_FLAT probed in every partition: results stay exact,
# yet LanceDB's indexed path measured ~5x faster than its flat scan at 100k
# rows (17 ms vs 87 ms), and it trains in seconds.
_EXHAUSTIVE_PROBES = 1_000_000
# Full-text hits weigh (share of query terms they contain) ** 2 in the fusion.
# On the bench's probes, squared beat linear and flat weights for paraphrased
# queries (0.90 vs 0.75 recall@5) and kept keyword queries at 1.00.
_COVERAGE_POWER = 2
MIN_SNIPPET_TOKENS = 30
_OVERFETCH = 3
# Background embedding runs a model batch (~0.1-0.3 s) only after calls paused this long,
# or after waiting this long at most.
_PAUSE_SECONDS = 0.25
_PAUSE_MAX_WAIT = 5.0
# Not-yet-embedded events held in memory per session (their text), and looked up at most per search.
_TAIL_MAX = 20_000
_TAIL_FETCH_MAX = 512
_MODEL_MAX_TOKENS = 256
_CHARS_PER_TOKEN = 4

MODE_HYBRID = "hybrid"
MODE_HYBRID_TAIL = "hybrid+fulltext-tail"
MODE_FULLTEXT = "fulltext"


def estimate_tokens(text: str) -> int:
    return (len(text) + _CHARS_PER_TOKEN - 1) // _CHARS_PER_TOKEN


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


# -- fusion (pure) ----------------------------------------------------------------------------


def rrf_fuse(
    ranked_lists: dict[str, Sequence[int]],
    k: int = RRF_K,
    *,
    weights: dict[str, dict[int, float]] | None = None,
    unranked_twice: Iterable[int] = (),
) -> list[tuple[int, float, tuple[str, ...]]]:
    """Weighted reciprocal-rank fusion: (seq, score, legs) best first, ties by seq.

    A hit adds weight / (k + rank) per leg (weight 1 unless `weights[leg][seq]`
    says otherwise). `unranked_twice` names events the vector leg could not rank
    at all (not embedded yet): their full-text share counts twice, standing in
    for the missing vector rank, so a fresh event is not outranked for being fresh.
    """
    weights = weights or {}
    stand_in = set(unranked_twice)
    scores: dict[int, float] = {}
    legs: dict[int, list[str]] = {}
    for leg, seqs in sorted(ranked_lists.items()):
        leg_weights = weights.get(leg, {})
        for rank, seq in enumerate(seqs, start=1):
            weight = leg_weights.get(seq, 1.0) * (2.0 if leg == "fulltext" and seq in stand_in else 1.0)
            scores[seq] = scores.get(seq, 0.0) + weight / (k + rank)
            legs.setdefault(seq, []).append(leg)
    fused = [(seq, round(score, 9), tuple(legs[seq])) for seq, score in scores.items()]
    fused.sort(key=lambda item: (-item[1], item[0]))
    return fused


def term_coverage(text: str, terms: Sequence[str]) -> float:
    """Share of the query's terms that start a word of the text (1.0 for no terms)."""
    if not terms:
        return 1.0
    lower = text.lower()
    found = sum(1 for term in terms if re.search(r"(?<![a-z0-9])" + re.escape(term), lower))
    return found / len(terms)


def dedupe_by_best(pairs: Iterable[tuple[int, float]]) -> list[int]:
    """Seqs ordered by similarity (highest first, ties by seq), each once."""
    best: dict[int, float] = {}
    for seq, similarity in pairs:
        if seq not in best or similarity > best[seq]:
            best[seq] = similarity
    return [seq for seq, _ in sorted(best.items(), key=lambda item: (-item[1], item[0]))]


# -- snippets (pure) --------------------------------------------------------------------------

_SPACE = re.compile(r"\s+")


def _best_centre(text_lower: str, terms: Sequence[str], width: int) -> int | None:
    """Position whose window holds the most distinct query terms (earliest wins)."""
    positions = [
        (match.start(), term)
        for term in terms
        for match in re.finditer(r"(?<![a-z0-9_])" + re.escape(term), text_lower)
    ]
    if not positions:
        return None
    positions.sort()
    best_pos, best_count = positions[0][0], 0
    for pos, _ in positions:
        count = len({term for other, term in positions if pos <= other < pos + width // 2})
        if count > best_count:
            best_pos, best_count = pos, count
    return best_pos


def _cut(text: str, start: int, end: int) -> str:
    if start > 0:
        space = text.find(" ", start, start + 20)
        start = space + 1 if space != -1 else start
    if end < len(text):
        space = text.rfind(" ", end - 20, end)
        end = space if space > start else end
    return ("…" if start > 0 else "") + text[start:end].strip() + ("…" if end < len(text) else "")


def make_snippet(text: str, terms: Sequence[str], max_tokens: int, count_tokens: Callable[[str], int]) -> str:
    """A window of `text` within `max_tokens`, centred on the query terms when they occur."""
    flat = _SPACE.sub(" ", text).strip()
    if count_tokens(flat) <= max_tokens:
        return flat
    width = max(16, max_tokens * _CHARS_PER_TOKEN)
    centre = _best_centre(flat.lower(), terms, width)
    for _ in range(12):
        if centre is None:
            start = 0
        else:
            start = max(0, min(centre - width // 3, len(flat) - width))
        snippet = _cut(flat, start, min(len(flat), start + width))
        if count_tokens(snippet) <= max_tokens:
            return snippet
        width = int(width * 0.8)
    return snippet[: max(1, max_tokens)]


def plan_budget(n_hits: int, max_tokens: int) -> tuple[int, int]:
    """(hits kept, tokens per snippet) so that the hits fit in max_tokens."""
    if n_hits == 0:
        return 0, 0
    kept = min(n_hits, max(1, max_tokens // MIN_SNIPPET_TOKENS))
    return kept, max(1, max_tokens // kept)


_TailRow = tuple[int, str, str, str]  # seq, kind, tool, text
_TAIL_COLUMNS = ("seq", "kind", "tool", "text")
_TAIL_SCHEMA = pa.schema([("seq", pa.int64()), ("kind", pa.string()), ("tool", pa.string()), ("text", pa.string())])


@dataclass
class _VectorLeg:
    order: list[int] = field(default_factory=list)
    not_embedded: int = 0  # events of the session without a stored vector
    embedded_inline: int = 0  # of those, embedded by this search
    fulltext_only: int = 0  # of those matching the filter, left to the full-text leg
    tail_seqs: set[int] = field(default_factory=set)  # the full-text-only ones, when known one by one
    upto: int | None = None  # the highest seq with a stored vector, when known
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)  # rows in hand, for rendering

    def unranked(self, seq: int) -> bool:
        """Whether the vector leg could not rank this event at all (no vector yet)."""
        if not self.fulltext_only:
            return False
        if self.tail_seqs:
            return seq in self.tail_seqs
        return self.upto is None or seq > self.upto


def _filtered(start_query: Callable[[], Any], filt: SearchFilter, columns: list[str], depth: int) -> pa.Table:
    """The top `depth` rows of a query under the filter.

    Each clause of a LanceDB prefilter costs a pass over the session's rows
    (~3–5 ms at 100k events), while most searches exclude only a few events
    (the arena's own recall results, the call in flight). So a wide filter
    prefilters by session only, over-fetches, and applies the rest here; when
    that leaves too few rows, or the filter is narrow, LanceDB applies it all.
    """
    if not filt.narrow:
        fetched = start_query().where(filt.session_expr()).select(columns).limit(depth * _OVERFETCH).to_arrow()
        keep = [filt.matches(s, k, t) for s, k, t in zip(*(fetched.column(c).to_pylist() for c in ("seq", "kind", "tool")))]
        kept = fetched.filter(pa.array(keep, type=pa.bool_())) if not all(keep) else fetched
        if kept.num_rows >= depth or fetched.num_rows < depth * _OVERFETCH:
            return kept.slice(0, depth)
    return start_query().where(filt.expr()).select(columns).limit(depth).to_arrow()


def _counts(grouped: pa.Table, count_column: str) -> dict[str, int]:
    return dict(zip(grouped.column("session").to_pylist(), grouped.column(count_column).to_pylist()))


# -- the index --------------------------------------------------------------------------------


class SearchIndex:
    """Hybrid search over one LanceDB events table; see the module docstring."""

    def __init__(
        self,
        db: Any,
        events_table: Any,
        *,
        semantic: bool = True,
        embedder: Embedder | None = None,
        optimize_every: int = 1000,
        keep_versions_seconds: float = 3600,
        count_tokens: Callable[[str], int] = estimate_tokens,
        maintain_events: bool = True,
        inline_tail_max: int = 8,
        inline_tail_tokens: int = 64,
        embed_chunk: int = 128,
        vector_index_min_rows: int = 2_000,
        idle_seconds: float = 30.0,
        settle_seconds: float = 1.0,
        settle_max_seconds: float = 10.0,
        start_worker: bool = True,
        embeds: Callable[[str, str], bool] | None = None,
    ) -> None:
        self._db = db
        self._events = events_table
        self._semantic = semantic
        self._embedder = embedder if embedder is not None else (Embedder() if semantic else None)
        self._optimize_every = optimize_every
        self._keep_versions = timedelta(seconds=keep_versions_seconds)
        self._count_tokens = count_tokens
        self._maintain_events = maintain_events
        self._inline_tail_max = inline_tail_max
        self._inline_tail_tokens = inline_tail_tokens
        self._embed_chunk = embed_chunk
        self._vector_index_min_rows = vector_index_min_rows
        self._idle_seconds = idle_seconds
        self._settle_seconds = settle_seconds
        self._settle_max_seconds = settle_max_seconds
        # Which events (kind, tool) are worth a vector; the rest get a zero placeholder and are
        # found by full text only (cheaper than a second notion of "missing" in the catch-up).
        self._embeds = embeds or (lambda kind, tool: True)
        self._calls_in_flight = 0
        self._last_call_end = 0.0  # time.monotonic() of the newest call's end
        self._calls_quiet = threading.Condition()
        self._weak_reads = getattr(db, "read_consistency_interval", None) is None

        self._vectors = self._open_vectors() if semantic else None
        self._vector_text = self._vectors is not None and "text" in self._vectors.schema.names
        self._semantic_error: str = ""
        self._state_lock = threading.Lock()  # guards the dicts and counters below
        self._embed_lock = threading.Lock()  # one embedding pass at a time per process
        self._embedded_max: dict[str, int] = {}  # highest seq with a stored vector, per session
        self._complete_upto: dict[str, int] = {}  # every seq <= this has a vector, per session
        self._tail: dict[str, dict[int, tuple[str, str, str]]] = {}  # appended here, not embedded yet
        self._covered_upto: dict[str, int] = {}  # every seq <= this has a vector or sits in _tail
        self._pending: set[str] = set()
        self._discover_all = True  # the worker's first pass looks for any session behind
        self._appended_events = 0
        self._appended_vectors = 0
        self._fts_ready = False
        self._fts_name = "text_idx"
        self._fresh = FreshRows()  # rows the full-text index does not cover yet
        self._last_fulltext_path = ""  # "indexed+fresh" or "all fragments", for tests

        self._executor: ThreadPoolExecutor | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        if start_worker:
            self._worker = threading.Thread(target=self._run_worker, name="arena-search-index", daemon=True)
            self._worker.start()

    # -- public -------------------------------------------------------------------------------

    @property
    def semantic(self) -> bool:
        return self._semantic and not self._semantic_error

    def notify_appended(
        self, session: str, n: int = 1, rows: Sequence[_TailRow] | None = None, version: int | None = None
    ) -> None:
        """`rows` (seq, kind, tool, text), ascending: the events this process just appended,
        committed at events-table `version`. Without them (appended by another writer, or
        unknown) the next search looks its tail up and walks the unindexed fragments."""
        if rows is not None and version is not None:
            self._fresh.add(session, version, rows)
        elif n:
            self._fresh.forget(session)
        with self._state_lock:
            self._pending.add(session)
            self._appended_events += max(0, int(n))
            if n and self.semantic:
                self._remember_tail(session, rows)
        self._wake.set()

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
        self._refresh_reads(vectors=False)
        depth = max(4 * limit, 20)
        # The full-text leg runs on the pool while this thread embeds the query:
        # both release the GIL, and they are the two largest costs of a search.
        semantic = self.semantic
        fulltext = self._pool().submit(self._fulltext_leg, query, filt, depth) if semantic else None
        vector: _VectorLeg | None = None
        note = ""
        if semantic:
            try:
                vector = self._vector_leg(filt, query, depth, newest_seq)
            except EmbeddingModelError as exc:
                self._disable_semantic(exc)
            except Exception as exc:  # a broken vector table must not take recall down with it
                logger.exception("vector search failed; answering from full text only")
                note = f"vector search failed ({type(exc).__name__}); full text only"
        fulltext_order, fulltext_weights, known_rows = (
            fulltext.result() if fulltext is not None else self._fulltext_leg(query, filt, depth)
        )
        ranked = {"fulltext": fulltext_order}
        unranked: set[int] = set()
        if vector is not None:
            ranked["vector"] = vector.order
            known_rows = {**vector.rows, **known_rows}  # full-text rows hold the whole text
            unranked = {seq for seq in fulltext_order if vector.unranked(seq)}
        if vector is None:
            mode = MODE_FULLTEXT
            if self._semantic_error:
                note = "semantic layer unavailable: " + self._semantic_error
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

    def notify_indexed(self, version: int) -> None:
        """The events table's full-text index now covers every row up to `version`
        (whoever owns that table's optimize says so)."""
        self._fresh.indexed(version)

    def catch_up(self, session: str | None = None) -> int:
        """Embed every event still missing a vector (one session or all); returns how many."""
        if not self.semantic:
            return 0
        self._refresh_reads()
        sessions = [session] if session is not None else self._sessions_behind()
        total = 0
        for name in sessions:
            while True:
                done, remaining = self._embed_missing(name, self._embed_chunk * 8)
                total += done
                if remaining == 0 or done == 0:
                    break
        return total

    def prepare(self) -> None:
        """Find or build the full-text index now; a search would do it on first use."""
        self._ensure_fulltext_index()

    def maintain(self) -> None:
        """Run the index maintenance now (normally the background thread does)."""
        self._ensure_fulltext_index()
        self._maintain_vectors_indexes()
        self._optimize(force=True)

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        with self._state_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout)
            if self._worker.is_alive():
                logger.warning("search index thread did not stop within %.0f s", timeout)

    # -- legs ---------------------------------------------------------------------------------

    def _fulltext_leg(
        self, query: str, filt: SearchFilter, depth: int
    ) -> tuple[list[int], dict[int, float], dict[int, dict[str, Any]]]:
        """Seqs by BM25, each one's fusion weight, and the rows themselves.

        BM25 ranks an event that matches one common word ("run") above nothing
        at all; weighting the leg by the squared share of query terms a hit
        contains keeps such one-word matches from burying a strong semantic hit
        when the two are fused, while full matches keep their whole weight.
        """
        from lancedb.query import MatchQuery

        if not self._fts_ready:  # once per process: a search must not depend on the worker having run
            self._ensure_fulltext_index()
        fresh = self._held_unindexed(filt)
        self._last_fulltext_path = "all fragments" if fresh is None else "indexed+fresh"

        def start_query():
            builder = self._events.search(MatchQuery(query, "text"), query_type="fts")
            return builder if fresh is None else builder.fast_search()  # the fresh rows come from memory

        rows = _filtered(start_query, filt, ["seq", "kind", "tool", "text", "_score"], depth)
        seqs = rows.column("seq").to_pylist()
        order = dedupe_by_best(zip(seqs, rows.column("_score").to_pylist()))
        by_seq = {row["seq"]: row for row in rows.drop_columns(["_score"]).to_pylist()}
        if fresh:
            fresh_order = bm25_order(query, fresh)[:depth]
            order = interleave(order, fresh_order)
            held = {row.seq: row for row in fresh}
            for seq in fresh_order:
                by_seq.setdefault(seq, {"seq": seq, "kind": held[seq].kind, "tool": held[seq].tool, "text": held[seq].text})
        terms = query_terms(query)
        weights = {seq: term_coverage(row["text"] or "", terms) ** _COVERAGE_POWER for seq, row in by_seq.items()}
        return order, weights, by_seq

    def _vector_leg(self, filt: SearchFilter, query: str, depth: int, newest_seq: int | None) -> _VectorLeg:
        """Seqs by similarity; the session's events without a stored vector are embedded
        here when few and short, else left to the full-text leg (and counted)."""
        session = filt.session
        if self._weak_reads:
            self._vectors.checkout_latest()
        # Read before the vector query: an event the worker embeds meanwhile is then in one or the other.
        tail = self._tail_in_memory(session, newest_seq)
        looked_up = None if tail is not None else self._pool().submit(self._tail_from_table, session, newest_seq)
        query_vector = self._embedder.embed_query(query)
        stored = _filtered(
            lambda: self._vectors.search(query_vector, vector_column_name="vector")
            .distance_type("dot")
            .nprobes(_EXHAUSTIVE_PROBES),
            filt,
            ["seq", "kind", "tool", "_distance", *(["text"] if self._vector_text else [])],
            depth,
        )
        # LanceDB's dot distance is 1 - dot product; vectors are unit length.
        kinds, tools = stored.column("kind").to_pylist(), stored.column("tool").to_pylist()
        placeholder = [not self._embeds(kind, tool) for kind, tool in zip(kinds, tools)]
        if any(placeholder):
            stored = stored.filter(pa.array([not p for p in placeholder], type=pa.bool_()))
        pairs = list(zip(stored.column("seq").to_pylist(), (1.0 - d for d in stored.column("_distance").to_pylist())))
        stored_rows = stored.drop_columns(["_distance"]).to_pylist() if self._vector_text else []
        not_embedded, tail = (len(tail), tail) if tail is not None else looked_up.result()
        rows = None if tail is None else [row for row in tail if filt.matches(*row[:3]) and self._embeds(row[1], row[2])]
        leg = _VectorLeg(not_embedded=not_embedded, upto=self._embedded_max.get(session))
        if rows is None:  # too many to hold: every event above the embedded maximum is full-text only
            leg.fulltext_only = self._count_unembedded(session, filt.expr())
        elif rows and self._fits_inline(rows):
            vectors = self._embedder.embed([text for _, _, _, text in rows])
            pairs.extend(zip((row[0] for row in rows), (vectors @ query_vector).tolist()))
            leg.embedded_inline = len(rows)
        elif rows:
            leg.fulltext_only = len(rows)
            leg.tail_seqs = {row[0] for row in rows}
        leg.rows = {row["seq"]: row for row in stored_rows}
        if rows:
            leg.rows.update((seq, {"seq": seq, "kind": kind, "tool": tool, "text": text}) for seq, kind, tool, text in rows)
        if not_embedded:
            self.notify_appended(session, 0)
        leg.order = dedupe_by_best(pairs)
        return leg

    def _fits_inline(self, rows: list[_TailRow]) -> bool:
        """Embedding costs ~0.3 ms per token on one core: only a short tail is worth the wait."""
        tokens = sum(min(estimate_tokens(text), _MODEL_MAX_TOKENS) for _, _, _, text in rows)
        return len(rows) <= self._inline_tail_max and tokens <= self._inline_tail_tokens

    def _tail_in_memory(self, session: str, newest_seq: int | None) -> list[_TailRow] | None:
        """Events up to `newest_seq` without a stored vector, when this process knows them all."""
        if newest_seq is None:
            return None
        with self._state_lock:
            covered = self._covered_upto.get(session)
            if covered is None or covered < newest_seq:
                return None
            tail = self._tail.get(session, {})
            return sorted((seq, *row) for seq, row in tail.items() if seq <= newest_seq)

    def _tail_from_table(self, session: str, newest_seq: int | None) -> tuple[int, list[_TailRow] | None]:
        """(events of the session without a stored vector, those events — None when too many to hold).

        With `newest_seq` the events found are held in memory, so the next searches need no lookup."""
        self._refresh_embedded_max(session)  # another process may have embedded some
        upto = self._embedded_max_of(session)
        where = col("session") == lit(session)
        if upto is not None:
            where = where & (col("seq") > lit(upto))
        table = self._events.search().where(where).select(list(_TAIL_COLUMNS)).limit(_TAIL_FETCH_MAX + 1).to_arrow()
        if table.num_rows > _TAIL_FETCH_MAX:
            return self._count_unembedded(session, None), None
        rows = sorted((seq, kind, tool, text or "") for seq, kind, tool, text in zip(*(table.column(c).to_pylist() for c in _TAIL_COLUMNS)))
        if newest_seq is not None:
            self._hold_tail(session, rows, newest_seq)
        return len(rows), rows

    def _count_unembedded(self, session: str, where: Expr | None) -> int:
        upto = self._embedded_max_of(session)
        where = (col("session") == lit(session)) if where is None else where
        if upto is not None:
            where = where & (col("seq") > lit(upto))
        return self._events.count_rows(where.to_sql())

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

    # -- the tail this process appended ---------------------------------------------------------

    def _remember_tail(self, session: str, rows: Sequence[_TailRow] | None) -> None:
        """Hold the text of events appended here until they are embedded (caller holds the state lock)."""
        tail = self._tail.setdefault(session, {})
        covered = self._covered_upto.pop(session, None)
        if rows is None:  # appended elsewhere: what is missing is unknown until a lookup or the worker says
            return
        for seq, kind, tool, text in rows:
            tail[seq] = (kind, tool, text)
        if len(tail) > _TAIL_MAX:
            tail.clear()
            return
        if covered is not None:
            self._extend_cover(session, covered)

    def _hold_tail(self, session: str, rows: list[_TailRow], upto: int) -> None:
        """`rows` are all the session's events up to `upto` without a vector: hold exactly those."""
        with self._state_lock:
            tail = self._tail.setdefault(session, {})
            for seq in [seq for seq in tail if seq <= upto]:
                del tail[seq]
            tail.update((seq, (kind, tool, text)) for seq, kind, tool, text in rows if seq <= upto)
            self._extend_cover(session, upto)

    def _extend_cover(self, session: str, upto: int) -> None:
        """Every event up to `upto` has a vector or sits in the tail (caller holds the state lock):
        raise the cover to it, and on through the tail's consecutive seqs."""
        upto = max(upto, self._covered_upto.get(session, upto))
        tail = self._tail.get(session, {})
        while upto + 1 in tail:
            upto += 1
        self._covered_upto[session] = upto

    def _forget_tail(self, session: str, seqs: Iterable[int]) -> None:
        with self._state_lock:
            tail = self._tail.get(session)
            if tail:
                for seq in seqs:
                    tail.pop(seq, None)

    # -- embedding catch-up -------------------------------------------------------------------

    def _embed_missing(self, session: str, max_events: int) -> tuple[int, int]:
        """Embed up to max_events missing events of a session: (embedded, still missing)."""
        if threading.current_thread() is self._worker:
            self._yield_to_calls()  # its scans share LanceDB's one event-loop thread with the calls
        with self._embed_lock:
            missing = self._missing_seqs(session)
            if not missing:
                return 0, 0
            done = 0
            for start in range(0, min(len(missing), max_events), self._embed_chunk):
                if self._stop.is_set():
                    break
                if threading.current_thread() is self._worker:
                    self._wait_for_a_pause()
                done += self._embed_seqs(session, missing[start : min(start + self._embed_chunk, max_events)])
            return done, len(missing) - done

    def _missing_seqs(self, session: str) -> list[int]:
        """Seqs of the session's events without a vector, ascending."""
        complete = self._complete_upto.get(session)
        where = col("session") == lit(session)
        if complete is not None:
            where = where & (col("seq") > lit(complete))
        event_seqs = self._seqs(self._events, where)
        vector_seqs = set(self._seqs(self._vectors, where))
        missing = [seq for seq in event_seqs if seq not in vector_seqs]
        prefix_end = (missing[0] - 1) if missing else (event_seqs[-1] if event_seqs else complete)
        with self._state_lock:
            if prefix_end is not None:
                self._complete_upto[session] = prefix_end
            if vector_seqs:
                self._raise_embedded_max(session, max(vector_seqs))
            tail = self._tail.get(session, {})
            for seq in vector_seqs:  # another process may have embedded them
                tail.pop(seq, None)
            if event_seqs and all(seq in tail for seq in missing):
                self._extend_cover(session, event_seqs[-1])
        return missing

    def _embed_seqs(self, session: str, seqs: list[int]) -> int:
        rows = self._rows_to_embed(session, seqs)
        if rows.num_rows == 0:
            return 0
        texts = [text or "" for text in rows.column("text").to_pylist()]
        vectors = self._vectors_for(texts, rows.column("kind").to_pylist(), rows.column("tool").to_pylist())
        self._vectors.add(
            pa.table(
                {
                    "session": [session] * rows.num_rows,
                    "seq": rows.column("seq"),
                    "kind": rows.column("kind"),
                    "tool": rows.column("tool"),
                    "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIMENSION),
                    **({"text": [text[:VECTOR_TEXT_CHARS] for text in texts]} if self._vector_text else {}),
                },
                schema=VECTORS_SCHEMA if self._vector_text else _VECTORS_SCHEMA_V1,
            )
        )
        with self._state_lock:
            self._raise_embedded_max(session, rows.column("seq")[-1].as_py())
            self._appended_vectors += rows.num_rows
        self._forget_tail(session, rows.column("seq").to_pylist())  # only now: a search reads one or the other
        return rows.num_rows

    def _vectors_for(self, texts: list[str], kinds: list[str], tools: list[str]) -> Any:
        """Embeddings of the texts worth one; zeros for the rest."""
        pause = self._wait_for_a_pause if threading.current_thread() is self._worker else None
        worth = [i for i, (kind, tool) in enumerate(zip(kinds, tools)) if self._embeds(kind, tool)]
        if len(worth) == len(texts):
            return self._embedder.embed(texts, between_batches=pause)
        vectors = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        if worth:
            vectors[worth] = self._embedder.embed([texts[i] for i in worth], between_batches=pause)
        return vectors

    def _rows_to_embed(self, session: str, seqs: list[int]) -> pa.Table:
        """seq, kind, tool, text of these events: from the tail in memory, else from the table."""
        with self._state_lock:
            tail = self._tail.get(session, {})
            held = [(seq, *tail[seq]) for seq in seqs if seq in tail]
        if len(held) == len(seqs):
            return pa.table(dict(zip(_TAIL_COLUMNS, map(list, zip(*held)))), schema=_TAIL_SCHEMA)
        where = (col("session") == lit(session)) & (col("seq") >= lit(seqs[0])) & (col("seq") <= lit(seqs[-1]))
        rows = self._events.search().where(where).select(list(_TAIL_COLUMNS)).limit(None).to_arrow()
        wanted = set(seqs)
        return rows.filter(pa.array([seq in wanted for seq in rows.column("seq").to_pylist()])).sort_by("seq")

    def _raise_embedded_max(self, session: str, seq: int) -> None:
        if seq > self._embedded_max.get(session, -1):
            self._embedded_max[session] = seq

    def _embedded_max_of(self, session: str) -> int | None:
        with self._state_lock:
            if session in self._embedded_max:
                return self._embedded_max[session]
        seqs = self._seqs(self._vectors, col("session") == lit(session))
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
        newer = self._seqs(self._vectors, where)
        if not newer:
            return False
        with self._state_lock:
            self._raise_embedded_max(session, newer[-1])
        return True

    @staticmethod
    def _seqs(table: Any, where: Expr) -> list[int]:
        rows = table.search().where(where).select(["seq"]).limit(None).to_arrow()
        return sorted(rows.column("seq").to_pylist())

    def _sessions_behind(self) -> list[str]:
        """Sessions whose events outnumber their vectors (any process may have appended)."""
        events = self._events.search().select(["session"]).limit(None).to_arrow()
        vectors = self._vectors.search().select(["session", "seq"]).limit(None).to_arrow()
        event_counts = _counts(events.group_by("session").aggregate([("session", "count")]), "session_count")
        vector_counts = _counts(vectors.group_by("session").aggregate([("seq", "count_distinct")]), "seq_count_distinct")
        return sorted(s for s, n in event_counts.items() if n > vector_counts.get(s, 0))

    # -- background ---------------------------------------------------------------------------

    def _run_worker(self) -> None:
        _lower_thread_priority()
        while not self._stop.is_set():
            self._wake.wait(self._idle_seconds)
            self._wake.clear()
            self._settle()
            if self._stop.is_set():
                break
            try:
                self._embed_pending()
            except EmbeddingModelError as exc:
                self._disable_semantic(exc)
            except Exception:  # the thread must survive anything one pass throws
                logger.exception("background embedding failed; will retry on the next append")
            try:
                self._maintain_if_due()
            except Exception:
                logger.exception("search index maintenance failed; will retry later")

    @contextlib.contextmanager
    def foreground(self):
        """Mark a tool call in progress: background embedding yields to it between small batches."""
        with self._calls_quiet:
            self._calls_in_flight += 1
        try:
            yield
        finally:
            with self._calls_quiet:
                self._calls_in_flight -= 1
                self._last_call_end = time.monotonic()
                self._calls_quiet.notify_all()

    def _yield_to_calls(self) -> None:
        with self._calls_quiet:
            while self._calls_in_flight and not self._stop.is_set():
                self._calls_quiet.wait(0.1)

    def _wait_for_a_pause(self) -> None:
        """Between two model batches of background work: wait until no call has run for
        `_PAUSE_SECONDS` (an agent's think time), at most `_PAUSE_MAX_WAIT`, so a burst of
        calls is not shared with the model, and a backlog still moves under constant load."""
        deadline = time.monotonic() + _PAUSE_MAX_WAIT
        with self._calls_quiet:
            while not self._stop.is_set():
                now = time.monotonic()
                quiet_for = now - self._last_call_end
                if (not self._calls_in_flight and quiet_for >= _PAUSE_SECONDS) or now >= deadline:
                    return
                self._calls_quiet.wait(min(deadline - now, max(_PAUSE_SECONDS - quiet_for, 0.02)))

    def _settle(self) -> None:
        """Wait for a burst of appends to pause (bounded), so the model runs between
        tool calls, in batches, rather than beside each call on the same cores."""
        deadline = time.monotonic() + self._settle_max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline and self._wake.wait(self._settle_seconds):
            self._wake.clear()

    def _embed_pending(self) -> None:
        if not self.semantic:
            with self._state_lock:
                self._pending.clear()
            return
        self._refresh_reads()
        with self._state_lock:
            sessions = set(self._pending)
            self._pending.clear()
            discover, self._discover_all = self._discover_all, False
        if discover:
            self._yield_to_calls()
            sessions.update(self._sessions_behind())
        # Round-robin one chunk per session, so a long backlog never starves a busy session.
        while sessions and not self._stop.is_set():
            for session in sorted(sessions):
                done, remaining = self._embed_missing(session, self._embed_chunk)
                if remaining == 0 or done == 0:
                    sessions.discard(session)
            with self._state_lock:
                sessions.update(self._pending)
                self._pending.clear()

    def _maintain_if_due(self) -> None:
        self._ensure_fulltext_index()
        with self._state_lock:
            due = self._appended_events + self._appended_vectors >= self._optimize_every
        if due:
            self._maintain_vectors_indexes()
            self._optimize(force=False)

    def _optimize(self, force: bool) -> None:
        with self._state_lock:
            events_due = force or self._appended_events >= self._optimize_every
            vectors_due = force or self._appended_vectors >= self._optimize_every
            if events_due:
                self._appended_events = 0
            if vectors_due:
                self._appended_vectors = 0
        if events_due and self._maintain_events:
            version = self._events.version
            self._events.optimize(cleanup_older_than=self._keep_versions)
            self._fresh.indexed(version)
        if vectors_due and self._vectors is not None:
            self._vectors.optimize(cleanup_older_than=self._keep_versions)

    def _ensure_fulltext_index(self) -> None:
        if self._fts_ready:
            return
        from lancedb.index import FTS

        existing = self._fulltext_index_name()
        if existing is not None:
            self._fts_name = existing
            self._note_fully_indexed()
            self._fts_ready = True
            return
        if self._events.count_rows() == 0:
            return
        version = self._events.version
        try:
            self._events.create_index("text", config=FTS(), replace=False)
        except Exception as exc:  # another process may have created it meanwhile
            logger.info("full-text index not created (%s); will check again", exc)
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

    def _maintain_vectors_indexes(self) -> None:
        if self._vectors is None:
            return
        from lancedb.index import BTree, Bitmap, IvfFlat

        rows = self._vectors.count_rows()
        if rows == 0:
            return
        existing = {tuple(index.columns) for index in self._vectors.list_indices()}
        if ("session",) not in existing:
            self._vectors.create_index("session", config=Bitmap())
        if ("seq",) not in existing:
            self._vectors.create_index("seq", config=BTree())
        if ("vector",) not in existing and rows >= self._vector_index_min_rows:
            partitions = max(2, min(256, rows // 2000))
            self._vectors.create_index("vector", config=IvfFlat(distance_type="dot", num_partitions=partitions))

    # -- helpers ------------------------------------------------------------------------------

    def _open_vectors(self) -> Any:
        try:
            return self._db.create_table(VECTORS_TABLE, schema=VECTORS_SCHEMA, exist_ok=True)
        except Exception:  # another process created it between the check and the create
            return self._db.open_table(VECTORS_TABLE)

    def _pool(self) -> ThreadPoolExecutor:
        with self._state_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="arena-search")
            return self._executor

    def _refresh_reads(self, *, vectors: bool = True) -> None:
        # A connection without read consistency never sees other handles' writes on its own.
        if self._weak_reads:
            self._events.checkout_latest()
            if vectors and self._vectors is not None:
                self._vectors.checkout_latest()

    def _disable_semantic(self, exc: Exception) -> None:
        if not self._semantic_error:
            logger.error("semantic search disabled, full text only: %s", exc)
        self._semantic_error = str(exc)


def _lower_thread_priority() -> None:
    """Background embedding must leave the cores to tool calls: nice this thread
    (Linux applies setpriority to one thread when given its id; elsewhere a no-op)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 15)
    except (AttributeError, OSError):
        pass
