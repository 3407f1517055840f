"""Where a tool call's time goes inside the server: timers around the search and store steps.

    python benchmarks/server_timers.py --size 10000 --rounds 60

Seeds a bench home (sessions of 1,000 / 10,000 / 100,000 events in one table, as
`mcp-arena bench` does; `--sizes` to change), starts `mcp-arena serve` over stdio
with timers wrapped around the steps below, calls the five tools `--rounds` times
back to back on the `--size` session with the SDK client, and prints the client's
round trips and the server's timers (p50 / p95 / total ms; `@bg` = the background
thread). The timers are wrappers installed in the server process only: the
package itself carries no instrumentation.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import functools
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

TIMED = {
    "mcp_arena.search.index:SearchIndex": ["search", "_fulltext_leg", "_vector_leg"],
    "mcp_arena.search.vectors:VectorWriter": ["_embed_seqs", "tail_from_table"],
    "mcp_arena.search.embedder:Embedder": ["embed_query", "embed"],
    "mcp_arena.engine.store:Store": ["append", "maintain"],
    "mcp_arena.engine.arena:Arena": ["_call"],
}


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"n={len(ordered):5d}  p50 {statistics.median(ordered):8.2f}  p95 {p95:8.2f}  total {sum(ordered):9.0f}"


def serve_with_timers(out: Path) -> None:
    import importlib

    timings: dict[str, list[float]] = collections.defaultdict(list)

    def wrap(owner, name: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                background = "@bg" if threading.current_thread().name.startswith("arena-search-index") else ""
                timings[f"{owner.__name__}.{name}{background}"].append((time.perf_counter() - started) * 1000)

        setattr(owner, name, timed)

    for target, names in TIMED.items():
        module, cls = target.split(":")
        for name in names:
            wrap(getattr(importlib.import_module(module), cls), name)

    def dump(*_args) -> None:
        out.write_text(json.dumps(timings))

    atexit.register(dump)
    signal.signal(signal.SIGTERM, lambda *a: (dump(), sys.exit(0)))
    from mcp_arena.cli.main import main

    sys.argv = ["mcp-arena", "serve"]
    main()


async def drive(home: Path, size: int, rounds: int, out: Path) -> dict[str, list[float]]:
    from mcp import Client, StdioServerParameters

    from mcp_arena.lab import bench

    env = {**os.environ, "MCP_ARENA_HOME": str(home), "MCP_ARENA_SESSION": bench.session_name(size), "MCP_ARENA_TRANSCRIPT": ""}
    params = StdioServerParameters(command=sys.executable, args=[__file__, "--serve", str(out)], env=env)
    samples: dict[str, list[float]] = {tool: [] for tool in bench.TOOLS}
    async with Client(params) as client:
        for tool in bench.TOOLS:
            await client.call_tool(tool, bench.tool_arguments(tool, -1))
        for i in range(rounds):
            for tool in bench.TOOLS:
                started = time.perf_counter()
                result = await client.call_tool(tool, bench.tool_arguments(tool, i))
                samples[tool].append((time.perf_counter() - started) * 1000)
                if result.is_error:
                    raise SystemExit(f"{tool} failed: {result.content}")
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000, help="session to call (events)")
    parser.add_argument("--sizes", default="1000,10000,100000", help="sessions seeded into the one table")
    parser.add_argument("--rounds", type=int, default=60, help="rounds of the five tools, back to back")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_with_timers(args.serve)
        return 0

    import anyio

    from mcp_arena.lab import bench

    sizes = tuple(int(s) for s in args.sizes.split(","))
    if args.size not in sizes:
        parser.error(f"--size {args.size} is not among --sizes {args.sizes}")
    with tempfile.TemporaryDirectory(prefix="arena-timers-") as folder:
        home = Path(folder)
        bench.seed(home, sizes)
        bench.fill_vectors(home, sizes)
        bench.build_vector_indexes(home)
        out = home / "timers.json"
        samples = anyio.run(drive, home, args.size, args.rounds, out)
        timers = json.loads(out.read_text()) if out.exists() else {}
    print(f"client round trips, {args.size:,}-event session, {args.rounds} rounds back to back (ms):")
    for tool, values in samples.items():
        print(f"  {tool:32s} {summary(values)}")
    print("server timers (ms):")
    for name, values in sorted(timers.items()):
        print(f"  {name:32s} {summary(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
