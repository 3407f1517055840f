"""Property-based tests: every tool driven with generated arguments through a real in-process client.

Unicode, NUL bytes, huge strings, SQL- and glob-looking text, path traversal, out-of-range and
mistyped numbers: each call is a result or an `isError`, never an unexpected exception; the
server stays up; the session's log stays dense; and nothing of another session ever shows.
Caller strings reach LanceDB filters only as escaped literals: a session or tool name with
quotes matches exactly itself. Skill folders with symlinks out of them, loops and dangling links
load what is inside and nothing else.

Examples per property: 60 by default (CI); set MCP_ARENA_FUZZ_EXAMPLES=2000 for a long run.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from mcp import Client
from mcp.types import CallToolResult

from mcp_arena import Settings, build_server
from mcp_arena.core.artifacts import glob_to_regex
from mcp_arena.core.events import EventDraft
from mcp_arena.core.globs import Glob
from tests.helpers import text_of

EXAMPLES = int(os.environ.get("MCP_ARENA_FUZZ_EXAMPLES", "60"))
hypothesis_settings.register_profile(
    "arena",
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
FUZZ = hypothesis_settings.get_profile("arena")

CANARY = "zebracrossing"  # written to another session: no fuzzed call may ever show it
NASTY = [
    "", " ", "\x00", "a\x00b", "\n", "ok\n", "\r\n", "\t", "\u202e", "\ufeff", "💥" * 7, "e\u0301",
    "' OR '1'='1", '" OR ""="', "'; DROP TABLE events; --", "session = 'secret'", "x' OR session != '", "\\'", "%' --",
    "text:foo OR session:secret", CANARY, "NULL", "null", "true", "1e309", "{}", "[]", "$(id)", "`id`",
    "*", "**", "**/*", "[!a-z]*", "[z-a]", "]x[", "[[]", "[]]", "*a" * 9, "**a**a**b", "?" * 40,
    "../../etc/passwd", "/etc/passwd", "..", "../", "~/.ssh/id_rsa", "C:\\Windows\\system32", "%2e%2e%2f", "file:///etc/shadow",
    "x" * 100_000, "ü" * 1_001, "💥" * 30_000, "a" * 4_097, "b" * 513, "c" * 65, "d" * 129, "tag-name_1.0",
]
SESSIONS = [None, "fuzz", "fuzz-2", "a:b@c.d_e-f", "fuzz/other", "secret/../fuzz"]
KINDS = ["user", "assistant", "tool_call", "tool_result", "guide", "summary", "note", "thought"]

text = st.one_of(st.text(max_size=80), st.sampled_from(NASTY))
whole = st.one_of(st.integers(-5, 300), st.sampled_from([-(2**63), 2**63, 2**53, 2**53 - 1, 10**30, 10**400]))
anything = st.one_of(text, whole, st.none(), st.booleans(), st.floats(allow_nan=False), st.lists(text, max_size=3), st.dictionaries(text, text, max_size=2))
names = st.one_of(st.lists(st.one_of(text, st.sampled_from(KINDS)), max_size=4), st.just(["Bash"] * 25), st.just(["note"] * 21))
record = st.fixed_dictionaries(
    {"path": text, "action": st.sampled_from(["created", "modified", "read", "deleted", "renamed", ""])}, optional={"note": text}
)
records = st.one_of(st.lists(record, max_size=4), st.just([{"path": "p", "action": "read"}] * 101))
session = st.one_of(st.sampled_from(SESSIONS), text.filter(lambda name: CANARY not in name))  # a new session lists recent names


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right type, sometimes any JSON at all."""
    return st.one_of(strategy, strategy, strategy, anything)


def call(tool: str, required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    arguments = st.fixed_dictionaries({k: maybe(v) for k, v in required.items()}, optional={"session": session, **{k: maybe(v) for k, v in optional.items()}})
    return st.tuples(st.just(tool), arguments)


CALLS = st.one_of(
    call("context_status", {}, {"used_tokens": whole, "window_tokens": whole}),
    call("tag", {"name": text}, {"note": text}),
    call("squash", {"summary": text}, {"from_tag": text}),
    call("load_skill", {}, {"name": text}),
    call(
        "memory_search",
        {},
        {"query": text, "limit": whole, "scope": st.one_of(text, st.sampled_from(["all", "squashed", "live"])), "kinds": names,
         "tools": names, "from_seq": whole, "to_seq": whole, "seq": whole, "page": whole},
    ),
    call("artifact_index", {}, {"record": records, "path": text, "action": st.one_of(text, st.sampled_from(["created", "read"]))}),
)


class ErrorLog(logging.Handler):
    """Collects ERROR records: the SDK logs a tool's unexpected exception (a bug) there."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[BlockingPortal, Client, Any, ErrorLog]]:
    """One arena and one connected client for the module; calls go through a blocking portal."""
    from mcp_arena.engine.arena import Arena

    settings = Settings(home=tmp_path_factory.mktemp("fuzz") / "arena-home", semantic=False, session="fuzz-default")
    arena = Arena(settings)
    arena.tag("canary", f"the {CANARY} is in here", session="secret")
    arena.artifact_index([{"path": f"secret/{CANARY}.py", "action": "created", "note": CANARY}], session="secret")
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(Client(build_server(settings, arena=arena))) as client:
        yield portal, client, arena, errors
    logging.getLogger().removeHandler(errors)
    arena.close()


@FUZZ
@given(CALLS)
def test_every_tool_answers_any_input_with_a_result_or_an_error(served, generated):
    portal, client, arena, errors = served
    tool, arguments = generated
    result = portal.call(client.call_tool, tool, arguments)
    assert isinstance(result, CallToolResult)
    shown = text_of(result)
    assert shown.strip(), f"{tool}({arguments!r:.300}) answered nothing"
    assert CANARY not in shown or CANARY in repr(arguments), f"{tool} showed another session's text"
    assert "Traceback" not in shown
    assert not errors.records, [r.getMessage() for r in errors.records][:3]
    if not result.is_error:
        assert result.structured_content is None or not str(result.structured_content.get("session", "")).startswith("secret")


def test_after_the_fuzz_the_server_is_up_and_every_log_is_dense(served):
    portal, client, arena, errors = served
    assert not portal.call(client.call_tool, "context_status", {"session": "fuzz"}).is_error
    for row in arena.store.sessions():
        seqs = [event["seq"] for event in arena.store.events(row["session"], columns=("seq",))]
        assert seqs == list(range(len(seqs))), row["session"]
    secret = arena.store.events("secret")
    assert [e["tool"] for e in secret if e["kind"] == "tool_call"] == ["tag", "artifact_index"]  # nobody else wrote there


# -- caller strings in LanceDB filters: escaped literals, exact matches ------------------------------------------

EXAMPLE_NUMBER = itertools.count()
QUOTED = ["it's", 'say "hi"', "x' OR '1'='1", "a'); DROP TABLE events; --", "back\\slash", "a%", "_", "it''s", "Bash"]


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(QUOTED), st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s)), min_size=1, max_size=4, unique=True))
def test_a_caller_string_in_a_filter_matches_exactly_itself(served, tool_names):
    """A name with quotes goes to LanceDB as a literal: the filter finds the rows of that exact name only."""
    portal, client, arena, errors = served
    session = f"filters-{next(EXAMPLE_NUMBER)}"  # Hypothesis replays examples: a fresh session each time
    arena.ensure_session(session)
    drafts = [EventDraft(kind="tool_call", text=f"needle number {i}", tool=name) for i, name in enumerate(tool_names)]
    arena.append(session, drafts)
    for name in tool_names:
        found = portal.call(client.call_tool, "memory_search", {"query": "needle number", "tools": [name], "session": session, "limit": 50})
        if len(name) > 200 or not name.strip():
            assert found.is_error
            continue
        assert not found.is_error, text_of(found)
        hits = found.structured_content["hits"]
        assert {hit["tool"] for hit in hits} == {name}, (name, hits)
        rows = arena.store.events(session, kinds=["tool_call"])
        assert [r["tool"] for r in rows if r["tool"] == name] == [name]


def test_quoted_session_ids_match_exactly_themselves_in_the_store(served):
    """Sessions from feeds (file names) may hold quotes: each id finds only its own rows."""
    _portal, _client, arena, _errors = served
    for sid in QUOTED:
        arena.ensure_session(sid, origin="import")
        arena.append(sid, [EventDraft(kind="note", text=f"row of {sid}")])
    for sid in QUOTED:
        assert arena.store.has_session(sid)
        assert [row["text"] for row in arena.store.events(sid)] == [f"row of {sid}"]
    for probe in ("it", "x' OR '1'='1' OR 'a'='a", "%", "*", "it\\'s"):
        assert probe in QUOTED or arena.store.events(probe) == []


# -- globs: the linear-time walk answers as the regex ---------------------------------------------------------

glob_chars = st.text(alphabet="ab/.*?[]!^-", min_size=1, max_size=10)
path_chars = st.text(alphabet="ab/.\n-^!", max_size=14)


@hypothesis_settings(FUZZ, max_examples=EXAMPLES * 20)
@given(glob_chars, path_chars)
def test_the_glob_walk_answers_as_the_regex(pattern, path):
    try:
        glob = Glob(pattern)
    except ValueError:
        return
    assert glob._walk(path) == (glob_to_regex(pattern).match(path) is not None)
    assert glob.match(path) == glob._walk(path)


# -- skills: symlinks out of a skill folder, loops, traversal in names ------------------------------------------


def test_skill_folders_with_symlinks_load_only_what_is_inside(tmp_path: Path):
    import anyio

    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "SKILL.md"
    secret.write_text(f"---\nname: leaked\ndescription: {CANARY} secret\n---\n{CANARY} private guide\n")
    skills = tmp_path / "skills"
    (skills / "good").mkdir(parents=True)
    (skills / "good" / "SKILL.md").write_text("---\nname: good\ndescription: a fine skill\n---\nthe good guide\n")
    (skills / "linked-file").mkdir()
    (skills / "linked-file" / "SKILL.md").symlink_to(secret)
    (skills / "linked-dir").symlink_to(outside, target_is_directory=True)
    (skills / "loop").symlink_to(skills / "loop")
    (skills / "dangling").symlink_to(tmp_path / "nowhere")
    settings = Settings(home=tmp_path / "home", semantic=False, skill_dirs=[skills])

    async def exercise() -> list[str]:
        shown = []
        async with Client(build_server(settings)) as client:
            catalog = await client.call_tool("load_skill", {})
            assert not catalog.is_error and "good" in text_of(catalog)
            shown.append(text_of(catalog))
            assert not (await client.call_tool("load_skill", {"name": "good"})).is_error
            for name in ("leaked", "../outside", "/etc/passwd", "good/../../outside", "linked-dir", "loop", str(secret)):
                answer = await client.call_tool("load_skill", {"name": name})
                assert answer.is_error and "no skill named" in text_of(answer), name
                shown.append(text_of(answer))
        return shown

    for text_shown in anyio.run(exercise):
        assert CANARY not in text_shown and not re.search(r"private guide", text_shown)
