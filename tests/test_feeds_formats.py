"""SWE-agent and OpenHands parsers, format detection and per-session reading, on every corpus file."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from mcp_arena.errors import InvalidArgument
from mcp_arena.feeds import formats, openhands, swe_agent
from mcp_arena.feeds.swe_agent import parse_action
from tests.helpers import CORPUS

SWE_FILES = sorted((CORPUS / "swe-agent").glob("*.traj"))
OPENHANDS_FILES = sorted(p for p in (CORPUS / "openhands").iterdir() if p.suffix in (".json", ".jsonl"))
CLAUDE_FILES = sorted((CORPUS / "claude-code").glob("*.jsonl"))


def assert_paired(events) -> None:
    calls = {e.call_id: e for e in events if e.kind == "tool_call"}
    for result in (e for e in events if e.kind == "tool_result"):
        assert result.call_id in calls, result
        assert result.tool == calls[result.call_id].tool


@pytest.mark.parametrize("path", SWE_FILES + OPENHANDS_FILES + CLAUDE_FILES, ids=lambda p: p.name)
def test_detect_by_content(path: Path) -> None:
    expected = {"swe-agent": "swe-agent", "openhands": "openhands", "claude-code": "claude-code"}[path.parent.name]
    assert formats.detect(path) == expected


def test_detect_ignores_a_misleading_extension(tmp_path: Path) -> None:
    renamed = tmp_path / "trajectory.jsonl"
    renamed.write_bytes((CORPUS / "swe-agent" / "function_calling_simple.traj").read_bytes())
    assert formats.detect(renamed) == "swe-agent"
    events_list = tmp_path / "session.traj"
    events_list.write_bytes((CORPUS / "openhands" / "tests_runtime_trajs_basic.json").read_bytes())
    assert formats.detect(events_list) == "openhands"


def test_detect_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("just text\n")
    with pytest.raises(InvalidArgument, match="claude-code, swe-agent, openhands"):
        formats.detect(other)


# -- SWE-agent ----------------------------------------------------------------


@pytest.mark.parametrize("path", SWE_FILES, ids=lambda p: p.name)
def test_swe_agent_one_call_and_one_result_per_step(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    events = list(swe_agent.read_trajectory(path))
    kinds = Counter(e.kind for e in events)
    history_calls = sum(len(m.get("tool_calls") or []) for m in data.get("history", []))
    steps = len(data.get("trajectory", []))
    assert kinds["tool_call"] == kinds["tool_result"] == max(history_calls, steps)
    assert_paired(events)
    assert events[0].kind == "note" and events[0].meta["role"] == "system"


def test_swe_agent_history_tool_calls_are_used_as_recorded() -> None:
    path = CORPUS / "swe-agent" / "6e44b9__sweagenttestrepo-1c2844-060a10.traj"
    calls = [e for e in swe_agent.read_trajectory(path) if e.kind == "tool_call"]
    assert [c.tool for c in calls] == ["find_file", "open", "edit", "bash", "submit"]
    assert calls[0].call_id == "call_fJuazlMUN5fQDQ73G6XSpYpx"
    assert json.loads(calls[0].text) == {"file_name": "missing_colon.py"}
    # The final `submit` is in the trajectory only: the run ended before history recorded it.
    assert calls[-1].meta == {"from": "trajectory", "step": 4}


def test_parse_action_agrees_with_the_recorded_function_calls() -> None:
    compared = 0
    for path in SWE_FILES:
        for message in json.loads(path.read_text(encoding="utf-8")).get("history", []):
            for call in message.get("tool_calls") or []:
                function = call["function"]
                assert parse_action(message["action"]) == (function["name"], json.loads(function["arguments"]))
                compared += 1
    assert compared >= 40


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ('open "src/a b.py" 40', ("open", {"path": "src/a b.py", "line_number": 40})),
        ("edit 5:7\n    x = 1\nend_of_edit", ("edit", {"start_line": 5, "end_line": 7, "replacement_text": "    x = 1"})),
        ("edit\nnew text\nend_of_edit\n", ("edit", {"text": "new text"})),
        ("create decrypt.py\n", ("create", {"filename": "decrypt.py"})),
        ("decompile --function_name main rock", ("decompile", {"binary_path": "rock", "function_name": "main"})),
        ("str_replace_editor view /a.py --view_range '[1, 20]'", ("str_replace_editor", {"command": "view", "path": "/a.py", "view_range": [1, 20]})),
        ("python decrypt.py\n", ("bash", {"command": "python decrypt.py"})),
        ("open a.py && ls", ("open", {"command": "open a.py && ls"})),  # does not fit `open`: kept raw
        ("goto ten", ("goto", {"command": "goto ten"})),
        ("", ("bash", {"command": ""})),
    ],
)
def test_parse_action(action: str, expected: tuple) -> None:
    assert parse_action(action) == expected


def test_old_trajectories_keep_demonstrations_and_task() -> None:
    events = list(swe_agent.read_trajectory(CORPUS / "swe-agent" / "pydicom__pydicom-1458-6138d0.traj"))
    opening = events[:3]
    assert [e.kind for e in opening] == ["note", "user", "user"]
    assert opening[1].meta.get("is_demo") is True


# -- OpenHands ----------------------------------------------------------------


@pytest.mark.parametrize("path", OPENHANDS_FILES, ids=lambda p: p.name)
def test_openhands_pairs_observations_with_their_actions(path: Path) -> None:
    for _session, events in openhands.read_sessions(path):
        events = list(events)
        assert_paired(events)
        results = [e for e in events if e.kind == "tool_result"]
        assert all(e.ts is not None for e in events)
        assert {e.call_id for e in results} <= {e.call_id for e in events if e.kind == "tool_call"}


def raw_histories(path: Path) -> list[list[dict]]:
    if path.suffix == ".jsonl":
        return [json.loads(line)["history"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [json.loads(path.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("path", OPENHANDS_FILES, ids=lambda p: p.name)
def test_openhands_counts_follow_the_raw_events(path: Path) -> None:
    for history, (_session, events) in zip(raw_histories(path), openhands.read_sessions(path), strict=True):
        kinds = Counter(e.kind for e in events)
        tool_actions = [e for e in history if "action" in e and e["action"] not in ("message", "system")]
        answered = [e for e in history if "observation" in e and e.get("cause") is not None]
        assert kinds["tool_call"] == len(tool_actions)
        assert kinds["tool_result"] == len(answered)
        assert kinds["user"] == sum(1 for e in history if e.get("action") == "message" and e.get("source") == "user")


def test_openhands_multi_record_jsonl_is_one_session_per_instance() -> None:
    path = CORPUS / "openhands" / "evaluation_benchmarks_multi_swe_bench_examples_output.jsonl"
    assert formats.session_ids(path) == ["ponylang__ponyc-4595", "ponylang__ponyc-4593", "ponylang__ponyc-4588"]
    sizes = {sid: Counter(e.kind for e in events) for sid, events in formats.read_sessions(path)}
    assert sizes["ponylang__ponyc-4595"] == {"note": 1, "user": 1, "tool_call": 24, "tool_result": 23, "assistant": 22}


def test_openhands_errors_are_flagged() -> None:
    path = CORPUS / "openhands" / "evaluation_benchmarks_multi_swe_bench_examples_output.jsonl"
    events = [e for _sid, evs in formats.read_sessions(path) for e in evs]
    failed_runs = [e for e in events if e.kind == "tool_result" and e.is_error]
    assert failed_runs and all(e.tool == "run" for e in failed_runs)
    rejected = [e for e in events if e.kind == "note" and e.is_error]
    assert len(rejected) == 2  # "Parameter 'command' is expected …": no action to pair with


def test_openhands_thought_precedes_the_call() -> None:
    events = list(openhands.parse_events(json.loads((CORPUS / "openhands" / "tests_runtime_trajs_wrong_initial_state.json").read_text())))
    assert [e.kind for e in events[:4]] == ["user", "assistant", "tool_call", "tool_result"]
    assert events[2].tool == "read" and "thought" not in json.loads(events[2].text)
    assert events[1].text.startswith("I'll help you rename the file.")


def test_openhands_old_action_observation_pairs() -> None:
    history = [
        [{"action": "run", "args": {"command": "ls", "thought": "look"}}, {"observation": "run", "content": "a.py"}],
        [{"action": "finish", "args": {}}, {"message": "No observation", "observation": "null", "content": ""}],
    ]
    events = list(openhands.parse_events(history))
    assert [(e.kind, e.tool) for e in events] == [
        ("assistant", ""), ("tool_call", "run"), ("tool_result", "run"), ("tool_call", "finish"), ("tool_result", "finish")
    ]
    assert_paired(events)


# -- read_sessions / read_any -------------------------------------------------


def test_session_ids_are_stable_names() -> None:
    assert formats.session_ids(CLAUDE_FILES[0]) == [json.loads(CLAUDE_FILES[0].read_text().splitlines()[1])["sessionId"]]
    assert formats.session_ids(SWE_FILES[0]) == [SWE_FILES[0].stem]
    assert formats.session_ids(CORPUS / "openhands" / "tests_runtime_trajs_basic.json") == ["tests_runtime_trajs_basic"]


def test_a_subagent_file_is_its_own_session(tmp_path: Path) -> None:
    line = {"type": "user", "isSidechain": True, "agentId": "a1b2", "sessionId": "parent-session", "uuid": "u1", "message": {"role": "user", "content": "go"}}
    path = tmp_path / "agent-a1b2.jsonl"
    path.write_text(json.dumps(line) + "\n")
    assert formats.session_ids(path) == ["parent-session:agent-a1b2"]


@pytest.mark.parametrize("path", SWE_FILES + OPENHANDS_FILES + CLAUDE_FILES, ids=lambda p: p.name)
def test_read_any_is_all_sessions_and_marks_the_source(path: Path) -> None:
    events = list(formats.read_any(path, source="import"))
    assert events and all(e.source == "import" for e in events)
    sessions = [list(evs) for _sid, evs in formats.read_sessions(path)]
    assert len(events) == sum(len(evs) for evs in sessions)
    for session_events in sessions:  # call ids are unique within a session, not across
        assert_paired(session_events)


def test_repeated_call_ids_of_a_demonstration_are_made_unique() -> None:
    path = CORPUS / "swe-agent" / "marshmallow-code__marshmallow-1867-0e1939.traj"
    calls = [e.call_id for e in swe_agent.read_trajectory(path) if e.kind == "tool_call"]
    assert len(calls) == len(set(calls)) == 13
    assert "call_5iDdbOYybq7L19vqXmR0DPaU#4" in calls
