"""The PostToolUse hook's records and the transcript join by tool-use id: no call counted twice.

The host is simulated on a real Claude Code transcript of the corpus: its lines are written one by
one into a growing copy, and for each main-thread tool result the hook's work is done first —
`Arena.shape_result(ToolOutput(..., source="hook", call_id=<tool_use id>))` with the original output
— and the copy then holds what the host was given instead (the trimmed view), as Claude Code writes
it after a PostToolUse hook replaced the output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_feed_runtime import raw_turn_context

from mcp_arena import Settings
from mcp_arena.core.events import Event
from mcp_arena.core.shape import META_KEY, Shaped, ToolOutput
from mcp_arena.engine.arena import Arena
from mcp_arena.engine.store import Store
from mcp_arena.feeds import claude_code, formats
from mcp_arena.feeds.common import flatten_content
from tests.helpers import CORPUS

SAMPLE = CORPUS / "claude-code" / "subagent.jsonl"
SESSION = formats.claude_code_session_id(SAMPLE)
GLOB_CALL = "toolu_01MumzJGYTo26Ds3LsuSkd5Z"  # Glob **/mix.exs: a 1,195-token listing
WRITE_CALL = "toolu_01K3VJ686txYhQVcAH8FETHo"  # Write plan.md
PLAN = "/home/marco/projects/spotter/plan.md"
MIX_EXS = "/home/marco/projects/spotter/mix.exs"


@dataclass
class Hooked:
    original: str
    shaped: Shaped


def tight_settings(settings: Settings) -> Settings:
    """Budgets low enough that the corpus's web, listing, file and task results get trimmed."""
    budgets = {f"trim_{kind}_tokens": 300 for kind in ("listing", "file", "web", "other", "command")}
    return settings.model_copy(update=budgets)


def tool_uses(path: Path) -> dict[str, tuple[str, dict]]:
    """tool_use id -> (tool name, input), from the assistant lines."""
    found = {}
    for raw in path.read_text().splitlines():
        line = json.loads(raw)
        content = (line.get("message") or {}).get("content") if line.get("type") == "assistant" else None
        for block in content if isinstance(content, list) else []:
            if block.get("type") == "tool_use":
                found[block["id"]] = (block["name"], block.get("input") or {})
    return found


def host_with_hook(
    copy: Path,
    hook: Arena,
    *,
    before_hook: Callable[[], object] = lambda: None,
    after_hook: Callable[[], object] = lambda: None,
    view_applied: bool = True,
) -> dict[str, Hooked]:
    """Write SAMPLE into `copy` line by line as Claude Code does with the PostToolUse hook on.

    Each main-thread tool result that succeeded goes through the hook first; the line written then
    holds the hook's view of it (`view_applied`) or, as a host that ignores `updatedToolOutput`
    would write it, the original."""
    calls = tool_uses(SAMPLE)
    hook.ensure_session(SESSION, origin="hook")
    hooked: dict[str, Hooked] = {}
    copy.write_text("")
    for raw in SAMPLE.read_text().splitlines():
        line = json.loads(raw)
        content = (line.get("message") or {}).get("content") if line.get("type") == "user" and not line.get("isSidechain") else None
        for block in content if isinstance(content, list) else []:
            if block.get("type") != "tool_result" or block.get("is_error"):
                continue
            call_id = block["tool_use_id"]
            name, arguments = calls[call_id]
            before_hook()
            original = flatten_content(block.get("content"))
            output = ToolOutput(tool=name, arguments=arguments, text=original, source="hook", call_id=call_id)
            hooked[call_id] = Hooked(original, hook.shape_result(output, session=SESSION))
            after_hook()
            if view_applied:
                block["content"] = hooked[call_id].shaped.text
        with open(copy, "a") as handle:
            handle.write(json.dumps(line) + "\n")
    return hooked


def transcript_calls() -> set[str]:
    """The ids of every tool call of SAMPLE, the subagents' included."""
    return {draft.call_id for draft in claude_code.read_transcript(SAMPLE) if draft.kind == "tool_call"}


def events(arena: Arena) -> list[Event]:
    return arena.store.event_objects(SESSION)


def assert_joined(log: list[Event], hooked: dict[str, Hooked]) -> None:
    """Every call of the transcript once, every hooked result as the original the hook logged."""
    per_call = Counter((event.kind, event.call_id) for event in log if event.call_id and event.kind in ("tool_call", "tool_result"))
    assert {call_id for kind, call_id in per_call if kind == "tool_call"} == transcript_calls()
    assert set(per_call.values()) == {1}, [key for key, count in per_call.items() if count > 1]
    results = {event.call_id: event for event in log if event.kind == "tool_result" and event.call_id in hooked}
    assert set(results) == set(hooked)
    for call_id, record in hooked.items():
        assert (results[call_id].source, results[call_id].text, results[call_id].seq) == ("hook", record.original, record.shaped.seq)


def assert_savings(arena: Arena, hooked: dict[str, Hooked]) -> None:
    trims = [record.shaped.meta[META_KEY] for record in hooked.values() if record.shaped.trimmed]
    status = arena.context_status(session=SESSION).structured
    assert len(trims) >= 5
    assert status["trimmed_results"] == len(trims)
    assert status["tokens_kept_out"] == sum(trim["tokens"] - trim["shown_tokens"] for trim in trims)


def assert_search_and_trail_see_the_original(arena: Arena, hooked: dict[str, Hooked]) -> None:
    listing = hooked[GLOB_CALL]
    assert listing.shaped.trimmed
    hidden = next(line for line in listing.original.splitlines()[::-1] if line not in listing.shaped.text and "/deps/" in line)
    found = arena.memory_search(hidden.split("/deps/")[1].replace("/", " "), limit=10, kinds=["tool_result"], session=SESSION)
    assert listing.shaped.seq in [hit["seq"] for hit in found.structured["hits"]], hidden
    trail = arena.trail.statuses(SESSION)
    assert (trail[PLAN].state, trail[MIX_EXS].state) == ("created", "read")


# -- the live feed -------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["hook-in-the-server", "hook-in-its-own-process"])
def test_the_hook_and_the_transcript_feed_join_by_tool_use_id(tmp_path, settings, where):
    """In the server (the usual case) the feed has read each tool_use before the hook runs; a hook in
    a process of its own logs call and result before the feed reads either line."""
    copy = tmp_path / SAMPLE.name
    follower = Arena(tight_settings(settings).model_copy(update={"transcript": str(copy)}))
    hook = follower if where == "hook-in-the-server" else Arena(tight_settings(settings))
    try:
        # a hook process of its own closes its arena after each call: what it logged is committed
        hooked = host_with_hook(copy, hook, after_hook=hook.store.flush if hook is not follower else lambda: None)
        follower.transcript.sync()
        log = events(follower)
        assert_joined(log, hooked)
        sources = Counter(event.source for event in log if event.kind == "tool_call")
        hooked_calls = sources["hook"]
        assert hooked_calls == (0 if where == "hook-in-the-server" else len(hooked))
        status = follower.context_status().structured
        assert status["session"] == SESSION
        assert status["steps"] == len(transcript_calls()) + 1  # the host's calls once each, and this call
        samples = [event.meta["usage_sample"]["used"] for event in log if "usage_sample" in event.meta]
        assert samples == raw_turn_context(SAMPLE)
        assert (status["source"], status["used_tokens"]) == ("transcript", raw_turn_context(SAMPLE)[-1])
        assert_savings(follower, hooked)
        assert_search_and_trail_see_the_original(follower, hooked)
        assert follower.transcript.sync() == 0
    finally:
        follower.close()
        if hook is not follower:
            hook.close()


def test_a_result_the_feed_logged_first_is_not_logged_again_by_a_late_hook(tmp_path, settings):
    """The hook gave up (the host kept the original and wrote it) and logs a moment after the feed."""
    copy = tmp_path / SAMPLE.name
    copy.write_text(SAMPLE.read_text())
    arena = Arena(tight_settings(settings).model_copy(update={"transcript": str(copy)}))
    try:
        arena.transcript.sync()
        before = events(arena)
        [fed] = [event for event in before if event.kind == "tool_result" and event.call_id == GLOB_CALL]
        name, arguments = tool_uses(SAMPLE)[GLOB_CALL]
        late = arena.shape_result(ToolOutput(tool=name, arguments=arguments, text=fed.text, source="hook", call_id=GLOB_CALL), session=SESSION)
        assert (late.seq, late.trimmed, late.text, late.guide, late.meta) == (fed.seq, False, fed.text, "", None)
        assert events(arena) == before
    finally:
        arena.close()


def test_a_trim_the_host_did_not_apply_is_taken_out_of_the_savings(tmp_path, settings):
    """A host that ignores `updatedToolOutput` holds the whole output: nothing was kept out."""
    copy = tmp_path / SAMPLE.name
    follower = Arena(tight_settings(settings).model_copy(update={"transcript": str(copy)}))
    hook = Arena(tight_settings(settings))
    try:
        hooked = host_with_hook(copy, hook, view_applied=False)
        assert hook.context_status(session=SESSION).structured["trimmed_results"] >= 5  # what the hook believed
        follower.transcript.sync()
        log = events(follower)
        assert_joined(log, hooked)
        status = follower.context_status().structured
        assert (status["trimmed_results"], status["tokens_kept_out"]) == (0, 0)
        notes = {event.call_id: event for event in log if "untrimmed" in event.meta}
        assert set(notes) == {call_id for call_id, record in hooked.items() if record.shaped.trimmed}
        results = {event.call_id: event for event in log if event.kind == "tool_result"}
        for call_id, note in notes.items():  # the log now counts what the host holds: the whole output
            assert results[call_id].tokens + note.tokens == follower.count_tokens(hooked[call_id].original)
            assert note.meta["untrimmed"]["seq"] == results[call_id].seq
    finally:
        follower.close()
        hook.close()


# -- ingest ------------------------------------------------------------------------------------------


def test_ingest_joins_what_the_hook_logged(tmp_path, settings, home):
    copy = tmp_path / SAMPLE.name
    hook = Arena(tight_settings(settings))
    try:
        hooked = host_with_hook(copy, hook)
        logged_by_hook = len(events(hook))
    finally:
        hook.close()
    environment = {**os.environ, "MCP_ARENA_HOME": str(home), "MCP_ARENA_SEMANTIC": "false"}
    command = [sys.executable, "-m", "mcp_arena", "ingest", str(copy)]
    run = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    assert run.returncode == 0, run.stderr
    copies = 2 * len(hooked)  # each hooked call's tool_use and tool_result lines
    assert f"{copies} joined to calls the hook logged" in run.stdout
    again = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    assert again.returncode == 0 and "ingested 0 events" in again.stdout
    rows = Store(str(home / "arena.lancedb"), home / "locks").events(SESSION)
    assert len(rows) == logged_by_hook + len(list(claude_code.read_transcript(copy))) - copies
    arena = Arena(tight_settings(settings))
    try:
        assert_joined(events(arena), hooked)
        assert_savings(arena, hooked)
        assert_search_and_trail_see_the_original(arena, hooked)
    finally:
        arena.close()


# -- failed calls (PostToolUseFailure) ------------------------------------------------------------------

SHORT = CORPUS / "claude-code" / "short.jsonl"


def test_a_failure_the_hook_logged_is_not_logged_again_by_the_feed(tmp_path, settings):
    """The corpus's two rejected calls (Bash, Glob) go through the PostToolUseFailure hook before the host writes
    their results: the log holds each call once, its result as the hook's failed one, the error's exact tokens."""
    from mcp_arena.hook import adapter

    copy = tmp_path / SHORT.name
    arena = Arena(settings.model_copy(update={"transcript": str(copy)}))
    session = formats.claude_code_session_id(SHORT)
    calls = tool_uses(SHORT)
    failed: dict[str, str] = {}
    try:
        copy.write_text("")
        for raw in SHORT.read_text().splitlines():
            line = json.loads(raw)
            content = (line.get("message") or {}).get("content") if line.get("type") == "user" else None
            for block in content if isinstance(content, list) else []:
                if block.get("type") == "tool_result" and block.get("is_error"):
                    name, arguments = calls[block["tool_use_id"]]
                    error = flatten_content(block["content"])
                    payload = {"session_id": session, "hook_event_name": "PostToolUseFailure", "tool_name": name, "tool_input": arguments,
                               "tool_use_id": block["tool_use_id"], "error": error, "is_interrupt": False, "cwd": "/"}
                    reply = adapter.answer(json.dumps(payload).encode(), lambda: arena)
                    assert reply.stderr == "" and json.loads(reply.stdout)["hookSpecificOutput"]["hookEventName"] == "PostToolUseFailure"
                    failed[block["tool_use_id"]] = error
            with open(copy, "a") as handle:
                handle.write(raw + "\n")
        arena.transcript.sync()
        log = arena.store.event_objects(session)
    finally:
        arena.close()
    assert len(failed) == 2
    per_call = Counter((event.kind, event.call_id) for event in log if event.call_id in failed)
    assert set(per_call.values()) == {1} and len(per_call) == 4  # each failed call: one tool_call, one tool_result
    results = {event.call_id: event for event in log if event.kind == "tool_result" and event.call_id in failed}
    for call_id, error in failed.items():
        result = results[call_id]
        assert (result.source, result.is_error, result.text) == ("hook", True, error)
        assert result.tokens == arena.count_tokens(error)
