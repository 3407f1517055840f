"""Who may see what over HTTP: bearer tokens (401 and nothing else without one), one namespace per
principal (no listing, reading, searching or writing another's sessions), Host/Origin checks
(421 / 403), and the refusal to serve a non-loopback address without a token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from mcp_arena import auth
from mcp_arena.config import Settings
from tests.helpers import fails, ok, text_of
from tests.test_transports import free_port, server_env

pytestmark = pytest.mark.anyio

ALICE, BOB, OWNER = "alice-token-0123456789abcdef", "bob-token-0123456789abcdef", "owner-token-0123456789abcdef"
JSON_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "probe", "version": "0"}},
}


def start_server(home: Path, transport: str, *extra: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mcp_arena", "serve", "--transport", transport, "--port", str(port), *extra],
        env={**server_env(home), **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx2.get(base + "/", timeout=1)
            return process, base
        except httpx2.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"server did not start: {process.stderr.read().decode()}")
            time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=10)


def write_tokens(folder: Path) -> Path:
    path = folder / "tokens.json"
    path.write_text(json.dumps({ALICE: "alice", BOB: "bob"}))
    path.chmod(0o600)
    return path


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    return write_tokens(tmp_path)


@pytest.fixture(scope="module", params=["streamable-http", "sse"])
def guarded(request, tmp_path_factory) -> Iterator[tuple[str, str, Path]]:
    """One server per transport for the module: principals alice and bob, and the owner's token."""
    folder = tmp_path_factory.mktemp(request.param)
    home = folder / "arena-home"
    process, base = start_server(home, request.param, "--auth-tokens", str(write_tokens(folder)), env={"MCP_ARENA_AUTH_TOKEN": OWNER})
    yield request.param, base, home
    stop(process)


def connect(transport: str, base: str, token: str | None) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if transport == "sse":
        return Client(sse_client(f"{base}/sse", headers=headers))
    return Client(streamable_http_client(f"{base}/mcp", http_client=create_mcp_http_client(headers=headers)))


# -- 401 and nothing else ------------------------------------------------------------------------------


WRONG = [None, "Bearer wrong-token-0123456789abcdef", f"Bearer {ALICE}x", f"Basic {ALICE}", "Bearer", f"bearer  {ALICE}"]
ROUTES = [("POST", "/mcp"), ("GET", "/mcp"), ("DELETE", "/mcp"), ("GET", "/sse"), ("POST", "/messages/?session_id=0123456789abcdef0123456789abcdef")]


@pytest.mark.parametrize("authorization", WRONG)
def test_without_a_valid_token_every_route_answers_401_and_nothing_else(guarded, authorization):
    _transport, base, _home = guarded
    headers = {**JSON_HEADERS, **({"Authorization": authorization} if authorization is not None else {})}
    refused = []
    for method, path in ROUTES:
        answer = httpx2.request(method, base + path, headers=headers, content=json.dumps(INITIALIZE), timeout=5)
        if answer.status_code == 404:  # the other transport's route
            continue
        assert answer.status_code == 401, (method, path, answer.status_code, answer.text)
        assert answer.json()["error"] == "invalid_token" and "Bearer" in answer.headers["www-authenticate"]
        assert "mcp-session-id" not in answer.headers and "arena" not in answer.text
        refused.append(path)
    assert len(refused) >= 2  # streamable HTTP's POST, GET, DELETE; SSE's stream and its message route


async def test_a_connection_without_a_token_gets_no_tool(guarded):
    transport, base, _home = guarded
    with pytest.raises(Exception):  # noqa: B017 - the transport raises its own HTTP error type
        async with connect(transport, base, None) as client:
            await client.list_tools()


# -- one namespace per principal -------------------------------------------------------------------------


async def test_principals_cannot_list_read_search_or_write_each_others_sessions(guarded):
    transport, base, home = guarded
    async with connect(transport, base, ALICE) as alice:
        started = await ok(alice, "tag", name="plan", note="alice's launch code is tangerine", session="work")
        assert started.structured_content["session"] == "alice/work" and "new session 'alice/work'" in text_of(started)
        await ok(alice, "artifact_index", record=[{"path": "secret/alice.py", "action": "created"}], session="work")
        own_default = (await ok(alice, "context_status")).structured_content["session"]
        assert own_default.startswith("alice/")
        assert (await ok(alice, "context_status", session="alice/work")).structured_content["session"] == "alice/work"
    async with connect(transport, base, OWNER) as owner:
        await ok(owner, "tag", name="owner-plan", note="the owner's own tangerine", session="shared")
    async with connect(transport, base, BOB) as bob:
        for foreign in ("alice/work", "../alice/work", "shared/../alice"):
            assert "invalid session id" in await fails(bob, "context_status", session=foreign)
        first = text_of(await ok(bob, "memory_search", query="launch code tangerine", session="work"))
        assert "new session 'bob/work'" in first and "alice" not in first and "tangerine" not in first.split(")")[-1]
        assert "recent sessions" not in first  # bob has no other session: none of alice's is listed
        trail = (await ok(bob, "artifact_index", session="work")).structured_content
        assert trail["session"] == "bob/work" and "secret/alice.py" not in json.dumps(trail)
        shared = (await ok(bob, "memory_search", query="tangerine", session="shared")).structured_content
        assert shared["session"] == "bob/shared" and shared["hits"] == []  # not the owner's "shared"
        default = (await ok(bob, "context_status")).structured_content
        assert default["session"].startswith("bob/")
    async with connect(transport, base, ALICE) as alice:
        found = (await ok(alice, "memory_search", query="launch code tangerine", session="work")).structured_content
        assert any("tangerine" in hit["snippet"] for hit in found["hits"])  # still there, still hers
        notice = text_of(await ok(alice, "context_status", session="other"))
        assert "alice/work" in notice and "bob/" not in notice and "shared" not in notice
    # the CLI, run locally, sees every namespace
    listing = subprocess.run(
        [sys.executable, "-m", "mcp_arena", "sessions"], env=server_env(home), capture_output=True, text=True, timeout=120
    ).stdout
    assert {"alice/work", "bob/work", "shared"} <= {line.split("\t")[0] for line in listing.splitlines()}


async def test_two_clients_on_one_open_http_server_keep_separate_named_sessions(home: Path):
    process, base = start_server(home, "streamable-http")
    try:
        async with connect("streamable-http", base, None) as one, connect("streamable-http", base, None) as two:
            await ok(one, "tag", name="a", note="only agent one knows the word marzipan", session="agent-1")
            await ok(two, "tag", name="b", note="agent two writes about pumpkins", session="agent-2")
            for _ in range(3):
                await ok(one, "context_status", session="agent-1")
                await ok(two, "context_status", session="agent-2")
            leak = (await ok(two, "memory_search", query="marzipan", session="agent-2")).structured_content
            assert leak["hits"] == []
            mine = (await ok(one, "memory_search", query="marzipan", session="agent-1")).structured_content
            assert mine["hits"] and all(hit["seq"] < 20 for hit in mine["hits"])
            assert (await ok(one, "context_status", session="agent-1")).structured_content["session"] == "agent-1"
    finally:
        stop(process)


# -- Host and Origin (DNS rebinding) ------------------------------------------------------------------


@pytest.mark.parametrize("with_tokens", [True, False])
@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_a_forged_host_gets_421_and_a_foreign_origin_403(home: Path, tokens_file: Path, transport: str, with_tokens: bool):
    extra = ("--auth-tokens", str(tokens_file)) if with_tokens else ()
    process, base = start_server(home, transport, *extra)
    try:
        path = "/mcp" if transport == "streamable-http" else "/sse"
        method = "POST" if transport == "streamable-http" else "GET"
        headers = {**JSON_HEADERS, **({"Authorization": f"Bearer {ALICE}"} if with_tokens else {})}

        def probe(**extra_headers: str) -> int:
            with httpx2.stream(method, base + path, headers={**headers, **extra_headers}, content=json.dumps(INITIALIZE), timeout=5) as answer:
                return answer.status_code

        assert probe(host="evil.example:80") == 421
        assert probe(origin="http://evil.example") == 403
        assert probe(origin=f"http://127.0.0.1:{base.rsplit(':', 1)[1]}") == 200
    finally:
        stop(process)


def test_transport_security_for_each_bind_address():
    assert auth.transport_security("127.0.0.1", []) is None  # the SDK's own loopback checks
    wide = auth.transport_security("0.0.0.0", ["arena.lan"])
    assert wide is not None and wide.enable_dns_rebinding_protection
    assert "arena.lan:*" in wide.allowed_hosts and "localhost:*" in wide.allowed_hosts and "0.0.0.0" not in wide.allowed_hosts
    assert "https://arena.lan" in wide.allowed_origins and "http://evil.example" not in wide.allowed_origins
    one = auth.transport_security("192.168.1.5", [])
    assert one is not None and "192.168.1.5:*" in one.allowed_hosts
    v6 = auth.transport_security("fd00::5", [])
    assert v6 is not None and "[fd00::5]:*" in v6.allowed_hosts


# -- exposure and bad token settings ---------------------------------------------------------------------


def serve_fails(home: Path, *args: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mcp_arena", "serve", "--transport", "streamable-http", "--port", str(free_port()), *args],
        env={**server_env(home), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    return done.stderr


def test_a_non_loopback_bind_without_a_token_is_refused_with_the_fix(home: Path):
    message = serve_fails(home, "--host", "0.0.0.0")
    assert "refusing to serve" in message and "MCP_ARENA_AUTH_TOKEN" in message and "--allow-unauthenticated" in message
    assert auth.exposure("0.0.0.0", True, False, []) and auth.exposure("10.0.0.2", False, True, ["a"])[0].startswith("WARNING")
    assert auth.exposure("127.0.0.1", True, False, []) == []


@pytest.mark.parametrize(
    "content, words",
    [
        ("not json", "not JSON"),
        ("[]", "non-empty JSON object"),
        (json.dumps({"short": "alice"}), "at least 16 characters"),
        (json.dumps({ALICE: "al/ice"}), "principal must be"),
        (json.dumps({ALICE: ""}), "principal must be"),
    ],
)
def test_a_bad_tokens_file_stops_serve_naming_the_fix(home: Path, tmp_path: Path, content: str, words: str):
    path = tmp_path / "tokens.json"
    path.write_text(content)
    assert words in serve_fails(home, "--auth-tokens", str(path))


def test_tokens_settings_and_the_verifier(tmp_path: Path):
    import anyio

    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({ALICE: "alice", BOB: "bob"}))
    os.chmod(path, 0o600)
    settings = Settings(home=tmp_path / "home", auth_token=OWNER, auth_tokens=str(path))
    assert auth.tokens(settings) == {OWNER: "", ALICE: "alice", BOB: "bob"}
    verifier = auth.verifier(settings)
    assert verifier is not None
    checked = anyio.run(verifier.verify_token, BOB)
    assert checked is not None and checked.claims == {"mcp-arena/principal": "bob"} and BOB not in checked.token
    assert anyio.run(verifier.verify_token, BOB[:-1]) is None
    assert auth.verifier(Settings(home=tmp_path / "home")) is None
