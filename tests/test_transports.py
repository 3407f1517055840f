"""All six tools over the three real transports: stdio subprocess, SSE and streamable HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client

from tests.helpers import fails, ok, text_of

pytestmark = pytest.mark.anyio


def server_env(home: Path) -> dict[str, str]:
    return {**os.environ, "MCP_ARENA_HOME": str(home), "MCP_ARENA_SEMANTIC": "false"}


async def exercise_all_tools(client: Client) -> str:
    status = await ok(client, "context_status", used_tokens=50_000, window_tokens=200_000)
    session = status.structured_content["session"]
    await ok(client, "tag", name="transport-check", note="checking every tool")
    await ok(client, "artifact_index", record=[{"path": "src/app.py", "action": "modified", "note": "transport test"}])
    squashed = await ok(client, "squash", summary="## Current State\nall six tools answered")
    assert "src/app.py" in squashed.structured_content["anchored_summary"]
    found = await ok(client, "memory_search", query="checking every tool", scope="squashed")
    assert found.structured_content["hits"], text_of(found)
    await ok(client, "load_skill", name="context-status")
    trail = await ok(client, "artifact_index", action="modified")
    assert [e["path"] for e in trail.structured_content["modified"]] == ["src/app.py"]
    assert "unknown tag" in await fails(client, "squash", summary="x", from_tag="missing")
    return session


async def test_stdio_subprocess(home: Path):
    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_arena", "serve"], env=server_env(home))
    async with Client(params) as client:
        assert "arena" in (client.instructions or "")
        await exercise_all_tools(client)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def http_server(home: Path, request):
    transport = request.param
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mcp_arena", "serve", "--transport", transport, "--port", str(port)],
        env=server_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"server exited: {process.stderr.read().decode()}")
            time.sleep(0.1)
    yield transport, f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def connect(transport: str, base: str, mode: str = "auto") -> Client:
    if transport == "sse":
        return Client(sse_client(f"{base}/sse"))
    return Client(f"{base}/mcp", mode=mode)


@pytest.mark.parametrize("http_server", ["sse", "streamable-http"], indirect=True)
async def test_http_transports(http_server):
    transport, base = http_server
    async with connect(transport, base) as client:
        first = await exercise_all_tools(client)
    async with connect(transport, base, mode="legacy") as client:
        second = (await ok(client, "context_status")).structured_content["session"]
        assert second != first  # a connection with its own transport session gets its own arena session
        named = await ok(client, "context_status", session=first)  # and may still name another one
        assert named.structured_content["squashes"] == 1


@pytest.mark.parametrize("http_server", ["streamable-http"], indirect=True)
async def test_stateless_http_shares_the_process_session(http_server):
    """The 2026-07-28 protocol has no connection: unnamed calls share the server's default session."""
    transport, base = http_server
    async with connect(transport, base) as client:
        first = (await ok(client, "context_status")).structured_content["session"]
    async with connect(transport, base) as client:
        assert (await ok(client, "context_status")).structured_content["session"] == first


async def test_serve_binds_loopback_by_default():
    from mcp_arena.cli.main import build_parser

    args = build_parser().parse_args(["serve", "--transport", "sse"])
    assert args.host == "127.0.0.1"
