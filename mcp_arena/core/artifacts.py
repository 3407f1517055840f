"""File actions -> the artifact trail: which files a session created, modified, read, deleted.

Pure (no filesystem, no store). `fold(records)` folds `ArtifactRecord`s (file
actions with the seq they happened at, from `extract` or from the agent) into
one `FileStatus` per path (`Folded` does the same a batch of newer records at a
time, folding again only the paths they touch); `index(statuses, path_glob, action)` groups them to
answer "which files did we create, modify, only read, delete?", `render_index`
writes that answer as text, and `changed_files` lists the files a
squash's Files Modified section must name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mcp_arena.core.extract import ACTIONS, DIRECTORY_NOTE
from mcp_arena.core.globs import MAX_GLOB_LENGTH, Glob, glob_to_regex, validate_glob  # noqa: F401 (the trail's and tests' names)
from mcp_arena.core.summary import ChangedFile


@dataclass(frozen=True)
class ArtifactRecord:
    path: str
    action: str
    seq: int
    note: str = ""
    source: str = "self"

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"artifact action {self.action!r} is not one of {', '.join(ACTIONS)}")


@dataclass(frozen=True)
class FileStatus:
    """What the session did to one file.

    `state` is the net effect: "created" (new in this session and still there),
    "modified" (existed before and was changed), "read" (only read), "deleted"
    (gone at the end). `actions` are the resolved actions seen, in canonical
    order — a Write on a file the trail knew counts as "modified".
    `new_in_session` tells a file created then deleted ("created then deleted")
    from a pre-existing file that was deleted."""

    path: str
    state: str
    actions: tuple[str, ...]
    seqs: tuple[int, ...]
    notes: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    new_in_session: bool = False

    @property
    def label(self) -> str:
        if self.state == "deleted" and self.new_in_session:
            return "created then deleted"
        return self.state


def fold(records: Iterable[ArtifactRecord]) -> dict[str, FileStatus]:
    """One FileStatus per path, from records in any seq order (folded by seq; the records of
    one seq in the order given, which is the order they happened; the result is sorted by path). Deleting a path also deletes every known path
    under it (`rm -rf build` removes `build/out.o`), noted as such."""
    folded = Folded()
    folded.extend(records)
    return {path: folded.statuses[path] for path in sorted(folded.statuses)}


class Folded:
    """The trail folded so far, extended by newer records: only the paths they touch are folded again.

    `extend` takes records newer than every record folded before (a higher seq) and refuses
    older ones (returns False): the caller then folds the whole trail afresh."""

    def __init__(self) -> None:
        self.records = 0
        self.last_seq = -1
        self.statuses: dict[str, FileStatus] = {}  # in no particular order
        self._by_path: dict[str, list[ArtifactRecord]] = {}

    def extend(self, records: Iterable[ArtifactRecord]) -> bool:
        newer = sorted(records, key=lambda r: r.seq)  # stable: a call's records keep their order
        if newer and newer[0].seq <= self.last_seq:
            return False
        touched = set()
        for record in newer:
            for affected in _with_descendants(record, self._by_path):
                self._by_path.setdefault(affected.path, []).append(affected)
                touched.add(affected.path)
        for path in touched:
            self.statuses[path] = _fold_one(path, self._by_path[path])
        self.records += len(newer)
        self.last_seq = newer[-1].seq if newer else self.last_seq
        return True


def _with_descendants(record: ArtifactRecord, known: Mapping[str, list[ArtifactRecord]]) -> list[ArtifactRecord]:
    if record.action != "deleted":
        return [record]
    prefix = record.path.rstrip("/") + "/"
    return [record] + [
        ArtifactRecord(path, "deleted", record.seq, f"deleted with {record.path}", record.source)
        for path, history in known.items()
        if path.startswith(prefix) and history[-1].action != "deleted"
    ]


def _fold_one(path: str, records: list[ArtifactRecord]) -> FileStatus:
    new_in_session = records[0].action == "created"
    exists = False
    changed = False
    actions: set[str] = set()
    for record in records:
        action = _resolved(record, exists)
        if action is None:
            continue
        actions.add(action)
        changed = changed or action != "read"
        exists = action != "deleted"
    if not changed:
        state = "read"
    elif not exists:
        state = "deleted"
    else:
        state = "created" if new_in_session else "modified"
    return FileStatus(
        path=path,
        state=state,
        actions=tuple(a for a in ACTIONS if a in actions),
        seqs=tuple(dict.fromkeys(r.seq for r in records)),
        notes=tuple(dict.fromkeys(r.note for r in records if r.note)),
        sources=tuple(sorted({r.source for r in records})),
        new_in_session=new_in_session,
    )


def _resolved(record: ArtifactRecord, exists: bool) -> str | None:
    """A whole-file write of a file the trail knows exists overwrites it, so it
    modifies it; `mkdir -p` of an existing directory changes nothing."""
    if record.action == "created" and exists:
        return None if record.note == DIRECTORY_NOTE else "modified"
    return record.action


@dataclass(frozen=True)
class TrailIndex:
    """The trail grouped by net state; each group sorted by path."""

    created: tuple[FileStatus, ...] = ()
    modified: tuple[FileStatus, ...] = ()
    read_only: tuple[FileStatus, ...] = ()
    deleted: tuple[FileStatus, ...] = ()

    def groups(self) -> tuple[tuple[str, tuple[FileStatus, ...]], ...]:
        return (("created", self.created), ("modified", self.modified),
                ("read only", self.read_only), ("deleted", self.deleted))

    @property
    def count(self) -> int:
        return sum(len(files) for _, files in self.groups())


_GROUP_BY_ACTION = {"created": "created", "modified": "modified", "read": "read_only", "deleted": "deleted"}


def index(
    statuses: Mapping[str, FileStatus], path_glob: str | None = None, action: str | None = None
) -> TrailIndex:
    """Group the trail by net state. `action` keeps one group ("read" means
    only read); `path_glob` keeps matching paths (leading "/" of absolute paths
    is matched literally)."""
    if action is not None and action not in _GROUP_BY_ACTION:
        raise ValueError(f"action {action!r} is not one of {', '.join(ACTIONS)}; omit it to see every group")
    matcher = Glob(path_glob) if path_glob is not None else None  # linear time; a regex can take seconds
    absolute_glob = path_glob is not None and path_glob.startswith("/")
    groups: dict[str, list[FileStatus]] = {name: [] for name in _GROUP_BY_ACTION.values()}
    for path in sorted(statuses):
        status = statuses[path]
        if matcher and not matcher.match(path if absolute_glob else path.lstrip("/")):
            continue
        if action is None or status.state == action:
            groups[_GROUP_BY_ACTION[status.state]].append(status)
    return TrailIndex(**{name: tuple(files) for name, files in groups.items()})


def render_index(trail: TrailIndex) -> str:
    """Deterministic text of the index; empty groups are listed as "(none)" so
    the answer to "did we create anything?" is explicit."""
    lines: list[str] = []
    for name, files in trail.groups():
        lines.append(f"{name} ({len(files)}):")
        lines.extend(_render_status(status) for status in files)
        if not files:
            lines.append("- (none)")
    return "\n".join(lines) + "\n"


def _render_status(status: FileStatus) -> str:
    details = [status.label] if status.label != status.state else []
    if len(status.actions) > 1:
        details.append(", ".join(status.actions))
    details.extend(status.notes)
    seqs = ", ".join(map(str, status.seqs))
    suffix = f" — {'; '.join(details)}" if details else ""
    return f"- {status.path}{suffix} (seq {seqs})"


def changed_files(statuses: Mapping[str, FileStatus]) -> list[ChangedFile]:
    """The files a Files Modified section must list (all but read-only), in
    order of first touch, for `summary.merge(..., trail_files=...)`."""
    changed = [s for s in statuses.values() if s.state != "read"]
    changed.sort(key=lambda s: (s.seqs[0] if s.seqs else 0, s.path))
    return [
        ChangedFile(
            path=s.path,
            action=s.state,
            note="; ".join(([s.label] if s.label != s.state else []) + list(s.notes)),
        )
        for s in changed
    ]
