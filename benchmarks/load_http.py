"""Many clients on one HTTP server: errors, cross-session leaks, latency per tool, the server's memory.

    .venv/bin/python benchmarks/load_http.py                          # 50 clients x 200 calls
    .venv/bin/python benchmarks/load_http.py --clients 10 --calls 40  # a quick look
    .venv/bin/python benchmarks/load_http.py --tokens --json out.json # one bearer token / principal per client

Starts `mcp-arena serve --transport streamable-http` on 127.0.0.1 (never another address) in a
fresh MCP_ARENA_HOME, then runs `--clients` concurrent SDK clients (`mcp.Client`, one per
session, all in this process), each making `--calls` calls: tag (a note carrying the client's
own marker word), artifact_index (records a file), memory_search (its own marker, then the
next client's) and context_status, in turn. Counted:

- errors: any `isError` result or transport failure;
- cross-session hits: a result of client k that shows another client's marker word or file,
  or a result whose `session` is not client k's;
- misses: client k's search for its own marker that finds nothing (the recall still works);
- p50 / p95 / max per tool, measured at the client (HTTP round trip included), and the calls
  per second of the whole run;
- the server's peak RSS (VmHWM of /proc/<pid>/status) and its RSS at the end.

Bounded: at most 200 clients x 1,000 calls, and `--deadline` seconds (default 900) for the
whole run, after which it stops and reports what it has. Timings depend on the machine: its
load average is printed with them. Measurement only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

MAX_CLIENTS = 200
MAX_CALLS = 1_000
HOST = "127.0.0.1"  # loopback only, by construction
TOOLS = ("tag", "artifact_index", "memory_search", "context_status")


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    cross_session: list[str] = field(default_factory=list)
    own_searches: int = 0
    misses: int = 0
    calls: int = 0


def marker(number: int) -> str:
    """A word no other client writes: 'quokka' + letters for the number (digits would be split by the tokenizer)."""
    letters = "".join(chr(ord("a") + int(d)) for d in f"{number:03d}")
    return f"quokka{letters}"


def principal(number: int) -> str:
    return f"client-{number:03d}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def start_server(home: Path, port: int, semantic: bool, tokens_file: Path | None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MCP_ARENA_HOME": str(home), "MCP_ARENA_SEMANTIC": "true" if semantic else "false"}
    args = [sys.executable, "-m", "mcp_arena", "serve", "--transport", "streamable-http", "--host", HOST, "--port", str(port)]
    if tokens_file is not None:
        args += ["--auth-tokens", str(tokens_file)]
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=open(home.parent / "serve.log", "wb"))  # noqa: SIM115
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx2.get(f"http://{HOST}:{port}/", timeout=1)
            return process
        except httpx2.TransportError:
            if process.poll() is not None:
                raise SystemExit(f"the server exited; see {home.parent / 'serve.log'}") from None
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start in 60 s")


def rss_kib(pid: int) -> dict[str, int]:
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            figures[name] = int(value.split()[0])
    return figures


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU the server used so far (the clients' own CPU is this process's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)


def text_of(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def one_client(number: int, clients: int, calls: int, url: str, token: str | None, tally: Tally, stop_at: float) -> None:
    session = f"load-{number:03d}"
    stored = f"{principal(number)}/{session}" if token else session  # the id results show
    mine, theirs = marker(number), marker((number + 1) % clients)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with Client(streamable_http_client(url, http_client=create_mcp_http_client(headers=headers))) as client:
        for i in range(calls):
            if time.monotonic() > stop_at:
                return
            tool = TOOLS[i % len(TOOLS)]
            arguments: dict[str, Any] = {"session": session}
            if tool == "tag":
                arguments |= {"name": f"step-{i}", "note": f"{mine} works on step {i}"}
            elif tool == "artifact_index":
                arguments |= {"record": [{"path": f"src/{mine}/file{i}.py", "action": "modified"}]}
            elif tool == "memory_search":
                arguments |= {"query": theirs if i % 8 == 6 else mine, "limit": 5}
            started = time.perf_counter()
            try:
                result = await client.call_tool(tool, arguments)
            except Exception as exc:  # noqa: BLE001 - counted, the run goes on
                tally.errors.append(f"{session} {tool}: {type(exc).__name__}: {exc}"[:300])
                continue
            tally.latencies[tool].append(time.perf_counter() - started)
            tally.calls += 1
            structured = result.structured_content or {}
            # what the result shows of the log: a search's hits (its text echoes the query), else all of it
            shown = json.dumps(structured.get("hits", [])) if tool == "memory_search" else text_of(result) + json.dumps(structured)
            if result.is_error:
                tally.errors.append(f"{session} {tool}: {text_of(result)[:200]}")
            if structured.get("session", stored) != stored or any(marker(k) in shown for k in range(clients) if k != number):
                tally.cross_session.append(f"{session} {tool}: {shown[:200]}")
            if tool == "memory_search" and arguments["query"] == mine and i > len(TOOLS):
                tally.own_searches += 1
                if not structured.get("hits"):
                    tally.misses += 1


async def run_clients(args: argparse.Namespace, url: str, tokens: list[str | None], tally: Tally) -> float:
    stop_at = time.monotonic() + args.deadline
    started = time.perf_counter()
    await asyncio.gather(*(one_client(k, args.clients, args.calls, url, tokens[k], tally, stop_at) for k in range(args.clients)))
    return time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def report(args: argparse.Namespace, tally: Tally, elapsed: float, memory: dict[str, int]) -> dict[str, Any]:
    per_tool = {
        tool: {
            "calls": len(values),
            "p50_ms": round(1000 * statistics.median(values), 1),
            "p95_ms": round(1000 * percentile(values, 0.95), 1),
            "max_ms": round(1000 * max(values), 1),
        }
        for tool, values in tally.latencies.items()
        if values
    }
    return {
        "clients": args.clients,
        "calls_per_client": args.calls,
        "calls": tally.calls,
        "seconds": round(elapsed, 1),
        "calls_per_second": round(tally.calls / elapsed, 1) if elapsed else None,
        "errors": len(tally.errors),
        "cross_session_hits": len(tally.cross_session),
        "own_marker_searches": tally.own_searches,
        "own_marker_misses": tally.misses,
        "per_tool": per_tool,
        "server_peak_rss_mib": round(memory.get("VmHWM", 0) / 1024, 1),
        "server_end_rss_mib": round(memory.get("VmRSS", 0) / 1024, 1),
        "tokens": args.tokens,
        "semantic": args.semantic,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "first_errors": tally.errors[:5],
        "first_cross_session": tally.cross_session[:5],
    }


def markdown(figures: dict[str, Any]) -> str:
    lines = [
        f"{figures['clients']} clients x {figures['calls_per_client']} calls: {figures['calls']:,} calls in {figures['seconds']} s "
        f"({figures['calls_per_second']} calls/s); errors {figures['errors']}, cross-session hits {figures['cross_session_hits']}, "
        f"own-marker misses {figures['own_marker_misses']}/{figures['own_marker_searches']}; server peak RSS {figures['server_peak_rss_mib']} MiB "
        f"(load average {figures['load_average']}, {figures['cpus']} CPUs, semantic {'on' if figures['semantic'] else 'off'}, "
        f"tokens {'on' if figures['tokens'] else 'off'}; CPU seconds: server {figures.get('server_cpu_seconds')}, "
        f"clients {figures.get('client_cpu_seconds')})",
        "",
        "| tool | calls | p50 ms | p95 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for tool, row in figures["per_tool"].items():
        lines.append(f"| `{tool}` | {row['calls']:,} | {row['p50_ms']} | {row['p95_ms']} | {row['max_ms']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=50, help=f"concurrent clients, each on its own session (max {MAX_CLIENTS})")
    parser.add_argument("--calls", type=int, default=200, help=f"calls per client (max {MAX_CALLS})")
    parser.add_argument("--deadline", type=float, default=900, help="seconds for the whole run; it stops there and reports")
    parser.add_argument("--semantic", action="store_true", help="with the embedding layer (default off: full-text only)")
    parser.add_argument("--tokens", action="store_true", help="a bearer token and principal per client (the auth path)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    if not (1 <= args.clients <= MAX_CLIENTS and 1 <= args.calls <= MAX_CALLS):
        parser.error(f"--clients must be 1-{MAX_CLIENTS} and --calls 1-{MAX_CALLS}")
    with tempfile.TemporaryDirectory(prefix="arena-load-") as folder:
        home = Path(folder) / "arena-home"
        tokens: list[str | None] = [secrets.token_urlsafe(24) if args.tokens else None for _ in range(args.clients)]
        tokens_file = None
        if args.tokens:
            tokens_file = Path(folder) / "tokens.json"
            tokens_file.write_text(json.dumps({token: principal(k) for k, token in enumerate(tokens)}))
            tokens_file.chmod(0o600)
        port = free_port()
        server = start_server(home, port, args.semantic, tokens_file)
        try:
            tally = Tally()
            elapsed = asyncio.run(run_clients(args, f"http://{HOST}:{port}/mcp", tokens, tally))
            memory = rss_kib(server.pid)
            cpu = server_cpu_seconds(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
            if tally.errors:  # the server's side of them, before the folder goes
                print((home.parent / "serve.log").read_text(errors="replace")[-6000:], file=sys.stderr)
    figures = report(args, tally, elapsed, memory)
    figures["server_cpu_seconds"] = cpu
    figures["client_cpu_seconds"] = round(time.process_time(), 1)
    print(markdown(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
