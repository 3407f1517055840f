"""The write-ahead journal: a call's rows are on disk before the call returns, and reach LanceDB later.

Every process appends to segment files of its own under `<home>/journal`::

    <owner>.lock          held (flock) by its process for that process's whole life
    <owner>.<n>.jsonl     rows not yet in LanceDB, one {"table": ..., "row": {...}} a line

A batch of rows (one tool call's) is one write(2) to the open segment: a process killed
with SIGKILL has written all of it or none (the kernel finishes a write it started), and a
torn last line — only possible on a full disk, where the write is cut back and the call
fails — is skipped by readers. `fsync` per batch is optional: a killed process loses
nothing either way; a power cut loses the unsynced tail without it.

The store's committer seals the open segment (new batches go to the next one), adds its
rows to LanceDB, and then drops it (`done`). A segment whose owner's lock can be taken
belongs to a process that died: `orphans` hands it, locked, to whoever replays it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("mcp_arena.engine.journal")

Row = tuple[str, dict[str, Any]]  # (table, row)


@dataclass
class Sealed:
    """A closed segment: its rows go to LanceDB, then the file goes."""

    path: Path
    rows: list[Row]
    committed_tables: set[str] = field(default_factory=set)  # tables already added (a retry skips them)


class Journal:
    def __init__(self, directory: Path, *, fsync: bool = False) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory = directory
        self.fsync = fsync
        self.owner = f"{os.getpid()}-{secrets.token_hex(4)}"
        lock_fd = _locked_fd(directory / f"{self.owner}.lock", blocking=True)
        assert lock_fd is not None  # a blocking lock is always had
        self._lock_fd: int = lock_fd
        self._guard = threading.Lock()
        self._number = 0
        self._fd: int | None = None  # the open segment
        self._open_rows: list[Row] = []  # rows of the open segment
        self._sealed_rows: list[list[Row]] = []  # rows of sealed segments not yet done
        self._others: dict[Path, tuple[int, int, list[Row]]] = {}  # other owners' segments: (size, mtime, rows)

    # -- writing ---------------------------------------------------------------------------------

    def write(self, rows: Sequence[Row]) -> None:
        """Append `rows` in one write; raises OSError (nothing of them is kept) when the disk refuses."""
        if not rows:
            return
        data = b"".join(json.dumps({"table": table, "row": row}, ensure_ascii=False).encode() + b"\n" for table, row in rows)
        with self._guard:
            fd = self._open_segment()
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                _write_all(fd, data)
                if self.fsync:
                    os.fsync(fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)  # no torn line for readers to meet
                raise
            self._open_rows.extend(rows)

    def seal(self) -> Sealed | None:
        """Close the open segment (None when it holds nothing): later writes start the next one."""
        with self._guard:
            if self._fd is None or not self._open_rows:
                return None
            os.close(self._fd)
            self._fd = None
            sealed = Sealed(self._segment_path(self._number), self._open_rows)
            self._sealed_rows.append(sealed.rows)
            self._open_rows = []
            self._number += 1
            return sealed

    def done(self, sealed: Sealed) -> None:
        """The sealed segment's rows are all in LanceDB: drop the file and the rows held here."""
        with contextlib.suppress(FileNotFoundError):
            sealed.path.unlink()
        with self._guard:
            self._sealed_rows = [rows for rows in self._sealed_rows if rows is not sealed.rows]

    def close(self) -> None:
        """Release the owner lock (after the committer has drained every segment)."""
        with self._guard:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if not self._open_rows and not self._sealed_rows:
                with contextlib.suppress(FileNotFoundError):
                    (self.directory / f"{self.owner}.lock").unlink()
            os.close(self._lock_fd)

    # -- reading ---------------------------------------------------------------------------------

    def pending(self) -> list[Row]:
        """Every row not yet known to be in LanceDB: this process's (memory) and other processes'
        (their segment files, live or orphaned), oldest first per owner."""
        with self._guard:
            own = [row for rows in self._sealed_rows for row in rows] + list(self._open_rows)
        return own + self._others_rows()

    def own_pending(self) -> int:
        """How many rows this process journaled that are not committed yet."""
        with self._guard:
            return len(self._open_rows) + sum(len(rows) for rows in self._sealed_rows)

    def _others_rows(self) -> list[Row]:
        """Other owners' segments, parsed once per (size, mtime)."""
        found: list[Row] = []
        seen: set[Path] = set()
        for path in sorted(self.directory.glob("*.jsonl")):
            if path.name.startswith(self.owner + "."):
                continue
            try:
                stat = path.stat()
                cached = self._others.get(path)
                if cached is None or cached[:2] != (stat.st_size, stat.st_mtime_ns):
                    cached = (stat.st_size, stat.st_mtime_ns, read_segment(path))
                    self._others[path] = cached
            except FileNotFoundError:  # committed and dropped meanwhile: LanceDB has it
                continue
            seen.add(path)
            found.extend(cached[2])
        for gone in set(self._others) - seen:
            del self._others[gone]
        return found

    # -- dead owners -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def orphans(self) -> Iterator[list[Path]]:
        """Segments of owners that died, oldest first, with their owners' locks held (so no other
        process replays them meanwhile); their lock files go when the caller dropped them all."""
        held: list[tuple[Path, int]] = []
        try:
            for lock_path in sorted(self.directory.glob("*.lock")):
                owner = lock_path.name[: -len(".lock")]
                if owner == self.owner:
                    continue
                fd = _locked_fd(lock_path, blocking=False)
                if fd is not None:
                    held.append((lock_path, fd))
            segments = [path for lock_path, _ in held for path in sorted(self.directory.glob(lock_path.name[:-5] + ".*.jsonl"), key=_segment_number)]
            yield segments
            for lock_path, _ in held:
                if not any(self.directory.glob(lock_path.name[:-5] + ".*.jsonl")):
                    with contextlib.suppress(FileNotFoundError):
                        lock_path.unlink()
        finally:
            for _, fd in held:
                os.close(fd)

    # -- helpers ---------------------------------------------------------------------------------

    def _open_segment(self) -> int:
        if self._fd is None:
            path = self._segment_path(self._number)
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return self._fd

    def _segment_path(self, number: int) -> Path:
        return self.directory / f"{self.owner}.{number:06d}.jsonl"


def read_segment(path: Path) -> list[Row]:
    """The rows of a segment file; a torn or damaged line is skipped (its call never returned)."""
    rows: list[Row] = []
    for line in path.read_bytes().split(b"\n"):
        if not line:
            continue
        try:
            record = json.loads(line)
            rows.append((record["table"], record["row"]))
        except (ValueError, KeyError, TypeError):
            log.warning("skipped a damaged line in the journal segment %s", path)
    return rows


def _segment_number(path: Path) -> int:
    return int(path.name.rsplit(".", 2)[1])


def _locked_fd(path: Path, *, blocking: bool) -> int | None:
    """An fd of `path` holding its exclusive flock; None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
