"""Sessions a client names: a new name starts a session (and says so, with the recent ones, so a
typo is visible); malformed names stay errors; named sessions never see each other's rows."""

from __future__ import annotations

import re
import threading

import pytest
from mcp import Client

from mcp_arena import Settings, build_server
from mcp_arena.core import sessions
from mcp_arena.errors import InvalidArgument
from tests.helpers import fails, ok, text_of

pytestmark = pytest.mark.anyio


@pytest.fixture
def arena(settings: Settings):
    from mcp_arena.engine.arena import Arena

    arena = Arena(settings)
    yield arena
    arena.close()


async def test_a_new_name_starts_a_session_and_says_so(settings: Settings, arena):
    async with Client(build_server(settings, arena=arena)) as client:
        first = text_of(await ok(client, "tag", name="start", session="agent-1"))
        assert "new session 'agent-1' started" in first
        again = text_of(await ok(client, "context_status", session="agent-1"))
        assert "new session" not in again
        typo = text_of(await ok(client, "context_status", session="agent-l"))
        assert "new session 'agent-l' started; did you mean 'agent-1'?" in typo
        assert "recent sessions: agent-1" in typo
    rows = [row["session"] for row in arena.store.sessions()]
    assert rows.count("agent-1") == 1 and rows.count("agent-l") == 1
    # the notice is part of the logged result: token counts stay true
    results = [e for e in arena.store.events("agent-l") if e["kind"] == "tool_result"]
    assert "new session 'agent-l' started" in results[0]["text"]


async def test_the_notice_lists_a_bounded_number_of_recent_sessions(settings: Settings, arena):
    async with Client(build_server(settings, arena=arena)) as client:
        for number in range(12):
            await ok(client, "context_status", session=f"worker-{number:02d}")
        notice = text_of(await ok(client, "context_status", session="fresh"))
    listed = re.search(r"recent sessions: ([^)]*)\)", notice).group(1).split(", ")
    assert listed == [f"worker-{n:02d}" for n in range(11, 11 - sessions.RECENT_SHOWN, -1)]  # newest first


async def test_malformed_names_stay_errors_and_start_nothing(settings: Settings, arena):
    async with Client(build_server(settings, arena=arena)) as client:
        for bad in ("has space", "x" * 129, "trailing\n", "semi;colon", "a/b", "../etc", "quote'd", "nul\x00"):
            assert "invalid session id" in await fails(client, "context_status", session=bad)
    assert arena.store.sessions() == []


async def test_named_sessions_are_isolated(settings: Settings, arena):
    async with Client(build_server(settings, arena=arena)) as one, Client(build_server(settings, arena=arena)) as two:
        await ok(one, "tag", name="secret", note="the launch code is tangerine", session="agent-a")
        await ok(two, "tag", name="plain", note="nothing to see", session="agent-b")
        found = (await ok(two, "memory_search", query="launch code tangerine", session="agent-b")).structured_content
        assert found["hits"] == [] or all("tangerine" not in hit["snippet"] for hit in found["hits"])
        trail = (await ok(two, "artifact_index", session="agent-b")).structured_content
        assert trail["session"] == "agent-b"
        mine = (await ok(one, "memory_search", query="launch code tangerine", session="agent-a")).structured_content
        assert any("tangerine" in hit["snippet"] for hit in mine["hits"])


def test_two_threads_naming_one_new_session_start_it_once(arena):
    started: list[bool] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        started.append(arena._session_for_call("race", "")[1])

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(started) == [False, False, False, True]
    assert [row["session"] for row in arena.store.sessions()] == ["race"]


def test_principals_have_disjoint_namespaces(arena):
    assert arena.resolve_session("work", principal="alice") == ("alice/work", True)
    assert arena.resolve_session("alice/work", principal="alice") == ("alice/work", True)  # its own id, as results show it
    for foreign in ("bob/work", "alice/work/x", "/work"):
        with pytest.raises(InvalidArgument, match="invalid session id"):
            arena.resolve_session(foreign, principal="alice")
    with pytest.raises(InvalidArgument, match="invalid session id"):
        arena.resolve_session("alice/work")  # the owner cannot spell a principal's id either
    default, named = arena.resolve_session(None, "conn-1", principal="alice")
    assert default.startswith("alice/") and not named
    assert sessions.recent(["a", "alice/x", "bob/y", "alice/z"], "alice") == ["alice/z", "alice/x"]
    assert sessions.recent(["a", "alice/x", "b"]) == ["b", "a"]
