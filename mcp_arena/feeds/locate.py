"""Finding the Claude Code transcript of the session the server runs in (`auto`).

Claude Code keeps one JSONL per session in
`<claude home>/projects/<encoded cwd>/<session id>.jsonl`, where the claude
home is `$CLAUDE_CONFIG_DIR` or `~/.claude`.

The encoding (Claude Code's own `cwd.replace(/[^a-zA-Z0-9]/g, "-")`,
confirmed against public reports that quote the shipped CLI, e.g.
anthropics/claude-code#24067 and #9221, Michaelliv/claude-quest#15,
Digital-Process-Tools/claude-remember#157):

- every character that is not an ASCII letter or digit becomes `-`, one per
  UTF-16 code unit (so an emoji gives two), with no collapsing:
  `/home/u/my_app.v2` → `-home-u-my-app-v2`, `C:\\Users\\u` → `C--Users-u`;
- past 200 characters the name is the first 200, `-`, and a base-36 hash of
  the original path. Claude Code 2.1.224 changed how long paths are told
  apart, so for those the candidates sharing the 200-character prefix are
  checked against the `cwd` their lines record instead of trusting the hash.

Limits:

- The encoding is lossy (`a_b` and `a-b` share a folder), and two Claude Code
  windows in one folder write two transcripts side by side: the newest by
  modification time is the one that wrote last, which can flip between them.
  When the host can say which session it is (a hook's `transcript_path`, a
  session id), prefer that over `auto`.
- A subagent's transcript lives under `<session id>/subagents/`; only the
  top-level `*.jsonl` files are candidates here.
- Claude Code resolves symbolic links in its cwd (macOS `/tmp` is
  `/private/tmp`): the resolved path is tried first, then the path as given.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from mcp_arena.feeds.claude_code import cwd_of, iter_lines

MAX_ENCODED_LENGTH = 200
CWD_SCAN_LINES = 50


def claude_home(explicit: str | Path | None = None) -> Path:
    """The Claude Code configuration folder: the argument, else `$CLAUDE_CONFIG_DIR`, else `~/.claude`."""
    if explicit:
        return Path(explicit).expanduser()
    configured = os.environ.get("CLAUDE_CONFIG_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".claude"


def encode_project_dir(cwd: str) -> str:
    """The folder name Claude Code gives a working directory under `projects/`."""
    encoded = "".join(_encode_char(char) for char in cwd)
    if len(encoded) <= MAX_ENCODED_LENGTH:
        return encoded
    return f"{encoded[:MAX_ENCODED_LENGTH]}-{_base36(abs(_js_string_hash(cwd)))}"


def _encode_char(char: str) -> str:
    if char.isascii() and char.isalnum():
        return char
    return "--" if ord(char) > 0xFFFF else "-"  # JavaScript sees two UTF-16 code units


def _js_string_hash(text: str) -> int:
    """Java-style string hash over UTF-16 code units, wrapped to a signed 32-bit int each step."""
    value = 0
    units = text.encode("utf-16-le")
    for index in range(0, len(units), 2):
        unit = units[index] | units[index + 1] << 8
        value = ((value << 5) - value + unit) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, remainder = divmod(number, 36)
        text = digits[remainder] + text
        if number == 0:
            return text


def project_dir(cwd: str | Path, home: str | Path | None = None) -> Path | None:
    """The existing `projects/<encoded cwd>` folder for a working directory, if there is one."""
    projects = claude_home(home) / "projects"
    for candidate_cwd in _cwd_spellings(cwd):
        found = _project_dir_for(projects, candidate_cwd)
        if found is not None:
            return found
    return None


def _cwd_spellings(cwd: str | Path) -> list[str]:
    given = str(cwd)
    resolved = os.path.realpath(given)
    return [resolved] if resolved == given else [resolved, given]


def _project_dir_for(projects: Path, cwd: str) -> Path | None:
    exact = projects / encode_project_dir(cwd)
    if exact.is_dir():
        return exact
    encoded = encode_project_dir(cwd)
    if len(encoded) <= MAX_ENCODED_LENGTH or not projects.is_dir():
        return None
    prefix = encoded[:MAX_ENCODED_LENGTH]
    for candidate in sorted(projects.glob(f"{prefix}-*")):
        if candidate.is_dir() and _records_cwd(candidate, cwd):
            return candidate
    return None


def _records_cwd(folder: Path, cwd: str) -> bool:
    """True when a transcript in the folder says it was written in `cwd`."""
    for transcript in _newest_first(folder):
        for line in islice(iter_lines(transcript), CWD_SCAN_LINES):
            recorded = cwd_of(line)
            if recorded is not None:
                return recorded == cwd
    return False


def transcripts(cwd: str | Path, home: str | Path | None = None) -> list[Path]:
    """The session transcripts of a working directory, newest first."""
    folder = project_dir(cwd, home)
    return list(_newest_first(folder)) if folder else []


def newest_transcript(cwd: str | Path, home: str | Path | None = None) -> Path | None:
    """The transcript Claude Code wrote to most recently for this working directory (`auto`)."""
    found = transcripts(cwd, home)
    return found[0] if found else None


def _newest_first(folder: Path) -> Iterator[Path]:
    dated = []
    for path in folder.glob("*.jsonl"):
        try:
            dated.append((path.stat().st_mtime, path.name, path))
        except OSError:
            continue  # deleted between listing and stat
    for _mtime, _name, path in sorted(dated, reverse=True):
        yield path
