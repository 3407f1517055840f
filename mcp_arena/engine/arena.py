"""The engine: sessions, the append-only log, tags, squashes, status, skills, search, artifacts.

Knows nothing of MCP. Each tool is one public method (`context_status`, `tag`,
`squash`, `load_skill`, `memory_search`, `artifact_index`) that takes the tool's
arguments plus `session`, `connection` and `principal` and returns a `Reply`. All
six run through `_call`: it resolves the session in the caller's namespace (a name
not seen yet starts one, `core.sessions`) and checks every argument against its
bound (`core.limits`); then, under the session's lock, it logs the call, runs the
tool body against the session's ledger, attaches paged skill guides after the
result body, and logs the result and the paging decision — so token counts stay
true and a restarted server sees exactly what this one saw. A call's tag and
squash rows are written after its events, so a killed process never leaves a
record pointing at a seq the log does not hold.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from mcp_arena.config import Settings
from mcp_arena.core import limits, listing, sessions, shape, trim
from mcp_arena.core import squash as squashing
from mcp_arena.core import status as dashboard
from mcp_arena.core.events import Event, EventDraft
from mcp_arena.core.ledger import Ledger, SquashRecord, Tag
from mcp_arena.core.limits import MAX_NOTE_CHARS, MAX_REPORTED_TOKENS
from mcp_arena.core.results import MAX_NOTE_ECHOED, PageResult, SkillInfo, SkillResult, SquashResult, StatusResult, TagResult
from mcp_arena.core.tokens import TokenCounter
from mcp_arena.core.tools import ToolName
from mcp_arena.engine import memory_search as searching
from mcp_arena.engine import pages, trail
from mcp_arena.engine.recall import SearchRuntime
from mcp_arena.engine.skills import SkillsRuntime
from mcp_arena.engine.store import Store, event_from_row, event_row
from mcp_arena.engine.transcript import TranscriptRuntime, join_hooked
from mcp_arena.errors import ArenaError, DuplicateTag, InvalidArgument, StoreError, UnknownSession, UnknownSkill

log = logging.getLogger("mcp_arena.engine.arena")

TAG_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")  # fullmatch: `$` would let a trailing newline through
LEDGER_COLUMNS = ("session", "seq", "kind", "tool", "tokens", "is_error", "source", "call_id", "ts", "meta")


@dataclass(frozen=True)
class Reply:
    """What a tool call returns: the text the model reads, structured content, the error flag."""

    text: str
    structured: dict[str, Any] | None
    is_error: bool
    session: str
    meta: dict[str, Any] | None = None  # the result's `_meta` (a page of a trimmed result says where the next one is)


Body = Callable[[Ledger, int], tuple[str, Any]]  # (the session's ledger, the call's seq) -> (text, result model)


class Arena:
    def __init__(self, settings: Settings):
        self.settings = settings
        settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)  # a new home: the sessions are its owner's only
        self.store = Store(
            settings.database,
            settings.home / "locks",
            optimize_every=settings.optimize_every,
            keep_versions_seconds=settings.keep_versions_seconds,
            journal_dir=settings.home / "journal",
            journal_fsync=settings.journal_fsync,
        )
        self._counter: TokenCounter | None = None
        self._counter_ready = threading.Event()
        threading.Thread(target=self._load_counter, name="arena-tokens", daemon=True).start()
        self._ledgers: dict[str, Ledger] = {}
        self._ledgers_guard = threading.Lock()
        self._default_sessions: dict[str, str] = {}
        self._known_sessions: set[str] = set()  # sessions are never deleted: once seen, always there
        # Tag and squash rows of a call, written after its events (see `_write_records`), per session.
        self._unwritten: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        # Tool calls run at once; the rest wait their turn. 50 at once on 2 cores took 167 ms of CPU a call
        # (threads and LanceDB's readers thrashing) against 50 ms with 4 (benchmarks/load_http.py).
        self._admitted = threading.BoundedSemaphore(settings.max_concurrent_calls)
        self._budgets = shape.Budgets(
            command=settings.trim_command_tokens,
            log=settings.trim_log_tokens,
            listing=settings.trim_listing_tokens,
            web=settings.trim_web_tokens,
            file=settings.trim_file_tokens,
            other=settings.trim_other_tokens,
            stage1=settings.stage1,
            pressure_factor=settings.trim_pressure_factor,
        )
        # Lines on proxied servers that are down or changed their tools, for context_status (set by the proxy).
        self.upstream_notes: Callable[[], list[str]] = list
        # The names the host sees for proxied tools (set by the proxy): the transcript feed leaves their calls out.
        self.relayed_tools: Callable[[], frozenset[str]] = frozenset
        self.skills = SkillsRuntime(settings, self.count_tokens)
        self.search = SearchRuntime(settings, self.store, self.count_tokens)
        self.store.on_events_indexed = self.search.notify_indexed
        self.store.on_events_committed = self._events_committed
        self.trail = trail.Trail(self.store, settings, self.count_tokens)
        threading.Thread(target=self.store.maintain_if_fragmented, name="arena-fragments", daemon=True).start()
        self.transcript = TranscriptRuntime(self, settings, os.getcwd()) if settings.transcript else None

    # -- plumbing --------------------------------------------------------------------------------

    def _load_counter(self) -> None:
        try:
            self._counter = TokenCounter(self.settings.encoding)
        finally:
            self._counter_ready.set()

    def count_tokens(self, text: str) -> int:
        self._counter_ready.wait()
        if self._counter is None:
            raise RuntimeError(f"the {self.settings.encoding} encoding could not be loaded; see the log above")
        return self._counter.count(text)

    def prepare_for_calls(self) -> None:
        """A server's start, off the request path: open the search index and, when the log's
        indexes lag behind it (a previous process appended since their last update), update
        them, so searches take the rows they don't cover from memory from then on."""
        self.search.prepare()
        if self.store.indexes_lag():
            self.store.maintain_in_background()

    def close(self) -> None:
        self.store.close()
        self.search.close()

    # -- sessions --------------------------------------------------------------------------------

    def default_session(self, connection: str = "", principal: str = sessions.OWNER) -> str:
        """The session used when a call names none: the transcript's, the configured one, else one per
        connection — in `principal`'s namespace (the transcript's session is the owner's only)."""
        if not principal and self.transcript is not None and self.transcript.session:
            return self.transcript.session
        if self.settings.session:
            return sessions.scoped(self.settings.session, principal)
        with self._ledgers_guard:
            if connection not in self._default_sessions:
                stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
                self._default_sessions[connection] = f"{stamp}-{secrets.token_hex(3)}"
            return sessions.scoped(self._default_sessions[connection], principal)

    def resolve_session(self, session: str | None, connection: str = "", principal: str = sessions.OWNER) -> tuple[str, bool]:
        """(stored session id, whether the caller named it); raises for a malformed name."""
        if session is None or session == "":
            return self.default_session(connection, principal), False
        return sessions.parse(session, principal), True

    def has_session(self, session: str) -> bool:
        if session not in self._known_sessions and self.store.has_session(session):
            self._known_sessions.add(session)
        return session in self._known_sessions

    def require_session(self, session: str) -> None:
        """For people (the CLI): a session that must exist already; tool calls start the sessions they name."""
        if not self.has_session(session):
            known = [row["session"] for row in self.store.sessions()][-10:]
            listing = ", ".join(known) if known else "none yet"
            raise UnknownSession(
                f"unknown session {session!r}. Known sessions (newest last): {listing}. "
                "Omit session to use this connection's own session."
            )

    def ensure_session(self, session: str, origin: str = "server", label: str = "") -> bool:
        """Start `session` unless it exists; whether this call started it."""
        if self.has_session(session):
            return False
        with self.store.session_lock(session):
            started = not self.store.has_session(session)
            if started:
                self.store.add("sessions", [{"session": session, "created": time.time(), "origin": origin, "label": label}])
            self._known_sessions.add(session)
        return started

    def new_session_notice(self, session: str, principal: str = sessions.OWNER) -> str:
        """What a call that started `session` by naming it says: the newest sessions of the caller's
        namespace and any it looks like a typo of."""
        ids = [row["session"] for row in self.store.sessions()]
        return sessions.new_session_notice(session, sessions.recent(ids, principal, exclude=session), sessions.close_matches(session, ids, principal))

    # -- the ledger ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, session: str) -> Iterator[Ledger]:
        """The session's ledger, synced with the store, under the session's write lock."""
        with self.store.session_lock(session):
            with self._ledgers_guard:
                ledger = self._ledgers.get(session) or Ledger(session=session)
                self._ledgers[session] = ledger
            try:
                self._sync(ledger)
                yield ledger
                self._write_records(session)
            except BaseException:
                self._unwritten.pop(session, None)  # records of a call that is not in the log
                with self._ledgers_guard:  # the ledger may be ahead of the store now: rebuild it next time
                    self._ledgers.pop(session, None)
                raise

    def _sync(self, ledger: Ledger) -> None:
        """Fold what other writers appended since this ledger was current.

        A session is only written under its lock, which we hold, and every hold that
        wrote leaves its stamp: when the stamp is still ours, nothing is new.
        """
        first_load = ledger.last_seq < 0
        if not first_load and not self.store.written_elsewhere(ledger.session):
            return
        rows = self.store.events(ledger.session, seq_min=ledger.last_seq + 1, columns=LEDGER_COLUMNS)
        for row in rows:
            self._fold(ledger, event_from_row({**row, "text": ""}))
        self._load_records(ledger)
        self.trail.forget(ledger.session)
        if rows and not first_load:
            self.search.notify_appended_elsewhere(ledger.session, len(rows))

    def _load_records(self, ledger: Ledger) -> None:
        tags = [Tag(r["name"], r["seq"], r["note"], r["origin"]) for r in self.store.rows("tags", ledger.session)]
        squashes = [SquashRecord.from_row(r) for r in self.store.rows("squashes", ledger.session, order_by="record")]
        ledger.set_records(tags, squashes)

    def _fold(self, ledger: Ledger, event: Event) -> None:
        ledger.fold(event)
        ledger.pager_state = self.skills.fold(ledger.pager_state, event)

    def _event(self, ledger: Ledger, draft: EventDraft, seq: int) -> Event:
        return Event(
            session=ledger.session,
            seq=seq,
            kind=draft.kind,
            text=draft.text,
            tokens=self.count_tokens(draft.text) if draft.context_tokens is None else draft.context_tokens,
            tool=draft.tool,
            is_error=draft.is_error,
            source=draft.source,
            call_id=draft.call_id,
            ts=draft.ts if draft.ts is not None else time.time(),
            meta=draft.meta,
        )

    def _commit(self, ledger: Ledger, events: Sequence[Event]) -> None:
        """One write of the events and the call's tag and squash rows (durable on return; the store
        commits a batch's events before the records that point at them)."""
        rows = [("events", event_row(event)) for event in events]
        self.store.write(rows + self._unwritten.pop(ledger.session, []))

    def _events_committed(self, rows: list[dict[str, Any]], version: int) -> None:
        """The store's committer added these events at `version`: the search holds their text until indexed."""
        by_session: dict[str, list[Event]] = {}
        for row in rows:
            by_session.setdefault(row["session"], []).append(event_from_row(row))
        for session, events in by_session.items():
            self.search.notify_appended(session, events, version)

    def _write_records(self, session: str) -> None:
        """The tag and squash rows made since the last commit, written after the events they belong to.

        A process killed between the two leaves a logged call without its record (its answer was
        never sent), never a record whose call is missing: that record's seq would be given to the
        next event, and the tag would point at a call it does not belong to."""
        self.store.write(self._unwritten.pop(session, []))

    # -- appending from feeds ----------------------------------------------------------------------

    def append(self, session: str, drafts: Sequence[EventDraft], *, cwd: str | None = None) -> list[Event]:
        """Append events from a feed (transcript, ingest, proxy); extracts file actions from tool calls.
        A feed's copies of calls the PostToolUse hook already logged are left out (`join_hooked`)."""
        if not drafts:
            return []
        with self.locked(session) as ledger:
            drafts = join_hooked(ledger, drafts, self.count_tokens)
            if not drafts:
                return []
            events = self._append_locked(ledger, drafts)
            self.trail.record_extracted(session, events, cwd=cwd)
        return events

    def _append_locked(self, ledger: Ledger, drafts: Sequence[EventDraft]) -> list[Event]:
        events = [self._event(ledger, draft, ledger.last_seq + 1 + i) for i, draft in enumerate(drafts)]
        self._commit(ledger, events)
        for event in events:
            self._fold(ledger, event)
        return events

    # -- the six tools ----------------------------------------------------------------------------

    def context_status(
        self,
        used_tokens: int | None = None,
        window_tokens: int | None = None,
        *,
        session: str | None = None,
        connection: str = "",
        principal: str = sessions.OWNER,
    ) -> Reply:
        arguments = _given(session=session, used_tokens=used_tokens, window_tokens=window_tokens)
        usage = lambda ledger: self._reported_usage(used_tokens, window_tokens, ledger)  # noqa: E731
        return self._call(
            ToolName.CONTEXT_STATUS, arguments, self._status_body, session=session, connection=connection, principal=principal, prepare=usage
        )

    def tag(self, name: str, note: str | None = None, *, session: str | None = None, connection: str = "", principal: str = sessions.OWNER) -> Reply:
        arguments = _given(name=name, note=note, session=session)
        body = lambda ledger, seq: self._tag_body(ledger, seq, name, note)  # noqa: E731
        return self._call(ToolName.TAG, arguments, body, session=session, connection=connection, principal=principal)

    def squash(
        self, summary: str, from_tag: str | None = None, *, session: str | None = None, connection: str = "", principal: str = sessions.OWNER
    ) -> Reply:
        arguments = _given(summary=summary, from_tag=from_tag, session=session)
        body = lambda ledger, seq: self._squash_body(ledger, seq, summary, from_tag)  # noqa: E731
        return self._call(ToolName.SQUASH, arguments, body, session=session, connection=connection, principal=principal)

    def load_skill(self, name: str | None = None, *, session: str | None = None, connection: str = "", principal: str = sessions.OWNER) -> Reply:
        arguments = _given(name=name, session=session)
        shows = name if name and name in self.skills.catalog else None
        body = lambda ledger, seq: self._skill_body(ledger, name)  # noqa: E731
        return self._call(ToolName.LOAD_SKILL, arguments, body, session=session, connection=connection, principal=principal, shows_skill=shows)

    def memory_search(
        self,
        query: str | None = None,
        limit: int = 5,
        scope: str = "all",
        kinds: list[str] | None = None,
        tools: list[str] | None = None,
        from_seq: int | None = None,
        to_seq: int | None = None,
        seq: int | None = None,
        page: int | None = None,
        *,
        session: str | None = None,
        connection: str = "",
        principal: str = sessions.OWNER,
    ) -> Reply:
        """Recall by query; or, with `seq` (and `page`), page back a trimmed result verbatim."""
        arguments = _given(
            query=query, limit=limit, scope=scope, kinds=kinds, tools=tools, from_seq=from_seq, to_seq=to_seq, seq=seq, page=page, session=session
        )
        body: Body
        if seq is not None:
            body = lambda ledger, _seq: pages.page_back(self.store, ledger, seq, page, self.count_tokens)  # noqa: E731
        elif page is not None:
            body = _fails(InvalidArgument("page needs seq: pass the seq the trimmed result's marker names, e.g. memory_search(seq=12, page=2)"))
        else:
            max_tokens = self.settings.search_max_tokens
            body = lambda ledger, _seq: searching.answer(  # noqa: E731
                self.search, ledger, max_tokens, query or "", limit, scope, kinds=kinds, tools=tools, from_seq=from_seq, to_seq=to_seq
            )
        return self._call(ToolName.MEMORY_SEARCH, arguments, body, session=session, connection=connection, principal=principal)

    def artifact_index(
        self,
        record: Sequence[dict[str, Any]] | None = None,
        path: str | None = None,
        action: str | None = None,
        *,
        session: str | None = None,
        connection: str = "",
        principal: str = sessions.OWNER,
    ) -> Reply:
        """`record`: file actions as dicts (`path`, `action`, optional `note`)."""
        records = list(record or [])
        arguments = _given(record=records or None, path=path, action=action, session=session)
        body = lambda ledger, seq: self.trail.index_body(ledger, seq, records, path, action)  # noqa: E731
        return self._call(ToolName.ARTIFACT_INDEX, arguments, body, session=session, connection=connection, principal=principal)

    # -- one tool call -----------------------------------------------------------------------------

    def _call(
        self,
        tool: str,
        arguments: dict[str, Any],
        body: Body,
        *,
        session: str | None,
        connection: str,
        principal: str = sessions.OWNER,
        prepare: Callable[[Ledger], dict[str, Any]] | None = None,
        shows_skill: str | None = None,
    ) -> Reply:
        """Run one tool of this server as an arena step: log the call, the result and any guide.
        A session the call names that does not exist yet is started, and the result says so.
        A store that cannot be written (a full disk, a read-only home) answers an error saying so."""
        try:
            with self._admitted, self._writes():
                session_id, started = self._session_for_call(session, connection, principal)
                notice = self.new_session_notice(session_id, principal) if started else ""
                over = limits.problem(tool, arguments, self.settings.max_summary_tokens)
                if over is not None:  # checked before any work; logged with the argument clipped
                    arguments = limits.clipped(tool, arguments, self.settings.max_summary_tokens)
                    body, prepare, shows_skill = _fails(InvalidArgument(over)), None, None
                with self.search.foreground(), self.locked(session_id) as ledger:
                    return self._run(ledger, tool, arguments, body, prepare, shows_skill, notice)
        except ArenaError as exc:  # a malformed session name, or the store
            return Reply(text=str(exc), structured=None, is_error=True, session=(session or "")[:200])

    @contextlib.contextmanager
    def _writes(self) -> Iterator[None]:
        """Storage failures as a `StoreError` that names the cause and the fix (the SDK shows a model
        nothing of an unexpected exception). Nothing of the failed call is in the log."""
        try:
            yield
        except (OSError, RuntimeError) as exc:
            cause = _io_cause(exc)
            if cause is None:
                raise
            log.warning("the arena store could not be written: %s", cause)
            raise StoreError(
                f"the arena store could not be written ({cause}); this call was not logged. "
                f"Free disk space or make {self.settings.home} writable (MCP_ARENA_HOME / --home moves the state), then call again."
            ) from exc

    def _session_for_call(self, session: str | None, connection: str, principal: str = sessions.OWNER) -> tuple[str, bool]:
        """The session a call runs in, after the host's newest transcript lines, and whether the call
        started it by naming it; raises for a malformed name."""
        if self.transcript is not None:
            self.transcript.sync()  # the host's turns since the last call come first in the log
        session_id, named = self.resolve_session(session, connection, principal)
        started = self.ensure_session(session_id)
        return session_id, named and started

    def _run(
        self,
        ledger: Ledger,
        tool: str,
        arguments: dict[str, Any],
        body: Body,
        prepare: Callable[[Ledger], dict[str, Any]] | None,
        shows_skill: str | None,
        notice: str = "",
    ) -> Reply:
        call_meta: dict[str, Any] = {}
        error: ArenaError | None = None
        try:
            call_meta = prepare(ledger) if prepare else {}
        except ArenaError as exc:
            error = exc
        call_text = json.dumps(arguments, sort_keys=True, ensure_ascii=False, default=str)
        call = self._event(ledger, EventDraft(kind="tool_call", text=call_text, tool=tool, meta=call_meta), ledger.last_seq + 1)
        self._fold(ledger, call)
        structured = None
        model: Any = None
        if error is None:
            try:
                text, model = body(ledger, call.seq)
                structured = model.model_dump(mode="json") if model is not None else None
            except ArenaError as exc:
                error = exc
        if error is not None:
            text = str(error)
        text += notice  # part of the result the model reads: logged with it
        result = self._event(ledger, EventDraft(kind="tool_result", text=text, tool=tool, is_error=error is not None), call.seq + 1)
        self._fold(ledger, result)
        guides, guide_text = self._page_guides(ledger, tool, error is not None, shows_skill if error is None else None)
        self._commit(ledger, [call, result, *guides])
        meta = {shape.META_KEY: model.trim} if error is None and isinstance(model, PageResult) else None
        return Reply(text=text + guide_text, structured=structured, is_error=error is not None, session=ledger.session, meta=meta)

    def _page_guides(
        self, ledger: Ledger, tool: str, is_error: bool, requested: str | None = None, brief: bool = False
    ) -> tuple[list[Event], str]:
        """The guide events the pager decides after a result of `tool` (folded), and the text they add to it;
        `brief` for a tool the host documents itself (one line naming the guide, `core.skills`)."""
        pages = self.skills.decide(ledger.pager_state, tool, is_error, brief)
        drafts = self.skills.page_events(pages, tool)
        if requested:
            drafts.insert(0, self.skills.requested_event(requested, tool))
        guides = [self._event(ledger, draft, ledger.last_seq + 1 + i) for i, draft in enumerate(drafts)]
        for guide in guides:
            self._fold(ledger, guide)
        return guides, self.skills.render(pages)

    # -- other servers' results (proxy, hook) ------------------------------------------------------

    def shape_result(
        self, output: shape.ToolOutput, *, session: str | None = None, connection: str = "", principal: str = sessions.OWNER, cwd: str | None = None
    ) -> shape.Shaped:
        """One result of another server's tool through the arena's call path: log the call and the whole
        original (exact tokens, searchable, files extracted), trim what floods with a page-back call,
        and attach the guide the pager decides. Raises `ArenaError` for a bad session name.

        Joined by `output.call_id` with what a feed logged first: a call the transcript feed already
        logged is not logged again (only its result is); a result already logged is left as it is
        (nothing appended; the text comes back unchanged, untrimmed)."""
        session_id, _started = self._session_for_call(session, connection, principal)
        with self.search.foreground(), self.locked(session_id) as ledger:
            logged = ledger.calls.get(output.call_id) if output.call_id else None
            if logged is not None and logged.result_seq >= 0:
                return shape.Shaped(
                    session=ledger.session, seq=logged.result_seq, text=output.text, trimmed=False, guide="", structured=output.structured, meta=None
                )
            calls = [] if logged is not None and logged.call_seq >= 0 else [self._call_event(ledger, output)]
            seq = ledger.last_seq + 1
            trimmed = self._trim(ledger, output, seq)
            result = self._event(ledger, self._result_draft(output, trimmed), seq)
            self._fold(ledger, result)
            guides, guide_text = self._page_guides(ledger, output.tool, output.is_error, brief=output.brief_guides)
            self._commit(ledger, [*calls, result, *guides])
            if calls and not output.is_error:  # a failed write changed nothing
                self.trail.record_extracted(ledger.session, calls, cwd=cwd)
        return shape.Shaped(
            session=ledger.session,
            seq=result.seq,
            text=trimmed.text if trimmed else output.text,
            trimmed=trimmed is not None,
            guide=guide_text,
            structured=shape.shown_structured(output, trimmed),
            meta={shape.META_KEY: shape.trim_meta(result.seq, trimmed, pages.page_call(ledger.session, result.seq, 1))} if trimmed else None,
        )

    def _call_event(self, ledger: Ledger, output: shape.ToolOutput) -> Event:
        call_text = json.dumps(dict(output.arguments), sort_keys=True, ensure_ascii=False, default=str)
        draft = EventDraft(kind="tool_call", text=call_text, tool=output.tool, source=output.source, call_id=output.call_id)
        call = self._event(ledger, draft, ledger.last_seq + 1)
        self._fold(ledger, call)
        return call

    def _trim(self, ledger: Ledger, output: shape.ToolOutput, seq: int) -> trim.Trim | None:
        if not self.settings.trim or not output.text or not output.trimmable:
            return None
        usage = dashboard.status(ledger, self.settings).usage_pct / 100
        page_call = pages.page_call(ledger.session, seq, 1)
        return shape.shape(
            output.text, output.tool, output.arguments, self.count_tokens, page_call, usage, self._budgets, output.numbered_from
        )

    def _result_draft(self, output: shape.ToolOutput, trimmed: trim.Trim | None) -> EventDraft:
        """The logged result: the whole original; a trimmed one counts what the host was shown."""
        meta = {"trim": pages.trim_record(trimmed, self.settings.trim_page_tokens)} if trimmed else {}
        return EventDraft(
            kind="tool_result",
            text=output.text,
            tool=output.tool,
            is_error=output.is_error,
            source=output.source,
            call_id=output.call_id,
            meta=meta,
            context_tokens=trimmed.shown_tokens if trimmed else None,
        )

    # -- the tools' bodies -----------------------------------------------------------------------

    def _status_body(self, ledger: Ledger, seq: int) -> tuple[str, StatusResult]:
        result = dashboard.status(ledger, self.settings, self.upstream_notes())
        return result.text(), result

    def _reported_usage(self, used_tokens: int | None, window_tokens: int | None, ledger: Ledger) -> dict[str, Any]:
        """The call meta of a context_status that reports usage; raises on absurd numbers."""
        if used_tokens is None:
            if window_tokens is not None:
                raise InvalidArgument("window_tokens needs used_tokens: pass both, e.g. used_tokens=84000, window_tokens=200000")
            return {}
        if not 0 <= used_tokens <= MAX_REPORTED_TOKENS:
            raise InvalidArgument(f"used_tokens must be between 0 and {MAX_REPORTED_TOKENS:,}; got {used_tokens:,}")
        window = window_tokens if window_tokens is not None else self._known_window(ledger)
        if not 1_000 <= window <= MAX_REPORTED_TOKENS:
            raise InvalidArgument(f"window_tokens must be between 1,000 and {MAX_REPORTED_TOKENS:,}; got {window:,}")
        if used_tokens > window:
            raise InvalidArgument(
                f"used_tokens ({used_tokens:,}) exceeds window_tokens ({window:,}); pass the window your host reports"
            )
        return {"usage_sample": {"used": used_tokens, "window": window, "source": "reported"}}

    def _known_window(self, ledger: Ledger) -> int:
        """The window the session last reported, else the configured one."""
        return ledger.samples[-1].window if ledger.samples else self.settings.window_tokens

    def _tag_body(self, ledger: Ledger, seq: int, name: str, note: str | None) -> tuple[str, TagResult]:
        if not TAG_PATTERN.fullmatch(name or ""):
            raise InvalidArgument(f"invalid tag name {name[:80]!r}: use 1–64 of A-Z a-z 0-9 . _ - (e.g. 'auth-refactor')")
        if name in ledger.tags:
            raise _duplicate_tag(name, ledger)
        text = (note or "").strip()
        if len(text) > MAX_NOTE_CHARS:
            raise InvalidArgument(f"note is {len(text)} characters; keep it under {MAX_NOTE_CHARS}")
        self.add_tag(ledger, Tag(name, seq, text, "agent"))
        echoed = listing.clip_end(text, MAX_NOTE_ECHOED)
        result = TagResult(session=ledger.session, name=name, seq=seq, note=echoed, tags_in_session=len(ledger.agent_tags()))
        return result.text(), result

    def _squash_body(self, ledger: Ledger, seq: int, text: str, from_tag: str | None) -> tuple[str, SquashResult]:
        agent_summary = squashing.check_summary(text, self.count_tokens, self.settings.max_summary_tokens)
        span = squashing.choose_span(ledger, from_tag, seq)
        trail_files = self.trail.changed_files(ledger.session, span.from_seq, span.to_seq)
        plan = squashing.plan(ledger, seq, agent_summary, span, trail_files, self.count_tokens)
        self._add_squash(ledger, plan.record)
        self.add_tag(ledger, plan.backup)
        return plan.result.text(), plan.result

    def _skill_body(self, ledger: Ledger, name: str | None) -> tuple[str, SkillResult]:
        if name is None:
            result = self._catalog(ledger.session, "Skills:")
            return result.text(), result
        if name not in self.skills.catalog:
            close = difflib.get_close_matches(name, [s.name for s in self.skills.catalog], n=3)
            message = f"no skill named {name[:80]!r}." + (f" Did you mean: {', '.join(close)}?" if close else "") + " The catalog:"
            raise UnknownSkill(self._catalog(ledger.session, message).text())
        result = SkillResult(session=ledger.session, name=name, catalog=[], guide=self.skills.guide(name), message="")
        return result.text(), result

    def _catalog(self, session: str, message: str) -> SkillResult:
        """The skill catalog under `message`, as many skills as fit `catalog_max_tokens`."""
        catalog = [SkillInfo(name=s.name, description=s.description, covers=list(s.covers)) for s in self.skills.catalog]
        frame = SkillResult(session=session, name=None, catalog=[], guide=None, message=message, more=len(catalog))
        budget = self.settings.catalog_max_tokens - self.count_tokens(frame.text())
        shown = listing.fit([info.line() for info in catalog], budget, self.count_tokens)
        return frame.model_copy(update={"catalog": catalog[:shown], "more": len(catalog) - shown})

    # -- squash records and tags outside a tool call -------------------------------------------------

    def undo_squash(self, session: str) -> SquashRecord:
        """Revert the newest active squash of a session (appends an undo record)."""
        self.require_session(session)
        with self.locked(session) as ledger:
            record = squashing.plan_undo(ledger, ledger.last_seq + 1)
            self._add_squash(ledger, record)
            text = f"squash #{record.undoes} (seq {record.from_seq}–{record.to_seq}) undone; the summary before it is back"
            self._append_locked(ledger, [EventDraft(kind="note", text=text)])
            return record

    def summary_versions(self, session: str) -> list[SquashRecord]:
        """The kept versions of the anchored summary (the newest `summary_versions`), oldest first."""
        self.require_session(session)
        with self.locked(session) as ledger:
            return squashing.versions(ledger, self.settings.summary_versions)

    def add_tag(self, ledger: Ledger, tag: Tag) -> None:
        """Under the session's lock (`locked`): the row is written with the next commit, or when the lock is released."""
        row = {"session": ledger.session, "name": tag.name, "seq": tag.seq, "note": tag.note, "origin": tag.origin, "ts": time.time()}
        self._unwritten.setdefault(ledger.session, []).append(("tags", row))
        ledger.tags[tag.name] = tag

    def _add_squash(self, ledger: Ledger, record: SquashRecord) -> None:
        self._unwritten.setdefault(ledger.session, []).append(("squashes", record.row(ledger.session, time.time())))
        ledger.squashes.append(record)


def _io_cause(exc: BaseException) -> str | None:
    """What an I/O failure says ('No space left on device (os error 28)'); None for any other error."""
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    found = re.search(r"LanceError\(IO\): (.+?)(?:, /[^ ]*\.rs:\d+|$)", str(exc))
    return found.group(1) if found else None


def _fails(error: ArenaError) -> Body:
    """A body that reports `error`: for argument combinations no body can serve."""

    def body(ledger: Ledger, seq: int) -> tuple[str, Any]:
        raise error

    return body


def _given(**arguments: Any) -> dict[str, Any]:
    """The arguments the caller set, for the log (absent ones are not logged)."""
    return {name: value for name, value in arguments.items() if value is not None}


def _duplicate_tag(name: str, ledger: Ledger) -> DuplicateTag:
    """Names the taken tag and a free name; never the session's whole tag list (it grows with the session)."""
    taken = ledger.tags[name]
    suffix = 2
    while f"{name}-{suffix}" in ledger.tags:
        suffix += 1
    return DuplicateTag(
        f"tag {name!r} already exists in this session (at seq {taken.seq}); pick a new name, e.g. '{name}-{suffix}'"
    )
