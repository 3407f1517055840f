"""Claude Code transcripts → events, checked against the raw JSON of the public samples."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from mcp_arena.feeds.claude_code import (
    ClaudeCodeParser,
    cwd_of,
    parse_lines,
    read_transcript,
    session_id_of,
    turn_usage,
)
from tests.helpers import CORPUS

CLAUDE_SAMPLES = sorted((CORPUS / "claude-code").glob("*.jsonl"))


def raw_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def conversation_messages(lines: list[dict]) -> list[tuple[bool, dict]]:
    """(is subagent, message line) for every user/assistant line, main thread and subagents."""
    found = []
    for line in lines:
        if line.get("type") in ("user", "assistant"):
            found.append((bool(line.get("isSidechain")), line))
        data = line.get("data") or {}
        if line.get("type") == "progress" and data.get("type") == "agent_progress":
            found.append((True, data["message"]))
    return found


def blocks_of(lines: list[dict], block_type: str) -> list[dict]:
    blocks = []
    for _sidechain, line in conversation_messages(lines):
        content = line["message"].get("content")
        if isinstance(content, list):
            blocks.extend(b for b in content if b.get("type") == block_type)
    return blocks


def expected_turns(lines: list[dict], sidechain: bool) -> dict[str, tuple[int, int]]:
    """message id → (context tokens, output tokens) of its last line, straight from the file."""
    turns: dict[str, tuple[int, int]] = {}
    for is_sidechain, line in conversation_messages(lines):
        message = line["message"]
        if line["type"] != "assistant" or is_sidechain != sidechain or "usage" not in message:
            continue
        usage = message["usage"]
        context = usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"]
        turns[message["id"]] = (context, usage["output_tokens"])
    return turns


@pytest.mark.parametrize("sample", CLAUDE_SAMPLES, ids=lambda p: p.name)
def test_every_tool_use_and_result_becomes_one_event(sample: Path) -> None:
    lines = raw_lines(sample)
    events = list(read_transcript(sample))
    kinds = Counter(event.kind for event in events)
    assert kinds["tool_call"] == len(blocks_of(lines, "tool_use"))
    assert kinds["tool_result"] == len(blocks_of(lines, "tool_result"))
    assert all(event.source == "import" for event in events)


@pytest.mark.parametrize("sample", CLAUDE_SAMPLES, ids=lambda p: p.name)
def test_every_tool_result_is_paired_with_its_call(sample: Path) -> None:
    events = list(read_transcript(sample))
    calls = {event.call_id: event for event in events if event.kind == "tool_call"}
    results = [event for event in events if event.kind == "tool_result"]
    assert results
    for result in results:
        assert result.call_id in calls
        assert result.tool == calls[result.call_id].tool
        assert result.meta.get("sidechain") == calls[result.call_id].meta.get("sidechain")


@pytest.mark.parametrize("sample", CLAUDE_SAMPLES, ids=lambda p: p.name)
def test_tool_call_text_is_the_input_as_sorted_json(sample: Path) -> None:
    uses = {block["id"]: block for block in blocks_of(raw_lines(sample), "tool_use")}
    for event in read_transcript(sample):
        if event.kind == "tool_call":
            assert json.loads(event.text) == uses[event.call_id]["input"]
            assert event.text == json.dumps(uses[event.call_id]["input"], sort_keys=True, ensure_ascii=False)


@pytest.mark.parametrize("sample", CLAUDE_SAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize("sidechain", [False, True])
def test_turn_usage_equals_the_file_for_every_turn(sample: Path, sidechain: bool) -> None:
    expected = expected_turns(raw_lines(sample), sidechain)
    turns = [t for t in turn_usage(read_transcript(sample), include_sidechain=sidechain) if t.sidechain == sidechain]
    assert {t.message_id: (t.context_tokens, t.output_tokens) for t in turns} == expected
    assert len(turns) == len(expected)


def test_a_turn_split_over_lines_is_counted_once_with_its_final_output() -> None:
    # subagent.jsonl streams msg_0179… over three lines; output_tokens is 8, 8, then 472.
    events = list(read_transcript(CORPUS / "claude-code" / "subagent.jsonl"))
    carriers = [e for e in events if e.meta.get("message_id") == "msg_0179FgGtJzf3MkRAWS4a4tbE" and "usage" in e.meta]
    assert [e.meta["usage"]["output_tokens"] for e in carriers] == [8, 472]
    assert all(e.kind == "assistant" for e in carriers)
    (turn,) = [t for t in turn_usage(events) if t.message_id == "msg_0179FgGtJzf3MkRAWS4a4tbE"]
    assert (turn.context_tokens, turn.output_tokens) == (1 + 34903 + 762, 472)


def test_usage_sits_on_an_assistant_event_even_when_the_turn_opens_with_thinking() -> None:
    events = list(read_transcript(CORPUS / "claude-code" / "subagent.jsonl"))
    carrier = next(e for e in events if e.meta.get("message_id") == "msg_01FqB3YigWWkQYHv4wfbcsgM")
    assert carrier.kind == "assistant" and carrier.text == "" and "usage" in carrier.meta


def test_thinking_is_not_kept() -> None:
    sample = CORPUS / "claude-code" / "short.jsonl"
    thinking = [b["thinking"] for b in blocks_of(raw_lines(sample), "thinking")]
    assert thinking
    texts = [event.text for event in read_transcript(sample)]
    assert not any(thought in text for thought in thinking for text in texts)


def test_subagent_lines_are_kept_and_marked() -> None:
    events = list(read_transcript(CORPUS / "claude-code" / "subagent.jsonl"))
    side = [e for e in events if e.meta.get("sidechain")]
    assert Counter(e.kind for e in side) == {"tool_call": 9, "tool_result": 9, "assistant": 5, "user": 1}
    assert {e.meta["agent_id"] for e in side} == {"afb92ff"}
    assert all(e.meta.get("parent_tool_use_id") for e in side)


def test_rejected_tool_uses_are_errors() -> None:
    events = list(read_transcript(CORPUS / "claude-code" / "short.jsonl"))
    results = [e for e in events if e.kind == "tool_result"]
    assert [(e.tool, e.is_error) for e in results] == [("Bash", True), ("Glob", True)]


def test_event_counts_of_the_samples() -> None:
    counts = {p.name: Counter(e.kind for e in read_transcript(p)) for p in CLAUDE_SAMPLES}
    assert counts["short.jsonl"] == {"user": 2, "assistant": 2, "tool_call": 2, "tool_result": 2, "note": 2}
    assert counts["tool_heavy.jsonl"] == {"user": 7, "assistant": 5, "tool_call": 6, "tool_result": 6, "note": 2}
    assert counts["subagent.jsonl"] == {"assistant": 23, "tool_call": 25, "tool_result": 25, "user": 5, "note": 1}


def test_timestamps_are_unix_seconds() -> None:
    events = list(read_transcript(CORPUS / "claude-code" / "short.jsonl"))
    first_user = next(e for e in events if e.kind == "user")
    assert first_user.ts == pytest.approx(1770757916.846)  # 2026-02-10T21:11:56.846Z


def test_session_id_and_cwd_of_a_line() -> None:
    lines = raw_lines(CORPUS / "claude-code" / "short.jsonl")
    assert session_id_of(lines[0]) is None  # file-history-snapshot carries none
    assert session_id_of(lines[3]) == "55604662-cf2a-4331-851a-ec234028f8ca"
    assert cwd_of(lines[3]) == "/home/marco/projects/spotter"


def compaction_fixture() -> list[dict]:
    """A compaction built from a real system line of the corpus, in the shape Claude Code writes."""
    lines = raw_lines(CORPUS / "claude-code" / "short.jsonl")
    system_line = next(line for line in lines if line["type"] == "system")
    boundary = {
        **system_line,
        "subtype": "compact_boundary",
        "content": "Conversation compacted",
        "parentUuid": None,
        "logicalParentUuid": system_line["uuid"],
        "uuid": "c0ffee00-0000-4000-8000-000000000001",
        "compactMetadata": {"trigger": "auto", "preTokens": 155025},
    }
    summary = {
        **next(line for line in lines if line["type"] == "user"),
        "uuid": "c0ffee00-0000-4000-8000-000000000002",
        "isCompactSummary": True,
        "message": {"role": "user", "content": "This session is being continued from a previous conversation."},
    }
    return [*lines, boundary, summary]


def test_compact_boundary_becomes_a_compaction_event() -> None:
    events = list(parse_lines(compaction_fixture(), source="transcript"))
    (compaction,) = [e for e in events if e.kind == "compaction"]
    assert compaction.meta["preTokens"] == 155025 and compaction.meta["trigger"] == "auto"
    assert compaction.source == "transcript"
    after = events[events.index(compaction) + 1]
    assert after.kind == "user" and after.meta.get("compact_summary") is True


def test_no_sample_has_a_compaction_so_none_is_invented() -> None:
    for sample in CLAUDE_SAMPLES:
        assert not [e for e in read_transcript(sample) if e.kind == "compaction"]


def test_unknown_and_malformed_lines_never_stop_the_parser() -> None:
    parser = ClaudeCodeParser()
    assert parser.feed({"type": "brand-new-record", "whatever": [1, 2]}) == []
    assert parser.feed({"type": "assistant", "message": "not a dict"}) == []
    assert parser.feed({"type": "assistant", "message": {"content": [{"type": "mystery"}], "usage": "bad"}}) == []
    assert parser.feed(["not", "an", "object"]) == []
    assert parser.feed({"type": "user", "message": {"content": [{"type": "tool_result", "tool_use_id": "x"}]}})[0].kind == "tool_result"
    assert parser.skipped["brand-new-record"] == 1


def test_tool_result_blocks_and_images_are_flattened() -> None:
    parser = ClaudeCodeParser()
    parser.feed({"type": "assistant", "message": {"id": "m", "content": [{"type": "tool_use", "id": "t1", "name": "Read", "input": {}}]}})
    content = [
        {"type": "text", "text": "line one"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
        {"type": "text", "text": "line two"},
    ]
    (result,) = parser.feed({"type": "user", "message": {"content": [{"type": "tool_result", "tool_use_id": "t1", "content": content}]}})
    assert result.text == "line one\n[image: image/png]\nline two"
    assert result.tool == "Read"


def test_parser_state_round_trips_through_json() -> None:
    first = ClaudeCodeParser()
    tool_use = {"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}
    first.feed({"type": "assistant", "message": {"id": "m1", "usage": {"input_tokens": 5}, "content": [tool_use]}})
    resumed = ClaudeCodeParser(state=json.loads(json.dumps(first.state())))
    (result,) = resumed.feed({"type": "user", "message": {"content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}})
    assert result.tool == "Bash"
    repeated = resumed.feed({"type": "assistant", "message": {"id": "m1", "usage": {"input_tokens": 5}, "content": [{"type": "text", "text": "more"}]}})
    assert [("usage" in e.meta) for e in repeated] == [False]


def test_synthetic_error_turns_are_not_usage() -> None:
    error = [{"type": "text", "text": "API Error"}]
    line = {"type": "assistant", "message": {"id": "s1", "model": "<synthetic>", "usage": {"input_tokens": 0}, "content": error}}
    assert turn_usage(parse_lines([line])) == []
