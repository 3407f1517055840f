"""The `mcp-arena` command: one table of subcommands, each imported only when it runs.

`COMMANDS` names every subcommand, its help line and the module that holds its
`add_arguments(parser)` and `run(args, settings)`. A command's module is
imported only when that command runs (or its arguments are built): `serve`
must answer `initialize` before LanceDB is imported, and most modules load it.

Settings: defaults < MCP_ARENA_* environment < the flags given here.
Errors a person can fix print one line to stderr and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from mcp_arena.config import Settings
from mcp_arena.errors import ArenaError


@dataclass(frozen=True)
class Command:
    """One subcommand: its help line and where its argument builder and runner live."""

    help: str
    module: str
    add_arguments: str | None = "add_arguments"  # None: no arguments of its own
    run: str = "run"
    home: bool = True  # takes the common --home flag
    never_fails: bool = False  # a host hook: whatever goes wrong, exit 0

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        if self.add_arguments is not None:
            getattr(importlib.import_module(self.module), self.add_arguments)(parser)

    def runner(self) -> Callable[[argparse.Namespace, Settings], int]:
        run: Callable[[argparse.Namespace, Settings], int] = getattr(importlib.import_module(self.module), self.run)
        return run


SESSIONS = "mcp_arena.cli.sessions"
FEEDS = "mcp_arena.cli.feeds"

COMMANDS: dict[str, Command] = {
    "serve": Command("run the MCP server (stdio by default)", "mcp_arena.cli.serve"),
    "setup": Command("register the arena's server and hooks in Claude Code (--scope project|user; --uninstall takes them out)", "mcp_arena.cli.setup"),
    "wrap": Command("put the arena in front of the MCP servers of a Claude Desktop, Cursor or VS Code config (--unwrap: undo)", "mcp_arena.cli.wrap"),
    "demo": Command("play a short scripted agent session against the real server over stdio", "mcp_arena.cli.demo", home=False),
    "status": Command("print a session's context dashboard", SESSIONS, "add_session_argument", "run_status"),
    "sessions": Command("list the sessions in the arena", SESSIONS, None, "run_sessions"),
    "export": Command("write a session's log as JSON lines to stdout", SESSIONS, "add_session_argument", "run_export"),
    "summary": Command("show a session's anchored summary, its versions, or undo the last squash", SESSIONS, "add_summary_arguments", "run_summary"),
    "report": Command("write a session as one self-contained HTML page: usage, squashes, shaping, files, guides, errors", "mcp_arena.cli.report"),
    "bench": Command("measure latency, throughput, storage, cold start and surface (writes bench.json, bench.md)", "mcp_arena.lab.bench"),
    "eval": Command("probe-based evaluation of compression on transcripts (or gen:N)", "mcp_arena.lab.evaluate"),
    "hook": Command(
        "Claude Code hooks: session-start (re-inject after compaction), pre-compact, post-tool-use (fast: mcp-arena-hook)",
        FEEDS,
        "add_hook_arguments",
        "run_hook_command",
        never_fails=True,
    ),
    "ingest": Command("import transcripts into sessions (idempotent; progress on stderr)", FEEDS, "add_ingest_arguments", "run_ingest"),
    "replay": Command("replay a transcript turn by turn: real usage, the arena's figure, zone and advice", FEEDS, "add_replay_arguments", "run_replay"),
    "simulate": Command("replay a transcript under context policies: peak usage, compactions, cache hits", "mcp_arena.lab.simulate"),
}


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the environment, overridden by the flags that were given."""
    overrides: dict[str, Any] = {}
    for name in ("home", "session", "transcript", "encoding", "window_tokens", "upstream"):
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


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Every subcommand by name and help; the arguments of `only` (of all of them when None).

    Building a command's arguments imports its module: `main` builds only those of the command given.
    """
    parser = argparse.ArgumentParser(prog="mcp-arena", description="Context-window arena for LLM agents, as an MCP server.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, help=command.help)
        if command.home:
            add_common(sub)
        if only is None or only == name:
            command.add_to(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(only=argv[0] if argv else "")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    command = COMMANDS[args.command]
    if command.never_fails:
        return _run_never_failing(command, args)
    try:
        return command.runner()(args, settings_from(args))
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


def _run_never_failing(command: Command, args: argparse.Namespace) -> int:
    """A hook must never fail the host: whatever goes wrong, say it on stderr and exit 0."""
    try:
        command.runner()(args, settings_from(args))
    except Exception as exc:  # noqa: BLE001 - deliberately broad: the host must go on
        print(f"mcp-arena {args.command}: {exc}", file=sys.stderr)
    return 0


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ())) or "settings"
    return f"{where}: {error.get('msg')} (check the MCP_ARENA_* variables and flags)"
