"""One embedding model per user: the worker that every server shares (`search/embed_client.py`,
`search/embed_service.py`).

Real processes throughout: `mcp-arena serve` over stdio driven by the SDK's client, the worker
started by them (detached), its socket in a private folder of the test. Each test's worker is
found through its status and killed at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import numpy as np
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from mcp_arena.search import embed_client
from mcp_arena.search.embed_client import RemoteEmbedder, WorkerAddress, WorkerOptions, receive_json, send_json, worker_status
from mcp_arena.search.embedder import Embedder
from tests.helpers import ok

pytestmark = pytest.mark.anyio

TEXTS = ["redis timeout after 30 s on the cache host", "pytest: 14 passed, 1 failed (billing)", "x", "x", " ".join(["long"] * 400)]


@pytest.fixture
def worker_dir() -> Iterator[Path]:
    """A folder for the worker's socket, not created yet (the client creates it 0700); short, as
    a socket path must be. The worker found there at the end is killed."""
    parent = Path(tempfile.mkdtemp(prefix="mcpa-", dir="/tmp"))
    folder = parent / "w"
    yield folder
    status = worker_status(folder) if folder.exists() else None
    if status:
        with contextlib.suppress(ProcessLookupError):
            os.kill(status["pid"], signal.SIGKILL)
    shutil.rmtree(parent, ignore_errors=True)


def server_env(home: Path, folder: Path, idle_seconds: float = 60) -> dict[str, str]:
    return {
        **os.environ,
        "MCP_ARENA_HOME": str(home),
        "MCP_ARENA_TRANSCRIPT": "",
        "MCP_ARENA_EMBEDDING_SOCKET_DIR": str(folder),
        "MCP_ARENA_EMBEDDING_IDLE_SECONDS": str(idle_seconds),
    }


def server_pids() -> set[int]:
    """This process's children running `mcp-arena serve` (the SDK's client hides the handle)."""
    children: set[int] = set()
    for task in Path("/proc/self/task").glob("*/children"):
        children.update(int(pid) for pid in task.read_text().split())
    return {pid for pid in children if b"mcp_arena\x00serve" in _cmdline(pid)}


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def maps_onnxruntime(pid: int) -> bool:
    return "libonnxruntime" in Path(f"/proc/{pid}/maps").read_text()


def alive(pid: int) -> bool:
    """Running, not a zombie (a detached worker is reaped by init, whatever init is)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


async def search_once(client: Client, note: str) -> dict:
    await ok(client, "tag", name="checkpoint", note=note)
    found = await ok(client, "memory_search", query="which cache host timed out")
    return found.structured_content


async def test_two_servers_share_one_worker_and_load_no_model(tmp_path: Path, worker_dir: Path):
    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_arena", "serve"], env=server_env(tmp_path / "home", worker_dir))
    async with Client(params) as first, Client(params) as second:
        servers = server_pids()
        assert len(servers) == 2
        results: list[dict] = []

        async def one(client: Client, note: str) -> None:
            results.append(await search_once(client, note))

        async with anyio.create_task_group() as group:  # both need the model at once: one worker starts
            group.start_soon(one, first, "redis timeout on the cache host")
            group.start_soon(one, second, "the billing tests failed")
        assert all(result["mode"].startswith("hybrid") for result in results), results
        status = worker_status(worker_dir)
        assert status is not None and status["loaded"]
        assert servers <= set(status["clients"]), (servers, status)
        assert maps_onnxruntime(status["pid"])
        assert not any(maps_onnxruntime(pid) for pid in servers)
        assert status["pid"] not in servers and os.getpgid(status["pid"]) != os.getpgid(0)  # detached
    # One worker, however the two starts raced (a second one waits a moment for the lock and leaves).
    assert wait_until(lambda: workers_of(worker_dir) == [status["pid"]], timeout=15), workers_of(worker_dir)


def workers_of(folder: Path) -> list[int]:
    """Live worker processes serving `folder`."""
    found = []
    for entry in Path("/proc").iterdir():
        command = _cmdline(int(entry.name)) if entry.name.isdigit() else b""
        if b"embed_service" in command and str(folder).encode() in command and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def test_worker_vectors_equal_in_process_ones(worker_dir: Path):
    remote = RemoteEmbedder(WorkerOptions(socket_dir=str(worker_dir)))
    pauses: list[int] = []
    vectors = remote.embed(TEXTS * 10, between_batches=lambda: pauses.append(1))
    query = remote.embed_query(TEXTS[0])
    assert remote.uses_worker and remote.worker["pid"] != os.getpid()
    local = Embedder(threads=1)
    assert np.allclose(vectors, local.embed(TEXTS * 10), atol=1e-6)
    assert np.allclose(query, local.embed_query(TEXTS[0]), atol=1e-6)
    assert vectors.shape == (50, 384) and vectors.dtype == np.float32
    assert pauses  # the caller's between_batches ran between the worker's model batches
    remote.close()


def test_racing_starts_end_with_one_worker(worker_dir: Path):
    embedders = [RemoteEmbedder(WorkerOptions(socket_dir=str(worker_dir))) for _ in range(3)]  # no shared lock between them
    barrier = threading.Barrier(len(embedders))
    pids: list[int] = []

    def embed(embedder: RemoteEmbedder) -> None:
        barrier.wait()
        embedder.embed_query("a race")
        pids.append(embedder.worker["pid"])

    threads = [threading.Thread(target=embed, args=(e,)) for e in embedders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(pids) == 3 and len(set(pids)) == 1 and all(e.uses_worker for e in embedders)
    # The others found the lock taken (they wait a moment for it, in case its holder was exiting) and left.
    assert wait_until(lambda: workers_of(worker_dir) == pids[:1], timeout=15), workers_of(worker_dir)


def test_worker_exits_after_its_idle_time_and_restarts_on_demand(worker_dir: Path):
    remote = RemoteEmbedder(WorkerOptions(socket_dir=str(worker_dir), idle_seconds=1.5))
    remote.embed_query("first")
    first = remote.worker["pid"]
    assert alive(first)
    assert wait_until(lambda: not alive(first), timeout=20)
    assert not WorkerAddress.of(worker_dir).socket.exists()
    # The connection it kept is dead now: the next embedding starts a new worker, no fallback.
    remote.embed_query("second")
    assert remote.uses_worker and remote.worker["pid"] != first and not remote.is_loaded_in_process
    remote.close()


def test_a_killed_worker_is_replaced(worker_dir: Path):
    remote = RemoteEmbedder(WorkerOptions(socket_dir=str(worker_dir)))
    before = remote.embed_query("before")
    first = remote.worker["pid"]
    os.kill(first, signal.SIGKILL)
    assert wait_until(lambda: not alive(first), timeout=10)
    assert np.array_equal(remote.embed_query("before"), before)
    assert remote.uses_worker and remote.worker["pid"] != first and not remote.is_loaded_in_process
    remote.close()


async def test_server_embeds_in_process_when_the_socket_folder_is_unusable(tmp_path: Path, worker_dir: Path):
    worker_dir.mkdir(mode=0o700)
    os.chmod(worker_dir, 0o777)  # others could plant a socket here: not trusted
    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_arena", "serve"], env=server_env(tmp_path / "home", worker_dir))
    log = tmp_path / "server.log"
    with open(log, "w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            (server,) = server_pids()
            result = await search_once(client, "redis timeout on the cache host")
            assert result["mode"].startswith("hybrid") and result["hits"]
            assert maps_onnxruntime(server)
    assert "embedding in this process, not in the shared worker" in log.read_text()
    assert "open to others" in log.read_text()
    assert sorted(os.listdir(worker_dir)) == []  # nothing was started there


def test_a_worker_of_another_protocol_is_not_used(worker_dir: Path):
    """Something answers at our socket with another protocol (an old install's worker): it gets a
    handshake and nothing else; a worker of ours takes its place."""
    address = WorkerAddress.of(worker_dir)
    embed_client.private_folder(worker_dir)
    impostor = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    impostor.bind(str(address.socket))
    impostor.listen(8)
    asked: list[str] = []

    def answer() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = impostor.accept()
                with connection, contextlib.suppress(OSError, ValueError):
                    while True:
                        request = receive_json(connection)
                        asked.append(request["op"])
                        send_json(connection, {**request, "ok": True, "protocol": embed_client.PROTOCOL - 1, "pid": os.getpid(), "rows": 0})

    threading.Thread(target=answer, daemon=True).start()
    try:
        remote = RemoteEmbedder(WorkerOptions(socket_dir=str(worker_dir)))
        vector = remote.embed_query("a query")
        assert asked and set(asked) == {"hello"}
        assert remote.uses_worker and remote.worker["pid"] != os.getpid()
        assert np.allclose(vector, Embedder(threads=1).embed_query("a query"), atol=1e-6)
        remote.close()
    finally:
        impostor.close()
