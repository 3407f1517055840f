"""Recall of facts buried in long results: the bench's measure of search that sees the whole result.

    python -m mcp_arena.lab.buried --home DIR [--sizes 10000,100000] [--out DIR]

A session of N events: the bench's generated agent session (`workload.generated_session`),
with long tool results of 2k–20k tokens (o200k) put in at random places, each a realistic
log or file (a pytest run, a server log, a source file read with line numbers, a build log,
`git log`, a JSON dump). Half of them carry one fact (`PROBES`), planted as a line of the
result's own shape at a random depth; the other half carry none (long distractors). Each
fact is asked for twice through the engine's search (`SearchRuntime.search`, as
memory_search asks it, limit 5):

- paraphrased: the question in other words than the fact (most of its words absent from it);
- keywords: two of the fact's own rare words (what full text must always find).

recall@5 = the share of facts whose event is among the 5 hits; the report also says how
often the hit's snippet shows the fact (both keywords), and the vector leg's ceiling: the
share of facts whose sentence, were it an event of its own, would be among the vector leg's
top 5 (no burying, no fusion): what chunking can give back to that leg at best. Everything is seeded: the same
size gives the same session, the same depths, the same figures on the same code.

The events get real vectors (the catch-up embeds them all, chunks included), unlike the
latency sessions, whose vectors are random: recall depends on the values. Building 100,000
events takes ~10–20 min on 2 cores; a session already built in the home is reused (checked
by its event count), so pass `--home` to build once and measure again.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_arena.core.events import EventDraft

# (fact as the result states it, the question in other words, two of the fact's rare words)
PROBES: tuple[tuple[str, str, str], ...] = (
    ("Wrapped the HTTP client so it waits longer and longer between attempts when the payment gateway answers 503.",
     "retry with exponential backoff for the flaky upstream", "gateway 503"),
    ("The nightly invoice cron now fires at two in the morning UTC instead of midnight.",
     "when does the scheduled billing job run", "invoice cron"),
    ("Passwords are hashed with argon2id, memory cost 64 MiB, three iterations.",
     "which algorithm protects stored user credentials", "argon2id passwords"),
    ("We cache product pages in Redis for ten minutes and purge on every price change.",
     "how long are catalogue views kept in memory store", "product purge"),
    ("Rolled back the deploy because the new container image could not reach the database.",
     "why did we revert the release", "container rolled"),
    ("The flaky test was caused by two workers writing the same temp directory at once.",
     "race condition behind the intermittent failure", "workers temp directory"),
    ("Switched logging to one JSON object per line with a request identifier on each record.",
     "structured logs with correlation id", "identifier record"),
    ("Customer emails are now sent through a background queue so checkout returns faster.",
     "made order confirmation messages asynchronous", "customer emails"),
    ("Memory usage grew without bound because the image thumbnails were never released.",
     "leak in picture preview generation", "thumbnails released"),
    ("Decided to keep the old coupon codes working until marketing confirms the new scheme.",
     "legacy discount vouchers remain valid for now", "coupon marketing"),
    ("Added a composite index on orders by customer and creation date; the monthly report went from 40 s to 2 s.",
     "speed up the slow sales summary query", "composite index"),
    ("The mobile cart layout broke because of fixed pixel widths; replaced with a flexible grid.",
     "responsive design fix for phone basket page", "pixel widths"),
    ("Uploads larger than 25 megabytes are rejected by the proxy before they reach the app.",
     "maximum attachment size limit", "uploads megabytes"),
    ("Time zones were wrong in reports because timestamps were stored without offset.",
     "naive datetimes caused incorrect hours in exports", "zones offset"),
    ("API tokens now expire after thirty days and can be revoked from the settings page.",
     "lifetime of access keys and how to invalidate them", "tokens revoked"),
    ("The search page was slow because every keystroke triggered a request; added a 300 ms debounce.",
     "throttle lookups while the user types", "keystroke debounce"),
    ("Feature flags live in a YAML file that is reloaded when it changes on disk.",
     "toggle configuration hot reload", "feature flags"),
    ("Dependabot pull requests are merged automatically when the test suite is green.",
     "auto-approve library upgrade PRs", "dependabot merged"),
    ("The PDF export used the wrong font so Chinese characters rendered as boxes.",
     "CJK glyphs missing in generated documents", "font chinese"),
    ("Database backups run every six hours and are kept for two weeks in cold storage.",
     "snapshot schedule and retention", "backups cold"),
    ("Shipping costs are computed from the parcel weight in grams, rounded up to the next 500 g band.",
     "how is the delivery price calculated", "parcel grams"),
    ("Guest users may check out without an account, but their carts expire after 48 hours.",
     "can people buy without registering", "guest account"),
    ("The warehouse sync runs through an SFTP drop that the vendor polls every fifteen minutes.",
     "how does stock data reach the supplier", "warehouse sftp"),
    ("Refunds above 500 euros need a second approval from a finance lead before they are paid out.",
     "extra sign-off for large money returns", "refunds approval"),
)

MODULES = ("checkout", "orders", "payments", "catalog", "accounts", "shipping", "search", "reports")
FUNCS = ("compute_total", "apply_discount", "refund_order", "serialize_cart", "load_user", "render_invoice",
         "validate_address", "charge_card", "send_receipt", "list_orders", "parse_query", "rotate_token")
NAMES = ("Ana Ruiz", "Tom Becker", "Li Wei", "Sam Okafor", "Priya Nair", "Jonas Berg")
WORDS = ("cache", "retry", "handler", "session", "payload", "schema", "client", "worker", "config", "token",
         "request", "response", "index", "record", "queue", "timeout", "buffer", "stream", "parser", "router")
PATHS = ("/api/orders", "/api/cart", "/api/products", "/api/users/me", "/health", "/api/checkout", "/static/app.js")
LONG_MIN_TOKENS, LONG_MAX_TOKENS = 2_000, 20_000


@dataclass(frozen=True)
class Planted:
    seq: int
    fact: str
    paraphrase: str
    keywords: str
    tokens: int  # o200k tokens of the result that holds it
    depth: float  # where in the result the fact sits: 0 = first line, 1 = last


# -- realistic long results ---------------------------------------------------------------------------
# Each shape makes one line at a time (from the seeded rng) and says how the fact reads as its line.


def _pytest_line(rng: random.Random, n: int) -> str:
    module, func = rng.choice(MODULES), rng.choice(FUNCS)
    roll = rng.random()
    if roll < 0.8:
        test = f"tests/test_{module}.py::test_{func}_{rng.randint(1, 60)}"
        return f"{test} {'PASSED' if rng.random() < 0.93 else 'FAILED'} [{rng.randint(1, 99):3d}%]"
    if roll < 0.9:
        where = f"/usr/lib/python3.11/site-packages/{rng.choice(WORDS)}/__init__.py:{rng.randint(10, 900)}"
        return f"  {where}: DeprecationWarning: {rng.choice(WORDS)}() is deprecated"
    return f"E       AssertionError: assert {rng.randint(0, 999)} == {rng.randint(0, 999)} in {func}"


def _server_line(rng: random.Random, n: int) -> str:
    stamp = f"2026-03-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z"
    level = rng.choices(("INFO", "DEBUG", "WARN", "ERROR"), (60, 30, 8, 2))[0]
    if rng.random() < 0.7:
        worker = f"[worker-{rng.randint(1, 8)}]"
        request = f"{rng.choice(('GET', 'POST', 'PUT'))} {rng.choice(PATHS)}/{rng.randint(1, 9999)}"
        return f"{stamp} {level:5} {worker} {request} {rng.choice((200, 200, 201, 204, 404, 500))} {rng.randint(2, 900)}ms"
    return f"{stamp} {level:5} [{rng.choice(WORDS)}] {rng.choice(WORDS)} {rng.choice(('opened', 'closed', 'refreshed', 'evicted'))} id={rng.getrandbits(48):x}"


def _source_line(rng: random.Random, n: int) -> str:
    func, word = rng.choice(FUNCS), rng.choice(WORDS)
    body = rng.choice((
        f"def {func}(self, {word}: dict[str, Any], *, strict: bool = False) -> {word.title()}:",
        f"    {word} = self._{word}s.get(key) or {word.title()}()",
        f"    if not {word}:",
        f"        raise ValueError(f\"missing {word} for {{key}}\")",
        f"    return {func}({word}, timeout={rng.randint(1, 30)})",
        f"    logger.debug(\"{func}: %s\", {word})",
        "",
        f"class {word.title()}{rng.choice(('Service', 'Repository', 'Handler'))}:",
        f"    \"\"\"Keeps the {word}s of one request together.\"\"\"",
    ))
    return f"{n + 1:6d}\t{body}"


def _build_line(rng: random.Random, n: int) -> str:
    roll = rng.random()
    if roll < 0.4:
        return f"Collecting {rng.choice(WORDS)}-{rng.choice(WORDS)}=={rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
    if roll < 0.7:
        return f"  Downloading {rng.choice(WORDS)}-{rng.randint(0, 9)}.{rng.randint(0, 30)}-py3-none-any.whl ({rng.randint(10, 900)} kB)"
    component = f"{rng.choice(WORDS).title()}{rng.choice(('View', 'List', 'Form'))}"
    return f"[build] src/components/{component}.tsx ({rng.uniform(1, 90):.1f} kB) {rng.choice(('[emitted]', '[built]', '[cached]'))}"


def _git_line(rng: random.Random, n: int) -> str:
    roll = n % 5
    if roll == 0:
        return f"commit {rng.getrandbits(160):040x}"
    if roll == 1:
        name = rng.choice(NAMES)
        return f"Author: {name} <{name.split()[0].lower()}@shop.example>"
    if roll == 2:
        return f"Date:   Mon Mar {rng.randint(1, 28)} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00 2026 +0100"
    if roll == 3:
        return f"    {rng.choice(('Fix', 'Refactor', 'Add', 'Update'))} {rng.choice(WORDS)} {rng.choice(WORDS)} in {rng.choice(MODULES)}/{rng.choice(FUNCS)}"
    return ""


def _json_line(rng: random.Random, n: int) -> str:
    key = rng.choice(WORDS) + "_" + rng.choice(("id", "count", "status", "url", "ttl"))
    value = rng.choice((str(rng.randint(0, 99999)), f"\"{rng.choice(WORDS)}-{rng.getrandbits(32):08x}\"", "true", "null"))
    return f"    \"{key}\": {value},"


SHAPES: dict[str, tuple[str, str, Callable[[random.Random, int], str], Callable[[str], str]]] = {
    # name: (tool, command or path it answers, one line, how the fact reads as a line)
    "pytest": ("Bash", "pytest -v tests/", _pytest_line, lambda fact: f"INFO     notes:notes.py:12 {fact}"),
    "server": ("Bash", "docker compose logs web --since 24h", _server_line, lambda fact: f"2026-03-14T09:12:44.201Z INFO  [ops] {fact}"),
    "source": ("Read", "shop/services.py", _source_line, lambda fact: f"# {fact}"),
    "build": ("Bash", "pip install -r requirements.txt && npm run build", _build_line, lambda fact: f"note: {fact}"),
    "git": ("Bash", "git log -n 400", _git_line, lambda fact: f"    {fact}"),
    "json": ("Bash", "curl -s localhost:8000/api/debug/state", _json_line, lambda fact: f"    \"note\": {json.dumps(fact)},"),
}


def long_result(rng: random.Random, shape: str, tokens: int, fact: str | None, count: Callable[[str], int]) -> tuple[str, float]:
    """A result of `shape` of about `tokens` tokens, with `fact` as one of its lines at a random depth
    (returned, 0..1; -1 without a fact)."""
    _, _, line, as_line = SHAPES[shape]
    lines: list[str] = []
    total = 0
    while total < tokens:
        text = line(rng, len(lines))
        lines.append(text)
        total += count(text) + 1
    if fact is None:
        return "\n".join(lines), -1.0
    at = rng.randint(0, len(lines))
    lines.insert(at, as_line(fact))
    if shape == "source":  # keep the line numbers of a read file in order
        lines = [f"{i + 1:6d}\t{text.split(chr(9), 1)[-1]}" for i, text in enumerate(lines)]
    return "\n".join(lines), at / len(lines)


# -- the session ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Long:
    at: int  # index in the drafts before which the call and its result go
    shape: str
    tokens: int
    probe: int  # index in PROBES, or -1: a long distractor


def plan(events: int, seed: int, probes: int, tokens: tuple[int, int] = (LONG_MIN_TOKENS, LONG_MAX_TOKENS)) -> list[_Long]:
    """Where the long results go, their shapes and sizes (log-uniform in `tokens`, 2k–20k by default)."""
    rng = random.Random(seed)
    low, high = tokens
    longs = 2 * probes
    places = sorted(rng.sample(range(events - 2 * longs), longs))
    kinds = [i if i < probes else -1 for i in range(longs)]
    rng.shuffle(kinds)
    shapes = list(SHAPES)
    return [
        _Long(at, shapes[rng.randrange(len(shapes))], int(low * (high / low) ** rng.random()), probe)
        for at, probe in zip(places, kinds)
    ]


def buried_session(
    events: int, seed: int, count: Callable[[str], int], probes: int = len(PROBES), tokens: tuple[int, int] = (LONG_MIN_TOKENS, LONG_MAX_TOKENS)
) -> tuple[list[EventDraft], dict[int, tuple[int, float, int]]]:
    """`events` drafts: the generated agent session with 2 x `probes` long results put in (a call and its
    result each); {index of a result holding a fact: (probe, depth, tokens)}."""
    from mcp_arena.lab.workload import generated_session

    probes = min(probes, len(PROBES))
    longs = plan(events, seed, probes, tokens)
    base = generated_session(events - 2 * len(longs), seed=seed)
    rng = random.Random(seed + 1)
    drafts: list[EventDraft] = []
    planted: dict[int, tuple[int, float, int]] = {}
    taken = 0
    for number, long in enumerate(longs):
        drafts.extend(base[taken : long.at])
        taken = long.at
        tool, what, _, _ = SHAPES[long.shape]
        fact = PROBES[long.probe][0] if long.probe >= 0 else None
        text, depth = long_result(rng, long.shape, long.tokens, fact, count)
        call_id = f"long{number}"
        argument = {"file_path": what} if tool == "Read" else {"command": what}
        drafts.append(EventDraft(kind="tool_call", text=json.dumps(argument), tool=tool, call_id=call_id))
        if fact is not None:
            planted[len(drafts)] = (long.probe, depth, count(text))
        drafts.append(EventDraft(kind="tool_result", text=text, tool=tool, call_id=call_id))
    drafts.extend(base[taken:])
    return drafts, planted


# -- building and measuring through the engine ---------------------------------------------------------


def session_name(size: int) -> str:
    return f"bench-buried-{size}"


def build(
    arena: Any, size: int, seed: int, probes: int = len(PROBES), tokens: tuple[int, int] = (LONG_MIN_TOKENS, LONG_MAX_TOKENS), batch: int = 1_000
) -> tuple[list[Planted], dict[str, float]]:
    """The buried-fact session of `size` events in the arena's home (reused when already there, whole),
    embedded for real; the facts planted and what building took (`newest_seq` among it)."""
    drafts, planted = buried_session(size, seed, arena.count_tokens, probes, tokens)
    session = session_name(size)
    figures: dict[str, float] = {}
    started = time.perf_counter()
    existing = arena.store.events(session, columns=["seq"]) if arena.has_session(session) else []
    if existing and len(existing) != len(drafts):
        raise RuntimeError(f"session {session} holds {len(existing)} events, not {len(drafts)}: use a fresh --home")
    if not existing:
        arena.ensure_session(session, origin="import", label="bench buried facts")
        for start in range(0, len(drafts), batch):
            arena.append(session, drafts[start : start + batch])
        arena.store.flush()
    seqs = sorted(row["seq"] for row in arena.store.events(session, columns=["seq"]))
    figures["append_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    embedded = arena.search.index.catch_up(session)
    figures["embed_s"] = round(time.perf_counter() - started, 1)
    figures["embedded_events"] = embedded
    started = time.perf_counter()
    arena.store.maintain()
    figures["maintain_s"] = round(time.perf_counter() - started, 1)
    figures["newest_seq"] = seqs[-1]
    facts = [
        Planted(seqs[index], PROBES[probe][0], PROBES[probe][1], PROBES[probe][2], tokens, round(depth, 3))
        for index, (probe, depth, tokens) in sorted(planted.items())
    ]
    return facts, figures


def measure(arena: Any, size: int, facts: list[Planted], newest: int, limit: int = 5) -> dict[str, Any]:
    """recall@limit of the paraphrased and the keyword questions, through the engine's search."""
    session = session_name(size)
    rows = []
    for fact in facts:
        row: dict[str, Any] = {"seq": fact.seq, "tokens": fact.tokens, "depth": fact.depth}
        for label, query in (("paraphrase", fact.paraphrase), ("keywords", fact.keywords)):
            outcome = arena.search.search(
                session, query, limit=limit, scope="all", squashed_ranges=[], before_seq=newest, max_tokens=arena.settings.search_max_tokens
            )
            hit = next((h for h in outcome.hits if h.seq == fact.seq), None)
            row[label] = [h.seq for h in outcome.hits].index(fact.seq) + 1 if hit else 0
            row[f"{label}_snippet"] = hit is not None and _shows(hit.snippet, fact.keywords)
            row[f"{label}_via"] = list(hit.via) if hit else []
        row["alone"] = alone_rank(arena, session, fact)
        rows.append(row)
    found = {label: sum(1 for r in rows if r[label]) for label in ("paraphrase", "keywords")}
    return {
        "events": size,
        "facts": len(rows),
        "paraphrase_recall": round(found["paraphrase"] / len(rows), 3) if rows else None,
        "keyword_recall": round(found["keywords"] / len(rows), 3) if rows else None,
        "paraphrase_snippet_shows": sum(1 for r in rows if r["paraphrase_snippet"]),
        "paraphrase_ceiling": round(sum(1 for r in rows if r["alone"] <= limit) / len(rows), 3) if rows else None,
        "keyword_snippet_shows": sum(1 for r in rows if r["keywords_snippet"]),
        "result_tokens": [min(r["tokens"] for r in rows), max(r["tokens"] for r in rows)] if rows else [],
        "probes": rows,
    }


def alone_rank(arena: Any, session: str, fact: Planted, depth: int = 400) -> int:
    """Where the fact would rank in the vector leg were it an event of its own, unburied: 1 + the
    events of the session nearer the question than the fact's sentence alone (the model's ceiling)."""
    from lancedb.expr import col, lit

    vectors = arena.search.index.vectors
    query, sentence = vectors.embedder.embed([fact.paraphrase, fact.fact])
    own = float(query @ sentence)
    nearest = (
        vectors.table.search(query, vector_column_name="vector").distance_type("dot").nprobes(1_000_000)
        .where(col("session") == lit(session)).select(["seq", "_distance"]).limit(depth).to_arrow()
    )
    nearer = {seq for seq, distance in zip(nearest.column("seq").to_pylist(), nearest.column("_distance").to_pylist()) if 1 - distance > own}
    nearer.discard(fact.seq)
    return len(nearer) + 1


def _shows(snippet: str, keywords: str) -> bool:
    text = snippet.lower()
    return all(word.lower() in text for word in keywords.split())


def run(
    home: Path, sizes: tuple[int, ...], *, seed: int = 11, probes: int = len(PROBES), tokens: tuple[int, int] = (LONG_MIN_TOKENS, LONG_MAX_TOKENS)
) -> list[dict[str, Any]]:
    """Build (or reuse) and measure one buried-fact session per size, in the arena home `home`."""
    from mcp_arena.config import Settings
    from mcp_arena.engine.arena import Arena

    # The model in this process: a worker shared with other servers of the user could be busy elsewhere.
    arena = Arena(Settings(home=home, session="", transcript="", skill_dirs=[], semantic=True, embedding_worker=False))
    results = []
    try:
        for size in sizes:
            facts, figures = build(arena, size, seed + size, probes, tokens)
            result = measure(arena, size, facts, int(figures["newest_seq"]))
            result["build"] = figures
            results.append(result)
            _log(f"buried facts at {size:,} events: paraphrase recall@5 {result['paraphrase_recall']}, "
                 f"keywords {result['keyword_recall']} ({figures})")
    finally:
        arena.close()
    return results


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def render(results: list[dict[str, Any]]) -> Iterator[str]:
    yield ("| events | facts | result tokens | paraphrase recall@5 | snippet shows it | vector leg's ceiling (the fact as its own event) | "
           "keyword recall@5 | snippet shows it |")
    yield "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for r in results:
        low, high = r["result_tokens"] or (0, 0)
        yield (f"| {r['events']:,} | {r['facts']} | {low:,}–{high:,} | {r['paraphrase_recall']} | {r['paraphrase_snippet_shows']} | "
               f"{r['paraphrase_ceiling']} | {r['keyword_recall']} | {r['keyword_snippet_shows']} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="arena home to build in (reused when run again)")
    parser.add_argument("--sizes", default="10000,100000", help="session sizes in events, comma-separated")
    parser.add_argument("--probes", type=int, default=len(PROBES), help=f"facts planted (at most {len(PROBES)})")
    parser.add_argument("--out", type=Path, help="folder for buried.json")
    args = parser.parse_args(argv)
    sizes = tuple(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())
    results = run(args.home, sizes, probes=args.probes)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "buried.json").write_text(json.dumps(results, indent=2))
    print("\n".join(render(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
