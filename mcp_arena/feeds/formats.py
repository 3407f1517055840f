"""Which agent wrote a transcript file, and its sessions as arena events.

`detect` looks at the content (the extension only breaks a tie); `read_sessions`
yields one `(session id, events)` pair per session the file holds, which is
what a bulk import needs: an OpenHands evaluation file holds one session per
line, a Claude Code or SWE-agent file exactly one.

Session identity, stable across re-imports of the same file:

- Claude Code: the `sessionId` the lines carry (the file is named after it).
  A subagent's own file (`<session>/subagents/agent-<id>.jsonl`) carries the
  parent's `sessionId`; it gets `<sessionId>:agent-<agentId>` so that the
  subagent's separate context window is not merged into its parent's.
- SWE-agent: the file name without `.traj` (instance id and run hash).
- OpenHands: the record's `instance_id` in evaluation JSONL, else the file name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from mcp_arena.core.events import EventDraft
from mcp_arena.errors import InvalidArgument
from mcp_arena.feeds import claude_code, openhands, swe_agent

FORMATS = ("claude-code", "swe-agent", "openhands")
CLAUDE_LINE_TYPES = frozenset(
    {"user", "assistant", "system", "progress", "summary", "file-history-snapshot", "queue-operation", "attachment"}
)
HEAD_BYTES = 64 * 1024
SESSION_ID_SCAN_LINES = 500  # the first lines of a Claude Code file without a sessionId are bookkeeping


def detect(path: str | Path) -> str:
    """"claude-code", "swe-agent" or "openhands", from the file's content."""
    path = Path(path)
    head = _head(path)
    stripped = head.lstrip()
    if stripped.startswith(b"["):
        if b'"action"' in head or b'"observation"' in head:
            return "openhands"
    elif stripped.startswith(b"{"):
        found = _detect_from_first_line(path) or _detect_from_head(head)
        if found:
            return found
    by_extension = {".traj": "swe-agent", ".jsonl": "claude-code"}.get(path.suffix)
    if by_extension and stripped:
        return by_extension
    raise InvalidArgument(
        f"{path} is not a transcript this server reads; expected one of {', '.join(FORMATS)} "
        "(Claude Code JSONL, a SWE-agent .traj, an OpenHands event list or output.jsonl)."
    )


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(HEAD_BYTES)
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc.strerror or exc}") from exc


def _detect_from_first_line(path: Path) -> str | None:
    """A JSONL line or a one-line JSON document: judge it by its keys."""
    with open(path, "rb") as handle:
        first_line = handle.readline()
    try:
        record = json.loads(first_line.decode("utf-8", errors="replace"))
    except ValueError:
        return None  # the first line of a pretty-printed document: not an error, just not telling
    if not isinstance(record, dict):
        return None
    if record.get("type") in CLAUDE_LINE_TYPES or ("type" in record and "sessionId" in record):
        return "claude-code"
    if "trajectory" in record:
        return "swe-agent"
    history = record.get("history")
    if isinstance(history, list) and history:
        return _detect_from_history_item(history[0])
    return None


def _detect_from_history_item(item: Any) -> str | None:
    if isinstance(item, (list, tuple)) and item:
        item = item[0]  # an old OpenHands [action, observation] pair
    if not isinstance(item, dict):
        return None
    if "role" in item:
        return "swe-agent"
    if "action" in item or "observation" in item:
        return "openhands"
    return None


def _detect_from_head(head: bytes) -> str | None:
    """A pretty-printed JSON object, judged by the keys near its top."""
    if b'"trajectory"' in head or (b'"history"' in head and b'"role"' in head):
        return "swe-agent"
    if b'"history"' in head and (b'"action"' in head or b'"observation"' in head):
        return "openhands"
    return None


def read_sessions(path: str | Path, source: str = "import") -> Iterator[tuple[str, Iterator[EventDraft]]]:
    """(session id, its events) for each session in the file, streamed."""
    path = Path(path)
    kind = detect(path)
    if kind == "claude-code":
        yield claude_code_session_id(path), claude_code.read_transcript(path, source=source)
    elif kind == "swe-agent":
        yield swe_agent.session_id_for(path), swe_agent.read_trajectory(path, source=source)
    else:
        yield from openhands.read_sessions(path, source=source)


def read_any(path: str | Path, source: str = "import") -> Iterator[EventDraft]:
    """Every event in the file, all sessions one after another."""
    for _session_id, events in read_sessions(path, source=source):
        yield from events


def session_ids(path: str | Path) -> list[str]:
    """The sessions a file holds, in file order, without parsing their events."""
    path = Path(path)
    kind = detect(path)
    if kind == "claude-code":
        return [claude_code_session_id(path)]
    if kind == "swe-agent":
        return [swe_agent.session_id_for(path)]
    return [session_id for session_id, _history in openhands.iter_histories(path)]


def claude_code_session_id(path: str | Path) -> str:
    """The session of a Claude Code file, from its first lines; the file name if none says."""
    path = Path(path)
    for line in islice(claude_code.iter_lines(path), SESSION_ID_SCAN_LINES):
        session_id = claude_code.session_id_of(line)
        if session_id is None:
            continue
        agent_id = line.get("agentId")
        if line.get("isSidechain") and agent_id:
            return f"{session_id}:agent-{agent_id}"
        return session_id
    return path.stem

