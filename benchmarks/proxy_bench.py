"""What the proxy costs and what it saves: per-call overhead, tokens kept out, recall of what was cut.

    .venv/bin/python benchmarks/proxy_bench.py                    # about 2 minutes on 2 cores
    .venv/bin/python benchmarks/proxy_bench.py --quick            # a smaller run (about 40 seconds)
    .venv/bin/python benchmarks/proxy_bench.py --calls 500 --semantic off --json out.json

Prints three sets of markdown tables (and `--json FILE` holds every figure):

1. Proxy overhead per call. The same upstream tool called (a) directly by an SDK
   `mcp.Client` over stdio and (b) through `mcp-arena serve --upstream FILE` over stdio,
   interleaved call by call (the order flips every round so both share the machine's
   noise), `--calls` times each: the fault server's `echo` (a tiny result), the npm
   filesystem server's `read_text_file` of a 200-line file (not trimmed) and of a
   3,000-line file (trimmed). p50 / p95 / p99 of each side, the added time at p50 / p95
   and the median of the paired differences. Run with the semantic layer off
   (`MCP_ARENA_SEMANTIC=false`) and on (background embedding competes for the cores),
   each in a fresh `MCP_ARENA_HOME`. The proxy is this file re-executed as
   `--serve`: timers wrapped around the relay, the upstream call and the steps of
   `Arena.shape_result`, then the package's own `mcp-arena serve` entry point, so the
   output says where the added time goes (`--plain` runs `python -m mcp_arena serve`
   without timers instead).
2. Savings on the repository's transcripts. Every tool result of tests/fixtures/corpus
   (Claude Code, SWE-agent, OpenHands; one arena session per transcript session) replayed
   in-process through `Arena.shape_result`: o200k tokens a host would see without the
   arena and with it, per format, at the default budgets and at the stage-1 budgets
   (all halved, as past 80% usage). Guides the arena attaches are counted apart: they
   are what the arena adds.
3. Recall of facts from the trimmed regions. From the omitted part of each trimmed result
   (stage-1 budgets, so that there are enough of them): error lines, lines naming a
   file path, lines with values, up to `--facts-per-kind` of each per result, chosen by a
   seeded generator. Each is asked of `memory_search` twice, with its most distinctive
   words (keyword) and with a mechanical paraphrase (sub-words, stop words out,
   synonyms, reversed; the basename and parent folder for a path; the error type and
   basename for an error), semantic layer off and on. "seq" counts a fact found when the
   trimmed result's own seq is among the top 5 hits; "any copy" when any top-5 hit's
   logged text holds the fact's line (a transcript that read the same file three times
   holds three copies).

Timings are figures for a reader, not assertions: the machine's load is printed with them.
Where it stops: measurement only. It drives the package through its public face and the
SDK client; the only patching is the timers, in its own `--serve` process. The filesystem
server is the tests' pinned npm install (`tests/node_servers.py`), or `--filesystem-server`.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import json
import math
import os
import random
import re
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FAULT_SERVER = ROOT / "tests" / "upstreams" / "fault_server.py"
CORPUS = ROOT / "tests" / "fixtures" / "corpus"
TRANSCRIPT_SUFFIXES = (".jsonl", ".json", ".traj")
FORMATS = ("claude-code", "swe-agent", "openhands")

CALLS = 200
QUICK_CALLS = 30
WARMUP_CALLS = 5
SMALL_LINES = 200
BIG_LINES = 3_000
TOP = 5
SEED = 20_240_601
FACTS_PER_KIND = 3
QUICK_MAX_FILES = 2
FACT_KINDS = ("error", "path", "value")
QUERY_KINDS = ("keyword", "paraphrase")
PERCENTILES = (50, 95, 99)
SESSION = "proxy-bench"


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank: deterministic, an actual value of the list."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def share(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


# === 1. proxy overhead ======================================================================
# --- the proxy process, with timers -------------------------------------------------------------
# One record per proxied call, in order (the client calls one at a time): the upstream round trip
# as the relay saw it, the whole relay step, `Arena.shape_result` and its steps (ms).
SHAPE_STEPS = {
    "mcp_arena.engine.arena:Arena": ["_sync", "_event", "_trim", "_commit", "_page_guides", "count_tokens"],
    "mcp_arena.engine.store:Store": ["append"],
    "mcp_arena.engine.trail:Trail": ["record_extracted"],
}


def serve_with_timers(out: Path) -> None:
    """Run `mcp-arena serve` (settings from the environment) with the timers installed; dump at exit."""
    import importlib

    from mcp_arena.engine.arena import Arena
    from mcp_arena.proxy.pool import UpstreamPool
    from mcp_arena.relay import Relay

    records: list[dict[str, Any]] = []
    pending: dict[str, float] = {}
    current = threading.local()

    def step(owner: type, name: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            record = getattr(current, "record", None)
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                if record is not None:
                    record[name] = record.get(name, 0.0) + (time.perf_counter() - started) * 1000

        setattr(owner, name, timed)

    for target, names in SHAPE_STEPS.items():
        module, cls = target.split(":")
        for name in names:
            step(getattr(importlib.import_module(module), cls), name)

    shape_result = Arena.shape_result

    @functools.wraps(shape_result)
    def timed_shape_result(self: Arena, output: Any, *args: Any, **kwargs: Any) -> Any:
        record: dict[str, Any] = {"tool": output.tool, "chars": len(output.text), **pending}
        pending.clear()
        current.record = record
        started = time.perf_counter()
        try:
            shaped = shape_result(self, output, *args, **kwargs)
            record["trimmed"] = shaped.trimmed
            return shaped
        finally:
            record["shape_result"] = (time.perf_counter() - started) * 1000
            current.record = None
            records.append(record)

    Arena.shape_result = timed_shape_result  # type: ignore[method-assign]

    pool_call = UpstreamPool.call

    @functools.wraps(pool_call)
    async def timed_pool_call(self: UpstreamPool, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await pool_call(self, *args, **kwargs)
        finally:
            pending["upstream"] = (time.perf_counter() - started) * 1000

    UpstreamPool.call = timed_pool_call  # type: ignore[method-assign]

    relay_call = Relay._call

    @functools.wraps(relay_call)
    async def timed_relay_call(self: Relay, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await relay_call(self, *args, **kwargs)
        finally:
            if records:
                records[-1]["relay"] = (time.perf_counter() - started) * 1000

    Relay._call = timed_relay_call  # type: ignore[method-assign]

    def dump(*_args: Any) -> None:
        out.write_text(json.dumps(records))

    def dump_and_exit(*_args: Any) -> None:
        dump()
        sys.exit(0)

    atexit.register(dump)
    signal.signal(signal.SIGTERM, dump_and_exit)
    from mcp_arena.cli.main import main

    sys.argv = ["mcp-arena", "serve"]
    main()


# --- the client side -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    label: str
    upstream: str  # "faults" | "files": which direct client
    tool: str
    arguments: dict[str, Any]
    expect_trim: bool


@dataclass
class Series:
    direct: list[float] = field(default_factory=list)
    proxied: list[float] = field(default_factory=list)
    trimmed: list[bool] = field(default_factory=list)


def numbered_file(path: Path, lines: int) -> Path:
    """A text file like a config dump: numbered lines with values (the proxy tests' big file)."""
    path.write_text("".join(f"line {n:04d}: config value {n * 7 % 1000} for module m{n % 37}\n" for n in range(1, lines + 1)))
    return path


def filesystem_command(given: str | None) -> list[str] | None:
    """The npm filesystem server's command line: given, else the tests' pinned install (installed if missing)."""
    if given:
        return shlex.split(given)
    if shutil.which("node") is None or shutil.which("npm") is None:
        return None
    sys.path.insert(0, str(ROOT))
    from tests.node_servers import FILESYSTEM_PACKAGE, FILESYSTEM_VERSION, node_cache, npm_install

    folder = npm_install(node_cache(), FILESYSTEM_PACKAGE, FILESYSTEM_VERSION)
    manifest = json.loads((folder / "package.json").read_text(encoding="utf-8"))
    binary = manifest["bin"] if isinstance(manifest["bin"], str) else next(iter(manifest["bin"].values()))
    return [str(shutil.which("node")), str((folder / binary).resolve())]


def cases(workdir: Path, with_files: bool) -> list[Case]:
    found = [Case("echo (tiny)", "faults", "echo", {"text": "ping"}, False)]
    if with_files:
        small = numbered_file(workdir / "small.txt", SMALL_LINES)
        big = numbered_file(workdir / "big.txt", BIG_LINES)
        found += [
            Case(f"read_text_file {SMALL_LINES} lines", "files", "read_text_file", {"path": str(small)}, False),
            Case(f"read_text_file {BIG_LINES:,} lines (trimmed)", "files", "read_text_file", {"path": str(big)}, True),
        ]
    return found


def write_upstreams(base: Path, workdir: Path, fs_command: list[str] | None) -> Path:
    """The proxy's upstream file (Claude Desktop's `mcpServers` format): the fault server and the filesystem server."""
    servers: dict[str, Any] = {"faults": {"command": sys.executable, "args": [str(FAULT_SERVER)], "env": {"FAULT_NAME": "faults"}}}
    if fs_command:
        servers["files"] = {"command": fs_command[0], "args": [*fs_command[1:], str(workdir)]}
    path = base / "upstreams.json"
    path.write_text(json.dumps({"mcpServers": servers}))
    return path


def proxy_command(base: Path, upstreams: Path, semantic: bool, plain: bool, timers: Path) -> tuple[list[str], dict[str, str]]:
    """The proxy's arguments (after the interpreter) and environment: a fresh MCP_ARENA_HOME, one session."""
    env = {
        **os.environ,
        "MCP_ARENA_HOME": str(base / "home"),
        "MCP_ARENA_SEMANTIC": "true" if semantic else "false",
        "MCP_ARENA_UPSTREAM": str(upstreams),
        "MCP_ARENA_SESSION": SESSION,
        "MCP_ARENA_TRANSCRIPT": "",
    }
    args = ["-m", "mcp_arena", "serve"] if plain else [str(Path(__file__).resolve()), "--serve", str(timers)]
    return args, env


async def drive(clients: dict[str, Any], run_cases: list[Case], calls: int) -> dict[str, Series]:
    """Warm up, then `calls` rounds: each case direct and proxied back to back, the order flipped every round."""
    from mcp_arena.core.shape import META_KEY

    async def timed(client: Any, case: Case) -> tuple[float, Any]:
        started = time.perf_counter()
        result = await client.call_tool(case.tool, case.arguments)
        elapsed = (time.perf_counter() - started) * 1000
        if result.is_error:
            raise RuntimeError(f"{case.tool} failed: {result.content}")
        return elapsed, result

    for case in run_cases:
        for _ in range(WARMUP_CALLS):
            await timed(clients[case.upstream], case)
            await timed(clients["proxy"], case)
    series = {case.label: Series() for case in run_cases}
    for round_no in range(calls):
        for case in run_cases:
            for side in ("direct", "proxy") if round_no % 2 == 0 else ("proxy", "direct"):
                elapsed, result = await timed(clients[case.upstream if side == "direct" else "proxy"], case)
                if side == "direct":
                    series[case.label].direct.append(elapsed)
                else:
                    series[case.label].proxied.append(elapsed)
                    series[case.label].trimmed.append(bool(result.meta and META_KEY in result.meta))
    return series


async def measure_overhead(calls: int, semantic: bool, fs_command: list[str] | None, plain: bool) -> dict[str, Any]:
    """One run: the proxy and the upstreams' own servers side by side, each an SDK client over stdio."""
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    with tempfile.TemporaryDirectory(prefix="proxy-bench-") as folder:
        base = Path(folder)
        workdir = (base / "work").resolve()
        workdir.mkdir()
        timers = base / "timers.json"
        args, env = proxy_command(base, write_upstreams(base, workdir, fs_command), semantic, plain, timers)
        launch = {
            "proxy": StdioServerParameters(command=sys.executable, args=args, env=env),
            "faults": StdioServerParameters(command=sys.executable, args=[str(FAULT_SERVER)], env={**os.environ, "FAULT_NAME": "faults"}),
        }
        if fs_command:
            launch["files"] = StdioServerParameters(command=fs_command[0], args=[*fs_command[1:], str(workdir)])
        run_cases = cases(workdir, fs_command is not None)
        log = base / "servers.log"
        try:
            with open(log, "w", encoding="utf-8") as errlog:
                async with AsyncExitStack() as stack:
                    clients = {name: await stack.enter_async_context(Client(stdio_client(params, errlog=errlog))) for name, params in launch.items()}
                    await clients["proxy"].list_tools()  # tools/list waits for the upstream pool
                    series = await drive(clients, run_cases, calls)
        except Exception:
            sys.stderr.write(f"the servers' stderr:\n{log.read_text(errors='replace')[-4000:]}\n")
            raise
        records = json.loads(timers.read_text()) if timers.exists() else []
    return {"semantic": semantic, "plain": plain, "load": load(), "cases": run_cases, "series": series, "records": records}


def overhead_rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for case in run["cases"]:
        s: Series = run["series"][case.label]
        paired = [p - d for p, d in zip(s.proxied, s.direct, strict=True)]
        row = {"case": case.label, "calls": len(s.direct), "trimmed": sum(s.trimmed), "expect_trim": case.expect_trim}
        for side, values in (("direct", s.direct), ("proxied", s.proxied)):
            for p in PERCENTILES:
                row[f"{side}_p{p}"] = percentile(values, p)
        row["added_p50"] = row["proxied_p50"] - row["direct_p50"]
        row["added_p95"] = row["proxied_p95"] - row["direct_p95"]
        row["paired_median"] = statistics.median(paired) if paired else math.nan
        rows.append(row)
    return rows


STEP_COLUMNS = (
    ("relay", "relay step"),
    ("upstream", "upstream call"),
    ("shape_result", "shape_result"),
    ("_sync", "sync ledger"),
    ("_event", "count tokens (events)"),
    ("_trim", "trim"),
    ("count_tokens", "tokenizer (every count)"),
    ("append", "LanceDB append"),
    ("_commit", "commit (append + notify)"),
    ("record_extracted", "trail (file actions)"),
    ("_page_guides", "guides"),
)


def breakdown_rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The server's timers per case: the proxied calls' records, minus the warm-up, split by case."""
    records = run["records"]
    run_cases: list[Case] = run["cases"]
    if not records:
        return []
    warmup = len(run_cases) * WARMUP_CALLS
    measured = records[warmup:]
    rows = []
    for index, case in enumerate(run_cases):
        mine = measured[index :: len(run_cases)]
        client = run["series"][case.label].proxied
        row: dict[str, Any] = {"case": case.label, "n": len(mine)}
        for key, _name in STEP_COLUMNS:
            values = [record.get(key, 0.0) for record in mine]
            row[key] = statistics.median(values) if values else math.nan
        # What no server timer covers: the extra stdio hop, the SDK's JSON (de)serialisation and dispatch.
        row["outside"] = statistics.median([c - r.get("relay", 0.0) for c, r in zip(client, mine, strict=False)]) if mine else math.nan
        row["relay_glue"] = statistics.median([r.get("relay", 0.0) - r.get("upstream", 0.0) - r.get("shape_result", 0.0) for r in mine]) if mine else math.nan
        rows.append(row)
    return rows


def print_overhead(runs: list[dict[str, Any]]) -> None:
    print("## 1. Proxy overhead per call (ms, client round trip over stdio)\n")
    for run in runs:
        mode = "on" if run["semantic"] else "off"
        print(f"### semantic layer {mode} ({run['load']} at the end of the run)\n")
        header = ["case", "calls", "direct p50", "p95", "p99", "proxied p50", "p95", "p99", "added p50", "added p95", "paired Δ median", "trimmed"]
        rows = [
            [
                r["case"], r["calls"],
                *(f"{r[f'direct_p{p}']:.2f}" for p in PERCENTILES),
                *(f"{r[f'proxied_p{p}']:.2f}" for p in PERCENTILES),
                f"{r['added_p50']:+.2f}", f"{r['added_p95']:+.2f}", f"{r['paired_median']:+.2f}",
                f"{r['trimmed']}/{r['calls']}",
            ]
            for r in run["overhead"]
        ]
        print(table(header, rows) + "\n")
        if run["breakdown"]:
            print("Where the proxied call's time goes (medians, ms; server timers around the relay, the upstream call and the steps of "
                  "`Arena.shape_result`):\n")
            header = ["case", *(name for _key, name in STEP_COLUMNS), "relay glue", "outside the relay"]
            rows = [[r["case"], *(f"{r[key]:.2f}" for key, _ in STEP_COLUMNS), f"{r['relay_glue']:.2f}", f"{r['outside']:.2f}"] for r in run["breakdown"]]
            print(table(header, rows) + "\n")
    print(
        "`added` = proxied − direct at the same percentile; `paired Δ` = the median of (proxied − direct) over the interleaved pairs. "
        "`relay step` = the arena's whole handling of the call (upstream call + shape_result + glue); steps nest: `commit` includes "
        "the LanceDB append, `tokenizer` is every o200k count (inside `count tokens (events)`, `trim` and `guides`); "
        "`relay glue` = the thread hop and rebuilding the result; `outside the relay` = client round trip − relay step: "
        "the second stdio hop, JSON in and out of the arena's process, and the SDK's dispatch.\n"
    )


# === 2. savings on the corpus ===============================================================


@dataclass(frozen=True)
class Replayed:
    format: str
    session: str
    seq: int
    tool: str
    text: str
    shown: str
    trimmed: bool
    original_tokens: int
    shown_tokens: int
    guide_tokens: int
    guides: int  # full guides attached after this result
    reminders: int
    pointers: int = 0  # one-line pages naming load_skill (Claude Code's own tools)


def transcripts(corpus: Path, max_files: int | None) -> Iterator[tuple[str, Path]]:
    """(format, path) of the corpus's transcripts, sorted; at most `max_files` per format."""
    for name in FORMATS:
        paths = sorted(p for p in (corpus / name).rglob("*") if p.suffix in TRANSCRIPT_SUFFIXES)
        yield from ((name, path) for path in paths[:max_files])


def tool_outputs(events: Sequence[Any]) -> Iterator[tuple[Any, Any]]:
    """(tool_call draft or None, tool_result draft) pairs: the call with the result's call_id, else the latest unpaired one."""
    open_calls: dict[str, Any] = {}
    for event in events:
        if event.kind == "tool_call":
            open_calls[event.call_id] = event
        elif event.kind == "tool_result":
            call = open_calls.pop(event.call_id, None)
            if call is None and open_calls:
                call = open_calls.pop(next(reversed(open_calls)))
            yield call, event


def call_arguments(call: Any) -> dict[str, Any]:
    if call is None:
        return {}
    try:
        value = json.loads(call.text)
    except ValueError:
        return {"input": call.text}
    return value if isinstance(value, dict) else {"input": value}


def session_id(format_: str, index: int) -> str:
    return f"{format_}-{index:03d}"


FULL_GUIDE = re.compile(r"^--- skill: \S+ \(guide", re.MULTILINE)  # the headers of core/skills.py's pages
REMINDER = re.compile(r"^--- skill: \S+ \(reminder", re.MULTILINE)
POINTER = re.compile(r"^\[mcp-arena skill \S+: ", re.MULTILINE)


def replay(arena: Any, corpus: Path, max_files: int | None) -> list[Replayed]:
    """Every tool result of the corpus through `arena.shape_result`, one arena session per transcript session."""
    from mcp_arena.core.shape import ToolOutput
    from mcp_arena.feeds.formats import read_sessions

    replayed = []
    index = 0
    for format_, path in transcripts(corpus, max_files):
        for _name, events in read_sessions(path):
            session = session_id(format_, index)
            index += 1
            arena.ensure_session(session, origin="bench")
            for call, result in tool_outputs(list(events)):
                tool = result.tool or (call.tool if call is not None else "") or "unknown"
                # Claude Code's own tools reach the arena through its PostToolUse hook, which pages their
                # skills briefly (one line, once); everything else is replayed as a proxied MCP result.
                hooked = format_ == "claude-code" and not tool.startswith("mcp__")
                output = ToolOutput(
                    tool=tool, arguments=call_arguments(call), text=result.text, is_error=result.is_error,
                    source="hook" if hooked else "proxy", brief_guides=hooked,
                )
                shaped = arena.shape_result(output, session=session)
                replayed.append(
                    Replayed(
                        format=format_, session=session, seq=shaped.seq, tool=tool, text=result.text, shown=shaped.text,
                        trimmed=shaped.trimmed, original_tokens=arena.count_tokens(result.text),
                        shown_tokens=arena.count_tokens(shaped.text), guide_tokens=arena.count_tokens(shaped.guide) if shaped.guide else 0,
                        guides=len(FULL_GUIDE.findall(shaped.guide)), reminders=len(REMINDER.findall(shaped.guide)),
                        pointers=len(POINTER.findall(shaped.guide)),
                    )
                )
    return replayed


def savings_rows(replayed: list[Replayed]) -> list[dict[str, Any]]:
    rows = []
    for name in (*FORMATS, "total"):
        mine = [r for r in replayed if name in (r.format, "total")]
        if not mine:
            continue
        original = sum(r.original_tokens for r in mine)
        shown = sum(r.shown_tokens for r in mine)
        guides = sum(r.guide_tokens for r in mine)
        rows.append({
            "format": name, "sessions": len({r.session for r in mine}), "results": len(mine), "trimmed": sum(r.trimmed for r in mine),
            "original_tokens": original, "shown_tokens": shown, "kept_out": original - shown,
            "kept_out_share": (original - shown) / original if original else 0.0, "guide_tokens": guides,
            "guides": sum(r.guides for r in mine), "reminders": sum(r.reminders for r in mine), "pointers": sum(r.pointers for r in mine),
            "net_share": (original - shown - guides) / original if original else 0.0,
        })
    return rows


def print_savings(by_budget: dict[str, list[dict[str, Any]]]) -> None:
    print("## 2. Savings on the corpus's tool results (o200k tokens)\n")
    for budgets, rows in by_budget.items():
        print(f"### {budgets}\n")
        header = ["format", "sessions", "results", "trimmed", "without the arena", "with it", "kept out", "share kept out"]
        header += ["guides + reminders + pointers attached", "their tokens", "net share"]
        print(table(header, [
            [r["format"], r["sessions"], r["results"], r["trimmed"], f"{r['original_tokens']:,}", f"{r['shown_tokens']:,}",
             f"{r['kept_out']:,}", f"{r['kept_out_share']:.1%}", f"{r['guides']} + {r['reminders']} + {r['pointers']}", f"{r['guide_tokens']:,}",
             f"{r['net_share']:+.1%}"]
            for r in rows
        ]) + "\n")
    print(
        "`with it` = the shaped text (head + marker + tail when trimmed); `guides + reminders + pointers` = skill pages the arena "
        "appends after results (the full guide on a skill's first use, a short reminder later; for Claude Code's own tools, "
        "replayed as the PostToolUse hook sees them, one line naming load_skill, once): what the arena adds to the context, "
        "counted apart; `net share` = (kept out − their tokens) / without.\n"
    )


# === 3. recall of facts from trimmed regions ========================================================

# Case-insensitive words, or a CamelCase type name (`ValueError`, not "terror").
ERROR_LINE = re.compile(r"(?i:\b(?:error|errors|traceback|failed|failure|exception|fatal|panic|aborted)\b)|\w+(?:Error|Exception)\b")
# A path with a folder and an extension, an absolute path, or a bare file name with a common extension.
PATH_IN_LINE = re.compile(
    r"(?:[\w.@+-]*/)+[\w.@+-]+\.[A-Za-z]\w{0,7}\b|/(?:[\w.@+-]+/)+[\w.@+-]+"
    r"|\b[\w-]+\.(?:py|c|h|cc|cpp|go|rs|js|ts|json|md|txt|toml|yml|yaml|exs?|cfg|ini|sh|pony|lock)\b"
)
VALUE = re.compile(r"\b\d[\d.,:]*\b")
LINE_NUMBER_PREFIX = re.compile(r"^\s*\d+(?:→|\t|:)\s?")
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)*")
SUBWORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
ERROR_TYPE = re.compile(r"\b\w+(?:Error|Exception)\b|(?i:\b(?:traceback|failed|failure|fatal|panic|error)\b)")
STOP_WORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was were will with what when where "
    "which who why how did do does we i you not no if else then but can so all any into out up".split()
)
KEYWORD_WORDS = 6
PARAPHRASE_WORDS = 8
MIN_FACT_CHARS = 16
MAX_FACT_CHARS = 240  # a longer "line" is a paragraph or a JSON record, not a fact
MIN_CONTENT_WORDS = 3
# A mechanical paraphrase: the words an agent who half-remembers the line might use instead.
SYNONYMS = {
    "error": "problem", "errors": "problems", "failed": "broke", "failure": "breakage", "exception": "raised",
    "traceback": "stack", "file": "document", "files": "documents", "directory": "folder", "dir": "folder",
    "install": "setup", "installed": "setup", "installing": "setup", "requirement": "dependency", "requirements": "dependencies",
    "satisfied": "present", "already": "previously", "version": "release", "module": "package", "modules": "packages",
    "function": "routine", "test": "check", "tests": "checks", "return": "returns", "import": "load", "config": "settings",
    "value": "setting", "line": "row", "lines": "rows", "root": "admin", "description": "summary", "create": "make",
    "created": "made", "output": "result", "build": "compile", "type": "kind", "name": "title", "found": "located",
}


@dataclass(frozen=True)
class Fact:
    kind: str  # error | path | value
    format: str
    session: str
    seq: int
    line: str  # as it stands in the original
    keyword: str
    paraphrase: str


def fact_kind(line: str) -> str | None:
    body = LINE_NUMBER_PREFIX.sub("", line)
    if ERROR_LINE.search(body):
        return "error"
    if PATH_IN_LINE.search(body):
        return "path"
    if VALUE.search(body):
        return "value"
    return None


def content_words(text: str) -> list[str]:
    return [w for w in WORD.findall(text) if len(w) >= 2 and w.lower() not in STOP_WORDS]


def subwords(text: str) -> list[str]:
    """Lower-case sub-words (snake_case, camelCase, dotted and numbered names split), stop words and bare numbers out."""
    words = (part.lower() for part in SUBWORD.findall(text))
    return [w for w in words if len(w) >= 2 and w not in STOP_WORDS and not w.isdigit()]


def keyword_query(line: str, document_frequency: Callable[[str], int]) -> str:
    """The line's most distinctive words (fewest of the session's results hold them), in line order."""
    words = list(dict.fromkeys(content_words(LINE_NUMBER_PREFIX.sub("", line))))
    ranked = sorted(range(len(words)), key=lambda i: (document_frequency(words[i].lower()), i))[:KEYWORD_WORDS]
    return " ".join(words[i] for i in sorted(ranked))


def paraphrase(line: str, kind: str) -> str:
    """A query for the line in other words: the path's basename and folder and the error type first, as they are;
    then the line's other sub-words reversed, common words swapped for synonyms, numbers out."""
    body = LINE_NUMBER_PREFIX.sub("", line)
    lead: list[str] = []
    path = PATH_IN_LINE.search(body)
    if path:
        parts = [part for part in path.group(0).split("/") if part]
        base = parts[-1].rsplit(".", 1)[0] if "." in parts[-1] else parts[-1]
        lead = subwords(base) + (subwords(parts[-2]) if len(parts) > 1 else [])
    if kind == "error":
        error_type = ERROR_TYPE.search(body)
        lead = ([error_type.group(0)] if error_type else []) + lead
    in_lead = set(subwords(" ".join(lead)))
    rest = [SYNONYMS.get(w, w) for w in reversed(subwords(body)) if w not in in_lead]  # the lead (names, error type) stays as it is
    words = list(dict.fromkeys([*lead, *rest]))
    return " ".join(words[:PARAPHRASE_WORDS])


def frequency_in(texts: list[str]) -> Callable[[str], int]:
    """How many of `texts` (lower case) hold a word, cached."""

    @functools.cache
    def frequency(word: str) -> int:
        return sum(word in text for text in texts)

    return frequency


def pick_facts(replayed: list[Replayed], arena: Any, per_kind: int, seed: int) -> list[Fact]:
    """Up to `per_kind` facts of each kind from the omitted part of every trimmed result (seeded, deterministic)."""
    by_session: dict[str, list[str]] = defaultdict(list)
    for result in replayed:
        by_session[result.session].append(result.text.lower())
    facts = []
    for result in replayed:
        if not result.trimmed:
            continue
        row = arena.store.events(result.session, seq_min=result.seq, seq_max=result.seq)[0]
        meta = json.loads(row["meta"]) if isinstance(row["meta"], str) else row["meta"]
        omitted = meta["trim"]["omitted"]
        part = result.text[omitted["start"] : omitted["end"]]
        candidates: dict[str, list[str]] = defaultdict(list)
        for line in dict.fromkeys(part.split("\n")):
            line = line.strip("\r")
            words = {w.lower() for w in content_words(LINE_NUMBER_PREFIX.sub("", line)) if not w[0].isdigit() and len(w) >= 3}
            if not MIN_FACT_CHARS <= len(line.strip()) <= MAX_FACT_CHARS or len(words) < MIN_CONTENT_WORDS or line in result.shown:
                continue
            kind = fact_kind(line)
            if kind:
                candidates[kind].append(line)
        document_frequency = frequency_in(by_session[result.session])
        rng = random.Random(f"{seed}:{result.session}:{result.seq}")
        for kind in FACT_KINDS:
            lines = candidates.get(kind, [])
            for line in rng.sample(lines, min(per_kind, len(lines))):
                facts.append(Fact(kind, result.format, result.session, result.seq, line, keyword_query(line, document_frequency), paraphrase(line, kind)))
    return facts


def recall(arena: Any, facts: list[Fact]) -> list[dict[str, Any]]:
    """Each fact asked both ways: whether its result's seq, or any copy of its line, is in the top 5."""
    outcomes = []
    texts: dict[tuple[str, int], str] = {}
    for fact in facts:
        for query_kind in QUERY_KINDS:
            query = fact.keyword if query_kind == "keyword" else fact.paraphrase
            if not query.strip():
                outcomes.append({"fact": fact, "query": query_kind, "text": query, "seq": False, "copy": False, "mode": "-", "ms": 0.0})
                continue
            started = time.perf_counter()
            reply = arena.memory_search(query=query, limit=TOP, session=fact.session)
            elapsed = (time.perf_counter() - started) * 1000
            hits = (reply.structured or {}).get("hits", []) if not reply.is_error else []
            seqs = [hit["seq"] for hit in hits][:TOP]
            for seq in seqs:
                if (fact.session, seq) not in texts:
                    rows = arena.store.events(fact.session, seq_min=seq, seq_max=seq)
                    texts[(fact.session, seq)] = rows[0]["text"] if rows else ""
            outcomes.append({
                "fact": fact, "query": query_kind, "text": query, "seq": fact.seq in seqs,
                "copy": any(fact.line in texts[(fact.session, seq)] for seq in seqs),
                "mode": (reply.structured or {}).get("mode", "error"), "not_embedded": (reply.structured or {}).get("not_embedded", 0), "ms": elapsed,
            })
    return outcomes


def recall_rows(outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for kind in (*FACT_KINDS, "all"):
        mine = [o for o in outcomes if kind in (o["fact"].kind, "all")]
        if not mine:
            continue
        row: dict[str, Any] = {"kind": kind, "facts": len(mine) // len(QUERY_KINDS)}
        for query_kind in QUERY_KINDS:
            asked = [o for o in mine if o["query"] == query_kind]
            row[f"{query_kind}_seq"] = sum(o["seq"] for o in asked) / len(asked)
            row[f"{query_kind}_copy"] = sum(o["copy"] for o in asked) / len(asked)
        rows.append(row)
    return rows


def print_recall(by_mode: dict[str, dict[str, Any]], facts: list[Fact]) -> None:
    print(f"## 3. Recall of facts from trimmed regions (share found in the top {TOP} of memory_search)\n")
    results = len({(f.session, f.seq) for f in facts})
    print(f"{len(facts)} facts from {results} trimmed results (stage-1 budgets), at most {FACTS_PER_KIND} per kind per result.\n")
    header = ["semantic", "fact kind", "facts", "keyword: seq", "keyword: any copy", "paraphrase: seq", "paraphrase: any copy", "search mode", "search p50 ms"]
    rows = []
    for mode, found in by_mode.items():
        modes = sorted({o["mode"] for o in found["outcomes"]})
        p50 = statistics.median([o["ms"] for o in found["outcomes"]]) if found["outcomes"] else math.nan
        for r in found["rows"]:
            rows.append([mode, r["kind"], r["facts"], f"{r['keyword_seq']:.0%}", f"{r['keyword_copy']:.0%}", f"{r['paraphrase_seq']:.0%}",
                         f"{r['paraphrase_copy']:.0%}", "/".join(modes), f"{p50:.1f}"])
    print(table(header, rows) + "\n")
    print("Sample queries (first fact of each kind):\n")
    shown = set()
    sample_rows = []
    for fact in facts:
        if fact.kind in shown:
            continue
        shown.add(fact.kind)
        sample_rows.append([fact.kind, f"`{fact.line.strip()[:90]}`", f"`{fact.keyword}`", f"`{fact.paraphrase}`"])
    print(table(["kind", "line", "keyword query", "paraphrase"], sample_rows) + "\n")


# === driver ===================================================================================


def corpus_settings(home: Path, semantic: bool, stage1_budgets: bool) -> Any:
    from mcp_arena import Settings

    budgets: dict[str, Any] = {}
    if stage1_budgets:
        defaults = Settings(home=home)
        factor = defaults.trim_pressure_factor
        budgets = {
            name: max(200, int(getattr(defaults, name) * factor))
            for name in ("trim_command_tokens", "trim_log_tokens", "trim_listing_tokens", "trim_web_tokens", "trim_file_tokens", "trim_other_tokens")
        }
    return Settings(home=home, semantic=semantic, session="", transcript="", **budgets)


def corpus_runs(corpus: Path, max_files: int | None, per_kind: int, seed: int) -> dict[str, Any]:
    from mcp_arena import Arena

    out: dict[str, Any] = {"savings": {}, "recall": {}}
    facts: list[Fact] = []
    first_layout: list[tuple[str, int, bool]] = []
    # The savings come from the two full-text arenas (trimming does not depend on the semantic layer);
    # the recall from the two stage-1 arenas, which log the same events.
    runs = (("default budgets", False, False), ("stage-1 budgets (all halved)", True, False), (None, True, True))
    with tempfile.TemporaryDirectory(prefix="proxy-bench-corpus-") as folder:
        for label, stage1, semantic in runs:
            arena = Arena(corpus_settings(Path(folder) / f"home-{stage1}-{semantic}", semantic, stage1))
            try:
                started = time.perf_counter()
                replayed = replay(arena, corpus, max_files)
                replay_s = time.perf_counter() - started
                if label:
                    out["savings"][label] = savings_rows(replayed)
                    out.setdefault("replay_seconds", {})[label] = replay_s
                if stage1:
                    layout = [(r.session, r.seq, r.trimmed) for r in replayed]
                    if not facts:
                        facts, first_layout = pick_facts(replayed, arena, per_kind, seed), layout
                    elif layout != first_layout:
                        raise RuntimeError("the two stage-1 replays logged the results at different seqs: the facts would not match")
                    started = time.perf_counter()
                    if semantic:
                        arena.search.index.catch_up()  # the real recall path: every event embedded first
                    embed_s = time.perf_counter() - started
                    outcomes = recall(arena, facts)
                    out["recall"]["on" if semantic else "off"] = {"outcomes": outcomes, "rows": recall_rows(outcomes), "embed_seconds": embed_s}
            finally:
                arena.close()
    out["facts"] = facts
    return out


def fact_outcomes(facts: list[Fact], by_mode: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each fact with whether each query found it, per semantic mode (`keyword_on_seq`, ...)."""
    found: dict[Fact, dict[str, Any]] = {fact: asdict(fact) for fact in facts}
    for mode, outcomes in by_mode.items():
        for outcome in outcomes["outcomes"]:
            for measure in ("seq", "copy"):
                found[outcome["fact"]][f"{outcome['query']}_{mode}_{measure}"] = outcome[measure]
    return list(found.values())


def as_json(value: Any) -> Any:
    if isinstance(value, (Case, Fact, Series)):
        return asdict(value)
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, help=f"interleaved calls per case and side (default {CALLS}; {QUICK_CALLS} with --quick)")
    parser.add_argument("--semantic", choices=("off", "on", "both"), default="both", help="overhead runs with the semantic layer off, on, or both")
    parser.add_argument("--quick", action="store_true", help=f"fewer calls, the first {QUICK_MAX_FILES} transcripts of each format")
    parser.add_argument("--max-files", type=int, help="transcripts per format (default all)")
    parser.add_argument("--facts-per-kind", type=int, default=FACTS_PER_KIND, help="facts of each kind per trimmed result")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--filesystem-server", help="command line of the npm filesystem server (default: the tests' pinned install)")
    parser.add_argument("--skip", action="append", choices=("overhead", "corpus"), default=[], help="leave a part out")
    parser.add_argument("--plain", action="store_true", help="proxy as plain `python -m mcp_arena serve` (no server timers)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_with_timers(args.serve)
        return 0
    import anyio

    calls = args.calls or (QUICK_CALLS if args.quick else CALLS)
    max_files = args.max_files or (QUICK_MAX_FILES if args.quick else None)
    report: dict[str, Any] = {"command": " ".join(["benchmarks/proxy_bench.py", *(argv if argv is not None else sys.argv[1:])]), "load_at_start": load()}
    print(f"# Proxy benchmark\n\n`{report['command']}` — {report['load_at_start']} at the start\n")
    if "overhead" not in args.skip:
        fs_command = filesystem_command(args.filesystem_server)
        if fs_command is None:
            print("(node or npm missing: the filesystem cases are left out)\n")
        runs = []
        for semantic in {"off": (False,), "on": (True,), "both": (False, True)}[args.semantic]:
            run = anyio.run(measure_overhead, calls, semantic, fs_command, args.plain)
            run["overhead"] = overhead_rows(run)
            run["breakdown"] = breakdown_rows(run)
            runs.append(run)
        print_overhead(runs)
        report["overhead"] = [{k: v for k, v in run.items() if k != "series"} for run in runs]  # records: the server's timers, call by call
    if "corpus" not in args.skip:
        found = corpus_runs(args.corpus, max_files, args.facts_per_kind, args.seed)
        print_savings(found["savings"])
        print_recall(found["recall"], found["facts"])
        report["savings"] = found["savings"]
        report["replay_seconds"] = found.get("replay_seconds", {})
        report["recall"] = {mode: {"rows": v["rows"], "embed_seconds": v["embed_seconds"]} for mode, v in found["recall"].items()}
        report["facts"] = fact_outcomes(found["facts"], found["recall"])
    report["load_at_end"] = load()
    print(f"{report['load_at_end']} at the end")
    if args.json:
        args.json.write_text(json.dumps(as_json(report), indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
