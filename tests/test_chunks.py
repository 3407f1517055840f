"""Search that sees the whole result: long events are embedded in overlapping chunks.

The chunking rule is a pure function (tested on its own, and against the model's real
tokenizer); the rest runs the real engine on a real LanceDB in tmp_path with the real model.
"""

from __future__ import annotations

import json
import random

import lancedb
import pyarrow as pa
import pytest
from tokenizers import Tokenizer

from mcp_arena.config import Settings
from mcp_arena.core.events import EventDraft
from mcp_arena.engine.arena import Arena
from mcp_arena.engine.store import SCHEMA_VERSION, VECTORS, Store
from mcp_arena.search.chunks import CHUNK_TOKENS, OVERLAP_TOKENS, Chunk, chunks_of, estimate_tokens
from mcp_arena.search.embedder import TOKENIZER_PATH
from mcp_arena.search.filter import SearchFilter

# -- the rule ------------------------------------------------------------------------------------------


def words(n: int, start: int = 0) -> str:
    return " ".join(f"w{i:05d}" for i in range(start, start + n))


def test_a_short_text_is_one_whole_chunk():
    assert chunks_of("") == [Chunk(0, 0, 0)]
    assert chunks_of("ok") == [Chunk(0, 0, 2)]
    text = "the build passed " * 40  # ~120 estimated tokens, 680 characters
    assert chunks_of(text) == [Chunk(0, 0, len(text))]


def test_a_long_line_is_cut_into_overlapping_windows_that_cover_it():
    text = "alpha beta gamma. " * 600  # one line: 1,800 words plus 600 full stops
    chunks = chunks_of(text)
    assert [c.number for c in chunks] == list(range(1, len(chunks) + 1))
    assert chunks[0].start == 0 and chunks[-1].end == len(text.rstrip())
    for chunk in chunks:
        assert estimate_tokens(chunk.of(text)) <= CHUNK_TOKENS
    for before, after in zip(chunks, chunks[1:]):
        assert before.start < after.start < before.end  # they overlap and move on
        shared = text[after.start : before.end]
        assert OVERLAP_TOKENS // 2 < estimate_tokens(shared) <= OVERLAP_TOKENS
        assert text[after.start - 1] in " ." and text[before.end] in " ."  # cut between pieces, never inside one


def test_every_stretch_of_half_the_overlap_lies_whole_in_one_window():
    rng = random.Random(4)
    for _ in range(20):
        size = rng.randint(300, 3000)
        text = words(size)  # one long line
        position = rng.randint(0, size - 5)
        sentence = words(5, position)  # 15 estimated tokens: half the overlap
        assert any(sentence in chunk.of(text) for chunk in chunks_of(text))


def test_lines_of_a_log_are_never_cut():
    rng = random.Random(6)
    lines = [" ".join(f"field{rng.randint(0, 99)}={rng.randint(0, 9999)}" for _ in range(rng.randint(1, 12))) for _ in range(400)]
    text = "\n".join(lines)
    chunks = chunks_of(text)
    assert len(chunks) > 20
    for chunk in chunks:
        assert chunk.start == 0 or text[chunk.start - 1] == "\n"
        assert chunk.end == len(text) or text[chunk.end] == "\n"
    assert all(any(line in chunk.of(text) for chunk in chunks) for line in lines)


def test_boundaries_and_the_cap():
    text = words(500)
    assert all(c.number == 0 for c in chunks_of(text, whole_tokens=10_000))
    capped = chunks_of(words(20_000), max_chunks=5)
    assert len(capped) == 5 and capped[-1].number == 5
    one_piece = "x" * 5_000  # a single piece over the window is one window, not a loop
    assert chunks_of(one_piece) == [Chunk(1, 0, 5_000)]
    blank = "\n\n   \n" * 300  # nothing but white space: one whole chunk
    assert chunks_of(blank) == [Chunk(0, 0, len(blank))]
    with pytest.raises(ValueError, match="overlap"):
        chunks_of(text, chunk_tokens=10, overlap_tokens=10)


def test_unicode_is_cut_on_characters_and_estimated_high_enough():
    text = "Überprüfung der Größe: naïve café résumé. " * 80 + "中文字符测试。" * 200 + " 🎉🚀 done " * 100
    chunks = chunks_of(text)
    assert len(chunks) > 3
    assert "".join(text[c.start : c.end] for c in chunks).count("中") >= text.count("中")  # nothing lost
    tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
    tokenizer.no_truncation()
    for chunk in chunks:
        real = len(tokenizer.encode(chunk.of(text)).ids)
        assert real <= 256, (chunk, real)  # the model reads every window whole


def test_windows_of_logs_code_and_json_fit_the_model():
    from mcp_arena.core.tokens import TokenCounter
    from mcp_arena.lab.buried import SHAPES, long_result

    tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
    tokenizer.no_truncation()
    rng, counter = random.Random(9), TokenCounter()
    for shape in SHAPES:
        text, _ = long_result(rng, shape, 3_000, "a planted fact about the nightly invoice cron", counter.count)
        chunks = chunks_of(text)
        real = [len(e.ids) for e in tokenizer.encode_batch([c.of(text) for c in chunks])]
        assert max(real) <= 256, shape
        assert sum(real) / len(real) >= CHUNK_TOKENS * 0.6, shape  # and they are not needlessly small


# -- through the engine --------------------------------------------------------------------------------

FACT = "The nightly invoice cron now fires at two in the morning UTC instead of midnight."
PARAPHRASE = "when does the scheduled billing job run"


def server_log(lines: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        f"2026-03-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z INFO [worker-{rng.randint(1, 8)}] "
        f"{rng.choice(('GET', 'POST'))} /api/orders/{rng.randint(1, 9999)} {rng.choice((200, 201, 404))} {rng.randint(2, 900)}ms"
        for _ in range(lines)
    ]


def buried_log(lines: int = 400, at: float = 0.55, seed: int = 1) -> str:
    """A ~10k-token server log with the fact as one line at `at` of its depth."""
    log = server_log(lines, seed)
    log.insert(int(lines * at), f"2026-03-14T09:12:44Z INFO [ops] {FACT}")
    return "\n".join(log)


def call_and_result(text: str, tool: str = "Bash", command: str = "docker compose logs web") -> list[EventDraft]:
    return [
        EventDraft(kind="tool_call", text=json.dumps({"command": command}), tool=tool, call_id=command),
        EventDraft(kind="tool_result", text=text, tool=tool, call_id=command),
    ]


@pytest.fixture
def arena(home):
    arena = Arena(Settings(home=home, semantic=True, skill_dirs=[]))
    yield arena
    arena.close()


def fill(arena: Arena, session: str) -> int:
    """A short session around one long log with a buried fact; the seq of that log."""
    arena.ensure_session(session, origin="import", label="test")
    chatter = [EventDraft(kind="assistant", text=f"Next I look at the billing tests, step {i}.") for i in range(12)]
    chatter += [EventDraft(kind="tool_result", text="5 passed in 0.4s", tool="Bash", call_id=f"c{i}") for i in range(6)]
    chatter += [EventDraft(kind="user", text="Please check why the cart page is slow on mobile.")]
    events = arena.append(session, chatter[:10] + call_and_result(buried_log()) + chatter[10:])
    arena.store.flush()
    arena.search.index.catch_up(session)
    return next(e.seq for e in events if len(e.text) > 10_000)


def search(arena: Arena, session: str, query: str, **options):
    newest = max(r["seq"] for r in arena.store.events(session, columns=["seq"]))
    return arena.search.search(
        session, query, limit=options.pop("limit", 5), scope="all", squashed_ranges=[], before_seq=newest, max_tokens=600, **options
    )


def test_a_fact_buried_in_a_long_result_is_found_by_a_paraphrase_and_shown(arena):
    seq = fill(arena, "s")
    vectors = arena.store.tables["vectors"].search().where(f"seq = {seq} AND session = 's'").select(["chunk", "text"]).limit(None).to_arrow()
    numbers = sorted(vectors.column("chunk").to_pylist())
    assert len(numbers) > 20 and numbers == list(range(len(numbers)))  # the whole (0), then windows 1..n
    assert sum(FACT in text for text in vectors.column("text").to_pylist()) >= 1
    outcome = search(arena, "s", PARAPHRASE)
    hits = [hit.seq for hit in outcome.hits]
    assert seq in hits, [(h.seq, h.snippet[:60]) for h in outcome.hits]
    hit = outcome.hits[hits.index(seq)]
    assert "vector" in hit.via and "invoice cron" in hit.snippet  # the snippet is the matching window
    assert len(hits) == len(set(hits))  # the log's many windows count once


def test_filters_apply_to_chunk_hits(arena):
    seq = fill(arena, "s")
    assert seq not in [h.seq for h in search(arena, "s", PARAPHRASE, tools=["Read"]).hits]
    assert seq not in [h.seq for h in search(arena, "s", PARAPHRASE, kinds=["assistant"]).hits]
    assert seq not in [h.seq for h in search(arena, "s", PARAPHRASE, seq_max=seq - 1).hits]
    assert seq in [h.seq for h in search(arena, "s", PARAPHRASE, tools=["Bash"], seq_min=seq).hits]
    index = arena.search.index
    outcome = index.search(SearchFilter.of("s", exclude_tools=["Bash"]), PARAPHRASE, limit=5)
    assert seq not in [h.seq for h in outcome.hits]
    # Another session's log with the same fact is never seen from this one.
    other = fill(arena, "other")
    assert other not in [h.seq for h in search(arena, "s", PARAPHRASE).hits] or other == seq


def test_an_event_with_many_chunks_counts_once_and_leaves_room_for_others(arena):
    arena.ensure_session("s", origin="import", label="test")
    logs = [buried_log(lines=300, at=a, seed=i) for i, a in enumerate((0.1, 0.5, 0.9))]
    events = arena.append("s", [d for log in logs for d in call_and_result(log)])
    arena.store.flush()
    arena.search.index.catch_up("s")
    outcome = search(arena, "s", "server request log orders api", limit=5)
    hits = [h.seq for h in outcome.hits]
    assert len(hits) == len(set(hits))
    assert {e.seq for e in events if e.kind == "tool_result"} <= set(hits)  # three long logs, each once


# -- the schema: an old store's vectors table gets the chunk column ----------------------------------------


def test_a_store_whose_vectors_have_no_chunk_column_is_migrated_and_searched(home, tmp_path):
    database = home / "arena.lancedb"
    old = Arena(Settings(home=home, semantic=True, skill_dirs=[]))
    try:
        old.ensure_session("s", origin="import", label="test")
        old.append("s", [EventDraft(kind="assistant", text="Redis is the session store; TTL set to 30 minutes.")])
        old.store.flush()
    finally:
        old.close()
    # Make it the store of version 1: a vectors table without the chunk column, holding one event's vector.
    db = lancedb.connect(database)
    db.drop_table("vectors")
    v1 = pa.schema([f for f in VECTORS if f.name != "chunk"])
    table = db.create_table("vectors", schema=v1)
    from mcp_arena.search.embedder import Embedder

    vector = Embedder(threads=1).embed(["Redis is the session store; TTL set to 30 minutes."])[0]
    table.add(pa.table({"session": ["s"], "seq": [0], "kind": ["assistant"], "tool": [""], "vector": [vector.tolist()],
                        "text": ["Redis is the session store; TTL set to 30 minutes."]}, schema=v1))
    migrations = db.open_table("migrations")
    migrations.delete("version >= 2")
    assert "chunk" not in db.open_table("vectors").schema.names

    store = Store(str(database), home / "locks")
    try:
        assert store.schema_version() == SCHEMA_VERSION == 2
        assert "chunk" in store.tables["vectors"].schema.names
        assert store.tables["vectors"].to_arrow().column("chunk").to_pylist() == [0]
        assert store.migrate() == 2  # idempotent: nothing left to run
        from mcp_arena.engine.store import _add_vector_chunks

        _add_vector_chunks(store)  # a second process running the step again changes nothing
    finally:
        store.close()

    arena = Arena(Settings(home=home, semantic=True, skill_dirs=[]))
    try:
        seq = fill(arena, "s")
        assert arena.search.index.catch_up("s") == 0
        outcome = search(arena, "s", PARAPHRASE)
        assert seq in [h.seq for h in outcome.hits]
        old_hit = search(arena, "s", "which cache keeps user logins and for how long")
        assert 0 in [h.seq for h in old_hit.hits]  # the row from before the migration is still found
    finally:
        arena.close()


def test_the_words_of_a_buried_fact_find_its_window_by_full_text_under_the_filters(arena):
    seq = fill(arena, "s")
    arena.store.maintain(["vectors"])  # the owner's maintenance builds the windows' full-text index
    index = arena.search.index
    index._ensure_windows_index()
    assert index._windows_ready
    outcome = search(arena, "s", "invoice cron midnight")
    assert outcome.hits[0].seq == seq and "fulltext" in outcome.hits[0].via
    assert "invoice cron" in outcome.hits[0].snippet and "GET /api" not in outcome.hits[0].snippet[:20]
    windows = index._windows_leg(index.vectors, "invoice cron midnight", SearchFilter.of("s"), 20)
    assert windows and all(row["chunk"] >= 1 for row in windows) and windows[0]["seq"] == seq
    assert index._windows_leg(index.vectors, "invoice cron midnight", SearchFilter.of("s", tools=["Read"]), 20) == []
    assert index._windows_leg(index.vectors, "invoice cron midnight", SearchFilter.of("s", seq_max=seq - 1), 20) == []
    assert index._windows_leg(index.vectors, "invoice cron midnight", SearchFilter.of("other"), 20) == []
    assert seq not in [h.seq for h in search(arena, "s", "invoice cron midnight", kinds=["assistant"]).hits]


def test_a_vectors_table_without_the_chunk_column_is_still_written_and_searched(tmp_path):
    from mcp_arena.engine.store import EVENTS, build_fulltext_index
    from mcp_arena.search.embedder import Embedder
    from mcp_arena.search.index import SearchIndex
    from mcp_arena.search.tables import RecallTables

    db = lancedb.connect(tmp_path / "db")
    events = db.create_table("events", schema=EVENTS)
    texts = [("assistant", "", "Redis is the session store; TTL set to 30 minutes."), ("tool_result", "Bash", buried_log(lines=200))]
    events.add([{"session": "s", "seq": i, "kind": k, "tool": t, "text": x, "tokens": len(x) // 4, "is_error": False, "source": "self",
                 "call_id": "", "ts": 1.0, "meta": ""} for i, (k, t, x) in enumerate(texts)])
    old = db.create_table("vectors", schema=pa.schema([f for f in VECTORS if f.name != "chunk"]))
    index = SearchIndex(RecallTables(events, old, build_fulltext_index=lambda: build_fulltext_index(events)),
                        embedder=Embedder(threads=1), start_worker=False)
    try:
        assert not index.vectors.has_chunk and index.catch_up("s") == 2
        assert old.count_rows() == 2  # one row per event, as before chunks
        assert 0 in [h.seq for h in index.search("s", "which cache keeps user logins and for how long", limit=2).hits]
        assert 1 in [h.seq for h in index.search("s", "invoice cron", limit=2).hits]  # its whole text, by full text
    finally:
        index.close()
