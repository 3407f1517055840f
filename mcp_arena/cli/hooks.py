"""Claude Code hooks that carry the arena across a host compaction.

Claude Code runs a hook command with one JSON object on stdin (`session_id`,
`transcript_path`, `cwd`, `hook_event_name`, and `source` for SessionStart —
startup | resume | clear | compact — or `trigger` for PreCompact — manual |
auto — with the user's `/compact` text as `custom_instructions`). What a
SessionStart hook prints on stdout is added to the context. What a PreCompact
hook prints on stdout with exit 0 becomes custom compaction instructions,
joined to the user's own (Claude Code's `executePreCompactHooks` keeps the
trimmed stdout of the hooks that succeeded, as quoted in lossless-claude/lcm#228);
it must be plain text: PreCompact has no `hookSpecificOutput`, and JSON that
is not the common fields fails the host's validation.

- `hook pre-compact`: brings the session up to date from the transcript,
  records the compaction point (a `note` event and a tag of origin "hook") and
  prints the compaction instructions: keep the anchored sections, every file
  path the session created, modified or deleted (the artifact trail), the
  exact first line of the newest error results, and the decisions of the
  arena's anchored summary — what seed 003 finds summaries lose first —
  within `hook_budget_tokens`.
- `hook session-start`: brings the session up to date and prints what the host
  should re-inject — the anchored summary, the artifact trail in brief, the
  skills in use — within `hook_budget_tokens`.

A hook must never fail the host: bad or missing input, an unknown session or
any error ends with exit 0 and nothing on stdout; the reason goes to stderr.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from mcp_arena.cli import hook_client
from mcp_arena.config import Settings
from mcp_arena.core import artifacts
from mcp_arena.core.events import EventDraft
from mcp_arena.core.ledger import Ledger, Tag
from mcp_arena.engine.arena import Arena
from mcp_arena.engine.transcript import TranscriptRuntime

PATHS_PER_GROUP = 15
TRUNCATED = "\n… (cut to fit the hook budget)"
ERRORS_SHOWN = 5  # the newest error results whose message the compaction must keep
ERRORS_READ = 50  # error results read to find them (a loop of one failure repeats one message)
ERROR_LINE_CHARS = 240
CHANGED_GROUPS = ("created", "modified", "deleted")
# The line of an error result that says what went wrong; the first line ("Exit code 1") often does not.
ERROR_WORDS = re.compile(
    r"error|exception|traceback|fail|fatal|panic|denied|refused|not found|no such|cannot|can't|invalid|undefined|unknown|rejected",
    re.IGNORECASE,
)
ERROR_TAGS = re.compile(r"</?tool_use_error>")


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
            summary = ledger.anchored_summary()
        trail = artifacts.index(arena.trail.statuses(session))
        changed = trail_brief(trail, str(payload.get("cwd") or ""), CHANGED_GROUPS)
        text = compaction_instructions(session, summary, changed, recent_errors(arena, session, ERRORS_SHOWN))
        return fit(text, settings.hook_budget_tokens, arena.count_tokens)
    finally:
        arena.close()


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


HOOKS: dict[str, Callable[[dict[str, Any], Settings], str]] = {
    "pre-compact": pre_compact,
    "session-start": session_start,
    "post-tool-use": hook_client.hook,  # the fast path is the `mcp-arena-hook` command (same module)
}


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


def trail_brief(trail: artifacts.TrailIndex, cwd: str, groups: tuple[str, ...] = ()) -> list[str]:
    """One line per group of the trail (those named in `groups`, all when empty): its paths, relative to `cwd`."""
    lines = []
    for label, statuses in trail.groups():
        if not statuses or (groups and label not in groups):
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


# -- what pre-compact prints -----------------------------------------------------------------------


def recent_errors(arena: Arena, session: str, count: int) -> list[str]:
    """`- Tool (seq N): message` for the newest `count` distinct error messages, oldest first."""
    rows = arena.store.events(session, kinds=["tool_result"], columns=["seq", "is_error"])
    error_seqs = [row["seq"] for row in rows if row["is_error"]][-ERRORS_READ:]
    newest: dict[str, tuple[int, str]] = {}  # message -> (its newest seq, tool)
    for seq in reversed(error_seqs):
        [row] = arena.store.events(session, seq_min=seq, seq_max=seq, columns=["seq", "tool", "text"])
        newest.setdefault(error_line(row["text"]), (seq, row["tool"] or "tool"))
        if len(newest) == count:
            break
    return [f"- {tool} (seq {seq}): {message}" for message, (seq, tool) in sorted(newest.items(), key=lambda item: item[1])]


def error_line(text: str) -> str:
    """The line of an error result that names the error (else its first line), clipped."""
    lines = [ERROR_TAGS.sub("", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    line = next((line for line in lines if ERROR_WORDS.search(line)), lines[0] if lines else "(no message)")
    return line if len(line) <= ERROR_LINE_CHARS else line[: ERROR_LINE_CHARS - 1] + "…"


def compaction_instructions(session: str, summary: str, changed: list[str], errors: list[str]) -> str:
    """What the host's compaction should keep; empty when the arena knows nothing the host does not."""
    if not (summary or changed or errors):
        return ""
    parts = [
        f"[mcp-arena] For this compaction (arena session {session}):\n"
        "- Write the summary under these headings: Session Intent, Files Modified, Decisions Made, Current State, Next Steps.\n"
        "- Keep verbatim every file path and every error message listed below, and each decision with its reason.\n"
        "- What the summary leaves out stays searchable: the arena's memory_search(query=...) finds it."
    ]
    if changed:
        parts.append("## Files created, modified or deleted (artifact trail)\n" + "\n".join(changed))
    if errors:
        parts.append("## Recent errors (newest last)\n" + "\n".join(errors))
    if summary:
        parts.append("## The arena's anchored summary (merge it in; drop none of its files or decisions)\n" + summary.strip())
    return "\n\n".join(parts)
