"""OpenHands event streams → arena events.

OpenHands records a session as a list of events: an *action* (`action` names
it: run, read, write, edit, message, think, finish, recall, system, …;
`args` holds its parameters, `args.thought` the model's text that came with
it) or an *observation* (`observation` names it, `cause` is the `id` of the
action it answers, `content` is what the agent was shown). `source` says who
acted: user, agent or environment.

Files come as a JSON list of events, a JSON object with a `history` list, or
JSONL whose lines are evaluation records (`instance_id`, `history`, …) — one
session per line. Very old runs store `history` as [action, observation]
pairs; they are flattened.

Mapping: a `message` action is a `user` or `assistant` event by its source;
the `system` action is the system prompt (a `note`); every other action is a
`tool_call` named after the action, preceded by an `assistant` event with its
thought; an observation with a `cause` is the `tool_result` of that call
(`call_id` = the action's id); one without a cause (a rejected tool call) is
a `note`. A result is an error when OpenHands says so: an `error`
observation, or `success: false` (a command that exited non-zero).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mcp_arena.core.events import EventDraft
from mcp_arena.feeds.common import args_json, decode_json_line, dict_field, flatten_content, unix_seconds

log = logging.getLogger(__name__)

# Actions whose `thought` is the argument itself, not a remark before the call.
THOUGHT_IS_ARGUMENT = frozenset({"think"})


def read_sessions(path: str | Path, source: str = "import") -> Iterator[tuple[str, Iterator[EventDraft]]]:
    """(session id, its events) for every session in an OpenHands file."""
    for session_id, history in iter_histories(path):
        yield session_id, parse_events(history, source=source)


def iter_histories(path: str | Path) -> Iterator[tuple[str, list[Any]]]:
    """(session id, raw event list) per session; a JSONL file is streamed record by record."""
    path = Path(path)
    if _looks_like_jsonl(path):
        yield from _jsonl_histories(path)
        return
    with open(path, "rb") as handle:
        data = json.loads(handle.read().decode("utf-8", errors="replace"))
    if isinstance(data, dict):
        yield str(data.get("instance_id") or path.stem), list(data.get("history") or [])
    elif isinstance(data, list):
        yield path.stem, data


def _looks_like_jsonl(path: Path) -> bool:
    """A JSON list or object parses whole; JSONL has a second value after the first line."""
    with open(path, "rb") as handle:
        first = handle.readline()
        rest = handle.read(256).strip()
    return first.strip().startswith(b"{") and bool(rest) and first.rstrip().endswith(b"}")


def _jsonl_histories(path: Path) -> Iterator[tuple[str, list[Any]]]:
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            record = decode_json_line(raw, where=f"{path}:{number}")
            if record is None:
                continue
            session_id = str(record.get("instance_id") or f"{path.stem}#{number}")
            yield session_id, list(record.get("history") or [])


def parse_events(history: list[Any], source: str = "import") -> Iterator[EventDraft]:
    """Events of one OpenHands history, in order."""
    tool_names: dict[str, str] = {}
    for event in _flatten_pairs(history):
        if "action" in event:
            yield from _action_events(event, source, tool_names)
        elif "observation" in event:
            yield _observation_event(event, source, tool_names)
        else:
            log.debug("openhands: skipped an event that is neither action nor observation")


def _flatten_pairs(history: list[Any]) -> Iterator[dict[str, Any]]:
    """Events as dicts; an old-style [action, observation] pair is linked by a made-up id."""
    for index, item in enumerate(history):
        if isinstance(item, dict):
            yield item
        elif isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(part, dict) for part in item):
            action, observation = dict(item[0]), dict(item[1])
            action.setdefault("id", f"pair-{index}")
            observation.setdefault("cause", action["id"])
            yield action
            if observation.get("observation"):
                yield observation


def _action_events(event: dict[str, Any], source: str, tool_names: dict[str, str]) -> Iterator[EventDraft]:
    action = str(event.get("action") or "")
    args = dict_field(event, "args")
    ts = unix_seconds(event.get("timestamp"))
    meta = _meta(event)
    if action == "message":
        kind = "user" if event.get("source") == "user" else "assistant"
        yield EventDraft(kind=kind, text=_message_text(event, args), source=source, ts=ts, meta=meta)
        return
    if action == "system":
        yield EventDraft(kind="note", text=_message_text(event, args), source=source, ts=ts, meta={**meta, "role": "system"})
        return
    thought = "" if action in THOUGHT_IS_ARGUMENT else str(args.get("thought") or "")
    if thought:
        yield EventDraft(kind="assistant", text=thought, source=source, ts=ts, meta=meta)
    call_id = str(event.get("id", ""))
    tool_names[call_id] = action
    arguments = args if action in THOUGHT_IS_ARGUMENT else {k: v for k, v in args.items() if k != "thought"}
    yield EventDraft(kind="tool_call", text=args_json(arguments), tool=action, source=source, call_id=call_id, ts=ts, meta=meta)


def _observation_event(event: dict[str, Any], source: str, tool_names: dict[str, str]) -> EventDraft:
    observation = str(event.get("observation") or "")
    is_error = observation == "error" or event.get("success") is False
    text = flatten_content(event.get("content")) or str(event.get("message") or "")
    ts = unix_seconds(event.get("timestamp"))
    meta = {**_meta(event), "observation": observation}
    cause = event.get("cause")
    call_id = str(cause) if cause is not None else ""
    if call_id not in tool_names:
        # Nothing this answers (e.g. a tool call OpenHands rejected before acting): keep it, unpaired.
        return EventDraft(kind="note", text=text, is_error=is_error, source=source, ts=ts, meta=meta)
    return EventDraft(
        kind="tool_result",
        text=text,
        tool=tool_names[call_id],
        is_error=is_error,
        source=source,
        call_id=call_id,
        ts=ts,
        meta=meta,
    )


def _message_text(event: dict[str, Any], args: dict[str, Any]) -> str:
    return flatten_content(args.get("content")) or str(event.get("message") or "")


def _meta(event: dict[str, Any]) -> dict[str, Any]:
    # `actor`, not `source`: an event's `source` already names the feed it came through.
    meta: dict[str, Any] = {"id": event.get("id"), "actor": event.get("source")}
    tool_call = event.get("tool_call_metadata")
    if isinstance(tool_call, dict) and tool_call.get("tool_call_id"):
        meta["tool_call_id"] = tool_call["tool_call_id"]
    return {key: value for key, value in meta.items() if value is not None}
