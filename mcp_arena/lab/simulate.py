"""Context-policy simulator: replay a transcript's turns under several context policies.

    mcp-arena simulate PATH… [--policy none,host95,arena] [--window auto|N] [--cache-weight 0.1] [--out DIR]

A turn is one model request (`feeds.turns`). The context is a list of blocks —
the tokens added between two requests — behind a fixed system prefix. For
Claude Code the per-request prompt size is exact (`message.usage`, read by
`feeds.claude_code.context_tokens`: input + cache read + cache creation), and
a block is the growth between two requests; for SWE-agent and OpenHands the
prompt is estimated by counting the tokens of the messages (o200k_base), and
the output says so. A turn opens a task when a user request
(`feeds.turns.is_user_request`) came before it.

Policies:

- `none`: no management; the context grows (turns over the window are counted).
- `host95`: host compaction when a request would pass 95% of the window: the
  whole context becomes one host summary; the cache keeps only the system prefix.
- `arena`: tag at each user request (and after `tag_after_steps` turns); when
  usage passes the Goldilocks zone (70%), squash from the latest tag that brings
  usage back to the middle of the zone (else the earliest): the range becomes
  one summary block and everything before the tag stays a cached prefix. Stages
  as the safety net: at 80% the oldest raw blocks are soft-trimmed to a quarter;
  at 95% a host compaction still happens.

Per policy: peak usage, compactions (and squashes / trims), prompt-cache hit
ratio (tokens of each request that repeat the previous request's prefix / all
prompt tokens) and total input tokens with cached tokens weighted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_arena.core.events import EventDraft
from mcp_arena.feeds.claude_code import context_tokens
from mcp_arena.feeds.turns import is_user_request, opens_turn

if TYPE_CHECKING:
    from mcp_arena.config import Settings as ArenaSettings  # `Settings` below are the simulation's

POLICIES = ("none", "host95", "arena")
HOST_THRESHOLD = 0.95
ZONE_HIGH, ZONE_MIDDLE, STAGE1 = 0.70, 0.55, 0.80
TRIM_KEEP = 0.25
ESTIMATED_NOTE = "prompt sizes estimated by counting the messages' tokens (o200k_base); the transcript logs no usage"
EXACT_NOTE = "prompt sizes exact from the transcript's per-request usage (input + cache read + cache creation)"


@dataclass(frozen=True)
class Turn:
    added: int  # tokens added to the context since the previous request
    opens_task: bool  # the block starts with a user request
    logged_prompt: int | None = None  # the host's real prompt size, when the transcript logs it
    logged_cached: int | None = None


@dataclass
class Workload:
    label: str
    session: str
    system: int  # fixed prefix (system prompt + tools) before the first block
    turns: list[Turn]
    exact: bool
    logged_compactions: int = 0


@dataclass
class Block:
    id: int
    tokens: int
    kind: str = "raw"  # raw | summary | trimmed


@dataclass
class Outcome:
    policy: str
    usage: list[int] = field(default_factory=list)
    cached: list[int] = field(default_factory=list)
    compactions: int = 0
    squashes: int = 0
    trims: int = 0


# -- turns from a transcript ---------------------------------------------------------------------


def workload(label: str, session: str, drafts: list[EventDraft], count: Callable[[str], int]) -> Workload:
    """The turns of a session, each sized by its logged usage when the transcript has it (Claude Code),
    else by the tokens of the events since the previous turn."""
    exact = any(isinstance(d.meta.get("usage"), dict) and not d.meta.get("sidechain") for d in drafts)
    turns: list[Turn] = []
    pending, opens, previous_prompt, previous_message = 0, False, None, None
    system = 0
    for draft in drafts:
        if draft.meta.get("sidechain"):
            continue  # a subagent's turns run in its own context window
        if opens_turn(draft, previous_message):
            previous_message = draft.meta.get("message_id")
            usage = draft.meta.get("usage") if exact else None
            prompt = context_tokens(usage) if usage else None
            if prompt is not None and previous_prompt is None:
                system = max(prompt - pending, 0)
            added = prompt - previous_prompt if prompt is not None and previous_prompt is not None and prompt >= previous_prompt else pending
            cached = usage.get("cache_read_input_tokens") if usage else None
            turns.append(Turn(added=added, opens_task=opens, logged_prompt=prompt, logged_cached=cached))
            previous_prompt = prompt if prompt is not None else previous_prompt
            pending, opens = 0, False
        opens = opens or is_user_request(draft)
        pending += count(draft.text)
    compactions = sum(1 for d in drafts if d.kind == "compaction")
    return Workload(label, session, system, turns, exact, compactions)


# -- policies ----------------------------------------------------------------------------------------


@dataclass
class Settings:
    window: int
    host_summary_tokens: int = 3_000
    squash_summary_tokens: int = 500
    tag_after_steps: int = 25


def run_policy(policy: str, work: Workload, settings: Settings) -> Outcome:
    outcome = Outcome(policy)
    blocks: list[Block] = []
    tags: list[int] = []  # block ids where a tag sits (the tag is before that block)
    previous: list[Block] = []
    since_tag = 0
    for number, turn in enumerate(work.turns):
        block = Block(number, turn.added)
        if turn.opens_task or since_tag >= settings.tag_after_steps:
            tags.append(block.id)
            since_tag = 0
        blocks.append(block)
        since_tag += 1
        if policy == "host95":
            blocks = _host_compaction(blocks, work, settings, outcome)
        elif policy == "arena":
            blocks = _arena(blocks, tags, work, settings, outcome)
            blocks = _host_compaction(blocks, work, settings, outcome)
        outcome.usage.append(work.system + sum(b.tokens for b in blocks))
        outcome.cached.append(_cached(previous, blocks, work.system, number))
        previous = [Block(b.id, b.tokens, b.kind) for b in blocks]
    return outcome


def _host_compaction(blocks: list[Block], work: Workload, settings: Settings, outcome: Outcome) -> list[Block]:
    held = sum(b.tokens for b in blocks)
    if work.system + held <= HOST_THRESHOLD * settings.window or held <= settings.host_summary_tokens:
        return blocks
    outcome.compactions += 1
    return [Block(-1 - outcome.compactions, settings.host_summary_tokens, "summary")]


def _arena(blocks: list[Block], tags: list[int], work: Workload, settings: Settings, outcome: Outcome) -> list[Block]:
    used = work.system + sum(b.tokens for b in blocks)
    if used > ZONE_HIGH * settings.window:
        blocks = _squash(blocks, tags, used, settings, outcome)
        used = work.system + sum(b.tokens for b in blocks)
    if used > STAGE1 * settings.window:
        blocks = _soft_trim(blocks, used - int(ZONE_HIGH * settings.window), outcome)
    return blocks


def _squash(blocks: list[Block], tags: list[int], used: int, settings: Settings, outcome: Outcome) -> list[Block]:
    """Squash from the latest tag that brings usage to the middle of the zone, else from the earliest usable one."""
    positions = {b.id: i for i, b in enumerate(blocks)}
    starts = [positions[t] for t in tags if t in positions and blocks[positions[t]].kind == "raw"]
    starts = [s for s in starts if sum(b.tokens for b in blocks[s:]) > settings.squash_summary_tokens]
    if not starts:
        tags.append(blocks[-1].id)  # context_status says "tag now" when there is nothing to squash
        return blocks
    target = ZONE_MIDDLE * settings.window
    fitting = [s for s in starts if used - sum(b.tokens for b in blocks[s:]) + settings.squash_summary_tokens <= target]
    start = max(fitting) if fitting else min(starts)
    outcome.squashes += 1
    summary = Block(blocks[start].id, settings.squash_summary_tokens, "summary")
    tags[:] = [t for t in tags if t not in {b.id for b in blocks[start + 1 :]}]
    return blocks[:start] + [summary]


def _soft_trim(blocks: list[Block], excess: int, outcome: Outcome) -> list[Block]:
    trimmed = []
    for block in blocks:
        if excess > 0 and block.kind == "raw" and block is not blocks[-1]:
            kept = int(block.tokens * TRIM_KEEP)
            excess -= block.tokens - kept
            outcome.trims += 1
            block = Block(block.id, kept, "trimmed")
        trimmed.append(block)
    return trimmed


def _cached(previous: list[Block], current: list[Block], system: int, number: int) -> int:
    """Tokens of this request that repeat the previous request's prefix (the system prefix counts after turn 1)."""
    if number == 0:
        return 0
    cached = system
    for before, now in zip(previous, current):
        if (before.id, before.tokens, before.kind) != (now.id, now.tokens, now.kind):
            break
        cached += now.tokens
    return cached


# -- figures ---------------------------------------------------------------------------------------


def figures(outcome: Outcome, work: Workload, settings: Settings, cache_weight: float) -> dict[str, Any]:
    prompt = sum(outcome.usage)
    cached = sum(outcome.cached)
    peak = max(outcome.usage, default=0)
    return {
        "policy": outcome.policy,
        "peak_tokens": peak,
        "peak_pct": round(100 * peak / settings.window, 1),
        "over_window_turns": sum(1 for u in outcome.usage if u > settings.window),
        "compactions": outcome.compactions,
        "squashes": outcome.squashes,
        "trims": outcome.trims,
        "cache_hit_ratio": round(cached / prompt, 3) if prompt else 0.0,
        "input_tokens": prompt,
        "weighted_input_tokens": round(prompt - cached + cache_weight * cached),
    }


def logged_figures(work: Workload, settings: Settings, cache_weight: float) -> dict[str, Any] | None:
    """The host's own figures as the transcript logged them (Claude Code only)."""
    if not work.exact:
        return None
    prompts = [t.logged_prompt or 0 for t in work.turns]
    cached = [t.logged_cached or 0 for t in work.turns]
    total = sum(prompts)
    return {
        "policy": "logged (host, as recorded)",
        "peak_tokens": max(prompts, default=0),
        "peak_pct": round(100 * max(prompts, default=0) / settings.window, 1),
        "over_window_turns": sum(1 for p in prompts if p > settings.window),
        "compactions": work.logged_compactions,
        "squashes": 0,
        "trims": 0,
        "cache_hit_ratio": round(sum(cached) / total, 3) if total else 0.0,
        "input_tokens": total,
        "weighted_input_tokens": round(total - sum(cached) + cache_weight * sum(cached)),
    }


def auto_window(work: Workload) -> int:
    """The fixed prefix plus half the conversation's growth (at least 1,000), so that every policy has to act."""
    return max(1_000, work.system + sum(t.added for t in work.turns) // 2)


def simulate(work: Workload, policies: list[str], window: int, cache_weight: float) -> dict[str, Any]:
    settings = Settings(window=window)
    outcomes = [run_policy(p, work, settings) for p in policies]
    rows = [figures(o, work, settings, cache_weight) for o in outcomes]
    logged = logged_figures(work, settings, cache_weight)
    return {
        "file": work.label,
        "session": work.session,
        "turns": len(work.turns),
        "window_tokens": window,
        "system_tokens": work.system,
        "cache_weight": cache_weight,
        "note": EXACT_NOTE if work.exact else ESTIMATED_NOTE,
        "rows": rows + ([logged] if logged else []),
        "usage": {o.policy: o.usage for o in outcomes},
    }


def render_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"### {result['file']} [{result['session']}] — {result['turns']} turns, window {result['window_tokens']:,} tokens",
        f"({result['note']}; cached tokens weighted {result['cache_weight']})",
        "",
        "| policy | peak | peak % | turns over window | compactions | squashes | trims | cache hit ratio | input tokens | weighted input |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['policy']} | {r['peak_tokens']:,} | {r['peak_pct']} | {r['over_window_turns']} | {r['compactions']} | "
            f"{r['squashes']} | {r['trims']} | {r['cache_hit_ratio']:.3f} | {r['input_tokens']:,} | {r['weighted_input_tokens']:,} |"
        )
    return "\n".join(lines) + "\n"


def chart(result: dict[str, Any], path: Path) -> bool:
    """A PNG of usage over turns per policy; False when matplotlib (the `plot` extra) is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(figsize=(8, 4), dpi=100)
    for policy, usage in result["usage"].items():
        axes.plot(range(1, len(usage) + 1), usage, label=policy, linewidth=1.5)
    axes.axhline(result["window_tokens"], color="grey", linestyle="--", linewidth=1, label="window")
    axes.set_xlabel("turn")
    axes.set_ylabel("context tokens")
    axes.set_title(f"{result['file']}: context usage per policy")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, metadata={"Software": None})
    plt.close(figure)
    return True


# -- the command ----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="transcript files (Claude Code, SWE-agent, OpenHands) or gen:N")
    parser.add_argument("--policy", default=",".join(POLICIES), help=f"comma-separated policies among {', '.join(POLICIES)}")
    parser.add_argument("--window", default="auto", help="context window: 'auto' (system prefix + half the growth) or tokens")
    parser.add_argument("--cache-weight", type=float, default=0.1, help="cost of a cached input token relative to an uncached one")
    parser.add_argument("--out", type=Path, help="folder for simulate.json and one PNG chart per session")


def run(args: argparse.Namespace, _settings: ArenaSettings) -> int:
    from mcp_arena.core.tokens import TokenCounter
    from mcp_arena.lab.workload import sources

    policies = [p.strip() for p in args.policy.split(",") if p.strip()]
    unknown = [p for p in policies if p not in POLICIES]
    if unknown or not policies:
        print(f"mcp-arena: unknown policy {', '.join(unknown) or '(none)'}; use {', '.join(POLICIES)}", file=sys.stderr)
        return 2
    count = TokenCounter().count
    results = []
    for path in args.paths:
        for label, session, drafts in sources(path):
            work = workload(label, session, drafts, count)
            window = auto_window(work) if args.window == "auto" else int(args.window)
            results.append(simulate(work, policies, window, args.cache_weight))
    sys.stdout.write("\n".join(render_markdown(r) for r in results))
    if args.out:
        _write(args.out, results)
    return 0


def _write(out: Path, results: list[dict[str, Any]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "simulate.json").write_text(json.dumps(results, indent=2, sort_keys=True))
    for number, result in enumerate(results):
        name = f"simulate-{number:02d}-{Path(result['file']).stem[:40].replace(':', '-')}.png"
        if not chart(result, out / name):
            print("mcp-arena: matplotlib is not installed (pip install 'mcp-arena[plot]'); no chart written", file=sys.stderr)
            return
