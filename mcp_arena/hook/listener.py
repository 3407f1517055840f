"""The server side of the PostToolUse hook: a Unix socket in the home where a running server shapes hook calls.

Claude Code starts `mcp-arena serve` as an MCP server and the hook command once
per tool call. The hook's thin client (`cli.hook_client`) connects to
`wire.socket_path(home)`; a listener here reads the payload, runs it through
`hook.adapter` with this server's arena (already open, LanceDB and the
tokenizer loaded), and answers the hook's stdout and stderr (`wire.Reply`). That saves the
hook process everything but starting a bare Python.

One listener per home: of several servers on one home (two host windows),
the first binds the socket, the others wait and check every `RETRY_SECONDS`
whether it is still answered; when its server exits, one of them takes over.
A socket file nobody answers (a server killed with -9) is stale and replaced.
Check and bind happen under an `flock` on `<run>/hook.lock`, so two servers
starting together never unlink each other's socket. Any server can shape any
session: the store locks per session, across processes.

Each connection is served on its own thread (`ThreadingMixIn`), so the
event loop of the MCP server is never involved and parallel tool calls of the
host are shaped in parallel. A home where the socket cannot be made
(read-only, no AF_UNIX on the platform) leaves the listener idle: the client
then does the work in its own process.

Where it stops: transport only. The adapter is `hook.adapter`, the socket's
name and the reply's bytes `hook.wire`, the client `cli.hook_client`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import socketserver
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from mcp_arena.hook import adapter, wire

if TYPE_CHECKING:
    from mcp_arena.engine.arena import Arena

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0  # how often a server without the socket checks whether its owner is gone
PROBE_TIMEOUT_SECONDS = 0.5
CONNECTION_TIMEOUT_SECONDS = 60.0  # a client that neither sends nor reads is dropped after this


class _Handler(socketserver.StreamRequestHandler):
    timeout = CONNECTION_TIMEOUT_SECONDS
    server: _Server

    def handle(self) -> None:
        raw = self.rfile.read(wire.MAX_PAYLOAD_BYTES + 1)
        if not raw:
            return  # a liveness probe of another server, or a client that gave up
        if len(raw) > wire.MAX_PAYLOAD_BYTES:
            reply = wire.Reply("", wire.TOO_LARGE)
        else:
            reply = adapter.answer(raw, self.server.arena_of)
        with contextlib.suppress(OSError):  # the client timed out and left: nothing to tell
            self.wfile.write(reply.encode())


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, path: str, arena_of: Callable[[], Arena]) -> None:
        self.arena_of = arena_of
        super().__init__(path, _Handler)


class HookListener:
    """Listens for the hook client on the home's socket while the server runs; `close()` at shutdown."""

    def __init__(self, home: str | os.PathLike[str], arena_of: Callable[[], Arena], retry_seconds: float = RETRY_SECONDS) -> None:
        self.path = wire.socket_path(os.fspath(home))
        self.arena_of = arena_of
        self.retry_seconds = retry_seconds
        self._stop = threading.Event()
        self._guard = threading.Lock()
        self._server: _Server | None = None
        self._bound_inode: int | None = None
        self._complained = False
        self._thread = threading.Thread(target=self._run, name="hook-listener", daemon=True)

    @property
    def listening(self) -> bool:
        return self._server is not None

    def start(self) -> HookListener:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        with self._guard:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            self._unlink_if_mine()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            server = self._try_bind()
            if server is not None:
                server.serve_forever(poll_interval=0.5)
                return
            self._stop.wait(self.retry_seconds)

    def _try_bind(self) -> _Server | None:
        """The bound server, or None when another live server owns the socket or it cannot be made."""
        if not hasattr(socket, "AF_UNIX"):
            return None
        try:
            return self._bind_unless_owned()
        except OSError as exc:
            if not self._complained:
                log.warning("hook socket %s unavailable (%s); the hook works in its own process", self.path, exc)
                self._complained = True
            return None

    def _bind_unless_owned(self) -> _Server | None:
        import fcntl

        folder = os.path.dirname(self.path)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        with open(os.path.join(folder, wire.LOCK_NAME), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if os.path.exists(self.path) and answered(self.path):  # no file, nothing to ask: a fresh home never connects
                return None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)  # stale: its server is gone
            with self._guard:
                if self._stop.is_set():
                    return None
                server = _Server(self.path, self.arena_of)
                os.chmod(self.path, 0o600)
                self._bound_inode = os.stat(self.path).st_ino
                self._server = server
        log.info("hook socket listening at %s", self.path)
        return server

    def _unlink_if_mine(self) -> None:
        """Remove the socket file unless another server has replaced it since."""
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self._bound_inode:
                os.unlink(self.path)


def answered(path: str) -> bool:
    """Whether a live server accepts connections on `path` (the hook socket: `wire.socket_path(home)`)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(PROBE_TIMEOUT_SECONDS)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()
