"""The artifact trail as the engine keeps it: records in LanceDB, extraction from tool calls, the index.

Which files a tool call touches is `core.extract`'s business; how a file's
actions combine (created then modified stays created) is `core.artifacts.fold`'s.
This module validates what callers send, stores rows, and answers queries.
"""

from __future__ import annotations

import heapq
import json
import time
from collections.abc import Sequence
from typing import Any

from mcp_arena.config import Settings
from mcp_arena.core import artifacts, extract
from mcp_arena.core.events import Event
from mcp_arena.core.extract import ACTIONS
from mcp_arena.core.ledger import Ledger
from mcp_arena.core.limits import MAX_NOTE_CHARS
from mcp_arena.core.results import ArtifactResult, FileActivity
from mcp_arena.core.summary import ChangedFile
from mcp_arena.engine.store import Store
from mcp_arena.errors import InvalidArgument

MAX_RECORDS = 100
MAX_PATH_CHARS = 4_096


class Trail:
    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.settings = settings
        try:
            extract.validate_mappings(settings.artifact_mappings)
        except ValueError as exc:
            raise InvalidArgument(f"MCP_ARENA_ARTIFACT_MAPPINGS: {exc}") from exc
        # SWE-agent's `edit` applies to the file opened last: remember it per session (in memory).
        self._editors: dict[str, extract.EditorState] = {}
        self._cache: dict[str, list[artifacts.ArtifactRecord]] = {}  # per session, in seq order
        self._folded: dict[str, tuple[int, dict[str, artifacts.FileStatus]]] = {}  # (records folded, result)

    def forget(self, session: str) -> None:
        """Drop the cached records of a session (another process wrote to it)."""
        self._cache.pop(session, None)
        self._folded.pop(session, None)

    def statuses(self, session: str) -> dict[str, artifacts.FileStatus]:
        """The folded trail of a whole session, refolded only when its records changed."""
        records = self.records(session)
        count, folded = self._folded.get(session, (-1, {}))
        if count != len(records):
            folded = artifacts.fold(records)
            self._folded[session] = (len(records), folded)
        return folded

    # -- writing ---------------------------------------------------------------------------------

    def record(self, session: str, seq: int, records: Sequence[dict[str, Any]], source: str = "self") -> int:
        rows = [self._row(session, seq, r, source) for r in validate_records(records)]
        self._add(session, rows)
        return len(rows)

    def record_extracted(self, session: str, events: Sequence[Event], *, cwd: str | None = None) -> int:
        """File actions implied by tool calls that passed through the log (transcript, proxy, ingest)."""
        rows = []
        for event in events:
            if event.kind != "tool_call" or not event.tool:
                continue
            arguments = _arguments(event.text)
            editor = self._editors.setdefault(session, extract.EditorState())
            found_actions = extract.extract(
                event.tool, arguments, cwd=cwd, extra_mappings=self.settings.artifact_mappings, state=editor
            )
            for found in found_actions:
                rows.append(self._row(session, event.seq, {"path": found.path, "action": found.action, "note": ""}, event.source))
        self._add(session, rows)
        return len(rows)

    def _add(self, session: str, rows: list[dict[str, Any]]) -> None:
        self.store.add("artifacts", rows)
        if session in self._cache:
            self._cache[session].extend(_record(row) for row in rows)

    @staticmethod
    def _row(session: str, seq: int, record: dict[str, Any], source: str) -> dict[str, Any]:
        return {
            "session": session,
            "path": record["path"],
            "action": record["action"],
            "seq": seq,
            "note": record.get("note") or "",
            "source": source,
            "ts": time.time(),
        }

    # -- reading ---------------------------------------------------------------------------------

    def records(self, session: str, seq_min: int | None = None, seq_max: int | None = None) -> list[artifacts.ArtifactRecord]:
        if session not in self._cache:
            self._cache[session] = [_record(row) for row in self.store.rows("artifacts", session)]
        return [
            r
            for r in self._cache[session]
            if (seq_min is None or r.seq >= seq_min) and (seq_max is None or r.seq <= seq_max)
        ]

    def changed_files(self, session: str, from_seq: int, to_seq: int) -> list[ChangedFile]:
        """Files created, modified or deleted inside a range, for Files Modified of a squash."""
        return artifacts.changed_files(artifacts.fold(self.records(session, from_seq, to_seq)))

    def index_body(self, ledger: Ledger, seq: int, records: Sequence[dict[str, Any]], path: str | None, action: str | None) -> tuple[str, ArtifactResult]:
        if action is not None and action not in ACTIONS:
            raise InvalidArgument(f"unknown action {action[:40]!r}; use one of: {', '.join(ACTIONS)}")
        recorded = self.record(ledger.session, seq, records) if records else 0
        try:
            view = artifacts.index(self.statuses(ledger.session), path_glob=path, action=action)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from exc
        limit = self.settings.artifact_max_entries
        groups = {"created": view.created, "modified": view.modified, "read_only": view.read_only, "deleted": view.deleted}
        result = ArtifactResult(
            session=ledger.session,
            recorded=recorded,
            path_filter=path,
            action_filter=action,
            totals={name: len(statuses) for name, statuses in groups.items()},
            **{name: _activities(_newest(statuses, limit)) for name, statuses in groups.items()},
        )
        return result.text(), result


def _record(row: dict[str, Any]) -> artifacts.ArtifactRecord:
    return artifacts.ArtifactRecord(path=row["path"], action=row["action"], seq=row["seq"], note=row["note"], source=row["source"])


MAX_SEQS_SHOWN = 10
MAX_NOTES_SHOWN = 3


def _newest(statuses: Sequence[Any], limit: int) -> list[Any]:
    """The `limit` most recently touched files, listed by path (seqs are folded in ascending order)."""
    recent = heapq.nlargest(limit, statuses, key=lambda s: (s.seqs[-1] if s.seqs else -1, s.path))
    return sorted(recent, key=lambda s: s.path)


def _activities(statuses: Sequence[Any]) -> list[FileActivity]:
    return [
        FileActivity(
            path=s.path,
            actions=list(s.actions),
            latest_seq=max(s.seqs, default=-1),
            count=len(s.seqs),
            seqs=list(s.seqs[-MAX_SEQS_SHOWN:]),
            notes=list(s.notes[-MAX_NOTES_SHOWN:]),
        )
        for s in statuses
    ]


def _arguments(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {"command": text}
    return value if isinstance(value, dict) else {"value": value}


def validate_records(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(records) > MAX_RECORDS:
        raise InvalidArgument(f"{len(records)} records in one call; send at most {MAX_RECORDS}")
    clean = []
    for number, record in enumerate(records, 1):
        path = str(record.get("path") or "").strip()
        action = record.get("action")
        note = str(record.get("note") or "").strip()
        if not path or len(path) > MAX_PATH_CHARS or "\x00" in path:
            raise InvalidArgument(f"record {number}: path must be 1–{MAX_PATH_CHARS} characters without NUL")
        if action not in ACTIONS:
            raise InvalidArgument(f"record {number}: action {str(action)[:40]!r} is not one of {', '.join(ACTIONS)}")
        if len(note) > MAX_NOTE_CHARS:
            raise InvalidArgument(f"record {number}: note is {len(note)} characters; keep it under {MAX_NOTE_CHARS}")
        clean.append({"path": path, "action": action, "note": note})
    return clean
