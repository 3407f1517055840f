"""Small helpers for driving the server through a real MCP client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp import Client

# The public agent transcripts the tests use, copied into the repo (see fixtures/corpus/README.md).
CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"


async def call(client: Client, tool: str, **arguments: Any):
    return await client.call_tool(tool, arguments)


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


async def ok(client: Client, tool: str, **arguments: Any):
    result = await call(client, tool, **arguments)
    assert not result.is_error, f"{tool}({arguments}) failed: {text_of(result)}"
    return result


async def fails(client: Client, tool: str, **arguments: Any) -> str:
    result = await call(client, tool, **arguments)
    assert result.is_error, f"{tool}({arguments}) should have failed: {text_of(result)}"
    return text_of(result)
