"""One upstream MCP server, kept connected for the life of the arena process.

`Upstream.run()` is the supervisor, one task per server: connect (`initialize`, then every
page of `tools/list`), serve calls until the connection ends, then restart after a backoff
(0.5 s doubling to 30 s; reset by a successful call). A call that finds the server down
waits for the restart when it is due within `RESTART_WAIT`, else fails at once saying when.
A server whose first start fails is not retried: the exported tool list is fixed at start,
so its tools could never be offered.

`Upstream.call()` forwards one `tools/call` with a timeout and a progress callback; the
caller's cancellation cancels the upstream request (the SDK sends `notifications/cancelled`).
Every fault becomes an `UpstreamError` whose message names the server and says what to do
(see `mcp_arena.proxy.errors`); nothing else escapes a call except cancellation. The state
(starting / up / down with the reason / restarting / closed) is read with `status()`.

The protocol is pinned to the initialize handshake (`mode="legacy"`): every server in use
speaks it, it needs no discovery round trip, and `notifications/tools/list_changed` arrives
unsolicited only in that era. A server that announces a changed list is noted in its status;
the arena's own tool list stays fixed for the process.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, Literal, TextIO

import anyio
import httpx2
import mcp.types as types
from mcp import Client
from mcp.shared.dispatcher import ProgressFnT
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from mcp_arena.proxy.config import LocalServer, RemoteServer
from mcp_arena.proxy.errors import UpstreamError, UpstreamLost, UpstreamProtocolError, UpstreamTimeout, UpstreamUnavailable
from mcp_arena.proxy.transport import StderrTap, open_streams

logger = logging.getLogger("mcp_arena.proxy")

PROTOCOL_MODE = "legacy"
LIST_PAGES_CAP = 100  # a server whose cursor never ends cannot hang the start
RESTART_WAIT = 5.0  # a call to a server that is down waits for its restart when that is due this soon
CRASH_NOTE_WAIT = 2.0  # seconds a failed call waits for the dead connection to close, to quote the server's last words
# An HTTP 404 on a known session, in the words of the Python SDK ("Session not found" from its server,
# "Session terminated" from its client) and of the TypeScript SDK ("Session not found").
SESSION_GONE = re.compile(r"session (not found|terminated|expired)|unknown session", re.IGNORECASE)

State = Literal["starting", "up", "down", "restarting", "closed"]
ProgressFn = ProgressFnT  # async (progress, total, message) -> None
CONNECTION_ERRORS = (httpx2.TransportError, OSError, anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream)


@dataclass(frozen=True)
class UpstreamOptions:
    """Timeouts and backoff; the arena's settings fill the first two (see the report for the names)."""

    call_timeout: float = 60.0  # seconds one tools/call may take; a server entry's "timeout" overrides it
    start_timeout: float = 30.0  # seconds to spawn/connect, initialize and list tools
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    forward_stderr: bool = True  # copy a subprocess's stderr lines to ours, prefixed "[upstream <key>]"


@dataclass(frozen=True)
class UpstreamStatus:
    key: str
    transport: str
    state: State
    reason: str  # why it is down, or why it last went down; "" when it never failed
    tools: int
    restarts: int
    retry_in: float | None  # seconds until the next restart attempt, when down
    tools_changed: bool  # it announced notifications/tools/list_changed (or relisted differently)
    server: str  # the name and version it gave in initialize

    def line(self) -> str:
        """One line for a status board: `github: up (12 tools)`, `files: down — crashed …; restart in 4 s`."""
        text = f"{self.key}: {self.state}"
        if self.state == "up":
            text += f" ({self.tools} tools)"
        if self.reason and self.state != "up":
            text += f" — {self.reason}"
        if self.retry_in is not None:
            text += f"; restart in {math.ceil(self.retry_in)} s"
        if self.tools_changed:
            text += "; it announced a changed tool list (the list stays fixed until the arena restarts)"
        return text


class Upstream:
    """One server of the upstream file: its supervisor task, its calls and its state."""

    def __init__(self, spec: LocalServer | RemoteServer, options: UpstreamOptions | None = None, *, stderr: TextIO | None = None):
        """`stderr`: where a subprocess's stderr lines are copied (default: our sys.stderr, read now)."""
        self.spec = spec
        self._options = options or UpstreamOptions()
        self._forward = (stderr or sys.stderr) if self._options.forward_stderr else None
        self._tap: StderrTap | None = None  # made by run(): a pool built but never entered holds no pipe or thread
        self._state: State = "starting"
        self._reason = ""
        self._client: Client | None = None
        self._ended = anyio.Event()  # this connection stopped (EOF, or a call saw it broken)
        self._loss = ""  # why, when a call noticed first
        self._settled = anyio.Event()  # the first start attempt is over, up or not
        self._started = anyio.Event()  # the current start attempt is over, up or not
        self._went_down = anyio.Event()  # the current connection is over and the reason recorded
        self._down_over = anyio.Event()  # the current wait between connections is over
        self._stopping = anyio.Event()  # stop() was called: close and do not restart
        self._tools: tuple[types.Tool, ...] | None = None
        self._tools_changed = False
        self._failures = 0
        self._restarts = 0
        self._retry_at: float | None = None
        self._server = ""

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def tools(self) -> tuple[types.Tool, ...]:
        """The tools listed at the first start (empty if it never came up); fixed for the process."""
        return self._tools or ()

    async def wait_settled(self) -> None:
        """Wait until the first start attempt is over (bounded by the start timeout)."""
        await self._settled.wait()

    def status(self) -> UpstreamStatus:
        retry_in = None
        if self._state == "down" and self._retry_at is not None:
            retry_in = max(0.0, self._retry_at - anyio.current_time())
        return UpstreamStatus(
            key=self.key,
            transport=self.spec.transport,
            state=self._state,
            reason=self._reason,
            tools=len(self.tools),
            restarts=self._restarts,
            retry_in=retry_in,
            tools_changed=self._tools_changed,
            server=self._server,
        )

    # -- the supervisor ------------------------------------------------------------------

    async def run(self) -> None:
        """Keep the server connected until `stop()` or cancellation. Start it in the pool's task group."""
        if isinstance(self.spec, LocalServer):
            self._tap = StderrTap(self.key, self.spec.redact, self._forward)
        try:
            while not self._stopping.is_set():
                reason = await self._connect_and_serve()
                if self._stopping.is_set():
                    break
                if self._tools is None:
                    self._state, self._reason = "down", f"failed to start: {reason}"
                    logger.warning("upstream %s %s", self.key, self._reason)
                    return
                delay = self._next_delay()
                self._failures += 1
                self._state, self._reason, self._retry_at = "down", reason, anyio.current_time() + delay
                self._down_over = anyio.Event()
                self._started.set()  # a start attempt that failed is over too: its waiters get the reason
                self._went_down.set()
                logger.warning("upstream %s down: %s; restarting in %.1f s", self.key, reason, delay)
                with anyio.move_on_after(delay):
                    await self._stopping.wait()
                self._restarts += 1
                self._state, self._retry_at = "restarting", None
                self._started, self._went_down = anyio.Event(), anyio.Event()
                self._down_over.set()
            self._state = "closed"
        except Exception as exc:  # a bug here: say so in the status and in every later call
            self._state, self._reason = "closed", f"the arena's supervisor of this server failed ({type(exc).__name__}); restart the arena"
            raise
        except BaseException:
            self._state = "closed"
            raise
        finally:
            self._client = None
            for event in (self._settled, self._started, self._went_down, self._down_over):
                event.set()
            if self._tap is not None:
                self._tap.close()

    def stop(self) -> None:
        """Ask the supervisor to close the connection and return (an HTTP session is ended with DELETE)."""
        self._stopping.set()
        self._ended.set()

    def _next_delay(self) -> float:
        return float(min(self._options.backoff_max, self._options.backoff_initial * 2**self._failures))

    async def _connect_and_serve(self) -> str:
        """One connection: start it, serve until it ends, close it; returns why it ended."""
        self._ended, self._loss = anyio.Event(), ""
        if self._stopping.is_set():
            self._ended.set()
        mark = self._tap.mark() if self._tap is not None else 0
        why = ""
        try:
            with anyio.CancelScope() as starting:
                starting.deadline = anyio.current_time() + self._options.start_timeout
                async with self._connect() as client:
                    tools = await list_all_tools(client)
                    starting.deadline = math.inf
                    self._come_up(client, tools)
                    await self._ended.wait()
                    self._client = None
                    why = self._loss or "the connection closed (the server exited or crashed)"
            if not why:
                why = f"no answer to initialize and tools/list within {self._options.start_timeout:g} s"
        except Exception as exc:
            why = why or self.explain(exc)
        finally:
            self._client = None
        return self.spec.redact(why + await self._stderr_note(mark))

    @contextlib.asynccontextmanager
    async def _connect(self) -> AsyncIterator[Client]:
        streams = open_streams(self.spec, self._ended, self._tap.file if self._tap is not None else None)
        info = types.Implementation(name="mcp-arena", version=version("mcp-arena"))
        client = Client(streams, mode=PROTOCOL_MODE, cache=None, client_info=info, message_handler=self._on_message)
        async with client:
            yield client

    def _come_up(self, client: Client, tools: tuple[types.Tool, ...]) -> None:
        info = client.server_info
        self._server = f"{info.name} {info.version}".strip() if info is not None else ""
        if self._tools is None:
            self._tools = tools
        elif [tool.name for tool in tools] != [tool.name for tool in self._tools]:
            self._tools_changed = True
        self._client, self._state = client, "up"
        self._settled.set()
        self._started.set()
        logger.info("upstream %s up: %s, %d tools", self.key, self._server or self.spec.where, len(tools))

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._tools_changed = True
            logger.info("upstream %s announced a changed tool list; the arena's list stays fixed for this process", self.key)
        elif isinstance(message, Exception):
            logger.debug("upstream %s: transport error: %s", self.key, self.spec.redact(str(message)))

    # -- calls ---------------------------------------------------------------------------

    async def call(
        self,
        tool: str,
        arguments: dict[str, Any] | None = None,
        *,
        on_progress: ProgressFn | None = None,
        timeout: float | None = None,
        called_as: str | None = None,
    ) -> types.CallToolResult:
        """Forward one tools/call. Raises an UpstreamError subclass for every fault; cancellation propagates.

        `called_as` is the name the model used (the exported name); messages and errors use it.
        """
        shown = called_as or tool
        limit = timeout or self.spec.timeout or self._options.call_timeout
        client = await self._ready_client(shown, limit)
        try:
            result = await client.call_tool(tool, arguments, read_timeout_seconds=limit, progress_callback=on_progress)
        except MCPError as exc:
            raise await self._call_error(shown, exc, limit) from None
        except CONNECTION_ERRORS as exc:
            raise await self._lost_during(shown, f"lost the connection during `{shown}` ({self.explain(exc)})") from None
        except (RuntimeError, ValidationError) as exc:
            message = f"The upstream server '{self.key}' returned a malformed result for `{shown}`: {first_line(exc)}"
            raise UpstreamProtocolError(self.spec.redact(message), server=self.key, tool=shown) from None
        self._failures = 0
        return result

    async def _ready_client(self, tool: str, limit: float) -> Client:
        """The connection to call on; waits for a start under way, or for a restart due within RESTART_WAIT."""
        with anyio.move_on_after(limit):
            if self._state == "down" and self._tools is not None and self._restart_in() <= RESTART_WAIT:
                await self._down_over.wait()
            if self._state in ("starting", "restarting"):
                await self._started.wait()
        if self._state == "up" and self._client is not None:
            return self._client
        raise UpstreamUnavailable(self.spec.redact(self._unavailable(tool, limit)), server=self.key, tool=tool)

    def _restart_in(self) -> float:
        return max(0.0, (self._retry_at or 0.0) - anyio.current_time())

    def _unavailable(self, tool: str, limit: float) -> str:
        name = f"The upstream server '{self.key}' ({self.spec.where})"
        if self._state == "down" and self._tools is None:
            return f"{name} {self._reason}. Its tools cannot be called in this session: fix its entry in the upstream file and restart the arena."
        if self._state == "down":
            return f"{name} is down: {self._reason}. {restart_advice(self._restart_in(), tool)}"
        if self._state == "closed":
            return f"{name} is closed: {'the arena is shutting down' if self._stopping.is_set() else self._reason}."
        return f"{name} is still starting after {limit:g} s; call `{tool}` again in a moment."

    async def _call_error(self, tool: str, exc: MCPError, limit: float) -> UpstreamError:
        if isinstance(self.spec, RemoteServer) and SESSION_GONE.search(str(exc)):
            # checked first: servers on the TypeScript SDK say "Session not found" with -32001, our REQUEST_TIMEOUT code.
            # The server restarted and forgot our session; the call never ran there, so calling again is safe.
            return await self._lost_during(tool, f"the server no longer knows this session (it restarted); `{tool}` did not run")
        if exc.code == types.REQUEST_TIMEOUT:
            message = (
                f"The upstream server '{self.key}' did not answer `{tool}` within {limit:g} s; the request was cancelled and the server "
                f"is still running. Ask for less, or raise \"timeout\" for '{self.key}' in the upstream file."
            )
            return UpstreamTimeout(self.spec.redact(message), server=self.key, tool=tool)
        if exc.code == types.CONNECTION_CLOSED:
            return await self._lost_during(tool, f"the connection closed during `{tool}` (the server exited or crashed)")
        hint = " Check the tool name and the arguments against its input schema." if exc.code in (types.INVALID_PARAMS, types.METHOD_NOT_FOUND) else ""
        message = f"The upstream server '{self.key}' answered `{tool}` with a protocol error ({exc.code}): {first_line(exc)}.{hint}"
        return UpstreamProtocolError(self.spec.redact(message), server=self.key, tool=tool)

    async def _lost_during(self, tool: str, what: str) -> UpstreamLost:
        """Mark the connection broken, wait briefly for it to close, and say so with the server's last stderr lines."""
        mark_note = self._loss or what
        self._loss = mark_note
        self._ended.set()
        with anyio.move_on_after(CRASH_NOTE_WAIT):
            await self._went_down.wait()
        reason = self._reason if self._state == "down" else mark_note
        wait = self._retry_at - anyio.current_time() if self._state == "down" and self._retry_at is not None else self._next_delay()
        message = f"The upstream server '{self.key}' failed: {reason}. {restart_advice(wait, tool)}"
        return UpstreamLost(self.spec.redact(message), server=self.key, tool=tool)

    # -- wording -------------------------------------------------------------------------

    def explain(self, exc: BaseException) -> str:
        """A fault in words, without secrets: what a model or a person needs to fix it."""
        exc = innermost(exc)
        spec = self.spec
        if isinstance(exc, FileNotFoundError) and isinstance(spec, LocalServer):
            return f'command {spec.command!r} not found; check "command" and PATH in its entry'
        if isinstance(exc, PermissionError) and isinstance(spec, LocalServer):
            return f"command {spec.command!r} cannot be run (permission denied)"
        if isinstance(exc, NotADirectoryError):
            return str(exc)
        if isinstance(exc, MCPError) and exc.code == types.CONNECTION_CLOSED:
            return "the server closed the connection before answering initialize (it exited at start)"
        if isinstance(exc, MCPError):
            return f"protocol error {exc.code}: {first_line(exc)}"
        if isinstance(exc, httpx2.HTTPStatusError):
            status = exc.response.status_code
            hint = ' (credentials missing or rejected: check "headers")' if status in (401, 403) else ""
            return f"HTTP {status} from {spec.where}{hint}"
        if isinstance(exc, httpx2.ConnectError):
            return f"cannot connect to {spec.where}"
        if isinstance(exc, httpx2.TransportError):
            return f"network error with {spec.where}: {type(exc).__name__}"
        return f"{type(exc).__name__}: {first_line(exc)}"

    async def _stderr_note(self, mark: int) -> str:
        if self._tap is None:
            return ""
        await self._tap.drained()
        tail = self._tap.tail(since=mark)
        return f"; its last stderr: {tail}" if tail else ""


async def list_all_tools(client: Client) -> tuple[types.Tool, ...]:
    """Every page of tools/list; a name listed twice keeps its first entry."""
    tools: dict[str, types.Tool] = {}
    cursor: str | None = None
    for _ in range(LIST_PAGES_CAP):
        page = await client.list_tools(cursor=cursor)
        for tool in page.tools:
            tools.setdefault(tool.name, tool)
        cursor = page.next_cursor
        if not cursor:
            break
    return tuple(tools.values())


def restart_advice(wait: float, tool: str) -> str:
    if wait < 1:
        return f"The arena is restarting it; call `{tool}` again in a moment."
    return f"The arena restarts it in {math.ceil(wait)} s; call `{tool}` again after that."


def innermost(exc: BaseException) -> BaseException:
    """The first leaf of an exception group (task groups wrap what really happened)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
