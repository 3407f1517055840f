"""`mcp-arena report`: the page a person opens, checked in a real headless Chromium.

The corpus transcripts (Claude Code, SWE-agent, OpenHands) are ingested with the real
command, a 100,000-event session is built in process, and a short session is driven
through the server's tools. Each page is loaded in Chromium and read as a person would
see it: the chart's points are the session's usage figures (read here from the store,
not from the report's code), every squash and every changed file is on the page, no
console error, and no request but the file itself.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from mcp_arena import Settings, build_server
from mcp_arena.cli import report as report_command
from mcp_arena.cli.main import main
from mcp_arena.core import report_page
from mcp_arena.core.artifacts import ArtifactRecord
from mcp_arena.core.events import Event
from mcp_arena.core.ledger import SquashRecord
from mcp_arena.core.report import MAX_POINTS, Timing, downsample, gather
from mcp_arena.engine.arena import Arena
from mcp_arena.engine.store import Store
from mcp_arena.lab.workload import generated_session
from tests.browser import Browser, Page, chromium_path
from tests.helpers import CORPUS, ok

needs_chromium = pytest.mark.skipif(chromium_path() is None, reason="no Chromium: apt-get install -y chromium (.ci/run installs it)")

CORPUS_FILES = [
    CORPUS / "claude-code" / "tool_heavy.jsonl",
    CORPUS / "claude-code" / "subagent.jsonl",
    CORPUS / "swe-agent" / "marshmallow-code__marshmallow-1867-0e1939.traj",
    CORPUS / "swe-agent" / "BabyEncryption-19beb8.traj",
    CORPUS / "openhands" / "evaluation_benchmarks_multi_swe_bench_examples_output.jsonl",
    CORPUS / "openhands" / "tests_runtime_trajs_wrong_initial_state.json",
]
SUMMARY = "## Session Intent\nfix the failing tests\n## Current State\nparts done\n## Next Steps\ngo on\n"

# What a person sees, read from the loaded page.
SEEN = """(() => {
  const points = [...document.querySelectorAll('#usage-chart .pts circle')].map(c => ({
    seq: +c.dataset.seq, used: +c.dataset.used, window: +c.dataset.window,
    source: c.parentNode.classList[1], title: c.querySelector('title').textContent}));
  const squashes = [...document.querySelectorAll('#usage-chart rect.squash')].map(r => ({
    record: +r.dataset.record, from: +r.dataset.from, to: +r.dataset.to, undone: r.classList.contains('undone'),
    width: r.getBBox().width}));
  const rows = [...document.querySelectorAll('#squashes tr.squash-row')].map(r => r.innerText);
  const files = {};
  for (const table of document.querySelectorAll('#trail table.files')) {
    let folder = '';
    for (const row of table.querySelectorAll('tr')) {
      if (row.querySelector('th')) continue;
      if (row.classList.contains('dir')) { folder = row.innerText.trim(); folder = folder === './' ? '' : folder; continue; }
      (files[table.dataset.group] ||= []).push(folder + row.cells[0].innerText.trim());
    }
  }
  const figures = Object.fromEntries([...document.querySelectorAll('#figures tr[data-figure]')].map(
    r => [r.dataset.figure, r.cells[1].innerText.trim()]));
  const box = document.querySelector('#usage-chart').getBoundingClientRect();
  return {points, squashes, rows, files, figures, chartWidth: box.width, chartHeight: box.height,
          session: document.querySelector('#session').innerText, caption: document.querySelector('#usage-source').innerText,
          errorBars: [...document.querySelectorAll('#errors-chart rect.err-bin')].reduce((n, r) => n + +r.dataset.count, 0),
          text: document.body.innerText};
})()"""


# -- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if chromium_path() is None:
        pytest.skip("no Chromium: apt-get install -y chromium (.ci/run installs it)")
    with Browser() as running:
        yield running


@pytest.fixture(scope="module")
def corpus_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus, ingested with the real command."""
    home = tmp_path_factory.mktemp("corpus-home")
    environment = {**os.environ, "MCP_ARENA_HOME": str(home), "MCP_ARENA_SEMANTIC": "false"}
    run = subprocess.run([sys.executable, "-m", "mcp_arena", "ingest", *map(str, CORPUS_FILES)], capture_output=True, text=True, env=environment, timeout=300)
    assert run.returncode == 0, run.stderr
    return home


def store_of(home: Path) -> Store:
    return Store(str(home / "arena.lancedb"), home / "locks")


def corpus_sessions(home: Path) -> list[dict[str, Any]]:
    return store_of(home).sessions()


def write_report(home: Path, session: str, out: Path, capsys: pytest.CaptureFixture[str] | None = None) -> str:
    assert main(["report", "--home", str(home), "--session", session, "--out", str(out)]) == 0
    return capsys.readouterr().out if capsys else ""


def seen(page: Page, path: Path) -> dict[str, Any]:
    page.load(path)
    page.settle(0.2)
    result: dict[str, Any] = page.evaluate(SEEN)
    return result


def assert_clean(page: Page, path: Path) -> None:
    assert page.problems() == []
    assert set(page.requests()) == {path.resolve().as_uri()}, "a request left the page"


# -- what the store says, independently of the report's code -------------------------------------------


def usage_samples(home: Path, session: str) -> dict[int, tuple[int, int]]:
    """seq -> (used, window) of the usage samples the session's events carry."""
    samples = {}
    for row in store_of(home).events(session, columns=["seq", "meta"]):
        meta = json.loads(row["meta"]) if row["meta"] else {}
        if "usage_sample" in meta:
            samples[row["seq"]] = (meta["usage_sample"]["used"], meta["usage_sample"]["window"])
    return samples


def tokens_so_far(home: Path, session: str) -> dict[int, int]:
    """seq -> tokens logged up to and including it (the estimate, for a session without squashes)."""
    total, out = 0, {}
    for row in store_of(home).events(session, columns=["seq", "tokens"]):
        total += row["tokens"]
        out[row["seq"]] = total
    return out


def changed_files(home: Path, session: str, settings: Settings) -> dict[str, set[str]]:
    """The trail as the arena answers artifact_index: group -> paths."""
    arena = Arena(settings)
    try:
        statuses = arena.trail.statuses(session)
    finally:
        arena.close()
    groups: dict[str, set[str]] = {}
    for status in statuses.values():
        groups.setdefault({"read": "read-only"}.get(status.state, status.state), set()).add(status.path)
    return groups


# -- the corpus ------------------------------------------------------------------------------------------


@needs_chromium
def test_corpus_sessions_render_what_their_logs_hold(corpus_home: Path, browser: Browser, tmp_path: Path, capsys):
    settings = Settings(home=corpus_home, semantic=False)
    sessions = corpus_sessions(corpus_home)
    formats = {row["label"].split("/")[-2] for row in sessions}
    assert formats == {"claude-code", "swe-agent", "openhands"} and len(sessions) >= 8
    for row in sessions:
        session = row["session"]
        out = tmp_path / f"{session}.html"
        printed = write_report(corpus_home, session, out, capsys)
        assert str(out) in printed and "KiB" in printed
        page = browser.page()
        view = seen(page, out)
        assert_clean(page, out)
        assert view["session"] == session
        assert view["chartWidth"] > 800 and view["chartHeight"] > 200  # readable on a laptop
        samples = usage_samples(corpus_home, session)
        drawn = {p["seq"]: (p["used"], p["window"]) for p in view["points"]}
        if samples:  # Claude Code: every turn's exact figure, all of them drawn
            assert drawn == samples, session
            assert {p["source"] for p in view["points"]} == {"transcript"} and "from the host's transcript" in view["caption"]
        else:  # no usage in the log: the arena's own count after each event, and the page says so
            logged = tokens_so_far(corpus_home, session)
            assert drawn == {seq: (tokens, settings.window_tokens) for seq, tokens in logged.items()}, session
            assert {p["source"] for p in view["points"]} == {"estimate"} and "no usage sample in the log" in view["caption"]
        trail = changed_files(corpus_home, session, settings)
        for group in ("created", "modified", "deleted"):
            assert set(view["files"].get(group, [])) == trail.get(group, set()), (session, group)
        assert set(view["files"].get("read-only", [])) == trail.get("read-only", set())
        errors = sum(1 for r in store_of(corpus_home).events(session, columns=["seq", "is_error"]) if r["is_error"])
        assert view["errorBars"] == errors
        # imported transcripts: the arena served none of these calls, so it timed none of them
        assert view["figures"]["search latency (memory_search)"] == "not recorded"
        assert view["figures"]["incremental summary time"] == "not recorded"
        assert view["figures"]["causal-chain fidelity"] == "not recorded"


def test_report_latest_unknown_and_open(corpus_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    newest = corpus_sessions(corpus_home)[-1]["session"]
    opened: list[str] = []
    monkeypatch.setattr(report_command.webbrowser, "open", lambda url: opened.append(url) or True)
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--home", str(corpus_home), "--latest", "--open"]) == 0
    written = tmp_path / f"mcp-arena-report-{newest}.html"
    assert written.exists() and opened == [written.resolve().as_uri()]
    assert main(["report", "--home", str(corpus_home), "--session", "no-such-session"]) == 2
    assert "unknown session 'no-such-session'" in capsys.readouterr().err
    assert main(["report", "--home", str(tmp_path / "empty-home")]) == 2
    assert "no sessions yet" in capsys.readouterr().err


# -- a session driven through the server: the figures only the server can time -----------------------------


@needs_chromium
@pytest.mark.anyio
async def test_a_served_session_shows_search_latency_summary_time_guides_and_reported_usage(settings: Settings, browser: Browser, tmp_path: Path):
    async with Client(build_server(settings)) as client:
        await ok(client, "context_status")
        status = (await ok(client, "context_status", used_tokens=90_000, window_tokens=200_000)).structured_content
        session = status["session"]
        await ok(client, "tag", name="fix-auth", note="auth fix starts")
        await ok(client, "artifact_index", record=[{"path": "src/auth.py", "action": "modified", "note": "exp in seconds"}])
        await ok(client, "memory_search", query="auth fix")
        await ok(client, "memory_search", query="expiry")
        await ok(client, "squash", summary=SUMMARY)
        await ok(client, "context_status", used_tokens=60_000, window_tokens=200_000)
    out = tmp_path / "served.html"
    write_report(settings.home, session, out)
    page = browser.page()
    view = seen(page, out)
    assert_clean(page, out)
    assert {(p["seq"], p["used"], p["source"]) for p in view["points"]} == {
        (seq, used, "reported") for seq, (used, _) in usage_samples(settings.home, session).items()
    }
    assert len(view["points"]) == 2
    squashes = store_of(settings.home).rows("squashes", session)
    assert [(s["record"], s["from"], s["to"]) for s in view["squashes"]] == [(r["record"], r["from_seq"], r["to_seq"]) for r in squashes]
    assert "fix-auth" in view["rows"][0] and " ms" in view["rows"][0]  # the server timed the squash it served
    assert view["figures"]["search latency (memory_search)"].startswith("p50 ") and "over 2 call(s)" in view["figures"]["search latency (memory_search)"]
    assert view["figures"]["incremental summary time"].startswith("p50 ")
    assert view["figures"]["compression rate (summary layer)"].endswith("over 1 squash(es))")
    assert view["files"]["modified"] == ["src/auth.py"] and "exp in seconds" in view["text"]
    assert "Guides paged in" in view["text"] and "No guide was attached" not in view["text"]
    printed = page.pdf()  # printable: Chromium prints it (A4)
    assert printed.startswith(b"%PDF") and len(printed) > 10_000


# -- 100,000 events ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A generated session of ~100,000 events built in process: transcript usage samples on every
    model turn, trimmed Bash results (one trim undone), three squashes (one undone)."""
    home = tmp_path_factory.mktemp("big-home")
    arena = Arena(Settings(home=home, semantic=False))
    session = "generated-100k"
    arena.ensure_session(session, origin="import", label="gen:100000")
    drafts = [_shaped(i, draft) for i, draft in enumerate(generated_session(100_000))]
    try:
        for part, start in enumerate(range(0, len(drafts), 25_000)):
            arena.tag(f"part-{part}", session=session)
            arena.append(session, drafts[start : start + 25_000])
            if part % 2 == 0 or part == 3:
                assert not arena.squash(SUMMARY, session=session).is_error
        arena.undo_squash(session)
    finally:
        arena.close()
    return home, session


def _shaped(i: int, draft: Any) -> Any:
    meta = dict(draft.meta)
    if draft.kind == "assistant":  # a sawtooth: each model request's context, as a transcript reports it
        meta["usage_sample"] = {"used": 30_000 + (i * 7) % 130_000, "window": 200_000, "source": "transcript"}
    if draft.kind == "tool_result" and draft.tool == "Bash" and i % 9 == 0:
        meta["trim"] = {"tokens": 4_000, "shown_tokens": 900, "omitted": {}, "page_tokens": 2_000}
        return dataclasses.replace(draft, meta=meta, source="proxy", context_tokens=900)
    return dataclasses.replace(draft, meta=meta)


@needs_chromium
@pytest.mark.slow
def test_a_100k_event_session_renders_in_seconds_small_and_whole(big_home: tuple[Path, str], browser: Browser, tmp_path: Path):
    home, session = big_home
    settings = Settings(home=home, semantic=False)
    store = store_of(home)
    started = time.perf_counter()
    page_html = report_page.render(report_command.read_report(store, session, settings))
    elapsed = time.perf_counter() - started
    out = tmp_path / "big.html"
    out.write_text(page_html, encoding="utf-8")
    size = out.stat().st_size
    print(f"\n100k-event report: read + fold + render {elapsed:.2f} s, {size / 1024:,.0f} KiB")
    assert elapsed < 20, f"{elapsed:.1f} s"
    assert size < 1024 * 1024, f"{size / 1024:.0f} KiB"

    page = browser.page()
    loaded = page.load(out)
    assert loaded < 10
    page.settle(0.2)
    view = page.evaluate(SEEN)
    assert_clean(page, out)

    samples = usage_samples(home, session)
    assert len(samples) > 30_000
    drawn = [(p["seq"], (p["used"], p["window"])) for p in view["points"]]
    assert len(drawn) <= MAX_POINTS
    assert all(samples[seq] == figure for seq, figure in drawn), "a drawn point is not a usage sample"
    seqs = sorted(samples)
    peak = max(samples, key=lambda seq: samples[seq][0] / samples[seq][1])
    low = min(samples, key=lambda seq: samples[seq][0] / samples[seq][1])
    assert {seqs[0], seqs[-1]} <= {seq for seq, _ in drawn}
    assert samples[peak] in {figure for _, figure in drawn} and samples[low] in {figure for _, figure in drawn}

    records = [r for r in store.rows("squashes", session, order_by="record") if r["op"] == "squash"]
    undone = {r["undoes"] for r in store.rows("squashes", session) if r["op"] == "undo"}
    assert len(records) == 3 and len(undone) == 1
    assert [(s["record"], s["from"], s["to"], s["undone"]) for s in view["squashes"]] == [
        (r["record"], r["from_seq"], r["to_seq"], r["record"] in undone) for r in records
    ]
    assert all(s["width"] > 10 for s in view["squashes"])  # each range is a visible band on the chart
    assert len(view["rows"]) == 3

    trail = changed_files(home, session, settings)
    assert len(trail["modified"]) > 1_000
    for group in ("created", "modified"):
        assert set(view["files"][group]) == trail[group], group
    assert len(view["files"]["read-only"]) < len(trail["read-only"]) and "more files only read" in view["text"]
    kept = sum(4_000 - 900 for _ in range(sum(1 for r in store.events(session, columns=["seq", "meta"]) if '"trim"' in (r["meta"] or ""))))
    assert f"{kept:,} tokens kept out" in view["text"]


# -- the pure parts ----------------------------------------------------------------------------------------


def test_downsample_keeps_the_ends_and_every_stretch_extremes():
    xs = list(range(10_000))
    ys = [float((x * 37) % 101) for x in xs]
    ys[4_321] = 500.0  # a lone spike
    ys[7_777] = -5.0  # a lone dip
    kept = downsample(xs, ys, 100)
    assert len(kept) <= 100 and kept == sorted(kept)
    assert {0, 9_999, 4_321, 7_777} <= set(kept)
    assert downsample(xs[:50], ys[:50], 100) == list(range(50))


def test_timing_percentiles_are_nearest_rank():
    timing = Timing.of([i / 1000 for i in range(1, 101)])
    assert timing is not None and (timing.count, timing.p50, timing.p95, timing.p99, timing.max) == (100, 50.0, 95.0, 99.0, 100.0)
    assert Timing.of([]) is None


def test_gather_counts_trims_per_tool_takes_back_an_undone_trim_and_marks_undone_squashes(settings: Settings):
    def event(seq: int, kind: str, tool: str = "", meta: dict | None = None, tokens: int = 10, source: str = "import", call: str = "") -> Event:
        return Event("s", seq, kind, "", tokens, tool=tool, source=source, call_id=call, ts=1_000.0 + seq, meta=meta or {})

    trim = {"tokens": 1_000, "shown_tokens": 100, "omitted": {}, "page_tokens": 500}
    events = [
        event(0, "tool_call", "Bash", call="c1"),
        event(1, "tool_result", "Bash", {"trim": trim}, tokens=100, source="hook", call="c1"),
        event(2, "tool_call", "Read", call="c2"),
        event(3, "tool_result", "Read", {"trim": trim}, tokens=100, source="hook", call="c2"),
        event(4, "note", "Read", {"untrimmed": {"seq": 3, "tokens_kept_out": 900}}, call="c2"),
        event(5, "assistant", meta={"usage_sample": {"used": 50_000, "window": 100_000, "source": "transcript"}}),
        event(6, "tool_call", "squash", source="self"),
        event(7, "tool_result", "squash", source="self"),
    ]
    squash = SquashRecord(0, "squash", 0, 5, "t", "", "", (), 300, 30, -1, 6)
    undo = SquashRecord(1, "undo", 0, 5, "t", "", "", (), 30, 300, 0, 8)
    report = gather("s", events, [squash, undo], [ArtifactRecord("a.py", "modified", 2)], settings)
    assert [(k.tool, k.results, k.kept_out, k.undone) for k in report.kept_out] == [("Bash", 1, 900, 0), ("Read", 1, 0, 1)]
    assert (report.trimmed_results, report.tokens_kept_out) == (1, 900)  # as context_status counts them
    assert [(s.record, s.active, s.ratio) for s in report.squashes] == [(0, False, 10.0)]
    assert report.squashes[0].seconds == pytest.approx(1.0)  # served: call at ts 1006, result at 1007
    assert report.compression is None  # the only squash was undone
    assert [(p.seq, p.pct) for p in report.usage] == [(5, 50.0)]
    assert [f.path for f in report.trail.modified] == ["a.py"]
    page = report_page.render(report)
    assert "default-src 'none'" in page and "<script" not in page and "http" not in page.replace("http-equiv", "")


def test_an_empty_session_still_makes_a_page(settings: Settings):
    page = report_page.render(gather("empty", [], [], [], settings))
    assert "No squash in this session." in page and "no events" in page and "not recorded" in page
