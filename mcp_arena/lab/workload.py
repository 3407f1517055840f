"""Workloads for the bench, eval and simulate commands: generated agent sessions and transcripts.

A generated session is a deterministic (seeded) Claude-Code-like agent loop:
tasks opened by a user request, each worked through with assistant text, tool
calls with JSON arguments (Read / Edit / Write / Bash with Claude Code's
argument names, so the artifact trail sees them), results of a few hundred
characters, some failures with exact error messages, and now and then a
stated decision. `sources("gen:5000")` names such a session on the command line.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

from mcp_arena.core.events import EventDraft

GENERATED_PREFIX = "gen:"
MODULES = ("auth", "billing", "cache", "config", "search", "render", "queue", "ledger", "report", "sync")
ERRORS = (
    "ModuleNotFoundError: No module named '{mod}_helpers'",
    "AssertionError: expected 200, got 503 in test_{mod}_roundtrip",
    "TimeoutError: connection to redis:6379 timed out after 5.0s",
    "KeyError: '{mod}_id' in src/{mod}/service.py line 88",
    "TypeError: unsupported operand type(s) for +: 'NoneType' and 'int' ({mod})",
)
DECISIONS = (
    "I'll use a connection pool for {mod} instead of one connection per request.",
    "Decided to retry {mod} calls with exponential backoff rather than failing fast.",
    "We'll keep the {mod} cache in memory instead of adding a new Redis dependency.",
)
FILLER = (
    "the service reads its settings once at start and keeps them in a frozen dataclass so that "
    "every request sees the same values; the handler validates the payload, looks the record up "
    "by id, applies the change inside one transaction and returns the new version number. "
)


def generated_session(events: int, seed: int = 7) -> list[EventDraft]:
    """`events` drafts of an agent session, the same for the same (events, seed)."""
    rng = random.Random(seed)
    drafts: list[EventDraft] = []
    task = 0
    while len(drafts) < events:
        drafts.extend(_task(rng, task))
        task += 1
    return drafts[:events]


def _task(rng: random.Random, task: int) -> list[EventDraft]:
    mod = MODULES[task % len(MODULES)]
    drafts = [EventDraft(kind="user", text=f"Task {task}: fix the failing {mod} tests and make `pytest tests/test_{mod}.py` pass.")]
    for step in range(rng.randint(6, 14)):
        drafts.extend(_step(rng, task, step, mod))
    return drafts


def _step(rng: random.Random, task: int, step: int, mod: str) -> list[EventDraft]:
    call_id = f"t{task}s{step}"
    path = f"src/{mod}/module_{task}_{step % 4}.py"
    choice = rng.random()
    if choice < 0.3:
        tool, args, result, error = "Read", {"file_path": path}, _lines(rng, path), False
    elif choice < 0.5:
        args = {"file_path": path, "old_string": "return None", "new_string": f"return {mod}_value"}
        tool, result, error = "Edit", f"The file {path} has been updated.", False
    elif choice < 0.55:
        new_path = f"src/{mod}/new_{task}_{step}.py"
        tool, args, result, error = "Write", {"file_path": new_path, "content": FILLER[:120]}, f"File created successfully at: {new_path}", False
    else:
        tool, args = "Bash", {"command": f"pytest tests/test_{mod}.py -x -q -k case_{task}_{step}"}
        error = rng.random() < 0.25
        result = _error(rng, mod) if error else f"{rng.randint(3, 40)} passed in {rng.uniform(0.2, 9):.2f}s\n" + FILLER[: rng.randint(100, 300)]
    thought = rng.choice(DECISIONS).format(mod=mod) if rng.random() < 0.08 else f"Next I look at {path} for the {mod} failure."
    return [
        EventDraft(kind="assistant", text=thought),
        EventDraft(kind="tool_call", text=json.dumps(args, sort_keys=True), tool=tool, call_id=call_id),
        EventDraft(kind="tool_result", text=result, tool=tool, call_id=call_id, is_error=error),
    ]


def _lines(rng: random.Random, path: str) -> str:
    start = rng.randint(1, 400)
    body = FILLER[: rng.randint(150, 400)]
    return f"{start}\t# {path}\n{start + 1}\t{body}"


def _error(rng: random.Random, mod: str) -> str:
    message = rng.choice(ERRORS).format(mod=mod)
    return f"Traceback (most recent call last):\n  File \"src/{mod}/service.py\", line 88\n{message}"


def sources(path: str, generated_seed: int = 7) -> Iterator[tuple[str, str, list[EventDraft]]]:
    """(label, session id, drafts) for each session a command-line PATH names (a transcript or gen:N)."""
    if path.startswith(GENERATED_PREFIX):
        count = int(path[len(GENERATED_PREFIX) :].replace(",", "").replace("_", ""))
        yield path, f"generated-{count}", generated_session(count, generated_seed)
        return
    from mcp_arena.feeds.formats import read_sessions

    for session_id, drafts in read_sessions(Path(path)):
        yield Path(path).name, session_id, list(drafts)


def format_of(path: str) -> str:
    if path.startswith(GENERATED_PREFIX):
        return "generated"
    from mcp_arena.feeds.formats import detect

    return detect(Path(path))
