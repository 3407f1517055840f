"""Demand paging through the real server: first use, quiet, reminder, error reload, restart, overrides."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from mcp_arena import Settings, build_server
from tests.helpers import call, text_of

pytestmark = pytest.mark.anyio

GUIDE = "--- skill: context-status (guide) ---"
AGAIN = "--- skill: context-status (guide, again: the last calls failed) ---"
REMINDER = "--- skill: context-status (reminder;"


def paging_settings(home: Path, **overrides) -> Settings:
    return Settings(home=home, semantic=False, session="paging", remind_after_steps=4, reload_after_errors=2, **overrides)


async def status_text(client: Client, **arguments) -> str:
    return text_of(await call(client, "context_status", **arguments))


async def other_steps(client: Client, count: int) -> None:
    for _ in range(count):
        await call(client, "load_skill")  # a step no skill covers


async def test_first_use_quiet_reminder_error_reload_and_restart(home: Path):
    settings = paging_settings(home)
    async with Client(build_server(settings)) as client:
        first = await status_text(client)
        assert GUIDE in first and first.index(GUIDE) > first.index("[Context Dashboard]")  # after the body
        assert "--- skill:" not in await status_text(client)  # quick second use: nothing
        await other_steps(client, 3)
        assert REMINDER in await status_text(client)  # 4 steps since it was shown
        assert "--- skill:" not in await status_text(client)
        once = await call(client, "context_status", used_tokens=-1)
        assert once.is_error and "--- skill:" not in text_of(once)
        twice = await call(client, "context_status", used_tokens=-1)
        assert twice.is_error and AGAIN in text_of(twice)  # second consecutive error: full guide again
        assert "--- skill:" not in await status_text(client)

    async with Client(build_server(settings)) as client:  # restart: the log says what was shown
        assert "--- skill:" not in await status_text(client)
        await other_steps(client, 3)
        assert REMINDER in await status_text(client)


async def test_load_skill_counts_as_showing(home: Path):
    async with Client(build_server(paging_settings(home))) as client:
        guide = text_of(await call(client, "load_skill", name="context-status"))
        assert "--- skill:" not in guide and "Goldilocks" in guide
        assert "--- skill:" not in await status_text(client)


def write_skill(folder: Path, name: str, covers: str, body: str) -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "SKILL.md").write_text(
        f'---\nname: {name}\ndescription: user version of {name}\nmetadata:\n  mcp-arena-covers: "{covers}"\n---\n{body}\n'
    )


async def test_user_skill_overrides_builtin(home: Path, tmp_path: Path):
    user = tmp_path / "user-skills"
    write_skill(user, "context-status", "context_status", "MY TEAM'S OWN DASHBOARD GUIDE")
    async with Client(build_server(paging_settings(home, skill_dirs=[user]))) as client:
        first = await status_text(client)
        assert "MY TEAM'S OWN DASHBOARD GUIDE" in first
        assert "Goldilocks zone" not in first.split(GUIDE)[1]
        catalog = text_of(await call(client, "load_skill"))
        assert "user version of context-status" in catalog


async def test_stdio_server_pages_and_skips_malformed_skills_with_a_warning(home: Path, tmp_path: Path):
    user = tmp_path / "user-skills"
    write_skill(user, "good-one", "tag", "GOOD USER GUIDE")
    (user / "broken").mkdir()
    (user / "broken" / "SKILL.md").write_text("---\nname: [unclosed\n---\nbody\n")
    (user / "Bad_Name").mkdir()
    (user / "Bad_Name" / "SKILL.md").write_text("---\nname: Bad_Name\ndescription: x\n---\nbody\n")
    (user / "no-skill-md").mkdir()
    env = {**os.environ, "MCP_ARENA_HOME": str(home), "MCP_ARENA_SEMANTIC": "false", "MCP_ARENA_SKILL_DIRS": str(user)}
    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_arena", "serve"], env=env)
    with tempfile.TemporaryFile("w+") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            tag_text = text_of(await call(client, "tag", name="x"))
            assert "GOOD USER GUIDE" in tag_text and "--- skill: tag-and-squash (guide) ---" in tag_text
            assert GUIDE in await status_text(client)
            assert "--- skill:" not in await status_text(client)
            catalog = text_of(await call(client, "load_skill"))
            assert "good-one" in catalog and "broken" not in catalog and "Bad_Name" not in catalog
        errlog.seek(0)
        warnings = errlog.read()
    assert "broken" in warnings and "Bad_Name" in warnings and "no-skill-md" in warnings
