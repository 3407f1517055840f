"""Anchored summary: parse, merge, render.

The session's running summary has five fixed sections (the anchors). A squash
does not regenerate it: the agent's new summary is *merged* into the previous
one section by section, and Files Modified is completed from the artifact trail
so that no touched file is silently dropped.

Parsing is tolerant (heading level, `**Heading**`, bare `Heading:` lines, case,
a trailing translation such as "Session Intent（会话意图）", extra sections);
rendering is canonical (`## Heading`, fixed order, stable bytes), and
`parse(render(s)) == s` for every valid `AnchoredSummary`.

Merge rules (deterministic, newest = the summary being squashed in now):

- Session Intent: the newest non-empty wording leads; each earlier intent line
  follows it unless the newest text already contains it (case- and
  space-insensitive), so refinements replace and nothing distinct is lost.
- Files Modified: bullets accumulate; one bullet per file (key = normalised
  path at the start of the bullet). A newer bullet for the same file replaces
  the older wording in the older bullet's position (the list stays in order of
  first mention). Then every trail file the bullets do not mention gets a
  bullet ending in `(from the artifact trail)`; such bullets are regenerated
  from the current trail on each merge, so they never go stale.
- Decisions Made: bullets accumulate; same decision = same text after
  case/space/trailing-punctuation normalisation; newest wording wins in place.
- Current State, Next Steps: the newest when non-empty, else the previous.
- Extra sections: the newest per name (case-insensitive) wins; previous order
  first, then new names in their order.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

INTENT = "Session Intent"
FILES = "Files Modified"
DECISIONS = "Decisions Made"
STATE = "Current State"
NEXT = "Next Steps"
SECTION_NAMES = (INTENT, FILES, DECISIONS, STATE, NEXT)
LIST_SECTIONS = (FILES, DECISIONS)

TRAIL_MARKER = "(from the artifact trail)"
TRAIL_ACTIONS = ("created", "modified", "deleted")

# Other names agents use for the anchors; accepted in `#` headings only, since a
# bare "Status:" line inside a body is far more likely prose than a heading.
_ALIASES = {
    "intent": INTENT,
    "goal": INTENT,
    "session goal": INTENT,
    "files": FILES,
    "files changed": FILES,
    "modified files": FILES,
    "files touched": FILES,
    "decisions": DECISIONS,
    "key decisions": DECISIONS,
    "state": STATE,
    "status": STATE,
    "current status": STATE,
    "next": NEXT,
    "next step": NEXT,
    "todo": NEXT,
}
_CANONICAL = {name.casefold(): name for name in SECTION_NAMES}

_ATX_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BOLD_HEADING = re.compile(r"^\*\*\s*(.+?)\s*:?\s*\*\*\s*:?$")
_COLON_HEADING = re.compile(r"^([A-Za-z][A-Za-z ]*?)\s*:$")
_TRANSLATION_SUFFIX = re.compile(r"\s*[(（][^()（）]*[)）]\s*$")
_BULLET = re.compile(r"^(?:[-*+•]|\d+[.)])\s+")
_RENDER_LEVEL = 2


# ---------------------------------------------------------------- the model


@dataclass(frozen=True)
class ChangedFile:
    """A file the session created, modified or deleted, as Files Modified names it (from the artifact trail)."""

    path: str
    action: str  # created | modified | deleted
    note: str = ""

    def __post_init__(self) -> None:
        if self.action not in TRAIL_ACTIONS:
            raise ValueError(
                f"ChangedFile action {self.action!r} is not one of {', '.join(TRAIL_ACTIONS)}; "
                "read-only files do not belong in Files Modified"
            )
        if not self.path.strip():
            raise ValueError("ChangedFile path is empty; pass the file's path")


@dataclass(frozen=True)
class AnchoredSummary:
    """The five anchors plus any extra sections, in canonical (normalised) form."""

    session_intent: str = ""
    files_modified: tuple[str, ...] = ()
    decisions_made: tuple[str, ...] = ()
    current_state: str = ""
    next_steps: str = ""
    extra_sections: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("session_intent", "current_state", "next_steps"):
            set_(self, name, _normalise_text(getattr(self, name)))
        for name in ("files_modified", "decisions_made"):
            set_(self, name, tuple(i for i in map(_normalise_item, getattr(self, name)) if i))
        set_(self, "extra_sections", _normalise_extras(self.extra_sections))
        for section, body in self.sections():
            _check_body(section, body)

    def sections(self) -> tuple[tuple[str, str], ...]:
        """(name, body) in render order; list sections rendered as bullets."""
        return (
            (INTENT, self.session_intent),
            (FILES, _render_items(self.files_modified)),
            (DECISIONS, _render_items(self.decisions_made)),
            (STATE, self.current_state),
            (NEXT, self.next_steps),
            *self.extra_sections,
        )

    @property
    def is_empty(self) -> bool:
        return all(not body for _, body in self.sections())


@dataclass(frozen=True)
class MergeResult:
    summary: AnchoredSummary
    filled_from_trail: tuple[str, ...] = ()  # paths the agent's bullets did not mention


@dataclass(frozen=True)
class SummarySize:
    total: int
    per_section: tuple[tuple[str, int], ...] = field(default=())

    @property
    def largest(self) -> tuple[str, int] | None:
        """The section to shorten first (ties: the earlier section)."""
        if not self.per_section:
            return None
        return max(self.per_section, key=lambda item: item[1])


# ---------------------------------------------------------------- render


def render_section(name: str, body: str) -> str:
    heading = f"{'#' * _RENDER_LEVEL} {name}"
    return f"{heading}\n{body}" if body else heading


def render(summary: AnchoredSummary) -> str:
    """Canonical markdown: `## <Section>` headings in fixed order, every anchor
    present (an empty anchor is a visible gap in the checklist)."""
    return "\n\n".join(render_section(name, body) for name, body in summary.sections()) + "\n"


def measure(summary: AnchoredSummary, count: Callable[[str], int]) -> SummarySize:
    """Size of the rendered summary and of each rendered section, with the
    caller's counter (the engine passes its token counter; `len` counts chars).

    Sections are measured as rendered (heading included); the total is measured
    on the full rendering, so it also covers the blank lines between sections."""
    per_section = tuple(
        (name, count(render_section(name, body))) for name, body in summary.sections()
    )
    return SummarySize(total=count(render(summary)), per_section=per_section)


# ---------------------------------------------------------------- parse


def parse(text: str) -> AnchoredSummary:
    """Read an agent's summary. Text with no known heading is Current State;
    text before the first known heading is prepended to Current State."""
    lines = text.splitlines()
    headings = [(i, h) for i, h in ((i, _heading(line)) for i, line in enumerate(lines)) if h]
    known = [(i, h) for i, h in headings if h[0] in SECTION_NAMES]
    if not known:
        return AnchoredSummary(current_state=_body(lines))
    section_level = next((h[1] for _, h in known if h[1] is not None), None)
    starts = [
        (i, name)
        for i, (name, level) in headings
        if name in SECTION_NAMES or (section_level is not None and level == section_level and i > known[0][0])
    ]
    bodies: dict[str, tuple[str, list[str]]] = {}  # casefolded name -> (name as first written, lines)
    for (start, name), (end, _) in zip(starts, [*starts[1:], (len(lines), "")]):
        chunk = lines[start + 1 : end]
        if name.casefold() in bodies:
            bodies[name.casefold()][1].extend(["", *chunk])  # a repeated heading continues its section
        else:
            bodies[name.casefold()] = (name, chunk)
    preamble = lines[: starts[0][0]]
    if _body(preamble):
        state_lines = bodies.get(STATE.casefold(), (STATE, []))[1]
        bodies[STATE.casefold()] = (STATE, [*preamble, "", *state_lines])

    def anchor(name: str) -> list[str]:
        return bodies.get(name.casefold(), (name, []))[1]

    return AnchoredSummary(
        session_intent=_body(anchor(INTENT)),
        files_modified=_items(_body(anchor(FILES))),
        decisions_made=_items(_body(anchor(DECISIONS))),
        current_state=_body(anchor(STATE)),
        next_steps=_body(anchor(NEXT)),
        extra_sections=tuple(
            (name, _body(body)) for name, body in bodies.values() if name not in SECTION_NAMES
        ),
    )


def _heading(line: str) -> tuple[str, int | None] | None:
    """(section name, level or None for bold/colon forms) if the line is a heading.
    Unknown names are returned only for `#` headings (as candidate extras)."""
    stripped = line.strip()
    atx = _ATX_HEADING.match(stripped)
    if atx:
        title = _clean_title(atx.group(2))
        if not title:
            return None
        known = _CANONICAL.get(title.casefold()) or _ALIASES.get(title.casefold())
        return (known or title, len(atx.group(1)))
    for pattern in (_BOLD_HEADING, _COLON_HEADING):
        match = pattern.match(stripped)
        if match:
            known = _CANONICAL.get(_clean_title(match.group(1)).casefold())
            return (known, None) if known else None
    return None


def _clean_title(raw: str) -> str:
    title = raw.strip().strip("*_").strip().rstrip(":").strip()
    title = _TRANSLATION_SUFFIX.sub("", title)
    return " ".join(title.split())


def _body(lines: Iterable[str]) -> str:
    return _normalise_text("\n".join(_demote_headings(list(lines))))


def _demote_headings(lines: list[str]) -> list[str]:
    """Headings inside a section are pushed to level 3 or deeper (keeping their
    relative levels), so a rendered body can never be mistaken for a section."""
    levels = [_atx_level(line) for line in lines]
    present = [level for level in levels if level]
    if not present or min(present) > _RENDER_LEVEL:
        return lines
    shift = _RENDER_LEVEL + 1 - min(present)
    return [_deepened(line, level + shift) if level else line for line, level in zip(lines, levels)]


def _deepened(line: str, level: int) -> str:
    """A `#` heading line written at `level` (at most 6)."""
    match = _ATX_HEADING.match(line.strip())
    return f"{'#' * min(6, level)} {match.group(2)}" if match else line


def _atx_level(line: str) -> int:
    """The level of a `#` heading line the parser would act on, else 0."""
    heading = _heading(line)
    return heading[1] or 0 if heading else 0


def _items(body: str) -> tuple[str, ...]:
    """Bullets (`-`, `*`, `+`, `1.`) become items; an indented line continues the
    current item; any other line starts an item of its own."""
    items: list[list[str]] = []
    for line in body.splitlines():
        if not line.strip():
            continue
        stripped = line.strip()
        bullet = _BULLET.match(stripped)
        indented = line[:1].isspace()
        if items and indented:
            items[-1].append(stripped)
        elif bullet:
            items.append([stripped[bullet.end() :]])
        else:
            items.append([stripped])
    return tuple("\n".join(item) for item in items)


# ---------------------------------------------------------------- normalisation


def _normalise_text(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def _normalise_item(item: str) -> str:
    return "\n".join(line.strip() for line in item.splitlines() if line.strip())


def _normalise_extras(extras: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    seen: set[str] = set()
    normalised = []
    for raw_name, body in extras:
        name = _clean_title(raw_name)
        key = name.casefold()
        if not name:
            raise ValueError("an extra section has an empty name; give it a heading")
        if key in _CANONICAL or key in _ALIASES:
            raise ValueError(
                f"extra section {name!r} names an anchor; put its text in that anchor field instead"
            )
        if key in seen:
            raise ValueError(f"extra section {name!r} appears twice; join the two bodies into one")
        seen.add(key)
        normalised.append((name, _normalise_text(body)))
    return tuple(normalised)


def _render_items(items: tuple[str, ...]) -> str:
    return "\n".join("- " + item.replace("\n", "\n  ") for item in items)


def _check_body(section: str, body: str) -> None:
    for line in body.splitlines():
        heading = _heading(line)
        if heading and heading[0] in SECTION_NAMES:
            raise ValueError(
                f"section {section!r} contains the line {line.strip()!r}, which reads as the "
                f"{heading[0]} heading; reword it (parse() splits sections there)"
            )
        if heading and heading[1] is not None and heading[1] <= _RENDER_LEVEL:
            raise ValueError(
                f"section {section!r} contains the heading line {line.strip()!r}; "
                "use ### or deeper for headings inside a section (parse() does this for you)"
            )


# ---------------------------------------------------------------- merge


def merge(
    previous: AnchoredSummary | None,
    new: AnchoredSummary,
    trail_files: Iterable[ChangedFile] = (),
) -> MergeResult:
    """Merge `new` into `previous` section by section (rules in the module doc),
    then complete Files Modified from `trail_files` (kept in the given order)."""
    previous = previous or AnchoredSummary()
    files, filled = _fill_from_trail(
        _accumulate(previous.files_modified, new.files_modified, file_key), list(trail_files)
    )
    merged = AnchoredSummary(
        session_intent=_merge_intent(previous.session_intent, new.session_intent),
        files_modified=files,
        decisions_made=_accumulate(previous.decisions_made, new.decisions_made, decision_key),
        current_state=new.current_state or previous.current_state,
        next_steps=new.next_steps or previous.next_steps,
        extra_sections=_merge_extras(previous.extra_sections, new.extra_sections),
    )
    return MergeResult(summary=merged, filled_from_trail=tuple(filled))


def _merge_intent(previous: str, new: str) -> str:
    if not new:
        return previous
    lines = new.splitlines()
    kept_keys = {_loose(new)}
    for line in previous.splitlines():
        key = _loose(line)
        if key and not any(key in other for other in kept_keys):
            lines.append(line)
            kept_keys.add(key)
    return "\n".join(lines)


def _accumulate(older: tuple[str, ...], newer: tuple[str, ...], key: Callable[[str], str]) -> tuple[str, ...]:
    by_key: dict[str, str] = {}
    for item in (*older, *newer):
        by_key[key(item)] = item  # dicts keep first-insertion order, values take the newest
    return tuple(by_key.values())


def _fill_from_trail(items: tuple[str, ...], trail: list[ChangedFile]) -> tuple[tuple[str, ...], list[str]]:
    trail_by_path = {normalise_path_key(entry.path): entry for entry in trail}
    agent_items = [item for item in items if not _is_trail_bullet(item) or file_key(item) not in trail_by_path]
    mentioned = _mentioned_paths([file_key(item) for item in agent_items], list(trail_by_path))
    fresh = {path: trail_bullet(entry) for path, entry in trail_by_path.items() if path not in mentioned}
    result = []
    for item in items:
        key = file_key(item)
        if item in agent_items:
            result.append(item)
        elif key in fresh:
            result.append(fresh.pop(key))  # stale trail bullet refreshed in place
    result.extend(fresh.values())
    filled = [path for path in trail_by_path if path not in mentioned]
    return tuple(result), filled


def _mentioned_paths(bullet_keys: list[str], trail_paths: list[str]) -> set[str]:
    """Trail paths a bullet names: exactly, or as a unique path-suffix match in
    either direction ("fields.py" for "src/pkg/fields.py" when no other trail
    file ends in "/fields.py"; "/repo/src/a.py" for "src/a.py")."""
    mentioned = set()
    for key in bullet_keys:
        if key in trail_paths:
            mentioned.add(key)
            continue
        matches = [p for p in trail_paths if p.endswith("/" + key) or key.endswith("/" + p)]
        if len(matches) == 1:
            mentioned.add(matches[0])
    return mentioned


def trail_bullet(entry: ChangedFile) -> str:
    note = f"; {' '.join(entry.note.split())}" if entry.note.strip() else ""
    return f"{normalise_path_key(entry.path)}: {entry.action}{note} {TRAIL_MARKER}"


def _is_trail_bullet(item: str) -> bool:
    return item.endswith(TRAIL_MARKER)


def _merge_extras(
    older: tuple[tuple[str, str], ...], newer: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...]:
    by_key: dict[str, tuple[str, str]] = {}
    for name, body in older:
        by_key[name.casefold()] = (name, body)
    for name, body in newer:
        if body or name.casefold() not in by_key:
            by_key[name.casefold()] = (name, body)
    return tuple(by_key.values())


# ---------------------------------------------------------------- keys

_KEY_END = re.compile(r":(?:\s|$)| [-–—] |—|–")
_LINE_SUFFIX = re.compile(r"(?::\d+){1,2}$")


def file_key(item: str) -> str:
    """The normalised path a Files Modified bullet starts with (before `:`,
    ` - ` or `—`); for a bullet with no path-like head, its normalised text."""
    first_line = item.splitlines()[0] if item else ""
    head = _KEY_END.split(first_line, maxsplit=1)[0].strip()
    words = head.split()
    if len(words) > 1 and _looks_like_path(words[0].strip("`*'\"")):
        head = words[0]
    key = normalise_path_key(head)
    return key if _looks_like_path(key) else decision_key(item)


def normalise_path_key(path: str) -> str:
    cleaned = _LINE_SUFFIX.sub("", path.strip().strip("`*'\"").strip())
    if not cleaned:
        return ""
    normalised = posixpath.normpath(cleaned)
    return normalised[2:] if normalised.startswith("./") else normalised


def decision_key(item: str) -> str:
    return " ".join(item.casefold().split()).rstrip(".;!")


def _looks_like_path(text: str) -> bool:
    return bool(text) and " " not in text and ("/" in text or "." in text.lstrip("."))


def _loose(text: str) -> str:
    return " ".join(_BULLET.sub("", text.strip()).casefold().split()).rstrip(".;!")
