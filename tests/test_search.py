"""memory_search retrieval: real LanceDB in tmp_path, the real embedding model."""

from __future__ import annotations

import json
import time
from pathlib import Path

import lancedb
import pytest

from mcp_arena.engine.store import EVENTS as EVENTS_SCHEMA
from mcp_arena.engine.store import VECTORS as VECTORS_SCHEMA
from mcp_arena.engine.store import Store, build_fulltext_index, open_table
from mcp_arena.errors import InvalidArgument
from mcp_arena.search.embedder import Embedder
from mcp_arena.search.index import (
    MODE_FULLTEXT,
    MODE_HYBRID,
    MODE_HYBRID_TAIL,
    SearchFilter,
    SearchIndex,
    build_filter,
    merge_ranges,
)
from mcp_arena.search.rank import make_snippet, rrf_fuse
from mcp_arena.search.tables import RecallTables
from mcp_arena.search.words import query_terms

VECTORS_TABLE = "vectors"

# (kind, tool, text): an agent session about a web service. Seq = position.
LOG = [
    ("user", "", "Please fix the failing checkout tests and clean up the payment module."),
    ("tool_call", "bash", '{"command": "pytest tests/test_checkout.py -q"}'),
    ("tool_result", "bash", "3 failed, 41 passed: test_total_with_discount, test_tax_rounding, test_empty_cart"),
    ("assistant", "", "The tax rounding test fails because totals are computed with floats; switching to Decimal."),
    ("tool_call", "edit", '{"path": "shop/checkout.py", "old": "float(total)", "new": "Decimal(total)"}'),
    ("tool_result", "edit", "Edited shop/checkout.py: 1 replacement."),
    ("tool_call", "bash", '{"command": "pytest tests/test_checkout.py -q"}'),
    # the paraphrase target: no word in common with the query below
    ("assistant", "", "Wrapped the HTTP client so it waits longer and longer between attempts "
     "whenever the payment gateway answers 503."),
    ("tool_result", "bash", "44 passed in 2.31s"),
    ("note", "", "Decided to keep the legacy coupon codes until the marketing team confirms."),
    ("tool_call", "read", '{"path": "shop/models.py"}'),
    ("tool_result", "read", "class Order(Base): id = Column(Integer, primary_key=True); total = Column(Numeric)"),
    ("assistant", "", "Added an index on orders.created_at to speed up the monthly report query."),
    ("tool_call", "bash", '{"command": "alembic revision -m add_orders_created_at_index"}'),
    ("tool_result", "bash", "Generating migrations/versions/9f1c_add_orders_created_at_index.py ... done"),
    ("user", "", "Also the CSS on the cart page is broken on mobile."),
    ("assistant", "", "The cart grid uses fixed widths; replaced them with flexbox and a media query at 600px."),
    ("tool_result", "edit", "Edited static/cart.css: 4 replacements."),
    ("note", "", "Lint: ruff reports 12 unused imports in shop/legacy/*.py, left for later."),
    ("assistant", "", "Logging now uses structured JSON lines with a request id on every record."),
    ("tool_result", "bash", "docker compose up -d: web, db, redis started"),
    ("assistant", "", "Redis is used as the session store; TTL set to 30 minutes."),
    ("tool_result", "bash", "curl localhost:8000/health -> 200 OK"),
    ("user", "", "Great. Please write the changelog entry."),
    ("assistant", "", "Changelog: checkout totals use Decimal, cart page responsive, orders report faster."),
]
TARGET_SEQ = 7
PARAPHRASE_QUERY = "retry strategy with backoff for a flaky upstream service"
PARAPHRASE_QUERY_NO_SHARED_WORDS = "retry strategy for a flaky upstream service"


def rows_for(session: str, entries, start: int = 0) -> list[dict]:
    return [
        {
            "session": session,
            "seq": start + i,
            "kind": kind,
            "tool": tool,
            "text": text,
            "tokens": len(text) // 4,
            "is_error": False,
            "source": "self",
            "call_id": "",
            "ts": 1_700_000_000.0 + start + i,
            "meta": json.dumps({}),
        }
        for i, (kind, tool, text) in enumerate(entries)
    ]


def open_index(db, table, *, semantic: bool = True, **options) -> SearchIndex:
    """A search index over a bare LanceDB connection; the test plays the tables' owner:
    it makes the vectors table and builds the full-text index when the index asks."""
    vectors = open_table(db, VECTORS_TABLE, VECTORS_SCHEMA) if semantic else None
    tables = RecallTables(events=table, vectors=vectors, build_fulltext_index=lambda: build_fulltext_index(table))
    return SearchIndex(tables, semantic=semantic, **options)


def store_over(db_path: Path, index: SearchIndex, **options) -> Store:
    """The engine's owner of the same folder, its optimize reported to the index as the engine wires it."""
    store = Store(str(db_path), db_path.parent / "locks", **options)
    store.on_events_indexed = index.notify_indexed
    return store


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "arena.lancedb"


@pytest.fixture
def events(db_path: Path):
    db = lancedb.connect(db_path)
    table = db.create_table("events", schema=EVENTS_SCHEMA)
    table.add(rows_for("s1", LOG))
    table.add(rows_for("s2", [("note", "", "zebra crossing sightings: the payment gateway answers 503 often")] * 3))
    return db, table


@pytest.fixture
def index(events, embedder):
    db, table = events
    idx = open_index(db, table, embedder=embedder, start_worker=False)
    idx.catch_up()
    yield idx
    idx.close()


def seqs(outcome) -> list[int]:
    return [hit.seq for hit in outcome.hits]


# -- pure pieces ------------------------------------------------------------------------------


def test_rrf_rewards_agreement_and_breaks_ties_by_seq():
    fused = rrf_fuse({"fulltext": [5, 3, 9], "vector": [3, 8, 5]})
    assert [seq for seq, _, _ in fused][:2] == [3, 5]
    assert dict((s, legs) for s, _, legs in fused)[3] == ("fulltext", "vector")
    tie = rrf_fuse({"fulltext": [9], "vector": [4]})
    assert [seq for seq, _, _ in tie] == [4, 9]


def test_merge_ranges_joins_overlaps_and_neighbours():
    assert merge_ranges([(10, 12), (1, 3), (4, 5), (11, 20), (30, 29)]) == [(1, 5), (10, 20)]


def test_filters_are_expressions_not_pasted_strings():
    where = build_filter("x' OR '1'='1", kinds=["note"], scope="live", squashed_ranges=[(2, 4)])
    sql = where.to_sql()
    assert "'x'' OR ''1''=''1'" in sql  # the quote is escaped by lancedb.expr
    assert build_filter("s", scope="squashed", squashed_ranges=[]) is None
    assert build_filter("s", seq_min=5, seq_max=4) is None
    with pytest.raises(InvalidArgument, match="all, squashed, live"):
        build_filter("s", scope="everything")


def test_query_terms_drop_stop_words_and_suffixes():
    assert query_terms("Why did the tests keep failing?") == ["test", "keep", "fail"]


def test_snippet_is_centred_on_the_match_and_bounded():
    text = "filler words here. " * 300 + "the rare MARKER phrase appears here " + "more filler text. " * 300
    snippet = make_snippet(text, query_terms("marker"), 40, lambda s: len(s) // 4 + 1)
    assert "MARKER" in snippet
    assert snippet.startswith("…") and snippet.endswith("…")
    assert len(snippet) // 4 + 1 <= 40
    head = make_snippet(text, query_terms("absent"), 40, lambda s: len(s) // 4 + 1)
    assert head.startswith("filler") and head.endswith("…")


def test_a_snippet_narrowed_for_dense_text_still_holds_the_rare_term():
    """Paths cost more tokens per character than prose: the window shrinks, and must keep the match."""
    lines = [f"/home/dev/project/deps/package_{n}/mix.exs" for n in range(120)]
    lines[70] = "/home/dev/project/deps/open_api_spex/mix.exs"
    dense = lambda s: len(s) // 2 + 1  # noqa: E731 - two characters a token, as paths tokenize
    snippet = make_snippet("\n".join(lines), query_terms("open_api_spex mix.exs"), 60, dense)
    assert "open_api_spex" in snippet and dense(snippet) <= 60


# -- retrieval --------------------------------------------------------------------------------


def test_hybrid_finds_a_paraphrase_that_full_text_misses(events, embedder):
    db, table = events
    fulltext = open_index(db, table, semantic=False, start_worker=False)
    hybrid = open_index(db, table, embedder=embedder, start_worker=False)
    try:
        hybrid.catch_up()
        ft = fulltext.search("s1", PARAPHRASE_QUERY_NO_SHARED_WORDS, limit=5)
        hy = hybrid.search("s1", PARAPHRASE_QUERY_NO_SHARED_WORDS, limit=5)
        assert ft.mode == MODE_FULLTEXT
        assert TARGET_SEQ not in seqs(ft)
        assert hy.mode == MODE_HYBRID and hy.not_embedded == 0
        assert TARGET_SEQ in seqs(hy)
        assert "vector" in next(h for h in hy.hits if h.seq == TARGET_SEQ).via
    finally:
        fulltext.close()
        hybrid.close()


def test_keyword_hits_come_from_full_text_with_a_centred_snippet(index):
    outcome = index.search("s1", "alembic revision", limit=3)
    assert outcome.hits[0].seq == 13
    assert "fulltext" in outcome.hits[0].via
    assert "alembic" in outcome.hits[0].snippet


def test_no_session_sees_another_sessions_events(index):
    outcome = index.search("s1", "zebra crossing sightings", limit=10)
    assert all("zebra" not in hit.snippet for hit in outcome.hits)
    other = index.search("s2", "payment gateway 503", limit=10)
    assert sorted(seqs(other)) == [0, 1, 2]
    assert all("zebra" in hit.snippet for hit in other.hits)
    assert index.search("s3", "payment", limit=5).hits == ()
    assert index.search("s1' OR session = 's2", "zebra", limit=5).hits == ()


def test_filters_on_kind_tool_and_seq_range(index):
    by_kind = index.search(SearchFilter.of("s1", kinds=["tool_call"]), "tests checkout", limit=10)
    assert by_kind.hits and all(hit.kind == "tool_call" for hit in by_kind.hits)
    by_tool = index.search(SearchFilter.of("s1", tools=["edit"]), "edited file", limit=10)
    assert by_tool.hits and all(hit.tool == "edit" for hit in by_tool.hits)
    without = index.search(SearchFilter.of("s1", exclude_tools=["bash"]), "pytest command", limit=20)
    assert all(hit.tool != "bash" for hit in without.hits)
    ranged = index.search(SearchFilter.of("s1", seq_min=5, seq_max=12), "checkout tests payment", limit=20)
    assert ranged.hits and all(5 <= hit.seq <= 12 for hit in ranged.hits)


def test_scope_squashed_and_live(index):
    squashed = [(0, 8)]
    inside = index.search(SearchFilter.of("s1", scope="squashed", squashed_ranges=squashed), "payment gateway backoff", limit=20)
    assert inside.hits and all(0 <= hit.seq <= 8 for hit in inside.hits)
    live = index.search(SearchFilter.of("s1", scope="live", squashed_ranges=squashed), "payment gateway backoff", limit=20)
    assert live.hits and all(hit.seq > 8 for hit in live.hits)
    empty = index.search(SearchFilter.of("s1", scope="squashed", squashed_ranges=[]), "payment")
    assert empty.hits == () and "no squashed" in empty.note


def test_results_fit_the_token_budget_and_are_deterministic(index, events):
    db, table = events
    long_text = "setup noise " * 2000 + "the flamingo deployment token expired " + "teardown noise " * 2000
    table.add(rows_for("s1", [("tool_result", "bash", long_text)], start=len(LOG)))
    index.catch_up("s1")
    count = lambda s: len(s) // 4 + 1  # noqa: E731
    index._count_tokens = count
    outcome = index.search("s1", "flamingo deployment", limit=5, max_tokens=200)
    assert outcome.hits[0].seq == len(LOG) and "flamingo" in outcome.hits[0].snippet
    assert sum(count(hit.snippet) for hit in outcome.hits) <= 200
    tight = index.search("s1", "checkout payment tests", limit=10, max_tokens=100)
    assert tight.truncated and len(tight.hits) == 100 // 30
    assert index.search("s1", "checkout payment tests", limit=10, max_tokens=100) == tight


def test_query_validation(index):
    with pytest.raises(InvalidArgument, match="query is empty"):
        index.search("s1", "   ")
    with pytest.raises(InvalidArgument, match="scope"):
        index.search(SearchFilter.of("s1", scope="bogus"), "x")
    odd = index.search("s1", '"unbalanced ( AND OR NOT *', limit=3)
    assert odd.mode == MODE_HYBRID  # odd syntax is plain words, never an error


# -- freshness ----------------------------------------------------------------------------------


def test_a_small_unembedded_tail_is_embedded_during_the_search(index, events):
    db, table = events
    table.add(rows_for("s1", [("assistant", "", "The cron job that sends invoices now runs at 02:00 UTC.")], len(LOG)))
    outcome = index.search("s1", "scheduled billing task timing", limit=5)
    assert outcome.mode == MODE_HYBRID
    assert outcome.not_embedded == 1 and outcome.embedded_inline == 1
    assert len(LOG) in seqs(outcome)


def test_a_large_tail_falls_back_to_full_text_and_says_so(index, events):
    db, table = events
    fresh = [("note", "", f"queue worker {i} processed batch {i}") for i in range(20)]
    fresh.append(("note", "", "the kangaroo migration finished"))
    table.add(rows_for("s1", fresh, start=len(LOG)))
    outcome = index.search("s1", "kangaroo migration", limit=5)
    assert outcome.mode == MODE_HYBRID_TAIL
    assert outcome.not_embedded == 21 and outcome.embedded_inline == 0
    assert "full text only" in outcome.note
    assert outcome.hits[0].seq == len(LOG) + 20  # found by its words all the same
    assert index.catch_up("s1") == 21
    after = index.search("s1", "kangaroo migration", limit=5)
    assert after.mode == MODE_HYBRID and after.not_embedded == 0


def test_the_background_thread_embeds_after_notify(events, embedder):
    db, table = events
    idx = open_index(db, table, embedder=embedder, idle_seconds=0.2)
    try:
        deadline = time.monotonic() + 60
        while idx.vectors.count_unembedded("s1", None) and time.monotonic() < deadline:
            time.sleep(0.1)  # the first pass discovers sessions that are behind
        assert idx.vectors.count_unembedded("s1", None) == 0
        table.add(rows_for("s1", [("note", "", f"later note {i}") for i in range(30)], start=len(LOG)))
        idx.notify_appended("s1", 30)
        while idx.vectors.count_unembedded("s1", None) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert idx.vectors.count_unembedded("s1", None) == 0
        assert idx.search("s1", "later note", limit=3).mode == MODE_HYBRID
    finally:
        idx.close()
    assert not idx.background.thread.is_alive()


def test_background_embedding_waits_between_model_batches_for_the_calls_to_pause(index, events):
    import threading

    batches_started: list[int] = []
    call_ended = threading.Event()

    def one_call():
        with index.foreground():
            time.sleep(0.5)
        call_ended.set()

    caller = threading.Thread(target=one_call)
    caller.start()
    time.sleep(0.1)
    started = time.monotonic()
    index.background.wait_for_a_pause()  # what the worker does before each model batch
    waited = time.monotonic() - started
    caller.join()
    assert call_ended.is_set() and waited >= 0.4 + 0.2  # the rest of the call, then a quiet gap
    started = time.monotonic()
    index.background.wait_for_a_pause()
    assert time.monotonic() - started < 0.3  # quiet already: no wait
    # The worker hands that wait to the model, which calls it between its batches.
    texts = [f"text {i} " * (i % 7 + 1) for i in range(40)]
    index.background.wait_for_a_pause = lambda: batches_started.append(1)
    index.background.thread = threading.current_thread()
    try:
        vectors = index.vectors.vectors_for(texts, ["note"] * 40, [""] * 40)
    finally:
        index.background.thread = None
    assert len(batches_started) >= 2 and vectors.shape == (40, 384)  # 40 texts take 3 batches
    before = len(batches_started)
    index.vectors.vectors_for(texts, ["note"] * 40, [""] * 40)  # not the worker (a search, catch_up): no waits
    assert len(batches_started) == before


def test_a_new_process_reopens_and_searches(index, db_path, embedder):
    index.close()
    db = lancedb.connect(db_path)
    reopened = open_index(db, db.open_table("events"), embedder=embedder, start_worker=False)
    try:
        outcome = reopened.search("s1", PARAPHRASE_QUERY, limit=5)
        assert outcome.mode == MODE_HYBRID and outcome.not_embedded == 0
        assert TARGET_SEQ in seqs(outcome)
        assert reopened.catch_up() == 0  # nothing embedded twice
    finally:
        reopened.close()


def test_vectors_written_by_another_handle_are_seen(events, embedder, db_path):
    db, table = events
    writer_db = lancedb.connect(db_path)
    writer = open_index(writer_db, writer_db.open_table("events"), embedder=embedder, start_worker=False)
    reader = open_index(db, table, embedder=embedder, start_worker=False)
    try:
        assert writer.catch_up() == len(LOG) + 3
        outcome = reader.search("s1", PARAPHRASE_QUERY, limit=5)
        assert outcome.not_embedded == 0 and TARGET_SEQ in seqs(outcome)
    finally:
        writer.close()
        reader.close()


# -- maintenance and settings -------------------------------------------------------------------


def test_maintenance_builds_indexes_and_search_still_works(index, events, db_path):
    db, table = events
    store_over(db_path, index, vector_index_min_rows=20).maintain()  # the store's maintenance, as the engine runs it
    table.checkout_latest()  # a bare connection's handle sees the store's commits only when asked
    assert any(i.index_type == "FTS" for i in table.list_indices())
    vector_indexes = [tuple(i.columns) for i in db.open_table("vectors").list_indices()]
    assert ("vector",) in vector_indexes and ("session",) in vector_indexes
    table.add(rows_for("s1", [("note", "", "the walrus protocol was adopted")], start=len(LOG)))
    outcome = index.search("s1", "walrus protocol", limit=3)
    assert outcome.hits[0].seq == len(LOG)  # rows added after the index are still searched
    assert TARGET_SEQ in seqs(index.search("s1", PARAPHRASE_QUERY, limit=5))


def test_semantic_off_never_loads_the_model(events):
    db, table = events
    idx = open_index(db, table, semantic=False, start_worker=False)
    try:
        outcome = idx.search("s1", "alembic", limit=3)
        assert outcome.mode == MODE_FULLTEXT and outcome.hits[0].seq == 13
        assert idx.catch_up() == 0
        assert "vectors" not in db.list_tables().tables
    finally:
        idx.close()


def test_a_broken_model_degrades_to_full_text(events, tmp_path):
    db, table = events
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"broken")
    idx = open_index(db, table, embedder=Embedder(model_path=bad, model_sha256="0" * 64), start_worker=False)
    try:
        outcome = idx.search("s1", "alembic", limit=3)
        assert outcome.mode == MODE_FULLTEXT and "semantic layer unavailable" in outcome.note
        assert outcome.hits[0].seq == 13
    finally:
        idx.close()


def test_full_text_rank_stands_in_for_events_not_embedded_yet():
    fused = rrf_fuse({"fulltext": [40, 3], "vector": [3, 9]}, unranked_twice=[40])
    assert [seq for seq, _, _ in fused][:2] == [40, 3]


def test_one_common_word_weighs_less_than_the_whole_query():
    from mcp_arena.search.rank import term_coverage

    terms = query_terms("when does the scheduled billing job run")
    assert term_coverage("npm run build", terms) == pytest.approx(1 / 4)
    assert term_coverage("Scheduled billing: the job will run at 2am", terms) == 1.0
    fused = rrf_fuse({"fulltext": [1, 2], "vector": [2, 1]}, weights={"fulltext": {1: 0.25, 2: 1.0}})
    assert fused[0][0] == 2


def test_a_broken_vector_table_degrades_to_full_text(index, events):
    db, _ = events
    db.drop_table("vectors")
    outcome = index.search("s1", "alembic revision", limit=3)
    assert outcome.mode == MODE_FULLTEXT and "vector search failed" in outcome.note
    assert outcome.hits[0].seq == 13


def test_a_long_lived_index_sees_vectors_another_process_stored_later(events, embedder, db_path):
    db, table = events
    reader = open_index(db, table, embedder=embedder, start_worker=False)
    writer_db = lancedb.connect(db_path)
    writer = open_index(writer_db, writer_db.open_table("events"), embedder=embedder, start_worker=False)
    try:
        assert reader.search("s1", "alembic", limit=1).not_embedded == len(LOG)  # nothing stored yet
        writer.catch_up()
        outcome = reader.search("s1", PARAPHRASE_QUERY, limit=5)
        assert outcome.not_embedded == 0 and outcome.mode == MODE_HYBRID
    finally:
        writer.close()
        reader.close()



# -- the filter in LanceDB and in Python agree; the tail held in memory ---------------------------


def test_the_filter_in_python_keeps_exactly_what_lancedb_keeps(events):
    _, table = events
    rows = table.search().where("session = 's1'").select(["seq", "kind", "tool"]).limit(None).to_arrow().to_pylist()
    cases = [
        dict(),
        dict(scope="squashed", squashed_ranges=[(2, 5), (9, 9)]),
        dict(scope="live", squashed_ranges=[(2, 5), (9, 9)]),
        dict(kinds=["tool_result", "note"]),
        dict(tools=["bash"], seq_min=4),
        dict(exclude_tools=["bash", "edit"], seq_max=15),
        dict(scope="live", squashed_ranges=[(0, 3)], kinds=["assistant"], exclude_tools=["read"]),
    ]
    for options in cases:
        filt = SearchFilter.of("s1", **options)
        in_lancedb = sorted(table.search().where(filt.expr()).select(["seq"]).limit(None).to_arrow().column("seq").to_pylist())
        in_python = sorted(r["seq"] for r in rows if filt.matches(r["seq"], r["kind"], r["tool"]))
        assert in_python == in_lancedb and in_lancedb, options


def test_a_wide_filter_that_drops_many_top_hits_still_fills_the_page(events, embedder):
    db, table = events
    # 70 echoes of the query that the filter excludes rank above the one event it keeps.
    table.add(rows_for("s1", [("tool_result", "memory_search", "okapi okapi okapi")] * 70, start=len(LOG)))
    table.add(rows_for("s1", [("note", "", "an okapi was seen near the depot")], start=len(LOG) + 70))
    idx = open_index(db, table, embedder=embedder, start_worker=False)
    try:
        outcome = idx.search(SearchFilter.of("s1", exclude_tools=["memory_search"]), "okapi", limit=3)
        assert seqs(outcome)[0] == len(LOG) + 70
        assert all(hit.tool != "memory_search" for hit in outcome.hits)
    finally:
        idx.close()


def test_the_engine_tail_is_searched_from_memory_and_another_writer_is_looked_up(index, events, monkeypatch):
    db, table = events
    newest = len(LOG) - 1
    assert index.search("s1", "alembic", limit=1, newest_seq=newest).not_embedded == 0  # covers the session
    fresh = rows_for("s1", [("note", "", "the quokka importer retries three times")], start=len(LOG))
    table.add(fresh)
    index.notify_appended("s1", 1, [(r["seq"], r["kind"], r["tool"], r["text"]) for r in fresh])
    looked_up = []
    real_lookup = index.vectors.tail_from_table
    monkeypatch.setattr(index.vectors, "tail_from_table", lambda *a: looked_up.append(a) or real_lookup(*a))
    outcome = index.search("s1", "quokka importer", limit=3, newest_seq=len(LOG))
    assert outcome.embedded_inline == 1 and seqs(outcome)[0] == len(LOG)
    assert looked_up == []  # the tail came from memory
    # Another writer appends: the engine only says how many, so the next search looks them up.
    other = rows_for("s1", [("note", "", "the wombat cache was flushed")], start=len(LOG) + 1)
    table.add(other)
    index.notify_appended("s1", 1)
    outcome = index.search("s1", "wombat cache", limit=3, newest_seq=len(LOG) + 1)
    assert seqs(outcome)[0] == len(LOG) + 1 and outcome.not_embedded == 2
    assert len(looked_up) == 1


def test_vector_hits_bring_their_text_and_old_vector_tables_still_work(events, embedder, db_path):
    import pyarrow as pa

    db, table = events
    idx = open_index(db, table, embedder=embedder, start_worker=False)
    idx.catch_up()
    stored = db.open_table(VECTORS_TABLE).search().where("seq = 7").limit(1).to_arrow().to_pylist()[0]
    assert stored["text"] == LOG[TARGET_SEQ][2]
    idx.close()
    # A vectors table from before the text column: searched and extended without it.
    db.drop_table(VECTORS_TABLE)
    old_schema = pa.schema([f for f in VECTORS_SCHEMA if f.name != "text"])
    db.create_table(VECTORS_TABLE, schema=old_schema)
    old = open_index(db, table, embedder=embedder, start_worker=False)
    try:
        assert old.catch_up() == len(LOG) + 3
        outcome = old.search("s1", PARAPHRASE_QUERY_NO_SHARED_WORDS, limit=5)
        hit = next(h for h in outcome.hits if h.seq == TARGET_SEQ)
        assert "503" in hit.snippet  # read from the events table instead
        assert db.open_table(VECTORS_TABLE).schema.names == old_schema.names
    finally:
        old.close()


class _CountingEmbedder(Embedder):
    """The real model, remembering every text it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed(self, texts, **options):
        self.texts.extend(texts)
        return super().embed(texts, **options)


def test_events_turned_down_for_a_vector_get_a_placeholder_and_full_text_only(events):
    db, table = events
    guide = "Guide: wrap flaky calls so they wait longer and longer between attempts when a server answers 503."
    table.add(rows_for("s1", [("guide", "", guide)], start=len(LOG)))
    embedder = _CountingEmbedder()
    idx = open_index(db, table, embedder=embedder, start_worker=False, embeds=lambda kind, tool: kind != "guide")
    try:
        assert idx.catch_up() == len(LOG) + 1 + 3  # the placeholder counts as done: nothing left behind
        assert guide not in embedder.texts and LOG[TARGET_SEQ][2] in embedder.texts
        assert idx.catch_up() == 0
        # The paraphrase finds the agent's own event; the guide, worded just as closely, has no vector.
        found = idx.search(SearchFilter.of("s1"), PARAPHRASE_QUERY_NO_SHARED_WORDS, limit=3)
        assert TARGET_SEQ in seqs(found) and len(LOG) not in seqs(found)
        asked = idx.search(SearchFilter.of("s1", kinds=["guide"]), "server answers 503", limit=3)
        assert seqs(asked) == [len(LOG)] and asked.hits[0].via == ("fulltext",)
        # A placeholder in the not-yet-embedded tail is neither embedded inline nor waited for.
        table.add(rows_for("s1", [("guide", "", "another guide about 503 answers")], start=len(LOG) + 1))
        idx.notify_appended("s1", 1, [(len(LOG) + 1, "guide", "", "another guide about 503 answers")])
        before = len(embedder.texts)
        tail = idx.search(SearchFilter.of("s1", kinds=["guide"]), "503 answers", limit=3)
        assert len(embedder.texts) == before + 1  # the query alone
        assert tail.embedded_inline == 0 and tail.mode == MODE_HYBRID
    finally:
        idx.close()


def test_rows_the_fulltext_index_does_not_cover_are_searched_from_memory(events, db_path):
    from lancedb.query import MatchQuery

    db, table = events
    index = open_index(db, table, semantic=False, start_worker=False)  # the full-text leg alone
    store = store_over(db_path, index)

    def append(entries, start):
        rows = rows_for("s1", entries, start=start)
        version = table.add(rows).version
        index.notify_appended("s1", len(rows), [(r["seq"], r["kind"], r["tool"], r["text"]) for r in rows], version)

    def another_writer(session, text, seq):
        table.add(rows_for(session, [("note", "", text)], start=seq))

    assert index.search("s1", "alembic", limit=1).hits  # creates the full-text index
    append([("note", "", "warm-up")], len(LOG))
    assert index.search("s1", "alembic", limit=1).hits
    assert index._last_fulltext_path == "indexed+fresh"  # the one row the index leaves out is held here
    another_writer("s2", "an unrelated note", 100)  # rows of other sessions never matter to s1 once trusted
    start = len(LOG) + 1
    entries = [("note", "", "the kookaburra exporter writes parquet shards"), ("note", "", "parquet row groups of 64 MB")]
    append(entries, start)
    unindexed = table.search(MatchQuery("kookaburra", "text"), query_type="fts").fast_search().limit(5).to_arrow()
    assert unindexed.num_rows == 0  # LanceDB's indexed part alone would miss them

    outcome = index.search("s1", "kookaburra exporter parquet", limit=3)
    assert index._last_fulltext_path == "indexed+fresh"
    assert seqs(outcome)[:2] == [start, start + 1]
    assert "kookaburra" in outcome.hits[0].snippet
    narrowed = index.search(SearchFilter.of("s1", seq_max=start), "parquet", limit=3)
    assert start + 1 not in seqs(narrowed)  # the filter applies to the fresh rows too

    # Another writer appends to s1: its rows are not in memory, so the search walks every fragment.
    another_writer("s1", "the kookaburra exporter also writes csv", start + 2)
    index.notify_appended("s1", 1)
    assert start + 2 in seqs(index.search("s1", "kookaburra csv", limit=3))
    assert index._last_fulltext_path == "all fragments"

    store.maintain()
    another_writer("s2", "another unrelated note", 101)
    append([("note", "", "the kookaburra importer reads avro")], start + 3)
    assert index.search("s1", "kookaburra avro", limit=3).hits[0].seq == start + 3
    # Tracking restarted after the other writer, and the index leaves out a row not held here.
    assert index._last_fulltext_path == "all fragments"
    store.maintain()
    assert index.search("s1", "kookaburra avro", limit=3).hits[0].seq == start + 3
    assert index._last_fulltext_path == "indexed+fresh" and index._fresh.rows_for("s1") == []
    index.close()
