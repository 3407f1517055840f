"""State lives in LanceDB: it survives a restart, and two processes share a home without losing events."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mcp import Client

from mcp_arena import Settings, build_server
from mcp_arena.engine.arena import Arena
from tests.helpers import ok

pytestmark = pytest.mark.anyio


async def test_restart_shows_same_sessions_tags_squashes_and_artifacts(settings: Settings):
    async with Client(build_server(settings)) as client:
        session = (await ok(client, "context_status", used_tokens=90_000, window_tokens=200_000)).structured_content["session"]
        await ok(client, "tag", name="before-restart")
        await ok(client, "artifact_index", record=[{"path": "kept.py", "action": "created"}])
        await ok(client, "squash", summary="## Decisions Made\n- survive restarts")
        before = (await ok(client, "context_status", session=session)).structured_content

    async with Client(build_server(settings)) as client:  # a new server process's view: fresh engine, same home
        after = (await ok(client, "context_status", session=session)).structured_content
        trail = (await ok(client, "artifact_index", session=session)).structured_content
        assert [e["path"] for e in trail["created"]] == ["kept.py"]
        assert after["last_tag"] == "before-restart"
        assert after["squashes"] == 1 and after["tokens_freed"] == before["tokens_freed"]
        assert after["steps"] == before["steps"] + 1
        squashed = await ok(client, "squash", summary="more", from_tag="before-restart", session=session)
        assert "survive restarts" in squashed.structured_content["anchored_summary"]


WRITER = textwrap.dedent(
    """
    import sys
    from mcp_arena import Settings
    from mcp_arena.engine.arena import Arena
    from mcp_arena.core.events import EventDraft
    arena = Arena(Settings(semantic=False))
    arena.ensure_session("shared")
    for i in range(int(sys.argv[2])):
        arena.append("shared", [EventDraft(kind="note", text=f"{sys.argv[1]} event {i}")])
    arena.close()
    """
)


def test_two_processes_lose_and_duplicate_no_events(settings: Settings, home: Path):
    per_writer = 60
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, name, str(per_writer)], stderr=subprocess.PIPE)
        for name in ("alpha", "beta")
    ]
    for writer in writers:
        assert writer.wait(timeout=240) == 0, writer.stderr.read().decode()
    arena = Arena(settings)
    try:
        rows = arena.store.events("shared")
    finally:
        arena.close()
    assert [row["seq"] for row in rows] == list(range(2 * per_writer))  # dense, no gaps, no duplicates
    texts = [row["text"] for row in rows]
    assert sorted(texts) == sorted(f"{name} event {i}" for name in ("alpha", "beta") for i in range(per_writer))
    for name in ("alpha", "beta"):  # each writer's own order is kept
        mine = [t for t in texts if t.startswith(name)]
        assert mine == [f"{name} event {i}" for i in range(per_writer)]


def test_caller_strings_never_break_filters(settings: Settings):
    arena = Arena(settings)
    try:
        tricky = "it's\" OR 1=1 --"
        arena.ensure_session("plain")
        from mcp_arena.core.events import EventDraft

        arena.append("plain", [EventDraft(kind="note", text=tricky)])
        with pytest.raises(Exception, match="invalid session id"):
            arena.resolve_session("x' OR session != '", "")
        assert arena.store.has_session("plain' OR '1'='1") is False
        assert arena.store.events("plain' OR '1'='1") == []
        assert json.dumps(arena.store.events("plain")[0]["text"]) == json.dumps(tricky)
    finally:
        arena.close()


# -- the store: schema version, migrations, one maintenance schedule --------------------------------


def _recorded_versions(uri: str) -> list[int]:
    import lancedb

    return sorted(lancedb.connect(uri).open_table("migrations").to_arrow().column("version").to_pylist())


def test_a_new_store_records_the_current_schema_version_once(tmp_path: Path):
    from mcp_arena.engine import store as store_module

    uri = str(tmp_path / "arena.lancedb")
    store = store_module.Store(uri, tmp_path / "locks")
    assert store.schema_version() == store_module.SCHEMA_VERSION == 2
    assert set(store_module.SCHEMAS) <= set(store.db.list_tables().tables)  # the search's vectors table too
    assert set(store.tables) == set(store_module.SCHEMAS)
    store_module.Store(uri, tmp_path / "locks")  # a second open: nothing to migrate
    assert _recorded_versions(uri) == [1, 2]


def test_a_store_from_before_schema_versions_is_migrated_on_open(tmp_path: Path):
    import lancedb

    from mcp_arena.engine import store as store_module

    uri = str(tmp_path / "arena.lancedb")
    old = lancedb.connect(uri)  # version 0: some tables, no record of a version
    old.create_table("events", schema=store_module.EVENTS)
    old.create_table("tags", schema=store_module.TAGS).add(
        [{"session": "s", "name": "kept", "seq": 0, "note": "", "origin": "agent", "ts": 1.0}]
    )
    store = store_module.Store(uri, tmp_path / "locks")
    assert store.schema_version() == store_module.SCHEMA_VERSION
    assert {"vectors", "feed_state", "sessions", "migrations"} <= set(store.db.list_tables().tables)
    assert "chunk" in store.tables["vectors"].schema.names
    assert [row["name"] for row in store.rows("tags", "s")] == ["kept"]


def test_migration_steps_run_in_order_from_the_recorded_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from mcp_arena.engine import store as store_module

    uri = str(tmp_path / "arena.lancedb")
    store_module.Store(uri, tmp_path / "locks")  # at version 2
    ran: list[int] = []
    steps = (*store_module.STEPS, (3, "third", lambda store: ran.append(3)), (4, "fourth", lambda store: ran.append(4)))
    monkeypatch.setattr(store_module, "STEPS", steps)
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 4)
    assert store_module.Store(uri, tmp_path / "locks").schema_version() == 4
    assert ran == [3, 4]
    store_module.Store(uri, tmp_path / "locks")
    assert ran == [3, 4]  # each step once
    assert _recorded_versions(uri) == [1, 2, 3, 4]


def test_vector_appends_bring_the_vectors_table_due_on_the_store_schedule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from mcp_arena.engine.store import Store

    store = Store(str(tmp_path / "arena.lancedb"), tmp_path / "locks", optimize_every=100)
    started: list[tuple[str, ...]] = []
    monkeypatch.setattr(store, "maintain_in_background", lambda names: started.append(tuple(names)))
    store.vectors_added(60)
    assert started == []
    store.vectors_added(60)
    assert started == [("vectors",)]


def test_feed_state_is_kept_by_the_store_and_the_newest_row_wins(tmp_path: Path):
    from mcp_arena.engine.store import Store

    store = Store(str(tmp_path / "arena.lancedb"), tmp_path / "locks")
    assert store.newest_feed_state("s", "ingest") is None
    first = store.save_feed_state("s", "ingest", {"events": 3})
    store.save_feed_state("s", "ingest", {"events": 5})
    store.save_feed_state("s", "other", {"events": 9})
    state, ts = store.newest_feed_state("s", "ingest")
    assert state == {"events": 5} and ts >= first
    assert store.newest_feed_state("s", "ingest", after_ts=ts) is None
