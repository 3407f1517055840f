"""The transcript feed as the engine uses it: follow the host's session file, bind it to a session.

`TranscriptRuntime(arena, settings, cwd)` follows `settings.transcript`:

- a path: that file;
- `auto`: the newest `*.jsonl` of the Claude Code project folder of `cwd`
  (the folder the host started the server in; see `locate.py`). The folder
  is re-listed only when its modification time changes (a new session file
  appeared, e.g. after `/clear`), so a sync with nothing new costs one or two
  `stat`s. Limits: two Claude Code windows in one folder write two files and
  the newest by mtime wins, which can flip between them; a host that does not
  start the server in the project folder needs an explicit path.

The arena session is the Claude Code `sessionId` (origin "transcript", label
the file path). `sync()` turns the lines appended since the last sync into
events, gives each main-thread API response a usage sample (the exact size of
the context the model was sent), appends them, and persists the feed's
position in `feed_state` so a restarted server resumes where it stopped.

Joining the PostToolUse hook's records (`join_hooked`, applied by
`Arena.append` under the session's lock to every feed's drafts): the hook logs
each tool's original output (source "hook", `call_id` = the tool_use id) and
hands the host a trimmed view, which is what the transcript then holds. A
transcript tool_use or tool_result whose id the hook already logged is that
call's copy, not a new call: it is left out (no second step, no tokens counted
twice; search and the artifact trail keep the original). Usage samples ride on
the assistant lines, never on these, so usage stays exact. The other order
(the feed read the tool_use before the hook ran, the usual case when the hook
is served by this process) is `Arena.shape_result`'s side: it does not log a
call the log already holds. One case is not a copy: the hook trimmed a result
but the transcript holds it whole (a Claude Code older than 2.1.121 ignores
`updatedToolOutput` for its built-in tools; a hook that timed out) — the trim
saved nothing, so a note carrying the tokens the host holds beyond the shown
view, marked `untrimmed`, takes the trim back out of the savings.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from mcp_arena.config import Settings
from mcp_arena.core.events import Event, EventDraft
from mcp_arena.core.ledger import Ledger, LoggedCall
from mcp_arena.core.tools import TOOL_NAMES
from mcp_arena.engine.store import Store
from mcp_arena.feeds import formats, locate
from mcp_arena.feeds.claude_code import context_tokens
from mcp_arena.feeds.live import ClaudeCodeFeed
from mcp_arena.feeds.turns import opens_turn

log = logging.getLogger(__name__)

FEED_NAME = "transcript"
# The host logs its calls of this server's tools too; the arena already logged them itself (with the
# guides it attached), and counting them twice would double the steps and echo in memory_search.
OWN_TOOLS = frozenset(TOOL_NAMES)


class UsageSampler:
    """Adds `meta["usage_sample"]` to the first usage of each main-thread API response.

    A response's later lines repeat its usage with the final `output_tokens`;
    the input side is unchanged, so sampling them again would add zero-growth
    turns and halve the per-turn growth the dashboard reports.
    """

    def __init__(self, window: int, last_message: str = "") -> None:
        self.window = window
        self.last_message = last_message

    def apply(self, drafts: Iterable[EventDraft]) -> list[EventDraft]:
        return [self._sampled(draft) for draft in drafts]

    def _sampled(self, draft: EventDraft) -> EventDraft:
        usage = draft.meta.get("usage")
        if not isinstance(usage, dict) or not opens_turn(draft, self.last_message):
            return draft
        self.last_message = str(draft.meta.get("message_id") or "")
        sample = {"used": context_tokens(usage), "window": self.window, "source": "transcript"}
        return dataclasses.replace(draft, meta={**draft.meta, "usage_sample": sample})


# Every trimmed view carries the marker line `core.trim.marker_line` writes; a copy without it is whole.
TRIM_MARKER = "[… mcp-arena: omitted "
CALL_KINDS = ("tool_call", "tool_result")


def join_hooked(ledger: Ledger, drafts: Sequence[EventDraft], count_tokens: Callable[[str], int]) -> list[EventDraft]:
    """The drafts to append: a feed's copies of calls the hook logged are left out (see the module doc)."""
    kept: list[EventDraft] = []
    for draft in drafts:
        logged = ledger.calls.get(draft.call_id) if draft.call_id and draft.kind in CALL_KINDS else None
        if logged is None or not logged.by_hook:
            kept.append(draft)
        elif draft.kind == "tool_result" and logged.kept_out and TRIM_MARKER not in draft.text:
            kept.append(untrimmed_note(draft, logged, count_tokens(draft.text)))
    return kept


def untrimmed_note(copy: EventDraft, logged: LoggedCall, host_tokens: int) -> EventDraft:
    """A note that the host holds the whole of a result the hook trimmed: the tokens it holds beyond the view."""
    text = f"the host kept the whole output of seq {logged.result_seq} ({copy.tool or 'tool'}): its trimmed view was not applied"
    return EventDraft(
        kind="note",
        text=text,
        tool=copy.tool,
        source=copy.source,
        call_id=copy.call_id,
        ts=copy.ts,
        meta={**copy.meta, "untrimmed": {"seq": logged.result_seq, "tokens_kept_out": logged.kept_out}},
        context_tokens=max(host_tokens - logged.shown_tokens, 0),
    )


def is_own_call(draft: EventDraft, relayed: frozenset[str] = frozenset()) -> bool:
    """A host's `mcp__<server>__<tool>` call or result of a tool this arena serves: its own six, or
    one it relays from an upstream (`relayed`: the names the host sees; the proxy logged those calls)."""
    if draft.kind not in ("tool_call", "tool_result") or not draft.tool.startswith("mcp__"):
        return False
    parts = draft.tool.split("__", 2)
    return draft.tool.rsplit("__", 1)[-1] in OWN_TOOLS or (len(parts) == 3 and parts[2] in relayed)


class SessionLog(Protocol):
    """What the follower needs of the engine: start a session, append to it, and the store for its position."""

    store: Store
    relayed_tools: Callable[[], frozenset[str]]

    def ensure_session(self, session: str, origin: str = ..., label: str = ...) -> bool: ...

    def append(self, session: str, drafts: Sequence[EventDraft], *, cwd: str | None = None) -> list[Event]: ...


class TranscriptRuntime:
    def __init__(self, arena: SessionLog, settings: Settings, cwd: str | Path) -> None:
        self.arena = arena
        self.settings = settings
        self.cwd = str(cwd)
        self.session: str | None = None
        self.path: Path | None = None
        self._feed: ClaudeCodeFeed | None = None
        self._sampler = UsageSampler(settings.window_tokens)
        self._state_ts = 0.0
        self._file_stamp: tuple[int, int, int] | None = None
        self._folder_stamp: int | None = None
        self._guard = threading.Lock()

    # -- the public side -------------------------------------------------------------------------

    def sync(self) -> int:
        """Append what the host wrote since the last sync; the number of events appended. Never raises."""
        try:
            with self._guard:
                self._follow_newest()
                feed, session, path = self._feed, self.session, self.path  # bound together by _bind
                if feed is None or session is None or path is None or not self._file_grew(path):
                    return 0
                return self._read_and_append(session, path, feed)
        except Exception as exc:  # the feed must never take a tool call down
            log.warning("transcript feed: sync of %s failed: %s", self.path, exc)
            self._forget()
            return 0

    def _forget(self) -> None:
        """Drop the in-memory position: the next sync resumes from the last persisted one, losing no line."""
        self._feed, self.path, self._file_stamp = None, None, None

    # -- which file, which session ----------------------------------------------------------------

    def _follow_newest(self) -> None:
        if self.settings.transcript != "auto":
            if self._feed is None:
                self._bind(Path(self.settings.transcript).expanduser())
            return
        if self._feed is not None and not self._folder_changed():
            return
        newest = locate.newest_transcript(self.cwd)
        if newest is not None and newest != self.path:
            self._bind(newest)

    def _folder_changed(self) -> bool:
        folder = self.path.parent if self.path else None
        try:
            stamp = os.stat(folder).st_mtime_ns if folder else None
        except OSError:
            stamp = None
        changed = stamp != self._folder_stamp
        self._folder_stamp = stamp
        return changed

    def _bind(self, path: Path) -> None:
        if not path.is_file():
            return  # not written yet: the host creates it with the first message
        session = formats.claude_code_session_id(path)
        self.arena.ensure_session(session, origin="transcript", label=str(path))
        saved = self.arena.store.newest_feed_state(session, FEED_NAME)
        state, self._state_ts = saved if saved else ({}, 0.0)
        self._feed = ClaudeCodeFeed(path, state.get("feed"), source="transcript")
        self._sampler = UsageSampler(self.settings.window_tokens, state.get("last_message", ""))
        self.session, self.path, self._file_stamp = session, path, None
        if self._folder_stamp is None:
            self._folder_changed()
        log.info("transcript feed: following %s as session %s", path, session)

    # -- reading ---------------------------------------------------------------------------------

    def _file_grew(self, path: Path) -> bool:
        try:
            stat = os.stat(path)
        except OSError:
            return False
        stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        grew = stamp != self._file_stamp
        self._file_stamp = stamp
        return grew

    def _read_and_append(self, session: str, path: Path, feed: ClaudeCodeFeed) -> int:
        feed = self._adopt_newer_state(session, path, feed)
        before = feed.tail.offset
        relayed = self.arena.relayed_tools()
        drafts = self._sampler.apply(draft for draft in feed.poll() if not is_own_call(draft, relayed))
        if feed.tail.offset == before and not drafts:
            return 0
        events = self.arena.append(session, drafts, cwd=self.cwd)
        state = {"feed": feed.state(), "last_message": self._sampler.last_message, "path": str(path)}
        self._state_ts = self.arena.store.save_feed_state(session, FEED_NAME, state)
        return len(events)

    def _adopt_newer_state(self, session: str, path: Path, feed: ClaudeCodeFeed) -> ClaudeCodeFeed:
        """The feed to read on with: a new one at a newer persisted position, else `feed`."""
        # A hook process may have read part of the file since our last sync: resume from its position.
        saved = self.arena.store.newest_feed_state(session, FEED_NAME, after_ts=self._state_ts)
        if saved is None:
            return feed
        state, self._state_ts = saved
        self._feed = ClaudeCodeFeed(path, state.get("feed"), source="transcript")
        self._sampler.last_message = state.get("last_message", "")
        return self._feed
