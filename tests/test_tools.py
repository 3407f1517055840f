"""The six tools through a real in-process MCP client: behaviour and clear errors."""

from __future__ import annotations

import pytest
from mcp import Client

from mcp_arena import Settings, build_server
from tests.helpers import fails, ok, text_of

pytestmark = pytest.mark.anyio

SUMMARY = """## Session Intent
Fix login expiry.
## Files Modified
- src/auth/jwt.py: exp in seconds
## Decisions Made
- keep PyJWT
## Current State
12 tests pass
## Next Steps
run the full suite
"""


@pytest.fixture
async def client(settings: Settings):
    async with Client(build_server(settings)) as connected:
        yield connected


async def test_lists_six_tools_with_read_only_hints(client: Client):
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert sorted(tools) == ["artifact_index", "context_status", "load_skill", "memory_search", "squash", "tag"]
    assert tools["context_status"].annotations.read_only_hint is True
    assert tools["memory_search"].annotations.read_only_hint is True
    assert tools["squash"].annotations.read_only_hint is not True
    assert tools["squash"].annotations.destructive_hint is False  # it appends, never rewrites
    for tool in tools.values():
        assert "session" in tool.input_schema["properties"]


async def test_status_shows_session_source_zone_and_advice(client: Client):
    result = await ok(client, "context_status")
    status = result.structured_content
    assert status["source"] == "estimate"
    assert "cannot see" in status["source_note"]
    assert status["session"] in text_of(result)
    assert status["zone"] == "below"

    reported = (await ok(client, "context_status", used_tokens=120_000, window_tokens=200_000)).structured_content
    assert (reported["source"], reported["usage_pct"], reported["zone"]) == ("reported", 60.0, "inside")
    assert reported["next_stage"] == {"stage": 1, "name": "soft trim", "threshold_pct": 80.0, "tokens_away": 40_000}
    assert reported["session"] == status["session"]

    high = (await ok(client, "context_status", used_tokens=150_000, window_tokens=200_000)).structured_content
    assert high["zone"] == "above" and high["advice"] == "tag now"  # nothing tagged yet, so nothing to squash

    later = (await ok(client, "context_status")).structured_content
    assert later["source"] == "estimate" and later["used_tokens"] >= 150_000  # grows from the last report


async def test_status_advises_squash_above_zone_after_a_tag(client: Client):
    await ok(client, "tag", name="work")
    await ok(client, "artifact_index", record=[{"path": "a.py", "action": "read"}])
    status = (await ok(client, "context_status", used_tokens=160_000, window_tokens=200_000)).structured_content
    assert status["advice"] == "squash now"
    assert status["steps_since_tag"] == 2  # artifact_index and this call
    assert status["last_tag"] == "work"
    beyond = (await ok(client, "context_status", used_tokens=175_000, window_tokens=200_000)).structured_content
    assert beyond["stage_reached"] == 2 and beyond["next_stage"]["stage"] == 3


async def test_bad_usage_numbers_are_errors_naming_the_fix(client: Client):
    assert "between 0 and" in await fails(client, "context_status", used_tokens=-1)
    assert "exceeds window_tokens" in await fails(client, "context_status", used_tokens=300_000, window_tokens=200_000)
    assert "window_tokens needs used_tokens" in await fails(client, "context_status", window_tokens=100_000)
    assert "between 1,000 and" in await fails(client, "context_status", used_tokens=10, window_tokens=10)
    assert "between 0 and" in await fails(client, "context_status", used_tokens=10**12, window_tokens=200_000)


async def test_tag_names_and_duplicates(client: Client):
    result = await ok(client, "tag", name="auth-refactor", note="start of the auth work")
    assert result.structured_content["tags_in_session"] == 1
    assert "Tagged 'auth-refactor' at seq" in text_of(result) and "start of the auth work" in text_of(result)
    duplicate = await fails(client, "tag", name="auth-refactor")
    assert "already exists" in duplicate and "auth-refactor" in duplicate and "'auth-refactor-2'" in duplicate
    for bad in ("", "has space", "x" * 65, "semi;colon", "quote'd"):
        assert "invalid tag name" in await fails(client, "tag", name=bad)
    assert "under 500" in await fails(client, "tag", name="long-note", note="n" * 600)


async def test_squash_releases_range_and_returns_anchored_summary(client: Client):
    await ok(client, "tag", name="jwt")
    await ok(client, "artifact_index", record=[{"path": "src/auth/jwt.py", "action": "modified", "note": "exp fix"}])
    await ok(client, "artifact_index", record=[{"path": "tests/test_jwt.py", "action": "created"}])
    result = await ok(client, "squash", summary=SUMMARY)
    squashed = result.structured_content
    assert squashed["tag"] == "jwt" and squashed["backup_tag"] == "jwt@backup"
    assert squashed["tokens_before"] > squashed["tokens_after"] > 0
    assert squashed["from_seq"] < squashed["to_seq"]
    assert "## Session Intent" in squashed["anchored_summary"]
    assert "tests/test_jwt.py" in squashed["filled_from_trail"]  # the summary forgot it; the trail did not
    assert "tests/test_jwt.py" in squashed["anchored_summary"]
    status = (await ok(client, "context_status")).structured_content
    assert status["squashes"] == 1 and status["tokens_freed"] > 0
    assert status["live_tokens"] < status["logged_tokens"]


async def test_squash_errors_name_the_tags(client: Client):
    assert "no tag in this session yet" in await fails(client, "squash", summary="done")
    await ok(client, "tag", name="first")
    await ok(client, "context_status")
    unknown = await fails(client, "squash", summary="done", from_tag="nope")
    assert "unknown tag 'nope'" in unknown and "first" in unknown
    assert "summary is empty" in await fails(client, "squash", summary="   ")
    assert "limit is" in await fails(client, "squash", summary="word " * 5000)
    await ok(client, "squash", summary="all done")
    await ok(client, "tag", name="second")
    assert "nothing to squash" in await fails(client, "squash", summary="again")


async def test_load_skill_catalog_guide_and_unknown(client: Client):
    catalog = await ok(client, "load_skill")
    names = [info["name"] for info in catalog.structured_content["catalog"]]
    assert "tag-and-squash" in names and "context-status" in names
    guide = await ok(client, "load_skill", name="tag-and-squash")
    assert "Session Intent" in text_of(guide)
    unknown = await fails(client, "load_skill", name="no-such-skill")
    assert "tag-and-squash" in unknown


async def test_artifact_index_groups_and_filters(client: Client):
    written = await ok(client, "artifact_index", record=[
        {"path": "src/a.py", "action": "created", "note": "new module"},
        {"path": "src/a.py", "action": "modified"},
        {"path": "README.md", "action": "read"},
        {"path": "src/b.py", "action": "read"},
        {"path": "src/b.py", "action": "modified", "note": "bug fix"},
        {"path": "old.txt", "action": "deleted"},
    ])
    assert written.structured_content["recorded"] == 6 and not written.structured_content["listed"]
    assert "Recorded 6 file action(s)" in text_of(written) and "src/a.py created" in text_of(written)
    trail = (await ok(client, "artifact_index")).structured_content
    assert [e["path"] for e in trail["created"]] == ["src/a.py"]
    assert [e["path"] for e in trail["read_only"]] == ["README.md"]
    assert "src/b.py" in [e["path"] for e in trail["modified"]]
    assert [e["path"] for e in trail["deleted"]] == ["old.txt"]
    only_src = (await ok(client, "artifact_index", path="src/*")).structured_content
    assert "README.md" not in str(only_src) and "src/a.py" in str(only_src)
    assert "unknown action" in await fails(client, "artifact_index", action="exploded")
    assert "action" in await fails(client, "artifact_index", record=[{"path": "x", "action": "renamed"}])
    assert "path must be" in await fails(client, "artifact_index", record=[{"path": "", "action": "read"}])


async def test_memory_search_validates_and_finds(client: Client):
    await ok(client, "tag", name="t", note="investigating the flaky websocket reconnect")
    found = (await ok(client, "memory_search", query="websocket reconnect")).structured_content
    assert found["hits"] and found["hits"][0]["kind"] == "tool_call"
    assert "after tag" in found["hits"][0]["where"] or "live" in found["hits"][0]["where"]
    assert "unknown scope" in await fails(client, "memory_search", query="x", scope="everything")
    assert "query is empty" in await fails(client, "memory_search", query="  ")
    assert "limit must be" in await fails(client, "memory_search", query="x", limit=0)


async def test_explicit_new_and_invalid_sessions(client: Client):
    mine = (await ok(client, "context_status")).structured_content["session"]
    started = text_of(await ok(client, "context_status", session="never-created"))
    assert "new session 'never-created' started" in started and mine in started  # a typo is visible
    assert "new session" not in text_of(await ok(client, "context_status", session="never-created"))
    assert "invalid session id" in await fails(client, "tag", name="x", session="bad session'; drop")


async def test_every_call_and_result_is_logged_with_tokens(settings: Settings):
    from mcp_arena.engine.arena import Arena

    arena = Arena(settings)
    try:
        async with Client(build_server(settings, arena=arena)) as client:
            session = (await ok(client, "context_status")).structured_content["session"]
            await fails(client, "tag", name="bad name")
        events = arena.store.events(session)
        kinds = [(e["kind"], e["tool"], e["is_error"]) for e in events if e["kind"] != "guide"]
        assert kinds == [
            ("tool_call", "context_status", False),
            ("tool_result", "context_status", False),
            ("tool_call", "tag", False),
            ("tool_result", "tag", True),
        ]
        assert [e["seq"] for e in events] == list(range(len(events)))
        assert all(e["tokens"] > 0 for e in events if e["text"])
    finally:
        arena.close()


async def test_turns_left_follow_reported_growth(client: Client):
    unknown = (await ok(client, "context_status")).structured_content
    assert unknown["turns_left"] is None  # no completed step yet: no rate to extrapolate
    await ok(client, "context_status", used_tokens=100_000, window_tokens=200_000)
    await ok(client, "tag", name="a")
    status = (await ok(client, "context_status", used_tokens=110_000, window_tokens=200_000)).structured_content
    # 10,000 tokens over 2 steps between the reports: 5,000 per turn; 50,000 to stage 1 at 80%
    assert status["tokens_per_turn"] == 5_000 and status["turns_left"] == 10


async def test_artifact_index_is_bounded_and_says_how_to_narrow(home):
    settings = Settings(home=home, semantic=False, artifact_max_entries=3)
    async with Client(build_server(settings)) as client:
        records = [{"path": f"src/m{i:02d}.py", "action": "modified"} for i in range(8)]
        await ok(client, "artifact_index", record=records)
        result = await ok(client, "artifact_index")
        trail = result.structured_content
        assert trail["totals"]["modified"] == 8
        assert [e["path"] for e in trail["modified"]] == ["src/m05.py", "src/m06.py", "src/m07.py"]
        assert "8, the 3 most recent shown" in text_of(result) and "path=" in text_of(result)
        assert trail["more"] == 5 and "5 more — narrow with" in text_of(result)
        narrowed = (await ok(client, "artifact_index", path="src/m0[12].py")).structured_content
        assert [e["path"] for e in narrowed["modified"]] == ["src/m01.py", "src/m02.py"]


async def test_zone_text_follows_the_configured_bounds(home):
    settings = Settings(home=home, semantic=False, zone_low=0.3, zone_high=0.6)
    async with Client(build_server(settings)) as client:
        result = await ok(client, "context_status", used_tokens=65_000, window_tokens=100_000)
        assert result.structured_content["zone"] == "above"
        assert "above the Goldilocks zone (30–60%)" in text_of(result)


async def test_memory_search_filters_and_leaves_out_the_arenas_own_pages(settings: Settings):
    from mcp_arena.core.events import EventDraft
    from mcp_arena.engine.arena import Arena

    arena = Arena(settings)
    try:
        async with Client(build_server(settings, arena=arena)) as client:
            first = await ok(client, "context_status")  # the context-status guide comes attached
            assert "--- skill: context-status" in text_of(first)
            session = first.structured_content["session"]
            await ok(client, "load_skill", name="memory-search")
            start = arena.append(session, [
                EventDraft(kind="tool_call", tool="Bash", text='{"command": "pytest tests/auth -q"}'),
                EventDraft(kind="tool_result", tool="Bash", text="FAILED tests/auth/test_jwt.py::test_expiry - token expired at once"),
                EventDraft(kind="assistant", text="The token expiry is in milliseconds where seconds are expected."),
            ])[0].seq

            # The guides' own wording (the dashboard fields they explain) is not recalled by default...
            default = (await ok(client, "memory_search", query="Goldilocks zone usage source estimate", limit=10)).structured_content
            assert default["hits"] and {h["kind"] for h in default["hits"]} <= {"tool_call", "tool_result"}
            assert not any(h["tool"] == "load_skill" or h["kind"] == "guide" for h in default["hits"])
            # ...but stays reachable by asking for it.
            guides = (await ok(client, "memory_search", query="Goldilocks zone", kinds=["guide"])).structured_content
            assert guides["hits"] and {h["kind"] for h in guides["hits"]} == {"guide"}
            skill = (await ok(client, "memory_search", query="paging history back in", tools=["load_skill"])).structured_content
            assert skill["hits"] and {h["tool"] for h in skill["hits"]} == {"load_skill"}

            bash = await ok(client, "memory_search", query="token expiry", tools=["Bash"])
            assert {h["tool"] for h in bash.structured_content["hits"]} == {"Bash"}
            assert "tools Bash" in text_of(bash)
            said = (await ok(client, "memory_search", query="token expiry", kinds=["assistant"])).structured_content
            assert [h["seq"] for h in said["hits"]] == [start + 2]
            ranged = (await ok(client, "memory_search", query="token expiry tests", from_seq=start, to_seq=start + 1)).structured_content
            assert ranged["hits"] and {h["seq"] for h in ranged["hits"]} <= {start, start + 1}

            assert "unknown kind 'thought'; use any of: user, assistant" in await fails(client, "memory_search", query="x", kinds=["thought"])
            assert "swap them" in await fails(client, "memory_search", query="x", from_seq=9, to_seq=3)
            assert "0 or more" in await fails(client, "memory_search", query="x", from_seq=-1)
    finally:
        arena.close()
