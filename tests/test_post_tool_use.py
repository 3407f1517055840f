"""Claude Code's PostToolUse hook, driven exactly as the host drives it: a subprocess, JSON on stdin, JSON or nothing on stdout, exit 0.

Payloads come from the repository's real Claude Code transcripts (tests/fixtures/corpus/claude-code):
the `tool_use` block gives the tool name, input and id, the line's `toolUseResult` is the
`tool_response` Claude Code hands its hooks. Tools the corpus lacks (Grep, Edit, an MCP tool) get
Claude Code's shapes filled with the corpus's own text. The fast path runs against a real
`mcp-arena serve` stdio subprocess on the same MCP_ARENA_HOME; the slow path with no server.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from mcp_arena import Settings, build_server
from mcp_arena.core.tokens import TokenCounter
from mcp_arena.engine.arena import Arena
from mcp_arena.engine.store import Store
from mcp_arena.feeds import claude_code
from mcp_arena.hook import listener, wire
from mcp_arena.hook.listener import HookListener
from tests.helpers import CORPUS, ok, text_of

CLAUDE_CODE = CORPUS / "claude-code"
SESSION = "6f0c7a52-hook-test"
MARKER = re.compile(r"\[… mcp-arena: omitted .*Page back verbatim: memory_search\((?P<args>[^)]*)\)\]")
HOOK = [sys.executable, "-m", "mcp_arena.cli.hook_client", "post-tool-use"]
# What `setup claude-code` registers: the same client as a script, without `site`.
HOOK_RUN = [sys.executable, "-I", "-S", str(Path(__file__).resolve().parents[1] / "mcp_arena" / "cli" / "hook_run.py"), "post-tool-use"]
# The brief page of a skill covering one of Claude Code's own tools: one line that names the guide's call.
POINTER = re.compile(r'\[mcp-arena skill (?P<skill>[a-z-]+): [^\n]+ Guide: load_skill\("(?P=skill)"\)\]')
MAX_POINTER_TOKENS = 60


def assert_pointer(context: str, skill: str) -> None:
    """`additionalContext` is exactly one pointer line to `skill`, never a whole guide."""
    match = POINTER.fullmatch(context)
    assert match and match["skill"] == skill, context[:300]
    assert TokenCounter().count(context) <= MAX_POINTER_TOKENS


# -- payloads from the corpus ----------------------------------------------------------------------


def corpus_calls() -> Iterator[dict[str, Any]]:
    """Every successful tool call of the Claude Code transcripts as a PostToolUse payload (session and ids as recorded)."""
    for path in sorted(CLAUDE_CODE.glob("*.jsonl")):
        for record, block, use in claude_code.tool_calls(path):
            if not block.get("is_error"):
                yield payload(use["name"], use["input"], response_of(record, block), use["id"], record.get("cwd") or "/", record["sessionId"])


def response_of(record: dict[str, Any], block: dict[str, Any]) -> Any:
    """The `tool_response` Claude Code sent its hooks: the transcript keeps it as `toolUseResult`."""
    if isinstance(record.get("toolUseResult"), dict | list):
        return record["toolUseResult"]
    content = block.get("content")
    return content if isinstance(content, str) else [b for b in content or [] if isinstance(b, dict)]


def payload(tool: str, tool_input: Any, response: Any, tool_use_id: str, cwd: str = "/work", session: str = SESSION) -> dict[str, Any]:
    return {
        "session_id": session,
        "transcript_path": f"/home/u/.claude/projects/-work/{session}.jsonl",
        "cwd": cwd,
        "permission_mode": "default",
        "hook_event_name": "PostToolUse",
        "tool_name": tool,
        "tool_input": tool_input,
        "tool_response": response,
        "tool_use_id": tool_use_id,
    }


def corpus_call(tool: str) -> dict[str, Any]:
    return next(call for call in corpus_calls() if call["tool_name"] == tool)


def failure(tool: str, tool_input: Any, error: str, tool_use_id: str, session: str = SESSION, **extra: Any) -> dict[str, Any]:
    """A PostToolUseFailure payload: PostToolUse's fields with `error` (and `is_interrupt`) instead of `tool_response`."""
    fields = {k: v for k, v in payload(tool, tool_input, None, tool_use_id, session=session).items() if k != "tool_response"}
    return {**fields, "hook_event_name": "PostToolUseFailure", "error": error, "is_interrupt": False, **extra}


def corpus_failures() -> Iterator[tuple[dict[str, Any], str]]:
    """The transcripts' failed calls as PostToolUseFailure payloads, with the text the transcript shows the model."""
    for path in sorted(CLAUDE_CODE.glob("*.jsonl")):
        for record, block, use in claude_code.tool_calls(path):
            if block.get("is_error"):
                shown = block["content"] if isinstance(block["content"], str) else json.dumps(block["content"])
                yield failure(use["name"], use["input"], shown, use["id"], session=record["sessionId"]), shown


def host_numbered(content: str, start_line: int) -> str:
    """A Read's `file.content` as Claude Code shows it to the model: `cat -n` style, `%6d→line`, from `startLine`."""
    return "\n".join(f"{number:>6}→{line}" for number, line in enumerate(content.split("\n"), start_line))


def big_bash(tool_use_id: str = "toolu_big_bash") -> tuple[dict[str, Any], str]:
    """The corpus's Phoenix server log call, with a long run of its log lines as output and one planted failure."""
    call = corpus_call("Bash")
    lines = [f"23:{n // 60 % 60:02d}:{n % 60:02d}.{n % 1000:03d} [info] GET /api/panes/{n} - Sent 200 in {n % 97}ms" for n in range(3_000)]
    lines[1_700] = "23:28:20.700 [error] ** (DBConnection.ConnectionError) tcp recv: closed (the zebra-cobalt pool, code 4471)"
    stdout = "\n".join(lines)
    call["tool_input"] = {"command": "tail -n 3000 /tmp/claude-1000/tasks/bae407b.output", "description": "Check the server log"}
    call["tool_response"] = {**call["tool_response"], "stdout": stdout}
    call["tool_use_id"] = tool_use_id
    call["session_id"] = SESSION
    return call, stdout


# -- running the hook ------------------------------------------------------------------------------


def run_hook(data: dict[str, Any] | bytes, home: Path | str, command: list[str] = HOOK, **env: str) -> subprocess.CompletedProcess[bytes]:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    environment = {**os.environ, "MCP_ARENA_HOME": str(home), "MCP_ARENA_SEMANTIC": "false", **env}
    return subprocess.run(command, input=raw, capture_output=True, env=environment, timeout=120)


def hook_output(done: subprocess.CompletedProcess[bytes], event: str = "PostToolUse") -> dict[str, Any] | None:
    """The host's view: exit 0 always; stdout empty (keep the output) or one hookSpecificOutput object."""
    assert done.returncode == 0, done.stderr.decode()
    if not done.stdout.strip():
        return None
    value = json.loads(done.stdout)
    assert set(value) == {"hookSpecificOutput"}
    assert value["hookSpecificOutput"]["hookEventName"] == event
    return value["hookSpecificOutput"]


async def hook_async(data: dict[str, Any] | bytes, home: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    return await anyio.to_thread.run_sync(lambda: run_hook(data, home, **env))


def server_params(home: Path) -> StdioServerParameters:
    env = {**os.environ, "MCP_ARENA_HOME": str(home), "MCP_ARENA_SEMANTIC": "false", "MCP_ARENA_TRANSCRIPT": ""}
    return StdioServerParameters(command=sys.executable, args=["-m", "mcp_arena", "serve"], env=env)


def listening(home: Path) -> bool:
    return listener.answered(wire.socket_path(str(home)))


@asynccontextmanager
async def running_server(home: Path):
    """A real `mcp-arena serve` over stdio, its hook socket answering."""
    async with Client(server_params(home)) as client:
        with anyio.fail_after(30):
            while not listening(home):
                await anyio.sleep(0.05)
        yield client


def logged(home: Path, session: str = SESSION) -> list[Any]:
    arena = Arena(Settings(home=home, semantic=False))
    try:
        return arena.store.event_objects(session)
    finally:
        arena.close()


def page_back_args(text: str) -> dict[str, Any]:
    match = MARKER.search(text)
    assert match, text[:400]
    return {key: json.loads(value) for key, value in (part.split("=", 1) for part in match["args"].split(", "))}


async def paged_back(client: Client, stdout: str, original: str) -> str:
    """head + every page + tail, paged back through the real client: must be the original, byte for byte."""
    marker = MARKER.search(stdout)
    assert marker
    head, tail = stdout[: marker.start()], stdout[marker.end() :]
    arguments = page_back_args(stdout)
    pages = []
    while True:
        page = await ok(client, "memory_search", **arguments)
        pages.append(page.structured_content["verbatim"])
        nxt = (page.meta or {}).get("mcp-arena/trim", {}).get("page")
        if not nxt:
            break
        arguments = nxt["arguments"]
    head = head[:-1] if head.endswith("\n") and not original[: len(head)].endswith("\n") else head
    tail = tail[1:] if tail.startswith("\n") else tail
    return head + "".join(pages) + tail


# -- with a server listening: the fast path --------------------------------------------------------


@pytest.mark.anyio
async def test_big_bash_output_is_trimmed_guided_logged_and_paged_back_exactly(home: Path):
    call, stdout = big_bash()
    async with running_server(home) as client:
        done = await hook_async(call, home)
        output = hook_output(done)
        assert output is not None, done.stderr.decode()
        replaced = output["updatedToolOutput"]
        assert set(replaced) == set(call["tool_response"]) and replaced["stderr"] == "" and replaced["interrupted"] is False
        shown = replaced["stdout"]
        assert len(shown) < len(stdout) // 5 and shown.startswith(stdout[:200]) and shown.endswith(stdout[-200:])
        assert page_back_args(shown)["session"] == SESSION
        assert_pointer(output["additionalContext"], "shell")  # Claude Code documents Bash itself: one line naming the guide
        again, _ = big_bash("toolu_big_bash_2")
        second = hook_output(await hook_async(again, home))
        assert second is not None and "additionalContext" not in second  # once per session: never again, no step reminders

        assert await paged_back(client, shown, stdout) == stdout
        found = await ok(client, "memory_search", query="zebra-cobalt pool code 4471", session=SESSION)
        assert "4471" in text_of(found)

    [result] = [e for e in logged(home) if e.kind == "tool_result" and e.call_id == "toolu_big_bash"]
    assert result.text == stdout and result.source == "hook" and result.tool == "Bash"
    assert result.meta["trim"]["tokens"] == TokenCounter().count(stdout)  # the original's exact tokens
    assert result.tokens == result.meta["trim"]["shown_tokens"] < TokenCounter().count(stdout) // 5  # what the host holds


@pytest.mark.anyio
async def test_every_corpus_call_goes_through_with_the_host_s_shapes(home: Path):
    calls = list(corpus_calls())
    assert {"Bash", "Read", "Glob", "Write", "WebFetch", "WebSearch", "Task"} <= {c["tool_name"] for c in calls}
    async with running_server(home) as client:
        outputs = {}
        for call in calls:
            outputs[call["tool_use_id"]] = hook_output(await hook_async(call, home))
        trail = await ok(client, "artifact_index", session=calls[0]["session_id"])

    for call in calls:
        output = outputs[call["tool_use_id"]]
        if output and "updatedToolOutput" in output:  # the replacement keeps the host's shape: only the text field changes
            replaced, original = output["updatedToolOutput"], call["tool_response"]
            assert type(replaced) is type(original)
            if isinstance(original, dict):
                assert set(replaced) == set(original)
    for session in {c["session_id"] for c in calls}:  # the first file-tool result of each session names the guide, once
        first = next(c for c in calls if c["session_id"] == session and c["tool_name"] in ("Read", "Glob", "Write"))
        assert_pointer(outputs[first["tool_use_id"]]["additionalContext"], "code-files")
        contexts = [outputs[c["tool_use_id"]].get("additionalContext") for c in calls if c["session_id"] == session and outputs[c["tool_use_id"]]]
        pointed = [POINTER.fullmatch(text)["skill"] for text in contexts if text]  # type: ignore[index]
        assert len(pointed) == len(set(pointed))  # each skill at most once per session; never a whole guide
    searches = [c for c in calls if c["tool_name"] == "WebSearch"]  # link lists over the web budget: the list is cut, the summary stays
    for search in searches:
        replaced = outputs[search["tool_use_id"]]["updatedToolOutput"]
        [shown] = replaced["results"]
        summary = next(item for item in search["tool_response"]["results"] if isinstance(item, str))
        assert shown.startswith('Links: [{"title":') and MARKER.search(shown) and shown.endswith(summary.rstrip()[-200:])
        assert replaced["query"] == search["tool_response"]["query"]
    glob = next(c for c in calls if c["tool_name"] == "Glob" and len(c["tool_response"]["filenames"]) > 50)
    trimmed_glob = outputs[glob["tool_use_id"]]["updatedToolOutput"]  # 1,195 tokens of deps/**/mix.exs: over the listing budget
    assert trimmed_glob["numFiles"] == glob["tool_response"]["numFiles"]
    assert any(MARKER.search(name) for name in trimmed_glob["filenames"])
    assert trimmed_glob["filenames"][0] == glob["tool_response"]["filenames"][0]

    count = TokenCounter().count
    results = {e.call_id: e for session in {c["session_id"] for c in calls} for e in logged(home, session) if e.kind == "tool_result" and e.source == "hook"}
    assert set(results) == {c["tool_use_id"] for c in calls}
    for event in results.values():  # the original's exact tokens; a trimmed one holds what the host was shown
        original_tokens = event.meta["trim"]["tokens"] if event.meta.get("trim") else event.tokens
        assert event.source == "hook" and original_tokens == count(event.text)
    read = next(c for c in calls if c["tool_name"] == "Read")
    assert results[read["tool_use_id"]].text == read["tool_response"]["file"]["content"]
    trail_session = calls[0]["session_id"]  # the trail keeps paths relative to the session's cwd
    touched = {os.path.relpath(c["tool_input"]["file_path"], c["cwd"]): c["tool_name"] for c in calls
               if c["session_id"] == trail_session and c["tool_name"] in ("Read", "Write")}
    assert set(touched.values()) == {"Read", "Write"}
    listed = {entry["path"] for group in ("created", "modified", "read_only") for entry in trail.structured_content[group]}
    assert set(touched) <= listed


@pytest.mark.anyio
async def test_grep_edit_and_an_mcp_tool_in_the_host_s_shapes(home: Path):
    source = corpus_call("Read")["tool_response"]["file"]
    path, lines = source["filePath"], source["content"].splitlines()
    matches = "\n".join(f"{path}:{n}:{line}" for _ in range(40) for n, line in enumerate(lines, 1))
    grep = payload("Grep", {"pattern": ".", "path": "/home/marco/projects/spotter", "output_mode": "content", "-n": True},
                   {"mode": "content", "numFiles": 1, "filenames": [], "content": matches, "numLines": len(lines) * 40}, "toolu_grep")
    edit = payload("Edit", {"file_path": path, "old_string": lines[1], "new_string": lines[1] + " # edited"},
                   {"filePath": path, "oldString": lines[1], "newString": lines[1] + " # edited", "originalFile": source["content"],
                    "structuredPatch": [], "userModified": False, "replaceAll": False}, "toolu_edit")
    page = corpus_call("WebFetch")["tool_response"]["result"]
    blocks = [{"type": "text", "text": "\n\n".join(f"{n}: {page}" for n in range(100))}, {"type": "image", "data": "aGk=", "mimeType": "image/png"}]
    mcp = payload("mcp__github__get_file_contents", {"owner": "marot", "repo": "spotter", "path": "README.md"}, blocks, "toolu_mcp")
    async with running_server(home) as client:
        grep_out = hook_output(await hook_async(grep, home))
        edit_out = hook_output(await hook_async(edit, home))
        mcp_out = hook_output(await hook_async(mcp, home))
        trail = await ok(client, "artifact_index", session=SESSION, action="modified")
        assert await paged_back(client, mcp_out["updatedToolOutput"][0]["text"], blocks[0]["text"]) == blocks[0]["text"]

    replaced = grep_out["updatedToolOutput"]
    assert set(replaced) == set(grep["tool_response"]) and MARKER.search(replaced["content"])
    assert_pointer(grep_out["additionalContext"], "code-files")
    assert edit_out is None  # an edit has no text to cut, and its skill was named with the grep
    assert path in json.dumps(trail.structured_content)
    assert mcp_out["updatedToolOutput"] == mcp_out["updatedMCPToolOutput"]  # both names: hosts before v2.1.121 read the second
    assert [b["type"] for b in mcp_out["updatedToolOutput"]] == ["text", "image"] and mcp_out["updatedToolOutput"][1] == blocks[1]


@pytest.mark.anyio
async def test_the_registered_command_imports_only_the_wire_on_the_fast_path(home: Path):
    """Item: fast enough for every tool call. The command setup registers starts a bare interpreter (-I -S) and, with
    a server listening, imports the stdlib's start-up modules, `_socket` and the wire: no `re`, `json`, `typing`,
    pydantic, MCP or LanceDB. The answer is the server's, as from any other form of the command."""
    call = corpus_call("Glob")
    async with running_server(home):
        done = await anyio.to_thread.run_sync(lambda: run_hook(call, home, command=[*HOOK_RUN[:1], "-X", "importtime", *HOOK_RUN[1:]]))
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.decode().splitlines() if line.startswith("import time:")}
    assert {"mcp_arena.cli.hook_client", "mcp_arena.hook.wire", "_socket"} <= imported
    assert not imported & {"re", "json", "typing", "site", "socket", "pydantic", "mcp", "lancedb", "mcp_arena.hook.adapter"}, sorted(imported)
    output = json.loads(done.stdout)["hookSpecificOutput"]
    assert output["updatedToolOutput"]["numFiles"] == call["tool_response"]["numFiles"]


@pytest.mark.anyio
async def test_the_arena_s_own_tools_are_never_shaped(home: Path):
    own = [
        payload("mcp__mcp-arena__memory_search", {"query": "x"}, [{"type": "text", "text": "hits " * 9_000}], "toolu_own_1"),
        payload("mcp__arena__read_text_file", {"path": "/x"}, [{"type": "text", "text": "proxied " * 9_000}], "toolu_own_2"),
        payload("mcp__other__context_status", {}, [{"type": "text", "text": "status"}], "toolu_own_3"),
    ]
    async with running_server(home):
        for call in own:
            done = await hook_async(call, home)
            assert hook_output(done) is None and done.stderr == b""
    assert [e for e in logged(home) if e.call_id.startswith("toolu_own")] == []


@pytest.mark.anyio
async def test_a_held_session_lock_times_out_and_changes_nothing(home: Path):
    call, _ = big_bash()
    async with running_server(home):
        store = Store(str(home / "arena.lancedb"), home / "locks")
        with store.session_lock(SESSION):
            started = time.monotonic()
            done = await hook_async(call, home, MCP_ARENA_HOOK_TIMEOUT="1")
            assert time.monotonic() - started < 10
        assert hook_output(done) is None and b"no answer" in done.stderr


@pytest.mark.anyio
async def test_parallel_tool_calls_are_shaped_in_parallel_and_all_logged(home: Path):
    calls = [big_bash(f"toolu_parallel_{n}")[0] for n in range(8)]
    async with running_server(home):
        outputs: list[Any] = []

        async def one(call: dict[str, Any]) -> None:
            outputs.append(hook_output(await hook_async(call, home)))

        async with anyio.create_task_group() as group:
            for call in calls:
                group.start_soon(one, call)
    assert len(outputs) == 8 and all(o and MARKER.search(o["updatedToolOutput"]["stdout"]) for o in outputs)
    results = [e for e in logged(home) if e.kind == "tool_result" and e.call_id.startswith("toolu_parallel_")]
    assert sorted(e.call_id for e in results) == sorted(c["tool_use_id"] for c in calls)
    assert sum(1 for o in outputs if "additionalContext" in o) == 1  # one session, one first Bash result


@pytest.mark.anyio
async def test_a_huge_output_goes_through_the_server(home: Path):
    call, _ = big_bash("toolu_huge")
    huge = "\n".join(f"{n:08d} {'abcdefghij' * 6}" for n in range(60_000))  # ~4 MB
    call["tool_response"] = {**call["tool_response"], "stdout": huge}
    call["tool_input"] = {"command": "python scripts/dump_rows.py"}  # command output: the 2,000-token budget
    async with running_server(home):
        output = hook_output(await hook_async(call, home))
    assert output is not None and TokenCounter().count(output["updatedToolOutput"]["stdout"]) <= Settings().trim_command_tokens
    [result] = [e for e in logged(home) if e.kind == "tool_result" and e.call_id == "toolu_huge"]
    assert result.text == huge


# -- bad input: exit 0, nothing on stdout, the reason on stderr -----------------------------------

BAD_INPUTS: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b"  \n",
    "not json": b"PostToolUse: Bash ran",
    "a list": b'[{"tool_name": "Bash"}]',
    "a string": b'"hello"',
    "no session": json.dumps({k: v for k, v in payload("Bash", {}, {"stdout": "x"}, "t").items() if k != "session_id"}).encode(),
    "no tool name": json.dumps({k: v for k, v in payload("Bash", {}, {"stdout": "x"}, "t").items() if k != "tool_name"}).encode(),
    "no response": json.dumps({k: v for k, v in payload("Bash", {}, {"stdout": "x"}, "t").items() if k != "tool_response"}).encode(),
    "another event": json.dumps({**payload("Bash", {}, {"stdout": "x"}, "t"), "hook_event_name": "PreToolUse"}).encode(),
    "session id not a string": json.dumps({**payload("Bash", {}, {"stdout": "x"}, "t"), "session_id": 42}).encode(),
    "bad session id": json.dumps(payload("Bash", {}, {"stdout": "x"}, "t", session="../../etc/passwd")).encode(),
    "non-utf-8": json.dumps(payload("Bash", {}, {"stdout": "x"}, "t")).encode().replace(b'"x"', b'"\xff\xfe"'),
    "truncated": json.dumps(payload("Bash", {}, {"stdout": "x"}, "t")).encode()[:-7],
    "a failure without its error": json.dumps({**payload("Bash", {}, {"stdout": "x"}, "t"), "hook_event_name": "PostToolUseFailure"}).encode(),
    "a failure without a session": json.dumps({k: v for k, v in failure("Bash", {}, "boom", "t").items() if k != "session_id"}).encode(),
}


def assert_unchanged(done: subprocess.CompletedProcess[bytes]) -> None:
    assert done.returncode == 0
    assert done.stdout == b""
    assert done.stderr.strip(), "the reason goes to stderr"


@pytest.mark.anyio
async def test_bad_input_changes_nothing_with_a_server(home: Path):
    async with running_server(home):
        for name, raw in BAD_INPUTS.items():
            done = await hook_async(raw, home)
            assert done.returncode == 0 and done.stdout == b"", name
            assert done.stderr.strip(), name


@pytest.mark.parametrize("name", ["empty", "not json", "a list", "no tool name", "non-utf-8", "bad session id"])
def test_bad_input_changes_nothing_without_a_server(home: Path, name: str):
    assert_unchanged(run_hook(BAD_INPUTS[name], home))


def test_an_input_over_the_limit_is_refused_whole(home: Path):
    assert_unchanged(run_hook(b" " * (wire.MAX_PAYLOAD_BYTES + 10), home))


def test_a_home_that_is_a_file(tmp_path: Path):
    home = tmp_path / "home-file"
    home.write_text("not a folder")
    call, _ = big_bash()
    assert_unchanged(run_hook(call, home))


def test_a_home_that_cannot_be_written(tmp_path: Path):
    call, _ = big_bash()
    assert_unchanged(run_hook(call, "/proc/mcp-arena-home"))  # read-only for root too
    if os.geteuid() != 0:  # permission bits bind everyone but root
        home = tmp_path / "read-only"
        home.mkdir(mode=0o555)
        assert_unchanged(run_hook(call, home))


def test_unknown_tools_and_odd_shapes_are_logged_not_cut(home: Path):
    calls = [
        payload("FancyNewTool", {"x": 1}, {"weird": ["a" * 50_000]}, "toolu_odd_1"),
        payload("Numbers", None, 12345, "toolu_odd_2"),
        payload("Nothing", "just a string input", None, "toolu_odd_3"),
        payload("Read", {"file_path": "/img.png"}, {"type": "image", "file": {"base64": "aGk=", "type": "image/png"}}, "toolu_odd_4"),
    ]
    for call in calls:
        output = hook_output(run_hook(call, home))
        assert output is None or set(output) == {"hookEventName", "additionalContext"}  # a guide at most, never a cut
    results = {e.call_id: e for e in logged(home) if e.kind == "tool_result"}
    assert set(results) == {c["tool_use_id"] for c in calls}
    assert not results["toolu_odd_1"].meta.get("trim")  # 50k characters of an unknown shape: logged whole, never cut


# -- without a server: the same work in the hook's own process ------------------------------------


@pytest.mark.anyio
async def test_without_a_server_the_hook_does_the_work_itself(home: Path):
    call, stdout = big_bash()
    assert not listening(home)
    output = hook_output(run_hook(call, home))
    assert output is not None and MARKER.search(output["updatedToolOutput"]["stdout"])
    assert_pointer(output["additionalContext"], "shell")
    async with Client(build_server(Settings(home=home, semantic=False))) as client:
        assert await paged_back(client, output["updatedToolOutput"]["stdout"], stdout) == stdout
    # the full CLI takes the same payload shape (its own parser, same adapter)
    full = run_hook(big_bash("toolu_cli")[0], home, command=[sys.executable, "-m", "mcp_arena", "hook", "post-tool-use"])
    assert (hook_output(full) or {}).get("updatedToolOutput")


# -- a cut Read keeps the file's own line numbers --------------------------------------------------


def transcript_text(tool_use_id: str) -> str:
    """What the transcript shows the model for a call: its tool_result block's text."""
    for path in sorted(CLAUDE_CODE.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            blocks = (json.loads(line).get("message") or {}).get("content")
            for block in blocks if isinstance(blocks, list) else []:
                if block.get("type") == "tool_result" and block["tool_use_id"] == tool_use_id:
                    content = block["content"]
                    return content if isinstance(content, str) else "".join(b.get("text", "") for b in content)
    raise AssertionError(f"no tool_result for {tool_use_id}")


def assert_numbers_are_the_file_s(shown: str, file_lines: list[str], first: int) -> int:
    """Every row the host shows `N→text` holds line N of the file; the last row is the marker. The rows kept."""
    *rows, marker_row = shown.split("\n")
    for row in rows:
        number, text = row.split("→", 1)
        assert file_lines[int(number) - 1] == text, row
    number, marker = marker_row.split("→", 1)
    assert MARKER.fullmatch(marker), marker
    assert f"omitted lines {int(number)}–" in marker  # the marker row names itself by the host's number: the first line left out
    assert int(number) == first + len(rows)
    return len(rows)


@pytest.mark.parametrize("start_line", [1, 20], ids=["whole file", "a Read with offset 20"])
def test_a_cut_read_keeps_the_file_s_own_line_numbers(home: Path, start_line: int):
    """Item: Claude Code shows a Read as `cat -n` does, numbering `file.content` from `startLine` one line after
    another. A cut keeps the head only, so no kept line is renumbered; the marker, as the next row, names the
    omitted lines by the file's numbers. The payload is the transcript's real Read of mix.exs (84 lines)."""
    call = corpus_call("Read")
    file = call["tool_response"]["file"]
    assert transcript_text(call["tool_use_id"]).startswith(host_numbered(file["content"], file["startLine"]))  # the host's numbering, as modelled
    file_lines = file["content"].split("\n")
    if start_line != 1:
        sliced = "\n".join(file_lines[start_line - 1 :])
        call["tool_response"] = {**call["tool_response"], "file": {**file, "content": sliced, "startLine": start_line, "numLines": 85 - start_line}}
        call["tool_use_id"] += "-offset"
    before = call["tool_response"]["file"]

    output = hook_output(run_hook(call, home, MCP_ARENA_TRIM_FILE_TOKENS="300"))  # 691 tokens over a 300-token file budget
    assert output is not None and "updatedToolOutput" in output
    replaced = output["updatedToolOutput"]
    assert set(replaced) == set(call["tool_response"]) and replaced["type"] == "text"
    assert {k: v for k, v in replaced["file"].items() if k != "content"} == {k: v for k, v in before.items() if k != "content"}
    shown = host_numbered(replaced["file"]["content"], before["startLine"])
    kept = assert_numbers_are_the_file_s(shown, file_lines, start_line)
    assert kept >= 10 and TokenCounter().count(replaced["file"]["content"]) <= 300
    [result] = [e for e in logged(home, call["session_id"]) if e.kind == "tool_result"]
    assert result.text == before["content"]  # the log holds the whole read


# -- PostToolUseFailure: a failed call's error is logged as its result ------------------------------


@pytest.mark.anyio
async def test_a_failed_call_is_logged_exactly_and_searchable_and_reloads_its_guidance(home: Path):
    """Item: PostToolUseFailure, driven as Claude Code drives it. The corpus's rejected Bash call, then failing
    commands: every failure is logged as the call's failed result (exact tokens, searchable); the first names the
    shell skill in one line, the second failure in a row brings its reminder back, and only one."""
    rejected, shown = next(corpus_failures())
    assert rejected["tool_name"] == "Bash"
    red_tests = "FAILED tests/test_panes.py::test_resize - AssertionError: cols 80 != 132 (pane quokka-7)\n1 failed, 41 passed"
    fails = [
        rejected,
        failure("Bash", {"command": "mix test"}, f"Exit code 1\n{red_tests}", "toolu_fail_2", session=rejected["session_id"]),
        failure("Bash", {"command": "mix test"}, f"Exit code 1\n{red_tests}", "toolu_fail_3", session=rejected["session_id"]),
    ]
    async with running_server(home) as client:
        outputs = [hook_output(await hook_async(call, home), event="PostToolUseFailure") for call in fails]
        found = await ok(client, "memory_search", query="quokka-7 cols 80 != 132", session=rejected["session_id"])
    assert outputs[0] is not None and set(outputs[0]) == {"hookEventName", "additionalContext"}  # never a replacement
    assert_pointer(outputs[0]["additionalContext"], "shell")
    assert outputs[1] is not None and outputs[1]["additionalContext"].startswith("--- skill: shell (reminder, the last calls failed")
    assert outputs[2] is None  # the reload answered the streak: counted anew
    assert "quokka-7" in text_of(found)
    results = [e for e in logged(home, rejected["session_id"]) if e.kind == "tool_result" and e.source == "hook"]
    assert [(e.call_id, e.is_error, e.source) for e in results] == [(c["tool_use_id"], True, "hook") for c in fails]
    assert results[0].text == shown and results[0].tokens == TokenCounter().count(shown)  # the error, exact


def test_a_failure_without_a_server_and_an_interrupt(home: Path):
    interrupted = failure("Bash", {"command": "sleep 600"}, "", "toolu_interrupted", is_interrupt=True)
    assert hook_output(run_hook(interrupted, home), event="PostToolUseFailure") is not None  # the shell skill, named
    own = failure("mcp__arena__memory_search", {"query": "x"}, "boom", "toolu_own_failure")
    done = run_hook(own, home)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    [result] = [e for e in logged(home) if e.kind == "tool_result"]
    assert (result.call_id, result.is_error, result.text) == ("toolu_interrupted", True, "interrupted")


def test_a_bash_output_the_host_persisted_to_a_file_is_read_whole(home: Path, tmp_path: Path):
    call, stdout = big_bash("toolu_persisted")
    persisted = tmp_path / "bash-output.txt"
    persisted.write_text(stdout)
    call["tool_response"] = {**call["tool_response"], "stdout": stdout[:30_000], "persistedOutputPath": str(persisted), "persistedOutputSize": len(stdout)}
    output = hook_output(run_hook(call, home))
    assert output is not None
    assert "persistedOutputPath" not in output["updatedToolOutput"]  # else the host shows the persisted copy instead
    [result] = [e for e in logged(home) if e.kind == "tool_result" and e.call_id == "toolu_persisted"]
    assert result.text == stdout


# -- the listener: one per home, stale sockets replaced, taken over when its server exits --------


def _never() -> Any:
    raise AssertionError("no hook call expected")


def test_one_listener_per_home_and_takeover(home: Path):
    home.mkdir(parents=True)
    first = HookListener(home, _never, retry_seconds=0.1).start()
    second = HookListener(home, _never, retry_seconds=0.1).start()
    try:
        wait_for(lambda: first.listening or second.listening)
        owner, other = (first, second) if first.listening else (second, first)
        time.sleep(0.3)
        assert not other.listening and listening(home)
        owner.close()
        wait_for(lambda: other.listening)
        assert listening(home)
    finally:
        first.close()
        second.close()
    assert not Path(wire.socket_path(str(home))).exists()


def test_a_stale_socket_is_replaced(home: Path):
    path = Path(wire.socket_path(str(home)))
    path.parent.mkdir(parents=True)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody answers: a server killed with -9
    listener = HookListener(home, _never).start()
    try:
        wait_for(lambda: listener.listening)
        assert listening(home)
    finally:
        listener.close()


def test_a_long_home_gets_a_short_socket_path(tmp_path: Path):
    home = tmp_path / ("x" * 120)
    path = wire.socket_path(str(home))
    assert len(os.fsencode(path)) <= wire.MAX_SOCKET_PATH
    assert path == wire.socket_path(str(home) + "/")  # the same home, the same socket


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
