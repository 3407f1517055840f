"""File actions -> the artifact trail: which files a session created, modified, read, deleted.

Pure (no filesystem, no store). `fold(records)` folds `ArtifactRecord`s (file
actions with the seq they happened at, from `extract` or from the agent) into
one `FileStatus` per path; `index(statuses, path_glob, action)` groups them to
answer "which files did we create, modify, only read, delete?", `render_index`
writes that answer as text, and `changed_files` lists the files a
squash's Files Modified section must name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mcp_arena.core.extract import ACTIONS, DIRECTORY_NOTE
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
    """One FileStatus per path, from records in any order (folded by seq; the
    result is sorted by path). Deleting a path also deletes every known path
    under it (`rm -rf build` removes `build/out.o`), noted as such."""
    by_path: dict[str, list[ArtifactRecord]] = {}
    for record in sorted(records, key=lambda r: (r.seq, r.path)):
        for affected in _with_descendants(record, by_path):
            by_path.setdefault(affected.path, []).append(affected)
    return {path: _fold_one(path, by_path[path]) for path in sorted(by_path)}


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


MAX_GLOB_LENGTH = 512
_GLOB_EXAMPLE = "'src/**/*.py' or '*.md'"


def validate_glob(path_glob: str) -> str:
    if not isinstance(path_glob, str) or not path_glob.strip():
        raise ValueError(f"path_glob is empty; pass a pattern such as {_GLOB_EXAMPLE}, or omit it to list every file")
    if "\x00" in path_glob:
        raise ValueError(f"path_glob contains a NUL character; pass a plain pattern such as {_GLOB_EXAMPLE}")
    if len(path_glob) > MAX_GLOB_LENGTH:
        raise ValueError(
            f"path_glob is {len(path_glob)} characters (limit {MAX_GLOB_LENGTH}); "
            f"pass a shorter pattern such as {_GLOB_EXAMPLE}"
        )
    if path_glob.count("[") != path_glob.count("]"):
        raise ValueError(f"path_glob {path_glob!r} has an unclosed '['; close it or escape it as '[[]'")
    return path_glob.strip()


def glob_to_regex(path_glob: str) -> re.Pattern[str]:
    """`**` spans directories, `*` and `?` stay within one, `[...]` is a class.
    A pattern without `/` matches the file name in any directory."""
    pattern = validate_glob(path_glob)
    if "/" not in pattern:
        pattern = "**/" + pattern
    parts, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            negated = body.startswith("!")
            body = body[1:] if negated else body
            parts.append("[" + ("^" if negated else "") + ("\\" + body if body.startswith("^") else body) + "]")
            i = end + 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(parts) + r"\Z")


_GROUP_BY_ACTION = {"created": "created", "modified": "modified", "read": "read_only", "deleted": "deleted"}


def index(
    statuses: Mapping[str, FileStatus], path_glob: str | None = None, action: str | None = None
) -> TrailIndex:
    """Group the trail by net state. `action` keeps one group ("read" means
    only read); `path_glob` keeps matching paths (leading "/" of absolute paths
    is matched literally)."""
    if action is not None and action not in _GROUP_BY_ACTION:
        raise ValueError(f"action {action!r} is not one of {', '.join(ACTIONS)}; omit it to see every group")
    matcher = glob_to_regex(path_glob) if path_glob is not None else None
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
