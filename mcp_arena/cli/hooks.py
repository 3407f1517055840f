"""Claude Code hooks that carry the arena across a host compaction.

Claude Code runs a hook command with one JSON object on stdin (`session_id`,
`transcript_path`, `cwd`, `hook_event_name`, and `source` for SessionStart —
startup | resume | clear | compact — or `trigger` for PreCompact — manual |
auto). What a SessionStart hook prints on stdout is added to the context.

- `hook pre-compact`: brings the session up to date from the transcript and
  records the compaction point (a `note` event and a tag of origin "hook").
- `hook session-start`: brings the session up to date and prints what the host
  should re-inject — the anchored summary, the artifact trail in brief, the
  skills in use — within `hook_budget_tokens`.

A hook must never fail the host: bad or missing input, an unknown session or
any error ends with exit 0 and nothing on stdout; the reason goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from mcp_arena.config import Settings
from mcp_arena.core import artifacts
from mcp_arena.core.events import EventDraft
from mcp_arena.core.ledger import Ledger, Tag
from mcp_arena.engine.arena import Arena
from mcp_arena.engine.transcript import TranscriptRuntime

PATHS_PER_GROUP = 15
TRUNCATED = "\n… (cut to fit the hook budget)"


def run_hook(event: str, settings: Settings, stdin: Any = None, stdout: Any = None) -> int:
    """Run one hook; always 0. Output (if any) goes to stdout, complaints to stderr."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    try:
        payload = read_payload(stdin)
        text = HOOKS[event](payload, settings.model_copy(update={"semantic": False, "transcript": ""}))
        if text:
            stdout.write(text if text.endswith("\n") else text + "\n")
            stdout.flush()
    except Exception as exc:  # the host's compaction must go on whatever happens here
        print(f"mcp-arena hook {event}: {exc}", file=sys.stderr)
    return 0


def read_payload(stdin: Any) -> dict[str, Any]:
    raw = stdin.read()
    payload = json.loads(raw) if raw.strip() else None
    if not isinstance(payload, dict):
        raise ValueError("expected the hook input as a JSON object on stdin")
    if not isinstance(payload.get("session_id"), str) and not isinstance(payload.get("transcript_path"), str):
        raise ValueError("the hook input names neither session_id nor transcript_path")
    return payload


# -- the hooks -------------------------------------------------------------------------------------


def pre_compact(payload: dict[str, Any], settings: Settings) -> str:
    arena = Arena(settings)
    try:
        session = _synced_session(arena, payload)
        trigger = str(payload.get("trigger") or "")
        note = EventDraft(
            kind="note",
            text=f"host compaction about to start (trigger: {trigger or 'unknown'})",
            meta={"hook": "pre-compact", "trigger": trigger, "custom_instructions": payload.get("custom_instructions") or ""},
        )
        [event] = arena.append(session, [note])
        with arena.locked(session) as ledger:
            arena.add_tag(ledger, Tag(f"compact-{event.seq}", event.seq, f"host compaction ({trigger or 'unknown'})", "hook"))
    finally:
        arena.close()
    return ""


def session_start(payload: dict[str, Any], settings: Settings) -> str:
    arena = Arena(settings)
    try:
        session = _synced_session(arena, payload)
        with arena.locked(session) as ledger:
            summary = ledger.anchored_summary()
            skills = _skills_in_use(arena, ledger)
        trail = artifacts.index(arena.trail.statuses(session))
        text = compose(session, summary, trail_brief(trail, str(payload.get("cwd") or "")), skills)
        return fit(text, settings.hook_budget_tokens, arena.count_tokens)
    finally:
        arena.close()


HOOKS: dict[str, Callable[[dict[str, Any], Settings], str]] = {"pre-compact": pre_compact, "session-start": session_start}


def _synced_session(arena: Arena, payload: dict[str, Any]) -> str:
    """The arena session of the hook's host session, brought up to date from its transcript."""
    path = payload.get("transcript_path")
    if isinstance(path, str) and path:
        settings = arena.settings.model_copy(update={"transcript": os.path.expanduser(path)})
        runtime = TranscriptRuntime(arena, settings, payload.get("cwd") or os.getcwd())
        runtime.sync()
        if runtime.session:
            return runtime.session
    session = payload.get("session_id")
    if not isinstance(session, str) or not arena.store.has_session(session):
        raise ValueError(f"no arena session for {session!r} and no readable transcript")
    return session


# -- what session-start prints ---------------------------------------------------------------------


def _skills_in_use(arena: Arena, ledger: Ledger) -> list[str]:
    state = ledger.pager_state
    names = sorted(state.skills) if state is not None else []
    return [arena.skills.catalog.get(name).one_liner for name in names if name in arena.skills.catalog]


def trail_brief(trail: artifacts.TrailIndex, cwd: str) -> list[str]:
    lines = []
    for label, statuses in trail.groups():
        if not statuses:
            continue
        paths = [_relative(status.path, cwd) for status in statuses]
        shown = ", ".join(paths[:PATHS_PER_GROUP])
        more = f" (+{len(paths) - PATHS_PER_GROUP} more)" if len(paths) > PATHS_PER_GROUP else ""
        lines.append(f"- {label} ({len(paths)}): {shown}{more}")
    return lines


def _relative(path: str, cwd: str) -> str:
    prefix = cwd.rstrip("/") + "/"
    return path[len(prefix) :] if cwd and path.startswith(prefix) else path


def compose(session: str, summary: str, trail: list[str], skills: list[str]) -> str:
    if not (summary or trail or skills):
        return ""
    parts = [f"[mcp-arena] Context carried over the compaction (arena session {session})."]
    if summary:
        parts.append("## Anchored summary\n" + summary.strip())
    if trail:
        parts.append("## Files touched this session (artifact trail; artifact_index for details)\n" + "\n".join(trail))
    if skills:
        parts.append("## Skills in use (load_skill(name) for a guide)\n" + "\n".join(skills))
    return "\n\n".join(parts)


def fit(text: str, budget: int, count_tokens: Callable[[str], int]) -> str:
    """The text, or its longest prefix (cut at a line where possible) that fits the budget with the cut marker."""
    if count_tokens(text) <= budget:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if count_tokens(text[:middle] + TRUNCATED) <= budget:
            low = middle
        else:
            high = middle - 1
    cut = text[:low]
    line_end = cut.rfind("\n")
    if line_end > len(cut) // 2:
        cut = cut[:line_end]
    return cut + TRUNCATED if cut else ""
