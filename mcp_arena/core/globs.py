"""Path globs: their syntax, their bounds, and a match in time linear in the path.

`artifact_index(path=...)` filters the trail with a glob: `**/` any directories, `**`
anything, `*` and `?` within one directory, `[...]` a class (`glob_to_regex` gives the
meaning). `validate_glob` bounds a pattern (length, wildcards, well-formed classes)
before any matching. A backtracking regex engine needs
time ~ L^k on a path of L characters for a pattern with k unbounded wildcards: measured,
`**a**a**b` on a 1,000-character path took 46 s, holding the GIL (every other call of
the process waited). `Glob.match` gives the same answers in O(L × k) at worst: it runs
the regex when even its worst case is cheap (L^k ≤ REGEX_BUDGET steps, ~1 ms) and else
walks the pattern as a set of states (a Thompson NFA, the set held as the bits of an int).

Pure: no filesystem. `tests/test_fuzz.py` checks the walk against the regex on generated globs.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

MAX_GLOB_LENGTH = 512
MAX_GLOB_WILDCARDS = 8  # `*` and `**` runs in one pattern: more never narrows a file list better
REGEX_BUDGET = 1_000_000  # backtracking steps (~1 ns each) the regex may take at worst on one path
_GLOB_EXAMPLE = "'src/**/*.py' or '*.md'"


def validate_glob(path_glob: str) -> str:
    if not isinstance(path_glob, str) or not path_glob.strip():
        raise ValueError(f"path_glob is empty; pass a pattern such as {_GLOB_EXAMPLE}, or omit it to list every file")
    if "\x00" in path_glob:
        raise ValueError(f"path_glob contains a NUL character; pass a plain pattern such as {_GLOB_EXAMPLE}")
    if len(path_glob) > MAX_GLOB_LENGTH:
        raise ValueError(f"path_glob is {len(path_glob)} characters (limit {MAX_GLOB_LENGTH}); pass a shorter pattern such as {_GLOB_EXAMPLE}")
    if path_glob.count("[") != path_glob.count("]"):
        raise ValueError(f"path_glob {path_glob!r} has an unclosed '['; close it or escape it as '[[]'")
    if wildcard_count(path_glob) > MAX_GLOB_WILDCARDS:
        raise ValueError(
            f"path_glob has {wildcard_count(path_glob)} '*' wildcards (limit {MAX_GLOB_WILDCARDS}); pass a simpler pattern such as {_GLOB_EXAMPLE}"
        )
    try:
        _tokens(path_glob.strip())
    except (ValueError, re.error) as exc:  # a ']' before its '[', or a range such as [z-a]
        raise ValueError(f"path_glob {path_glob[:80]!r} has a bad '[...]' class ({exc}); escape a literal '[' as '[[]'") from exc
    return path_glob.strip()


def glob_to_regex(path_glob: str) -> re.Pattern[str]:
    """`**` spans directories, `*` and `?` stay within one, `[...]` is a class.
    A pattern without `/` matches the file name in any directory."""
    pattern = validate_glob(path_glob)
    if "/" not in pattern:
        pattern = "**/" + pattern
    regex = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    parts = [regex[text] if kind == "wild" else text if kind == "class" else re.escape(text) for kind, text in _pieces(pattern)]
    return _compile("".join(parts) + r"\Z")


def _pieces(pattern: str) -> list[tuple[str, str]]:
    """A pattern's constructs in order, the one reading both translations share: ("wild", "**/" | "**" |
    "*" | "?"), ("class", a `re` class such as "[^ab]"), ("lit", one character)."""
    pieces: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        wild = next((w for w in ("**/", "**", "*", "?") if pattern.startswith(w, i)), None)
        if wild is not None:
            pieces.append(("wild", wild))
            i += len(wild)
        elif pattern[i] == "[":
            end = pattern.index("]", i + 1)
            body = _class_body(pattern[i + 1 : end])
            negated = body.startswith("!")
            body = body[1:] if negated else body
            pieces.append(("class", "[" + ("^" if negated else "") + ("\\" + body if body.startswith("^") else body) + "]"))
            i = end + 1
        else:
            pieces.append(("lit", pattern[i]))
            i += 1
    return pieces


def _class_body(body: str) -> str:
    """A `[...]` body for `re`: backslashes literal; `[ & ~ |` escaped (literal today; `re` warns they may
    become set operators)."""
    return re.sub(r"([\[&~|])", r"\\\1", body.replace("\\", "\\\\"))


def _compile(regex: str) -> re.Pattern[str]:
    with warnings.catch_warnings():  # `--` in a class: `re` warns it may one day mean set difference
        warnings.simplefilter("ignore", FutureWarning)
        return re.compile(regex)


# Token kinds. STAR, DSTAR and DSL_LOOP loop; DSL_ENTRY is `(?:.*/)?`'s entry: skip it all, or go on.
LIT, ONE, CLASS, STAR, DSTAR, DSL_ENTRY, DSL_LOOP = range(7)
UNBOUNDED = {STAR, DSTAR, DSL_LOOP}


def wildcard_count(path_glob: str) -> int:
    """How many `*` runs (`*`, `**`) a pattern has."""
    return len(re.findall(r"\*+", path_glob))


@dataclass
class Glob:
    """A compiled path glob; `match(path)` as `glob_to_regex(pattern).match(path)` would answer."""

    pattern: str
    _regex: re.Pattern[str] = field(init=False, repr=False)
    _tokens: list[tuple[int, str | re.Pattern[str]]] = field(init=False, repr=False)
    _unbounded: int = field(init=False, repr=False)
    _steps: dict[str, tuple[int, int]] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        pattern = validate_glob(self.pattern)
        self._regex = glob_to_regex(pattern)
        self._tokens = _tokens("**/" + pattern if "/" not in pattern else pattern)
        self._unbounded = sum(kind in UNBOUNDED for kind, _ in self._tokens)
        self._epsilon1 = sum(1 << i for i, (kind, _) in enumerate(self._tokens) if kind in (STAR, DSTAR, DSL_ENTRY, DSL_LOOP))
        self._epsilon3 = sum(1 << i for i, (kind, _) in enumerate(self._tokens) if kind == DSL_ENTRY)
        self._accept = 1 << len(self._tokens)

    def match(self, path: str) -> bool:
        if len(path) ** self._unbounded <= REGEX_BUDGET:
            return self._regex.match(path) is not None
        return self._walk(path)

    def _walk(self, path: str) -> bool:
        states = self._closure(1)
        for char in path:
            advance, loop = self._steps.get(char) or self._step_masks(char)
            states = self._closure(((states & advance) << 1) | (states & loop))
            if not states:
                return False
        return bool(states & self._accept)

    def _closure(self, states: int) -> int:
        while True:
            grown = states | ((states & self._epsilon1) << 1) | ((states & self._epsilon3) << 3)
            if grown == states:
                return states
            states = grown

    def _step_masks(self, char: str) -> tuple[int, int]:
        """(states that consume `char` and move on, states that consume it and stay)."""
        advance = loop = 0
        for i, (kind, value) in enumerate(self._tokens):
            bit = 1 << i
            if kind == LIT and value == char or kind == ONE and char != "/":
                advance |= bit
            elif kind == CLASS and isinstance(value, re.Pattern) and value.fullmatch(char):
                advance |= bit
            elif kind == STAR and char != "/" or kind in (DSTAR, DSL_LOOP) and char != "\n":  # the regex's `.`
                loop |= bit
        if len(self._steps) < 4_096:  # distinct characters of the paths seen; bounded for odd unicode
            self._steps[char] = (advance, loop)
        return advance, loop


def _tokens(pattern: str) -> list[tuple[int, str | re.Pattern[str]]]:
    """The states of `pattern`, mirroring `glob_to_regex`'s translation one construct at a time."""
    wild = {"**/": [(DSL_ENTRY, ""), (DSL_LOOP, ""), (LIT, "/")], "**": [(DSTAR, "")], "*": [(STAR, "")], "?": [(ONE, "")]}
    tokens: list[tuple[int, str | re.Pattern[str]]] = []
    for kind, text in _pieces(pattern):
        if kind == "wild":  # `**/` is (?:.*/)? : its entry, its loop, the '/'
            tokens += wild[text]
        else:
            tokens.append((CLASS, _compile(text)) if kind == "class" else (LIT, text))
    return tokens
