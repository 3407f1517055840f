"""Incremental reading of a growing JSONL transcript (the live feed).

`TranscriptTail(path)` remembers how far it has read (a byte offset at the end
of the last complete line) and hands out only what was appended since, as
decoded JSON objects. The host may be writing the file while we read it:

- A last line without its `\\n` is not handed out; the offset stays before it
  and the next read picks it up whole.
- Bytes that are not UTF-8 are replaced (a warning goes to the log); a line
  that is not a JSON object is skipped with a warning. Nothing here raises on
  bad content.
- The file replaced (another inode), truncated (smaller than the offset) or
  rewritten in place (its first bytes, or the bytes just before the offset,
  changed) → reading starts over from 0, with a warning and `last_reset` set.
  A replacement that is a plain copy of what was read (same bytes at the head
  and just before the offset, at least as long) is recognised and reading
  continues where it was.
- Lines carry a `uuid` in Claude Code; a line whose uuid was already handed
  out is never handed out again, so starting over re-emits nothing.
- A missing file (not created yet, or deleted) reads as nothing new.

Memory stays bounded: the file is read in chunks, never whole, and
`iter_new` yields line by line. `state` is a small JSON-ready snapshot (the
engine persists it) from which a new tail resumes.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import OrderedDict
from collections.abc import Generator, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mcp_arena.feeds.common import decode_json_line

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
PROBE_BYTES = 4096  # how much of the head and of the bytes before the offset identify the file
REMEMBERED_UUIDS = 100_000  # in memory: covers a 100 MB transcript (about 1 kB a line)
PERSISTED_UUIDS = 1_000  # in `state`: enough to bridge a restart, small enough to store


@dataclass
class TailState:
    """Where a tail stands in its file, in a form that survives a restart (`to_dict` / `from_dict`)."""

    path: str
    offset: int = 0
    inode: int | None = None
    device: int | None = None
    head_digest: str = ""  # of the first min(offset, PROBE_BYTES) bytes
    boundary_digest: str = ""  # of the PROBE_BYTES just before the offset
    recent_uuids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TailState:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)


class TranscriptTail:
    """Reads the lines appended to one JSONL file since the last read."""

    def __init__(
        self,
        path: str | Path,
        state: TailState | dict[str, Any] | None = None,
        *,
        chunk_bytes: int = CHUNK_BYTES,
        remembered_uuids: int = REMEMBERED_UUIDS,
    ) -> None:
        if isinstance(state, dict):
            state = TailState.from_dict(state)
        self.path = Path(path)
        self._state = state or TailState(path=str(self.path))
        self._chunk_bytes = chunk_bytes
        self._remembered_limit = remembered_uuids
        self._seen: OrderedDict[str, None] = OrderedDict.fromkeys(self._state.recent_uuids)
        self.last_reset: str | None = None  # why the latest read started over, if it did
        self.resets = 0
        self.duplicates_skipped = 0

    @property
    def offset(self) -> int:
        return self._state.offset

    @property
    def state(self) -> TailState:
        """A snapshot to persist; the uuids kept are the most recent ones."""
        recent = list(self._seen)[-PERSISTED_UUIDS:]
        return TailState(**{**asdict(self._state), "recent_uuids": recent})

    def read_new(self, max_lines: int | None = None) -> list[dict[str, Any]]:
        """The complete lines appended since the last read (at most `max_lines`), decoded."""
        lines: list[dict[str, Any]] = []
        iterator = self.iter_new()
        for record in iterator:
            lines.append(record)
            if max_lines is not None and len(lines) >= max_lines:
                break
        iterator.close()
        return lines

    def iter_new(self) -> Generator[dict[str, Any], None, None]:
        """Like `read_new`, one line at a time; the offset moves past each line as it is yielded."""
        self.last_reset = None
        try:
            stat = os.stat(self.path)
        except OSError:
            return  # not there (yet, or any more): nothing new
        self._check_identity(stat)
        try:
            handle = open(self.path, "rb")
        except OSError:
            return
        try:
            with handle:
                yield from self._read_from(handle)
        finally:
            # Also when the caller stops early: the probes must describe the offset as it now is.
            self._remember_probes()

    # -- reading ------------------------------------------------------------

    def _read_from(self, handle: Any) -> Iterator[dict[str, Any]]:
        handle.seek(self._state.offset)
        partial: list[bytes] = []  # the start of a line longer than a chunk
        while chunk := handle.read(self._chunk_bytes):
            if b"\n" not in chunk:
                partial.append(chunk)
                continue
            *complete, rest = b"".join([*partial, chunk]).split(b"\n")
            partial = [rest] if rest else []
            for raw in complete:
                start = self._state.offset
                self._state.offset += len(raw) + 1
                record = decode_json_line(raw, where=f"{self.path} at byte {start}")
                if record is not None and self._is_new(record):
                    yield record

    def _is_new(self, record: dict[str, Any]) -> bool:
        uuid = record.get("uuid")
        if not isinstance(uuid, str) or not uuid:
            return True
        if uuid in self._seen:
            self.duplicates_skipped += 1
            return False
        self._seen[uuid] = None
        if len(self._seen) > self._remembered_limit:
            self._seen.popitem(last=False)
        return True

    # -- knowing the file is still the same file ----------------------------

    def _check_identity(self, stat: os.stat_result) -> None:
        state = self._state
        same_inode = state.inode is None or (state.inode, state.device) == (stat.st_ino, stat.st_dev)
        if state.offset == 0:
            pass
        elif stat.st_size < state.offset:
            self._start_over(f"shrank below the read offset ({stat.st_size} < {state.offset} bytes)")
        elif state.head_digest and not self._probes_match():
            reason = "was replaced by another file" if not same_inode else "was rewritten in place"
            self._start_over(reason)
        elif not same_inode:
            log.info("transcript %s was replaced by a copy of what was read; continuing at byte %d", self.path, state.offset)
        state.inode, state.device = stat.st_ino, stat.st_dev

    def _start_over(self, reason: str) -> None:
        log.warning("transcript %s %s; reading it again from the start (lines already seen are skipped)", self.path, reason)
        self.last_reset = reason
        self.resets += 1
        self._state.offset = 0
        self._state.head_digest = self._state.boundary_digest = ""

    def _probes_match(self) -> bool:
        return self._probe_digests() == (self._state.head_digest, self._state.boundary_digest)

    def _remember_probes(self) -> None:
        probes = self._probe_digests()
        if probes is not None:  # a file gone meanwhile keeps the last known probes
            self._state.head_digest, self._state.boundary_digest = probes

    def _probe_digests(self) -> tuple[str, str] | None:
        offset = self._state.offset
        head_end = min(offset, PROBE_BYTES)
        boundary_start = max(0, offset - PROBE_BYTES)
        try:
            with open(self.path, "rb") as handle:
                head = handle.read(head_end)
                handle.seek(boundary_start)
                boundary = handle.read(offset - boundary_start)
        except OSError:
            return None
        return _digest(head), _digest(boundary)


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()
