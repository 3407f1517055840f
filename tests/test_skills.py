"""The skill catalog, the built-in guides and the demand pager (pure: no MCP, no LanceDB)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from mcp_arena.core.events import Event
from mcp_arena.core.skills import (
    Catalog,
    Page,
    Pager,
    PagerState,
    Skill,
    attach,
    builtin_skills_dir,
    load_catalog,
    measure,
    render,
)
from mcp_arena.errors import UnknownSkill

BUILTINS = ("artifact-trail", "code-files", "context-status", "filesystem", "git", "memory-search", "shell", "tag-and-squash")


def approx_tokens(text: str) -> int:
    return len(text) // 4


def write_skill(root: Path, folder: str, front_matter: str, body: str = "# Guide\n\nDo it well.\n") -> Path:
    skill_dir = root / folder
    skill_dir.mkdir(parents=True, exist_ok=True)
    (skill_dir / "SKILL.md").write_text(f"---\n{front_matter}\n---\n{body}", encoding="utf-8")
    return skill_dir


def skill(name: str, covers: tuple[str, ...]) -> Skill:
    return Skill(
        name=name,
        description=f"{name} description.",
        guide=f"{name} full guide",
        reminder=f"{name} reminder",
        covers=covers,
        source=Path("/nowhere") / name,
    )


class Session:
    """Plays the engine's part: log each result, fold it, decide, log and fold the pages."""

    def __init__(self, pager: Pager) -> None:
        self.pager = pager
        self.state = PagerState()
        self.log: list[Event] = []

    def append(self, kind: str, tool: str = "", is_error: bool = False, meta: dict | None = None) -> Event:
        event = Event(
            session="s",
            seq=len(self.log),
            kind=kind,
            text="",
            tokens=0,
            tool=tool,
            is_error=is_error,
            meta=meta or {},
        )
        self.log.append(event)
        self.state = self.pager.fold(self.state, event)
        return event

    def call(self, tool: str, is_error: bool = False, brief: bool = False) -> list[tuple[str, str]]:
        result = self.append("tool_result", tool, is_error)
        pages = self.pager.decide(self.state, result.tool, result.is_error, self.state.steps, brief=brief)
        for page in pages:
            self.append("guide", tool, meta=page.meta())
        return [(page.skill, page.tier) for page in pages]

    def load_skill(self, name: str) -> None:
        self.append("tool_result", "load_skill")
        self.append("guide", "load_skill", meta=self.pager.requested(name).meta())


@pytest.fixture(scope="module")
def builtin_catalog() -> Catalog:
    return load_catalog(builtin_skills_dir(), [])


@pytest.fixture
def session(builtin_catalog: Catalog) -> Session:
    return Session(Pager(builtin_catalog, remind_after_steps=10, reload_after_errors=2))


# --- the built-in skills ----------------------------------------------------


def test_builtin_skills_load_without_warnings(caplog, capsys):
    with caplog.at_level(logging.INFO, logger="mcp_arena.core.skills"):
        catalog = load_catalog(builtin_skills_dir(), [])
    assert catalog.names() == BUILTINS
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert capsys.readouterr().out == ""
    assert all(s.builtin for s in catalog)


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_skill_sizes_are_within_bounds(builtin_catalog, name):
    skill = builtin_catalog.get(name)
    assert 800 <= approx_tokens(skill.guide) <= 2000
    assert approx_tokens(skill.reminder) <= 100
    assert approx_tokens(skill.one_liner) <= 60
    assert not skill.one_liner.endswith("…"), "keep descriptions under the one-liner limit"
    assert skill.covers


def test_builtin_covers_match_the_tools_they_explain(builtin_catalog):
    def covering(tool: str) -> list[str]:
        return [s.name for s in builtin_catalog.covering(tool)]

    assert covering("context_status") == ["context-status"]
    assert covering("tag") == ["tag-and-squash"]
    assert covering("squash") == ["tag-and-squash"]
    assert covering("memory_search") == ["memory-search"]
    assert covering("artifact_index") == ["artifact-trail"]
    assert covering("load_skill") == []
    assert covering("read_text_file") == ["filesystem"]
    assert covering("mcp__filesystem__edit_file") == ["filesystem"]
    assert covering("fs:write_file") == ["filesystem"]
    assert covering("Bash") == ["shell"]
    assert covering("run_command") == ["shell"]
    assert covering("git_status") == ["git"]
    assert covering("git__git_commit") == ["git"]
    assert covering("Read") == ["code-files"]
    assert covering("Grep") == ["code-files"]
    assert covering("Glob") == ["code-files"]
    assert covering("browser_navigate") == []


def test_one_liners_are_sorted_one_per_skill(builtin_catalog):
    lines = builtin_catalog.one_liners().splitlines()
    assert [line.split(":")[0] for line in lines] == [f"- {name}" for name in BUILTINS]
    assert builtin_catalog.one_liners() == load_catalog(builtin_skills_dir(), []).one_liners()


def test_measure_counts_every_tier_with_its_delimiters(builtin_catalog):
    sizes = measure(builtin_catalog, approx_tokens)
    assert list(sizes) == list(BUILTINS)
    for name, size in sizes.items():
        skill = builtin_catalog.get(name)
        assert size.guide > approx_tokens(skill.guide)
        assert size.reminder > approx_tokens(skill.reminder)
        assert size.one_liner == approx_tokens(skill.one_liner)


def test_unknown_skill_names_the_skills_and_a_close_match(builtin_catalog):
    with pytest.raises(UnknownSkill) as raised:
        builtin_catalog.get("shel")
    message = str(raised.value)
    assert "'shell'" in message and "tag-and-squash" in message and "load_skill" in message
    assert builtin_catalog.get(" Shell ").name == "shell"
    assert " Shell " in builtin_catalog and "shel" not in builtin_catalog and 3 not in builtin_catalog


# --- the pager --------------------------------------------------------------


def test_first_use_pages_the_full_guide_then_nothing(session):
    assert session.call("context_status") == [("context-status", "full")]
    assert session.call("context_status") == []
    assert session.call("tag") == [("tag-and-squash", "full")]
    assert session.call("squash") == []


def test_reminder_after_n_steps_then_quiet_again(session):
    assert session.call("git_status") == [("git", "full")]  # step 1
    for _ in range(8):
        session.call("unrelated_tool")  # steps 2..9
    assert session.call("git_diff") == []  # step 10: 9 steps since shown
    assert session.call("git_log") == [("git", "reminder")]  # step 11: 10 steps
    assert session.call("git_log") == []
    for _ in range(9):
        session.call("unrelated_tool")
    assert session.call("git_commit") == [("git", "reminder")]


def test_two_consecutive_errors_page_the_full_guide_again(session):
    assert session.call("Bash") == [("shell", "full")]
    assert session.call("Bash", is_error=True) == []
    assert session.call("Bash", is_error=True) == [("shell", "full")]
    assert session.state.paging("shell").error_streak == 0
    assert session.call("Bash", is_error=True) == []
    assert session.call("Bash", is_error=True) == [("shell", "full")]


def test_a_success_breaks_the_error_streak(session):
    session.call("Bash")
    session.call("Bash", is_error=True)
    session.call("Bash")
    assert session.call("Bash", is_error=True) == []
    assert session.call("Bash", is_error=True) == [("shell", "full")]


def test_errors_of_uncovered_tools_do_not_count(session):
    session.call("Bash")
    session.call("Bash", is_error=True)
    session.call("unrelated_tool", is_error=True)
    assert session.call("Bash", is_error=True) == [("shell", "full")]


def test_an_error_reload_is_marked_in_the_delimiter(builtin_catalog):
    pager = Pager(builtin_catalog)
    state = PagerState(steps=5)
    state = pager.fold(state, Event("s", 0, "guide", "", 0, meta={"skill": "shell", "tier": "full"}))
    for seq in (1, 2):
        state = pager.fold(state, Event("s", seq, "tool_result", "", 0, tool="Bash", is_error=True))
    pages = pager.decide(state, "Bash", True, state.steps)
    assert [p.reason for p in pages] == ["errors"]
    assert pager.render(pages).startswith("--- skill: shell (guide, again: the last calls failed) ---\n")


def test_a_tool_the_host_documents_gets_one_pointer_line_once(session, builtin_catalog):
    """Brief paging (Claude Code's own tools through the hook): one line naming load_skill, once per
    context; no step reminders; two failures in a row bring the reminder (not the guide), and the
    streak starts anew after it."""
    assert session.call("Bash", brief=True) == [("shell", "pointer")]
    for _ in range(30):
        assert session.call("Bash", brief=True) == []
    assert session.call("Bash", is_error=True, brief=True) == []
    assert session.call("Bash", is_error=True, brief=True) == [("shell", "reminder")]
    assert session.call("Bash", is_error=True, brief=True) == []
    assert session.call("Bash", is_error=True, brief=True) == [("shell", "reminder")]
    assert [e.meta["reason"] for e in session.log if e.kind == "guide"] == ["first-use", "errors", "errors"]
    session.append("compaction")
    assert session.call("Read", brief=True) == [("code-files", "pointer")]
    assert session.call("Bash", brief=True) == [("shell", "pointer")]  # the compaction evicted the first one
    assert session.call("Bash") == []  # shown already, whichever way


def test_a_pointer_is_one_short_line_naming_the_guide(builtin_catalog):
    sizes = measure(builtin_catalog, approx_tokens)
    for skill_ in builtin_catalog:
        text = render([Page(skill_.name, "pointer", skill_.pointer_line)])
        assert "\n" not in text and text.endswith(f'Guide: load_skill("{skill_.name}")]')
        assert sizes[skill_.name].pointer <= 60 < sizes[skill_.name].guide
    assert builtin_catalog.get("shell").pointer_line.startswith("Bash without floods")
    reminder = Page("shell", "reminder", "r", "errors")
    assert render([reminder]).startswith('--- skill: shell (reminder, the last calls failed; full guide: load_skill("shell")) ---')


def test_a_pointer_of_the_wrong_type_skips_the_skill(tmp_path, caplog):
    write_skill(tmp_path, "bad", 'name: bad\ndescription: d\nmetadata:\n  mcp-arena-pointer: ""')
    write_skill(tmp_path, "good", 'name: good\ndescription: A good skill.\nmetadata:\n  mcp-arena-pointer: "' + "x " * 200 + '"')
    catalog = load_catalog(None, [tmp_path])
    assert catalog.names() == ("good",)
    assert len(catalog.get("good").pointer_line) <= 160


def test_load_skill_counts_as_showing_the_guide(session):
    session.load_skill("memory-search")
    assert session.call("memory_search") == []
    for _ in range(9):
        session.call("unrelated_tool")
    assert session.call("memory_search") == [("memory-search", "reminder")]


def test_a_host_compaction_evicts_every_guide(session):
    session.call("context_status")
    session.append("compaction")
    assert session.call("context_status") == [("context-status", "full")]


def test_several_skills_covering_one_tool_page_in_name_order():
    catalog = Catalog([skill("zeta", ("run_*",)), skill("alpha", ("run_tests",)), skill("mid", ("other",))])
    session = Session(Pager(catalog))
    assert session.call("run_tests") == [("alpha", "full"), ("zeta", "full")]


def test_zero_turns_a_tier_off(builtin_catalog):
    session = Session(Pager(builtin_catalog, remind_after_steps=0, reload_after_errors=0))
    session.call("Bash")
    for _ in range(30):
        assert session.call("Bash", is_error=True) == []


def test_decide_refuses_a_state_that_has_not_folded_the_result(builtin_catalog):
    pager = Pager(builtin_catalog)
    with pytest.raises(ValueError, match="fold the tool_result event first"):
        pager.decide(PagerState(), "tag", False, 1)


def test_guide_events_without_valid_meta_are_ignored(builtin_catalog):
    pager = Pager(builtin_catalog)
    state = PagerState()
    for meta in ({}, {"skill": "shell"}, {"skill": "shell", "tier": "huge"}, {"skill": 3, "tier": "full"}):
        assert pager.fold(state, Event("s", 0, "guide", "", 0, meta=meta)) == state


def test_replaying_the_log_after_a_restart_gives_the_same_state_and_pages(builtin_catalog):
    pager = Pager(builtin_catalog, remind_after_steps=5, reload_after_errors=2)
    live = Session(pager)
    script = [
        ("context_status", False),
        ("Bash", False),
        ("Bash", True),
        ("tag", False),
        ("Bash", True),
        ("unrelated_tool", True),
        ("git_status", False),
        ("Bash", False),
        ("context_status", False),
        ("context_status", False),
    ]
    for tool, is_error in script:
        live.call(tool, is_error)
    live.append("note")
    live.load_skill("filesystem")

    restarted = Session(Pager(load_catalog(builtin_skills_dir(), []), remind_after_steps=5, reload_after_errors=2))
    restarted.state = restarted.pager.replay(live.log)
    assert restarted.state == live.state

    for tool, is_error in [("Bash", True), ("Bash", True), ("context_status", False), ("read_text_file", False)]:
        assert restarted.call(tool, is_error) == live.call(tool, is_error)
    assert restarted.state == live.state


def test_render_delimits_each_page_and_attach_puts_it_after_the_body():
    pages = [
        Page("git", "full", "the guide", "first-use"),
        Page("shell", "reminder", "the reminder", "steps"),
    ]
    assert render(pages) == (
        "--- skill: git (guide) ---\nthe guide\n--- end skill: git ---\n\n"
        '--- skill: shell (reminder; full guide: load_skill("shell")) ---\nthe reminder\n--- end skill: shell ---'
    )
    assert attach("body", pages) == "body\n\n" + render(pages)
    assert attach("body", []) == "body"
    assert render([]) == ""


# --- loading user skills ----------------------------------------------------


def test_a_user_skill_overrides_the_builtin_one(tmp_path):
    write_skill(
        tmp_path,
        "shell",
        'name: shell\ndescription: My own shell rules.\nmetadata:\n  mcp-arena-covers: "zsh"\n'
        '  mcp-arena-reminder: "Use zsh."',
        body="# Mine\n",
    )
    catalog = load_catalog(builtin_skills_dir(), [tmp_path])
    shell = catalog.get("shell")
    assert (shell.guide, shell.reminder, shell.covers, shell.builtin) == ("# Mine", "Use zsh.", ("zsh",), False)
    assert catalog.names() == BUILTINS
    assert [s.name for s in catalog.covering("Bash")] == []


def test_later_user_dirs_override_earlier_ones(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    write_skill(first, "deploy", "name: deploy\ndescription: First.", body="first")
    write_skill(second, "deploy", "name: deploy\ndescription: Second.", body="second")
    write_skill(first, "only-first", "name: only-first\ndescription: Kept.")
    catalog = load_catalog(None, [first, second])
    assert catalog.get("deploy").guide == "second"
    assert catalog.names() == ("deploy", "only-first")


def test_an_anthropics_style_skill_loads_unchanged(tmp_path):
    write_skill(
        tmp_path,
        "pdf-tools",
        "name: pdf-tools\n"
        "description: Extract text and tables from PDF files, fill forms, merge documents. "
        "Use when working with PDF files.\n"
        "license: Complete terms in LICENSE.txt\n"
        "allowed-tools: Bash(python:*) Read\n",
        body="# PDF processing\n\n## Quick start\n\nUse pypdf.\n",
    )
    (tmp_path / "pdf-tools" / "LICENSE.txt").write_text("terms")
    catalog = load_catalog(None, [tmp_path])
    pdf = catalog.get("pdf-tools")
    assert pdf.covers == ()
    assert pdf.guide.startswith("# PDF processing")
    assert pdf.reminder.startswith("Extract text and tables")
    assert pdf.reminder.endswith('Full guide: load_skill("pdf-tools").')
    assert catalog.covering("Bash") == ()


def test_covers_may_be_a_yaml_list(tmp_path):
    write_skill(tmp_path, "db", 'name: db\ndescription: Databases.\nmetadata:\n  mcp-arena-covers: ["query", "db_*"]')
    assert load_catalog(None, [tmp_path]).get("db").covers == ("db_*", "query")


def test_a_name_that_differs_from_its_folder_loads_with_a_warning(tmp_path, caplog):
    write_skill(tmp_path, "folder-name", "name: real-name\ndescription: Mismatch.")
    with caplog.at_level(logging.WARNING, logger="mcp_arena.core.skills"):
        catalog = load_catalog(None, [tmp_path])
    assert catalog.names() == ("real-name",)
    assert "folder-name" in caplog.text


def test_an_overlong_reminder_is_shortened_with_a_warning(tmp_path, caplog):
    write_skill(tmp_path, "wordy", f'name: wordy\ndescription: Wordy.\nmetadata:\n  mcp-arena-reminder: "{"word " * 200}"')
    with caplog.at_level(logging.WARNING, logger="mcp_arena.core.skills"):
        reminder = load_catalog(None, [tmp_path]).get("wordy").reminder
    assert len(reminder) <= 400 and reminder.endswith("…")
    assert "reminder longer" in caplog.text


def make_escaping_skill_file(root: Path, outside: Path) -> None:
    (root / "escape-file").mkdir()
    (root / "escape-file" / "SKILL.md").symlink_to(outside / "SKILL.md")


def make_escaping_skill_folder(root: Path, outside: Path) -> None:
    (root / "escape-folder").symlink_to(outside, target_is_directory=True)


MALFORMED = {
    "bad-yaml": lambda root, _: write_skill(root, "bad-yaml", "name: bad-yaml\ndescription: [unclosed"),
    "missing-skill-md": lambda root, _: (root / "missing-skill-md").mkdir(),
    "bad-name": lambda root, _: write_skill(root, "Bad_Name", "name: Bad_Name\ndescription: Upper case."),
    "long-name": lambda root, _: write_skill(root, "n" * 65, f"name: {'n' * 65}\ndescription: Too long."),
    "no-front-matter": lambda root, _: (root / "plain").mkdir() or (root / "plain" / "SKILL.md").write_text("# Hi\n"),
    "not-a-mapping": lambda root, _: write_skill(root, "listy", "- name\n- description"),
    "no-description": lambda root, _: write_skill(root, "mute", "name: mute"),
    "bad-covers": lambda root, _: write_skill(root, "bad-covers", "name: bad-covers\ndescription: X.\nmetadata:\n  mcp-arena-covers: 3"),
    "oversized": lambda root, _: write_skill(root, "huge", "name: huge\ndescription: Big.", body="x" * 40_000),
    "not-utf8": lambda root, _: (root / "latin").mkdir() or (root / "latin" / "SKILL.md").write_bytes(
        b"---\nname: latin\ndescription: caf\xe9\n---\nbody\n"
    ),
    "escaping-symlink-file": make_escaping_skill_file,
    "escaping-symlink-folder": make_escaping_skill_folder,
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_skills_are_skipped_with_a_warning(tmp_path, caplog, capsys, case):
    root, outside = tmp_path / "skills", tmp_path / "outside"
    root.mkdir()
    write_skill(outside, ".", "name: outside\ndescription: Must never be read.")
    write_skill(root, "good", "name: good\ndescription: Still loads.")
    MALFORMED[case](root, outside)
    with caplog.at_level(logging.WARNING, logger="mcp_arena.core.skills"):
        catalog = load_catalog(None, [root])
    assert catalog.names() == ("good",)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "skipped" in r.getMessage()]
    assert len(warnings) == 1, caplog.text
    assert capsys.readouterr().out == ""


def test_the_guide_size_limit_is_a_setting(tmp_path):
    write_skill(tmp_path, "mid", "name: mid\ndescription: Mid.", body="x" * 2_000)
    assert load_catalog(None, [tmp_path]).names() == ("mid",)
    assert load_catalog(None, [tmp_path], max_guide_bytes=1_000).names() == ()


def test_a_missing_skills_folder_is_a_warning_not_a_crash(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="mcp_arena.core.skills"):
        catalog = load_catalog(builtin_skills_dir(), [tmp_path / "nope"])
    assert catalog.names() == BUILTINS
    assert "nope" in caplog.text


def test_hidden_folders_and_plain_files_are_ignored_silently(tmp_path, caplog):
    (tmp_path / ".git").mkdir()
    (tmp_path / "README.md").write_text("# skills")
    write_skill(tmp_path, "ok", "name: ok\ndescription: Fine.")
    with caplog.at_level(logging.WARNING, logger="mcp_arena.core.skills"):
        assert load_catalog(None, [tmp_path]).names() == ("ok",)
    assert caplog.records == []


def test_two_folders_with_one_name_keep_the_first(tmp_path, caplog):
    write_skill(tmp_path, "a-dup", "name: dup\ndescription: First.", body="first")
    write_skill(tmp_path, "b-dup", "name: dup\ndescription: Second.", body="second")
    with caplog.at_level(logging.WARNING, logger="mcp_arena.core.skills"):
        catalog = load_catalog(None, [tmp_path])
    assert catalog.get("dup").guide == "first"
    assert "already used" in caplog.text


@pytest.mark.skipif(os.name == "nt", reason="symlinks")
def test_a_symlink_inside_the_skill_folder_is_fine(tmp_path):
    real = write_skill(tmp_path / "store", "linked", "name: linked\ndescription: Via a link.")
    root = tmp_path / "skills"
    (root / "linked").mkdir(parents=True)
    (root / "linked" / "real.md").write_text((real / "SKILL.md").read_text())
    (root / "linked" / "SKILL.md").symlink_to(root / "linked" / "real.md")
    assert load_catalog(None, [root]).names() == ("linked",)
