"""Where a conversation divides (model turns, user requests) and the size of a request's context,
checked on the public transcripts of the corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_arena.core.events import EventDraft
from mcp_arena.feeds.claude_code import context_tokens, parse_lines, read_transcript, turn_usage
from mcp_arena.feeds.formats import read_sessions
from mcp_arena.feeds.turns import is_user_request, opens_turn, turns
from tests.helpers import CORPUS


def drafts_of(path: Path) -> list[EventDraft]:
    (_, drafts), *_ = read_sessions(path)
    return list(drafts)


def requests_of(path: Path) -> list[str]:
    return [d.text.strip()[:24] for d in drafts_of(path) if is_user_request(d)]


# ---------------------------------------------------------------- the context of a request


def test_context_is_input_plus_cache_reads_and_writes_never_output():
    # subagent.jsonl, msg_0179…: with caching, input_tokens alone is 1 token of a 35,666-token prompt.
    usage = {"input_tokens": 1, "cache_read_input_tokens": 34903, "cache_creation_input_tokens": 762, "output_tokens": 472}
    assert context_tokens(usage) == 35_666
    assert context_tokens({"input_tokens": 5, "cache_read_input_tokens": None}) == 5  # absent or null fields count 0


# ---------------------------------------------------------------- user requests


def test_claude_code_requests_skip_command_markup_interruptions_and_the_subagent_prompt():
    assert requests_of(CORPUS / "claude-code" / "subagent.jsonl") == [
        # line 4: the isMeta expansion of /handgemacht:create-beads (line 3, only markup, is not)
        "Create beads (epic + tas",
        # not line 36: "Draft bead content…" is the prompt the main agent gave its subagent (a sidechain)
        # not line 68: "[Request interrupted by user]"
        "create the beads",
    ]
    assert requests_of(CORPUS / "claude-code" / "tool_heavy.jsonl") == [
        "start phoenix in backgro",
        # not lines 19-21: <local-command-caveat>…, <command-name>/mcp…, <local-command-stdout>…
        "scrolling back in xterm.",
    ]


def test_a_swe_agent_demonstration_is_no_request_the_task_is():
    assert requests_of(CORPUS / "swe-agent" / "pydicom__pydicom-1458-6138d0.traj") == [
        "We're currently solving "
    ]


def test_a_task_that_opens_with_a_tag_is_a_request():
    path = CORPUS / "openhands" / "evaluation_benchmarks_multi_swe_bench_examples_output.jsonl"
    assert requests_of(path) == ["<uploaded_files>\n/worksp"]


def test_a_compact_summary_and_tool_results_are_no_requests():
    lines = [
        {"type": "user", "isCompactSummary": True, "message": {"content": "This session is being continued from a previous conversation."}},
        {"type": "user", "message": {"content": [{"type": "tool_result", "tool_use_id": "t1", "content": "3 passed"}]}},
        {"type": "user", "message": {"content": "<system-reminder>be brief</system-reminder>\nnow fix the test"}},
    ]
    assert [(d.kind, is_user_request(d)) for d in parse_lines(lines)] == [("user", False), ("tool_result", False), ("user", True)]


# ---------------------------------------------------------------- turns


def test_claude_code_turns_are_the_main_thread_requests():
    events = list(read_transcript(CORPUS / "claude-code" / "subagent.jsonl"))
    groups = list(turns(events))
    openers = [group[-1] for group in groups if group[-1].kind == "assistant"]
    assert [e.meta["message_id"] for e in openers] == [t.message_id for t in turn_usage(events)]
    assert all("usage" in e.meta and not e.meta.get("sidechain") for e in openers)
    assert sum(map(len, groups)) == len(events)


def test_a_response_streamed_over_lines_opens_one_turn_and_a_synthetic_error_none():
    lines = [
        {"type": "assistant", "message": {"id": "m1", "usage": {"input_tokens": 5}, "content": [{"type": "thinking", "thinking": "…"}]}},
        {"type": "assistant", "message": {"id": "m1", "usage": {"input_tokens": 5}, "content": [{"type": "text", "text": "Looking."}]}},
        {"type": "assistant", "message": {"id": "s1", "model": "<synthetic>", "usage": {}, "content": [{"type": "text", "text": "API Error"}]}},
        {"type": "assistant", "message": {"id": "m2", "usage": {"input_tokens": 9}, "content": [{"type": "text", "text": "Done."}]}},
    ]
    assert [len(group) for group in turns(parse_lines(lines))] == [1, 3]


@pytest.mark.parametrize("path", ["swe-agent/function_calling_simple.traj", "openhands/tests_runtime_trajs_basic.json"])
def test_without_message_ids_every_assistant_event_opens_a_turn(path):
    drafts = drafts_of(CORPUS / path)
    assert [d for d in drafts if opens_turn(d, None)] == [d for d in drafts if d.kind == "assistant"]
    assert len(list(turns(drafts))) >= sum(1 for d in drafts if d.kind == "assistant")
