"""The always-visible surface (instructions + tools/list) stays within its budget, and every built-in skill is in it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

from mcp_arena import Settings, build_server
from mcp_arena.core.skills import builtin_skills_dir
from mcp_arena.core.tokens import TokenCounter

SURFACE_BUDGET = 1_500  # tokens, o200k_base: part of every request of every session


@pytest.mark.anyio
async def test_the_surface_fits_its_budget_and_names_every_built_in_skill(home: Path):
    async with Client(build_server(Settings(home=home, semantic=False))) as client:
        instructions = client.instructions or ""
        tools = (await client.list_tools()).tools
    listing = json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools], sort_keys=True)
    counter = TokenCounter()
    assert counter.count(instructions) + counter.count(listing) <= SURFACE_BUDGET
    for folder in sorted(p for p in builtin_skills_dir().iterdir() if (p / "SKILL.md").is_file()):
        assert f"- {folder.name}: " in instructions, f"built-in skill {folder.name} did not load (check its front matter)"
