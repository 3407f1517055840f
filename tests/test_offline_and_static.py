"""Offline by design, a static surface, deterministic results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

from mcp_arena import Settings, build_server
from mcp_arena.core.tokens import TokenCounter, encoding
from tests.helpers import ok, text_of

pytestmark = pytest.mark.anyio


def test_tiktoken_encodings_load_with_sockets_blocked(no_network):
    encoding.cache_clear()
    cl100k = TokenCounter("cl100k_base")
    o200k = TokenCounter("o200k_base")
    assert cl100k._encoding.encode("hello world") == [15339, 1917]
    assert o200k.count("hello world") == 2
    assert cl100k.count("<|endoftext|> is plain text here") > 1
    assert no_network == []


async def test_server_works_with_sockets_blocked(settings: Settings, no_network):
    async with Client(build_server(settings)) as client:
        await ok(client, "tag", name="offline")
        await ok(client, "memory_search", query="offline")
        await ok(client, "context_status")
    assert no_network == []


async def test_surface_is_static_across_calls_and_processes(settings: Settings):
    async def surface() -> tuple[str, str, list[str]]:
        async with Client(build_server(settings)) as client:
            before = json.dumps([t.model_dump(mode="json") for t in (await client.list_tools()).tools], sort_keys=True)
            await ok(client, "tag", name=f"t{len(seen)}")
            await ok(client, "load_skill", name="tag-and-squash")
            after = json.dumps([t.model_dump(mode="json") for t in (await client.list_tools()).tools], sort_keys=True)
            assert before == after
            return client.instructions or "", after, []

    seen: list[str] = []
    first = await surface()
    seen.append("x")
    second = await surface()
    assert first == second


async def script(home: Path) -> list[str]:
    settings = Settings(home=home, semantic=False, session="fixed")
    texts = []
    async with Client(build_server(settings)) as client:
        for tool, arguments in [
            ("context_status", {"used_tokens": 30_000, "window_tokens": 100_000}),
            ("tag", {"name": "a"}),
            ("artifact_index", {"record": [{"path": "z.py", "action": "created"}, {"path": "b.py", "action": "read"}]}),
            ("squash", {"summary": "## Next Steps\n- b\n## Decisions Made\n- a"}),
            ("memory_search", {"query": "z.py"}),
            ("artifact_index", {}),
            ("context_status", {}),
        ]:
            result = await client.call_tool(tool, arguments)
            texts.append(text_of(result) + json.dumps(result.structured_content, sort_keys=True))
    return texts


async def test_same_state_gives_same_bytes(tmp_path: Path):
    assert await script(tmp_path / "one") == await script(tmp_path / "two")


async def test_instructions_list_skills_one_line_each(settings: Settings):
    async with Client(build_server(settings)) as client:
        instructions = client.instructions or ""
    assert "- tag-and-squash:" in instructions and "- context-status:" in instructions
    skill_lines = [line for line in instructions.splitlines() if line.startswith("- ")]
    assert all(len(line) < 260 for line in skill_lines)
