"""The `mcp-arena` command: serve the MCP server, and tools for people (demo, status, sessions, export, summary).

Settings: defaults < MCP_ARENA_* environment < the flags given here.
Errors a person can fix print one line to stderr and exit 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from mcp_arena.config import Settings
from mcp_arena.errors import ArenaError

# Subcommands added by other modules: name -> (help, add_arguments, run)
EXTRA_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace, Settings], int]]] = {}


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the environment, overridden by the flags that were given."""
    overrides: dict[str, Any] = {}
    for name in ("home", "session", "transcript", "encoding", "window_tokens"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    if getattr(args, "no_semantic", False):
        overrides["semantic"] = False
    if getattr(args, "skill_dir", None):
        overrides["skill_dirs"] = [Path(p) for p in args.skill_dir]
    return Settings(**overrides)


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", type=Path, help="state folder (env MCP_ARENA_HOME)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcp-arena", description="Context-window arena for LLM agents, as an MCP server.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the MCP server (stdio by default)")
    add_common(serve)
    serve.add_argument("--transport", choices=("stdio", "sse", "streamable-http"), default="stdio")
    serve.add_argument("--host", default="127.0.0.1", help="address for sse/streamable-http (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port for sse/streamable-http (default 8765)")
    serve.add_argument("--session", help="default session for calls that name none (env MCP_ARENA_SESSION)")
    serve.add_argument("--transcript", help="'auto' or a Claude Code transcript path to follow (env MCP_ARENA_TRANSCRIPT)")
    serve.add_argument("--skill-dir", action="append", help="extra skill folder (repeatable; env MCP_ARENA_SKILL_DIRS, ':'-separated)")
    serve.add_argument("--no-semantic", action="store_true", help="full-text search only (no embedding model)")
    serve.add_argument("--encoding", choices=("o200k_base", "cl100k_base"), help="token encoding")
    serve.add_argument("--window-tokens", type=int, help="context window assumed when not reported")

    demo = commands.add_parser("demo", help="play a short scripted agent session against the real server over stdio")
    demo.add_argument("--home", type=Path, help="state folder for the demo (default: a fresh temporary folder)")

    status = commands.add_parser("status", help="print a session's context dashboard")
    add_common(status)
    status.add_argument("--session", required=True)

    sessions = commands.add_parser("sessions", help="list the sessions in the arena")
    add_common(sessions)

    export = commands.add_parser("export", help="write a session's log as JSON lines to stdout")
    add_common(export)
    export.add_argument("--session", required=True)

    summary = commands.add_parser("summary", help="show a session's anchored summary, its versions, or undo the last squash")
    add_common(summary)
    summary.add_argument("--session", required=True)
    summary.add_argument("--versions", action="store_true", help="list the kept summary versions")
    summary.add_argument("--version", type=int, help="print one version (its record number)")
    summary.add_argument("--undo", action="store_true", help="undo the last squash (appends an undo record)")

    for name, (help_text, add_arguments, _run) in sorted(EXTRA_COMMANDS.items()):
        sub = commands.add_parser(name, help=help_text)
        add_common(sub)
        add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS and argv[0] != "demo":
        _load_extra_commands()  # they import LanceDB: `serve` must not wait for it before `initialize`
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "hook":
        return _run_hook_never_failing(args)
    try:
        if args.command == "demo":
            from mcp_arena.cli.demo import run_demo

            return run_demo(args.home)
        settings = settings_from(args)
        if args.command in EXTRA_COMMANDS:
            return EXTRA_COMMANDS[args.command][2](args, settings)
        return COMMANDS[args.command](args, settings)
    except ValidationError as exc:
        print(f"mcp-arena: bad setting: {_first_error(exc)}", file=sys.stderr)
        return 2
    except SettingsError as exc:
        print(f"mcp-arena: bad setting: {exc} (check the MCP_ARENA_* variables)", file=sys.stderr)
        return 2
    except ArenaError as exc:
        print(f"mcp-arena: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _run_hook_never_failing(args: argparse.Namespace) -> int:
    """A hook must never fail the host: whatever goes wrong, say it on stderr and exit 0."""
    try:
        EXTRA_COMMANDS["hook"][2](args, settings_from(args))
    except Exception as exc:  # noqa: BLE001 - deliberately broad: the host must go on
        print(f"mcp-arena hook: {exc}", file=sys.stderr)
    return 0


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ())) or "settings"
    return f"{where}: {error.get('msg')} (check the MCP_ARENA_* variables and flags)"


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_arena.server import build_server

    server = build_server(settings)
    if args.transport == "stdio":
        server.run("stdio")
    else:
        print(f"mcp-arena: serving {args.transport} on http://{args.host}:{args.port}", file=sys.stderr)
        server.run(args.transport, host=args.host, port=args.port)
    return 0


def run_status(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_arena.core import status as dashboard
    from mcp_arena.core import render
    from mcp_arena.engine.arena import Arena

    arena = Arena(settings)
    try:
        arena.require_session(args.session)
        with arena.locked(args.session) as ledger:
            print(render.status(dashboard.status(ledger, settings)))
    finally:
        arena.close()
    return 0


def run_sessions(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_arena.engine.store import Store

    store = Store(settings.database, settings.home / "locks")
    rows = store.sessions()
    if not rows:
        print(f"no sessions yet in {settings.database}", file=sys.stderr)
    for row in rows:
        print(f"{row['session']}\t{row['origin']}\t{row['label']}")
    return 0


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_arena.engine.arena import Arena

    arena = Arena(settings)
    try:
        arena.require_session(args.session)
        for row in arena.store.events(args.session):
            row["meta"] = json.loads(row["meta"]) if row["meta"] else {}
            print(json.dumps(row, sort_keys=True, ensure_ascii=False))
    finally:
        arena.close()
    return 0


def run_summary(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_arena.engine.arena import Arena

    arena = Arena(settings)
    try:
        arena.require_session(args.session)
        if args.undo:
            record = arena.undo_squash(args.session)
            print(f"undid squash #{record.undoes} (seq {record.from_seq}–{record.to_seq}); anchored summary now:\n")
            print(record.anchored or "(empty)")
            return 0
        versions = arena.summary_versions(args.session)
        if args.version is not None:
            chosen = [v for v in versions if v.record == args.version]
            if not chosen:
                kept = ", ".join(str(v.record) for v in versions) or "none"
                raise ArenaError(f"no kept summary version {args.version}; kept versions: {kept}")
            print(chosen[0].anchored or "(empty)")
        elif args.versions:
            for v in versions:
                what = f"undo of #{v.undoes}" if v.op == "undo" else f"squash '{v.tag}' seq {v.from_seq}–{v.to_seq}"
                print(f"#{v.record}\t{what}\t{v.tokens_before}→{v.tokens_after} tokens")
        else:
            print(versions[-1].anchored if versions else "(no squash yet)")
    finally:
        arena.close()
    return 0


COMMANDS = {
    "serve": run_serve,
    "status": run_status,
    "sessions": run_sessions,
    "export": run_export,
    "summary": run_summary,
}


def _load_extra_commands() -> None:
    """Modules that add subcommands register themselves in EXTRA_COMMANDS when imported."""
    import importlib

    for module in ("mcp_arena.cli.feeds", "mcp_arena.lab.bench"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
