"""`auto` discovery of the Claude Code transcript for a working directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mcp_arena.feeds import locate


@pytest.mark.parametrize(
    ("cwd", "folder"),
    [
        ("/home/marco/projects/spotter", "-home-marco-projects-spotter"),
        ("/home/chris/2_project-files/m2-clients/101-cal", "-home-chris-2-project-files-m2-clients-101-cal"),
        ("/Users/foo/.config/my app", "-Users-foo--config-my-app"),
        ("C:\\Users\\kim\\Desktop", "C--Users-kim-Desktop"),
        ("/home/u/Проект", "-home-u-------"),
        ("/home/u/a😀b", "-home-u-a--b"),  # an astral character is two UTF-16 code units
    ],
)
def test_every_non_alphanumeric_character_becomes_a_dash(cwd: str, folder: str) -> None:
    assert locate.encode_project_dir(cwd) == folder


def test_long_paths_are_cut_at_200_and_hashed() -> None:
    cwd = "/very/deep/" + "segment/" * 40
    encoded = locate.encode_project_dir(cwd)
    assert encoded.startswith(locate.encode_project_dir(cwd)[:200] + "-")
    assert len(encoded) > 200 and encoded[:200] == "".join(c if c.isalnum() else "-" for c in cwd)[:200]


def test_the_hash_is_javascripts_string_hash() -> None:
    # Java's and JavaScript's (h << 5) - h + c | 0 over "hello" is 99162322; overflow wraps to int32.
    assert locate._js_string_hash("hello") == 99162322
    assert locate._js_string_hash("a" * 50) == _reference_hash("a" * 50)
    assert locate._base36(99162322) == "1n1e4y"


def _reference_hash(text: str) -> int:
    value = 0
    for char in text:
        value = (31 * value + ord(char)) % (1 << 32)
    return value - (1 << 32) if value >= 1 << 31 else value


def make_session(folder: Path, name: str, mtime: float, cwd: str = "/work/app") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps({"type": "user", "cwd": cwd, "sessionId": Path(name).stem}) + "\n")
    os.utime(path, (mtime, mtime))
    return path


def test_newest_transcript_by_mtime(tmp_path: Path) -> None:
    cwd = tmp_path / "my_project.v2"
    cwd.mkdir()
    folder = tmp_path / "claude" / "projects" / locate.encode_project_dir(str(cwd.resolve()))
    make_session(folder, "old.jsonl", 1_000)
    newest = make_session(folder, "new.jsonl", 2_000)
    make_session(folder / "new" / "subagents", "agent-1.jsonl", 3_000)  # a subagent is never the session
    assert locate.newest_transcript(cwd, home=tmp_path / "claude") == newest
    assert [p.name for p in locate.transcripts(cwd, home=tmp_path / "claude")] == ["new.jsonl", "old.jsonl"]


def test_claude_home_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "cfg"))
    assert locate.claude_home() == tmp_path / "cfg"
    assert locate.claude_home(tmp_path / "explicit") == tmp_path / "explicit"
    monkeypatch.delenv("CLAUDE_CONFIG_DIR")
    assert locate.claude_home() == Path.home() / ".claude"


def test_nothing_found_is_none(tmp_path: Path) -> None:
    assert locate.newest_transcript(tmp_path / "nowhere", home=tmp_path / "claude") is None
    assert locate.transcripts(tmp_path, home=tmp_path / "claude") == []


def test_a_symlinked_cwd_is_found_under_its_real_path(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    folder = tmp_path / "claude" / "projects" / locate.encode_project_dir(str(real.resolve()))
    session = make_session(folder, "s.jsonl", 1_000)
    assert locate.newest_transcript(link, home=tmp_path / "claude") == session


def test_long_path_falls_back_to_the_recorded_cwd(tmp_path: Path) -> None:
    cwd = "/deep/" + "x" * 250
    projects = tmp_path / "claude" / "projects"
    prefix = locate.encode_project_dir(cwd)[:200]
    make_session(projects / f"{prefix}-otherhash", "a.jsonl", 1_000, cwd="/deep/" + "x" * 240)
    mine = make_session(projects / f"{prefix}-newscheme", "b.jsonl", 1_000, cwd=cwd)
    assert locate.newest_transcript(cwd, home=tmp_path / "claude") == mine
