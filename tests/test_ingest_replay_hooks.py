"""`mcp-arena ingest`, `replay` and `hook` through the real CLI, on the corpus samples."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_feed_runtime import COMPACT_LINE, raw_turn_context

from mcp_arena import Settings
from mcp_arena.core.tokens import TokenCounter
from mcp_arena.engine.arena import Arena
from mcp_arena.engine.store import Store
from mcp_arena.feeds import formats
from tests.helpers import CORPUS

CLAUDE = CORPUS / "claude-code"
MIXED = [CLAUDE / "tool_heavy.jsonl", CORPUS / "swe-agent" / "eps-19beb8.traj", CORPUS / "openhands" / "tests_runtime_trajs_basic.json"]


def cli(home: Path, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "MCP_ARENA_HOME": str(home), "MCP_ARENA_SEMANTIC": "false", **env}
    return subprocess.run(
        [sys.executable, "-m", "mcp_arena", *args], input=stdin, capture_output=True, text=True, env=environment, timeout=300
    )


def stored(home: Path, session: str) -> list[dict]:
    return Store(str(home / "arena.lancedb"), home / "locks").events(session)


# -- ingest ------------------------------------------------------------------------------------------


def test_ingest_imports_every_event_and_pairs_tool_calls(home):
    run = cli(home, "ingest", *map(str, MIXED))
    assert run.returncode == 0, run.stderr
    assert "ingest [" in run.stderr and "events/s" in run.stdout
    for path in MIXED:
        [(session, drafts)] = list(formats.read_sessions(path))
        rows = stored(home, session)
        assert len(rows) == len(list(drafts)), path
        calls = {r["call_id"] for r in rows if r["kind"] == "tool_call" and r["call_id"]}
        results = {r["call_id"] for r in rows if r["kind"] == "tool_result" and r["call_id"]}
        assert results <= calls and calls, path


def test_ingest_twice_adds_nothing(home):
    assert cli(home, "ingest", str(CLAUDE)).returncode == 0
    before = {path: len(stored(home, formats.claude_code_session_id(path))) for path in CLAUDE.glob("*.jsonl")}
    again = cli(home, "ingest", str(CLAUDE))
    assert again.returncode == 0 and "ingested 0 events" in again.stdout
    assert {path: len(stored(home, formats.claude_code_session_id(path))) for path in CLAUDE.glob("*.jsonl")} == before


def test_reingesting_a_grown_file_appends_only_the_tail(home, tmp_path):
    sample = CLAUDE / "subagent.jsonl"
    lines = sample.read_text().splitlines(keepends=True)
    growing = tmp_path / sample.name
    growing.write_text("".join(lines[: len(lines) // 2]))
    assert cli(home, "ingest", str(growing)).returncode == 0
    with open(growing, "a") as handle:
        handle.writelines(lines[len(lines) // 2 :])
    assert cli(home, "ingest", str(growing)).returncode == 0
    rows = stored(home, formats.claude_code_session_id(sample))
    assert [(r["kind"], r["text"]) for r in rows] == [(d.kind, d.text) for d in formats.read_any(sample)]
    samples = [json.loads(r["meta"])["usage_sample"]["used"] for r in rows if "usage_sample" in (r["meta"] or "")]
    assert samples == raw_turn_context(sample)


def test_ingest_refuses_a_file_whose_known_part_changed(home, tmp_path):
    sample = CLAUDE / "short.jsonl"
    copy = tmp_path / sample.name
    copy.write_text(sample.read_text())
    assert cli(home, "ingest", str(copy)).returncode == 0
    copy.write_text(sample.read_text().replace("spotter", "spotteR"))
    run = cli(home, "ingest", str(copy))
    assert run.returncode == 1 and "no longer match" in run.stdout
    assert len(stored(home, formats.claude_code_session_id(sample))) == len(list(formats.read_any(sample)))


# -- replay ------------------------------------------------------------------------------------------


def test_replay_prints_real_usage_per_turn_and_a_summary(home, tmp_path):
    sample = tmp_path / "compacted.jsonl"
    sample.write_text((CLAUDE / "subagent.jsonl").read_text() + json.dumps(COMPACT_LINE) + "\n")
    run = cli(home, "replay", str(sample), "--window-tokens", "50000")
    assert run.returncode == 0, run.stderr
    rows = [line.split() for line in run.stdout.splitlines() if line[:5].strip().isdigit()]
    reals = [int(row[1].replace(",", "")) for row in rows if row[1] != "—"]
    assert reals == raw_turn_context(CLAUDE / "subagent.jsonl")
    assert any("squash here" in line for line in run.stdout.splitlines())  # 43k of a 50k window is above the zone
    assert "host compactions           1" in run.stdout
    assert f"peak real usage            {max(reals):,}" in run.stdout
    assert not (home / "arena.lancedb").exists()  # a fresh scratch arena, not the user's


# -- hooks -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stdin", ["", "not json", "[1, 2]", '{"hook_event_name": "SessionStart"}', '{"session_id": "never-seen"}'])
@pytest.mark.parametrize("event", ["session-start", "pre-compact"])
def test_hooks_never_fail_the_host(home, stdin, event):
    run = cli(home, "hook", event, stdin=stdin)
    assert run.returncode == 0
    assert run.stdout == ""
    assert run.stderr


def hook_input(transcript: Path, event: str, **extra: str) -> str:
    session = formats.claude_code_session_id(transcript)
    return json.dumps({"session_id": session, "transcript_path": str(transcript), "cwd": "/home/marco/projects/spotter", "hook_event_name": event, **extra})


def test_pre_compact_records_the_compaction_point(home):
    transcript = CLAUDE / "tool_heavy.jsonl"
    run = cli(home, "hook", "pre-compact", stdin=hook_input(transcript, "PreCompact", trigger="auto"))
    assert (run.returncode, run.stdout) == (0, ""), run.stderr
    session = formats.claude_code_session_id(transcript)
    rows = stored(home, session)
    assert len(rows) == len(list(formats.read_any(transcript))) + 1
    assert json.loads(rows[-1]["meta"])["hook"] == "pre-compact"
    tags = Store(str(home / "arena.lancedb"), home / "locks").rows("tags", session)
    assert [(t["name"], t["origin"]) for t in tags] == [(f"compact-{rows[-1]['seq']}", "hook")]


PLAN_SUMMARY = """## Session Intent
Set up Credo, Dialyxir and mix_audit in spotter, tracked as beads.

## Decisions Made
- Install the tools with igniter, not by editing mix.exs by hand
- One epic with two tasks; the alias task depends on the install task

## Current State
Plan written to plan.md and approved; beads spotter-0p7, .1 and .2 created.

## Next Steps
1. Run mix igniter.install credo"""

# What Claude Code receives from `hook pre-compact` on stdout (exit 0): its custom compaction instructions.
PRE_COMPACT_STDOUT = """\
[mcp-arena] For this compaction (arena session 491e126e-1e71-469c-ade2-fcc8af567c74):
- Write the summary under these headings: Session Intent, Files Modified, Decisions Made, Current State, Next Steps.
- Keep verbatim every file path and every error message listed below, and each decision with its reason.
- What the summary leaves out stays searchable: the arena's memory_search(query=...) finds it.

## Files created, modified or deleted (artifact trail)
- created (1): plan.md

## Recent errors (newest last)
- Read (seq 36): EISDIR: illegal operation on a directory, read
- Bash (seq 40): Sibling tool call errored

## The arena's anchored summary (merge it in; drop none of its files or decisions)
## Session Intent
Set up Credo, Dialyxir and mix_audit in spotter, tracked as beads.

## Files Modified
- /home/marco/projects/spotter/plan.md: created (from the artifact trail)

## Decisions Made
- Install the tools with igniter, not by editing mix.exs by hand
- One epic with two tasks; the alias task depends on the install task

## Current State
Plan written to plan.md and approved; beads spotter-0p7, .1 and .2 created.

## Next Steps
1. Run mix igniter.install credo
"""


def planned_session(home: Path, tmp_path: Path) -> Path:
    """subagent.jsonl as Claude Code writes it, the agent tagging before the plan is written and squashing after."""
    lines = (CLAUDE / "subagent.jsonl").read_text().splitlines(keepends=True)
    transcript = tmp_path / "session.jsonl"
    transcript.write_text("".join(lines[:57]))  # up to the Write of plan.md
    arena = Arena(Settings(home=home, semantic=False, transcript=str(transcript)))
    try:
        assert not arena.tag("plan").is_error
        with open(transcript, "a") as handle:
            handle.writelines(lines[57:])
        squashed = arena.squash(PLAN_SUMMARY)
        assert not squashed.is_error, squashed.text
    finally:
        arena.close()
    return transcript


def test_pre_compact_prints_the_paths_errors_and_decisions_the_compaction_must_keep(home, tmp_path):
    transcript = planned_session(home, tmp_path)
    run = cli(home, "hook", "pre-compact", stdin=hook_input(transcript, "PreCompact", trigger="auto"))
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout == PRE_COMPACT_STDOUT
    assert TokenCounter("o200k_base").count(run.stdout) <= Settings().hook_budget_tokens
    rows = stored(home, formats.claude_code_session_id(transcript))
    assert json.loads(rows[-1]["meta"])["hook"] == "pre-compact"  # the compaction point is recorded as before


@pytest.mark.parametrize("budget", [100, 250])
def test_pre_compact_instructions_fit_the_hook_budget(home, tmp_path, budget):
    transcript = planned_session(home, tmp_path)
    run = cli(home, "hook", "pre-compact", stdin=hook_input(transcript, "PreCompact", trigger="manual"), MCP_ARENA_HOOK_BUDGET_TOKENS=str(budget))
    assert run.returncode == 0, run.stderr
    assert TokenCounter("o200k_base").count(run.stdout) <= budget
    assert run.stdout.startswith("[mcp-arena] For this compaction") and run.stdout.rstrip().endswith("(cut to fit the hook budget)")


@pytest.mark.parametrize("budget", [100, 2000])
def test_session_start_reinjects_summary_trail_and_skills_within_budget(home, tmp_path, budget):
    transcript = tmp_path / "session.jsonl"
    transcript.write_text((CLAUDE / "subagent.jsonl").read_text())
    settings = Settings(home=home, semantic=False, transcript=str(transcript))
    arena = Arena(settings)
    try:
        arena.tag("research")
        arena.context_status()
        squashed = arena.squash("## Session Intent\nFind the RSS feed library.")
        assert not squashed.is_error, squashed.text
    finally:
        arena.close()
    with open(transcript, "a") as handle:
        handle.write(json.dumps(COMPACT_LINE) + "\n")
    run = cli(home, "hook", "session-start", stdin=hook_input(transcript, "SessionStart", source="compact"), MCP_ARENA_HOOK_BUDGET_TOKENS=str(budget))
    assert run.returncode == 0, run.stderr
    assert TokenCounter("o200k_base").count(run.stdout) <= budget
    assert run.stdout.startswith("[mcp-arena]")
    if budget >= 2000:
        assert "Find the RSS feed library." in run.stdout
        assert "Files touched" in run.stdout
    status = cli(home, "status", "--session", formats.claude_code_session_id(transcript))
    assert "Host compactions: 1" in status.stdout


def test_an_unreadable_file_does_not_stop_the_others(home, tmp_path):
    (tmp_path / "notes.json").write_text('{"hello": "world"}')
    (tmp_path / "short.jsonl").write_text((CLAUDE / "short.jsonl").read_text())
    run = cli(home, "ingest", str(tmp_path))
    assert run.returncode == 1 and "not ingested" in run.stdout
    assert len(stored(home, formats.claude_code_session_id(CLAUDE / "short.jsonl"))) == len(list(formats.read_any(CLAUDE / "short.jsonl")))
