"""LanceDB tables of the arena: schemas, the schema version, appends, reads, maintenance.

The store is the one owner of the storage: it opens (or creates) every table,
the search's vectors table included, records the schema version and migrates
older stores on open, and runs every index build and optimize on one schedule.
The recall library (`mcp_arena.search`) gets table handles from here and
queries them, and appends vector rows it reports back (`vectors_added`); it
never opens, creates or optimizes a table.

Everything is append-only. Rows are keyed by `session` + `seq` (events,
vectors) or `session` + their own ordering (tags, squashes, artifacts,
feed_state). Filters are built with `lancedb.expr`, never by pasting caller
strings into SQL.

Schema versions: opening creates any missing table of the current schema, then
runs the ordered `STEPS` above the version recorded in `migrations` (a store
made before versions were recorded is at 0), recording each. A step must be
idempotent: two processes opening an old store at once may both run it.

Maintenance (`maintain`): scalar indexes on `session` (and `seq`), the events'
full-text index, the vectors' IVF index once the table is big enough, then
`optimize()` (compaction, index update, cleanup of versions older than
`keep_versions_seconds`). It runs off the request path when the events or the
vectors have taken `optimize_every` rows or COMPACT_EVERY_COMMITS commits since
their last optimize, and at start when an earlier process left the tables
fragmented or their indexes behind.

Writes (`write`, `append`, `add`) go to the journal first (`journal.py`): a
call's rows are on local disk before it returns, and the committer thread adds
them to LanceDB in group commits (every COMMIT_SECONDS or COMMIT_ROWS rows,
one commit per table), off the request path. A batch of DIRECT_ROWS rows or
more (an import) is committed at once instead. Every read here merges the rows
not yet committed — this process's and other processes' (their journal
segments) — with LanceDB's, journal first, so a row committed meanwhile is seen
once. A process that died leaves segments; the next store to open replays them,
adding only the rows LanceDB lacks (exactly once). The search reads LanceDB
directly: `flush()` commits everything pending first.

Two processes may share one home folder: writes of one session are serialized
by `session_lock` (a thread lock plus an `fcntl` lock file under
`<home>/locks`, which also holds a stamp of the session's last writer, so a
holder knows whether another process wrote since: `written_elsewhere`), and
every read sees the latest committed version (`read_consistency_interval=0`).
One process at a time maintains a home (`<home>/locks/maintenance.lock`). The
file locks only span one machine; for an object-store URI shared by several
machines, give each machine its own sessions.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import lancedb
import pyarrow as pa
from lancedb.expr import Expr, col, lit
from lancedb.table import Table

from mcp_arena.core.events import Event
from mcp_arena.engine.journal import Journal, Row, Sealed, read_segment
from mcp_arena.errors import StoreError
from mcp_arena.search.embedder import DIMENSION

log = logging.getLogger("mcp_arena.engine.store")

EVENTS = pa.schema(
    [
        ("session", pa.string()),
        ("seq", pa.int64()),
        ("kind", pa.string()),
        ("tool", pa.string()),
        ("text", pa.string()),
        ("tokens", pa.int32()),
        ("is_error", pa.bool_()),
        ("source", pa.string()),
        ("call_id", pa.string()),
        ("ts", pa.float64()),
        ("meta", pa.string()),
    ]
)
TAGS = pa.schema(
    [
        ("session", pa.string()),
        ("name", pa.string()),
        ("seq", pa.int64()),
        ("note", pa.string()),
        ("origin", pa.string()),  # agent | backup | hook
        ("ts", pa.float64()),
    ]
)
SQUASHES = pa.schema(
    [
        ("session", pa.string()),
        ("record", pa.int64()),  # dense per session: 0, 1, 2 …
        ("op", pa.string()),  # squash | undo
        ("from_seq", pa.int64()),
        ("to_seq", pa.int64()),
        ("tag", pa.string()),
        ("summary", pa.string()),  # the text the agent gave
        ("anchored", pa.string()),  # the session's anchored summary after this record
        ("filled", pa.string()),  # JSON list of paths filled in from the artifact trail
        ("tokens_before", pa.int64()),
        ("tokens_after", pa.int64()),
        ("undoes", pa.int64()),  # record number an undo reverts, else -1
        ("seq", pa.int64()),  # log position at which the record was made
        ("ts", pa.float64()),
    ]
)
ARTIFACTS = pa.schema(
    [
        ("session", pa.string()),
        ("path", pa.string()),
        ("action", pa.string()),
        ("seq", pa.int64()),
        ("note", pa.string()),
        ("source", pa.string()),
        ("ts", pa.float64()),
    ]
)
SESSIONS = pa.schema(
    [
        ("session", pa.string()),
        ("created", pa.float64()),
        ("origin", pa.string()),  # server | transcript | import | cli
        ("label", pa.string()),  # e.g. the working directory or source file
    ]
)
FEED_STATE = pa.schema(
    [
        ("session", pa.string()),
        ("feed", pa.string()),
        ("state", pa.string()),  # JSON, appended: the newest row wins
        ("ts", pa.float64()),
    ]
)
VECTORS = pa.schema(
    [
        ("session", pa.string()),
        ("seq", pa.int64()),
        ("chunk", pa.int32()),  # 0: the whole event; 1..n: the n-th window of a long one (search/chunks.py)
        ("kind", pa.string()),
        ("tool", pa.string()),
        ("vector", pa.list_(pa.float32(), DIMENSION)),
        ("text", pa.string()),  # the chunk's text (clipped), so a vector hit needs no second read
    ]
)
MIGRATIONS = pa.schema(
    [
        ("version", pa.int64()),  # the schema version this step brought the store to
        ("name", pa.string()),
        ("ts", pa.float64()),
    ]
)
# Each optimize of the events table costs ~0.3-0.7 s of CPU beside the calls, mostly fixed.
# Since searches read uncovered rows from memory (search_fresh), fragments cost searches
# little: every 128 commits measured p95 ~52 ms against ~68 at 64 (10k events, 5 tools).
COMPACT_EVERY_COMMITS = 128
# Group commits: the committer adds what waits once COMMIT_ROWS rows wait or the oldest has waited
# COMMIT_SECONDS; a batch of DIRECT_ROWS rows or more is committed on the spot (it is one commit anyway).
COMMIT_SECONDS = 0.25
COMMIT_ROWS = 512
DIRECT_ROWS = 64
# Tables in the order a batch reaches LanceDB: a record never lands before the events it points at.
COMMIT_ORDER = ("sessions", "events", "squashes", "tags", "artifacts", "feed_state")
# Columns that tell two rows of a table apart (a journaled row and its committed copy are one row).
ROW_KEYS = {
    "events": ("session", "seq"),
    "tags": ("session", "name"),
    "squashes": ("session", "record"),
    "artifacts": ("session", "seq", "path", "action", "note", "source"),
    "sessions": ("session",),
    "feed_state": ("session", "feed", "ts"),
}
# The vectors get an IVF_FLAT index (probed exhaustively, so still exact; see the search's
# query path) once they hold this many rows.
VECTOR_INDEX_MIN_ROWS = 2_000

SCHEMAS = {
    "events": EVENTS,
    "tags": TAGS,
    "squashes": SQUASHES,
    "artifacts": ARTIFACTS,
    "sessions": SESSIONS,
    "feed_state": FEED_STATE,
    "vectors": VECTORS,
}
# What each table's appends bring due: the events take the small record tables along.
MAINTAINED_WITH = {"events": ("events", "tags", "squashes", "artifacts"), "vectors": ("vectors",)}
MAINTAINED = (*MAINTAINED_WITH["events"], *MAINTAINED_WITH["vectors"])


def _create_missing_tables(store: Store) -> None:
    for name, schema in SCHEMAS.items():
        if name not in store.tables:
            store.tables[name] = open_table(store.db, name, schema)


def _add_vector_chunks(store: Store) -> None:
    """The vectors' chunk column; every row written before it covered a whole event: chunk 0.
    Idempotent: a table made with the column, or given it by another process meanwhile, is left as it is."""
    table = store.tables["vectors"]
    if "chunk" in table.schema.names:
        return
    try:
        table.add_columns({"chunk": "CAST(0 AS INT)"})
    except Exception:
        if "chunk" not in store.db.open_table("vectors").schema.names:
            raise
        log.info("the vectors' chunk column was added by another process")


# Ordered steps, each bringing a store to the schema version it names. Version 1: the tables
# above; stores from before versions were recorded (version 0) hold some of them. Version 2:
# vectors per chunk of an event.
STEPS: tuple[tuple[int, str, Callable[[Store], None]], ...] = (
    (1, "create missing tables", _create_missing_tables),
    (2, "vectors per chunk", _add_vector_chunks),
)
SCHEMA_VERSION = STEPS[-1][0]


def of_session(session: str) -> Expr:
    return col("session") == lit(session)


def event_from_row(row: dict[str, Any]) -> Event:
    return Event(
        session=row["session"],
        seq=row["seq"],
        kind=row["kind"],
        text=row["text"],
        tokens=row["tokens"],
        tool=row["tool"],
        is_error=row["is_error"],
        source=row["source"],
        call_id=row["call_id"],
        ts=row["ts"],
        meta=json.loads(row["meta"]) if row["meta"] else {},
    )


class Store:
    def __init__(
        self,
        uri: str,
        lock_dir: Path,
        *,
        optimize_every: int = 1000,
        keep_versions_seconds: float = 3600,
        vector_index_min_rows: int = VECTOR_INDEX_MIN_ROWS,
        journal_dir: Path | None = None,
        journal_fsync: bool = False,
        commit_seconds: float = COMMIT_SECONDS,
    ):
        self.uri = uri
        self.lock_dir = lock_dir
        self.optimize_every = optimize_every
        self.keep_versions = timedelta(seconds=keep_versions_seconds)
        self.vector_index_min_rows = vector_index_min_rows
        self.commit_seconds = commit_seconds
        self.tables: dict[str, Table] = {}
        try:
            lock_dir.mkdir(parents=True, exist_ok=True)
            if "://" not in uri:
                Path(uri).mkdir(parents=True, exist_ok=True)
            self.db = lancedb.connect(
                uri,
                read_consistency_interval=timedelta(0),
                # LanceDB's caches default to 6 GB of index and 1 GB of metadata, so they only grow. Bounded above
                # the working set of a 100,000-event session (160-240 MB measured); below it, eviction churns
                # (at 128 + 64 MB: memory_search p50 170 vs 109 ms, RSS 774 vs 676 MB after 400 rounds).
                session=lancedb.Session(index_cache_size_bytes=256 << 20, metadata_cache_size_bytes=64 << 20),
            )
            self._migrations = open_table(self.db, "migrations", MIGRATIONS)
            _create_missing_tables(self)
            self.migrate()
            self.journal = Journal(journal_dir or lock_dir.parent / "journal", fsync=journal_fsync)
        except OSError as exc:
            raise StoreError(f"cannot open the arena store at {uri}: {exc}; set MCP_ARENA_HOME or --home") from exc
        self._thread_locks: dict[str, threading.Lock] = {}
        self._thread_locks_guard = threading.Lock()
        self._held: dict[str, tuple[int, bool]] = {}  # session -> (its lock file's fd, written during this hold)
        self._stamps: dict[str, str] = {}  # session -> the stamp this process left in its lock file
        self._stamp_count = 0
        # One appender per table in this process: LanceDB commits concurrent appends optimistically, and 50
        # threads appending to one table failed with "Too many concurrent writers" after 30 s of retries.
        self._write_locks = {name: threading.Lock() for name in SCHEMAS}
        self._since_optimize = {name: [0, 0] for name in MAINTAINED_WITH}  # rows, commits
        self._since_optimize_guard = threading.Lock()  # appends of several sessions and the search's worker count
        self._maintenance: threading.Thread | None = None
        self._maintenance_guard = threading.Lock()  # the start-up checks and the appends may race to start it
        # Told the events version each optimize started from: its full-text index covers it since.
        self.on_events_indexed: Callable[[int], None] | None = None
        # Told the events rows of each commit and the version it made (the search holds their text).
        self.on_events_committed: Callable[[list[dict[str, Any]], int], None] | None = None
        self._committing = threading.Lock()  # one commit of sealed segments at a time (committer or flush)
        self._wake = threading.Event()
        self._closed = False
        self._committer = threading.Thread(target=self._commit_loop, name="arena-committer", daemon=True)
        self._committer.start()

    # -- schema version --------------------------------------------------------------------------

    def schema_version(self) -> int:
        """The newest schema version recorded (0: a store from before versions were recorded)."""
        versions = self._migrations.to_arrow().column("version").to_pylist()  # one row per step: tiny
        return max(versions, default=0)

    def migrate(self) -> int:
        """Run the steps above the recorded version, in order, recording each; the version reached."""
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            log.warning("the arena store at %s is at schema version %d, newer than this mcp-arena's %d", self.uri, version, SCHEMA_VERSION)
        for target, name, step in STEPS:
            if target <= version:
                continue
            step(self)
            self._migrations.add([{"version": target, "name": name, "ts": time.time()}])
            log.info("arena store at %s migrated to schema version %d: %s", self.uri, target, name)
            version = target
        return version

    # -- locking ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def session_lock(self, session: str) -> Iterator[None]:
        """Serialize writers of one session across threads and processes. A hold that wrote
        leaves a new stamp in the lock file (see `written_elsewhere`)."""
        with self._thread_locks_guard:
            thread_lock = self._thread_locks.setdefault(session, threading.Lock())
        digest = hashlib.sha256(session.encode()).hexdigest()[:24]
        with thread_lock:
            fd = os.open(self.lock_dir / f"{digest}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._held[session] = (fd, False)
                try:
                    yield
                finally:
                    if self._held.pop(session)[1]:
                        self._restamp(session, fd)
            finally:
                os.close(fd)  # closing releases the flock

    def written_elsewhere(self, session: str) -> bool:
        """Under `session_lock`: whether another process (or store) wrote the session since this one last did."""
        fd, _ = self._held[session]
        return os.pread(fd, 128, 0).decode(errors="replace") != self._stamps.get(session)

    def _restamp(self, session: str, fd: int) -> None:
        self._stamp_count += 1
        stamp = f"{self.journal.owner}:{self._stamp_count}"
        os.pwrite(fd, stamp.encode(), 0)
        os.ftruncate(fd, len(stamp))
        self._stamps[session] = stamp

    # -- writing ---------------------------------------------------------------------------------

    def write(self, rows: Sequence[Row]) -> None:
        """Make rows durable: journaled now and committed by the committer, or — a batch of
        DIRECT_ROWS or more — committed now. Raises OSError when the disk refuses (nothing kept)."""
        if not rows:
            return
        for _, row in rows:
            held = self._held.get(row["session"])
            if held is not None:
                self._held[row["session"]] = (held[0], True)
        if len(rows) >= DIRECT_ROWS:
            self._commit(Sealed(Path(), list(rows)))
            return
        self.journal.write(rows)
        self._wake.set()

    def append(self, events: Sequence[Event]) -> None:
        """Append events (seqs already assigned under the session lock)."""
        self.write([("events", event_row(event)) for event in events])

    def add(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        self.write([(table, row) for row in rows])

    def flush(self) -> None:
        """Commit everything journaled by this process now (the search reads LanceDB only)."""
        with self._committing:
            sealed = self.journal.seal()
            if sealed is not None:
                self._commit(sealed)
                self.journal.done(sealed)

    def close(self) -> None:
        """Commit what waits, stop the committer, release the journal."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._committer.join(timeout=30)
        with contextlib.suppress(Exception):  # a store that cannot commit keeps its journal: replayed next start
            self.flush()
        self.journal.close()
        self.wait_for_maintenance()

    def _commit_loop(self) -> None:
        self._replay_orphans()
        while not self._closed:
            self._wake.wait()
            self._wake.clear()
            deadline = time.monotonic() + self.commit_seconds
            while not self._closed and time.monotonic() < deadline and self.journal.own_pending() < COMMIT_ROWS:
                time.sleep(min(0.02, self.commit_seconds))
            try:
                self.flush()
            except Exception as exc:  # kept in the journal: retried, and replayed by the next process
                log.warning("group commit failed, retrying in 1 s: %s", exc)
                time.sleep(1.0)
                self._wake.set()

    def _commit(self, sealed: Sealed) -> None:
        """Add a batch to LanceDB, one commit per table in COMMIT_ORDER; a retry skips tables done."""
        by_table: dict[str, list[dict[str, Any]]] = {}
        for table, row in sealed.rows:
            by_table.setdefault(table, []).append(row)
        for table in sorted(by_table, key=_commit_rank):
            if table in sealed.committed_tables:
                continue
            with self._write_locks[table]:
                version = self.tables[table].add(by_table[table]).version
            sealed.committed_tables.add(table)
            if table in MAINTAINED_WITH:
                self._count_appends(table, len(by_table[table]))
            if table == "events" and self.on_events_committed is not None:
                self.on_events_committed(by_table[table], version)

    def _replay_orphans(self) -> None:
        """Segments of processes that died: add the rows LanceDB lacks, then drop them (exactly once)."""
        try:
            with self.journal.orphans() as segments:
                for path in segments:
                    rows = read_segment(path)
                    missing = [row for row in rows if not self._committed(*row)]
                    if missing:
                        self._commit(Sealed(path, missing))
                    log.info("replayed %d of %d journaled rows from %s", len(missing), len(rows), path.name)
                    path.unlink()
        except Exception as exc:  # readers still merge those segments; the next start tries again
            log.warning("replaying the journal of a stopped process failed: %s", exc)

    def _committed(self, table: str, row: dict[str, Any]) -> bool:
        where = of_session(row["session"])
        for column in ROW_KEYS[table][1:]:
            where = where & (col(column) == lit(row[column]))
        return self.tables[table].count_rows(where.to_sql()) > 0

    # -- reading: LanceDB plus what is not committed yet ------------------------------------------

    def _pending(self, table: str, session: str | None = None) -> list[dict[str, Any]]:
        return [row for name, row in self.journal.pending() if name == table and (session is None or row["session"] == session)]

    def pending_events(self, session: str) -> list[tuple[int, str, str, str]]:
        """(seq, kind, tool, text) of the session's events journaled but not committed yet (any process)."""
        rows = {row["seq"]: row for row in self._pending("events", session)}
        return [(seq, rows[seq]["kind"], rows[seq]["tool"], rows[seq]["text"]) for seq in sorted(rows)]

    def events(
        self,
        session: str,
        *,
        seq_min: int | None = None,
        seq_max: int | None = None,
        kinds: Sequence[str] | None = None,
        columns: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of a session's events, in seq order."""
        pending = [
            row
            for row in self._pending("events", session)
            if (seq_min is None or row["seq"] >= seq_min) and (seq_max is None or row["seq"] <= seq_max) and (not kinds or row["kind"] in kinds)
        ]
        where = of_session(session)
        if seq_min is not None:
            where = where & (col("seq") >= lit(seq_min))
        if seq_max is not None:
            where = where & (col("seq") <= lit(seq_max))
        if kinds:
            where = where & col("kind").isin(list(kinds))
        query = self.tables["events"].search().where(where).limit(None)
        if columns:
            query = query.select(list(dict.fromkeys(["seq", *columns])))
        rows: list[dict[str, Any]] = query.to_arrow().to_pylist()  # pyarrow is untyped
        by_seq = {row["seq"]: row for row in rows}
        for row in pending:
            by_seq.setdefault(row["seq"], {name: row[name] for name in columns} if columns else row)
        if columns and "seq" not in columns:
            return [{name: by_seq[seq][name] for name in columns} for seq in sorted(by_seq)]
        return [by_seq[seq] for seq in sorted(by_seq)]

    def event_objects(self, session: str, **filters: Any) -> list[Event]:
        return [event_from_row(row) for row in self.events(session, **filters)]

    def rows(self, table: str, session: str, order_by: str = "seq") -> list[dict[str, Any]]:
        pending = self._pending(table, session)
        arrow = self.tables[table].search().where(of_session(session)).limit(None).to_arrow()
        rows: list[dict[str, Any]] = _merged(table, arrow.to_pylist(), pending)
        return sorted(rows, key=lambda row: row[order_by]) if order_by else rows

    def has_session(self, session: str) -> bool:
        if self._pending("sessions", session):
            return True
        return self.tables["sessions"].count_rows(of_session(session).to_sql()) > 0

    def sessions(self) -> list[dict[str, Any]]:
        pending = self._pending("sessions")
        rows = _merged("sessions", self.tables["sessions"].to_arrow().to_pylist(), pending)
        return sorted(rows, key=lambda row: row["created"])

    # -- feed state ------------------------------------------------------------------------------

    def newest_feed_state(self, session: str, feed: str, after_ts: float = 0.0) -> tuple[dict[str, Any], float] | None:
        """The newest persisted state of a feed (written after `after_ts`), with its timestamp."""
        pending = [row for row in self._pending("feed_state", session) if row["feed"] == feed and row["ts"] > after_ts]
        where = of_session(session) & (col("feed") == lit(feed)) & (col("ts") > lit(after_ts))
        rows = self.tables["feed_state"].search().where(where).limit(None).to_arrow().to_pylist() + pending
        if not rows:
            return None
        newest = max(rows, key=lambda row: row["ts"])
        return json.loads(newest["state"]), newest["ts"]

    def save_feed_state(self, session: str, feed: str, state: dict[str, Any]) -> float:
        """Append the feed's state (the newest row wins); its timestamp."""
        ts = time.time()
        self.add("feed_state", [{"session": session, "feed": feed, "state": json.dumps(state, sort_keys=True), "ts": ts}])
        return ts

    # -- maintenance -----------------------------------------------------------------------------

    def vectors_added(self, rows: int) -> None:
        """The search appended `rows` vectors in one commit: they count towards the vectors' optimize."""
        self._count_appends("vectors", rows)

    def _count_appends(self, table: str, count: int) -> None:
        """Every commit leaves a fragment that every later query walks: compact after
        `optimize_every` rows, or after COMPACT_EVERY_COMMITS commits (a tool call commits ~3 rows)."""
        with self._since_optimize_guard:
            since = self._since_optimize[table]
            since[0] += count
            since[1] += 1
            due = since[0] >= self.optimize_every or since[1] >= COMPACT_EVERY_COMMITS
            if due:
                since[0] = since[1] = 0
        if due:
            self.maintain_in_background(MAINTAINED_WITH[table])

    def maintain_if_fragmented(self) -> None:
        """At start: tables left fragmented by earlier (short-lived) processes are compacted in the background."""
        try:
            # lancedb annotates stats() as a TableStatistics dataclass; 0.40 returns a dict
            fragments = self.tables["events"].stats()["fragment_stats"]["num_fragments"]  # type: ignore[index]
        except Exception as exc:  # a statistics failure must not stop the server
            log.warning("could not read the events table's statistics: %s", exc)
            return
        if fragments > COMPACT_EVERY_COMMITS:
            self.maintain_in_background()

    def indexes_lag(self) -> bool:
        """Whether some index of the events table leaves rows out."""
        try:
            return any(getattr(index, "num_unindexed_rows", 0) for index in self.tables["events"].list_indices())
        except Exception as exc:  # statistics are an optimisation here, never a requirement
            log.warning("could not read the events table's indexes: %s", exc)
            return False

    def maintain_in_background(self, names: Sequence[str] = MAINTAINED) -> None:
        """Build indexes, compact fragments and clean old versions, off the request path (single flight)."""
        with self._maintenance_guard:
            if self._maintenance is not None and self._maintenance.is_alive():
                return
            self._maintenance = threading.Thread(target=self.maintain, args=(names,), name="arena-maintenance", daemon=True)
            self._maintenance.start()

    def maintain(self, names: Sequence[str] = MAINTAINED) -> None:
        """Build the missing indexes and optimize these tables (all maintained ones by default),
        unless another process is maintaining this home now: two optimizes at once conflict
        ('Retryable commit conflict ... preempted by concurrent transaction Rewrite')."""
        with _exclusive(self.lock_dir / "maintenance.lock") as mine:
            if not mine:
                log.info("another process is maintaining %s; skipped", self.uri)
                return
            self.flush()  # what waits in the journal is covered by this optimize too
            self._maintain(names)

    def _maintain(self, names: Sequence[str]) -> None:
        for name in names:
            try:
                self._ensure_indexes(name)
                version = self.tables[name].version
                self.tables[name].optimize(cleanup_older_than=self.keep_versions)
            except Exception as exc:  # maintenance must never take a request down
                log.warning("maintenance of %s failed: %s", name, exc)
                continue
            if name == "events" and self.on_events_indexed is not None:
                self.on_events_indexed(version)

    def build_fulltext_index(self) -> int | None:
        """The events' full-text index, when missing (the search asks on first use): see `build_fulltext_index`."""
        return build_fulltext_index(self.tables["events"])

    def _ensure_indexes(self, name: str) -> None:
        from lancedb.index import FTS, Bitmap, BTree, IvfFlat

        table = self.tables[name]
        rows = table.count_rows()
        if rows == 0:
            return
        existing = {tuple(index.columns) for index in table.list_indices()}
        if ("session",) not in existing:
            table.create_index("session", config=Bitmap())
        if name in ("events", "vectors") and ("seq",) not in existing:
            table.create_index("seq", config=BTree())
        if name == "events" and ("text",) not in existing:
            build_fulltext_index(table)
        if name == "vectors" and ("text",) not in existing and {"text", "chunk"} <= set(table.schema.names):
            table.create_index("text", config=FTS(), replace=False)  # BM25 over long events' windows (search/index.py)
        if name == "vectors" and ("vector",) not in existing and rows >= self.vector_index_min_rows:
            partitions = max(2, min(256, rows // 2000))
            table.create_index("vector", config=IvfFlat(distance_type="dot", num_partitions=partitions))

    def wait_for_maintenance(self) -> None:
        if self._maintenance is not None:
            self._maintenance.join()


def open_table(db: lancedb.DBConnection, name: str, schema: pa.Schema) -> Table:
    """The table, created with `schema` when missing; an existing one is opened as it is
    (a vectors table from before the text column keeps its schema)."""
    try:
        return db.create_table(name, schema=schema, exist_ok=True)
    except Exception:  # another process created it between our check and create, or an older schema
        return db.open_table(name)


def build_fulltext_index(events: Table) -> int | None:
    """Create the full-text index on the events' text: the events version it covers, or None
    when not built now (no rows yet, or it exists already — another process may have just built it)."""
    from lancedb.index import FTS

    if events.count_rows() == 0:
        return None
    version = events.version
    try:
        events.create_index("text", config=FTS(), replace=False)
    except Exception as exc:  # another process may have created it meanwhile
        log.info("full-text index not created (%s); will check again", exc)
        return None
    return version


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[bool]:
    """Whether this process got the file's exclusive lock (held inside the block), without waiting."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _commit_rank(table: str) -> int:
    return COMMIT_ORDER.index(table) if table in COMMIT_ORDER else len(COMMIT_ORDER)


def _merged(table: str, committed: list[dict[str, Any]], pending: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Committed rows plus the pending ones LanceDB does not hold yet (a row may be in both meanwhile)."""
    if not pending:
        return committed
    keys = ROW_KEYS[table]
    seen = {tuple(row[key] for key in keys) for row in committed}
    return committed + [row for row in pending if tuple(row[key] for key in keys) not in seen]


def event_row(event: Event) -> dict[str, Any]:
    return {
        "session": event.session,
        "seq": event.seq,
        "kind": event.kind,
        "tool": event.tool,
        "text": event.text,
        "tokens": event.tokens,
        "is_error": event.is_error,
        "source": event.source,
        "call_id": event.call_id,
        "ts": event.ts,
        "meta": json.dumps(event.meta, sort_keys=True) if event.meta else "",
    }
