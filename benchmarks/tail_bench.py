"""Throughput and memory of the live transcript feed on a ~100 MB Claude Code transcript.

    python benchmarks/tail_bench.py [--megabytes 100] [--keep DIR]

Writes a Claude-Code-shaped JSONL (user prompts, assistant turns split over
lines with usage, tool calls and results of varied sizes, progress lines) into
a temporary folder, then reads it twice: with `TranscriptTail` alone (lines/s,
MB/s) and with the whole live feed (`ClaudeCodeFeed`: tail + parser → events).
Peak RSS is the process maximum (`ru_maxrss`), measured before and after so
the reading's share is visible. The file is never read whole: memory should
stay flat whatever its size.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcp_arena.feeds.live import ClaudeCodeFeed  # noqa: E402
from mcp_arena.feeds.tail import TranscriptTail  # noqa: E402

SESSION = "bench-0000-4000-8000-000000000000"
WORDS = "the arena keeps a ledger of every tool call result and summary so the agent can squash".split()


def text_of(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def base_line(kind: str, rng: random.Random, clock: list[float]) -> dict:
    clock[0] += rng.uniform(0.1, 3.0)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(clock[0])) + ".000Z"
    return {
        "parentUuid": None,
        "isSidechain": False,
        "userType": "external",
        "cwd": "/home/bench/project",
        "sessionId": SESSION,
        "version": "2.1.38",
        "gitBranch": "main",
        "type": kind,
        "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
        "timestamp": stamp,
    }


def turn_lines(rng: random.Random, clock: list[float], turn: int, context: int) -> list[dict]:
    """One exchange: prompt, an assistant response over several lines, tool results, hook progress."""
    usage = {"input_tokens": 3, "cache_read_input_tokens": context, "cache_creation_input_tokens": 400, "output_tokens": 80}
    message_id = f"msg_{turn:012d}"
    prompt = base_line("user", rng, clock) | {"message": {"role": "user", "content": text_of(rng, 30)}}
    lines = [prompt]
    blocks = [{"type": "thinking", "thinking": text_of(rng, 60), "signature": "x" * 200}, {"type": "text", "text": text_of(rng, 40)}]
    calls = [f"toolu_{turn:08d}_{n}" for n in range(rng.randint(1, 3))]
    blocks += [{"type": "tool_use", "id": call, "name": "Bash", "input": {"command": text_of(rng, 8)}} for call in calls]
    for block in blocks:
        message = {"model": "claude-opus-4-6", "id": message_id, "type": "message", "role": "assistant", "content": [block], "usage": usage}
        lines.append(base_line("assistant", rng, clock) | {"message": message, "requestId": f"req_{turn:012d}"})
    for call in calls:
        lines.append(base_line("progress", rng, clock) | {"data": {"type": "hook_progress", "hookEvent": "PreToolUse"}, "toolUseID": call})
        output = text_of(rng, rng.choice([20, 200, 2000]))
        result = {"type": "tool_result", "tool_use_id": call, "content": output, "is_error": rng.random() < 0.1}
        lines.append(base_line("user", rng, clock) | {"message": {"role": "user", "content": [result]}})
    return lines


def write_transcript(path: Path, megabytes: float) -> int:
    rng = random.Random(7)
    clock = [1_760_000_000.0]
    target = int(megabytes * 1024 * 1024)
    written = lines = turn = 0
    with open(path, "w", encoding="utf-8") as handle:
        while written < target:
            for line in turn_lines(rng, clock, turn, context=20_000 + turn % 150_000):
                data = json.dumps(line, separators=(",", ":")) + "\n"
                handle.write(data)
                written += len(data.encode("utf-8"))
                lines += 1
            turn += 1
    return lines


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def measure(label: str, size_mb: float, read) -> None:
    started = time.perf_counter()
    count = read()
    elapsed = time.perf_counter() - started
    print(f"{label:<28} {count:>9} items  {elapsed:6.2f} s  {count / elapsed:>9.0f} /s  {size_mb / elapsed:6.1f} MB/s  peak RSS {peak_rss_mb():.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=100.0)
    parser.add_argument("--keep", type=Path, help="write the transcript here instead of a temporary folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{SESSION}.jsonl"
        lines = write_transcript(path, args.megabytes)
        size_mb = path.stat().st_size / (1024 * 1024)
        print(f"transcript: {size_mb:.1f} MB, {lines} lines  ({path})")
        print(f"peak RSS before reading: {peak_rss_mb():.0f} MB")
        measure("TranscriptTail (lines)", size_mb, lambda: sum(1 for _ in TranscriptTail(path).iter_new()))
        feed = ClaudeCodeFeed(path)

        def poll_all() -> int:
            total = 0
            while batch := feed.poll(max_lines=5_000):
                total += len(batch)
            return total

        measure("ClaudeCodeFeed (events)", size_mb, poll_all)


if __name__ == "__main__":
    main()
