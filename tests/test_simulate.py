"""Context-policy simulator: compaction lowers the peak, cache ratios stay in [0, 1], exact usage for Claude Code."""

from __future__ import annotations

import json

from mcp_arena.cli.main import main
from mcp_arena.core.tokens import TokenCounter
from mcp_arena.lab.simulate import POLICIES, auto_window, simulate, workload
from mcp_arena.lab.workload import generated_session, sources
from tests.helpers import CORPUS


def rows_of(result):
    return {row["policy"]: row for row in result["rows"]}


def test_policies_on_a_generated_session():
    work = workload("gen:1500", "g", generated_session(1500, seed=2), TokenCounter().count)
    result = simulate(work, list(POLICIES), auto_window(work), 0.1)
    rows = rows_of(result)
    assert rows["host95"]["peak_tokens"] < rows["none"]["peak_tokens"]
    assert rows["arena"]["peak_tokens"] < rows["none"]["peak_tokens"]
    assert rows["none"]["over_window_turns"] > 0 and rows["host95"]["over_window_turns"] == 0
    assert rows["host95"]["compactions"] >= 1 and rows["arena"]["squashes"] >= 1
    for row in rows.values():
        assert 0.0 <= row["cache_hit_ratio"] <= 1.0
        assert row["weighted_input_tokens"] <= row["input_tokens"]


def test_claude_code_usage_is_exact_and_logged_row_present():
    (label, session, drafts), = list(sources(str(CORPUS / "claude-code" / "subagent.jsonl")))
    work = workload(label, session, drafts, TokenCounter().count)
    assert work.exact and work.system > 0
    result = simulate(work, list(POLICIES), auto_window(work), 0.1)
    rows = rows_of(result)
    logged = rows["logged (host, as recorded)"]
    assert logged["peak_tokens"] == rows["none"]["peak_tokens"]  # growth replayed from the logged usage
    assert "exact" in result["note"]


def test_simulate_command_writes_table_json_and_chart(home, tmp_path, capsys):
    path = str(CORPUS / "swe-agent" / "function_calling_simple.traj")
    assert main(["simulate", path, "gen:300", "--policy", "none,arena", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| none |" in out and "| arena |" in out and "estimated" in out
    saved = json.loads((tmp_path / "simulate.json").read_text())
    assert len(saved) == 2 and sorted(saved[0]["usage"]) == ["arena", "none"]
    assert len(list(tmp_path.glob("*.png"))) == 2


def test_unknown_policy_is_refused(home, capsys):
    assert main(["simulate", "gen:50", "--policy", "magic"]) == 2
    assert "unknown policy magic" in capsys.readouterr().err
