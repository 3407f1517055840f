"""SWE-agent trajectories (`.traj`, one JSON object) → arena events.

Two shapes exist, often in one file:

- `history`: the chat the model saw, OpenAI style: `role` system / user /
  assistant / tool; newer runs put `tool_calls` [{id, function: {name,
  arguments (a JSON string)}}] on assistant messages and `tool_call_ids` on
  tool messages. Older runs have no tool calls: the assistant message holds
  `thought` and `action` (a command line), the next user message the output.
- `trajectory`: one step per action: `action` (the command line), `thought`,
  `observation`, `response`, `state`.

When `history` has tool calls it is the record (it is what the model saw);
steps the trajectory has beyond it (the run ended before the last answer was
appended, typically `submit`) are added from the trajectory. Otherwise the
opening messages of `history` (system prompt, demonstrations, the task) come
first and every trajectory step becomes thought → tool_call → tool_result,
the command line parsed into a tool name and arguments by `parse_action`.

SWE-agent writes no timestamps per message, so `ts` is None.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mcp_arena.core.events import EventDraft
from mcp_arena.feeds.common import args_json, flatten_content, parse_arguments

log = logging.getLogger(__name__)

# Command name → its positional parameters (name, type), from SWE-agent's tool
# bundles (windowed, windowed_edit_*, search, submit, CTF tools). A name ending
# in `?` is optional; a line that does not fit is left unparsed.
COMMAND_SIGNATURES: dict[str, tuple[tuple[str, type], ...]] = {
    "open": (("path", str), ("line_number?", int)),
    "goto": (("line_number", int),),
    "scroll_up": (),
    "scroll_down": (),
    "create": (("filename", str),),
    "find_file": (("file_name", str), ("dir?", str)),
    "search_dir": (("search_term", str), ("dir?", str)),
    "search_file": (("search_term", str), ("file?", str)),
    "insert": (("text", str), ("line?", int)),
    "set_cursors": (("start_line", int), ("end_line", int)),
    "filemap": (("file_path", str),),
    "submit": (("flag?", str),),  # the CTF bundle submits a flag
    "exit_forfeit": (),
    "connect_start": (("server_address", str), ("port", int)),
    "connect_sendline": (("line", str),),
    "connect_stop": (),
    "decompile": (("binary_path", str),),
    "disassemble": (("binary_path", str),),
}
# The search/replace `edit` of windowed_edit_replace; the line-range and the
# cursor forms (text up to `end_of_edit`) are matched first.
EDIT_REPLACE_SIGNATURE = (("search", str), ("replace", str), ("replace-all?", bool))
EDIT_LINE_RANGE = re.compile(r"^edit\s+(\d+):(\d+)\s*\n(.*?)\n?end_of_edit\s*$", re.DOTALL)
EDIT_AT_CURSORS = re.compile(r"^edit\s*\n(.*?)\n?end_of_edit\s*$", re.DOTALL)
STR_REPLACE_EDITOR_SIGNATURE = (("command", str), ("path", str))
# `--name value` options a command accepts besides its positional parameters.
COMMAND_FLAGS: dict[str, dict[str, type]] = {
    "str_replace_editor": {"file_text": str, "old_str": str, "new_str": str, "insert_line": int, "view_range": list},
    "decompile": {"function_name": str},
    "disassemble": {"function_name": str},
}
KNOWN_COMMANDS = frozenset(COMMAND_SIGNATURES) | {"edit", "str_replace_editor"}


def read_trajectory(path: str | Path, source: str = "import") -> Iterator[EventDraft]:
    """Events of one `.traj` file."""
    with open(path, "rb") as handle:
        data = json.loads(handle.read().decode("utf-8", errors="replace"))
    yield from parse_trajectory(data, source=source)


def session_id_for(path: str | Path) -> str:
    """A `.traj` file holds one run; its name (instance and run hash) identifies it."""
    return Path(path).stem


def parse_trajectory(data: dict[str, Any], source: str = "import") -> Iterator[EventDraft]:
    history = [m for m in data.get("history") or [] if isinstance(m, dict)]
    steps = [s for s in data.get("trajectory") or [] if isinstance(s, dict)]
    if any(m.get("tool_calls") for m in history):
        yield from _from_history(history, source)
        calls_in_history = sum(1 for m in history if m.get("role") == "assistant" and m.get("tool_calls"))
        yield from _from_steps(steps[calls_in_history:], source, first_index=calls_in_history)
        return
    yield from (_message_event(m, source) for m in _opening(history))
    yield from _from_steps(steps, source)


def _opening(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages before the model's first answer: system prompt, demonstrations, task."""
    for index, message in enumerate(history):
        if message.get("role") == "assistant":
            return history[:index]
    return history


class _CallIds:
    """Recorded call ids → ids unique in the session.

    Hand-written demonstrations reuse ids (`call_5iDd…` answers four calls in
    one marshmallow demo); a repeated id becomes `<id>#2`, `<id>#3`, … and a
    tool message answers the latest call that had its id.
    """

    def __init__(self) -> None:
        self._uses: dict[str, int] = {}
        self._latest: dict[str, str] = {}
        self.tool_names: dict[str, str] = {}

    def new_call(self, recorded: str, tool: str) -> str:
        self._uses[recorded] = self._uses.get(recorded, 0) + 1
        unique = recorded if self._uses[recorded] == 1 else f"{recorded}#{self._uses[recorded]}"
        self._latest[recorded] = unique
        self.tool_names[unique] = tool
        return unique

    def answered(self, recorded: str) -> str:
        return self._latest.get(recorded, recorded)


def _from_history(history: list[dict[str, Any]], source: str) -> Iterator[EventDraft]:
    call_ids = _CallIds()
    for message in history:
        role = message.get("role")
        if role == "assistant":
            yield from _assistant_with_calls(message, source, call_ids)
        elif role == "tool":
            yield from _tool_results(message, source, call_ids)
        else:
            yield _message_event(message, source)


def _assistant_with_calls(message: dict[str, Any], source: str, call_ids: _CallIds) -> Iterator[EventDraft]:
    text = flatten_content(message.get("content"))
    if text:
        yield EventDraft(kind="assistant", text=text, source=source, meta=_message_meta(message))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        name = str(function.get("name") or "")
        call_id = call_ids.new_call(str(call.get("id") or ""), name)
        arguments = parse_arguments(function.get("arguments"))
        yield EventDraft(kind="tool_call", text=args_json(arguments), tool=name, source=source, call_id=call_id)


def _tool_results(message: dict[str, Any], source: str, call_ids: _CallIds) -> Iterator[EventDraft]:
    text = flatten_content(message.get("content"))
    for recorded in message.get("tool_call_ids") or [message.get("tool_call_id") or ""]:
        call_id = call_ids.answered(str(recorded))
        tool = call_ids.tool_names.get(call_id, "")
        yield EventDraft(kind="tool_result", text=text, tool=tool, source=source, call_id=call_id)


def _message_event(message: dict[str, Any], source: str) -> EventDraft:
    """A system, user or plain assistant message. The system prompt has no kind of its own: a note."""
    role = message.get("role")
    kind = {"user": "user", "assistant": "assistant"}.get(str(role), "note")
    return EventDraft(kind=kind, text=flatten_content(message.get("content")), source=source, meta=_message_meta(message))


def _message_meta(message: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if message.get("role") not in ("user", "assistant"):
        meta["role"] = message.get("role")
    if message.get("is_demo"):
        meta["is_demo"] = True
    if message.get("message_type"):
        meta["message_type"] = message["message_type"]
    return meta


def _from_steps(steps: list[dict[str, Any]], source: str, first_index: int = 0) -> Iterator[EventDraft]:
    for index, step in enumerate(steps, start=first_index):
        call_id = f"step-{index}"
        meta = {"from": "trajectory", "step": index}
        thought = str(step.get("thought") or "")
        if thought:
            yield EventDraft(kind="assistant", text=thought, source=source, meta=meta)
        tool, arguments = parse_action(str(step.get("action") or ""))
        yield EventDraft(kind="tool_call", text=args_json(arguments), tool=tool, source=source, call_id=call_id, meta=meta)
        observation = flatten_content(step.get("observation"))
        yield EventDraft(kind="tool_result", text=observation, tool=tool, source=source, call_id=call_id, meta=meta)


def parse_action(action: str) -> tuple[str, dict[str, Any]]:
    """A SWE-agent command line → (tool name, arguments).

    A known SWE-agent command keeps its name; its arguments are parsed only
    when the line fits the command's signature exactly, else they are
    `{"command": <the line>}`. Anything else is a shell command: `bash`.
    """
    line = action.strip()
    name = line.split(maxsplit=1)[0] if line else ""
    if name not in KNOWN_COMMANDS:
        return "bash", {"command": line}
    arguments = _parse_known(name, line)
    return name, arguments if arguments is not None else {"command": line}


def _parse_known(name: str, line: str) -> dict[str, Any] | None:
    if name == "edit":
        ranged = EDIT_LINE_RANGE.match(line)
        if ranged:
            start, end, text = ranged.groups()
            return {"start_line": int(start), "end_line": int(end), "replacement_text": text}
        at_cursors = EDIT_AT_CURSORS.match(line)
        if at_cursors:
            return {"text": at_cursors.group(1)}
    tokens = _split(line)
    if tokens is None:
        return None
    positional, flags = _separate_flags(tokens[1:], COMMAND_FLAGS.get(name, {}))
    if flags is None:
        return None
    signature = {"edit": EDIT_REPLACE_SIGNATURE, "str_replace_editor": STR_REPLACE_EDITOR_SIGNATURE}.get(name)
    bound = _bind(positional, signature if signature is not None else COMMAND_SIGNATURES[name])
    return None if bound is None else {**bound, **flags}


def _split(line: str) -> list[str] | None:
    try:
        return shlex.split(line)
    except ValueError:
        return None


def _separate_flags(values: list[str], accepted: dict[str, type]) -> tuple[list[str], dict[str, Any] | None]:
    """Split `--name value` options from positional values; None for the flags when one does not fit."""
    positional: list[str] = []
    flags: dict[str, Any] = {}
    index = 0
    while index < len(values):
        value = values[index]
        name = value.removeprefix("--")
        if not (accepted and value.startswith("--")):
            positional.append(value)
            index += 1
            continue
        if name not in accepted or index + 1 >= len(values):
            return positional, None
        converted = _convert(values[index + 1], accepted[name])
        if converted is None:
            return positional, None
        flags[name] = converted
        index += 2
    return positional, flags


def _bind(values: list[str], signature: tuple[tuple[str, type], ...]) -> dict[str, Any] | None:
    """Positional values → named arguments; None when they do not fit the signature."""
    required = sum(1 for param, _ in signature if not param.endswith("?"))
    if not required <= len(values) <= len(signature):
        return None
    bound: dict[str, Any] = {}
    for (param, kind), value in zip(signature, values):
        converted = _convert(value, kind)
        if converted is None:
            return None
        bound[param.removesuffix("?")] = converted
    return bound


def _convert(value: str, kind: type) -> Any:
    if kind is int:
        return int(value) if re.fullmatch(r"-?\d+", value) else None
    if kind is bool:
        return {"true": True, "false": False}.get(value.lower())
    if kind is list:
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, list) else None
    return value
