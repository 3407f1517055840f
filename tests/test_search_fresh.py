"""Rows the full-text index does not cover yet: held, trusted, ranked (pure), and searched (real LanceDB)."""

from __future__ import annotations

from mcp_arena.core.events import EventDraft
from mcp_arena.engine.arena import Arena
from mcp_arena.search.fresh import FreshRow, FreshRows, bm25_order, interleave


def test_fresh_rows_are_trusted_only_once_the_index_reaches_where_tracking_began():
    fresh = FreshRows()
    fresh.add("s", 10, [(5, "note", "", "alpha")])
    assert fresh.rows_for("s") is None  # rows from before version 10 may be unindexed and unknown
    fresh.indexed(9)
    assert [row.seq for row in fresh.rows_for("s")] == [5]
    fresh.add("s", 11, [(6, "note", "", "beta")])
    fresh.indexed(10)
    assert [row.seq for row in fresh.rows_for("s")] == [6]
    fresh.indexed(8)  # an older optimize reporting late changes nothing
    assert [row.seq for row in fresh.rows_for("s")] == [6]
    fresh.forget("s")  # another writer appended: unknown again
    assert fresh.rows_for("s") is None
    fresh.add("s", 14, [(8, "note", "", "gamma")])
    assert fresh.rows_for("s") is None and fresh.watermark == 10


def test_fresh_rows_are_trusted_when_the_index_leaves_out_just_the_rows_held():
    fresh = FreshRows()
    fresh.add("s", 10, [(5, "note", "", "alpha"), (6, "note", "", "beta")])
    assert fresh.tracks("s") and not fresh.tracks("t")
    assert not fresh.trust_if_all_held(3) and fresh.rows_for("s") is None  # a row held nowhere here
    assert fresh.trust_if_all_held(2)
    assert [row.seq for row in fresh.rows_for("s")] == [5, 6]
    fresh.indexed(10)
    assert fresh.rows_for("s") == []


def test_fresh_rows_stop_being_held_past_the_bound():
    fresh = FreshRows(max_rows=3)
    fresh.indexed(0)
    fresh.add("s", 1, [(0, "note", "", "a"), (1, "note", "", "b")])
    fresh.add("t", 1, [(0, "note", "", "c")])
    assert fresh.rows_for("s") is not None
    fresh.add("s", 3, [(2, "note", "", "d")])
    assert fresh.rows_for("s") is None and [row.seq for row in fresh.rows_for("t")] == [0]
    by_size = FreshRows(max_chars=10)
    by_size.indexed(0)
    by_size.add("s", 1, [(0, "note", "", "12345678")])
    assert by_size.rows_for("s") is not None
    by_size.add("s", 1, [(1, "note", "", "123")])
    assert by_size.rows_for("s") is None
    by_size.add("t", 1, [(0, "note", "", "1234567890")])  # the dropped session's text no longer counts
    assert by_size.rows_for("t") is not None


def _row(seq: int, text: str) -> FreshRow:
    return FreshRow(seq, 1, "note", "", text)


def test_bm25_prefers_rare_terms_and_more_of_the_query():
    rows = [
        _row(0, "ran pytest: all passed"),
        _row(1, "redis_client timeouts under pytest"),
        _row(2, "pytest failing"),
        _row(3, "nginx restarted"),
    ]
    assert bm25_order("redis timeout", rows) == [1]  # snake_case split, plural stemmed
    assert bm25_order("pytest timeout", rows)[0] == 1  # the rare term decides
    assert bm25_order("pytest", rows) == [2, 0, 1]  # shorter rows first, then by seq
    assert bm25_order("the of", rows) == [] and bm25_order("x", []) == []


def test_interleave_alternates_and_keeps_each_seq_once():
    assert interleave([1, 2, 3], [9, 2]) == [1, 9, 2, 3]
    assert interleave([], [4, 5]) == [4, 5]
    assert interleave([7], []) == [7]


def _first_process(settings, *, maintain: bool) -> str:
    """A session whose full-text index exists, left fully indexed (maintain) or not; its id."""
    first = Arena(settings)  # full text only (the fixture's setting): the leg under test
    try:
        session = first.context_status().structured["session"]
        first.store.flush()  # committed: the first search builds the full-text index over it
        assert first.memory_search("dashboard", limit=3, session=session).structured["hits"]
        if maintain:
            first.store.maintain()
        return session
    finally:
        first.close()


def _append_and_find(arena: Arena, session: str, marker: str) -> str:
    """Log a command's output naming `marker`, search for it; which full-text path found it."""
    arena.append(session, [EventDraft(kind="tool_result", tool="Bash", text=f"{marker} deploy finished: 3 pods restarted")])
    arena.store.flush()  # committed (uncommitted rows are ranked from the journal, `test_journal.py`): held as fresh
    found = arena.memory_search(f"{marker} pods", limit=3, session=session).structured
    assert found["hits"][0]["tool"] == "Bash" and marker in found["hits"][0]["snippet"]
    return arena.search.index._last_fulltext_path


def test_a_new_process_trusts_its_fresh_rows_once_the_store_updated_the_index(settings):
    session = _first_process(settings, maintain=False)
    arena = Arena(settings)  # the full-text index exists but leaves rows out: which, it can't know
    try:
        arena.search.prepare()
        assert _append_and_find(arena, session, "numbat-7") == "all fragments"
        arena.store.maintain()  # tells the search index the version its full-text index reached
        assert _append_and_find(arena, session, "wallaby-3") == "indexed+fresh"
    finally:
        arena.close()


def test_a_new_process_finding_everything_indexed_trusts_its_fresh_rows_at_once(settings):
    session = _first_process(settings, maintain=True)
    arena = Arena(settings)
    try:
        arena.search.prepare()  # the server does this at start
        assert _append_and_find(arena, session, "numbat-7") == "indexed+fresh"
    finally:
        arena.close()


def test_a_server_start_brings_lagging_indexes_up_to_date_and_trusts_fresh_rows_after(settings):
    session = _first_process(settings, maintain=False)
    arena = Arena(settings)
    try:
        assert arena.store.indexes_lag()  # the first process appended after its index was built
        arena.prepare_for_calls()  # what the server does right after start
        arena.store.wait_for_maintenance()
        assert not arena.store.indexes_lag()
        assert _append_and_find(arena, session, "numbat-7") == "indexed+fresh"
    finally:
        arena.close()
