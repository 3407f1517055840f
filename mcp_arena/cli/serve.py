"""`mcp-arena serve`: run the MCP server over stdio, SSE or streamable HTTP.

Imports nothing heavy: the server answers `initialize` before the arena (and LanceDB) is loaded.
"""

from __future__ import annotations

import argparse
import sys

from mcp_arena.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transport", choices=("stdio", "sse", "streamable-http"), default="stdio")
    parser.add_argument("--host", default="127.0.0.1", help="address for sse/streamable-http (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port for sse/streamable-http (default 8765)")
    parser.add_argument("--session", help="default session for calls that name none (env MCP_ARENA_SESSION)")
    parser.add_argument("--transcript", help="'auto' or a Claude Code transcript path to follow (env MCP_ARENA_TRANSCRIPT)")
    parser.add_argument("--skill-dir", action="append", help="extra skill folder (repeatable; env MCP_ARENA_SKILL_DIRS, ':'-separated)")
    parser.add_argument("--no-semantic", action="store_true", help="full-text search only (no embedding model)")
    parser.add_argument("--encoding", choices=("o200k_base", "cl100k_base"), help="token encoding")
    parser.add_argument("--window-tokens", type=int, help="context window assumed when not reported")
    parser.add_argument("--upstream", help="an mcpServers JSON file: serve those servers' tools through the arena (env MCP_ARENA_UPSTREAM)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_arena.server import build_server

    server = build_server(settings)  # a bad upstream file raises an ArenaError: exit 2 naming the fix
    if args.transport == "stdio":
        server.run("stdio")
    else:
        print(f"mcp-arena: serving {args.transport} on http://{args.host}:{args.port}", file=sys.stderr)
        server.run(args.transport, host=args.host, port=args.port)
    return 0
