"""`mcp-arena demo`: a short scripted agent session against the real server, over stdio.

It starts `python -m mcp_arena serve` as a subprocess (as a host would), talks to
it with the MCP SDK's client, and prints every tool result. The server reads its
settings from the environment, as a host's would; `--home` only picks the folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from mcp_arena.config import Settings

SUMMARY = """\
## Session Intent
Fix the login bug: JWT tokens expire immediately after sign-in.

## Files Modified
- src/auth/jwt.py: expiry computed in seconds, not milliseconds

## Decisions Made
- Keep PyJWT; the bug was our unit conversion, not the library

## Current State
- tests/test_jwt.py passes (12 passed); full suite not run yet

## Next Steps
1. Run the full test suite
2. Update CHANGELOG.md
"""

SCRIPT: list[tuple[str, dict[str, Any]]] = [
    ("context_status", {"used_tokens": 61_000, "window_tokens": 200_000}),
    ("tag", {"name": "jwt-bug", "note": "start debugging the login expiry bug"}),
    ("artifact_index", {"record": [{"path": "src/auth/jwt.py", "action": "read", "note": "found exp = now + ttl * 1000"}]}),
    ("artifact_index", {"record": [
        {"path": "src/auth/jwt.py", "action": "modified", "note": "exp in seconds"},
        {"path": "tests/test_jwt.py", "action": "created", "note": "regression test for expiry"},
        {"path": "src/auth/config.py", "action": "modified"},
    ]}),
    ("context_status", {"used_tokens": 148_000, "window_tokens": 200_000}),
    ("squash", {"summary": SUMMARY}),
    ("memory_search", {"query": "what was wrong with the token expiry?", "scope": "squashed"}),
    ("load_skill", {}),
    ("artifact_index", {}),
    ("context_status", {"used_tokens": 92_000, "window_tokens": 200_000}),
]


async def play(home: Path) -> None:
    env = {**os.environ, "MCP_ARENA_HOME": str(home)}
    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_arena", "serve"], env=env)
    async with Client(params) as client:
        for number, (tool, arguments) in enumerate(SCRIPT, 1):
            shown = ", ".join(f"{k}={v!r}" for k, v in arguments.items() if k != "summary")
            if "summary" in arguments:
                shown = (shown + ", " if shown else "") + "summary=<anchored summary, 5 sections>"
            print(f"\n=== {number}. {tool}({shown})")
            result = await client.call_tool(tool, arguments)
            flag = " [isError]" if result.is_error else ""
            for block in result.content:
                print(f"{getattr(block, 'text', block)}{flag}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", type=Path, help="state folder for the demo (default: a fresh temporary folder)")


def run(args: argparse.Namespace, _settings: Settings) -> int:
    return run_demo(args.home)


def run_demo(home: Path | None) -> int:
    if home is not None:
        anyio.run(play, home)
        return 0
    with tempfile.TemporaryDirectory(prefix="mcp-arena-demo-") as folder:
        anyio.run(play, Path(folder))
    return 0
