"""The proxy benchmark runs end to end on tiny inputs (`benchmarks/proxy_bench.py`); its timings are not asserted.

Each test runs the script as a subprocess, as a reader would, and checks the figures
it writes with `--json`: every case was measured on both sides, the big read came back
trimmed through the proxy, the server's timers were dumped, and the corpus replay found
trimmed results and asked memory_search about facts from them.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from tests.node_servers import filesystem_server  # noqa: F401  (a session fixture)

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "proxy_bench.py"
CORPUS = ROOT / "tests" / "fixtures" / "corpus"
TIMEOUT = 240


def run_bench(*args: str) -> tuple[dict, str]:
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    out = Path(args[args.index("--json") + 1])
    return json.loads(out.read_text()), done.stdout


def test_overhead_measures_every_case_on_both_sides(tmp_path: Path, filesystem_server: list[str]):  # noqa: F811
    calls = 3
    options = ["--skip", "corpus", "--calls", str(calls), "--semantic", "off", "--filesystem-server", shlex.join(filesystem_server)]
    report, printed = run_bench(*options, "--json", str(tmp_path / "out.json"))
    (run,) = report["overhead"]
    assert run["semantic"] is False
    rows = {row["case"]: row for row in run["overhead"]}
    assert len(rows) == 3 and all(row["calls"] == calls for row in rows.values())
    assert [row["trimmed"] for row in rows.values()] == [0, 0, calls]  # only the 3,000-line read floods
    assert all(row["proxied_p50"] > 0 and row["direct_p50"] > 0 for row in rows.values())
    breakdown = {row["case"]: row for row in run["breakdown"]}
    assert set(breakdown) == set(rows) and all(row["n"] == calls for row in breakdown.values())  # the server's timers were dumped
    assert "## 1. Proxy overhead per call" in printed


def test_corpus_savings_and_recall_on_one_transcript(tmp_path: Path):
    corpus = tmp_path / "corpus" / "claude-code"
    corpus.mkdir(parents=True)
    shutil.copy(CORPUS / "claude-code" / "subagent.jsonl", corpus)
    report, printed = run_bench("--skip", "overhead", "--corpus", str(corpus.parent), "--json", str(tmp_path / "out.json"))
    default, stage1 = report["savings"].values()
    assert default[-1]["format"] == stage1[-1]["format"] == "total"
    assert default[-1]["results"] == stage1[-1]["results"] > 0
    assert stage1[-1]["trimmed"] >= default[-1]["trimmed"] > 0
    assert stage1[-1]["shown_tokens"] < stage1[-1]["original_tokens"]
    assert report["facts"] and set(report["recall"]) == {"off", "on"}
    for mode in ("off", "on"):
        (everything,) = [row for row in report["recall"][mode]["rows"] if row["kind"] == "all"]
        assert everything["facts"] == len(report["facts"])
        assert 0 <= everything["keyword_seq"] <= everything["keyword_copy"] <= 1
    assert "## 3. Recall of facts from trimmed regions" in printed
