"""One embedding model per user, shared by every server: the client side of the embedding worker.

    embedder = RemoteEmbedder(WorkerOptions(socket_dir="", idle_seconds=300))
    embedder.embed(["a", "b"])      # the same float32 (2, 384) as Embedder's, computed by the worker

Claude Code and Cursor start one server per window; each used to load its own copy of the
model (~220 MB a process: 565 against 340 MB after 40 searches, `benchmarks/rss_servers.py`).
A `RemoteEmbedder` asks a worker process
(`embed_service.py`) instead, over a Unix socket in a private folder of the user (mode 0700,
owned by the user, checked before each spawn). The first server that needs a vector starts the
worker, detached; the others connect to it. The worker binds only while it holds a file lock, so
two servers racing to start one end up with one. It exits when unused for `idle_seconds`, and the
next embedding starts a new one.

Nothing here runs at server start: the socket is opened by the first `embed`. When the worker
cannot be started or reached (no AF_UNIX, an unusable folder, a crash), a `RemoteEmbedder` is
the in-process `Embedder` it derives from, with one warning, and tries the worker again later
(backing off); search never fails because of the worker.

The socket's name carries a fingerprint of the protocol and the model (id, window, tokenizer),
and the handshake checks both: a worker of another install or version is never used; the new
worker takes its place. Wire format: frames of a 4-byte big-endian length and a body; control
frames are JSON, vectors follow as one frame of float32 rows. During a document batch the
worker stops between model batches with a "pause" frame and goes on at "go", so a background
caller's `between_batches` runs here, in the server, exactly as in process.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mcp_arena.search.embedder import _MAX_CHARS, DIMENSION, MAX_TOKENS, MODEL_ID, TOKENIZER_SHA256, Embedder

logger = logging.getLogger(__name__)

PROTOCOL = 1
# A fresh worker binds its socket before loading the model: this covers a Python start under load.
START_TIMEOUT_SECONDS = 15.0
# A worker answers the handshake at once, model loaded or not; a stopped one must not hang a search.
HANDSHAKE_TIMEOUT_SECONDS = 10.0
# Longest wait for one frame: a model batch, or the model's first load in a fresh worker.
FRAME_TIMEOUT_SECONDS = 120.0
MAX_FRAME_BYTES = 256 * 1024 * 1024
# After a fallback to the in-process model, the worker is tried again after this long (doubling).
RETRY_AFTER_SECONDS = (30.0, 600.0)
_LOG_MAX_BYTES = 1 << 20
_HEADER = struct.Struct(">I")


class WorkerUnavailable(OSError):
    """The worker cannot be started, reached or trusted; the caller embeds in process."""


def fingerprint() -> str:
    """What a worker must share with its clients: the protocol and everything that shapes a vector."""
    identity = f"{PROTOCOL}:{MODEL_ID}:{DIMENSION}:{MAX_TOKENS}:{TOKENIZER_SHA256}"
    return hashlib.sha256(identity.encode()).hexdigest()[:12]


def default_socket_dir() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime) and os.path.isdir(runtime):
        return Path(runtime) / "mcp-arena"
    return Path(tempfile.gettempdir()) / f"mcp-arena-{os.getuid()}"


@dataclass(frozen=True)
class WorkerAddress:
    """The worker's private folder and the files in it (one set per fingerprint)."""

    folder: Path

    @classmethod
    def of(cls, socket_dir: str | Path = "") -> WorkerAddress:
        return cls(Path(socket_dir) if str(socket_dir) else default_socket_dir())

    @property
    def socket(self) -> Path:
        return self.folder / f"embed-{fingerprint()}.sock"

    @property
    def lock(self) -> Path:
        return self.folder / f"embed-{fingerprint()}.lock"

    @property
    def log(self) -> Path:
        return self.folder / f"embed-{fingerprint()}.log"


def private_folder(folder: Path) -> Path:
    """The folder, created 0700 if missing; refused unless a real directory of this user that
    no one else may enter (whoever can write in it could stand in for the worker)."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        status = os.lstat(folder)
    except OSError as exc:
        raise WorkerUnavailable(f"cannot create {folder}: {exc}") from exc
    if not os.path.isdir(folder) or os.path.islink(folder):
        raise WorkerUnavailable(f"{folder} is not a directory")
    if status.st_uid != os.getuid():
        raise WorkerUnavailable(f"{folder} belongs to uid {status.st_uid}, not {os.getuid()}")
    if status.st_mode & 0o077:
        raise WorkerUnavailable(f"{folder} is open to others (mode {status.st_mode & 0o777:o}; 700 expected)")
    return folder


# -- frames ------------------------------------------------------------------------------------


def send_frame(sock: socket.socket, body: bytes) -> None:
    if len(body) < 65536:  # one write for the usual small frame
        sock.sendall(_HEADER.pack(len(body)) + body)
        return
    sock.sendall(_HEADER.pack(len(body)))
    sock.sendall(body)


def receive_frame(sock: socket.socket) -> bytearray:
    (length,) = _HEADER.unpack(_receive_exactly(sock, _HEADER.size))
    if length > MAX_FRAME_BYTES:
        raise ConnectionError(f"frame of {length} bytes refused")
    return _receive_exactly(sock, length)


def _receive_exactly(sock: socket.socket, size: int) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    received = 0
    while received < size:
        count = sock.recv_into(view[received:])
        if not count:
            raise ConnectionError("the peer closed the connection")
        received += count
    return buffer


def send_json(sock: socket.socket, message: dict[str, Any]) -> None:
    send_frame(sock, json.dumps(message).encode())  # ASCII escapes: lone surrogates of a tool's output pass too


def receive_json(sock: socket.socket) -> dict[str, Any]:
    message = json.loads(receive_frame(sock))
    if not isinstance(message, dict):
        raise ConnectionError("unexpected frame")
    return message


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end (Linux), None where the system does not tell."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
    return int(uid)


def hello() -> dict[str, Any]:
    return {"op": "hello", "protocol": PROTOCOL, "model": MODEL_ID, "fingerprint": fingerprint()}


def matches(answer: dict[str, Any]) -> bool:
    return bool(answer.get("protocol") == PROTOCOL and answer.get("model") == MODEL_ID and answer.get("fingerprint") == fingerprint())


# -- connecting and starting -------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerOptions:
    socket_dir: str = ""
    idle_seconds: float = 300.0


def connect(address: WorkerAddress) -> tuple[socket.socket, dict[str, Any]]:
    """A connection to a worker of this fingerprint and its handshake; WorkerUnavailable if none answers as one."""
    if not hasattr(socket, "AF_UNIX"):
        raise WorkerUnavailable("this system has no Unix sockets")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
        sock.connect(str(address.socket))
        uid = peer_uid(sock)
        if uid is not None and uid != os.getuid():
            raise WorkerUnavailable(f"the process at {address.socket} runs as uid {uid}")
        send_json(sock, hello())
        answer = receive_json(sock)
        if not matches(answer):
            raise WorkerUnavailable(f"the worker at {address.socket} speaks protocol {answer.get('protocol')} for {answer.get('model')}")
        sock.settimeout(FRAME_TIMEOUT_SECONDS)
        return sock, answer
    except BaseException as exc:
        sock.close()
        if isinstance(exc, WorkerUnavailable):
            raise
        if isinstance(exc, (OSError, ValueError)):  # refused, missing, reset, timed out, not JSON
            raise WorkerUnavailable(f"no embedding worker at {address.socket}: {exc}") from exc
        raise


def spawn(address: WorkerAddress, idle_seconds: float) -> None:
    """Start a worker, detached: its own session, no inherited stdio (a stdio server's stdout is the
    protocol); it forks once more, so that no server has to reap it. If a worker of this
    fingerprint already holds the lock, the new one exits at once."""
    package_root = str(Path(__file__).resolve().parents[2])  # this very install, whatever the working folder
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p),
        "OPENBLAS_NUM_THREADS": "1",  # numpy's BLAS threads would each hold a buffer; the model does not use them
        "MALLOC_ARENA_MAX": "2",  # not one glibc arena per connection thread, each keeping what it freed
    }
    command = [sys.executable, "-m", "mcp_arena.search.embed_service", "--dir", str(address.folder), "--idle-seconds", str(idle_seconds), "--detach"]
    mode = "ab" if _small(address.log) else "wb"
    with open(address.log, mode) as log:
        os.fchmod(log.fileno(), 0o600)
        starter = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, env=environment, cwd="/", start_new_session=True, close_fds=True
        )
    try:
        starter.wait(timeout=START_TIMEOUT_SECONDS)  # the detaching parent exits right after its fork
    except subprocess.TimeoutExpired as exc:
        starter.kill()
        starter.wait()
        raise WorkerUnavailable("the embedding worker did not detach") from exc


def _small(path: Path) -> bool:
    try:
        return path.stat().st_size < _LOG_MAX_BYTES
    except OSError:
        return True


def connect_or_start(address: WorkerAddress, idle_seconds: float) -> tuple[socket.socket, dict[str, Any]]:
    """A connection to the worker, starting one when none answers (or an old one does)."""
    try:
        return connect(address)
    except WorkerUnavailable:
        private_folder(address.folder)
        spawn(address, idle_seconds)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    delay = 0.02
    while True:
        try:
            return connect(address)
        except WorkerUnavailable as exc:
            if time.monotonic() + delay > deadline:
                raise WorkerUnavailable(f"the embedding worker did not start (see {address.log}): {exc}") from exc
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


# -- the embedder ------------------------------------------------------------------------------


class RemoteEmbedder(Embedder):
    """An `Embedder` whose model runs in the user's embedding worker; in process when it cannot.

    Thread-safe: each request has a connection of its own (idle ones are kept for the next)."""

    def __init__(self, options: WorkerOptions | None = None, *, threads: int | None = 1) -> None:
        super().__init__(threads=threads)  # the in-process fallback's
        self.options = options or WorkerOptions()
        self.address = WorkerAddress.of(self.options.socket_dir)
        self.worker: dict[str, Any] = {}  # the handshake of the last worker that answered (its pid)
        self._idle: list[socket.socket] = []
        self._guard = threading.Lock()  # the idle connections and the fallback state
        self._start_lock = threading.Lock()  # one start at a time in this process (the file lock serves processes)
        self._failures = 0  # consecutive fallbacks
        self._retry_at = 0.0  # monotonic time before which the worker is not tried again
        self._remote_loaded = False

    @property
    def is_loaded(self) -> bool:
        return self._remote_loaded or super().is_loaded

    @property
    def is_loaded_in_process(self) -> bool:
        """Whether the fallback loaded the model into this process."""
        return super().is_loaded

    @property
    def uses_worker(self) -> bool:
        """Whether the worker served the last request (False while in process)."""
        return bool(self.worker) and self._failures == 0

    def load(self) -> None:
        """Have the worker load the model now (in process when it cannot)."""
        if self._worker_allowed():
            try:
                self._request({"op": "load"}, None)
                return
            except WorkerUnavailable as exc:
                self._fell_back(exc)
        super().load()

    def embed(self, texts: list[str], *, between_batches: Callable[[], None] | None = None) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        if self._worker_allowed():
            clipped = [text[:_MAX_CHARS] for text in texts]  # as the model would: no need to send more
            try:
                return self._request({"op": "embed", "texts": clipped, "pauses": between_batches is not None}, between_batches)
            except WorkerUnavailable as exc:
                self._fell_back(exc)
        return super().embed(texts, between_batches=between_batches)

    def close(self) -> None:
        with self._guard:
            idle, self._idle = self._idle, []
        for sock in idle:
            sock.close()

    # -- internals ---------------------------------------------------------

    def _request(self, request: dict[str, Any], between_batches: Callable[[], None] | None) -> NDArray[np.float32]:
        """The worker's answer; one retry on a fresh connection when a kept one turns out dead
        (the worker may have ended after its idle time)."""
        for attempt in (1, 2):
            sock, kept = self._connection()
            try:
                answer = self._exchange(sock, request, between_batches)
            except (OSError, ValueError) as exc:
                sock.close()
                if kept and attempt == 1:
                    self.close()  # the others went to the same worker
                    continue
                raise WorkerUnavailable(f"the embedding worker failed: {exc}") from exc
            except BaseException:  # between_batches raised (the caller is stopping): the exchange is cut mid-way
                sock.close()
                raise
            self._put_back(sock)
            self._recovered()
            return answer
        raise AssertionError("unreachable")

    def _exchange(self, sock: socket.socket, request: dict[str, Any], between_batches: Callable[[], None] | None) -> NDArray[np.float32]:
        send_json(sock, request)
        while True:
            answer = receive_json(sock)
            if answer.get("pause"):
                if between_batches is not None:
                    between_batches()
                send_json(sock, {"op": "go"})
                continue
            if not answer.get("ok"):
                raise ConnectionError(f"the worker answered: {answer.get('error', answer)}")
            self._remote_loaded = True
            rows = int(answer.get("rows", 0))
            if not rows:
                return np.zeros((0, DIMENSION), dtype=np.float32)
            body = receive_frame(sock)
            if len(body) != rows * DIMENSION * 4:
                raise ConnectionError(f"{len(body)} bytes for {rows} vectors")
            return np.frombuffer(body, dtype=np.float32).reshape(rows, DIMENSION)  # over a bytearray: writable

    def _connection(self) -> tuple[socket.socket, bool]:
        """(a connection, whether it was kept from an earlier request)."""
        with self._guard:
            if self._idle:
                return self._idle.pop(), True
        with self._start_lock:
            sock, self.worker = connect_or_start(self.address, self.options.idle_seconds)
        return sock, False

    def _put_back(self, sock: socket.socket) -> None:
        with self._guard:
            if len(self._idle) < 4:
                self._idle.append(sock)
                return
        sock.close()

    def _worker_allowed(self) -> bool:
        return time.monotonic() >= self._retry_at

    def _fell_back(self, reason: WorkerUnavailable) -> None:
        with self._guard:
            self._failures += 1
            first = self._failures == 1
            backoff = min(RETRY_AFTER_SECONDS[0] * 2 ** (self._failures - 1), RETRY_AFTER_SECONDS[1])
            self._retry_at = time.monotonic() + backoff
        if first:
            logger.warning("embedding in this process, not in the shared worker (tried again in %.0f s): %s", backoff, reason)
        else:
            logger.info("the embedding worker is still unavailable (tried again in %.0f s): %s", backoff, reason)

    def _recovered(self) -> None:
        if self._failures:
            with self._guard:
                self._failures = 0
            logger.info("embedding through the shared worker (pid %s) again", self.worker.get("pid"))


@functools.lru_cache(maxsize=4)
def process_embedder(options: WorkerOptions | None) -> Embedder:
    """This process's embedder for these options: through the worker, or in process when None."""
    return RemoteEmbedder(options) if options is not None else Embedder(threads=1)


def worker_status(socket_dir: str | Path = "") -> dict[str, Any] | None:
    """The running worker's status (pid, clients, requests, model loaded), None when none answers.
    Never starts one."""
    try:
        sock, _ = connect(WorkerAddress.of(socket_dir))
    except WorkerUnavailable:
        return None
    with contextlib.closing(sock):
        try:
            send_json(sock, {"op": "status"})
            return receive_json(sock)
        except (OSError, ValueError):
            return None
