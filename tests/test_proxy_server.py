"""The arena in front of other MCP servers, end to end through a real client.

Upstreams: the reference filesystem server from npm, and the SDK-built fault server
(`tests/upstreams/fault_server.py`). Every proxied call goes through the arena's call
path: logged whole, trimmed with an exact page-back, files in the trail, guides attached.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from mcp_arena import Settings, build_server
from mcp_arena.core.shape import META_KEY
from mcp_arena.engine.store import Store
from tests.helpers import text_of
from tests.node_servers import filesystem_server  # noqa: F401  (a session fixture)

FAULT_SERVER = Path(__file__).parent / "upstreams" / "fault_server.py"
LINES = 3_000
PLANTED = "the zebra-cobalt handshake returns code 4471"


def write_upstreams(folder: Path, servers: dict[str, Any]) -> Path:
    path = folder / "upstreams.json"
    path.write_text(json.dumps({"mcpServers": servers}))
    return path


def fault(name: str, log: Path) -> dict[str, Any]:
    return {"command": sys.executable, "args": [str(FAULT_SERVER)], "env": {"FAULT_NAME": name, "FAULT_LOG": str(log)}}


def big_file(folder: Path) -> tuple[Path, str]:
    lines = [f"line {n:04d}: config value {n * 7 % 1000} for module m{n % 37}" for n in range(1, LINES + 1)]
    lines[LINES // 2] = f"line {LINES // 2 + 1:04d}: {PLANTED}"
    path = folder / "big.txt"
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return path, text


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder.resolve()


@pytest.fixture
def proxy_settings(home: Path, tmp_path: Path, workdir: Path, filesystem_server: list[str]) -> Settings:  # noqa: F811
    servers = {
        "files": {"command": filesystem_server[0], "args": [*filesystem_server[1:], str(workdir)]},
        "faults": fault("faults", tmp_path / "fault.log"),
        "ghost": {"command": str(tmp_path / "no-such-server")},
    }
    return Settings(home=home, semantic=False, session="proxy-test", upstream=str(write_upstreams(tmp_path, servers)), upstream_timeout_seconds=5)


async def call(client: Client, tool: str, **arguments: Any):
    with anyio.fail_after(60):
        return await client.call_tool(tool, arguments)


@pytest.mark.anyio
async def test_tools_are_re_exported_beside_the_arena_s_own(proxy_settings: Settings):
    async with Client(build_server(proxy_settings)) as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert {"context_status", "tag", "squash", "load_skill", "memory_search", "artifact_index"} <= set(listed)
    assert {"read_text_file", "write_file", "edit_file", "echo", "big", "crash"} <= set(listed)
    assert listed["faults__tag"].description  # the fault server's `tag` clashes with the arena's: prefixed
    assert listed["read_text_file"].output_schema is not None  # output schemas pass through


@pytest.mark.anyio
async def test_a_flooding_file_read_is_trimmed_and_every_line_pages_back(proxy_settings: Settings, workdir: Path):
    path, original = big_file(workdir)
    async with Client(build_server(proxy_settings)) as client:
        first = await call(client, "read_text_file", path=str(path))
        assert not first.is_error
        shown = first.content[0].text
        trim = first.meta[META_KEY]
        assert trim["tokens"] > proxy_settings.trim_file_tokens >= trim["shown_tokens"]
        assert "memory_search(" in shown and f"seq={trim['seq']}" in shown and PLANTED not in shown
        assert first.structured_content == {"content": shown}  # shaped like the text: still valid for the schema
        assert "--- skill: filesystem (guide) ---" in text_of(first)  # the guide on the first filesystem result

        pages, call_ = [], trim["page"]
        while call_ is not None:
            assert call_["tool"] == "memory_search"
            page = await call(client, call_["tool"], **call_["arguments"])
            assert not page.is_error, text_of(page)
            pages.append(page.structured_content["verbatim"])
            call_ = page.meta[META_KEY].get("page")
        marker_at = shown.index("[… mcp-arena: omitted")  # the head ends with a whole line here
        head, tail = shown[:marker_at], shown[shown.index("\n", marker_at) + 1 :]
        assert len(pages) > 1 and head + "".join(pages) + tail == original

        found = await call(client, "memory_search", query="zebra-cobalt handshake code")
        assert "4471" in text_of(found)


@pytest.mark.anyio
async def test_writes_edits_and_reads_land_in_the_trail(proxy_settings: Settings, workdir: Path):
    notes, kept = workdir / "notes.md", workdir / "kept.txt"
    kept.write_text("kept\n")
    async with Client(build_server(proxy_settings)) as client:
        assert not (await call(client, "write_file", path=str(notes), content="alpha\nbeta\n")).is_error
        assert not (await call(client, "edit_file", path=str(notes), edits=[{"oldText": "beta", "newText": "gamma"}])).is_error
        assert not (await call(client, "read_text_file", path=str(kept))).is_error
        trail = text_of(await call(client, "artifact_index"))
        status = text_of(await call(client, "context_status"))
    assert notes.read_text() == "alpha\ngamma\n"
    assert "created" in trail and str(notes) in trail
    assert str(kept) in trail and "read" in trail
    assert "ghost: down" in status  # an upstream that never started is listed


@pytest.mark.anyio
async def test_a_crashed_upstream_errors_then_works_after_restart(proxy_settings: Settings):
    async with Client(build_server(proxy_settings)) as client:
        assert "before" in text_of(await call(client, "echo", text="before"))
        crashed = await call(client, "crash")
        assert crashed.is_error and "faults" in text_of(crashed)
        with anyio.fail_after(30):
            while True:
                again = await call(client, "echo", text="after")
                if not again.is_error:
                    break
                await anyio.sleep(0.2)
        assert "after" in text_of(again)
        other = await call(client, "list_allowed_directories")
        assert not other.is_error  # another upstream was never affected


@pytest.mark.anyio
async def test_proxied_calls_are_logged_whole_with_source_proxy(proxy_settings: Settings):
    async with Client(build_server(proxy_settings)) as client:
        result = await call(client, "big", lines=4_000)
        trim = result.meta[META_KEY]
    store = Store(proxy_settings.database, proxy_settings.home / "locks")
    rows = store.events("proxy-test", seq_min=trim["seq"], seq_max=trim["seq"])
    assert rows[0]["source"] == "proxy" and rows[0]["tool"] == "big"
    assert rows[0]["text"].count("\n") >= 3_999  # the whole original, not the trimmed view
    assert rows[0]["tokens"] == trim["shown_tokens"]  # usage counts what the host was shown


@pytest.mark.anyio
async def test_images_pass_through_untouched(proxy_settings: Settings):
    async with Client(build_server(proxy_settings)) as client:
        result = await call(client, "image")
    kinds = [block.type for block in result.content]
    assert "image" in kinds and not result.is_error


@pytest.mark.anyio
async def test_over_stdio_a_hung_upstream_times_out_and_nothing_else_is_affected(home: Path, tmp_path: Path):
    upstreams = write_upstreams(tmp_path, {"faults": fault("faults", tmp_path / "fault.log")})
    env = {**os.environ, "MCP_ARENA_HOME": str(home), "MCP_ARENA_SEMANTIC": "false", "MCP_ARENA_UPSTREAM_TIMEOUT_SECONDS": "1"}
    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_arena", "serve", "--upstream", str(upstreams)], env=env)
    async with Client(params) as client:
        hung = await call(client, "hang", seconds=30)
        assert hung.is_error and "faults" in text_of(hung) and "1" in text_of(hung)
        assert "still here" in text_of(await call(client, "echo", text="still here"))
        assert not (await call(client, "context_status")).is_error
        found = await call(client, "memory_search", query="hang", tools=["hang"], kinds=["tool_result"])
        assert "seq" in text_of(found)  # the failed call is in the log too


def test_a_bad_upstream_file_stops_serve_with_the_fix(home: Path, tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"mcpServers": {"a": {"comand": "x"}}}')
    env = {**os.environ, "MCP_ARENA_HOME": str(home)}
    done = subprocess.run([sys.executable, "-m", "mcp_arena", "serve", "--upstream", str(bad)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert 'unknown key "comand"' in done.stderr and "mcpServers.a" in done.stderr


@pytest.mark.anyio
async def test_progress_from_an_upstream_reaches_the_host(proxy_settings: Settings):
    updates: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append(progress)

    async with Client(build_server(proxy_settings)) as client:
        with anyio.fail_after(60):
            done = await client.call_tool("slow_progress", {"steps": 3, "delay": 0.01}, progress_callback=on_progress)
            while len(updates) < 3:
                await anyio.sleep(0.02)
    assert not done.is_error and updates == sorted(updates) and len(updates) == 3
