"""The bench at smoke size: every section of the report is there and the figures are sane."""

from __future__ import annotations

import json

import pytest

from mcp_arena.cli.main import main
from mcp_arena.lab.bench import OPERATIONS, TARGETS, percentile, split_guides


def test_percentile_is_nearest_rank():
    samples = [float(v) for v in range(1, 101)]
    assert percentile(samples, 50) == 50.0 and percentile(samples, 95) == 95.0 and percentile(samples, 99) == 99.0
    assert percentile([3.0], 99) == 3.0


def test_guides_are_split_from_the_result_body():
    body, guides = split_guides("Tagged 'a' at seq 3.\n\n--- skill: tag-and-squash (guide) ---\nguide\n--- end skill: tag-and-squash ---")
    assert body == "Tagged 'a' at seq 3." and guides.startswith("\n\n--- skill: tag-and-squash")
    assert split_guides("no guide") == ("no guide", "")


@pytest.mark.slow
def test_smoke_bench_writes_every_section(home, tmp_path, capsys):
    assert main(["bench", "--smoke", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    sections = {"ingestion", "storage", "embedding", "vectors", "latency", "squash_vs_range", "summary_update", "cold_start", "surface", "targets"}
    assert sections <= set(report)
    latency = report["latency"][0]
    assert set(latency["tools"]) == set(OPERATIONS)
    for figures in latency["tools"].values():
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
        assert figures["p50_over_echo"] > 0 and figures["p95_over_echo"] > 0
    assert latency["echo_floor"]["p50_ms"] > 0
    assert latency["protocol_tools_list"]["p50_ms"] > 0 and latency["server_peak_rss_mb"] > 0
    tokens = latency["tokens"]
    assert set(tokens) == {*OPERATIONS, "squash"}
    assert 0 < tokens["tag"]["body_max"] <= 100 and 0 < tokens["artifact_index record"]["body_max"] <= 100
    assert tokens["artifact_index trail"]["body_max"] <= report["config"]["budgets"]["artifact_max_tokens"]
    assert tokens["context_status"]["guided_calls"] >= 1 and tokens["context_status"]["guide_max"] > 0  # the first call's guide
    assert report["cold_start"]["initialize_s"] < report["cold_start"]["first_call_s"] <= report["cold_start"]["first_memory_search_s"]
    assert report["cold_start"]["echo_first_call_s"] > 0
    assert report["ingestion"]["events_per_s"] > 0 and report["embedding"]["events"] == 50
    assert report["cold_start"]["initialize_s"] < report["cold_start"]["first_memory_search_s"]
    assert 0 < report["surface"]["total_tokens"] < 5_000
    buried = report["buried"][0]  # smoke: 3 facts in 2k-3k-token results, found by two of their words
    assert buried["facts"] == 3 and buried["keyword_recall"] == 1.0 and buried["paraphrase_recall"] is not None
    assert [t["key"] for t in report["targets"]] == [key for key, *_ in TARGETS]
    markdown = (tmp_path / "bench.md").read_text()
    assert "## Targets" in markdown and "## Targets" in capsys.readouterr().out
    assert "## Tokens per result" in markdown and "echo (plain SDK server)" in markdown
