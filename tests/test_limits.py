"""Every argument of the six tools has a bound, checked before any work: an isError naming the
bound, the call logged with the argument clipped; globs match in linear time; HTTP bodies are capped."""

from __future__ import annotations

import json
import time

import httpx2
import pytest
from mcp import Client

from mcp_arena import Settings, build_server
from mcp_arena.core import limits
from mcp_arena.core.artifacts import index
from mcp_arena.core.globs import MAX_GLOB_WILDCARDS, Glob
from tests.helpers import fails, ok
from tests.test_transports import free_port, server_env

pytestmark = pytest.mark.anyio

HUGE = "x" * 2_000_000

# tool -> (an argument set over one bound, the words the error must carry)
OVER = {
    "context_status": ({"used_tokens": 10**30, "window_tokens": 200_000}, "10,000,000"),
    "tag": ({"name": "ok-name", "note": HUGE}, "under 500"),
    "squash": ({"summary": HUGE}, "under 40,000"),
    "load_skill": ({"name": HUGE}, "under 1,000"),
    "memory_search": ({"query": HUGE}, "under 1,000"),
    "artifact_index": ({"path": "*" * 10_000}, "under 512"),
}


@pytest.fixture
def arena(settings: Settings):
    from mcp_arena.engine.arena import Arena

    arena = Arena(settings)
    yield arena
    arena.close()


async def test_every_argument_of_every_tool_has_a_bound(settings: Settings):
    async with Client(build_server(settings)) as client:
        tools = (await client.list_tools()).tools
    assert {tool.name for tool in tools} == set(limits.LIMITS)
    for tool in tools:
        assert set(tool.input_schema["properties"]) == set(limits.LIMITS[tool.name]), tool.name


@pytest.mark.parametrize("tool", sorted(OVER))
async def test_an_argument_over_its_bound_is_an_error_naming_it_and_is_not_logged(settings: Settings, arena, tool: str):
    arguments, words = OVER[tool]
    async with Client(build_server(settings, arena=arena)) as client:
        started = time.perf_counter()
        message = await fails(client, tool, session="bounded", **arguments)
        elapsed = time.perf_counter() - started
    assert words in message and "limit" in message, message
    assert elapsed < 5, f"{tool} took {elapsed:.1f} s to refuse"
    events = arena.store.events("bounded")
    assert [e["kind"] for e in events[:2]] == ["tool_call", "tool_result"] and events[1]["is_error"]
    assert len(events[0]["text"]) < 1_000 and "not logged" in events[0]["text"]  # the argument clipped
    assert json.loads(events[0]["text"])["session"] == "bounded"


@pytest.mark.parametrize(
    "arguments, words",
    [
        ({"query": "x", "limit": 51}, "limit must be between 1 and 50"),
        ({"query": "x", "kinds": ["note"] * 21}, "at most 20"),
        ({"query": "x", "tools": ["B" * 201]}, "under 200"),
        ({"query": "x", "from_seq": 2**63}, "between 0 and 9,007,199,254,740,991"),
        ({"seq": 2**80}, "seq must be between"),
        ({"seq": 1, "page": 10**9}, "page must be between 1 and 100,000"),
        ({"query": "x", "scope": "s" * 1_001}, "under 1,000"),
        ({"query": "x", "kinds": ["k" * 201]}, "under 200"),
    ],
)
async def test_memory_search_bounds(settings: Settings, arguments, words):
    async with Client(build_server(settings)) as client:
        assert words in await fails(client, "memory_search", **arguments)


async def test_artifact_index_bounds(settings: Settings):
    async with Client(build_server(settings)) as client:
        assert "send at most 100" in await fails(client, "artifact_index", record=[{"path": "a", "action": "read"}] * 101)
        long_path = [{"path": "p" * 5_000, "action": "read"}]
        assert "record 1: path is 5,000 characters; keep it under 4,096" in await fails(client, "artifact_index", record=long_path)
        long_note = [{"path": "a", "action": "read", "note": "n" * 501}]
        assert "record 1: note is 501 characters" in await fails(client, "artifact_index", record=long_note)
        assert f"limit {MAX_GLOB_WILDCARDS}" in await fails(client, "artifact_index", path="*a" * (MAX_GLOB_WILDCARDS + 1))
        assert "bad '[...]' class" in await fails(client, "artifact_index", path="[z-a].py")
        assert "bad '[...]' class" in await fails(client, "artifact_index", path="]x[")
        # at the bounds, everything is accepted
        await ok(client, "artifact_index", record=[{"path": "q" * 4_096, "action": "read", "note": "n" * 500}] * 100)
        await ok(client, "tag", name="t" * 64, note="n" * 500)
        await ok(client, "memory_search", query="q" * 1_000, limit=50)


def test_a_glob_that_backtracks_matches_in_linear_time():
    """`**a**a**b` on a 1,000-character path took 46 s with the regex alone."""
    started = time.perf_counter()
    for length in (1_000, 2_000, 4_000):
        assert not Glob("**a**a**a**b").match("a" * length)
    assert Glob("**a**a**/4*").match("a" * 4_000 + "/4000")
    assert time.perf_counter() - started < 1
    assert index({}, path_glob="**a**a**b").count == 0


def test_the_limits_table_documents_every_bound():
    table = limits.rows()
    assert ("memory_search", "query", "≤ 1,000 characters") in table
    assert ("squash", "summary", "≤ 4,000 tokens (MAX_SUMMARY_TOKENS), ≤ 40,000 characters") in table
    assert len(table) == sum(len(bounds) for bounds in limits.LIMITS.values())


def test_an_http_body_over_the_cap_gets_413(home):
    import subprocess
    import sys

    port = free_port()
    env = {**server_env(home), "MCP_ARENA_MAX_REQUEST_BYTES": str(64 * 1024)}
    process = subprocess.Popen(
        [sys.executable, "-m", "mcp_arena", "serve", "--transport", "streamable-http", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx2.get(url, timeout=1)
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline and process.poll() is None, "server did not start"
                time.sleep(0.2)
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "tag", "arguments": {"name": "x", "note": "n" * 100_000}}})
        headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        assert httpx2.post(url, content=body, headers=headers, timeout=10).status_code == 413
        # chunked, without a declared length: refused as it streams in
        chunks = (body[i : i + 8192].encode() for i in range(0, len(body), 8192))
        assert httpx2.post(url, content=chunks, headers=headers, timeout=10).status_code == 413
    finally:
        process.terminate()
        process.wait(timeout=10)
