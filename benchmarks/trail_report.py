"""Artifact-trail report over the public corpus.

For each recorded session in tests/fixtures/corpus (Claude Code JSONL, SWE-agent
.traj, OpenHands events), extract the file actions of every tool call with
`mcp_arena.core.artifacts`, fold them into the trail and print how many files end
in each state (created / modified / read only / deleted).

    /work/venv/bin/python benchmarks/trail_report.py [--corpus DIR] [--files]

The readers below take just the tool name and arguments from the raw JSON;
they are not the feeds' parsers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mcp_arena.core.artifacts import (
    ArtifactRecord,
    EditorState,
    extract,
    fold,
    index,
    split_swe_agent_action,
)

DEFAULT_CORPUS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "corpus"
OPENHANDS_WORKDIR = "/workspace"

# (tool, arguments, cwd) per call, in order
Call = tuple[str, dict[str, Any], str | None]


def claude_code_calls(path: Path) -> Iterator[Call]:
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        message = entry.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                yield block.get("name", ""), block.get("input") or {}, entry.get("cwd")


def swe_agent_calls(path: Path) -> Iterator[Call]:
    data = json.loads(path.read_text(encoding="utf-8"))
    steps = data.get("trajectory") or []
    tool_calls = [
        call["function"]
        for message in data.get("history") or []
        for call in message.get("tool_calls") or []
    ]
    if tool_calls:
        cwd = _working_dir(steps[0].get("state")) if steps else None
        for function in tool_calls:
            arguments = function.get("arguments")
            try:
                arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
            except json.JSONDecodeError:
                arguments = {}
            yield function.get("name", ""), arguments or {}, cwd
        return
    for step in steps:
        tool, arguments = split_swe_agent_action(step.get("action", ""))
        yield tool, arguments, _working_dir(step.get("state"))


def _working_dir(state: Any) -> str | None:
    if isinstance(state, str):
        try:
            state = json.loads(state)
        except json.JSONDecodeError:
            return None
    return state.get("working_dir") if isinstance(state, dict) else None


def openhands_sessions(path: Path) -> Iterator[tuple[str, list[Call]]]:
    text = path.read_text(encoding="utf-8")
    try:
        records = [json.loads(text)]
    except json.JSONDecodeError:
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    for number, record in enumerate(records):
        events = record if isinstance(record, list) else record.get("history") or []
        name = record.get("instance_id", f"#{number}") if isinstance(record, dict) else path.stem
        calls = [
            (event["action"], event.get("args") or {}, OPENHANDS_WORKDIR)
            for event in events
            if isinstance(event, dict) and "action" in event
        ]
        yield name, calls


def sessions(corpus: Path) -> Iterator[tuple[str, list[Call]]]:
    for path in sorted((corpus / "claude-code").glob("*.jsonl")):
        yield f"claude-code/{path.name}", list(claude_code_calls(path))
    for path in sorted((corpus / "swe-agent").glob("*.traj")):
        yield f"swe-agent/{path.name}", list(swe_agent_calls(path))
    for path in sorted((corpus / "openhands").glob("*.json*")):
        for name, calls in openhands_sessions(path):
            label = f"openhands/{path.name}" + (f" {name}" if name != path.stem else "")
            yield label, calls


def trail_of(calls: list[Call]) -> dict:
    state = EditorState()
    records = [
        ArtifactRecord(path=action.path, action=action.action, seq=seq, note=action.note)
        for seq, (tool, arguments, cwd) in enumerate(calls)
        for action in extract(tool, arguments, cwd=cwd, state=state)
    ]
    return fold(records)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--files", action="store_true", help="list the files of each group")
    options = parser.parse_args(argv)
    header = f"{'session':<78} {'calls':>5} {'created':>7} {'modified':>8} {'read':>4} {'deleted':>7}"
    print(header)
    print("-" * len(header))
    totals = [0] * 5
    for name, calls in sessions(options.corpus):
        trail = index(trail_of(calls))
        counts = [len(calls), len(trail.created), len(trail.modified), len(trail.read_only), len(trail.deleted)]
        totals = [t + c for t, c in zip(totals, counts)]
        print(f"{name:<78} {counts[0]:>5} {counts[1]:>7} {counts[2]:>8} {counts[3]:>4} {counts[4]:>7}")
        if options.files:
            for group, files in trail.groups():
                for status in files:
                    print(f"    {group:<9} {status.path}  [{status.label}; {', '.join(status.actions)}]")
    print("-" * len(header))
    print(f"{'total':<78} {totals[0]:>5} {totals[1]:>7} {totals[2]:>8} {totals[3]:>4} {totals[4]:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
