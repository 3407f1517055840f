"""Memory of several servers on one home searching at once: each server's RSS, the embedding worker's, the total.

    python benchmarks/rss_servers.py [--servers 3] [--events 2000] [--rounds 40] [--no-worker]

Seeds a home as `mcp-arena bench` does (one generated session of `--events` events, in the log
only: the servers embed them with the real model, as after an import), then starts `--servers`
`mcp-arena serve` processes over stdio on it, each driven by the SDK's client, and has them all
run `--rounds` rounds of (memory_search, tag) at once. Printed per process: RSS once `initialize` was answered, RSS after
the run and its peak (VmRSS / VmHWM of /proc/<pid>/status), then the embedding worker's, and the
total of the peaks (the issue's target: all together <= 1.2 GB for three servers).

With the worker (the default) the servers share one, started by the first that needs a vector,
its socket in a private folder of this run, killed at the end. `--no-worker` sets
MCP_ARENA_EMBEDDING_WORKER=false: each server loads its own model, as before the worker.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from mcp_arena.lab import bench
from mcp_arena.search.embed_client import worker_status

TARGET_TOTAL_MB = 1200.0


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS, VmHWM, RssAnon, RssFile (/proc/<pid>/status) and Pss (smaps_rollup) of a process, in MB
    (empty once it is gone). RSS counts the pages of shared libraries in every process that maps
    them (lancedb's library alone is 185 MB); PSS splits shared pages between their processes."""
    figures: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for source, keys in (("status", ("VmRSS", "VmHWM", "RssAnon", "RssFile")), ("smaps_rollup", ("Pss",))):
            for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in keys:
                    figures[key] = round(int(value.split()[0]) / 1024, 1)
    return figures


def server_pids() -> list[int]:
    children: list[int] = []
    for task in Path("/proc/self/task").glob("*/children"):
        children += [int(pid) for pid in task.read_text().split()]
    return sorted(pid for pid in children if b"mcp_arena\x00serve" in _cmdline(pid))


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def seed_home(home: Path, events: int) -> None:
    started = time.perf_counter()
    bench.seed(home, (events,))
    print(f"seeded {events:,} events in {time.perf_counter() - started:.1f} s", file=sys.stderr)


async def drive(client: Client, rounds: int, number: int) -> None:
    for i in range(rounds):
        query = bench.QUERIES[(i + number) % len(bench.QUERIES)]
        result = await client.call_tool("memory_search", {"query": query})
        if result.is_error:
            raise RuntimeError(f"memory_search failed: {result.content}")
        await client.call_tool("tag", {"name": f"s{number}-{i}", "note": f"round {i} of server {number}: {query}"})


async def measure(home: Path, servers: int, rounds: int, env: dict[str, str]) -> dict[str, Any]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_arena", "serve"], env=env)
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for _ in range(servers):
            clients.append(await stack.enter_async_context(Client(stdio_client(params, errlog=sys.stderr))))
        pids = server_pids()
        before = {pid: memory_mb(pid) for pid in pids}
        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for number, client in enumerate(clients):
                group.start_soon(drive, client, rounds, number)
        seconds = time.perf_counter() - started
        after = {pid: memory_mb(pid) for pid in pids}
        status = worker_status(env.get("MCP_ARENA_EMBEDDING_SOCKET_DIR", "")) if env.get("MCP_ARENA_EMBEDDING_WORKER") != "false" else None
        worker = {"pid": status["pid"], **memory_mb(status["pid"])} if status else None
    return {"servers": [{"pid": pid, "initialized": before[pid], "after": after[pid]} for pid in pids], "worker": worker, "seconds": round(seconds, 1)}


COLUMNS = (("VmRSS", "RSS after"), ("VmHWM", "peak RSS"), ("RssAnon", "anon"), ("RssFile", "file"), ("Pss", "PSS"))


def report(figures: dict[str, Any], *, rounds: int, worker_on: bool) -> float:
    print(f"\n{len(figures['servers'])} servers, {rounds} rounds of memory_search + tag each, at once ({figures['seconds']} s); "
          f"embedding worker {'on' if worker_on else 'off'}; MB")
    print(f"{'process':<24}{'RSS at init':>12}" + "".join(f"{label:>11}" for _, label in COLUMNS))
    rows = [(f"server {s['pid']}", s["initialized"].get("VmRSS", 0.0), s["after"]) for s in figures["servers"]]
    if figures["worker"]:
        rows.append((f"embedding worker {figures['worker']['pid']}", None, figures["worker"]))
    totals = dict.fromkeys((key for key, _ in COLUMNS), 0.0)
    for name, initial, after in rows:
        print(f"{name:<24}{'' if initial is None else f'{initial:.1f}':>12}" + "".join(f"{after.get(key, 0.0):>11.1f}" for key, _ in COLUMNS))
        for key in totals:
            totals[key] += after.get(key, 0.0)
    print(f"{'total':<24}{'':>12}" + "".join(f"{totals[key]:>11.1f}" for key, _ in COLUMNS))
    verdict = "met" if totals["VmHWM"] <= TARGET_TOTAL_MB else "MISSED"
    print(f"target: peak RSS of all processes together <= {TARGET_TOTAL_MB:g} MB: {verdict} ({totals['VmHWM']:.0f} MB; "
          f"PSS, shared library pages counted once: {totals['Pss']:.0f} MB)")
    return totals["VmHWM"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", type=int, default=3)
    parser.add_argument("--events", type=int, default=2_000, help="events of the seeded session (embedded by the servers)")
    parser.add_argument("--rounds", type=int, default=40, help="memory_search + tag rounds per server")
    parser.add_argument("--no-worker", action="store_true", help="each server loads its own model (MCP_ARENA_EMBEDDING_WORKER=false)")
    parser.add_argument("--home", type=Path, help="an already seeded home (kept); default a fresh one")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="mcpa-rss-", dir="/tmp"))  # short: the socket path must fit 108 bytes
    home = args.home or scratch / "home"
    socket_dir = scratch / "w"
    env = {
        **os.environ,
        "MCP_ARENA_HOME": str(home),
        "MCP_ARENA_SESSION": bench.session_name(args.events),
        "MCP_ARENA_TRANSCRIPT": "",
        "MCP_ARENA_EMBEDDING_SOCKET_DIR": str(socket_dir),
        "MCP_ARENA_EMBEDDING_WORKER": "false" if args.no_worker else "true",
    }
    try:
        if args.home is None:
            seed_home(home, args.events)
        figures = anyio.run(measure, home, args.servers, args.rounds, env)
        report(figures, rounds=args.rounds, worker_on=not args.no_worker)
    finally:
        status = worker_status(socket_dir) if socket_dir.exists() else None
        if status:
            with contextlib.suppress(ProcessLookupError):
                os.kill(status["pid"], signal.SIGTERM)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
