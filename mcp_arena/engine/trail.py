"""The artifact trail as the engine keeps it: records in LanceDB, extraction from tool calls, the index.

Which files a tool call touches is `core.extract`'s business; how a file's
actions combine (created then modified stays created) is `core.artifacts.fold`'s.
This module validates what callers send, stores rows, and answers: a write
with what it recorded, a query with the trail bounded by a token budget.
"""

from __future__ import annotations

import heapq
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from mcp_arena.config import Settings
from mcp_arena.core import artifacts, extract, globs, listing
from mcp_arena.core.events import Event
from mcp_arena.core.extract import ACTIONS
from mcp_arena.core.ledger import Ledger
from mcp_arena.core.limits import MAX_NOTE_CHARS, MAX_PATH_CHARS, MAX_RECORDS
from mcp_arena.core.results import MAX_PATH_ECHOED, MAX_RECORDED_SHOWN, ArtifactResult, FileActivity, RecordedFile
from mcp_arena.core.summary import ChangedFile
from mcp_arena.engine.store import Store
from mcp_arena.errors import InvalidArgument


class Trail:
    def __init__(self, store: Store, settings: Settings, count_tokens: Callable[[str], int]):
        self.store = store
        self.settings = settings
        self.count_tokens = count_tokens  # bounds a listing by `settings.artifact_max_tokens`
        try:
            extract.validate_mappings(settings.artifact_mappings)
        except ValueError as exc:
            raise InvalidArgument(f"MCP_ARENA_ARTIFACT_MAPPINGS: {exc}") from exc
        # SWE-agent's `edit` applies to the file opened last: remember it per session (in memory).
        self._editors: dict[str, extract.EditorState] = {}
        self._cache: dict[str, list[artifacts.ArtifactRecord]] = {}  # per session, in seq order
        self._folded: dict[str, artifacts.Folded] = {}  # per session, extended as records arrive

    def forget(self, session: str) -> None:
        """Drop the cached records of a session (another process wrote to it)."""
        self._cache.pop(session, None)
        self._folded.pop(session, None)

    def statuses(self, session: str) -> dict[str, artifacts.FileStatus]:
        """The folded trail of a whole session (in no particular order). Records added since the last
        call are folded onto it (only the paths they touch); the whole trail only when they are not newer."""
        records = self.records(session)
        folded = self._folded.get(session)
        if folded is None or folded.records > len(records) or not folded.extend(records[folded.records :]):
            folded = artifacts.Folded()
            folded.extend(records)
            self._folded[session] = folded
        return folded.statuses

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
            # in the order they were recorded: a call that created and then deleted a file leaves it deleted
            rows = sorted(self.store.rows("artifacts", session, order_by=""), key=lambda row: (row["seq"], row["ts"]))
            self._cache[session] = [_record(row) for row in rows]
        return [
            r
            for r in self._cache[session]
            if (seq_min is None or r.seq >= seq_min) and (seq_max is None or r.seq <= seq_max)
        ]

    def changed_files(self, session: str, from_seq: int, to_seq: int) -> list[ChangedFile]:
        """Files created, modified or deleted inside a range, for Files Modified of a squash."""
        return artifacts.changed_files(artifacts.fold(self.records(session, from_seq, to_seq)))

    def index_body(
        self, ledger: Ledger, seq: int, records: Sequence[dict[str, Any]], path: str | None, action: str | None
    ) -> tuple[str, ArtifactResult]:
        """A write (records, no filter) answers with what it recorded; a query (a filter, or no argument:
        the whole trail) lists the trail within `artifact_max_tokens`."""
        if action is not None and action not in ACTIONS:
            raise InvalidArgument(f"unknown action {action[:40]!r}; use one of: {', '.join(ACTIONS)}")
        if path is not None:
            try:
                globs.validate_glob(path)
            except ValueError as exc:
                raise InvalidArgument(str(exc)) from exc
        clean = validate_records(records) if records else []
        if clean:
            self.record(ledger.session, seq, clean)
        shown_records = [RecordedFile(path=listing.clip(r["path"], MAX_PATH_ECHOED), action=r["action"]) for r in clean[:MAX_RECORDED_SHOWN]]
        result = ArtifactResult(
            session=ledger.session,
            seq=seq,
            recorded=len(clean),
            recorded_files=shown_records,
            listed=not clean or path is not None or action is not None,
            path_filter=path,
            action_filter=action,
            totals={},
            created=[],
            modified=[],
            read_only=[],
            deleted=[],
        )
        if result.listed:
            result = self._listed(result, ledger.session, path, action)
        return result.text(), result

    def _listed(self, result: ArtifactResult, session: str, path: str | None, action: str | None) -> ArtifactResult:
        """`result` with the trail's groups filled in: the most recently touched files of each group, taken
        in turns until the token budget is spent (then the rendered text is measured, and trimmed if over)."""
        try:
            view = artifacts.index(self.statuses(session), path_glob=path, action=action)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from exc
        groups = {"created": view.created, "modified": view.modified, "read_only": view.read_only, "deleted": view.deleted}
        newest = {name: _activities(_newest(statuses, self.settings.artifact_max_entries)) for name, statuses in groups.items()}
        totals = {name: len(statuses) for name, statuses in groups.items()}
        frame = result.model_copy(update={"totals": totals, "more": sum(totals.values())})
        budget = self.settings.artifact_max_tokens - self.count_tokens(frame.text())  # header, group titles, the "more" line
        shown = listing.share(newest, FileActivity.line, budget, self.count_tokens)
        while True:
            kept = {name: sorted(newest[name][: shown[name]], key=lambda a: a.path) for name in groups}
            listed = frame.model_copy(update={**kept, "more": sum(totals.values()) - sum(shown.values())})
            if self.count_tokens(listed.text()) <= self.settings.artifact_max_tokens or not any(shown.values()):
                return listed
            last = max((name for name in shown if shown[name]), key=lambda name: shown[name])
            shown[last] -= 1  # the line-by-line estimate was short: drop from the longest group


def _record(row: dict[str, Any]) -> artifacts.ArtifactRecord:
    return artifacts.ArtifactRecord(path=row["path"], action=row["action"], seq=row["seq"], note=row["note"], source=row["source"])


MAX_SEQS_SHOWN = 3
MAX_NOTES_SHOWN = 2


def _newest(statuses: Sequence[artifacts.FileStatus], limit: int) -> list[artifacts.FileStatus]:
    """The `limit` most recently touched files, newest first (seqs are folded in ascending order)."""
    return heapq.nlargest(limit, statuses, key=lambda s: (s.seqs[-1] if s.seqs else -1, s.path))


def _activities(statuses: Sequence[artifacts.FileStatus]) -> list[FileActivity]:
    return [
        FileActivity(
            path=listing.clip(s.path, listing.MAX_PATH_SHOWN),
            actions=list(s.actions),
            latest_seq=max(s.seqs, default=-1),
            count=len(s.seqs),
            seqs=list(s.seqs[-MAX_SEQS_SHOWN:]),
            notes=[listing.clip_end(note, listing.MAX_NOTE_SHOWN) for note in s.notes[-MAX_NOTES_SHOWN:]],
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
