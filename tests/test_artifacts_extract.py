"""Artifact extraction (every tool family, then the public corpus) and the trail fold/index."""

from __future__ import annotations

import json

import pytest

from mcp_arena.core.artifacts import ArtifactRecord, changed_files, fold, index, render_index, validate_glob
from mcp_arena.core.extract import (
    EditorState,
    FileAction,
    extract,
    normalise_path,
    shell_file_actions,
    validate_mappings,
)
from mcp_arena.core.summary import ChangedFile
from mcp_arena.feeds.swe_agent import parse_action
from tests.helpers import CORPUS


def pairs(actions: list[FileAction]) -> list[tuple[str, str]]:
    return [(a.path, a.action) for a in actions]


# ---------------------------------------------------------------- paths


@pytest.mark.parametrize(
    "path, cwd, expected",
    [
        ("/w/src/a.py", "/w", "src/a.py"),
        ("src/../lib/./b.py", "/w", "lib/b.py"),
        ("../other/c.py", "/w/repo", "/w/other/c.py"),
        ("/etc/hosts", "/w", "/etc/hosts"),
        ("/w", "/w", None),
        ("./a.py", None, "a.py"),
        ("a/../../b", None, "../b"),
        ("", None, None),
        ("https://example.com/x", None, None),
        ("/w/", "/w/", None),
    ],
)
def test_normalise_path(path, cwd, expected):
    assert normalise_path(path, cwd) == expected


# ---------------------------------------------------------------- Claude Code


def test_claude_code_file_tools():
    cwd = "/home/u/proj"
    assert pairs(extract("Read", {"file_path": "/home/u/proj/src/a.py"}, cwd=cwd)) == [("src/a.py", "read")]
    assert pairs(extract("Write", {"file_path": "/home/u/proj/new.md", "content": "x"}, cwd=cwd)) == [("new.md", "created")]
    assert pairs(extract("Edit", {"file_path": "/home/u/proj/a.py", "old_string": "a", "new_string": "b"}, cwd=cwd)) == [("a.py", "modified")]
    assert pairs(extract("MultiEdit", {"file_path": "/home/u/proj/a.py", "edits": []}, cwd=cwd)) == [("a.py", "modified")]
    assert pairs(extract("NotebookEdit", {"notebook_path": "/home/u/proj/n.ipynb", "new_source": ""}, cwd=cwd)) == [("n.ipynb", "modified")]
    assert extract("Glob", {"pattern": "**/*.py"}, cwd=cwd) == []
    assert extract("WebFetch", {"url": "https://x"}, cwd=cwd) == []


def test_mcp_prefixed_names_fall_back_to_the_bare_tool():
    assert pairs(extract("mcp__filesystem__write_file", {"path": "/p/a.txt"}, cwd="/p")) == [("a.txt", "created")]


# ---------------------------------------------------------------- shell


@pytest.mark.parametrize(
    "command, expected",
    [
        ("rm -f a.txt b/c.py", [("a.txt", "deleted"), ("b/c.py", "deleted")]),
        ("mv a.py b.py", [("a.py", "deleted"), ("b.py", "created")]),
        ("mv f.py pkg/", [("f.py", "deleted"), ("pkg/f.py", "created")]),
        ("cp -r a b", [("a", "read"), ("b", "created")]),
        ("cp a b dir", [("a", "read"), ("dir/a", "created"), ("b", "read"), ("dir/b", "created")]),
        ("echo hi > out.txt 2>&1; echo more >> log.txt", [("out.txt", "created"), ("log.txt", "modified")]),
        ("python x.py 2>/dev/null > res.txt", [("res.txt", "created")]),
        ("sed -i 's/a$/b/' src/x.py", [("src/x.py", "modified")]),
        ("sed -i.bak -e 's/*//' a b", [("a", "modified"), ("b", "modified")]),
        ("sed -n '1,5p' f.py", [("f.py", "read")]),
        ("git mv old.py new.py && git rm gone.py && git rm --cached kept.py",
         [("old.py", "deleted"), ("new.py", "created"), ("gone.py", "deleted")]),
        ("git checkout -- a.py; git restore b.py; git restore --staged c.py", [("a.py", "modified"), ("b.py", "modified")]),
        ("touch new.txt && mkdir -p build/out", [("new.txt", "created"), ("build/out", "created")]),
        ("touch -c maybe.txt", []),
        ("cat f | head -3 && tail -n 5 g", [("f", "read"), ("g", "read")]),
        ("tee -a log.txt < input.txt", [("log.txt", "modified"), ("input.txt", "read")]),
        ("cat <<'EOF' > conf.ini\n[a]\nrm x\nEOF\nrm y", [("conf.ini", "created"), ("y", "deleted")]),
        ("FOO=1 sudo rm z", [("z", "deleted")]),
        ("if [ -f a ]; then rm a; fi", [("a", "deleted")]),
        # conservative: variables, globs, substitutions, home, unbalanced quotes, loops
        ("rm $F; rm *.pyc; rm `ls`; cat $(ls); rm ~/x", []),
        ("echo 'unterminated", []),
        ("for f in a b; do rm $f; done", []),
        ("mix phx.server 2>&1 | head -80", []),
        ("echo 'a > b' # rm c", []),
        ("python -m pytest -q", []),
    ],
)
def test_shell_commands(command, expected):
    assert pairs(shell_file_actions(command, cwd="/w")) == expected


def test_shell_follows_cd_and_stops_at_unknown_cd():
    assert pairs(shell_file_actions("cd sub && touch f && cd .. && touch g", cwd="/w")) == [("sub/f", "created"), ("g", "created")]
    assert pairs(shell_file_actions("cd $HOME && touch h && touch /abs/i", cwd="/w")) == [("/abs/i", "created")]
    assert pairs(shell_file_actions("cd /workspace && echo x > test.pony")) == [("/workspace/test.pony", "created")]


def test_only_repeats_of_a_paths_previous_action_are_dropped():
    assert pairs(extract("Bash", {"command": "touch a; rm a; touch a; cat b c b"})) == [
        ("a", "created"), ("a", "deleted"), ("a", "created"), ("b", "read"), ("c", "read")]


def test_mkdir_is_noted_as_directory():
    assert extract("Bash", {"command": "mkdir -p a/b"}) == [FileAction("a/b", "created", "directory")]


# ---------------------------------------------------------------- filesystem MCP server


def test_filesystem_server_tools():
    cwd = "/data"
    assert pairs(extract("read_text_file", {"path": "/data/a.txt"}, cwd=cwd)) == [("a.txt", "read")]
    assert pairs(extract("read_file", {"path": "b.txt"}, cwd=cwd)) == [("b.txt", "read")]
    assert pairs(extract("read_multiple_files", {"paths": ["/data/a", "/data/b", "/data/a"]}, cwd=cwd)) == [("a", "read"), ("b", "read")]
    assert pairs(extract("write_file", {"path": "/data/c.txt", "content": ""}, cwd=cwd)) == [("c.txt", "created")]
    assert pairs(extract("edit_file", {"path": "/data/c.txt", "edits": []}, cwd=cwd)) == [("c.txt", "modified")]
    assert pairs(extract("edit_file", {"path": "/data/c.txt", "edits": [], "dryRun": True}, cwd=cwd)) == [("c.txt", "read")]
    assert extract("create_directory", {"path": "/data/out"}, cwd=cwd) == [FileAction("out", "created", "directory")]
    assert pairs(extract("move_file", {"source": "/data/c.txt", "destination": "/data/d.txt"}, cwd=cwd)) == [("c.txt", "deleted"), ("d.txt", "created")]
    assert extract("list_directory", {"path": "/data"}, cwd=cwd) == []


# ---------------------------------------------------------------- SWE-agent


@pytest.mark.parametrize(
    "command, action",
    [("view", "read"), ("create", "created"), ("str_replace", "modified"), ("insert", "modified"), ("undo_edit", "modified")],
)
def test_str_replace_editor(command, action):
    assert pairs(extract("str_replace_editor", {"command": command, "path": "/repo/x.py"}, cwd="/repo")) == [("x.py", action)]


def test_old_swe_agent_commands_track_the_open_file():
    state = EditorState()
    calls = ['open "src/fields.py" 1474', "edit 10:12\nfoo\nend_of_edit", "create reproduce.py",
             "insert 'print(1)'", "python reproduce.py", "rm reproduce.py", "find_file x.py", "submit"]
    actions = [pairs(extract(*parse_action(c), cwd="/testbed", state=state)) for c in calls]
    assert actions == [
        [("src/fields.py", "read")],
        [("src/fields.py", "modified")],
        [("reproduce.py", "created")],
        [("reproduce.py", "modified")],
        [],
        [("reproduce.py", "deleted")],
        [],
        [],
    ]
    assert state.open_file == "reproduce.py"


def test_swe_agent_edit_without_open_file_is_unattributed():
    assert extract("edit", {"search": "a", "replace": "b"}) == []


def test_swe_agent_function_calls():
    state = EditorState()
    assert pairs(extract("create", {"filename": "r.py"}, state=state)) == [("r.py", "created")]
    assert pairs(extract("edit", {"search": "a", "replace": "b"}, state=state)) == [("r.py", "modified")]
    assert pairs(extract("bash", {"command": "rm r.py"}, state=state)) == [("r.py", "deleted")]


# ---------------------------------------------------------------- OpenHands


def test_openhands_actions():
    cwd = "/workspace"
    assert pairs(extract("read", {"path": "/workspace/a.c"}, cwd=cwd)) == [("a.c", "read")]
    assert pairs(extract("write", {"path": "/workspace/b.c", "content": ""}, cwd=cwd)) == [("b.c", "created")]
    assert pairs(extract("edit", {"path": "/workspace/a.c", "command": "str_replace"}, cwd=cwd)) == [("a.c", "modified")]
    assert pairs(extract("edit", {"path": "/workspace/a.c", "command": "view"}, cwd=cwd)) == [("a.c", "read")]
    legacy = {"path": "/workspace/g.py", "translated_ipython_code": "print(file_editor(**{'command': 'create', 'path': '/workspace/g.py'}))"}
    assert pairs(extract("edit", legacy, cwd=cwd)) == [("g.py", "created")]
    assert pairs(extract("edit", {"path": "/workspace/a.c", "content": "x", "start": 1}, cwd=cwd)) == [("a.c", "modified")]
    assert pairs(extract("run", {"command": "mv /workspace/a.py /workspace/b.py"}, cwd=cwd)) == [("a.py", "deleted"), ("b.py", "created")]
    assert extract("read", {"path": "/workspace"}, cwd=cwd) == [], "viewing the working directory is no file"
    assert extract("think", {"thought": "x"}) == []


# ---------------------------------------------------------------- user mappings


def test_extra_mappings():
    mappings = {
        "my_write_tool": {"path_arg": "file", "action": "modified"},
        "my_reader": {"path_arg": ["src", "more"], "action": "read"},
        "my_shell": {"shell_arg": "cmd"},
        "fs__put": {"like": "write_file"},
        "open": {"ignore": True},
    }
    assert pairs(extract("my_write_tool", {"file": "/r/a.py"}, cwd="/r", extra_mappings=mappings)) == [("a.py", "modified")]
    assert pairs(extract("my_reader", {"src": "a", "more": ["b", "c"]}, extra_mappings=mappings)) == [("a", "read"), ("b", "read"), ("c", "read")]
    assert pairs(extract("my_shell", {"cmd": "rm z"}, extra_mappings=mappings)) == [("z", "deleted")]
    assert pairs(extract("fs__put", {"path": "q"}, extra_mappings=mappings)) == [("q", "created")]
    assert extract("open", {"path": "https-ish thing"}, extra_mappings=mappings) == []


@pytest.mark.parametrize(
    "mappings, message",
    [
        ({"t": {"path_arg": "f", "action": "written"}}, "must be one of created, modified, read, deleted"),
        ({"t": {"path_arg": "f"}}, "use path_arg \\+ action, or shell_arg, or like"),
        ({"t": {"like": "nope"}}, "names no built-in tool"),
        ({"t": "modified"}, "must map a tool name to an object"),
        ({"t": {"path_arg": [], "action": "read"}}, "argument name or a list"),
    ],
)
def test_extra_mappings_are_validated(mappings, message):
    with pytest.raises(ValueError, match=message):
        validate_mappings(mappings)


# ---------------------------------------------------------------- trail fold and index


def records(*rows: tuple[str, str]) -> list[ArtifactRecord]:
    return [ArtifactRecord(path, action, seq) for seq, (path, action) in enumerate(rows, start=1)]


def test_fold_rules():
    trail = fold(records(
        ("new.py", "created"), ("new.py", "modified"),  # created then modified: created
        ("lib.py", "read"), ("lib.py", "modified"),  # read then modified: modified, both shown
        ("tmp.py", "created"), ("tmp.py", "deleted"),  # transient
        ("old.py", "deleted"),  # pre-existing, deleted
        ("cfg.toml", "read"), ("cfg.toml", "created"),  # Write over a file we read: modified
        ("doc.md", "read"), ("doc.md", "read"),
    ))
    assert {p: s.state for p, s in trail.items()} == {
        "cfg.toml": "modified", "doc.md": "read", "lib.py": "modified", "new.py": "created",
        "old.py": "deleted", "tmp.py": "deleted",
    }
    assert trail["new.py"].actions == ("created", "modified")
    assert trail["lib.py"].actions == ("modified", "read") and trail["lib.py"].seqs == (3, 4)
    assert trail["cfg.toml"].actions == ("modified", "read")
    assert trail["tmp.py"].label == "created then deleted"
    assert trail["old.py"].label == "deleted"
    assert list(trail) == sorted(trail)


def test_fold_is_order_independent_and_recreate_after_delete():
    rows = records(("a", "created"), ("a", "deleted"), ("a", "created"), ("b", "read"), ("b", "deleted"), ("b", "created"))
    assert fold(rows) == fold(reversed(rows))
    assert fold(rows)["a"].state == "created"
    assert fold(rows)["b"].state == "modified", "existed before the session, replaced"


def test_records_of_one_call_fold_in_the_order_they_happened():
    made_then_removed = [ArtifactRecord("t.py", "created", 7), ArtifactRecord("t.py", "deleted", 7)]
    assert fold(made_then_removed)["t.py"].state == "deleted"
    assert fold(made_then_removed[::-1])["t.py"].state == "modified"  # removed, then written anew


def test_the_trail_keeps_a_calls_record_order_through_the_store(tmp_path):
    from mcp_arena.config import Settings
    from mcp_arena.engine.arena import Arena

    settings = Settings(home=tmp_path / "home", semantic=False)
    record = [{"path": "t.py", "action": "created"}, {"path": "t.py", "action": "deleted"}, {"path": "a.py", "action": "created"}]
    for _ in range(2):  # the first process folds what it recorded; the second what it reads back
        arena = Arena(settings)
        try:
            if not arena.has_session("s"):
                arena.artifact_index(record=record, session="s")
            listing = arena.artifact_index(session="s").structured
            assert [f["path"] for f in listing["deleted"]] == ["t.py"] and [f["path"] for f in listing["created"]] == ["a.py"]
        finally:
            arena.close()


def test_deleting_a_directory_deletes_known_paths_below():
    trail = fold(records(("build/out.o", "created"), ("build/lib/x.a", "read"), ("build", "deleted"), ("buildx/y", "read")))
    assert trail["build/out.o"].state == "deleted"
    assert trail["build/out.o"].notes == ("deleted with build",)
    assert trail["build/lib/x.a"].state == "deleted"
    assert trail["buildx/y"].state == "read"


def test_repeated_mkdir_is_no_change():
    trail = fold([ArtifactRecord("out", "created", 1, "directory"), ArtifactRecord("out", "created", 2, "directory")])
    assert trail["out"].actions == ("created",)


def test_index_answers_the_probes_and_filters():
    trail = fold(records(("src/a.py", "created"), ("src/b.py", "read"), ("src/b.py", "modified"),
                         ("README.md", "read"), ("src/pkg/c.py", "read"), ("t.py", "created"), ("t.py", "deleted")))
    grouped = index(trail)
    assert [s.path for s in grouped.created] == ["src/a.py"]
    assert [s.path for s in grouped.modified] == ["src/b.py"]
    assert [s.path for s in grouped.read_only] == ["README.md", "src/pkg/c.py"]
    assert [s.path for s in grouped.deleted] == ["t.py"]
    assert [s.path for s in index(trail, action="read").read_only] == ["README.md", "src/pkg/c.py"]
    assert index(trail, action="read").created == ()
    assert [s.path for _, g in index(trail, path_glob="src/*.py").groups() for s in g] == ["src/a.py", "src/b.py"]
    assert [s.path for _, g in index(trail, path_glob="src/**/*.py").groups() for s in g] == ["src/a.py", "src/b.py", "src/pkg/c.py"]
    assert [s.path for _, g in index(trail, path_glob="*.md").groups() for s in g] == ["README.md"]
    assert [s.path for _, g in index(trail, path_glob="src/[ab].py").groups() for s in g] == ["src/a.py", "src/b.py"]
    assert index(trail, path_glob="*.rs").count == 0


def test_render_index_is_explicit_and_stable():
    trail = fold(records(("a.py", "read"), ("a.py", "modified"), ("t.py", "created"), ("t.py", "deleted")))
    assert render_index(index(trail)) == (
        "created (0):\n- (none)\n"
        "modified (1):\n- a.py — modified, read (seq 1, 2)\n"
        "read only (0):\n- (none)\n"
        "deleted (1):\n- t.py — created then deleted; created, deleted (seq 3, 4)\n"
    )


@pytest.mark.parametrize(
    "glob, message",
    [("", "empty"), ("   ", "empty"), ("a\x00b", "NUL"), ("*" * 600, "limit 512"), ("src/[ab.py", "unclosed")],
)
def test_bad_globs_are_rejected_with_the_fix(glob, message):
    with pytest.raises(ValueError, match=message) as raised:
        validate_glob(glob)
    assert "pass" in str(raised.value) or "close" in str(raised.value)


def test_bad_action_filter():
    with pytest.raises(ValueError, match="one of created, modified, read, deleted"):
        index({}, action="written")


def test_changed_files_feed_the_summary_merge():
    trail = fold(records(("src/a.py", "created"), ("README.md", "read"), ("t.py", "created"), ("t.py", "deleted"), ("b.py", "modified")))
    assert changed_files(trail) == [
        ChangedFile("src/a.py", "created"),
        ChangedFile("t.py", "deleted", "created then deleted"),
        ChangedFile("b.py", "modified"),
    ]


# ---------------------------------------------------------------- the public corpus (raw JSON, hand-checked)


def claude_code_trail(name: str) -> dict:
    state, rows, seq = EditorState(), [], 0
    for line in (CORPUS / "claude-code" / name).read_text().splitlines():
        entry = json.loads(line)
        content = (entry.get("message") or {}).get("content") if isinstance(entry.get("message"), dict) else None
        for block in content if isinstance(content, list) else []:
            if block.get("type") == "tool_use":
                seq += 1
                rows += [ArtifactRecord(a.path, a.action, seq, a.note)
                         for a in extract(block["name"], block["input"], cwd=entry.get("cwd"), state=state)]
    return fold(rows)


def swe_agent_trail(name: str, *, use_tool_calls: bool) -> dict:
    data = json.loads((CORPUS / "swe-agent" / name).read_text())
    state, rows = EditorState(), []
    steps = data["trajectory"]
    if use_tool_calls:
        cwd = steps[0]["state"]["working_dir"]
        calls = [(c["function"]["name"], json.loads(c["function"]["arguments"]), cwd)
                 for m in data["history"] for c in m.get("tool_calls") or []]
    else:
        calls = [(*parse_action(s["action"]), _state(s)["working_dir"]) for s in steps]
    for seq, (tool, arguments, cwd) in enumerate(calls, start=1):
        rows += [ArtifactRecord(a.path, a.action, seq) for a in extract(tool, arguments, cwd=cwd, state=state)]
    return fold(rows)


def _state(step: dict) -> dict:
    return json.loads(step["state"]) if isinstance(step["state"], str) else step["state"]


def openhands_trail(events: list[dict], cwd: str) -> dict:
    rows = []
    for event in events:
        if "action" in event:
            rows += [ArtifactRecord(a.path, a.action, event["id"], a.note)
                     for a in extract(event["action"], event.get("args") or {}, cwd=cwd)]
    return fold(rows)


def by_state(trail: dict) -> dict[str, set[str]]:
    grouped = index(trail)
    return {name: {s.path for s in files} for name, files in grouped.groups() if files}


def test_corpus_claude_code_subagent_session():
    assert by_state(claude_code_trail("subagent.jsonl")) == {"created": {"plan.md"}, "read only": {"mix.exs"}}


def test_corpus_claude_code_tool_heavy_session():
    assert by_state(claude_code_trail("tool_heavy.jsonl")) == {
        "read only": {"assets/js/app.js", "/tmp/claude-1000/-home-marco-projects-spotter/tasks/bae407b.output"},
    }
    assert by_state(claude_code_trail("short.jsonl")) == {}, "Bash `mix phx.server | head` and Glob touch no file"


def test_corpus_swe_agent_function_calling_marshmallow():
    trail = swe_agent_trail("marshmallow-code__marshmallow-1867-0e1939.traj", use_tool_calls=True)
    assert by_state(trail) == {
        "modified": {"src/marshmallow/fields.py"},
        "read only": {"setup.py"},
        "deleted": {"reproduce.py"},
    }
    assert trail["reproduce.py"].label == "created then deleted"
    assert trail["src/marshmallow/fields.py"].actions == ("modified", "read")


def test_corpus_swe_agent_command_strings_pydicom():
    assert by_state(swe_agent_trail("pydicom__pydicom-1458-6138d0.traj", use_tool_calls=False)) == {
        "modified": {"pydicom/pixel_data_handlers/numpy_handler.py"},
        "deleted": {"reproduce_bug.py"},
    }


def test_corpus_swe_agent_command_strings_katy():
    assert by_state(swe_agent_trail("katy-19beb8.traj", use_tool_calls=False)) == {
        "created": {"retrieve_random_numbers.py", "get_seed.py", "recover_flag.py"},
    }


@pytest.mark.parametrize("path", sorted((CORPUS / "swe-agent").glob("*.traj")), ids=lambda p: p.name)
def test_corpus_swe_agent_open_file_matches_the_recorded_state(path):
    """SWE-agent records the open file with each step (after the step in newer
    versions, before it in older ones): our EditorState must agree with one."""
    state = EditorState()
    for step in json.loads(path.read_text()).get("trajectory", []):
        recorded = _state(step)
        cwd = recorded["working_dir"]
        before = state.open_file
        extract(*parse_action(step["action"]), cwd=cwd, state=state)
        if recorded.get("open_file", "n/a") != "n/a":
            assert normalise_path(recorded["open_file"], cwd) in (before, state.open_file), step["action"][:60]


def test_corpus_openhands_multi_swe_bench_4588():
    lines = (CORPUS / "openhands" / "evaluation_benchmarks_multi_swe_bench_examples_output.jsonl").read_text().splitlines()
    record = next(r for r in map(json.loads, lines) if r["instance_id"] == "ponylang__ponyc-4588")
    trail = openhands_trail(record["history"], "/workspace/ponylang__ponyc__0.1")
    assert by_state(trail) == {
        "created": {"build/build_release"},  # mkdir -p, again after `rm -rf build`
        "modified": {"src/libponyc/expr/match.c"},  # str_replace/insert edits and one `sed -i`
        "read only": {"Makefile"},
        "deleted": {"build"},
    }
    assert trail["build/build_release"].notes == ("directory", "deleted with build")


def test_corpus_openhands_runtime_trajectories():
    basic = json.loads((CORPUS / "openhands" / "tests_runtime_trajs_basic.json").read_text())
    assert by_state(openhands_trail(basic, "/workspace")) == {"created": {"game_2048.py"}}
    moved = json.loads((CORPUS / "openhands" / "tests_runtime_trajs_wrong_initial_state.json").read_text())
    assert by_state(openhands_trail(moved, "/workspace")) == {"created": {"2048.py"}, "deleted": {"game_2048.py"}}
