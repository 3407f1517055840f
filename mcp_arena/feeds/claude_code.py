"""Claude Code session transcripts → arena events.

Claude Code writes one JSONL file per session under
`<claude home>/projects/<encoded cwd>/<session id>.jsonl` (see `locate.py`).
Each line is one JSON object; `type` says what it is:

- `user`: `message.content` is a string or blocks (`text`, `image`,
  `tool_result` with `tool_use_id`, `content`, `is_error`).
- `assistant`: one API response is streamed over several lines that share
  `message.id` (and `requestId`), one content block per line (`text`,
  `thinking`, `tool_use`), each repeating `message.usage`. The input side of
  that usage is the same on every line; `output_tokens` is final only on the
  later ones.
- `system`: `subtype` `compact_boundary` marks a host compaction
  (`compactMetadata.preTokens`, `trigger`); other subtypes are notices.
- `progress`: hook progress (skipped) or `agent_progress`, whose
  `data.message` is one line of a subagent's conversation (a sidechain).
- `summary`, `file-history-snapshot`, `queue-operation`, … : bookkeeping.

Decisions:

- Thinking blocks are skipped: Claude Code does not send them back to the model
  in later turns, so they do not occupy the context the arena accounts for.
- Usage: the first line of an API response always yields an `assistant` event
  (its text, possibly empty) whose `meta["usage"]` carries the usage; a later
  line of the same response carries `usage` again only when it changed (the
  final `output_tokens`). Every event of an assistant line has
  `meta["message_id"]`. `turn_usage` keeps the last usage per message id.
- Sidechain lines (subagents) are kept with `meta["sidechain"] = True` and the
  `agent_id`; their usage is a different context window and `turn_usage`
  leaves it out unless asked.
- The size of the context a request sent is `context_tokens(usage)`: fresh
  input plus cache reads plus cache writes (output is not part of it). Which
  events open a turn is `turns.py`'s business, for every format.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_arena.core.events import EventDraft
from mcp_arena.feeds.common import args_json, decode_json_line, dict_field, flatten_content, unix_seconds
from mcp_arena.feeds.turns import is_model_response

log = logging.getLogger(__name__)

CONTEXT_FIELDS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
USAGE_FIELDS = (*CONTEXT_FIELDS, "output_tokens")
TOOL_USE_BLOCKS = ("tool_use", "server_tool_use", "mcp_tool_use")
SKIPPED_BLOCKS = ("thinking", "redacted_thinking")
# Bounds of the parser's memory of earlier lines (tool names by call id, usage
# already emitted): enough for any response in flight, small enough to persist.
MAX_REMEMBERED_CALLS = 512
MAX_REMEMBERED_MESSAGES = 64


def context_tokens(usage: Mapping[str, Any]) -> int:
    """The size of the context one request sent: fresh input plus cache reads and writes.

    With prompt caching most of a request is a cache read, so `input_tokens`
    alone is a few tokens; missing or null fields count as 0."""
    return sum(int(usage.get(name) or 0) for name in CONTEXT_FIELDS)


@dataclass(frozen=True)
class TurnUsage:
    """Token usage of one API request (one assistant turn) as Claude Code logged it."""

    message_id: str
    request_id: str
    input_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    output_tokens: int
    ts: float | None = None
    model: str = ""
    sidechain: bool = False
    agent_id: str = ""

    @property
    def context_tokens(self) -> int:
        """The size of the context the model was sent in this turn."""
        return context_tokens(vars(self))


def session_id_of(line: dict[str, Any]) -> str | None:
    """The Claude Code session a line belongs to (`sessionId`), if it says."""
    value = line.get("sessionId") if isinstance(line, dict) else None
    return value if isinstance(value, str) and value else None


def cwd_of(line: dict[str, Any]) -> str | None:
    """The working directory Claude Code ran in when it wrote the line, if it says."""
    value = line.get("cwd") if isinstance(line, dict) else None
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class _LineContext:
    """What every event of one line shares."""

    ts: float | None
    uuid: str
    sidechain: bool
    agent_id: str
    parent_tool_use_id: str

    def meta(self, **extra: Any) -> dict[str, Any]:
        meta: dict[str, Any] = {"uuid": self.uuid} if self.uuid else {}
        if self.sidechain:
            meta["sidechain"] = True
            if self.agent_id:
                meta["agent_id"] = self.agent_id
            if self.parent_tool_use_id:
                meta["parent_tool_use_id"] = self.parent_tool_use_id
        meta.update({key: value for key, value in extra.items() if value not in (None, "")})
        return meta


class ClaudeCodeParser:
    """Turns Claude Code lines (already decoded JSON) into `EventDraft`s, one line at a time.

    It remembers a little across lines — the tool name of each call id (a
    result names only the id) and the usage already emitted per response — and
    that memory is a small JSON-ready dict (`state()`), so a live feed can
    resume after a restart.
    """

    def __init__(self, source: str = "transcript", state: dict[str, Any] | None = None) -> None:
        self.source = source
        self._tool_names: OrderedDict[str, str] = OrderedDict()
        self._usage_sent: OrderedDict[str, dict[str, int]] = OrderedDict()
        self.skipped: Counter[str] = Counter()
        if state:
            self._tool_names.update(state.get("tool_names", {}))
            self._usage_sent.update(state.get("usage_sent", {}))

    def state(self) -> dict[str, Any]:
        return {"tool_names": dict(self._tool_names), "usage_sent": dict(self._usage_sent)}

    def feed(self, line: Any) -> list[EventDraft]:
        """Events of one line; a line of an unknown or malformed shape yields none."""
        if not isinstance(line, dict):
            self.skipped["not-an-object"] += 1
            return []
        try:
            return self._dispatch(line)
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            # A line of a shape this parser does not know must not stop the feed.
            log.warning("claude-code: skipped a malformed %r line (%s)", line.get("type"), exc)
            self.skipped["malformed"] += 1
            return []

    def _dispatch(self, line: dict[str, Any]) -> list[EventDraft]:
        kind = line.get("type")
        if kind in ("user", "assistant"):
            return self._message_events(line, self._context(line))
        if kind == "system":
            return self._system_events(line)
        if kind == "summary":
            return self._summary_events(line)
        if kind == "progress":
            return self._progress_events(line)
        self.skipped[str(kind)] += 1
        return []

    @staticmethod
    def _context(line: dict[str, Any], *, sidechain: bool = False, agent_id: str = "", parent: str = "") -> _LineContext:
        return _LineContext(
            ts=unix_seconds(line.get("timestamp")),
            uuid=str(line.get("uuid") or ""),
            sidechain=sidechain or bool(line.get("isSidechain")),
            agent_id=agent_id or str(line.get("agentId") or ""),
            parent_tool_use_id=parent,
        )

    def _message_events(self, line: dict[str, Any], ctx: _LineContext) -> list[EventDraft]:
        message = line.get("message")
        if not isinstance(message, dict):
            self.skipped[f"{line.get('type')}-without-message"] += 1
            return []
        if line.get("type") == "assistant":
            return self._assistant_events(line, message, ctx)
        return self._user_events(line, message, ctx)

    # -- user lines ---------------------------------------------------------

    def _user_events(self, line: dict[str, Any], message: dict[str, Any], ctx: _LineContext) -> list[EventDraft]:
        flags = {"is_meta": bool(line.get("isMeta")) or None, "compact_summary": bool(line.get("isCompactSummary")) or None}
        content = message.get("content")
        if not isinstance(content, list):
            return [self._event("user", flatten_content(content), ctx, **flags)]
        events: list[EventDraft] = []
        pending_text: list[dict[str, Any]] = []
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                events.extend(self._user_text(pending_text, ctx, flags))
                pending_text = []
                events.append(self._tool_result(block, ctx))
            else:
                pending_text.append(block)
        events.extend(self._user_text(pending_text, ctx, flags))
        return events

    def _user_text(self, blocks: list[Any], ctx: _LineContext, flags: dict[str, Any]) -> list[EventDraft]:
        if not blocks:
            return []
        return [self._event("user", flatten_content(blocks), ctx, **flags)]

    def _tool_result(self, block: dict[str, Any], ctx: _LineContext) -> EventDraft:
        call_id = str(block.get("tool_use_id") or "")
        return EventDraft(
            kind="tool_result",
            text=flatten_content(block.get("content")),
            tool=self._tool_names.get(call_id, ""),
            is_error=bool(block.get("is_error")),
            source=self.source,
            call_id=call_id,
            ts=ctx.ts,
            meta=ctx.meta(),
        )

    # -- assistant lines ----------------------------------------------------

    def _assistant_events(self, line: dict[str, Any], message: dict[str, Any], ctx: _LineContext) -> list[EventDraft]:
        message_id = str(message.get("id") or ctx.uuid)
        ids = {"message_id": message_id, "request_id": line.get("requestId")}
        blocks = message.get("content")
        if not isinstance(blocks, list):
            blocks = [{"type": "text", "text": flatten_content(blocks)}]
        texts = [str(b.get("text") or "") for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
        events: list[EventDraft] = []
        usage = self._new_usage(message_id, message.get("usage"))
        if usage is not None:
            model = message.get("model")
            events.append(self._event("assistant", "\n\n".join(texts), ctx, usage=usage, model=model, **ids))
        elif texts:
            events.append(self._event("assistant", "\n\n".join(texts), ctx, **ids))
        for block in blocks:
            events.extend(self._assistant_block(block, ctx, ids))
        return events

    def _assistant_block(self, block: Any, ctx: _LineContext, ids: dict[str, Any]) -> list[EventDraft]:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind in ("text", *SKIPPED_BLOCKS):
            return []
        if kind in TOOL_USE_BLOCKS:
            return [self._tool_call(block, ctx, ids)]
        if isinstance(kind, str) and kind.endswith("_tool_result"):
            # Server-side tools (web search, code execution) answer inside the same response.
            return [self._tool_result(block, ctx)]
        self.skipped[f"assistant-block:{kind}"] += 1
        return []

    def _tool_call(self, block: dict[str, Any], ctx: _LineContext, ids: dict[str, Any]) -> EventDraft:
        call_id = str(block.get("id") or "")
        name = str(block.get("name") or "")
        self._remember(self._tool_names, call_id, name, MAX_REMEMBERED_CALLS)
        return EventDraft(
            kind="tool_call",
            text=args_json(block.get("input") or {}),
            tool=name,
            source=self.source,
            call_id=call_id,
            ts=ctx.ts,
            meta=ctx.meta(**ids),
        )

    def _new_usage(self, message_id: str, raw: Any) -> dict[str, int] | None:
        """The line's usage if this response has not emitted this exact usage yet."""
        if not isinstance(raw, dict):
            return None
        usage = {name: int(raw.get(name) or 0) for name in USAGE_FIELDS}
        if self._usage_sent.get(message_id) == usage:
            return None
        self._remember(self._usage_sent, message_id, usage, MAX_REMEMBERED_MESSAGES)
        return usage

    # -- other line types ---------------------------------------------------

    def _system_events(self, line: dict[str, Any]) -> list[EventDraft]:
        ctx = self._context(line)
        subtype = str(line.get("subtype") or "")
        if subtype == "compact_boundary":
            compact = dict_field(line, "compactMetadata")
            text = str(line.get("content") or "Conversation compacted")
            return [self._event("compaction", text, ctx, **compact)]
        text = flatten_content(line.get("content")) or subtype
        return [self._event("note", text, ctx, subtype=subtype, level=line.get("level"))]

    def _summary_events(self, line: dict[str, Any]) -> list[EventDraft]:
        ctx = self._context(line)
        return [self._event("note", str(line.get("summary") or ""), ctx, subtype="summary", leaf_uuid=line.get("leafUuid"))]

    def _progress_events(self, line: dict[str, Any]) -> list[EventDraft]:
        data = dict_field(line, "data")
        nested = data.get("message")
        if data.get("type") != "agent_progress" or not isinstance(nested, dict):
            self.skipped[f"progress:{data.get('type')}"] += 1
            return []
        ctx = self._context(
            nested,
            sidechain=True,
            agent_id=str(data.get("agentId") or ""),
            parent=str(line.get("parentToolUseID") or ""),
        )
        if nested.get("type") not in ("user", "assistant"):
            self.skipped[f"agent_progress:{nested.get('type')}"] += 1
            return []
        return self._message_events(nested, ctx)

    # -- helpers ------------------------------------------------------------

    def _event(self, kind: str, text: str, ctx: _LineContext, **meta: Any) -> EventDraft:
        return EventDraft(kind=kind, text=text, source=self.source, ts=ctx.ts, meta=ctx.meta(**meta))

    @staticmethod
    def _remember(memory: OrderedDict[str, Any], key: str, value: Any, limit: int) -> None:
        memory[key] = value
        memory.move_to_end(key)
        while len(memory) > limit:
            memory.popitem(last=False)


def parse_lines(lines: Iterable[Any], source: str = "import") -> Iterator[EventDraft]:
    """Events of decoded Claude Code lines, in order."""
    parser = ClaudeCodeParser(source=source)
    for line in lines:
        yield from parser.feed(line)


def iter_lines(path: str | Path) -> Iterator[dict[str, Any]]:
    """Decoded lines of a Claude Code JSONL file, streamed; unreadable lines are skipped."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            record = decode_json_line(raw, where=f"{path}:{number}")
            if record is not None:
                yield record


def tool_calls(path: str | Path) -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(the line, its `tool_result` block, the `tool_use` block it answers) for every answered tool call, in order."""
    uses: dict[str, dict[str, Any]] = {}
    for record in iter_lines(path):
        blocks = dict_field(record, "message").get("content")
        for block in blocks if isinstance(blocks, list) else []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use":
                uses[block.get("id", "")] = block
            elif block.get("type") == "tool_result" and block.get("tool_use_id") in uses:
                yield record, block, uses[block["tool_use_id"]]


def read_transcript(path: str | Path, source: str = "import") -> Iterator[EventDraft]:
    """Events of a whole Claude Code transcript file, streamed."""
    return parse_lines(iter_lines(path), source=source)


def turn_usage(events: Iterable[EventDraft], include_sidechain: bool = False) -> list[TurnUsage]:
    """Usage per API request (per turn, see `turns.py`; with `include_sidechain`
    the subagents' requests too), in the order the requests appear.

    A later usage of the same message id replaces the earlier one (the final
    `output_tokens` arrives on a later line; the input side never changes).
    Claude Code's synthetic error messages carry no real usage and are left out.
    """
    turns: dict[str, TurnUsage] = {}
    for event in events:
        usage = event.meta.get("usage")
        if not isinstance(usage, dict) or not is_model_response(event, subagents=include_sidechain):
            continue
        sidechain = bool(event.meta.get("sidechain"))
        message_id = str(event.meta.get("message_id") or "")
        earlier = turns.get(message_id)
        turns[message_id] = TurnUsage(
            message_id=message_id,
            request_id=str(event.meta.get("request_id") or ""),
            input_tokens=usage.get("input_tokens", 0),
            cache_read_input_tokens=usage.get("cache_read_input_tokens", 0),
            cache_creation_input_tokens=usage.get("cache_creation_input_tokens", 0),
            output_tokens=usage.get("output_tokens", 0),
            ts=earlier.ts if earlier else event.ts,
            model=str(event.meta.get("model") or (earlier.model if earlier else "")),
            sidechain=sidechain,
            agent_id=str(event.meta.get("agent_id") or ""),
        )
    return list(turns.values())
