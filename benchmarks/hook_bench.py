"""Replay Claude Code transcripts through the PostToolUse hooks, as the host runs them: one process per tool call.

For every tool call of the corpus's Claude Code transcripts
(tests/fixtures/corpus/claude-code; `--corpus all` adds the SWE-agent and
OpenHands tool results, sent as the string responses of their own tool names)
the hook command gets the payload Claude Code would send on stdin: PostToolUse
for a call that succeeded (the `tool_response` is the transcript's
`toolUseResult`), PostToolUseFailure for one that failed (`error` is the text
the transcript shows). The benchmark records:

- hook time per call, wall clock including process start, p50/p95/max: with a
  real `mcp-arena serve` (stdio subprocess, same MCP_ARENA_HOME) listening, and
  without a server (the hook works in its own process), with the load average;
- every run's exit code (a hook must always exit 0) and that stdout is empty or
  one hookSpecificOutput object of the payload's event;
- tool-output tokens the host would receive without the hook and with it
  (o200k), the guide tokens the hook adds (additionalContext), and the NET
  share kept out of the context: (original − shown − guides) / original;
- recall: facts from the trimmed-out regions (error lines, numbers, paths),
  queried with `memory_search` through the real client, top 5: the share whose
  trimmed event is among the hits, and the share whose text is in a hit's snippet;
- what the defaults would need to be: the share kept out with every budget
  scaled, computed with the shaper's own rules in process.

    .venv/bin/python benchmarks/hook_bench.py [--rounds 5] [--corpus claude-code|all] [--no-fallback]
        [--command "<venv>/bin/mcp-arena-hook post-tool-use"]

Each round replays every call under fresh session ids (a new session, as a
new host window would start one), so guides are paged as in a new session.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from mcp_arena.core import shape
from mcp_arena.core.tokens import TokenCounter
from mcp_arena.feeds import claude_code
from mcp_arena.feeds.formats import read_sessions
from mcp_arena.hook import listener, wire

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "corpus"
# What `mcp-arena setup claude-code` registers: this Python, -I -S, the client's script (cli/hook_run.py).
DEFAULT_COMMAND = [sys.executable, "-I", "-S", str(Path(__file__).resolve().parents[1] / "mcp_arena" / "cli" / "hook_run.py"), "post-tool-use"]
MARKER = re.compile(r"\[… mcp-arena: omitted .*?Page back verbatim: memory_search\([^)]*\)\]")
SCALES = (1.0, 0.75, 0.5, 0.35, 0.25, 0.15)
FACTS_PER_RESULT = 6
Count = Callable[[str], int]
_ERROR = re.compile(r"error|fail|exception|traceback|refused|denied|not found|warning", re.I)
_PATH = re.compile(r"(?:[\w.-]+/)+[\w.-]+\.\w+|/(?:[\w.-]+/)+[\w.-]+")
_VALUE = re.compile(r"\b\d[\d.,:]{2,}\d\b|\b[0-9a-f]{7,}\b")


# -- payloads --------------------------------------------------------------------------------------


def claude_code_payloads(corpus: Path) -> Iterator[dict[str, Any]]:
    """Every tool call of the Claude Code transcripts, in order: PostToolUse, or PostToolUseFailure for a failed one."""
    for path in sorted((corpus / "claude-code").glob("*.jsonl")):
        for record, block, use in claude_code.tool_calls(path):
            cwd = record.get("cwd") or "/"
            if block.get("is_error"):
                yield failure_payload(record["sessionId"], use["name"], use["input"], _block_text(block), use["id"], cwd)
                continue
            response = record.get("toolUseResult")
            if not isinstance(response, dict | list):
                response = block.get("content")
            yield payload(record["sessionId"], use["name"], use["input"], response, use["id"], cwd)


def _block_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def other_agent_payloads(corpus: Path) -> Iterator[dict[str, Any]]:
    """SWE-agent and OpenHands tool results, as string responses of their own tool names."""
    for folder in ("swe-agent", "openhands"):
        for path in sorted((corpus / folder).glob("*")):
            if path.suffix not in (".json", ".jsonl", ".traj"):
                continue
            for session, events in read_sessions(path):
                arguments: dict[str, Any] = {}
                for number, event in enumerate(events):
                    if event.kind == "tool_call":
                        arguments[event.call_id] = _json_object(event.text)
                    elif event.kind == "tool_result" and not event.is_error:
                        call_id = event.call_id or f"{path.stem}-{number}"
                        yield payload(session, event.tool or "execute_bash", arguments.get(event.call_id, {}), event.text, call_id, "/")


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def payload(session: str, tool: str, tool_input: Any, response: Any, tool_use_id: str, cwd: str) -> dict[str, Any]:
    return {
        "session_id": session,
        "transcript_path": f"/home/u/.claude/projects/x/{session}.jsonl",
        "cwd": cwd,
        "permission_mode": "default",
        "hook_event_name": "PostToolUse",
        "tool_name": tool,
        "tool_input": tool_input,
        "tool_response": response,
        "tool_use_id": tool_use_id,
    }


def failure_payload(session: str, tool: str, tool_input: Any, error: str, tool_use_id: str, cwd: str) -> dict[str, Any]:
    fields = {key: value for key, value in payload(session, tool, tool_input, None, tool_use_id, cwd).items() if key != "tool_response"}
    return {**fields, "hook_event_name": "PostToolUseFailure", "error": error, "is_interrupt": False}


def is_failure(call: dict[str, Any]) -> bool:
    return bool(call["hook_event_name"] == "PostToolUseFailure")


def original_text(call: dict[str, Any]) -> str:
    """What the host shows the model without the hook: the response's text, or the failure's error."""
    from mcp_arena.hook.adapter import view_of

    return str(call["error"]) if is_failure(call) else view_of(call["tool_response"]).text


def for_round(call: dict[str, Any], round_no: int) -> dict[str, Any]:
    safe = re.sub(r"[^A-Za-z0-9._:@-]", "-", call["session_id"])[:100]
    return {**call, "session_id": f"r{round_no}-{safe}", "tool_use_id": f"r{round_no}-{call['tool_use_id']}"}


# -- one replay ------------------------------------------------------------------------------------


@dataclass
class Replay:
    label: str
    seconds: list[float] = field(default_factory=list)
    exit_codes: dict[int, int] = field(default_factory=dict)
    bad_stdout: int = 0
    without_tokens: int = 0
    with_tokens: int = 0
    guide_tokens: int = 0
    replaced: int = 0
    calls: int = 0
    failures: int = 0
    guides: int = 0  # hook outputs that carried additionalContext
    trimmed: list[tuple[dict[str, Any], str, str]] = field(default_factory=list)  # (payload, original, shown)
    bare_seconds: list[float] = field(default_factory=list)  # `python -c pass` beside each run: the machine's floor
    problems: list[str] = field(default_factory=list)


def run_one(command: list[str], call: dict[str, Any], home: Path) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    raw = json.dumps(call).encode()
    env = {**os.environ, "MCP_ARENA_HOME": str(home), "MCP_ARENA_SEMANTIC": "false"}
    started = time.perf_counter()
    done = subprocess.run(command, input=raw, capture_output=True, env=env, timeout=300)
    return time.perf_counter() - started, done


def account(replay: Replay, call: dict[str, Any], seconds: float, done: subprocess.CompletedProcess[bytes], count: Count) -> None:
    from mcp_arena.hook.adapter import view_of

    replay.calls += 1
    replay.failures += is_failure(call)
    replay.seconds.append(seconds)
    replay.exit_codes[done.returncode] = replay.exit_codes.get(done.returncode, 0) + 1
    original = original_text(call)
    original_tokens = count(original)
    replay.without_tokens += original_tokens
    shown_tokens = original_tokens
    if done.stderr.strip():
        replay.problems.append(f"{call['tool_name']}: {done.stderr.decode(errors='replace').strip()[:200]}")
    if not done.stdout.strip():
        replay.with_tokens += shown_tokens
        return
    try:
        specific = json.loads(done.stdout)["hookSpecificOutput"]
        if specific["hookEventName"] != call["hook_event_name"]:
            raise ValueError(specific["hookEventName"])
    except (ValueError, KeyError, TypeError):
        replay.bad_stdout += 1
        replay.with_tokens += shown_tokens
        return
    if "updatedToolOutput" in specific and not is_failure(call):
        shown = view_of(specific["updatedToolOutput"]).text
        shown_tokens = count(shown)
        replay.replaced += 1
        replay.trimmed.append((call, original, shown))
    replay.with_tokens += shown_tokens
    replay.guide_tokens += count(specific.get("additionalContext", ""))
    replay.guides += "additionalContext" in specific


COMPARE_ROUNDS = 500  # the compared command's calls run in sessions of their own: round numbers from here


def replay_calls(
    label: str, command: list[str], calls: list[dict[str, Any]], home: Path, rounds: int, count: Count, floor: bool = False,
    compare: Replay | None = None, compare_command: list[str] | None = None,
) -> Replay:
    """Every call through `command`, `rounds` times; with `compare_command`, the same call right after through it
    (in a session of its own, so the server does the same work for both), timed into `compare`."""
    replay = Replay(label)
    for round_no in range(rounds):
        for call in calls:
            numbered = for_round(call, round_no)
            seconds, done = run_one(command, numbered, home)
            account(replay, numbered, seconds, done, count)
            if compare is not None and compare_command:
                other = for_round(call, COMPARE_ROUNDS + round_no)
                other_seconds, other_done = run_one(compare_command, other, home)
                account(compare, other, other_seconds, other_done, count)
            if floor:
                started = time.perf_counter()
                subprocess.run([sys.executable, "-c", "pass"], check=True)
                replay.bare_seconds.append(time.perf_counter() - started)
    return replay


# -- with a server ---------------------------------------------------------------------------------


def server_params(home: Path) -> Any:
    from mcp import StdioServerParameters

    env = {**os.environ, "MCP_ARENA_HOME": str(home), "MCP_ARENA_SEMANTIC": "false", "MCP_ARENA_TRANSCRIPT": ""}
    return StdioServerParameters(command=sys.executable, args=["-m", "mcp_arena", "serve"], env=env)


def listening(home: Path) -> bool:
    return listener.answered(wire.socket_path(str(home)))


async def with_server(
    command: list[str], calls: list[dict[str, Any]], home: Path, rounds: int, count: Count,
    compare: Replay | None = None, compare_command: list[str] | None = None,
) -> tuple[Replay, dict[str, Any]]:
    from mcp import Client

    async with Client(server_params(home)) as client:
        with anyio.fail_after(60):
            while not listening(home):
                await anyio.sleep(0.05)
        warm = for_round(calls[0], 999)  # the server opens LanceDB on its first call: not what a session's calls see
        await anyio.to_thread.run_sync(lambda: run_one(command, warm, home))
        replay = await anyio.to_thread.run_sync(
            lambda: replay_calls("server listening", command, calls, home, rounds, count, floor=True, compare=compare, compare_command=compare_command)
        )
        recall = await measure_recall(client, replay.trimmed)
    return replay, recall


# -- recall of what was trimmed ---------------------------------------------------------------------


def omitted_part(original: str, shown: str) -> str:
    marker = MARKER.search(shown)
    if not marker:
        return ""
    head, tail = shown[: marker.start()], shown[marker.end() :].removeprefix("\n")
    return original[len(head) : len(original) - len(tail)] if original.startswith(head) else ""


def facts_of(text: str, limit: int = FACTS_PER_RESULT) -> list[str]:
    """Error lines, paths and values from `text`: what an agent would page back for; spread over the text."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line[:160] for line in lines if _ERROR.search(line)]
    paths = [m for line in lines for m in _PATH.findall(line)]
    values = [m for line in lines for m in _VALUE.findall(line)]
    picked: list[str] = []
    for group in (errors, paths, values):
        distinct = list(dict.fromkeys(group))
        step = max(1, len(distinct) // max(1, limit // 3))
        picked.extend(distinct[::step][: max(1, limit // 3)])
    return list(dict.fromkeys(picked))[:limit]


async def measure_recall(client: Any, trimmed: list[tuple[dict[str, Any], str, str]]) -> dict[str, Any]:
    facts = in_snippet = in_hits = in_own_snippet = 0
    for call, original, shown in trimmed:
        omitted = omitted_part(original, shown)
        seq = _page_seq(shown)
        for fact in facts_of(omitted):
            facts += 1
            result = await client.call_tool("memory_search", {"query": fact, "limit": 5, "session": call["session_id"]})
            hits = (result.structured_content or {}).get("hits", [])
            in_snippet += any(fact in hit["snippet"] for hit in hits)
            in_hits += any(hit["seq"] == seq for hit in hits)
            in_own_snippet += any(hit["seq"] == seq and fact in hit["snippet"] for hit in hits)
    return {"facts": facts, "in_snippet": in_snippet, "event_in_top5": in_hits, "in_own_snippet": in_own_snippet}


def _page_seq(shown: str) -> int | None:
    match = re.search(r"seq=(\d+)", shown)
    return int(match.group(1)) if match else None


# -- what the defaults would need to be ------------------------------------------------------------


def kept_out_by_scale(calls: list[dict[str, Any]], count: Count) -> list[tuple[float, float, float]]:
    """(scale, share of tool-output tokens kept out, share of results cut) with every budget times `scale`."""
    from mcp_arena.hook.adapter import view_of

    rows = []
    page_call = {"tool": "memory_search", "arguments": {"page": 1, "seq": 123_456, "session": "r0-" + "x" * 36}}
    views = [(call, view_of(call["tool_response"])) for call in calls if not is_failure(call)]
    total = sum(count(original_text(call)) for call in calls)
    for scale in SCALES:
        base = shape.DEFAULT_BUDGETS
        budgets = shape.Budgets(**{kind: max(200, int(getattr(base, kind) * scale)) for kind in shape.KINDS})
        kept = cut = 0
        for call, view in views:
            if view.rebuild is None or not view.text:
                continue
            arguments = call["tool_input"] if isinstance(call["tool_input"], dict) else {}
            trimmed = shape.shape(view.text, call["tool_name"], arguments, count, page_call, None, budgets, view.numbered_from)
            if trimmed is not None:
                kept += trimmed.tokens - trimmed.shown_tokens
                cut += 1
        rows.append((scale, kept / total if total else 0.0, cut / len(views) if views else 0.0))
    return rows


# -- report ----------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, -(-int(p * len(ordered)) // 100))
    return ordered[min(len(ordered), rank) - 1]


def print_times(replay: Replay) -> None:
    ms = [s * 1000 for s in replay.seconds]
    print(f"\n## {replay.label}: {replay.calls} hook runs")
    print(f"hook time per call (wall, process start included): p50 {percentile(ms, 50):.1f} ms, p95 {percentile(ms, 95):.1f} ms, "
          f"max {max(ms):.1f} ms; exit codes {replay.exit_codes}; stdout not one hookSpecificOutput object: {replay.bad_stdout}")


def print_replay(replay: Replay) -> None:
    ms = [s * 1000 for s in replay.seconds]
    kept = replay.without_tokens - replay.with_tokens
    net = kept - replay.guide_tokens
    share = net / replay.without_tokens if replay.without_tokens else 0.0
    print(f"\n## {replay.label}: {replay.calls} hook runs ({replay.failures} PostToolUseFailure)")
    print(f"hook time per call (wall, process start included): p50 {percentile(ms, 50):.1f} ms, p95 {percentile(ms, 95):.1f} ms, "
          f"max {max(ms):.1f} ms; load average now {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if replay.bare_seconds:
        bare = [s * 1000 for s in replay.bare_seconds]
        print(f"a bare `python -c pass` beside each run, same machine, same moment: p50 {percentile(bare, 50):.1f} ms, p95 {percentile(bare, 95):.1f} ms")
    every_zero = set(replay.exit_codes) == {0}
    print(f"exit codes: {replay.exit_codes} ({'every run exit 0' if every_zero else 'NOT every run exit 0'}); "
          f"stdout not one hookSpecificOutput object of the payload's event: {replay.bad_stdout}")
    print(f"tool-output tokens to the host: without the hook {replay.without_tokens:,}, with it {replay.with_tokens:,} "
          f"({replay.replaced} outputs replaced): trims kept out {kept:,}")
    print(f"guides the hook added (additionalContext, {replay.guides} outputs): {replay.guide_tokens:,} tokens")
    print(f"NET kept out of the context = (original - shown - guides) / original = {net:,} / {replay.without_tokens:,} = {share:.1%}")
    for problem in replay.problems[:5]:
        print(f"  stderr: {problem}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="replays of the corpus with the server listening (default 5)")
    parser.add_argument("--corpus", choices=("claude-code", "all"), default="claude-code")
    parser.add_argument("--corpus-dir", type=Path, default=CORPUS)
    parser.add_argument("--no-fallback", action="store_true", help="skip the replay without a server (about 3 s a call)")
    parser.add_argument("--command", help="the hook command (default: what setup registers, this Python -I -S mcp_arena/cli/hook_run.py post-tool-use)")
    parser.add_argument("--compare", help="a second hook command, run right after the first on every call (its own sessions), timed apart")
    options = parser.parse_args()
    command = shlex.split(options.command) if options.command else DEFAULT_COMMAND
    calls = list(claude_code_payloads(options.corpus_dir))
    if options.corpus == "all":
        calls += list(other_agent_payloads(options.corpus_dir))
    count = TokenCounter("o200k_base").count
    tools = sorted({c["tool_name"] for c in calls})
    print(f"# PostToolUse hook replay: {len(calls)} tool calls ({options.corpus}: {', '.join(tools)})")
    print(f"machine: {os.cpu_count()} cores, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} at start")
    print(f"command: {shlex.join(command)}")
    with tempfile.TemporaryDirectory(prefix="hook-bench-") as scratch:
        compare_command = shlex.split(options.compare) if options.compare else None
        compared = Replay(f"compared command, interleaved call by call: {options.compare}") if compare_command else None
        served, recall = anyio.run(with_server, command, calls, Path(scratch) / "served", options.rounds, count, compared, compare_command)
        print_replay(served)
        if compared is not None:
            print_times(compared)
        facts = recall["facts"]
        if facts:
            snippet, event, own = recall["in_snippet"], recall["event_in_top5"], recall["in_own_snippet"]
            print(f"recall of {facts} facts from trimmed regions (memory_search, limit 5): the trimmed event among the hits "
                  f"{event}/{facts} = {event / facts:.1%}; the fact's text in a hit's snippet {snippet}/{facts} = {snippet / facts:.1%} "
                  f"(in the trimmed event's own snippet {own}/{facts} = {own / facts:.1%})")
        else:
            print("recall of trimmed facts: nothing was trimmed")
        if not options.no_fallback:
            print_replay(replay_calls("no server (in-process fallback)", command, calls, Path(scratch) / "alone", 1, count))
    print("\n## share of tool-output tokens the trims keep out with every budget scaled (shaper rules, in process; usage below stage 1;"
          " gross: subtract the guides above for the net)")
    for scale, kept, cut in kept_out_by_scale(calls, count):
        scaled = {kind: max(200, int(getattr(shape.DEFAULT_BUDGETS, kind) * scale)) for kind in ("command", "listing", "web", "file", "other")}
        budgets = ", ".join(f"{kind} {tokens:,}" for kind, tokens in scaled.items())
        print(f"x{scale:<4}: kept out {kept:6.1%}, results cut {cut:6.1%}  ({budgets})")


if __name__ == "__main__":
    main()
