"""The client side of the proxy against real servers: the npm filesystem server and a fault-injecting SDK server.

No mocks: every upstream is a real subprocess (stdio) or a real HTTP server on 127.0.0.1.
Timeouts and backoff are short so the whole file runs in seconds.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations

from mcp_arena.errors import ArenaError
from mcp_arena.proxy.config import LocalServer, RemoteServer, load_upstreams, parse_upstreams
from mcp_arena.proxy.errors import (
    UnknownProxiedTool,
    UpstreamConfigError,
    UpstreamError,
    UpstreamLost,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from mcp_arena.proxy.pool import UpstreamPool, export_names
from mcp_arena.proxy.upstream import UpstreamOptions, UpstreamStatus
from tests.node_servers import filesystem_server  # noqa: F401  (a session fixture)

FAULT_SERVER = Path(__file__).parent / "upstreams" / "fault_server.py"
SECRET = "tok-Zq81-never-show-me"
FAST = UpstreamOptions(call_timeout=5.0, start_timeout=30.0, backoff_initial=0.05, backoff_max=0.2)


def fault(name: str, log: Path, **env: str) -> dict[str, Any]:
    """An mcpServers entry running the fault server over stdio."""
    return {"command": sys.executable, "args": [str(FAULT_SERVER)], "env": {"FAULT_NAME": name, "FAULT_LOG": str(log), "FAULT_SECRET": SECRET, **env}}


@asynccontextmanager
async def running(servers: dict[str, Any], options: UpstreamOptions = FAST) -> AsyncIterator[UpstreamPool]:
    async with UpstreamPool(parse_upstreams({"mcpServers": servers}), options) as pool:
        with anyio.fail_after(40):
            await pool.wait_ready()
        yield pool


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.02)


def events(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def status(pool: UpstreamPool, key: str) -> UpstreamStatus:
    return next(item for item in pool.status() if item.key == key)


def text(result: Any) -> str:
    return result.content[0].text


# -- the file ---------------------------------------------------------------------------


def test_config_reads_every_kind_of_server(tmp_path: Path):
    file = tmp_path / "servers.json"
    servers = {
        "files": {"command": "npx", "args": ["-y", "pkg", "postgresql://me:pa55word@db/x"], "env": {"API_KEY": SECRET}, "cwd": "work"},
        "remote": {"url": f"https://api.example.com/mcp?key={SECRET}", "headers": {"Authorization": f"Bearer {SECRET}"}, "timeout": 5},
        "legacy": {"type": "sse", "url": "http://127.0.0.1:9/sse"},
        "typed": {"type": "http", "url": "http://127.0.0.1:9/mcp"},
        "off": {"command": "x", "disabled": True},
        "cline": {"command": "y", "type": "stdio", "autoApprove": []},
    }
    file.write_text(json.dumps({"mcpServers": servers}))
    specs = load_upstreams(file)
    assert [spec.key for spec in specs] == ["files", "remote", "legacy", "typed", "cline"]
    files, remote, legacy, typed, cline = specs
    assert isinstance(files, LocalServer) and isinstance(remote, RemoteServer)
    assert files.cwd == tmp_path / "work" and files.env["API_KEY"] == SECRET and files.args[-1].endswith("@db/x")
    assert (remote.transport, remote.timeout, remote.where) == ("streamable-http", 5.0, "https://api.example.com/mcp")
    assert remote.headers["Authorization"] == f"Bearer {SECRET}"
    assert (legacy.transport, typed.transport, cline.transport) == ("sse", "streamable-http", "stdio")
    for spec in specs:
        for shown in (repr(spec), str(spec), spec.where):
            assert SECRET not in shown and "pa55word" not in shown
    assert repr(files.env) == "{'API_KEY': '***'}"
    assert files.redact(f"failed with {SECRET} and pa55word") == "failed with *** and ***"
    assert remote.redact(f"GET https://api.example.com/mcp?key={SECRET}") == "GET https://api.example.com/mcp?key=***"


@pytest.mark.parametrize(
    "document, expected",
    [
        ('{"mcpServers": {"a": {"comand": "x"}}}', ["mcpServers.a", 'unknown key "comand"', 'Did you mean "command"?']),
        ('{"mcpServers": {"a": {"type": "websocket", "url": "ws://h"}}}', ['unknown "type" "websocket"', "stdio, http, streamable-http, sse"]),
        ('{"mcpServers": {"a": {}}}', ['missing "command"', '"url"']),
        ('{"mcpServers": {"a": {"command": "x", "url": "http://h/mcp"}}}', ['a stdio server takes "command"']),
        ('{"mcpServers": {"a": {"type": "sse", "command": "x"}}}', ['a sse server takes "url"']),
        ('{"mcpServers": {"a": {"url": "ftp://h/x"}}}', ["http:// or https://"]),
        ('{"mcpServers": {"a": {"command": "x", "args": "--flag"}}}', ['"args" must be a list']),
        ('{"mcpServers": {"a": {"command": "x", "timeout": 0}}}', ["positive number of seconds"]),
        ('{"mcpServers": {"a b": {"command": "x"}, "a_b": {"command": "y"}}}', ['share the tool-name prefix "a_b"']),
        ('{"servers": {}, "mcpServers": {}}', ['both "mcpServers" and "servers"']),
        ('{"tools": {}}', ['one "mcpServers" object']),
        ("[1, 2]", ["top level must be a JSON object"]),
        ('{"mcpServers": {"a": {"command": "x", "env": {"TOKEN": 982451653}}}}', ['"env"."TOKEN" must be a string']),
        ('{"mcpServers": {"a": {"command": "x", "env": {"K": "tok-Zq81-never-show-me"},}}}', ["not valid JSON", "line 1, column"]),
    ],
)
def test_config_errors_name_the_file_the_key_and_the_fix(tmp_path: Path, document: str, expected: list[str]):
    file = tmp_path / "upstream.json"
    file.write_text(document)
    with pytest.raises(UpstreamConfigError) as caught:
        load_upstreams(file)
    message = str(caught.value)
    assert isinstance(caught.value, ArenaError)
    assert str(file) in message
    for part in expected:
        assert part in message
    assert SECRET not in message and "982451653" not in message


def test_config_missing_file_says_what_to_pass(tmp_path: Path):
    with pytest.raises(UpstreamConfigError, match="upstream file not found: .*MCP_ARENA_UPSTREAM"):
        load_upstreams(tmp_path / "nowhere.json")


def test_names_shared_by_two_servers_or_taken_by_the_arena_are_prefixed():
    names = export_names([("git hub", ["search", "tag", "issues"]), ("files", ["search", "read"]), ("web", ["fetch", "git_hub__search"])])
    assert names == {
        ("git hub", "search"): "git_hub__search",
        ("git hub", "tag"): "git_hub__tag",
        ("git hub", "issues"): "issues",
        ("files", "search"): "files__search",
        ("files", "read"): "read",
        ("web", "fetch"): "fetch",
        ("web", "git_hub__search"): "web__git_hub__search",
    }


# -- the reference filesystem server (npm) ----------------------------------------------


@pytest.mark.anyio
async def test_filesystem_server_through_the_pool(tmp_path: Path, filesystem_server: list[str]):  # noqa: F811  (the imported fixture)
    lines = [f"line {number:04d} of a long file" for number in range(1, 3001)]
    (tmp_path / "big.txt").write_text("\n".join(lines) + "\n")
    servers = {"files": {"command": filesystem_server[0], "args": [*filesystem_server[1:], str(tmp_path)]}}
    async with running(servers) as pool:
        read = pool.lookup("read_text_file")
        assert read is not None and (read.server, read.original) == ("files", "read_text_file")
        assert read.tool.description and "path" in read.tool.input_schema["properties"]
        assert read.tool.output_schema is not None and read.tool.output_schema["properties"]["content"]["type"] == "string"
        assert read.tool.annotations is not None and read.tool.annotations.read_only_hint is True
        assert {"list_directory", "write_file", "search_files"} <= {tool.name for tool in pool.tools}
        result = await pool.call("read_text_file", {"path": str(tmp_path / "big.txt")})
        assert not result.is_error
        assert text(result).splitlines() == lines
        assert result.structured_content == {"content": text(result)}
        assert status(pool, "files").state == "up" and status(pool, "files").server.startswith("secure-filesystem-server")


# -- faults, over stdio ---------------------------------------------------------------


@pytest.mark.anyio
async def test_results_progress_and_notices_pass_through_and_stdout_stays_clean(tmp_path: Path, capfd: pytest.CaptureFixture[str]):
    log = tmp_path / "fault.log"
    async with running({"a": fault("a", log)}) as pool:
        names = [tool.name for tool in pool.tools]
        assert "echo" in names and "a__tag" in names and "tag" not in names  # `tag` is the arena's own
        echo, big = pool.lookup("echo"), pool.lookup("big")
        assert echo is not None and echo.tool.meta == {"example.com/origin": "fault-server"}
        assert big is not None and big.tool.title == "Many lines" and big.tool.annotations == ToolAnnotations(read_only_hint=True)
        assert text(await pool.call("a__tag", {"label": "x"})) == "a tagged x"
        assert len(text(await pool.call("big", {"lines": 3000})).splitlines()) == 3000
        image = await pool.call("image")
        assert [block.type for block in image.content] == ["text", "image"] and image.content[1].mime_type == "image/png"
        stats = pool.lookup("stats")
        assert stats is not None and stats.tool.output_schema is not None and stats.tool.output_schema["required"] == ["words", "chars"]
        assert (await pool.call("stats", {"text": "two words"})).structured_content == {"words": 2, "chars": 9}
        failed = await pool.call("fail", {"reason": "no such branch"})
        assert failed.is_error and "no such branch" in text(failed)
        with pytest.raises(UpstreamProtocolError, match="'a' answered `protocol_error` with a protocol error .*broke its own protocol"):
            await pool.call("protocol_error")
        with pytest.raises(UnknownProxiedTool, match="No upstream tool is named 'tag'"):
            await pool.call("tag", {"label": "x"})

        updates: list[tuple[float, float | None, str | None]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            updates.append((progress, total, message))

        assert text(await pool.call("slow_progress", {"steps": 3, "delay": 0.01}, on_progress=on_progress)) == "done after 3 steps"
        await until(lambda: len(updates) == 3)
        assert sorted(updates) == [(1.0, 3.0, "step 1"), (2.0, 3.0, "step 2"), (3.0, 3.0, "step 3")]

        before = pool.tools
        assert not status(pool, "a").tools_changed
        await pool.call("flip_tools")
        await until(lambda: status(pool, "a").tools_changed)
        assert pool.tools == before and "changed tool list" in status(pool, "a").line()

    assert [item.state for item in pool.status()] == ["closed"]
    out, err = capfd.readouterr()
    assert out == ""  # the upstream's stdout is the protocol pipe; its stderr comes to our stderr, marked and redacted
    assert "[upstream a] fault server a starting (token ***)" in err and SECRET not in err


@pytest.mark.anyio
async def test_a_crash_names_the_server_and_the_next_call_after_the_restart_works(tmp_path: Path):
    log = tmp_path / "fault.log"
    async with running({"a": fault("a", log), "b": fault("b", log)}) as pool:
        with pytest.raises(UpstreamLost) as caught:
            await pool.call("a__crash")
        message = str(caught.value)
        assert "'a'" in message and "exited or crashed" in message and "crashing on request" in message and "`a__crash`" in message
        assert SECRET not in message and "token ***" in message
        assert text(await pool.call("b__echo", {"text": "still here"})) == "b: still here"
        assert text(await pool.call("a__echo", {"text": "back"})) == "a: back"  # waits for the restart, due in 0.05 s
        assert status(pool, "a").state == "up" and status(pool, "a").restarts == 1 and events(log).count("a started") == 2


@pytest.mark.anyio
async def test_a_restart_that_fails_is_retried_with_backoff(tmp_path: Path):
    log, refuse = tmp_path / "fault.log", tmp_path / "refuse"
    async with running({"a": fault("a", log, FAULT_BREAK_FILE=str(refuse))}) as pool:
        refuse.write_text("no")
        with pytest.raises(UpstreamLost):
            await pool.call("crash")
        await until(lambda: events(log).count("a refused") >= 2)
        down = status(pool, "a")
        assert down.state in ("down", "restarting") and down.restarts >= 2
        with pytest.raises(UpstreamUnavailable) as caught:
            await pool.call("echo", {"text": "x"})
        assert "'a'" in str(caught.value) and SECRET not in str(caught.value)
        refuse.unlink()
        await until(lambda: status(pool, "a").state == "up")
        assert text(await pool.call("echo", {"text": "recovered"})) == "a: recovered"


@pytest.mark.anyio
async def test_a_hung_call_times_out_a_cancelled_caller_cancels_upstream_and_the_others_carry_on(tmp_path: Path):
    log = tmp_path / "fault.log"
    async with running({"a": fault("a", log), "b": fault("b", log)}, replace(FAST, call_timeout=1.0)) as pool:
        took: dict[str, float] = {}
        errors: list[str] = []

        async def hang() -> None:
            start = time.monotonic()
            with pytest.raises(UpstreamTimeout) as caught:
                await pool.call("a__hang")
            took["hang"], _ = time.monotonic() - start, errors.append(str(caught.value))

        async def echo_meanwhile() -> None:
            await until(lambda: "a hanging" in events(log))
            start = time.monotonic()
            assert text(await pool.call("b__echo", {"text": "quick"})) == "b: quick"
            took["echo"] = time.monotonic() - start

        async with anyio.create_task_group() as group:
            group.start_soon(hang)
            group.start_soon(echo_meanwhile)
        assert 0.9 <= took["hang"] < 3.0 and took["echo"] < 1.0
        assert "'a' did not answer `a__hang` within 1 s" in errors[0]
        await until(lambda: "a cancelled" in events(log))
        assert status(pool, "a").state == "up" and text(await pool.call("a__echo", {"text": "fine"})) == "a: fine"

        # the caller's own cancellation reaches the upstream too
        async with anyio.create_task_group() as group:
            group.start_soon(pool.call, "b__hang")
            await until(lambda: "b hanging" in events(log))
            group.cancel_scope.cancel()
        await until(lambda: "b cancelled" in events(log))
        assert text(await pool.call("b__echo", {"text": "after"})) == "b: after"


@pytest.mark.anyio
async def test_a_server_that_fails_to_start_is_reported_and_the_others_work(tmp_path: Path):
    log, refuse = tmp_path / "fault.log", tmp_path / "refuse"
    refuse.write_text("no")
    servers = {
        "ok": fault("ok", log),
        "missing": {"command": str(tmp_path / "no-such-server"), "env": {"TOKEN": SECRET}},
        "broken": fault("broken", log, FAULT_BREAK_FILE=str(refuse)),
        "nobody": {"url": f"http://127.0.0.1:{free_port()}/mcp?key={SECRET}"},
    }
    async with running(servers) as pool:
        ok, missing, broken = (status(pool, key) for key in ("ok", "missing", "broken"))
        assert ok.state == "up" and missing.state == "down" and broken.state == "down"
        assert "not found" in missing.reason
        assert status(pool, "nobody").reason.startswith("failed to start: cannot connect to http://127.0.0.1:")
        assert "failed to start" in broken.reason and "refusing to start, token *** rejected" in broken.reason
        assert {tool.server for tool in pool.tools} == {"ok"}
        assert text(await pool.call("echo", {"text": "fine"})) == "ok: fine"
        with pytest.raises(UnknownProxiedTool) as unknown:
            await pool.call("broken__echo")
        with pytest.raises(UpstreamUnavailable) as unavailable:
            await pool.upstreams[2].call("echo", {"text": "x"})
        for message in (str(unknown.value), str(unavailable.value), *(item.line() for item in pool.status())):
            assert SECRET not in message
        assert "'broken'" in str(unknown.value) and "'missing'" in str(unknown.value)
        assert "restart the arena" in str(unavailable.value)


@pytest.mark.anyio
async def test_start_that_never_answers_times_out(tmp_path: Path):
    silent = {"command": sys.executable, "args": ["-c", "import sys; sys.stdin.read()"]}  # reads, never answers
    async with running({"silent": silent}, replace(FAST, start_timeout=0.5)) as pool:
        down = status(pool, "silent")
        assert down.state == "down" and "no answer to initialize and tools/list within 0.5 s" in down.reason and pool.tools == ()


# -- remote servers -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def http_fault_server(port: int, log: Path, flag: str = "--http") -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "FAULT_NAME": "h", "FAULT_LOG": str(log)}
    process = subprocess.Popen([sys.executable, str(FAULT_SERVER), flag, str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "the fault server did not start"
                time.sleep(0.05)
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.mark.anyio
async def test_streamable_http_upstream_faults_and_reconnects(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    log, port = tmp_path / "fault.log", free_port()
    entry = {"url": f"http://127.0.0.1:{port}/mcp?key={SECRET}", "headers": {"Authorization": f"Bearer {SECRET}"}}
    with http_fault_server(port, log):
        async with running({"h": entry}, replace(FAST, call_timeout=1.0)) as pool:
            assert status(pool, "h").transport == "streamable-http" and "h__tag" in {tool.name for tool in pool.tools}
            assert text(await pool.call("echo", {"text": "over http"})) == "h: over http"
            updates: list[float] = []

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                updates.append(progress)

            await pool.call("slow_progress", {"steps": 2, "delay": 0.01}, on_progress=on_progress)
            await until(lambda: len(updates) == 2)
            with pytest.raises(UpstreamTimeout, match="'h' did not answer `hang` within 1 s"):
                await pool.call("hang")
            await until(lambda: "h cancelled" in events(log))
            with pytest.raises(UpstreamLost) as lost:
                await pool.call("crash")
            assert "'h'" in str(lost.value)
            with pytest.raises(UpstreamUnavailable):
                await pool.call("echo", {"text": "nobody home"})
            with http_fault_server(port, log):
                await until(lambda: status(pool, "h").state == "up", timeout=15)
                assert text(await pool.call("echo", {"text": "back"})) == "h: back"
            with http_fault_server(port, log):  # restarted between two calls: our session is gone there
                with pytest.raises(UpstreamLost, match="no longer knows this session") as forgotten:
                    await pool.call("echo", {"text": "anyone?"})
                assert text(await pool.call("echo", {"text": "new session"})) == "h: new session"
            shown = [str(lost.value), str(forgotten.value), *(item.line() for item in pool.status())]
    assert any("HTTP Request" in record.getMessage() for record in caplog.records)  # httpx2 logged the URLs...
    for line in shown + [record.getMessage() for record in caplog.records]:
        assert SECRET not in line  # ...with the token blanked out


@pytest.mark.anyio
async def test_sse_upstream(tmp_path: Path):
    log, port = tmp_path / "fault.log", free_port()
    with http_fault_server(port, log, flag="--sse"):
        async with running({"old": {"type": "sse", "url": f"http://127.0.0.1:{port}/sse"}}) as pool:
            assert status(pool, "old").transport == "sse"
            assert text(await pool.call("echo", {"text": "over sse"})) == "h: over sse"


# -- the server half, as the arena might wire it (research for the lead; not the product code) --


class ReExport:
    """MCPServer middleware: the pool's tools appended to tools/list, their calls routed to the pool, faults as isError."""

    def __init__(self, pool: UpstreamPool):
        self.pool = pool

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        params = ctx.params or {}
        if ctx.method == "tools/list":
            listing = await call_next(ctx)
            assert isinstance(listing, dict)  # the wire form of the server's own page
            exported = [item.tool.model_dump(by_alias=True, mode="json", exclude_none=True) for item in await self.pool.wait_ready()]
            return {**listing, "tools": [*listing["tools"], *exported]}
        if ctx.method == "tools/call":
            await self.pool.wait_ready()
            if self.pool.lookup(params.get("name", "")) is not None:
                try:
                    return await self.pool.call(params["name"], params.get("arguments") or {}, on_progress=ctx.session.report_progress)
                except UpstreamError as exc:
                    return CallToolResult(content=[TextContent(type="text", text=str(exc))], is_error=True)
        return await call_next(ctx)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_reexport_through_an_mcpserver_middleware(tmp_path: Path, mode: str):
    log = tmp_path / "fault.log"
    async with running({"a": fault("a", log)}) as pool:
        server = MCPServer("arena-like", middleware=[ReExport(pool)])

        @server.tool()
        def tag(name: str) -> str:
            return f"tagged {name}"

        async with Client(server, mode=mode) as client:
            listed = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert {"tag", "a__tag", "echo", "stats"} <= set(listed)
            assert listed["echo"].meta == {"example.com/origin": "fault-server"} and listed["big"].title == "Many lines"
            stats = pool.lookup("stats")
            assert stats is not None and listed["stats"].output_schema == stats.tool.output_schema
            assert text(await client.call_tool("tag", {"name": "mine"})) == "tagged mine"
            assert text(await client.call_tool("a__tag", {"label": "theirs"})) == "a tagged theirs"
            assert (await client.call_tool("stats", {"text": "a b c"})).structured_content == {"words": 3, "chars": 5}
            updates: list[float] = []

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                updates.append(progress)

            await client.call_tool("slow_progress", {"steps": 2, "delay": 0.01}, progress_callback=on_progress)
            await until(lambda: len(updates) == 2)
            failed = await client.call_tool("protocol_error", {})
            assert failed.is_error and "'a' answered `protocol_error`" in text(failed)
