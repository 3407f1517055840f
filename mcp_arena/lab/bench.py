"""`mcp-arena bench`: the figures of seed 002, measured, with the targets they are held to.

    mcp-arena bench [--sizes 1000,10000,100000] [--smoke] [--iterations N] [--out DIR]

Writes `bench.json` and `bench.md` (to --out, default the current folder):

- ingestion into the log (events/s through `Arena.append`, 1,000 drafts a call)
  while seeding one generated session per size;
- embedding catch-up (events/s of `SearchIndex.catch_up` on a sample); the bulk
  of the seeded sessions then gets deterministic random unit vectors written
  straight into the vectors table, so that search runs on a full vector layer
  without minutes of embedding (search cost depends on the count, not the values);
- LanceDB folder size per 10,000 events, before and after maintenance;
- round trip of every tool through a real client over stdio (p50/p95/p99) per
  size, as a ratio to the echo floor: a trivial tool on a plain SDK server
  (`lab.echo`, its own stdio process, the same client code, interleaved in the
  same rounds); beside it the arena's own floors on the same connection:
  `load_skill` with no name (its fixed per-call cost, the "no-op"), and
  `tools/list` (protocol only; the server answers no `ping`);
- tokens per result (o200k) of every tool at every size: the result body as the
  model reads it, the structured content, and the skill guides attached to it
  (reported apart: they are paged, not part of the result);
- squash time vs range length; incremental summary update vs regenerating
  from the whole history;
- cold start: process start to `initialize` answered, to the first tool call
  answered (`context_status`), and then to the first `memory_search` answered;
  the echo server's first call beside it;
- peak RSS of each server (VmHWM) and of the bench process (ingestion);
- tokens of the always-visible surface (instructions + tools/list as received).

Imported only when `mcp-arena bench` runs (see `cli.main.COMMANDS`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, TypeVar

from mcp_arena.core.tools import ToolName

if TYPE_CHECKING:  # imported where used: `bench --help` loads neither the engine nor the SDK client
    from mcp import Client, StdioServerParameters
    from mcp.types import CallToolResult

    from mcp_arena.config import Settings

T = TypeVar("T")

FULL_SIZES = (1_000, 10_000, 100_000)
SMOKE_SIZES = (200,)
BATCH = 1_000
TAG_EVERY = 100  # seeded sessions carry one agent tag per this many events (a tag result must not grow with them)
# What the latency and token figures cover: label -> the tool it calls (arguments: `operation_call`).
OPERATIONS: dict[str, ToolName] = {
    "context_status": ToolName.CONTEXT_STATUS,
    "tag": ToolName.TAG,
    "memory_search": ToolName.MEMORY_SEARCH,
    "artifact_index": ToolName.ARTIFACT_INDEX,  # a query with a path filter: a listing
    "artifact_index trail": ToolName.ARTIFACT_INDEX,  # no argument: the whole trail, bounded by its budget
    "artifact_index record": ToolName.ARTIFACT_INDEX,  # a write: answered with an acknowledgement
    "load_skill": ToolName.LOAD_SKILL,
}
# The five tools by name, one call each (benchmarks/server_timers.py drives these with `tool_arguments`).
TOOLS = (ToolName.CONTEXT_STATUS, ToolName.TAG, ToolName.MEMORY_SEARCH, ToolName.ARTIFACT_INDEX, ToolName.LOAD_SKILL)
FLOOR_TOOL = "load_skill"  # with no name: the catalog; the arena's fixed per-call cost and nothing else (the no-op)
PROTOCOL = "tools/list"  # refreshed each time: a round trip with no arena work at all (the server has no ping)
ECHO = "echo (plain SDK server)"  # the echo floor: lab.echo's one trivial tool
GUIDE_OPENING = "\n\n--- skill: "  # how a paged guide opens after a result body (engine.skills.SEPARATOR + core.skills.render)
QUERIES = (
    "redis timeout error",
    "ModuleNotFoundError auth_helpers",
    "pytest billing passed",
    "connection pool instead of one connection per request",
    "which files changed in the cache module",
)
TARGETS: tuple[tuple[str, str, float | str, str], ...] = (
    # (key, label, target value or the name of the budget setting it is held to, comparison)
    ("noop_p50_over_echo", "no-op (load_skill catalog) p50 / echo floor p50 at the largest size (×)", 2.0, "<="),
    ("status_p50_over_echo", "context_status p50 / echo floor p50 at the largest size (×)", 2.0, "<="),
    ("status_p95_ms", "context_status p95 at the largest size (ms)", 15.0, "<="),
    ("tag_p95_ms", "tag p95 at the largest size (ms)", 15.0, "<="),
    ("status_growth", "context_status p95 growth smallest→largest size (×)", 1.5, "<="),
    ("tag_growth", "tag p95 growth smallest→largest size (×)", 1.5, "<="),
    ("search_p95_ms", "memory_search p95 at the largest size (ms)", 60.0, "<="),
    ("server_rss_mb", "peak RSS of a server process, largest over the sizes (MB; the embedding worker apart)", 350.0, "<="),
    ("ingest_eps", "ingestion into the log (events/s)", 5_000.0, ">="),
    ("embed_eps", "embedding catch-up (events/s)", 300.0, ">="),
    ("initialize_s", "process start → initialize answered (s)", 1.0, "<="),
    ("first_call_s", "process start → first tool call answered (context_status, s)", 1.0, "<="),
    ("buried_recall", "paraphrase recall@5 of facts buried in 2k–20k-token results (lowest over sizes ≥ 10k)", 0.9, ">="),
    ("buried_keyword_recall", "keyword recall@5 of the same facts (lowest over sizes ≥ 10k)", 1.0, ">="),
    ("surface_tokens", "always-visible surface (tokens)", 1_500.0, "<="),
    ("tag_tokens", "tag result at the largest size (tokens, guides aside)", 100.0, "<="),
    ("record_tokens", "artifact_index record result at the largest size (tokens, guides aside)", 100.0, "<="),
    ("status_tokens", "context_status result at the largest size (tokens, guides aside)", 250.0, "<="),
    ("listing_tokens", "artifact_index listing at the largest size (tokens; budget artifact_max_tokens)", "artifact_max_tokens", "<="),
    ("catalog_tokens", "load_skill catalog at the largest size (tokens; budget catalog_max_tokens)", "catalog_max_tokens", "<="),
)


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


class LatencySummary(TypedDict):
    n: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    p50_over_echo: NotRequired[float | None]  # a tool's p50 over the echo floor's (None: the floor's is 0)
    p95_over_echo: NotRequired[float | None]
    p95_over_floor: NotRequired[float | None]  # a tool's p95 over the floor tool's (None: the floor's is 0)


def summary_of(samples_ms: list[float]) -> LatencySummary:
    return {
        "n": len(samples_ms),
        "p50_ms": round(percentile(samples_ms, 50), 2),
        "p95_ms": round(percentile(samples_ms, 95), 2),
        "p99_ms": round(percentile(samples_ms, 99), 2),
        "mean_ms": round(statistics.fmean(samples_ms), 2),
    }


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def session_name(size: int) -> str:
    return f"bench-{size}"


# -- seeding and the log -------------------------------------------------------------------------


def bench_settings(home: Path, **overrides: Any) -> Settings:
    from mcp_arena.config import Settings

    return Settings(home=home, session="", transcript="", skill_dirs=[], **overrides)


def seed(home: Path, sizes: tuple[int, ...]) -> dict[str, Any]:
    """One generated session per size, appended 1,000 drafts a call; the log's ingestion rate."""
    from mcp_arena.engine.arena import Arena
    from mcp_arena.lab.workload import generated_session

    arena = Arena(bench_settings(home, semantic=False))
    rows = []
    try:
        arena.count_tokens("warm up")
        for size in sizes:
            drafts = generated_session(size, seed=size)
            session = session_name(size)
            arena.ensure_session(session, origin="import", label="bench")
            started = time.perf_counter()
            for start in range(0, size, BATCH):
                arena.append(session, drafts[start : start + BATCH])
            elapsed = time.perf_counter() - started
            rows.append({"events": size, "seconds": round(elapsed, 3), "events_per_s": round(size / elapsed), "tags": seed_tags(arena, session, size)})
            log(f"seeded {size:,} events in {elapsed:.1f} s")
        arena.store.wait_for_maintenance()
    finally:
        arena.close()
    total = sum(r["events"] for r in rows)
    seconds = sum(r["seconds"] for r in rows)
    return {"batch": BATCH, "per_size": rows, "events_per_s": round(total / seconds), "bench_peak_rss_mb": _self_rss_mb()}


def seed_tags(arena: Any, session: str, size: int) -> int:
    """One agent tag every `TAG_EVERY` events, written in one batch (as many `tag` calls would leave them)."""
    now = time.time()
    rows = [
        {"session": session, "name": f"seed-{seq}", "seq": seq, "note": f"seeded tag at seq {seq}", "origin": "agent", "ts": now}
        for seq in range(TAG_EVERY - 1, size, TAG_EVERY)
    ]
    if rows:
        arena.store.add("tags", rows)
    return len(rows)


def _self_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def storage(home: Path, events: int) -> dict[str, Any]:
    """The LanceDB folder per 10,000 events, as ingestion left it and after maintenance (versions cleaned)."""
    from mcp_arena.engine.arena import Arena

    database = home / "arena.lancedb"
    before = folder_bytes(database)
    arena = Arena(bench_settings(home, semantic=False, keep_versions_seconds=0))
    try:
        started = time.perf_counter()
        arena.store.maintain()
        seconds = time.perf_counter() - started
    finally:
        arena.close()
    after = folder_bytes(database)
    per = 10_000 / events
    return {
        "events": events,
        "before_mb_per_10k": round(before * per / 2**20, 2),
        "after_mb_per_10k": round(after * per / 2**20, 2),
        "maintenance_s": round(seconds, 2),
        "note": "before: as ingestion left it (background compaction every 1,000 rows, versions kept 1 h); after: optimize with versions cleaned",
    }


# -- the vector layer ------------------------------------------------------------------------------


def embedding_rate(home: Path, sample: int) -> dict[str, Any]:
    """Events/s of the real embedding catch-up over a fresh sample session."""
    from mcp_arena.engine.arena import Arena
    from mcp_arena.engine.recall import recall_tables
    from mcp_arena.lab.workload import generated_session
    from mcp_arena.search.index import SearchIndex

    session = "bench-embed"
    arena = Arena(bench_settings(home, semantic=False))
    try:
        arena.ensure_session(session, origin="import", label="bench")
        drafts = generated_session(sample, seed=3)
        for start in range(0, sample, BATCH):
            arena.append(session, drafts[start : start + BATCH])
        index = SearchIndex(recall_tables(arena.store, semantic=True), semantic=True, start_worker=False)
        index.search(session, "warm up the model", limit=1)  # loads the model outside the timing
        started = time.perf_counter()
        embedded = index.catch_up(session)
        seconds = time.perf_counter() - started
        index.close()
    finally:
        arena.close()
    return {"events": embedded, "seconds": round(seconds, 2), "events_per_s": round(embedded / seconds) if seconds else None, "threads": os.cpu_count()}


def fill_vectors(home: Path, sizes: tuple[int, ...]) -> dict[str, Any]:
    """Deterministic random unit vectors for every seeded event still without one; then the vector indexes."""
    import lancedb
    import numpy as np
    import pyarrow as pa
    from lancedb.expr import col, lit

    from mcp_arena.engine.store import VECTORS as VECTORS_SCHEMA
    from mcp_arena.search.embedder import DIMENSION
    from mcp_arena.search.vectors import VECTOR_TEXT_CHARS

    db = lancedb.connect(str(home / "arena.lancedb"))
    events = db.open_table("events")
    vectors = db.create_table("vectors", schema=VECTORS_SCHEMA, exist_ok=True)
    written = 0
    for size in sizes:
        session = session_name(size)
        rows = events.search().where(col("session") == lit(session)).select(["seq", "kind", "tool", "text"]).limit(None).to_arrow()
        rng = np.random.default_rng(size)
        for start in range(0, rows.num_rows, 20_000):
            part = rows.slice(start, 20_000)
            matrix = rng.standard_normal((part.num_rows, DIMENSION)).astype(np.float32)
            matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
            flat = pa.array(matrix.reshape(-1), type=pa.float32())
            vectors.add(
                pa.table(
                    {
                        "session": pa.array([session] * part.num_rows),
                        "seq": part["seq"],
                        "kind": part["kind"],
                        "tool": part["tool"],
                        "chunk": pa.array([0] * part.num_rows, type=pa.int32()),  # whole events: the workload's are short
                        "vector": pa.FixedSizeListArray.from_arrays(flat, DIMENSION),
                        "text": pa.array([text[:VECTOR_TEXT_CHARS] for text in part["text"].to_pylist()]),
                    },
                    schema=VECTORS_SCHEMA,
                )
            )
            written += part.num_rows
    return {"synthetic_vectors": written}


def build_vector_indexes(home: Path) -> float:
    from mcp_arena.engine.arena import Arena

    arena = Arena(bench_settings(home, semantic=True, keep_versions_seconds=0))
    try:
        started = time.perf_counter()
        arena.store.maintain(["vectors"])
        return round(time.perf_counter() - started, 2)
    finally:
        arena.close()


# -- through a real client over stdio --------------------------------------------------------------


def server_params(home: Path, session: str) -> StdioServerParameters:
    from mcp import StdioServerParameters

    env = {**os.environ, "MCP_ARENA_HOME": str(home), "MCP_ARENA_SESSION": session, "MCP_ARENA_TRANSCRIPT": ""}
    return StdioServerParameters(command=sys.executable, args=["-m", "mcp_arena", "serve"], env=env)


def echo_params() -> StdioServerParameters:
    from mcp import StdioServerParameters

    return StdioServerParameters(command=sys.executable, args=["-m", "mcp_arena.lab.echo"], env=dict(os.environ))


def connect(params: StdioServerParameters) -> Client:
    """A client of a stdio server whose stderr goes to ours, or to the process's own when ours is not a
    file (pytest's capture has no file descriptor; the SDK's default is bound when it is first imported)."""
    from mcp import Client
    from mcp.client.stdio import stdio_client

    try:
        sys.stderr.fileno()
        errlog = sys.stderr
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both an OSError and a ValueError
        errlog = sys.__stderr__
    return Client(stdio_client(params, errlog=errlog))


def operation_call(label: str, i: int) -> tuple[str, dict[str, Any]]:
    """(tool, arguments) of the i-th call of an operation (-1: the warm-up)."""
    tool = OPERATIONS[label]
    if label == "tag":
        return tool, {"name": f"bench-{i}", "note": "a bench tag"}
    if label == "memory_search":
        return tool, {"query": QUERIES[i % len(QUERIES)]}
    if label == "artifact_index":
        return tool, {"path": "src/cache/**"}
    if label == "artifact_index record":
        return tool, {"record": [{"path": f"src/bench/out_{i}.py", "action": "modified", "note": "written by the bench"}]}
    return tool, {}


def tool_arguments(tool: str, i: int) -> dict[str, Any]:
    """The arguments of the i-th call of one of `TOOLS` (its operation of the same name)."""
    return operation_call(tool, i)[1]


async def timed_ms(awaitable: Awaitable[T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = await awaitable
    return (time.perf_counter() - started) * 1000, result


async def latency_for(home: Path, size: int, iterations: int, think_ms: int = 0) -> dict[str, Any]:
    """Every operation `iterations` times on one session, interleaved with the echo floor, after one warm-up call each.

    `think_ms` pauses between rounds, as an agent's model pauses between tool calls; the
    server's background work (embedding, compaction) then runs in the pause, as it does in
    use. The pause is never part of a timing. 0 measures calls back to back: the worst case."""
    import anyio

    async with connect(server_params(home, session_name(size))) as client, connect(echo_params()) as echo:
        pid = server_pid()
        first = {}
        results: dict[str, list[CallToolResult]] = {label: [] for label in OPERATIONS}
        await _echo(echo)
        for label in OPERATIONS:
            first[label], result = await timed_ms(client.call_tool(*operation_call(label, -1)))
            results[label].append(_checked(label, result))
        samples: dict[str, list[float]] = {name: [] for name in (ECHO, PROTOCOL, *OPERATIONS)}
        for i in range(iterations):
            if think_ms:
                await anyio.sleep(think_ms / 1000)
            samples[ECHO].append((await timed_ms(_echo(echo)))[0])
            samples[PROTOCOL].append((await timed_ms(client.list_tools(cache_mode="refresh")))[0])
            for label in OPERATIONS:
                elapsed, result = await timed_ms(client.call_tool(*operation_call(label, i)))
                results[label].append(_checked(label, result))
                samples[label].append(elapsed)
        squash, squashed = await squash_round_trips(client, max(3, iterations // 10))
        rss = peak_rss_mb(pid)
        worker = embedding_worker_rss()
    echo_floor, protocol = summary_of(samples[ECHO]), summary_of(samples[PROTOCOL])
    tools = {name: summary_of(samples[name]) for name in OPERATIONS}
    floor = tools[FLOOR_TOOL]
    for figures in tools.values():
        figures["p50_over_echo"] = _ratio(figures["p50_ms"], echo_floor["p50_ms"])
        figures["p95_over_echo"] = _ratio(figures["p95_ms"], echo_floor["p95_ms"])
        figures["p95_over_floor"] = _ratio(figures["p95_ms"], floor["p95_ms"])
    counter = _counter()
    tokens = {label: tokens_of(counter, calls) for label, calls in results.items()}
    tokens["squash"] = tokens_of(counter, squashed)
    return {
        "events": size,
        "think_ms": think_ms,
        "floor_tool": FLOOR_TOOL,
        "echo_floor": echo_floor,
        "protocol_tools_list": protocol,
        "tools": tools,
        "tokens": tokens,
        "first_call_ms": {k: round(v, 1) for k, v in first.items()},
        "squash_small_range": squash,
        "server_peak_rss_mb": rss,
        "embedding_worker": worker,
    }


def _ratio(value: float, floor: float) -> float | None:
    return round(value / floor, 2) if floor else None


async def _echo(echo: Client) -> CallToolResult:
    from mcp_arena.lab.echo import ECHO_TOOL

    return _checked(ECHO, await echo.call_tool(ECHO_TOOL, {"text": "ping"}))


async def squash_round_trips(client: Client, count: int) -> tuple[LatencySummary, list[CallToolResult]]:
    """squash over a short range (tag, one status call, squash), measured alone since it mutates."""
    samples, results = [], []
    for i in range(count):
        await client.call_tool("tag", {"name": f"sq-{i}"})
        await client.call_tool("context_status", {})
        elapsed, result = await timed_ms(client.call_tool("squash", {"summary": f"## Current State\nbench squash {i}"}))
        results.append(_checked("squash", result))
        samples.append(elapsed)
    return summary_of(samples), results


def _checked(label: str, result: CallToolResult) -> CallToolResult:
    from mcp.types import TextContent

    if result.is_error:
        text = next((block.text for block in result.content if isinstance(block, TextContent)), "(no text)")
        raise RuntimeError(f"bench: {label} failed: {text[:300]}")
    return result


# -- tokens per result -----------------------------------------------------------------------------


def _counter() -> Any:
    from mcp_arena.core.tokens import TokenCounter

    return TokenCounter("o200k_base")


def split_guides(text: str) -> tuple[str, str]:
    """(result body, the guides paged after it): guides are reported apart, they are not the result."""
    body, opening, guides = text.partition(GUIDE_OPENING)
    return body, opening + guides


def tokens_of(counter: Any, results: list[CallToolResult]) -> dict[str, Any]:
    """Tokens of a series of results of one operation: body (p50, max), structured content (max), guides."""
    from mcp.types import TextContent

    bodies, structured, guides = [], [], []
    for result in results:
        text = "\n".join(block.text for block in result.content if isinstance(block, TextContent))
        body, guide = split_guides(text)
        bodies.append(counter.count(body))
        structured.append(counter.count(json.dumps(result.structured_content, sort_keys=True)) if result.structured_content else 0)
        if guide:
            guides.append(counter.count(guide))
    return {
        "calls": len(results),
        "body_p50": round(statistics.median(bodies)) if bodies else 0,
        "body_max": max(bodies, default=0),
        "structured_max": max(structured, default=0),
        "guided_calls": len(guides),
        "guide_max": max(guides, default=0),
    }


def server_pid() -> int | None:
    """The newest child process of this one running the arena server (stdio clients hide the handle)."""
    children = []
    for task in Path("/proc/self/task").glob("*/children"):
        children += [int(pid) for pid in task.read_text().split()]
    for pid in sorted(children, reverse=True):
        try:
            if b"mcp_arena\x00serve" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            continue
    return None


def embedding_worker_rss() -> dict[str, Any] | None:
    """The embedding worker the servers share (this user's: it may have served others before the bench):
    pid, peak and current RSS in MB; None when no worker answers (semantic layer or worker off)."""
    from mcp_arena.config import Settings
    from mcp_arena.search.embed_client import worker_status

    status = worker_status(Settings().embedding_socket_dir)
    if status is None:
        return None
    pid = int(status["pid"])
    return {"pid": pid, "peak_rss_mb": peak_rss_mb(pid), "rss_mb": peak_rss_mb(pid, "VmRSS:")}


def worker_rss_text(row: dict[str, Any]) -> str:
    worker = row.get("embedding_worker")
    return f"{row['events']:,} events: {worker['peak_rss_mb']} MB (now {worker['rss_mb']} MB)" if worker else f"{row['events']:,} events: none"


def peak_rss_mb(pid: int | None, field: str = "VmHWM:") -> float | None:
    """A process's peak RSS in MB (or `field` of /proc/<pid>/status, such as "VmRSS:")."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


async def cold_start(home: Path, size: int, runs: int) -> dict[str, Any]:
    """Process start → initialize answered, → the first tool call answered (context_status: the ledger rebuilt
    from the log), then → the first memory_search answered (model load included); the echo server's first call beside them."""

    initialize, first_call, first_search, echo_first, peaks = [], [], [], [], []
    for _ in range(runs):
        started = time.perf_counter()
        async with connect(server_params(home, session_name(size))) as client:
            initialize.append(time.perf_counter() - started)
            _checked("context_status", await client.call_tool("context_status", {}))
            first_call.append(time.perf_counter() - started)
            _checked("memory_search", await client.call_tool("memory_search", {"query": QUERIES[0]}))
            first_search.append(time.perf_counter() - started)
            peaks.append(peak_rss_mb(server_pid()))
        started = time.perf_counter()
        async with connect(echo_params()) as echo:
            await _echo(echo)
            echo_first.append(time.perf_counter() - started)
    return {
        "events": size,
        "runs": runs,
        "initialize_s": round(statistics.median(initialize), 3),
        "first_call_s": round(statistics.median(first_call), 3),
        "first_memory_search_s": round(statistics.median(first_search), 3),
        "echo_first_call_s": round(statistics.median(echo_first), 3),
        "all_initialize_s": [round(v, 3) for v in initialize],
        "all_first_call_s": [round(v, 3) for v in first_call],
        "server_peak_rss_mb": peaks,  # each fresh server after its first memory_search
    }


async def surface(home: Path) -> dict[str, Any]:
    """Tokens of what every request of every session carries: instructions + tools/list as the client got it."""

    from mcp_arena.core.tokens import TokenCounter

    async with connect(server_params(home, "bench-surface")) as client:
        instructions = client.instructions or ""
        tools = (await client.list_tools()).tools
    listing = json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools], sort_keys=True)
    counter = TokenCounter()
    return {
        "instructions_tokens": counter.count(instructions),
        "tools_list_tokens": counter.count(listing),
        "total_tokens": counter.count(instructions) + counter.count(listing),
        "encoding": counter.name,
    }


# -- squash and the summary layer (engine, in process) ----------------------------------------------


def squash_vs_range(home: Path, lengths: tuple[int, ...]) -> list[dict[str, Any]]:
    from mcp_arena.engine.arena import Arena
    from mcp_arena.lab.workload import generated_session

    arena = Arena(bench_settings(home, semantic=False))
    rows = []
    try:
        for length in lengths:
            session = f"bench-squash-{length}"
            arena.ensure_session(session, origin="import", label="bench")
            arena.tag("start", session=session)
            drafts = generated_session(length, seed=length + 1)
            for start in range(0, length, BATCH):
                arena.append(session, drafts[start : start + BATCH])
            text = "## Current State\nbench range squashed\n\n## Next Steps\ncontinue"
            started = time.perf_counter()
            reply = arena.squash(text, session=session)
            elapsed = (time.perf_counter() - started) * 1000
            if reply.is_error:
                raise RuntimeError(reply.text)
            rows.append({"range_events": length, "squash_ms": round(elapsed, 1)})
    finally:
        arena.close()
    return rows


def incremental_vs_full(home: Path, size: int, range_events: int) -> dict[str, Any]:
    """Updating the anchored summary from the newest range (what squash does) vs regenerating it from the whole history."""
    from mcp_arena.core import summary
    from mcp_arena.engine.arena import Arena
    from mcp_arena.lab.evaluate import extractive_summary

    session = session_name(size)
    arena = Arena(bench_settings(home, semantic=False))
    try:
        with arena.locked(session) as ledger:
            last = ledger.last_seq
            previous = summary.parse(ledger.anchored_summary() or "## Session Intent\nbench")
        started = time.perf_counter()
        rows = arena.store.events(session, seq_min=last - range_events + 1, seq_max=last)
        files = arena.trail.changed_files(session, last - range_events + 1, last)
        merged = summary.merge(previous, summary.parse(extractive_summary(rows)), files)
        summary.render(merged.summary)
        incremental = time.perf_counter() - started
        started = time.perf_counter()
        rows = arena.store.events(session)
        files = arena.trail.changed_files(session, 0, last)
        regenerated = summary.merge(None, summary.parse(extractive_summary(rows)), files)
        summary.render(regenerated.summary)
        full = time.perf_counter() - started
    finally:
        arena.close()
    return {
        "history_events": size,
        "range_events": range_events,
        "incremental_ms": round(incremental * 1000, 1),
        "full_regeneration_ms": round(full * 1000, 1),
        "speedup": round(full / incremental, 1) if incremental else None,
        "note": "both build the extractive summary with the same code; incremental reads the range and merges, full reads the whole history",
    }


# -- the run ---------------------------------------------------------------------------------------


def run_bench(
    home: Path, sizes: tuple[int, ...], *, iterations: int, smoke: bool, think_ms: int = 0, buried_home: Path | None = None
) -> dict[str, Any]:
    import anyio

    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "config": {"sizes": list(sizes), "iterations": iterations, "smoke": smoke, "think_ms": think_ms, "budgets": budgets(home)},
    }
    report["ingestion"] = seed(home, sizes)
    report["storage"] = storage(home, sum(sizes))
    report["embedding"] = embedding_rate(home, 50 if smoke else 2_000)
    log(f"embedding catch-up: {report['embedding']['events_per_s']} events/s")
    report["vectors"] = fill_vectors(home, sizes)
    report["vectors"]["index_build_s"] = build_vector_indexes(home)
    report["latency"] = []
    for size in sizes:
        report["latency"].append(anyio.run(latency_for, home, size, iterations, think_ms))
        log(f"latency at {size:,} events done")
    report["squash_vs_range"] = squash_vs_range(home, (20, 100) if smoke else (100, 1_000, 10_000))
    report["summary_update"] = incremental_vs_full(home, max(sizes), 100 if smoke else 500)
    report["cold_start"] = anyio.run(cold_start, home, max(sizes), 1 if smoke else 3)
    report["surface"] = anyio.run(surface, home)
    report["buried"] = buried_recall(buried_home or home / "buried", sizes, smoke)
    report["targets"] = targets(report)
    return report


def budgets(home: Path) -> dict[str, int]:
    """The listing budgets the servers run with (the same settings and environment as theirs)."""
    settings = bench_settings(home)
    return {"artifact_max_tokens": settings.artifact_max_tokens, "catalog_max_tokens": settings.catalog_max_tokens}


def headline(report: dict[str, Any]) -> dict[str, float | None]:
    latency = report["latency"]
    small, large = latency[0]["tools"], latency[-1]["tools"]
    tokens = latency[-1]["tokens"]

    def growth(tool: str) -> float | None:
        return round(large[tool]["p95_ms"] / small[tool]["p95_ms"], 2) if small[tool]["p95_ms"] else None

    return {
        "noop_p50_over_echo": large[FLOOR_TOOL]["p50_over_echo"],
        "status_p50_over_echo": large["context_status"]["p50_over_echo"],
        "status_p95_ms": large["context_status"]["p95_ms"],
        "tag_p95_ms": large["tag"]["p95_ms"],
        "status_growth": growth("context_status"),
        "tag_growth": growth("tag"),
        "search_p95_ms": large["memory_search"]["p95_ms"],
        "server_rss_mb": max((r["server_peak_rss_mb"] for r in latency if r["server_peak_rss_mb"] is not None), default=None),
        "ingest_eps": report["ingestion"]["events_per_s"],
        "embed_eps": report["embedding"]["events_per_s"],
        "initialize_s": report["cold_start"]["initialize_s"],
        "first_call_s": report["cold_start"]["first_call_s"],
        "surface_tokens": report["surface"]["total_tokens"],
        "tag_tokens": tokens["tag"]["body_max"],
        "record_tokens": tokens["artifact_index record"]["body_max"],
        "status_tokens": tokens["context_status"]["body_max"],
        "listing_tokens": max(tokens["artifact_index"]["body_max"], tokens["artifact_index trail"]["body_max"]),
        "catalog_tokens": tokens["load_skill"]["body_max"],
        "buried_recall": min((r["paraphrase_recall"] for r in report["buried"]), default=None),
        "buried_keyword_recall": min((r["keyword_recall"] for r in report["buried"]), default=None),
    }


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    measured = headline(report)
    rows = []
    for key, label, target, comparison in TARGETS:
        value = measured[key]
        goal = float(report["config"]["budgets"][target]) if isinstance(target, str) else target
        met = value is not None and (value <= goal if comparison == "<=" else value >= goal)
        rows.append({"key": key, "label": label, "target": f"{comparison} {goal:g}", "measured": value, "met": met})
    return rows


def buried_recall(home: Path, sizes: tuple[int, ...], smoke: bool) -> list[dict[str, Any]]:
    """Facts buried in long results, asked for in other words and by keywords (`lab/buried.py`): at the
    sizes from 10,000 events up (smoke: its size, 3 facts in 2k–3k-token results), in a home of their own
    (their real vectors must not change the latency sessions' vector table; embedding 100,000 events takes
    10–20 min on 2 cores, and a session already built there is reused: `--buried-home`)."""
    from mcp_arena.lab import buried

    if smoke:
        return buried.run(home, sizes, probes=3, tokens=(2_000, 3_000))
    return buried.run(home, tuple(size for size in sizes if size >= 10_000))


def buried_section(report: dict[str, Any]) -> list[str]:
    from mcp_arena.lab.buried import render

    if not report["buried"]:
        return []
    return ["\n## Facts buried in long results\n\nOne fact planted at a random depth in each of half the long tool results "
            "(2k–20k tokens of logs, source, JSON) of a generated session; recall@5 through the engine's search, "
            "asked in other words and by two of the fact's words (`python -m mcp_arena.lab.buried`).\n", *render(report["buried"])]


def render_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    out = [f"# mcp-arena bench\n\n{m['cpus']} CPUs, Python {m['python']}, {m['platform']}; sizes {report['config']['sizes']}, "
           f"{report['config']['iterations']} iterations per tool{' (smoke)' if report['config']['smoke'] else ''}; "
           + (f"{report['config']['think_ms']} ms pause between rounds (an agent's think time, not timed)"
              if report['config'].get('think_ms') else "calls back to back (no think time)") + ".\n"]
    out.append("## Targets\n\n| figure | target | measured | |\n| --- | --- | ---: | --- |")
    out += [f"| {t['label']} | {t['target']} | {t['measured']} | {'met' if t['met'] else '**missed**'} |" for t in report["targets"]]
    out.append("\n## Round trip over stdio (ms)\n\necho = one trivial tool on a plain SDK server (its own stdio process, same client, "
               "same rounds): the floor every ratio is taken to; floor = load_skill with no name on the arena (its no-op); "
               "tools/list = protocol only.\n")
    out.append("| events | tool | p50 | p95 | p99 | p50 / echo | p95 / echo | p95 / floor | first call |\n"
               "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in report["latency"]:
        e, f = row["echo_floor"], row["protocol_tools_list"]
        out.append(f"| {row['events']:,} | *echo (plain SDK server)* | {e['p50_ms']} | {e['p95_ms']} | {e['p99_ms']} | 1 | 1 | | |")
        out.append(f"| {row['events']:,} | *tools/list (protocol)* | {f['p50_ms']} | {f['p95_ms']} | {f['p99_ms']} | "
                   f"{_ratio(f['p50_ms'], e['p50_ms'])} | {_ratio(f['p95_ms'], e['p95_ms'])} | | |")
        for tool, s in row["tools"].items():
            out.append(f"| {row['events']:,} | {tool} | {s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} | {s['p50_over_echo']} | "
                       f"{s['p95_over_echo']} | {s['p95_over_floor']} | {row['first_call_ms'][tool]} |")
        s = row["squash_small_range"]
        out.append(f"| {row['events']:,} | squash (short range) | {s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} | "
                   f"{_ratio(s['p50_ms'], e['p50_ms'])} | {_ratio(s['p95_ms'], e['p95_ms'])} | | |")
    out += tokens_table(report)
    out.append("\n## Log, vectors, storage\n")
    ing, emb, sto = report["ingestion"], report["embedding"], report["storage"]
    out.append(f"- ingestion into the log: **{ing['events_per_s']:,} events/s** ({ing['batch']:,} drafts per append; "
               + ", ".join(f"{r['events']:,}: {r['events_per_s']:,}/s" for r in ing["per_size"]) + ")")
    out.append(f"- embedding catch-up: **{emb['events_per_s']} events/s** "
               f"({emb['events']:,} events in {emb['seconds']} s, {emb['threads']} CPUs)")
    vec = report["vectors"]
    out.append(f"- vector layer for the latency runs: {vec['synthetic_vectors']:,} synthetic unit vectors; indexes built in {vec['index_build_s']} s")
    out.append(f"- LanceDB folder per 10,000 events: {sto['before_mb_per_10k']} MB before maintenance, "
               f"{sto['after_mb_per_10k']} MB after ({sto['maintenance_s']} s)")
    out.append("- peak RSS: server " + ", ".join(f"{r['events']:,} events: {r['server_peak_rss_mb']} MB" for r in report["latency"])
               + "; embedding worker " + ", ".join(worker_rss_text(r) for r in report["latency"])
               + f"; bench process while ingesting: {ing['bench_peak_rss_mb']} MB")
    cold = report["cold_start"]
    out.append(f"- cold start ({cold['events']:,}-event session, median of {cold['runs']}): "
               f"initialize {cold['initialize_s']} s, first tool call (context_status) {cold['first_call_s']} s, "
               f"then first memory_search {cold['first_memory_search_s']} s; the echo server's first call {cold['echo_first_call_s']} s; "
               f"peak RSS of each fresh server after its first search: {cold.get('server_peak_rss_mb')} MB")
    sur = report["surface"]
    out.append(f"- always-visible surface: {sur['total_tokens']:,} tokens "
               f"({sur['instructions_tokens']} instructions + {sur['tools_list_tokens']} tools/list, {sur['encoding']})")
    out += buried_section(report)
    out.append("\n## Squash and the summary layer\n\n| range (events) | squash (ms, in process) |\n| ---: | ---: |")
    out += [f"| {r['range_events']:,} | {r['squash_ms']} |" for r in report["squash_vs_range"]]
    su = report["summary_update"]
    out.append(f"\nAnchored summary update over the newest {su['range_events']} events of a {su['history_events']:,}-event history: "
               f"incremental {su['incremental_ms']} ms vs regenerating from the whole history {su['full_regeneration_ms']} ms ({su['speedup']}×).")
    return "\n".join(out) + "\n"


def tokens_table(report: dict[str, Any]) -> list[str]:
    b = report["config"]["budgets"]
    out = [f"\n## Tokens per result (o200k)\n\nbody = the result as the model reads it, guides aside (max and median over the "
           f"run's calls; a tag run adds tags, a record run adds records); structured = its structured content (max); "
           f"guides = skill guides paged after the result (calls that carried one, largest). Listing budgets: "
           f"artifact_index {b['artifact_max_tokens']:,}, load_skill catalog {b['catalog_max_tokens']:,}. "
           f"Seeded sessions carry one tag per {TAG_EVERY} events.\n",
           "| events | tool | body max | body p50 | structured max | guides (calls, max) |\n| ---: | --- | ---: | ---: | ---: | ---: |"]
    for row in report["latency"]:
        for label, t in row["tokens"].items():
            guides = f"{t['guided_calls']}, {t['guide_max']:,}" if t["guided_calls"] else "—"
            out.append(f"| {row['events']:,} | {label} | {t['body_max']:,} | {t['body_p50']:,} | {t['structured_max']:,} | {guides} |")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", help="session sizes in events, comma-separated (default 1000,10000,100000)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and few iterations (for tests)")
    parser.add_argument("--iterations", type=int, help="timed calls per tool and size (default 100; smoke 5)")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for bench.json and bench.md")
    parser.add_argument("--think-ms", type=int, default=0, help="pause between rounds of calls, as an agent's model thinks (default 0: back to back)")
    parser.add_argument("--buried-home", type=Path, help="home of the buried-fact sessions, built once and reused (default: inside the bench's home)")


def run(args: argparse.Namespace, _settings: Settings) -> int:
    sizes: tuple[int, ...] = SMOKE_SIZES if args.smoke else FULL_SIZES
    if args.sizes:
        sizes = tuple(sorted(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()))
    iterations = args.iterations or (5 if args.smoke else 100)
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="mcp-arena-bench-"))
    try:
        report = run_bench(home, sizes, iterations=iterations, smoke=args.smoke, think_ms=args.think_ms, buried_home=args.buried_home)
    finally:
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    markdown = render_markdown(report)
    (args.out / "bench.md").write_text(markdown)
    sys.stdout.write(markdown)
    return 0
