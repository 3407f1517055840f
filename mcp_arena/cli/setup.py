"""`mcp-arena setup claude-code`: register the arena's server and hooks in Claude Code, or take them out.

Where Claude Code reads them (code.claude.com/docs/en/mcp and /settings; `CLAUDE_CONFIG_DIR`
moves the user files, as Claude Code itself resolves them):

| scope | the server (`mcpServers`) | the hooks (`hooks`) |
| --- | --- | --- |
| project (default) | `<project>/.mcp.json` | `<project>/.claude/settings.json` |
| user | `~/.claude.json`, or `$CLAUDE_CONFIG_DIR/.claude.json` | `~/.claude/settings.json`, or `$CLAUDE_CONFIG_DIR/settings.json` |

What it registers, each command by the absolute path of the running `mcp-arena` (else this
Python with `-m mcp_arena`), with `--home` when a home was given (flag or `MCP_ARENA_HOME`), since
the hooks must share the server's arena:

- the server `arena`: `mcp-arena serve --transcript auto`;
- `PreCompact`: `mcp-arena hook pre-compact` (its stdout becomes compaction instructions);
- `SessionStart`, matcher `compact`: `mcp-arena hook session-start` (re-injects after compaction);
- `PostToolUse`, matcher `*`: `<python> -I -S <package>/cli/hook_run.py post-tool-use`, the
  stdlib-only client that hands each tool's output to the running server (`cli.hook_client`),
  started without `site` and without the console-script wrapper of `mcp-arena-hook`, which is
  the same client ~10 ms slower to start (runs once per tool call);
- `PostToolUseFailure`, matcher `*`: the same with `post-tool-use-failure`: a failed call's error is
  logged as its result (the payload's `hook_event_name` says which event it is).

Merging: every other key, server and hook stays as it is, in its place. The arena's own entries
are recognised by their command (an `mcp-arena`/`mcp-arena-hook` program, `…/mcp_arena/cli/hook_run.py`
or `-m mcp_arena…`, and
for a hook the subcommand), so a second run changes nothing (no write, no backup) and a run after
the executable moved replaces the stale entry instead of adding one. A server of the same name
that is not the arena is never overwritten (`--name` picks another). `--uninstall` removes the
arena's server and hook entries, then the groups, event lists and keys that they alone filled; a
file left as an empty object is removed. Every file changed is first copied to
`<file>.bak-<timestamp>`; writes are atomic and keep the file's mode.

Where it stops: files only. Claude Code reads them at start: restart it (or open `/hooks` and
`/mcp`); a project's `.mcp.json` server asks for approval once.
"""

from __future__ import annotations

import argparse
import copy
import os
import shlex
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_arena.cli.wrap import ARENA_NAME, backup_path, is_arena, load_json, render, write_file
from mcp_arena.config import Settings
from mcp_arena.errors import InvalidArgument
from mcp_arena.feeds.locate import claude_home

HOSTS = ("claude-code",)
SCOPES = ("project", "user")
SERVER_NAME = "arena"
HOOK_NAMES = ("pre-compact", "session-start", "post-tool-use", "post-tool-use-failure")  # the arena's hooks, as its commands name them
HOOK_PROGRAMS = ("mcp-arena", "mcp-arena-hook")
HOOK_CLIENT_MODULE = "mcp_arena.cli.hook_client"
HOOK_RUN = Path(__file__).resolve().with_name("hook_run.py")  # the client as a script, for `python -I -S`
COMPACTION_TIMEOUT_SECONDS = 30
# Above the hook client's own wait for the server's answer (30 s), so the client always answers first.
POST_TOOL_USE_TIMEOUT_SECONDS = 40
NEW_FILE_MODES = {".claude.json": 0o600}  # Claude Code's own account file: private, as Claude Code makes it


@dataclass(frozen=True)
class Hook:
    """One hook the arena registers: Claude Code's event, its matcher, and the command."""

    event: str
    matcher: str | None
    name: str  # the arena's name for it: one of HOOK_NAMES
    command: str
    timeout: int

    def entry(self) -> dict[str, Any]:
        return {"type": "command", "command": self.command, "timeout": self.timeout}

    def group(self) -> dict[str, Any]:
        group: dict[str, Any] = {"matcher": self.matcher} if self.matcher is not None else {}
        return {**group, "hooks": [self.entry()]}

    def label(self) -> str:
        return f"{self.event} ({self.matcher})" if self.matcher else self.event


@dataclass(frozen=True)
class Change:
    """One file: its content before (None: no such file), after (None: remove it), and what changed."""

    path: Path
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    what: list[str]

    @property
    def changes(self) -> bool:
        return self.after != self.before


# -- arguments and run ------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("host", choices=HOSTS, help="the host to set up")
    parser.add_argument(
        "--scope", choices=SCOPES, default="project", help="project: .mcp.json and .claude/settings.json of --project; user: your Claude Code files"
    )
    parser.add_argument("--project", type=Path, help="the project folder (scope project; default: the current folder)")
    parser.add_argument("--name", default=SERVER_NAME, help=f"the server's name in mcpServers (default {SERVER_NAME})")
    parser.add_argument("--uninstall", action="store_true", help="take out what setup added")
    parser.add_argument("--dry-run", action="store_true", help="say what would change; write nothing")


def run(args: argparse.Namespace, settings: Settings) -> int:
    servers_file, settings_file = config_files(args.scope, (args.project or Path.cwd()).expanduser().absolute())
    home = settings.home.expanduser().absolute() if args.home is not None or os.environ.get("MCP_ARENA_HOME") else None
    arena = arena_command()
    if args.uninstall:
        changes = [plan_server_removal(servers_file, args.name), plan_hooks_removal(settings_file)]
    else:
        server = server_entry(arena, home)
        changes = [plan_server(servers_file, args.name, server), plan_hooks(settings_file, hooks_of(arena, home))]
    print(f"Claude Code, scope {args.scope}{' (dry run: nothing written)' if args.dry_run else ''}:")
    for change in changes:
        backup = None if args.dry_run else apply(change)
        print(f"  {change.path}: {'; '.join(change.what)}" + (f" (backup: {backup})" if backup else ""))
    if not args.dry_run and any(change.changes for change in changes):
        print("Restart Claude Code (or open /hooks and /mcp) to load the change; a project's .mcp.json server asks for approval once.")
    return 0


def config_files(scope: str, project: Path) -> tuple[Path, Path]:
    """(the file of the MCP server, the settings file of the hooks) of a scope."""
    if scope == "project":
        return project / ".mcp.json", project / ".claude" / "settings.json"
    configured = os.environ.get("CLAUDE_CONFIG_DIR")
    servers = Path(configured).expanduser() / ".claude.json" if configured else Path.home() / ".claude.json"
    return servers, claude_home() / "settings.json"


# -- what is registered -----------------------------------------------------------------------------


def arena_command() -> list[str]:
    """The running mcp-arena: its script, else the script beside this Python, else this Python with -m."""
    running = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if running is not None and ARENA_NAME.match(running.name) and running.is_file():
        return [os.path.abspath(running)]
    beside = Path(sys.executable).parent / "mcp-arena"
    if beside.is_file():
        return [str(beside)]
    return [sys.executable, "-m", "mcp_arena"]


def hook_client_command(event: str = "post-tool-use") -> list[str]:
    """A PostToolUse(Failure) hook: the client's script run by this Python without `site` (`cli.hook_run`),
    else (a package without that file) its module."""
    if HOOK_RUN.is_file():
        return [sys.executable, "-I", "-S", str(HOOK_RUN), event]
    return [sys.executable, "-m", HOOK_CLIENT_MODULE, event]


def server_entry(arena: list[str], home: Path | None) -> dict[str, Any]:
    return {"type": "stdio", "command": arena[0], "args": [*arena[1:], "serve", "--transcript", "auto", *home_flag(home)]}


def hooks_of(arena: list[str], home: Path | None) -> list[Hook]:
    def command(words: list[str]) -> str:
        return shlex.join([*words, *home_flag(home)])

    return [
        Hook("PreCompact", None, "pre-compact", command([*arena, "hook", "pre-compact"]), COMPACTION_TIMEOUT_SECONDS),
        Hook("SessionStart", "compact", "session-start", command([*arena, "hook", "session-start"]), COMPACTION_TIMEOUT_SECONDS),
        Hook("PostToolUse", "*", "post-tool-use", command(hook_client_command()), POST_TOOL_USE_TIMEOUT_SECONDS),
        Hook(
            "PostToolUseFailure",
            "*",
            "post-tool-use-failure",
            command(hook_client_command("post-tool-use-failure")),
            POST_TOOL_USE_TIMEOUT_SECONDS,
        ),
    ]


def home_flag(home: Path | None) -> list[str]:
    return ["--home", str(home)] if home is not None else []


def arena_hook(entry: Any) -> str | None:
    """Which of the arena's hooks a hook entry runs, or None for any other hook."""
    command = entry.get("command") if isinstance(entry, dict) else None
    try:
        words = shlex.split(command) if isinstance(command, str) else []
    except ValueError:
        return None
    runs_arena = (
        any(Path(word).name.removesuffix(".exe") in HOOK_PROGRAMS or is_hook_run(word) for word in words)
        or any(flag == "-m" and (module == "mcp_arena" or module.startswith("mcp_arena.")) for flag, module in zip(words, words[1:]))
    )
    return next((word for word in words if word in HOOK_NAMES), None) if runs_arena else None


def is_hook_run(word: str) -> bool:
    """`…/mcp_arena/cli/hook_run.py`, of this install or another."""
    path = Path(word)
    return path.name == HOOK_RUN.name and path.parent.name == "cli" and path.parent.parent.name == "mcp_arena"


# -- the server -------------------------------------------------------------------------------------


def plan_server(path: Path, name: str, entry: dict[str, Any]) -> Change:
    before = read_object(path)
    servers = object_at(before or {}, "mcpServers", path)
    present = servers.get(name)
    if present is not None and not is_arena(present):
        raise InvalidArgument(
            f"{path} already has an MCP server named {name!r} that is not mcp-arena; nothing was changed. Pass --name to register the arena under another name."
        )
    if present == entry:
        return Change(path, before, before, [f"server {name!r} already registered"])
    after = copy.deepcopy(before or {})
    after.setdefault("mcpServers", {})[name] = entry
    verb = "replaced" if present is not None else "added"
    return Change(path, before, after, [f"server {name!r} {verb}: {shlex.join([entry['command'], *entry['args']])}"])


def plan_server_removal(path: Path, name: str) -> Change:
    before = read_object(path)
    servers = object_at(before or {}, "mcpServers", path)
    if name not in servers:
        return Change(path, before, before, [f"no server {name!r}"])
    if not is_arena(servers[name]):
        return Change(path, before, before, [f"server {name!r} is not mcp-arena; left as it is"])
    after = copy.deepcopy(before or {})
    del after["mcpServers"][name]
    if not after["mcpServers"]:
        del after["mcpServers"]
    return Change(path, before, after or None, [f"server {name!r} removed"])


# -- the hooks --------------------------------------------------------------------------------------


def plan_hooks(path: Path, hooks: list[Hook]) -> Change:
    before = read_object(path)
    after = copy.deepcopy(before or {})
    events = after.setdefault("hooks", {})
    check_hooks(events, path)
    done = []
    for hook in hooks:
        groups = events.setdefault(hook.event, [])
        if registered(groups, hook):
            continue
        stale = remove_arena_hooks(groups, {hook.name})
        groups.append(hook.group())
        done.append(f"{hook.label()} {'replaced' if stale else 'added'}")
    if not done:
        return Change(path, before, before, ["hooks already registered"])
    return Change(path, before, after, [f"hooks {', '.join(done)}"])


def plan_hooks_removal(path: Path) -> Change:
    before = read_object(path)
    after = copy.deepcopy(before or {})
    events = after.get("hooks")
    if not isinstance(events, dict):
        return Change(path, before, before, ["no arena hooks"])
    check_hooks(events, path)
    removed = []
    for event in list(events):
        if remove_arena_hooks(events[event], set(HOOK_NAMES)):
            removed.append(event)
            if not events[event]:
                del events[event]
    if not removed:
        return Change(path, before, before, ["no arena hooks"])
    if not events:
        del after["hooks"]
    return Change(path, before, after or None, [f"hooks removed from {', '.join(removed)}"])


def registered(groups: list[Any], hook: Hook) -> bool:
    """Whether the arena's `hook` is there exactly as it would be added, and no other version of it."""
    found = [(group, entry) for group in groups for entry in group.get("hooks", []) if arena_hook(entry) == hook.name]
    return len(found) == 1 and found[0][0] == hook.group()


def remove_arena_hooks(groups: list[Any], names: set[str]) -> int:
    """Take the arena's hooks of `names` out of a Claude Code event's groups; a group they alone filled goes too."""
    removed = 0
    for group in list(groups):
        entries = group.get("hooks", [])
        kept = [entry for entry in entries if arena_hook(entry) not in names]
        removed += len(entries) - len(kept)
        if len(kept) == len(entries):
            continue
        if kept:
            group["hooks"] = kept
        else:
            groups.remove(group)
    return removed


def check_hooks(events: Any, path: Path) -> None:
    """The `hooks` object has the shape Claude Code reads: event -> list of groups, each with a `hooks` list."""
    problem = "" if isinstance(events, dict) else '"hooks" is not an object'
    for event, groups in events.items() if not problem else ():
        if not isinstance(groups, list) or not all(isinstance(group, dict) and isinstance(group.get("hooks", []), list) for group in groups):
            problem = f'"hooks"."{event}" is not a list of {{"matcher", "hooks": [...]}} groups'
            break
    if problem:
        raise InvalidArgument(f"{path}: {problem}, as Claude Code reads it. Fix it there; nothing was changed.")


# -- files ------------------------------------------------------------------------------------------


def read_object(path: Path) -> dict[str, Any] | None:
    """A JSON object file, None when there is none (or it is empty)."""
    if not path.exists() or (path.is_file() and not path.read_text(encoding="utf-8-sig").strip()):
        return None
    doc, commented = load_json(path)
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{path}: not a JSON object. Fix it there; nothing was changed.")
    if commented:
        raise InvalidArgument(f"{path} has comments, which rewriting it would drop; add the arena by hand (see the README). Nothing was changed.")
    return doc


def object_at(doc: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise InvalidArgument(f'{path}: "{key}" is not an object. Fix it there; nothing was changed.')
    return value


def apply(change: Change) -> Path | None:
    """Write (or remove) the file after a backup of what was there; the backup's path, if one was made."""
    if not change.changes:
        return None
    path = change.path.resolve()  # a symlinked settings file (dotfiles) is rewritten where it really lives
    backup = backup_path(path) if change.before is not None else None
    try:
        if backup is not None:
            shutil.copy2(path, backup)
        if change.after is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else NEW_FILE_MODES.get(path.name, 0o644)
            write_file(path, render(change.after), mode)
    except OSError as exc:
        raise InvalidArgument(f"cannot write {path}: {exc.strerror}. Check its permissions; the original is unchanged or in {backup}.") from None
    return backup
