"""The bench at smoke size: every section of the report is there and the figures are sane."""

from __future__ import annotations

import json

import pytest

from mcp_arena.cli.main import main
from mcp_arena.lab.bench import TARGETS, TOOLS, percentile


def test_percentile_is_nearest_rank():
    samples = [float(v) for v in range(1, 101)]
    assert percentile(samples, 50) == 50.0 and percentile(samples, 95) == 95.0 and percentile(samples, 99) == 99.0
    assert percentile([3.0], 99) == 3.0


@pytest.mark.slow
def test_smoke_bench_writes_every_section(home, tmp_path, capsys):
    assert main(["bench", "--smoke", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    sections = {"ingestion", "storage", "embedding", "vectors", "latency", "squash_vs_range", "summary_update", "cold_start", "surface", "targets"}
    assert sections <= set(report)
    latency = report["latency"][0]
    assert set(latency["tools"]) == set(TOOLS)
    for figures in latency["tools"].values():
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
    assert latency["protocol_tools_list"]["p50_ms"] > 0 and latency["server_peak_rss_mb"] > 0
    assert report["ingestion"]["events_per_s"] > 0 and report["embedding"]["events"] == 50
    assert report["cold_start"]["initialize_s"] < report["cold_start"]["first_memory_search_s"]
    assert 0 < report["surface"]["total_tokens"] < 5_000
    assert [t["key"] for t in report["targets"]] == [key for key, *_ in TARGETS]
    assert "## Targets" in (tmp_path / "bench.md").read_text() and "## Targets" in capsys.readouterr().out
