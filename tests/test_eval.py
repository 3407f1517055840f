"""Probe-based evaluation: probes derived from corpus files match hand-checked answers; a replay answers them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_arena.cli.main import main
from mcp_arena.lab.evaluate import PROBE_TYPES, derive_probes, evaluate_session, extractive_summary
from mcp_arena.lab.workload import generated_session, sources
from tests.helpers import CORPUS


def probes_of(path: Path):
    (label, session, drafts), = list(sources(str(path)))
    return {(p.type, p.kind): p.expected for p in derive_probes(drafts)}


def test_swe_agent_probes_match_the_transcript():
    probes = probes_of(CORPUS / "swe-agent" / "function_calling_simple.traj")
    assert probes[("recall", "command")] == "python tests/missing_colon.py"
    assert probes[("artifact", "modified")] == ["tests/missing_colon.py"]
    assert probes[("continuation", "request")].startswith("We're currently solving the following issue")
    assert ("decision", "decision") not in probes


def test_claude_code_probes_match_the_transcript():
    probes = probes_of(CORPUS / "claude-code" / "short.jsonl")
    assert probes[("recall", "command")] == "mix phx.server 2>&1 | head -80"
    assert probes[("recall", "error")].startswith("The user doesn't want to proceed with this tool use.")
    assert probes[("continuation", "request")] == "mix phx.server doesnt seem to start"


def test_probes_are_deterministic():
    drafts = generated_session(600, seed=5)
    first = [(p.kind, p.expected, p.query) for p in derive_probes(drafts)]
    assert first == [(p.kind, p.expected, p.query) for p in derive_probes(generated_session(600, seed=5))]
    assert {"error", "command", "value", "modified", "read", "request", "decision"} <= {k for k, _, _ in first}


def test_extractive_summary_has_the_anchors_but_leaves_files_to_the_trail():
    rows = [
        {"kind": "user", "text": "Fix the cache", "tool": "", "is_error": False},
        {"kind": "assistant", "text": "I'll use a pool instead of one connection. Then test.", "tool": "", "is_error": False},
        {"kind": "tool_result", "text": "TimeoutError: boom", "tool": "Bash", "is_error": True},
    ]
    text = extractive_summary(rows)
    assert "## Session Intent\nFix the cache" in text
    assert "1 tool calls in this range, 1 failed" in text
    assert "Files Modified" not in text


def test_replay_squashes_and_answers_probes(tmp_path):
    drafts = generated_session(400, seed=11)
    result = evaluate_session("gen:400", "generated-400", drafts, window="3000", top_k=5, semantic=False)
    assert result["squashes"] >= 2
    assert result["compression"]["ratio"] > 1
    for kind in PROBE_TYPES:
        row = result["probes"][kind]
        assert 0 <= row["answered"] <= row["total"]
        assert row["squashed_total"] <= row["total"]
    artifact = result["probes"]["artifact"]
    assert artifact["total"] >= 2 and artifact["by_source"].get("artifact_index") == artifact["total"]
    assert result["probes"]["recall"]["squashed_total"] > 0
    assert result["tokens_per_task"]["arena"] < result["tokens_per_task"]["no_management"]


@pytest.mark.slow
def test_eval_command_on_a_corpus_file(home, capsys):
    assert main(["eval", str(CORPUS / "swe-agent" / "function_calling_simple.traj"), "--no-semantic"]) == 0
    out = capsys.readouterr().out
    assert "| file | events |" in out and "function_calling_simple.traj" in out
