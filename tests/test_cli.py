"""The `mcp-arena` command for people: helpful errors, status, sessions, export, summary versions and undo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client

from mcp_arena import Settings, build_server
from tests.helpers import ok

pytestmark = pytest.mark.anyio


def run(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "MCP_ARENA_HOME": str(home), "MCP_ARENA_SEMANTIC": "false", **env}
    return subprocess.run([sys.executable, "-m", "mcp_arena", *args], env=environment, capture_output=True, text=True, timeout=120)


def test_bad_settings_and_unknown_sessions_exit_2_with_one_line(home: Path):
    bad = run(home, "sessions", MCP_ARENA_WINDOW_TOKENS="lots")
    assert bad.returncode == 2 and "window_tokens" in bad.stderr and "Traceback" not in bad.stderr
    unknown = run(home, "status", "--session", "nope")
    assert unknown.returncode == 2 and "unknown session 'nope'" in unknown.stderr and unknown.stdout == ""
    assert run(home).returncode == 2


async def test_status_sessions_export_and_summary_versions_with_undo(home: Path):
    settings = Settings(home=home, semantic=False, session="cli-session")
    async with Client(build_server(settings)) as client:
        await ok(client, "tag", name="one")
        await ok(client, "context_status")
        await ok(client, "squash", summary="## Decisions Made\n- first decision")
        await ok(client, "tag", name="two")
        await ok(client, "context_status")
        await ok(client, "squash", summary="## Decisions Made\n- second decision")

    assert "cli-session" in run(home, "sessions").stdout
    status = run(home, "status", "--session", "cli-session")
    assert status.returncode == 0 and "[Context Dashboard] session cli-session" in status.stdout
    events = [json.loads(line) for line in run(home, "export", "--session", "cli-session").stdout.splitlines()]
    assert [e["seq"] for e in events] == list(range(len(events))) and events[0]["tool"] == "tag"

    versions = run(home, "summary", "--session", "cli-session", "--versions").stdout.splitlines()
    assert [line.split("\t")[0] for line in versions] == ["#0", "#1"]
    assert "second decision" in run(home, "summary", "--session", "cli-session").stdout
    assert "second decision" not in run(home, "summary", "--session", "cli-session", "--version", "0").stdout

    undone = run(home, "summary", "--session", "cli-session", "--undo")
    assert undone.returncode == 0 and "undid squash #1" in undone.stdout
    now = run(home, "summary", "--session", "cli-session").stdout
    assert "first decision" in now and "second decision" not in now
    assert len(run(home, "summary", "--session", "cli-session", "--versions").stdout.splitlines()) == 3  # undo is a record

    async with Client(build_server(settings)) as client:
        status = (await ok(client, "context_status")).structured_content
        assert status["squashes"] == 1  # the undone squash no longer counts


def test_hooks_exit_0_even_with_bad_settings(home: Path):
    for hook in ("session-start", "pre-compact"):
        result = subprocess.run(
            [sys.executable, "-m", "mcp_arena", "hook", hook],
            env={**os.environ, "MCP_ARENA_HOME": str(home), "MCP_ARENA_WINDOW_TOKENS": "lots"},
            input='{"session_id": "x"}',
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0 and result.stdout == "" and "window_tokens" in result.stderr
