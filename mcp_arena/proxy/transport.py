"""Open one connection to an upstream server: the stream pair an SDK `Client` runs on.

Three transports, all the SDK's own: a stdio subprocess (`stdio_client`, with the entry's
`env` merged over a minimal inherited environment, in its `cwd`), streamable HTTP and SSE
(with the entry's `headers`). Two things are added around them:

- `StderrTap`: a subprocess's stderr goes into a pipe, never to our stdout. A daemon thread
  copies each line to our stderr, prefixed with the server key and redacted, and keeps the
  last lines so a start failure or a crash can quote them.
- `Watched`: the read side of the pair sets an event when it ends, which is how an upstream
  notices that a subprocess exited while nobody was calling it.

Where it stops: no protocol here (no initialize, no calls) and no retry policy.
"""

from __future__ import annotations

import array
import contextlib
import os
import sys
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TextIO

import anyio
import httpx2
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, get_default_environment, stdio_client
from mcp.client.streamable_http import streamable_http_client

from mcp_arena.proxy.config import LocalServer, RemoteServer

# Besides the SDK's minimal set (HOME, LOGNAME, PATH, SHELL, TERM, USER): locale and temp
# folder, which command-line servers commonly read; nothing that can carry a credential.
EXTRA_INHERITED = ("LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")
TAIL_LINES = 20
LINE_CHARS = 300  # a quoted stderr line is cut here: a stack dump must not flood the model's context
HTTP_TIMEOUT = httpx2.Timeout(30.0, read=300.0)  # the SDK's own defaults for MCP over HTTP


def child_environment(spec: LocalServer) -> dict[str, str]:
    inherited = get_default_environment()
    inherited.update({name: os.environ[name] for name in EXTRA_INHERITED if name in os.environ})
    return inherited | dict(spec.env)


class StderrTap:
    """A pipe for a subprocess's stderr: lines are copied to `forward` (prefixed, redacted) and the last ones kept."""

    def __init__(self, label: str, redact: Callable[[str], str], forward: TextIO | None = sys.stderr):
        self._label, self._redact, self._forward = label, redact, forward
        self._lines: deque[tuple[int, str]] = deque(maxlen=TAIL_LINES)
        self._count = 0
        read_fd, write_fd = os.pipe()
        self._reader = os.fdopen(read_fd, "r", encoding="utf-8", errors="replace")
        self.file: TextIO = os.fdopen(write_fd, "w", encoding="utf-8")
        threading.Thread(target=self._pump, name=f"upstream-stderr-{label}", daemon=True).start()

    def _pump(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            for raw in self._reader:
                line = self._redact(raw.rstrip("\n"))
                self._count += 1
                self._lines.append((self._count, line))
                if self._forward is not None:
                    with contextlib.suppress(OSError, ValueError):
                        self._forward.write(f"[upstream {self._label}] {line}\n")
                        self._forward.flush()

    async def drained(self, timeout: float = 0.5) -> None:
        """Wait (briefly) until the pump has read what is in the pipe: a dead server's last words are then in `tail`."""
        with anyio.move_on_after(timeout):
            while pending_bytes(self._reader) > 0:
                await anyio.sleep(0.01)
            await anyio.sleep(0.02)  # the pump thread handles what it has just read

    def mark(self) -> int:
        """A position: `tail(since=mark)` quotes only what was written after it."""
        return self._count

    def tail(self, since: int = 0, lines: int = 3) -> str:
        """The last non-blank lines written after `since`, each cut to LINE_CHARS, joined by ' | '."""
        recent = [line for number, line in self._lines if number > since and line.strip()]
        return " | ".join(shorten(line.strip()) for line in recent[-lines:])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()


def shorten(line: str) -> str:
    return line if len(line) <= LINE_CHARS else line[: LINE_CHARS - 1] + "…"


def pending_bytes(reader: TextIO) -> int:
    """Bytes waiting in a pipe (0 where the platform cannot tell)."""
    try:
        import fcntl
        import termios

        buffer = array.array("i", [0])
        fcntl.ioctl(reader.fileno(), termios.FIONREAD, buffer)
        return buffer[0]
    except (ImportError, OSError, ValueError):
        return 0


class Watched:
    """A read stream that sets `ended` when its transport stops delivering (EOF or closed)."""

    def __init__(self, inner: Any, ended: anyio.Event):
        self._inner, self._ended = inner, ended

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._ended.set()
            raise

    def __aiter__(self) -> Watched:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> Watched:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()


@contextlib.asynccontextmanager
async def open_streams(spec: LocalServer | RemoteServer, ended: anyio.Event, errlog: TextIO | None) -> AsyncIterator[tuple[Any, Any]]:
    """The stream pair of one connection; `ended` is set when the server stops talking."""
    async with _raw_streams(spec, errlog) as (read_stream, write_stream):
        yield Watched(read_stream, ended), write_stream


@contextlib.asynccontextmanager
async def _raw_streams(spec: LocalServer | RemoteServer, errlog: TextIO | None) -> AsyncIterator[tuple[Any, Any]]:
    if isinstance(spec, LocalServer):
        if spec.cwd is not None and not Path(spec.cwd).is_dir():
            raise NotADirectoryError(f"the working folder {spec.cwd} does not exist")
        params = StdioServerParameters(command=spec.command, args=list(spec.args), env=child_environment(spec), cwd=spec.cwd)
        async with stdio_client(params, errlog=errlog or sys.stderr) as streams:
            yield streams
    elif spec.kind == "sse":
        async with sse_client(spec.url, headers=dict(spec.headers) or None) as streams:
            yield streams
    else:
        async with httpx2.AsyncClient(headers=dict(spec.headers), timeout=HTTP_TIMEOUT) as http:
            async with streamable_http_client(spec.url, http_client=http) as streams:
                yield streams
