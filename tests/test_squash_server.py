"""Anchored iterative summaries through the real server: three merges, overlap, host compaction, undo."""

from __future__ import annotations

import pytest
from mcp import Client

from mcp_arena import Settings, build_server
from mcp_arena.core.events import EventDraft
from mcp_arena.engine.arena import Arena
from tests.helpers import ok

pytestmark = pytest.mark.anyio


@pytest.fixture
def arena(settings: Settings):
    engine = Arena(settings.model_copy(update={"session": "squashes"}))
    yield engine
    engine.close()


@pytest.fixture
async def client(arena: Arena):
    async with Client(build_server(arena.settings, arena=arena)) as connected:
        yield connected


async def work(client: Client, path: str, action: str = "modified") -> None:
    await ok(client, "artifact_index", record=[{"path": path, "action": action}])


async def test_three_squashes_keep_intent_accumulate_and_take_the_newest_state(client: Client):
    await ok(client, "tag", name="one")
    await work(client, "src/a.py")
    first = await ok(client, "squash", summary=(
        "## Session Intent\nMake checkout fast.\n## Files Modified\n- src/a.py: cache prices\n"
        "## Decisions Made\n- Redis for the cache: already deployed\n## Current State\nprofiling\n## Next Steps\n1. cache"))
    await ok(client, "tag", name="two")
    await work(client, "src/b.py")
    await work(client, "src/forgotten.py", "created")
    second = await ok(client, "squash", summary=(
        "## Files Modified\n- src/b.py: batch queries\n- src/a.py: cache prices with a TTL of 60 s\n"
        "## Decisions Made\n- batch size 100: the DB limit\n## Current State\ncache and batching done\n## Next Steps\n1. load test"))
    assert second.structured_content["filled_from_trail"] == ["src/forgotten.py"]
    await ok(client, "tag", name="three")
    await work(client, "tests/test_load.py", "created")
    third = (await ok(client, "squash", summary="load test passes at 2x traffic")).structured_content  # plain text

    anchored = third["anchored_summary"]
    assert "Make checkout fast." in anchored  # intent kept across merges
    for path in ("src/a.py", "src/b.py", "src/forgotten.py", "tests/test_load.py"):
        assert path in anchored  # files accumulate, forgotten ones come from the trail
    assert "TTL of 60 s" in anchored and "cache prices\n" not in anchored  # newest wording for the same file
    assert "Redis for the cache" in anchored and "batch size 100" in anchored  # decisions accumulate
    current = anchored.split("## Current State", 1)[1].split("##", 1)[0]
    assert "load test passes at 2x traffic" in current and "profiling" not in current  # newest state
    assert "1. load test" in anchored  # plain text left Next Steps as they were
    assert first.structured_content["anchored_summary"] != anchored


async def test_overlapping_squashes_are_widened_and_swallowed_with_notes(client: Client):
    await ok(client, "tag", name="outer")
    await work(client, "x.py")
    await ok(client, "tag", name="inner")
    await work(client, "y.py")
    first = (await ok(client, "squash", summary="outer done", from_tag="outer")).structured_content
    await work(client, "z.py")
    widened = (await ok(client, "squash", summary="inner done", from_tag="inner")).structured_content
    assert widened["from_seq"] == first["from_seq"]  # started inside squash #0: widened to cover it whole
    assert any("widened" in note for note in widened["notes"])
    assert any("covers earlier squash" in note for note in widened["notes"])
    status = (await ok(client, "context_status")).structured_content
    assert status["squashes"] == 1  # the outer one replaced the inner one


async def test_squash_across_a_host_compaction_says_so(client: Client, arena: Arena):
    await ok(client, "tag", name="before-compaction")
    arena.append("squashes", [EventDraft(kind="compaction", text="host compacted", source="transcript", meta={"preTokens": 150000})])
    await work(client, "after.py")
    squashed = (await ok(client, "squash", summary="spanning")).structured_content
    assert any("host compaction" in note for note in squashed["notes"])
    assert (await ok(client, "context_status")).structured_content["host_compactions"] == 1


async def test_undo_restores_the_previous_summary_as_a_new_record(client: Client, arena: Arena):
    await ok(client, "tag", name="a")
    await work(client, "a.py")
    await ok(client, "squash", summary="## Decisions Made\n- first")
    await ok(client, "tag", name="b")
    await work(client, "b.py")
    await ok(client, "squash", summary="## Decisions Made\n- second")
    record = arena.undo_squash("squashes")
    assert "second" not in record.anchored and "first" in record.anchored
    versions = arena.summary_versions("squashes")
    assert [v.op for v in versions] == ["squash", "squash", "undo"]
    status = (await ok(client, "context_status")).structured_content
    assert status["squashes"] == 1
    kinds = [e["kind"] for e in arena.store.events("squashes")]
    assert "note" in kinds  # the undo is in the log, so other processes see it
