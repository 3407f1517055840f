"""The embedding worker: one loaded model serving every server of a user over a Unix socket.

    python -m mcp_arena.search.embed_service --dir FOLDER --idle-seconds 300 [--detach]

Started by `embed_client.spawn` (the first server that needs a vector), never by hand. It takes
the fingerprint's lock file in FOLDER (waiting a moment for a worker that is exiting), binds the
socket beside it, loads the model in the background and answers each connection on a thread of
its own: `hello` (the handshake: protocol, model, fingerprint, pid), `load`, `embed` (texts ->
float32 rows, with a pause frame between model batches when asked) and `status`. Only
processes of the same user are served (the folder is 0700; the peer's uid is checked too).

It exits when no request has run for `--idle-seconds`, or when its socket file is gone or
replaced (whoever removed it could not reach it any more), unlinking the socket while it still
holds the lock. A worker that finds the lock held leaves (after `LOCK_WAIT_SECONDS`, in case its
holder was exiting). Queries run at once; background batches (a caller that pauses between
batches) run one at a time, whichever server they come from.

Memory: the model file stores its weights as int8 that onnxruntime turns into float32 when it
loads (90 MB), with a peak of ~250 MB while it does. The worker loads a prepared copy instead:
the graph as onnxruntime optimizes it, its weights in a file of their own that onnxruntime maps
from disk (clean page cache, shared, never copied), made once per model and onnxruntime version
in the user's cache folder by a short-lived child process (`--prepare-model`), checked against
its sha256 at every load; when no copy can be made it loads the model file. One background batch
at a time also bounds what onnxruntime's memory arena keeps (it holds the largest concurrent need).
Measured on 1,000 generated events (MB of peak RSS, texts/s; in process: ~117 texts/s): arena on
201–203 MB at 111–120/s; arena off 258–263 MB at 113–117/s; arena off with glibc returning freed
blocks at once 172 MB, but 82–97/s (every batch's buffers page-faulted anew). The model file
instead of the prepared copy: 270–277 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy and the model load after the fork (numpy starts threads on import)
    import numpy as np
    from numpy.typing import NDArray

    from mcp_arena.search.embed_client import WorkerAddress
    from mcp_arena.search.embedder import Embedder

logger = logging.getLogger("mcp_arena.embed_service")

# A worker that is exiting still holds the lock for a moment: a new one waits this long for it.
LOCK_WAIT_SECONDS = 3.0
_MAX_CLIENTS_KEPT = 64


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mcp_arena.search.embed_service")
    parser.add_argument("--dir", help="the worker's private folder")
    parser.add_argument("--idle-seconds", type=float, default=300.0, help="exit after this long without a request")
    parser.add_argument("--cache-dir", default="", help="where the prepared model is kept (default: the user's cache folder)")
    parser.add_argument("--detach", action="store_true", help="fork: the caller returns at once and never has to reap the worker")
    parser.add_argument("--prepare-model", metavar="FOLDER", help="write the prepared model into FOLDER and exit")
    args = parser.parse_args(argv)
    os.umask(0o077)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s embed-worker[%(process)d] %(levelname)s %(message)s")
    if args.prepare_model:
        write_prepared_model(Path(args.prepare_model))
        return 0
    if not args.dir:
        parser.error("--dir is required")
    if args.detach and os.fork():
        os._exit(0)
    from mcp_arena.search.embed_client import WorkerAddress, WorkerUnavailable, private_folder

    address = WorkerAddress(Path(args.dir))
    try:
        private_folder(address.folder)
    except WorkerUnavailable as exc:
        logger.error("not starting: %s", exc)
        return 1
    lock = take_lock(address.lock, LOCK_WAIT_SECONDS)
    if lock is None:
        return 0  # another worker of this fingerprint serves the socket
    Worker(address, max(args.idle_seconds, 0.1), lambda: worker_embedder(Path(args.cache_dir) if args.cache_dir else default_cache_dir())).serve()
    return 0


def take_lock(path: Path, wait_seconds: float) -> int | None:
    """The file descriptor holding the exclusive lock (kept for the process's life), None if taken."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(0.05)


# -- the prepared model ------------------------------------------------------------------------

_GRAPH, _WEIGHTS, _MANIFEST = "model.onnx", "model.data", "manifest.json"
PREPARE_TIMEOUT_SECONDS = 300


def default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("mcp-arena", appauthor=False)) / "onnx"


def worker_embedder(cache: Path) -> Embedder:
    """The worker's model: the prepared copy when there is or can be one, else the model file."""
    from mcp_arena.search.embedder import Embedder

    prepared = prepared_model(cache)
    if prepared is None:
        return Embedder(threads=1)
    graph, graph_sha256 = prepared
    return Embedder(threads=1, model_path=graph, model_sha256=graph_sha256)


def prepared_model(cache: Path) -> tuple[Path, str] | None:
    """(graph file, its sha256) of the prepared copy of the installed model, made now if missing
    or damaged; None when it cannot be made (the caller loads the model file)."""
    import onnxruntime

    from mcp_arena.search.embedder import MODEL_ID, EmbeddingModelError, default_model_sha256

    try:
        folder = cache / f"{MODEL_ID}-{default_model_sha256()[:16]}-ort{onnxruntime.__version__}"
        for attempt in (1, 2):
            checked = _checked_copy(folder)
            if checked is not None:
                return checked
            if attempt == 2:
                break
            shutil.rmtree(folder, ignore_errors=True)
            _make_copy(folder)
    except (OSError, ValueError, EmbeddingModelError, subprocess.SubprocessError) as exc:
        logger.warning("loading the model file, not a prepared copy: %s", exc)
        return None
    logger.warning("loading the model file: the prepared copy in %s does not check out", folder)
    return None


def _checked_copy(folder: Path) -> tuple[Path, str] | None:
    from mcp_arena.search.embedder import sha256_of

    try:
        manifest = json.loads((folder / _MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or any(sha256_of(folder / name) != manifest.get(name) for name in (_GRAPH, _WEIGHTS)):
        return None
    return folder / _GRAPH, str(manifest[_GRAPH])


def _make_copy(folder: Path) -> None:
    """In a child process: optimizing the graph peaks at ~250 MB, which would stay in this
    process's VmHWM. Written beside, then renamed into place."""
    folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    scratch = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    command = [sys.executable, "-m", "mcp_arena.search.embed_service", "--prepare-model", str(scratch)]
    subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True, timeout=PREPARE_TIMEOUT_SECONDS)
    try:
        os.rename(scratch, folder)
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)  # another process put one there meanwhile: it is checked next
        if not folder.is_dir():
            raise


def write_prepared_model(folder: Path) -> None:
    """The installed model, verified, as onnxruntime optimizes it (extended level: fused
    attention and layer norms, no hardware-specific layouts), its weights in a file of their own."""
    import onnxruntime as ort

    from mcp_arena.search.embedder import MODEL_DISTRIBUTION, default_model_path, default_model_sha256, sha256_of, verify_file

    source = default_model_path()
    verify_file(source, default_model_sha256(), f"reinstall the model package: pip install --force-reinstall {MODEL_DISTRIBUTION}")
    folder.mkdir(mode=0o700, parents=True)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(folder / _GRAPH)
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", _WEIGHTS)
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    options.log_severity_level = 3
    ort.InferenceSession(str(source), sess_options=options, providers=["CPUExecutionProvider"])
    manifest = {name: sha256_of(folder / name) for name in (_GRAPH, _WEIGHTS)}
    (folder / _MANIFEST).write_text(json.dumps({**manifest, "source_sha256": default_model_sha256(), "onnxruntime": ort.__version__}))


# -- the worker --------------------------------------------------------------------------------


class Worker:
    def __init__(self, address: WorkerAddress, idle_seconds: float, make_embedder: Callable[[], Embedder]) -> None:
        self.address = address
        self.idle_seconds = idle_seconds
        self._make_embedder = make_embedder
        self.embedder: Embedder | None = None
        self.load_error = ""
        self.loaded = threading.Event()  # set when the model loaded, or failed to
        self.requests = 0
        self.clients: dict[int, float] = {}  # pid -> last request (monotonic)
        self._active = 0
        self._last_used = time.monotonic()
        self._guard = threading.Lock()
        # One background (catch-up) batch at a time, whichever server it is for: three servers
        # catching up at once would hold three batches' buffers and both cores. Queries never wait here.
        self._background = threading.Lock()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._inode = 0

    def serve(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.address.socket.unlink()  # a dead worker's, or one of another version: we hold the lock
        self._listener.bind(str(self.address.socket))
        self._inode = os.stat(self.address.socket).st_ino
        self._listener.listen(64)
        self._listener.settimeout(min(1.0, self.idle_seconds / 4))
        logger.info("serving %s (idle exit after %.0f s)", self.address.socket, self.idle_seconds)
        threading.Thread(target=self._load, name="load-model", daemon=True).start()
        while (reason := self._reason_to_exit()) is None:
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._serve_connection, args=(connection,), daemon=True).start()
        self._exit(reason)

    # -- lifecycle ---------------------------------------------------------

    def _load(self) -> None:
        try:
            self.embedder = self._make_embedder()
            self.embedder.load()
        except Exception as exc:  # a damaged model: every request answers with the reason, the clients embed in process
            self.load_error = f"{type(exc).__name__}: {exc}"
            logger.error("model not loaded: %s", self.load_error)
        self.loaded.set()

    def _reason_to_exit(self) -> str | None:
        try:
            if os.stat(self.address.socket).st_ino != self._inode:
                return "the socket file was replaced"
        except FileNotFoundError:
            return "the socket file was removed"
        with self._guard:
            idle = 0.0 if self._active else time.monotonic() - self._last_used
        return f"unused for {idle:.0f} s" if idle >= self.idle_seconds else None

    def _exit(self, reason: str) -> None:
        logger.info("exiting: %s (%d requests served)", reason, self.requests)
        self._listener.close()
        with contextlib.suppress(OSError):
            if os.stat(self.address.socket).st_ino == self._inode:
                self.address.socket.unlink()
        logging.shutdown()
        os._exit(0)  # connection threads may be blocked reading: their clients see the end and start a new worker

    # -- one connection ----------------------------------------------------

    def _serve_connection(self, connection: socket.socket) -> None:
        from mcp_arena.search.embed_client import receive_json, send_json

        with connection:
            pid = self._peer_pid(connection)
            if pid is None:
                return
            with contextlib.suppress(OSError, ValueError):  # the client went away, or spoke nonsense
                while True:
                    request = receive_json(connection)
                    if request.get("op") == "status":  # asking is not using: the idle clock runs on
                        send_json(connection, self._status())
                        continue
                    with self._guard:
                        self._active += 1
                        self.requests += 1
                        self.clients[pid] = time.monotonic()
                    try:
                        self._answer(connection, request)
                    except (OSError, ValueError):
                        raise
                    except Exception as exc:  # the client embeds in process; the worker serves the others on
                        logger.exception("request failed")
                        send_json(connection, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})
                        return
                    finally:
                        with self._guard:
                            self._active -= 1
                            self._last_used = time.monotonic()

    def _peer_pid(self, connection: socket.socket) -> int | None:
        """The client's pid (0 where the system does not tell); None for another user's process."""
        option = getattr(socket, "SO_PEERCRED", None)
        if option is None:
            return 0
        pid, uid, _gid = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i")))
        if uid != os.getuid():
            logger.warning("refused a connection from uid %d", uid)
            return None
        return int(pid)

    def _answer(self, connection: socket.socket, request: dict[str, Any]) -> None:
        from mcp_arena.search.embed_client import hello, send_json

        op = request.get("op")
        if op == "hello":
            send_json(connection, {**hello(), "ok": True, "pid": os.getpid(), "loaded": self.loaded.is_set() and not self.load_error})
        elif op not in ("load", "embed"):
            send_json(connection, {"ok": False, "error": f"unknown op {op!r}"})
        elif not self.loaded.wait() or self.load_error or self.embedder is None:
            send_json(connection, {"ok": False, "error": self.load_error})
        elif op == "load":
            send_json(connection, {"ok": True, "rows": 0})
        elif not request.get("pauses"):  # a query, or a caller that waits for its vectors: at once
            self._send_vectors(connection, self.embedder.embed([str(text) for text in request.get("texts", [])]))
        else:
            with self._background:
                vectors = self.embedder.embed([str(text) for text in request.get("texts", [])], between_batches=lambda: self._pause(connection))
            self._send_vectors(connection, vectors)

    def _send_vectors(self, connection: socket.socket, vectors: NDArray[np.float32]) -> None:
        from mcp_arena.search.embed_client import send_frame, send_json

        send_json(connection, {"ok": True, "rows": len(vectors)})
        if len(vectors):
            send_frame(connection, vectors.tobytes())

    def _pause(self, connection: socket.socket) -> None:
        """Between model batches of a background caller: the client runs its `between_batches` and
        says go; meanwhile another server's background batch may run."""
        from mcp_arena.search.embed_client import receive_json, send_json

        self._background.release()
        try:
            send_json(connection, {"pause": True})
            if receive_json(connection).get("op") != "go":
                raise ConnectionError("expected go")
        finally:
            self._background.acquire()

    def _status(self) -> dict[str, Any]:
        with self._guard:
            while len(self.clients) > _MAX_CLIENTS_KEPT:
                del self.clients[min(self.clients, key=self.clients.__getitem__)]
            return {
                "ok": True,
                "pid": os.getpid(),
                "clients": sorted(self.clients),
                "requests": self.requests,
                "active": self._active,
                "loaded": self.loaded.is_set() and not self.load_error,
                "error": self.load_error,
                "idle_seconds": self.idle_seconds,
                "socket": str(self.address.socket),
            }


if __name__ == "__main__":
    sys.exit(main())
