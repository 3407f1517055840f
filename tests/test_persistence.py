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
        assert "survive restarts" in (await ok(client, "squash", summary="more", from_tag="before-restart", session=session)).structured_content["anchored_summary"]


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
