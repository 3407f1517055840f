"""The transcript feed through the real engine, and through the real server over stdio (`--transcript auto`)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from mcp_arena import Settings
from mcp_arena.engine.arena import Arena
from mcp_arena.feeds import claude_code, locate
from tests.helpers import CORPUS

SAMPLES = sorted((CORPUS / "claude-code").glob("*.jsonl"))
COMPACT_LINE = {
    "type": "system",
    "subtype": "compact_boundary",
    "content": "Conversation compacted",
    "compactMetadata": {"trigger": "auto", "preTokens": 150000},
    "uuid": "compact-boundary-test-0001",
    "timestamp": "2026-02-10T22:00:00.000Z",
}


def raw_turn_context(path: Path) -> list[int]:
    """Context tokens per main-thread API response, straight from the JSON (first line of each message id)."""
    turns: dict[str, int] = {}
    for raw in path.read_text().splitlines():
        line = json.loads(raw)
        message = line.get("message") if line.get("type") == "assistant" else None
        if not isinstance(message, dict) or line.get("isSidechain") or message.get("model") == "<synthetic>":
            continue
        usage = message.get("usage") or {}
        turns.setdefault(message["id"], usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"])
    return list(turns.values())


def status(arena: Arena) -> dict:
    return arena.context_status().structured


def transcript_events(arena: Arena, session: str) -> list:
    return [event for event in arena.store.event_objects(session) if event.source == "transcript"]


@pytest.fixture
def follow(tmp_path: Path, settings: Settings):
    """An arena following a copy of a corpus transcript (the copy can grow)."""
    arenas = []

    def make(sample: Path, lines: int | None = None) -> tuple[Arena, Path]:
        copy = tmp_path / sample.name
        if not copy.exists():
            text = sample.read_text().splitlines(keepends=True)
            copy.write_text("".join(text[:lines] if lines else text))
        arena = Arena(settings.model_copy(update={"transcript": str(copy)}))
        arenas.append(arena)
        return arena, copy

    yield make
    for arena in arenas:
        arena.close()


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_every_event_and_turn_of_the_file_reaches_the_session(follow, sample):
    arena, _copy = follow(sample)
    result = status(arena)
    session = result["session"]
    assert session == json.loads(next(line for line in sample.read_text().splitlines() if '"sessionId"' in line))["sessionId"]
    events = transcript_events(arena, session)
    assert len(events) == len(list(claude_code.read_transcript(sample)))
    calls = {e.call_id for e in events if e.kind == "tool_call"}
    results = {e.call_id for e in events if e.kind == "tool_result"}
    assert calls == results and calls
    samples = [e.meta["usage_sample"]["used"] for e in events if "usage_sample" in e.meta]
    assert samples == raw_turn_context(sample)
    assert result["source"] == "transcript"
    assert result["used_tokens"] == raw_turn_context(sample)[-1]
    assert result["steps"] == len(calls) + 1  # the host's tool calls and this context_status


def test_incremental_sync_reads_only_new_lines_and_resumes_after_restart(follow, settings):
    sample = CORPUS / "claude-code" / "subagent.jsonl"
    lines = sample.read_text().splitlines(keepends=True)
    arena, copy = follow(sample, lines=len(lines) // 2)
    first = status(arena)
    assert arena.transcript.sync() == 0  # nothing new: no read, no feed_state row
    rows_before = len(arena.store.rows("feed_state", first["session"], order_by="ts"))
    with open(copy, "a") as handle:
        handle.writelines(lines[len(lines) // 2 :])
    second = status(arena)
    assert second["used_tokens"] == raw_turn_context(sample)[-1] != first["used_tokens"]
    assert len(transcript_events(arena, first["session"])) == len(list(claude_code.read_transcript(sample)))
    assert len(arena.store.rows("feed_state", first["session"], order_by="ts")) == rows_before + 1

    restarted = Arena(settings.model_copy(update={"transcript": str(copy)}))
    try:
        assert restarted.transcript.sync() == 0
        assert restarted.default_session() == first["session"]
        assert len(transcript_events(restarted, first["session"])) == len(list(claude_code.read_transcript(sample)))
    finally:
        restarted.close()


def test_host_compaction_shows_in_the_log_and_dashboard(follow):
    arena, copy = follow(CORPUS / "claude-code" / "tool_heavy.jsonl")
    assert status(arena)["host_compactions"] == 0
    with open(copy, "a") as handle:
        handle.write(json.dumps(COMPACT_LINE) + "\n")
    result = status(arena)
    assert result["host_compactions"] == 1
    assert [e.kind for e in transcript_events(arena, result["session"])][-1] == "compaction"
    assert "Host compactions: 1" in arena.context_status().text


def test_turn_growth_comes_from_the_real_usage(follow):
    sample = CORPUS / "claude-code" / "subagent.jsonl"
    arena, _copy = follow(sample)
    result = status(arena)
    used = raw_turn_context(sample)[-11:]
    growth = [b - a for a, b in zip(used, used[1:]) if b >= a]
    assert result["tokens_per_turn"] == round(sum(growth) / len(growth))


def test_artifacts_and_search_cover_the_host_tools(follow):
    arena, _copy = follow(CORPUS / "claude-code" / "subagent.jsonl")
    session = status(arena)["session"]
    trail = arena.trail.records(session)
    assert any(record.source == "transcript" for record in trail)
    found = arena.memory_search("WebSearch")
    assert not found.is_error and found.structured["hits"]


def test_a_missing_transcript_is_not_an_error(settings, tmp_path):
    arena = Arena(settings.model_copy(update={"transcript": str(tmp_path / "not-yet.jsonl")}))
    try:
        result = status(arena)
        assert result["source"] == "estimate" and arena.transcript.session is None
    finally:
        arena.close()


# -- the server over stdio, `--transcript auto` ------------------------------------------------------


def fake_claude_home(tmp_path: Path, project: Path, sample: Path, lines: int) -> Path:
    claude = tmp_path / "claude-home"
    folder = claude / "projects" / locate.encode_project_dir(os.path.realpath(project))
    folder.mkdir(parents=True)
    session = json.loads(next(line for line in sample.read_text().splitlines() if '"sessionId"' in line))["sessionId"]
    text = sample.read_text().splitlines(keepends=True)
    (folder / f"{session}.jsonl").write_text("".join(text[:lines]))
    return folder / f"{session}.jsonl"


@pytest.mark.anyio
async def test_server_follows_the_auto_transcript_over_stdio(tmp_path, home):
    from mcp import Client, StdioServerParameters

    sample = CORPUS / "claude-code" / "subagent.jsonl"
    lines = sample.read_text().splitlines(keepends=True)
    project = tmp_path / "project"
    project.mkdir()
    transcript = fake_claude_home(tmp_path, project, sample, len(lines) // 2)
    env = {**os.environ, "MCP_ARENA_HOME": str(home), "CLAUDE_CONFIG_DIR": str(tmp_path / "claude-home"), "MCP_ARENA_SEMANTIC": "false"}
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_arena", "serve", "--transcript", "auto"], env=env, cwd=str(project)
    )
    async with Client(server) as client:
        first = (await client.call_tool("context_status", {})).structured_content
        assert first["source"] == "transcript"
        shutil.copy(transcript, tmp_path / "half.jsonl")
        assert first["used_tokens"] == raw_turn_context(tmp_path / "half.jsonl")[-1]
        assert first["session"] == transcript.stem
        with open(transcript, "a") as handle:
            handle.writelines(lines[len(lines) // 2 :])
        second = (await client.call_tool("context_status", {})).structured_content
        assert second["used_tokens"] == raw_turn_context(sample)[-1] != first["used_tokens"]


def own_tool_lines(session: str) -> list[dict]:
    """The host's record of a call of this server's `tag` tool: the tool_use and its result."""
    common = {"sessionId": session, "isSidechain": False, "timestamp": "2026-02-10T22:00:00.000Z"}
    call = {"type": "tool_use", "id": "toolu_arena_tag", "name": "mcp__arena__tag", "input": {"name": "x"}}
    usage = {"input_tokens": 5, "cache_read_input_tokens": 40000, "cache_creation_input_tokens": 100, "output_tokens": 20}
    return [
        {**common, "type": "assistant", "uuid": "own-1", "message": {"id": "msg_own", "model": "claude", "content": [call], "usage": usage}},
        {**common, "type": "user", "uuid": "own-2", "message": {"content": [{"type": "tool_result", "tool_use_id": "toolu_arena_tag", "content": "Tagged x"}]}},
    ]


def test_the_hosts_copy_of_the_arenas_own_calls_is_not_counted_twice(follow):
    arena, copy = follow(CORPUS / "claude-code" / "tool_heavy.jsonl")
    before = status(arena)
    with open(copy, "a") as handle:
        handle.writelines(json.dumps(line) + "\n" for line in own_tool_lines(before["session"]))
    after = status(arena)
    assert after["steps"] == before["steps"] + 1  # only this context_status call
    assert after["used_tokens"] == 40105
    assert not [e for e in transcript_events(arena, before["session"]) if "mcp__arena__" in e.tool]


def test_a_failed_append_loses_no_line(follow, monkeypatch):
    sample = CORPUS / "claude-code" / "tool_heavy.jsonl"
    arena, _copy = follow(sample)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(arena, "append", broken)
        assert arena.transcript.sync() == 0
    result = status(arena)
    assert len(transcript_events(arena, result["session"])) == len(list(claude_code.read_transcript(sample)))


def test_the_follower_leaves_out_calls_of_tools_this_arena_relays():
    """Behind the proxy the arena logged a relayed call itself; the host's transcript copy must not count twice."""
    from mcp_arena.core.events import EventDraft
    from mcp_arena.engine.transcript import is_own_call

    def call(tool: str) -> EventDraft:
        return EventDraft(kind="tool_call", tool=tool, text="{}")

    relayed = frozenset({"read_file", "fs__search"})
    assert is_own_call(call("mcp__arena__tag"))  # one of the six, whatever the server's name
    assert is_own_call(call("mcp__arena__read_file"), relayed)
    assert is_own_call(call("mcp__arena__fs__search"), relayed)  # an exported name holding the separator
    assert not is_own_call(call("mcp__arena__read_file"))  # no proxy: a tool of another server
    assert not is_own_call(call("read_file"), relayed)  # a host's built-in tool of that name
    assert not is_own_call(EventDraft(kind="note", tool="mcp__arena__read_file", text=""), relayed)
