"""How big tool results are, by kind, and what a trim budget would cut: the numbers behind `core/shape.py`'s budgets.

Reads every tool result of the public corpus (tests/fixtures/corpus: Claude Code
JSONL, SWE-agent .traj, OpenHands events) through the feeds' parsers, pairs it
with its call's arguments, classifies it with `mcp_arena.core.shape.classify`
and prints per kind: count, o200k token percentiles, and for candidate budgets
the share of results the real `trim` cuts and the share of that kind's tokens
it keeps out of the context.

    .venv/bin/python benchmarks/shape_corpus.py [--corpus DIR] [--all] [--tools]

Identical results (the same tool and text, e.g. the nine marshmallow
demonstrations that replay one session) are counted once unless --all.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mcp_arena.core.shape import DEFAULT_BUDGETS, KINDS, classify, head_share
from mcp_arena.core.tokens import TokenCounter
from mcp_arena.core.trim import trim
from mcp_arena.feeds.formats import read_sessions

DEFAULT_CORPUS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "corpus"
TRANSCRIPT_SUFFIXES = (".jsonl", ".json", ".traj")
CANDIDATE_BUDGETS = (500, 1_000, 2_000, 3_000, 4_000, 6_000, 8_000)
PERCENTILES = (50, 90, 95, 99)
PAGE_CALL = {"tool": "memory_search", "arguments": {"page": 1, "seq": 123_456}}


@dataclass(frozen=True)
class Result:
    kind: str
    tool: str
    text: str
    tokens: int


def tool_results(corpus: Path) -> Iterator[tuple[str, dict, str]]:
    """(tool, call arguments, result text) of every tool result in the corpus, in file order."""
    for path in sorted(corpus.rglob("*")):
        if path.suffix not in TRANSCRIPT_SUFFIXES:
            continue
        for _session, events in read_sessions(path):
            arguments_by_call: dict[str, dict] = {}
            for event in events:
                if event.kind == "tool_call":
                    arguments_by_call[event.call_id] = _arguments(event.text)
                elif event.kind == "tool_result":
                    yield event.tool, arguments_by_call.get(event.call_id, {}), event.text


def _arguments(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def collect(corpus: Path, count, keep_duplicates: bool) -> list[Result]:
    seen: set[tuple[str, str]] = set()
    results = []
    for tool, arguments, text in tool_results(corpus):
        if not keep_duplicates and (tool, text) in seen:
            continue
        seen.add((tool, text))
        results.append(Result(classify(tool, arguments), tool, text, count(text)))
    return results


def percentile(sorted_values: list[int], p: int) -> int:
    """Nearest-rank percentile: deterministic, an actual value of the list."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def cut_by(results: list[Result], budget: int, count) -> tuple[float, float]:
    """(share of results trimmed, share of their tokens kept out) under `budget`."""
    total = sum(r.tokens for r in results)
    trimmed = kept_out = 0
    for result in results:
        shaped = trim(result.text, budget, count, PAGE_CALL, head_share(result.kind))
        if shaped is not None:
            trimmed += 1
            kept_out += shaped.tokens - shaped.shown_tokens
    return trimmed / len(results), (kept_out / total if total else 0.0)


def print_sizes(by_kind: dict[str, list[Result]]) -> None:
    header = f"{'kind':8} {'n':>4} " + " ".join(f"{'p' + str(p):>6}" for p in PERCENTILES) + f" {'max':>6} {'tokens':>8}"
    print(header)
    for kind in KINDS:
        values = sorted(r.tokens for r in by_kind.get(kind, []))
        if not values:
            print(f"{kind:8} {0:>4}")
            continue
        cells = " ".join(f"{percentile(values, p):>6,}" for p in PERCENTILES)
        print(f"{kind:8} {len(values):>4} {cells} {values[-1]:>6,} {sum(values):>8,}")


def print_cuts(by_kind: dict[str, list[Result]], count) -> None:
    print("\nshare of results trimmed / share of the kind's tokens kept out, by budget (tokens):")
    print(f"{'kind':8} " + " ".join(f"{budget:>13,}" for budget in CANDIDATE_BUDGETS) + f" {'default':>21}")
    for kind in KINDS:
        results = by_kind.get(kind, [])
        if not results:
            continue
        cells = []
        for budget in CANDIDATE_BUDGETS:
            trimmed, kept_out = cut_by(results, budget, count)
            cells.append(f"{trimmed:>6.1%}/{kept_out:>6.1%}")
        default = DEFAULT_BUDGETS.tokens_for(kind)
        trimmed, kept_out = cut_by(results, default, count)
        print(f"{kind:8} " + " ".join(cells) + f" {default:>6,}: {trimmed:>6.1%}/{kept_out:>6.1%}")


def print_pressure(by_kind: dict[str, list[Result]], count) -> None:
    print(f"\npast stage 1 (usage {DEFAULT_BUDGETS.stage1:.0%}): budgets x{DEFAULT_BUDGETS.pressure_factor}")
    for kind in KINDS:
        results = by_kind.get(kind, [])
        if results:
            budget = DEFAULT_BUDGETS.tokens_for(kind, DEFAULT_BUDGETS.stage1)
            trimmed, kept_out = cut_by(results, budget, count)
            print(f"{kind:8} {budget:>6,}: {trimmed:>6.1%} trimmed, {kept_out:>6.1%} of tokens kept out")


def print_tools(results: list[Result]) -> None:
    print("\nby tool (kind, n, max tokens):")
    by_tool: dict[tuple[str, str], list[int]] = defaultdict(list)
    for result in results:
        by_tool[(result.kind, result.tool)].append(result.tokens)
    for (kind, tool), values in sorted(by_tool.items()):
        print(f"  {kind:8} {tool:20} {len(values):>4} {max(values):>7,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--all", action="store_true", help="count identical results every time they occur")
    parser.add_argument("--tools", action="store_true", help="also list sizes by tool")
    options = parser.parse_args()
    count = TokenCounter("o200k_base").count
    results = collect(options.corpus, count, options.all)
    by_kind: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        by_kind[result.kind].append(result)
    duplicates = "with duplicates" if options.all else "identical results once"
    print(f"{len(results)} tool results ({duplicates}), o200k tokens\n")
    print_sizes(by_kind)
    print_cuts(by_kind, count)
    print_pressure(by_kind, count)
    if options.tools:
        print_tools(results)


if __name__ == "__main__":
    main()
