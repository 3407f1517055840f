"""memory_search benchmark: ingestion, embedding catch-up, latency, recall@5.

    /work/venv/bin/python benchmarks/search_bench.py                 # 1,000 events
    /work/venv/bin/python benchmarks/search_bench.py --sizes 1000 10000 100000

For each size: a deterministic agent-like session (seed 7) is appended to a
real LanceDB events table in a temporary folder, in batches the way the store
appends; then the background thread is bypassed and `catch_up()` embeds it all
(timed); then the store's `maintain()` builds the indexes (full-text, scalar, vector) and
optimizes both tables, as the engine's store does; then in-process `search()`
latency is measured over distinct queries; then recall@5 of planted facts is
measured with paraphrased queries, full text alone vs hybrid.

Figures go to stdout (this is a script, not the server). Targets: p95 <= 25 ms
at 10k and <= 60 ms at 100k; catch-up >= 300 events/s.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import lancedb
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcp_arena.engine.store import EVENTS as EVENTS_SCHEMA  # noqa: E402
from mcp_arena.engine.store import VECTORS as VECTORS_SCHEMA  # noqa: E402
from mcp_arena.engine.store import Store, build_fulltext_index  # noqa: E402
from mcp_arena.search.embedder import Embedder  # noqa: E402
from mcp_arena.search.index import SearchIndex  # noqa: E402
from mcp_arena.search.tables import RecallTables  # noqa: E402

# (planted fact, paraphrased query sharing as few words as possible)
PROBES = [
    ("Wrapped the HTTP client so it waits longer and longer between attempts when the payment gateway answers 503.",
     "retry with exponential backoff for the flaky upstream"),
    ("The nightly invoice cron now fires at two in the morning UTC instead of midnight.",
     "when does the scheduled billing job run"),
    ("Passwords are hashed with argon2id, memory cost 64 MiB, three iterations.",
     "which algorithm protects stored user credentials"),
    ("We cache product pages in Redis for ten minutes and purge on every price change.",
     "how long are catalogue views kept in memory store"),
    ("Rolled back the deploy because the new container image could not reach the database.",
     "why did we revert the release"),
    ("The flaky test was caused by two workers writing the same temp directory at once.",
     "race condition behind the intermittent failure"),
    ("Switched logging to one JSON object per line with a request identifier on each record.",
     "structured logs with correlation id"),
    ("Customer emails are now sent through a background queue so checkout returns faster.",
     "made order confirmation messages asynchronous"),
    ("Memory usage grew without bound because the image thumbnails were never released.",
     "leak in picture preview generation"),
    ("Decided to keep the old coupon codes working until marketing confirms the new scheme.",
     "legacy discount vouchers remain valid for now"),
    ("Added a composite index on orders by customer and creation date; the monthly report went from 40 s to 2 s.",
     "speed up the slow sales summary query"),
    ("The mobile cart layout broke because of fixed pixel widths; replaced with a flexible grid.",
     "responsive design fix for phone basket page"),
    ("Uploads larger than 25 megabytes are rejected by the proxy before they reach the app.",
     "maximum attachment size limit"),
    ("Time zones were wrong in reports because timestamps were stored without offset.",
     "naive datetimes caused incorrect hours in exports"),
    ("API tokens now expire after thirty days and can be revoked from the settings page.",
     "lifetime of access keys and how to invalidate them"),
    ("The search page was slow because every keystroke triggered a request; added a 300 ms debounce.",
     "throttle lookups while the user types"),
    ("Feature flags live in a YAML file that is reloaded when it changes on disk.",
     "toggle configuration hot reload"),
    ("Dependabot pull requests are merged automatically when the test suite is green.",
     "auto-approve library upgrade PRs"),
    ("The PDF export used the wrong font so Chinese characters rendered as boxes.",
     "CJK glyphs missing in generated documents"),
    ("Database backups run every six hours and are kept for two weeks in cold storage.",
     "snapshot schedule and retention"),
]

FILES = ["shop/checkout.py", "shop/models.py", "shop/api/orders.py", "shop/payments/gateway.py", "web/static/cart.css",
         "tests/test_checkout.py", "tests/test_orders.py", "shop/auth/tokens.py", "shop/reports/monthly.py",
         "infra/docker-compose.yml", "shop/search/views.py", "shop/notifications/email.py", "README.md"]
FUNCS = ["compute_total", "apply_discount", "refund_order", "serialize_cart", "load_user", "render_invoice",
         "validate_address", "charge_card", "send_receipt", "list_orders", "parse_query", "rotate_token"]
ERRORS = ["AssertionError: expected 42.50 got 42.49", "KeyError: 'currency'", "TimeoutError: read timed out",
          "IntegrityError: duplicate key value violates unique constraint", "TypeError: unsupported operand",
          "ModuleNotFoundError: No module named 'stripe'", "ConnectionRefusedError: [Errno 111]"]
COMMANDS = ["pytest -q", "pytest tests/test_checkout.py -x", "git status", "git diff --stat", "ruff check .",
            "docker compose up -d", "alembic upgrade head", "npm run build", "curl -s localhost:8000/health"]
THOUGHTS = ["Let me look at {f} to see how {fn} handles this.", "The failure in {fn} comes from {e}.",
            "I'll add a test for {fn} before changing {f}.", "Refactoring {fn} so it no longer mutates its input.",
            "Next I will run the tests again and check {f}.", "{fn} is called from three places; updating all of them."]
USERS = ["Please fix the failing tests in {f}.", "Can you also look at {fn}?", "Why is {fn} so slow?",
         "Add type hints to {f}.", "Thanks, now update the changelog."]


def agent_event(rng: random.Random) -> tuple[str, str, str]:
    f, fn, e, cmd = rng.choice(FILES), rng.choice(FUNCS), rng.choice(ERRORS), rng.choice(COMMANDS)
    roll = rng.random()
    if roll < 0.25:
        return "tool_call", "bash", json.dumps({"command": cmd})
    if roll < 0.45:
        passed, failed = rng.randint(10, 300), rng.randint(0, 5)
        body = f"{failed} failed, {passed} passed" + (f"\nFAILED tests/test_{fn}.py::{fn} - {e}" if failed else "")
        return "tool_result", "bash", body + "\n" + "\n".join(f"{f}:{rng.randint(1, 400)}: in {fn}" for _ in range(rng.randint(0, 6)))
    if roll < 0.6:
        return "tool_call", "edit", json.dumps({"path": f, "old": f"def {fn}(self):", "new": f"def {fn}(self, *, strict=False):"})
    if roll < 0.7:
        return "tool_result", "read", f"# {f}\n" + "\n".join(f"def {rng.choice(FUNCS)}(x):\n    return x" for _ in range(rng.randint(1, 8)))
    if roll < 0.93:
        return "assistant", "", rng.choice(THOUGHTS).format(f=f, fn=fn, e=e)
    return "user", "", rng.choice(USERS).format(f=f, fn=fn)


def generate(n: int, seed: int = 7) -> tuple[list[tuple[str, str, str]], dict[int, str]]:
    """n events with the probes planted at random places; returns (events, {seq: query})."""
    rng = random.Random(seed)
    events = [agent_event(rng) for _ in range(n)]
    positions = rng.sample(range(n), len(PROBES))
    planted = {}
    for position, (fact, query) in zip(positions, PROBES):
        events[position] = ("assistant", "", fact)
        planted[position] = query
    return events, planted


def rows(session: str, events: list[tuple[str, str, str]], start: int) -> pa.Table:
    n = len(events)
    return pa.table(
        {
            "session": [session] * n,
            "seq": list(range(start, start + n)),
            "kind": [e[0] for e in events],
            "tool": [e[1] for e in events],
            "text": [e[2] for e in events],
            "tokens": [len(e[2]) // 4 for e in events],
            "is_error": [False] * n,
            "source": ["self"] * n,
            "call_id": [""] * n,
            "ts": [1.7e9 + start + i for i in range(n)],
            "meta": ["{}"] * n,
        },
        schema=EVENTS_SCHEMA,
    )


def keyword_probes(planted: dict[int, str], events: list[tuple[str, str, str]]) -> dict[int, str]:
    """The same facts asked for by their two longest words (what full text is good at)."""
    probes = {}
    for seq in planted:
        words = sorted((w.strip(".,;:") for w in events[seq][2].split()), key=lambda w: (-len(w), w))
        probes[seq] = " ".join(words[:2])
    return probes


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def latency(index: SearchIndex, session: str, queries: list[str], newest_seq: int) -> tuple[float, float]:
    """As the engine searches: it knows the session's newest seq (it holds the session's lock)."""
    index.search(session, "warm up the caches", limit=5, newest_seq=newest_seq)
    timings = []
    for query in queries:
        start = time.perf_counter()
        index.search(session, query, limit=5, newest_seq=newest_seq)
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings), percentile(timings, 0.95)


def query_embedding(embedder: Embedder, queries: list[str]) -> tuple[float, float]:
    """The hybrid search's fixed cost besides its two LanceDB queries."""
    timings = []
    for query in queries:
        start = time.perf_counter()
        embedder.embed_query(query)
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings), percentile(timings, 0.95)


def recall_at_5(index: SearchIndex, session: str, planted: dict[int, str]) -> float:
    found = sum(seq in [h.seq for h in index.search(session, query, limit=5).hits] for seq, query in planted.items())
    return found / len(planted)


def run(size: int, batch: int, embedder: Embedder) -> dict[str, float]:
    events, planted = generate(size)
    session = f"bench-{size}"
    with tempfile.TemporaryDirectory(prefix="arena-bench-") as folder:
        # Bare handles (they check out the latest version before reading), the store over the same folder for maintenance.
        db = lancedb.connect(Path(folder) / "arena.lancedb")
        table = db.create_table("events", schema=EVENTS_SCHEMA)
        vectors = db.create_table("vectors", schema=VECTORS_SCHEMA)
        build = lambda: build_fulltext_index(table)  # noqa: E731
        index = SearchIndex(RecallTables(table, vectors, build_fulltext_index=build), embedder=embedder, start_worker=False)
        fulltext = SearchIndex(RecallTables(table, build_fulltext_index=build), semantic=False, start_worker=False)
        store = Store(str(Path(folder) / "arena.lancedb"), Path(folder) / "locks")
        store.on_events_indexed = lambda version: (index.notify_indexed(version), fulltext.notify_indexed(version))

        start = time.perf_counter()
        for offset in range(0, size, batch):
            table.add(rows(session, events[offset : offset + batch], offset))
            index.notify_appended(session, min(batch, size - offset))
        ingest_s = time.perf_counter() - start

        start = time.perf_counter()
        embedded = index.catch_up(session)
        catch_up_s = time.perf_counter() - start
        assert embedded == size, (embedded, size)

        start = time.perf_counter()
        store.maintain()
        maintain_s = time.perf_counter() - start

        rng = random.Random(11)
        keyword_queries = [f"{rng.choice(FUNCS)} {rng.choice(ERRORS).split(':')[0]} {rng.choice(FILES)}" for _ in range(30)]
        queries = keyword_queries + list(planted.values())
        hy_p50, hy_p95 = latency(index, session, queries, size - 1)
        ft_p50, ft_p95 = latency(fulltext, session, queries, size - 1)
        embed_p50, embed_p95 = query_embedding(embedder, queries)
        figures = {
            "events": size,
            "distinct_share": len(set(e[2] for e in events)) / size,
            "ingest_events_per_s": size / ingest_s,
            "catch_up_events_per_s": size / catch_up_s,
            "maintain_s": maintain_s,
            "hybrid_p50_ms": hy_p50,
            "hybrid_p95_ms": hy_p95,
            "fulltext_p50_ms": ft_p50,
            "fulltext_p95_ms": ft_p95,
            "query_embedding_p50_ms": embed_p50,
            "query_embedding_p95_ms": embed_p95,
            "recall5_fulltext": recall_at_5(fulltext, session, planted),
            "recall5_hybrid": recall_at_5(index, session, planted),
            "kw_recall5_fulltext": recall_at_5(fulltext, session, keyword_probes(planted, events)),
            "kw_recall5_hybrid": recall_at_5(index, session, keyword_probes(planted, events)),
        }
        index.close()
        fulltext.close()
        return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000], help="session sizes (events)")
    parser.add_argument("--batch", type=int, default=50, help="events per append")
    args = parser.parse_args(argv)

    embedder = Embedder()
    start = time.perf_counter()
    embedder.load()
    print(f"model load: {time.perf_counter() - start:.2f} s")
    rng = random.Random(3)
    short_lines = [f"{rng.choice(THOUGHTS)} #{i}".format(f=rng.choice(FILES), fn=rng.choice(FUNCS), e=rng.choice(ERRORS))
                   for i in range(500)]
    start = time.perf_counter()
    embedder.embed(short_lines)
    print(f"model only: {len(short_lines) / (time.perf_counter() - start):.0f} short distinct lines/s", flush=True)
    for size in args.sizes:
        figures = run(size, args.batch, embedder)
        print(
            f"{figures['events']:>7} events | ingest {figures['ingest_events_per_s']:8.0f} ev/s"
            f" | catch-up {figures['catch_up_events_per_s']:5.0f} ev/s ({figures['distinct_share']:.0%} distinct texts)"
            f" | maintain {figures['maintain_s']:5.1f} s"
            f" | hybrid p50 {figures['hybrid_p50_ms']:5.1f} ms p95 {figures['hybrid_p95_ms']:5.1f} ms"
            f" | full-text p50 {figures['fulltext_p50_ms']:5.1f} ms p95 {figures['fulltext_p95_ms']:5.1f} ms"
            f" | query embedding p50 {figures['query_embedding_p50_ms']:4.1f} ms p95 {figures['query_embedding_p95_ms']:4.1f} ms"
            f" | recall@5 paraphrased: full-text {figures['recall5_fulltext']:.2f} hybrid {figures['recall5_hybrid']:.2f}"
            f" | recall@5 keywords: full-text {figures['kw_recall5_fulltext']:.2f} hybrid {figures['kw_recall5_hybrid']:.2f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
