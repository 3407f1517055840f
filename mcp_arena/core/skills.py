"""Skill catalog and the demand pager.

A skill is a folder holding `SKILL.md` in the Agent Skills format (YAML front
matter `name`, `description`, optional `metadata`; the markdown body is the full
guide). mcp-arena reads two keys of its own from `metadata` (the spec allows only
string values there, so both are plain strings):

    metadata:
      mcp-arena-covers: "context_status"     # space-separated fnmatch globs of tool names
      mcp-arena-reminder: "One short paragraph, at most ~100 tokens."

The pager decides, per tool result, which skill text rides along with it:

- tier 1, the one-liner: always visible (server instructions, `load_skill` description);
- tier 2, the full guide: on the first covered result of the session, after
  `reload_after_errors` consecutive failed covered results, and on `load_skill`;
- tier 3, the reminder: on a covered result once `remind_after_steps` steps have
  passed since the skill was last shown; nothing in between.

A tool the host documents itself (Claude Code's Bash, Read, Grep, …, shaped by the
PostToolUse hook) is paged briefly (`decide(..., brief=True)`): the model already
has the host's own description of it in every request, so its skill is named in
one line, the *pointer* (`metadata.mcp-arena-pointer`, or the description), with
the `load_skill` call for the whole guide, once per context; after
`reload_after_errors` consecutive failures the reminder comes instead of the whole
guide; there are no step reminders.

A *step* is one `tool_result` event in the session log (any tool, any feed). The
pager state is a pure fold over the log, so a restarted server that replays the
log pages exactly as before. The engine's protocol, per tool result:

    event = <append the tool_result>
    state = pager.fold(state, event)
    pages = pager.decide(state, event.tool, event.is_error, state.steps)
    for page in pages:
        guide = <append EventDraft(kind="guide", text=render([page]), tool=event.tool, meta=page.meta())>
        state = pager.fold(state, guide)
    text = attach(body, pages)
"""

from __future__ import annotations

import difflib
import fnmatch
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml

from mcp_arena.core.events import Event
from mcp_arena.errors import UnknownSkill

log = logging.getLogger("mcp_arena.core.skills")

SKILL_FILE = "SKILL.md"
METADATA_COVERS = "mcp-arena-covers"
METADATA_REMINDER = "mcp-arena-reminder"
METADATA_POINTER = "mcp-arena-pointer"

NAME_PATTERN = re.compile(r"[a-z0-9-]{1,64}")
DEFAULT_MAX_GUIDE_BYTES = 32 * 1024
MAX_FRONT_MATTER_BYTES = 8 * 1024
MAX_REMINDER_CHARS = 400  # ~100 tokens at ~4 chars a token
MAX_ONE_LINER_CHARS = 200  # ~50 tokens: the always-visible cost of one skill
MAX_POINTER_CHARS = 160  # ~40 tokens with its load_skill call: a brief page's cost

_FRONT_MATTER = re.compile(
    r"\A---[ \t]*\n(?P<yaml>.*?)^---[ \t]*(?:\n|\Z)(?P<body>.*)\Z",
    re.DOTALL | re.MULTILINE,
)
# Proxied and host tools arrive namespaced ("mcp__fs__read_file", "fs/read_file",
# "fs.read_file", "fs:read_file"); covers are written against the bare tool name.
_NAMESPACE_SEPARATORS = re.compile(r"__|[/.:]")

Tier = Literal["full", "reminder", "pointer"]
Reason = Literal["first-use", "errors", "steps", "requested"]


# --- skills and the catalog -------------------------------------------------


@dataclass(frozen=True)
class Skill:
    name: str
    description: str
    guide: str  # markdown body of SKILL.md: the full guide
    reminder: str
    covers: tuple[str, ...]  # fnmatch globs of tool names, matched case-insensitively
    source: Path  # the skill folder it was loaded from
    builtin: bool = False
    pointer: str = ""  # the one line of a brief page; "" -> the description, shortened

    @property
    def pointer_line(self) -> str:
        return _shorten(self.pointer or self.description, MAX_POINTER_CHARS)

    @property
    def one_liner(self) -> str:
        return f"- {self.name}: {_shorten(self.description, MAX_ONE_LINER_CHARS)}"

    def covers_tool(self, tool: str) -> bool:
        candidates = {tool.lower(), bare_tool_name(tool).lower()}
        return any(
            fnmatch.fnmatchcase(candidate, pattern.lower())
            for pattern in self.covers
            for candidate in candidates
        )


def bare_tool_name(tool: str) -> str:
    """The tool name without a host or proxy namespace prefix."""
    parts = [part for part in _NAMESPACE_SEPARATORS.split(tool) if part]
    return parts[-1] if parts else tool


class Catalog:
    """The skills known to this process, by name. Never changes once built."""

    def __init__(self, skills: Iterable[Skill] = ()) -> None:
        self._skills: dict[str, Skill] = {skill.name: skill for skill in sorted(skills, key=_by_name)}
        self._covering: dict[str, tuple[Skill, ...]] = {}

    def names(self) -> tuple[str, ...]:
        return tuple(self._skills)

    def get(self, name: str) -> Skill:
        key = name.strip().lower()
        if key in self._skills:
            return self._skills[key]
        raise UnknownSkill(self._unknown_skill_message(name))

    def covering(self, tool: str) -> tuple[Skill, ...]:
        """The skills whose covers match `tool`, sorted by name."""
        if tool not in self._covering:
            self._covering[tool] = tuple(s for s in self._skills.values() if s.covers_tool(tool))
        return self._covering[tool]

    def one_liners(self) -> str:
        return "\n".join(skill.one_liner for skill in self._skills.values())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().lower() in self._skills

    def __iter__(self) -> Iterator[Skill]:
        return iter(self._skills.values())

    def __len__(self) -> int:
        return len(self._skills)

    def _unknown_skill_message(self, name: str) -> str:
        if not self._skills:
            return f"No skill named {name!r}: no skills are installed."
        close = difflib.get_close_matches(name.strip().lower(), self._skills, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return (
            f"No skill named {name!r}.{hint} Skills: {', '.join(self._skills)}. "
            "Call load_skill with one of these names, or without a name for the catalog."
        )


def _by_name(skill: Skill) -> str:
    return skill.name


# --- loading ----------------------------------------------------------------


class _SkipSkill(Exception):
    """This folder is not a usable skill; the message says why."""


def builtin_skills_dir() -> Path:
    """Where the shipped skills live: `mcp_arena/_skills` in a wheel, `skills/` in a checkout."""
    package_dir = Path(__file__).resolve().parents[1]
    installed = package_dir / "_skills"
    return installed if installed.is_dir() else package_dir.parent / "skills"


def load_catalog(
    builtin_dir: Path | None,
    user_dirs: Sequence[Path] = (),
    *,
    max_guide_bytes: int = DEFAULT_MAX_GUIDE_BYTES,
) -> Catalog:
    """Load the built-in skills, then each user folder in order; a later skill of
    the same name replaces an earlier one. Unusable skills are skipped with a
    warning on the `mcp_arena.core.skills` logger; loading never raises."""
    skills: dict[str, Skill] = {}
    roots = [(builtin_dir, True)] if builtin_dir is not None else []
    roots += [(Path(d), False) for d in user_dirs]
    for root, builtin in roots:
        for skill in _load_root(Path(root), builtin=builtin, max_guide_bytes=max_guide_bytes):
            _add_overriding(skills, skill)
    return Catalog(skills.values())


def _add_overriding(skills: dict[str, Skill], skill: Skill) -> None:
    previous = skills.get(skill.name)
    if previous is not None:
        log.info("skill %r from %s overrides the one from %s", skill.name, skill.source, previous.source)
    skills[skill.name] = skill


def _load_root(root: Path, *, builtin: bool, max_guide_bytes: int) -> list[Skill]:
    try:
        real_root = root.expanduser().resolve(strict=True)
        if not real_root.is_dir():
            raise NotADirectoryError(str(root))
        entries = sorted(real_root.iterdir(), key=lambda entry: entry.name)
    except (OSError, RuntimeError) as error:
        log.warning("skills folder %s cannot be read, skipped: %s", root, error)
        return []
    loaded: dict[str, Skill] = {}
    for folder in entries:
        if folder.name.startswith(".") or not _is_dir(folder):
            continue
        try:
            skill = _load_skill(folder, real_root, builtin=builtin, max_guide_bytes=max_guide_bytes)
        except _SkipSkill as reason:
            log.warning("skill folder %s skipped: %s", folder, reason)
            continue
        if skill.name in loaded:
            log.warning(
                "skill folder %s skipped: name %r is already used by %s",
                folder,
                skill.name,
                loaded[skill.name].source,
            )
            continue
        loaded[skill.name] = skill
    return list(loaded.values())


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _load_skill(folder: Path, real_root: Path, *, builtin: bool, max_guide_bytes: int) -> Skill:
    real_folder = _inside(folder, real_root, what="skill folder")
    skill_file = _inside(folder / SKILL_FILE, real_folder, what=SKILL_FILE)
    text = _read_capped(skill_file, max_guide_bytes + MAX_FRONT_MATTER_BYTES)
    front_matter, body = _split_front_matter(text)
    guide = body.strip("\n")
    if len(guide.encode("utf-8")) > max_guide_bytes:
        raise _SkipSkill(f"guide is larger than {max_guide_bytes} bytes")
    name = _valid_name(front_matter.get("name"), folder.name)
    description = _valid_description(front_matter.get("description"))
    covers, reminder, pointer = _arena_metadata(front_matter.get("metadata"), name, description)
    return Skill(
        name=name,
        description=description,
        guide=guide,
        reminder=reminder,
        covers=covers,
        source=real_folder,
        builtin=builtin,
        pointer=pointer,
    )


def _inside(path: Path, real_parent: Path, *, what: str) -> Path:
    """`path` with symlinks resolved, if it stays inside `real_parent`."""
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        raise _SkipSkill(f"no {what} at {path}") from None
    except (OSError, RuntimeError) as error:
        raise _SkipSkill(f"{what} cannot be resolved: {error}") from None
    if real != real_parent and not real.is_relative_to(real_parent):
        raise _SkipSkill(f"{what} {path} resolves to {real}, outside {real_parent}")
    return real


def _read_capped(path: Path, max_bytes: int) -> str:
    try:
        if not path.is_file():
            raise _SkipSkill(f"{path} is not a regular file")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise _SkipSkill(f"{path} cannot be read: {error}") from None
    if len(data) > max_bytes:
        raise _SkipSkill(f"{path.name} is larger than {max_bytes} bytes (guide too large)")
    try:
        return data.decode("utf-8-sig").replace("\r\n", "\n")
    except UnicodeDecodeError as error:
        raise _SkipSkill(f"{path.name} is not UTF-8: {error}") from None


def _split_front_matter(text: str) -> tuple[Mapping[str, Any], str]:
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise _SkipSkill("no YAML front matter (the file must start with a '---' line and close it with another)")
    if len(match["yaml"].encode("utf-8")) > MAX_FRONT_MATTER_BYTES:
        raise _SkipSkill(f"front matter is larger than {MAX_FRONT_MATTER_BYTES} bytes")
    try:
        front_matter = yaml.safe_load(match["yaml"])
    except yaml.YAMLError as error:
        raise _SkipSkill(f"malformed YAML front matter: {_one_line(str(error))}") from None
    if not isinstance(front_matter, dict):
        raise _SkipSkill("front matter is not a YAML mapping")
    return front_matter, match["body"]


def _valid_name(name: object, folder_name: str) -> str:
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise _SkipSkill(f"name {name!r} is not 1-64 characters of a-z, 0-9 and '-'")
    if name != folder_name:
        # Agent Skills says the two should match; other hosts load such skills
        # anyway, so we do too, under the front-matter name.
        log.warning("skill %r lives in folder %r; loaded under its front-matter name", name, folder_name)
    return name


def _valid_description(description: object) -> str:
    if not isinstance(description, str) or not description.strip():
        raise _SkipSkill("description is missing or empty")
    return _one_line(description)


def _arena_metadata(metadata: object, name: str, description: str) -> tuple[tuple[str, ...], str, str]:
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise _SkipSkill("metadata is not a mapping")
    covers = _covers(metadata.get(METADATA_COVERS))
    return covers, _reminder(metadata.get(METADATA_REMINDER), name, description), _pointer(metadata.get(METADATA_POINTER))


def _pointer(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise _SkipSkill(f"metadata {METADATA_POINTER} must be a non-empty string")
    return _shorten(value, MAX_POINTER_CHARS)


def _covers(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        patterns = value.split()
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        patterns = [pattern.strip() for pattern in value if pattern.strip()]
    else:
        raise _SkipSkill(f"metadata {METADATA_COVERS} must be a space-separated string of tool-name globs")
    return tuple(sorted(set(patterns)))


def _reminder(value: object, name: str, description: str) -> str:
    if value is None:
        return _derived_reminder(name, description)
    if not isinstance(value, str) or not value.strip():
        raise _SkipSkill(f"metadata {METADATA_REMINDER} must be a non-empty string")
    reminder = value.strip()
    if len(reminder) > MAX_REMINDER_CHARS:
        log.warning("skill %r: reminder longer than %d characters, shortened", name, MAX_REMINDER_CHARS)
        reminder = _shorten(reminder, MAX_REMINDER_CHARS)
    return reminder


def _derived_reminder(name: str, description: str) -> str:
    suffix = f' Full guide: load_skill("{name}").'
    return _shorten(description, MAX_REMINDER_CHARS - len(suffix)) + suffix


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _shorten(text: str, limit: int) -> str:
    text = _one_line(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


# --- the pager --------------------------------------------------------------


@dataclass(frozen=True)
class SkillPaging:
    """What the pager remembers about one skill in one session."""

    last_shown_step: int | None = None  # None: not in the context window (never shown, or compacted away)
    error_streak: int = 0  # consecutive failed results of tools this skill covers


_NEVER_PAGED = SkillPaging()


@dataclass(frozen=True)
class PagerState:
    """Pure function of the session log up to some event; every fold returns a new state."""

    steps: int = 0  # tool_result events seen so far
    skills: Mapping[str, SkillPaging] = field(default_factory=lambda: MappingProxyType({}))

    def paging(self, name: str) -> SkillPaging:
        return self.skills.get(name, _NEVER_PAGED)

    def _with(self, updates: Mapping[str, SkillPaging], *, steps: int | None = None) -> PagerState:
        merged = {**self.skills, **updates}
        ordered = MappingProxyType({name: merged[name] for name in sorted(merged)})
        return PagerState(steps=self.steps if steps is None else steps, skills=ordered)


@dataclass(frozen=True)
class Page:
    skill: str
    tier: Tier
    text: str  # the guide or the reminder, without delimiters
    reason: Reason = "first-use"

    def meta(self) -> dict[str, str]:
        """The `meta` of the `guide` event that records this page."""
        return {"reason": self.reason, "skill": self.skill, "tier": self.tier}


class Pager:
    def __init__(self, catalog: Catalog, remind_after_steps: int = 10, reload_after_errors: int = 2) -> None:
        if remind_after_steps < 0 or reload_after_errors < 0:
            raise ValueError("remind_after_steps and reload_after_errors must be >= 0 (0 turns the tier off)")
        self.catalog = catalog
        self.remind_after_steps = remind_after_steps
        self.reload_after_errors = reload_after_errors

    # reading the log

    def fold(self, state: PagerState, event: Event) -> PagerState:
        if event.kind == "tool_result":
            return self._fold_result(state, event.tool, event.is_error)
        if event.kind == "guide":
            return self._fold_guide(state, event.meta)
        if event.kind == "compaction":
            return self._fold_compaction(state)
        return state

    def replay(self, events: Iterable[Event], state: PagerState | None = None) -> PagerState:
        state = state if state is not None else PagerState()
        for event in events:
            state = self.fold(state, event)
        return state

    def _fold_result(self, state: PagerState, tool: str, is_error: bool) -> PagerState:
        updates = {
            skill.name: replace(
                state.paging(skill.name),
                error_streak=state.paging(skill.name).error_streak + 1 if is_error else 0,
            )
            for skill in self.catalog.covering(tool)
        }
        return state._with(updates, steps=state.steps + 1)

    def _fold_guide(self, state: PagerState, meta: Mapping[str, Any]) -> PagerState:
        name, tier = meta.get("skill"), meta.get("tier")
        if not isinstance(name, str) or tier not in ("full", "reminder", "pointer"):
            log.debug("guide event without a valid skill/tier ignored: %r", meta)
            return state
        paging = replace(state.paging(name), last_shown_step=state.steps)
        if tier == "full" or meta.get("reason") == "errors":  # a reload answers the failures: count anew
            paging = replace(paging, error_streak=0)
        return state._with({name: paging})

    def _fold_compaction(self, state: PagerState) -> PagerState:
        # The host rewrote its window: every guide shown before is gone from it.
        updates = {name: replace(paging, last_shown_step=None) for name, paging in state.skills.items()}
        return state._with(updates)

    # deciding

    def decide(self, state: PagerState, tool: str, is_error: bool, step: int, brief: bool = False) -> list[Page]:
        """The pages to attach to the result of `tool`. `state` must already have
        folded that result, so `step == state.steps`. `brief`: the host documents
        `tool` itself (see the module's docstring)."""
        if step != state.steps:
            raise ValueError(
                f"decide() for step {step} got a state at step {state.steps}: fold the tool_result event first"
            )
        pages = []
        for skill in self.catalog.covering(tool):
            paging = state.paging(skill.name)
            page = self._brief_page_for(skill, paging, is_error) if brief else self._page_for(skill, paging, is_error, step)
            if page is not None:
                pages.append(page)
        return pages

    def _brief_page_for(self, skill: Skill, paging: SkillPaging, is_error: bool) -> Page | None:
        if paging.last_shown_step is None:
            return Page(skill.name, "pointer", skill.pointer_line, "first-use")
        if is_error and self.reload_after_errors and paging.error_streak >= self.reload_after_errors:
            return Page(skill.name, "reminder", skill.reminder, "errors")
        return None

    def _page_for(self, skill: Skill, paging: SkillPaging, is_error: bool, step: int) -> Page | None:
        if paging.last_shown_step is None:
            return Page(skill.name, "full", skill.guide, "first-use")
        if is_error and self.reload_after_errors and paging.error_streak >= self.reload_after_errors:
            return Page(skill.name, "full", skill.guide, "errors")
        if self.remind_after_steps and step - paging.last_shown_step >= self.remind_after_steps:
            return Page(skill.name, "reminder", skill.reminder, "steps")
        return None

    def requested(self, name: str) -> Page:
        """The page `load_skill(name)` returns; raises UnknownSkill."""
        skill = self.catalog.get(name)
        return Page(skill.name, "full", skill.guide, "requested")

    # rendering

    def render(self, pages: Sequence[Page]) -> str:
        return render(pages)


def render(pages: Sequence[Page]) -> str:
    """The delimited block(s) that go after a result body; "" for no pages. A pointer is one line."""
    return "\n\n".join(_pointer_line(page) if page.tier == "pointer" else _block(page) for page in pages)


def _block(page: Page) -> str:
    return f"{_opening(page)}\n{page.text}\n--- end skill: {page.skill} ---"


def _pointer_line(page: Page) -> str:
    return f'[mcp-arena skill {page.skill}: {page.text} Guide: load_skill("{page.skill}")]'


def _opening(page: Page) -> str:
    if page.tier == "reminder":
        why = ", the last calls failed" if page.reason == "errors" else ""
        return f'--- skill: {page.skill} (reminder{why}; full guide: load_skill("{page.skill}")) ---'
    if page.reason == "errors":
        return f"--- skill: {page.skill} (guide, again: the last calls failed) ---"
    return f"--- skill: {page.skill} (guide) ---"


def attach(body: str, pages: Sequence[Page]) -> str:
    """A tool result's text with its pages after the body (spatial locality)."""
    if not pages:
        return body
    return f"{body}\n\n{render(pages)}"


# --- measuring --------------------------------------------------------------


@dataclass(frozen=True)
class SkillSizes:
    """Tokens each tier costs, delimiters included: what the window really pays."""

    one_liner: int
    reminder: int
    guide: int
    pointer: int = 0


def measure(catalog: Catalog, count_tokens: Callable[[str], int]) -> dict[str, SkillSizes]:
    return {
        skill.name: SkillSizes(
            one_liner=count_tokens(skill.one_liner),
            reminder=count_tokens(render([Page(skill.name, "reminder", skill.reminder, "steps")])),
            guide=count_tokens(render([Page(skill.name, "full", skill.guide, "first-use")])),
            pointer=count_tokens(render([Page(skill.name, "pointer", skill.pointer_line, "first-use")])),
        )
        for skill in catalog
    }
