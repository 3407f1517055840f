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

Two processes may share one home folder: writes of one session are serialized
by `session_lock` (a thread lock plus an `fcntl` lock file under
`<home>/locks`), and every read sees the latest committed version
(`read_consistency_interval=0`). The file lock only spans one machine; for an
object-store URI shared by several machines, give each machine its own sessions.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
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
        ("kind", pa.string()),
        ("tool", pa.string()),
        ("vector", pa.list_(pa.float32(), DIMENSION)),
        ("text", pa.string()),  # the event's text (clipped), so a vector hit needs no second read
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


# Ordered steps, each bringing a store to the schema version it names. Version 1: the tables
# above; stores from before versions were recorded (version 0) hold some of them.
STEPS: tuple[tuple[int, str, Callable[[Store], None]], ...] = ((1, "create missing tables", _create_missing_tables),)
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
    ):
        self.uri = uri
        self.lock_dir = lock_dir
        self.optimize_every = optimize_every
        self.keep_versions = timedelta(seconds=keep_versions_seconds)
        self.vector_index_min_rows = vector_index_min_rows
        self.tables: dict[str, Table] = {}
        try:
            lock_dir.mkdir(parents=True, exist_ok=True)
            if "://" not in uri:
                Path(uri).mkdir(parents=True, exist_ok=True)
            self.db = lancedb.connect(uri, read_consistency_interval=timedelta(0))
            self._migrations = open_table(self.db, "migrations", MIGRATIONS)
            _create_missing_tables(self)
            self.migrate()
        except OSError as exc:
            raise StoreError(f"cannot open the arena store at {uri}: {exc}; set MCP_ARENA_HOME or --home") from exc
        self._thread_locks: dict[str, threading.Lock] = {}
        self._thread_locks_guard = threading.Lock()
        # One appender per table in this process: LanceDB commits concurrent appends optimistically, and 50
        # threads appending to one table failed with "Too many concurrent writers" after 30 s of retries.
        self._write_locks = {name: threading.Lock() for name in SCHEMAS}
        self._since_optimize = {name: [0, 0] for name in MAINTAINED_WITH}  # rows, commits
        self._since_optimize_guard = threading.Lock()  # appends of several sessions and the search's worker count
        self._maintenance: threading.Thread | None = None
        self._maintenance_guard = threading.Lock()  # the start-up checks and the appends may race to start it
        # Told the events version each optimize started from: its full-text index covers it since.
        self.on_events_indexed: Callable[[int], None] | None = None

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
        """Serialize writers of one session across threads and processes."""
        with self._thread_locks_guard:
            thread_lock = self._thread_locks.setdefault(session, threading.Lock())
        digest = hashlib.sha256(session.encode()).hexdigest()[:24]
        with thread_lock, open(self.lock_dir / f"{digest}.lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- events ----------------------------------------------------------------------------------

    def append(self, events: Sequence[Event]) -> int | None:
        """Append events (seqs already assigned under the session lock); the version committed."""
        if not events:
            return None
        rows = [_event_row(event) for event in events]
        with self._write_locks["events"]:
            version = self.tables["events"].add(rows).version
        self._count_appends("events", len(events))
        return version

    def events_version(self) -> int:
        """The newest committed version of the events table (any writer, any session)."""
        return self.tables["events"].version

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
        where = of_session(session)
        if seq_min is not None:
            where = where & (col("seq") >= lit(seq_min))
        if seq_max is not None:
            where = where & (col("seq") <= lit(seq_max))
        if kinds:
            where = where & col("kind").isin(list(kinds))
        query = self.tables["events"].search().where(where).limit(None)
        if columns:
            query = query.select(list(columns))
        rows: list[dict[str, Any]] = query.to_arrow().sort_by("seq").to_pylist()  # pyarrow is untyped
        return rows

    def event_objects(self, session: str, **filters: Any) -> list[Event]:
        return [event_from_row(row) for row in self.events(session, **filters)]

    # -- small record tables ---------------------------------------------------------------------

    def add(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            with self._write_locks[table]:
                self.tables[table].add(list(rows))

    def rows(self, table: str, session: str, order_by: str = "seq") -> list[dict[str, Any]]:
        arrow = self.tables[table].search().where(of_session(session)).limit(None).to_arrow()
        rows: list[dict[str, Any]] = arrow.sort_by(order_by).to_pylist() if order_by else arrow.to_pylist()
        return rows

    def has_session(self, session: str) -> bool:
        return self.tables["sessions"].count_rows(of_session(session).to_sql()) > 0

    def sessions(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.tables["sessions"].to_arrow().sort_by("created").to_pylist()
        return rows

    # -- feed state ------------------------------------------------------------------------------

    def newest_feed_state(self, session: str, feed: str, after_ts: float = 0.0) -> tuple[dict[str, Any], float] | None:
        """The newest persisted state of a feed (written after `after_ts`), with its timestamp."""
        where = of_session(session) & (col("feed") == lit(feed)) & (col("ts") > lit(after_ts))
        rows = self.tables["feed_state"].search().where(where).limit(None).to_arrow().to_pylist()
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
        """Build the missing indexes and optimize these tables (all maintained ones by default)."""
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
        from lancedb.index import Bitmap, BTree, IvfFlat

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


def _event_row(event: Event) -> dict[str, Any]:
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
