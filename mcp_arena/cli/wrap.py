"""`mcp-arena wrap`: put the arena in front of the MCP servers a host already runs.

Reads a host's MCP config (Claude Desktop, Cursor, VS Code), moves its servers into an
upstream file (default `<home>/upstreams/<host>.json`, mode 0600: it holds their env and
header values) and leaves one server entry in their place: the arena, started as
`mcp-arena serve --upstream <that file>`. Without `--write` the new host config goes to
stdout and only the upstream file is written; with it the host config is rewritten in place
after a timestamped backup. `--unwrap` puts the servers back.

What stays in the host config: every key besides the servers (VS Code's `inputs` too), the
disabled servers, and the arena itself (a `mcp-arena` command, a `mcp_arena` module or
`serve --upstream` in the arguments). An arena entry already there is reused, so a second
run changes nothing, and a server added to the host config after wrapping is merged into
the upstream file on the next run (it replaces an upstream entry of the same name).

`${...}` placeholders (VS Code's `${input:...}`, `${env:...}`, `${workspaceFolder}`) are
copied as they are: the arena neither prompts for nor expands them, so wrap names each one
and says where to put the value instead. Secrets are never printed: messages name keys
only, and env, header and URL credential values are masked in the config shown on stdout.

Where it stops: files only. Nothing is started or connected; the upstream entries are
checked with the proxy's own parser, so a file wrap writes is one `serve` accepts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp_arena.config import Settings
from mcp_arena.errors import InvalidArgument
from mcp_arena.proxy.config import parse_upstreams
from mcp_arena.proxy.secrets import redact, strongest, url_secrets

NOTE_KEY = "arenaWrap"  # the upstream file's record of where its servers came from; load_upstreams ignores other top-level keys
UPSTREAM_ENV = "MCP_ARENA_UPSTREAM"
ARENA_NAME = re.compile(r"^mcp[-_]arena(\.exe)?([=@<>~!\[].*)?$", re.IGNORECASE)  # mcp-arena, mcp_arena, mcp-arena@latest, mcp-arena==1.2
PLACEHOLDER = re.compile(r"\$\{[^}]*\}")


@dataclass(frozen=True)
class Host:
    name: str
    title: str
    key: str  # the top-level object that maps server names to entries
    typed: bool  # its stdio entries say "type": "stdio"
    user_level: bool  # its default config is one per user (not one per project)


HOSTS = {
    "claude-desktop": Host("claude-desktop", "Claude Desktop", "mcpServers", typed=False, user_level=True),
    "cursor": Host("cursor", "Cursor", "mcpServers", typed=False, user_level=True),
    "vscode": Host("vscode", "VS Code", "servers", typed=True, user_level=False),
}
HOSTS_BY_KEY = {"mcpServers": "claude-desktop or cursor", "servers": "vscode"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", required=True, choices=tuple(HOSTS), help="the host whose config to rewrite")
    parser.add_argument(
        "--config",
        type=Path,
        help="the host's MCP config file (default: Claude Desktop's claude_desktop_config.json, ~/.cursor/mcp.json, ./.vscode/mcp.json)",
    )
    parser.add_argument(
        "--upstream-file",
        type=Path,
        help="where the wrapped servers go (default <home>/upstreams/<host>.json; <host>-<project>-<hash>.json for a project's config)",
    )
    parser.add_argument("--write", action="store_true", help="rewrite the host config in place after a backup <config>.bak-YYYYmmdd-HHMMSS")
    parser.add_argument("--unwrap", action="store_true", help="put the wrapped servers back into the host config")
    parser.add_argument("--arena-command", help="the command of a new arena entry (default: this mcp-arena executable)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    host = HOSTS[args.host]
    config = locate_config(host, args.config)
    doc, commented = load_json(config)
    upstream_flag = args.upstream_file.expanduser().absolute() if args.upstream_file else None
    if args.unwrap:
        change = plan_unwrap(doc, host, config, upstream_flag)
    else:
        change = plan_wrap(doc, host, config, upstream_flag, settings.home, lambda: arena_launcher(args.arena_command))
        if change.upstream_doc is not None:
            write_private(change.upstream, render(change.upstream_doc))
    backup = apply(config, host.key, doc, change.doc, write=args.write)
    report(change, host, config, backup, write=args.write, commented=commented)
    return 0


# --- reading ---------------------------------------------------------------------------------


def default_config(host: Host, *, platform: str = sys.platform, env: Mapping[str, str] = os.environ, home: Path | None = None) -> Path:
    """The file the host reads its MCP servers from, when no --config is given."""
    home = home or Path.home()
    if host.name == "vscode":
        return Path.cwd() / ".vscode" / "mcp.json"
    if host.name == "cursor":
        return home / ".cursor" / "mcp.json"
    if platform == "darwin":
        folder = home / "Library" / "Application Support"
    elif platform == "win32":
        folder = Path(env["APPDATA"]) if env.get("APPDATA") else home / "AppData" / "Roaming"
    else:
        folder = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    return folder / "Claude" / "claude_desktop_config.json"


def locate_config(host: Host, given: Path | None) -> Path:
    path = (given or default_config(host)).expanduser()
    if not path.is_file():
        raise InvalidArgument(
            f'{host.title} config not found: {path}. Pass --config PATH (the file holding its "{host.key}"), or add a server in {host.title} first.'
        )
    return path.resolve()  # a symlinked config (dotfiles) is rewritten where it really lives


def load_json(path: Path) -> tuple[Any, bool]:
    """A JSON file, comments and trailing commas allowed (VS Code writes JSONC), and whether it had comments."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"{path}: not UTF-8 text ({exc.reason}). Save it as UTF-8 JSON.") from None
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc.strerror}. Check the path and its permissions.") from None
    clean, commented = strip_comments(text)
    try:
        return json.loads(clean), commented
    except json.JSONDecodeError as exc:
        # msg, line and column only: the exception's doc attribute holds the file text, secrets included
        raise InvalidArgument(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}. Fix it there; nothing was changed.") from None


def strip_comments(text: str) -> tuple[str, bool]:
    """`//` and `/* */` comments and trailing commas blanked out, line and column positions kept."""
    out = list(text)
    index, inside_string, commented, comma = 0, False, False, -1
    while index < len(text):
        char = text[index]
        if inside_string:
            inside_string = char != '"'
            index += 2 if char == "\\" else 1
            continue
        if text.startswith(("//", "/*"), index):
            end = comment_end(text, index)
            for position in range(index, end):
                out[position] = "\n" if text[position] == "\n" else " "
            index, commented = end, True
            continue
        if char in "}]" and comma >= 0:
            out[comma] = " "  # a trailing comma
        if not char.isspace():
            comma = index if char == "," else -1
        inside_string = char == '"'
        index += 1
    return "".join(out), commented


def comment_end(text: str, start: int) -> int:
    if text.startswith("//", start):
        end = text.find("\n", start)
        return len(text) if end < 0 else end
    end = text.find("*/", start + 2)
    return len(text) if end < 0 else end + 2


def servers_of(doc: Any, key: str, where: Path, hint: str = "") -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise InvalidArgument(f'{where}: the top level must be a JSON object holding "{key}".')
    servers = doc.get(key)
    if servers is None:
        other = other_key(key)
        fix = f' It has "{other}": pass --host {HOSTS_BY_KEY[other]}.' if other in doc else hint
        raise InvalidArgument(f'{where}: no "{key}" object, so no servers to wrap.{fix}')
    if not isinstance(servers, dict):
        raise InvalidArgument(f'{where}: "{key}" must be an object mapping a server name to its entry.')
    return servers


def other_key(key: str) -> str:
    return "servers" if key == "mcpServers" else "mcpServers"


def upstream_servers(doc: Any, where: Path) -> tuple[str, dict[str, Any]]:
    """The servers of an upstream file and the key they are under (wrap writes "mcpServers"; a hand-made file may say "servers")."""
    key = "servers" if isinstance(doc, dict) and "servers" in doc and "mcpServers" not in doc else "mcpServers"
    return key, servers_of(doc, key, where)


# --- what counts as the arena ------------------------------------------------------------------


def string_args(entry: Mapping[str, Any]) -> list[str]:
    args = entry.get("args")
    return [arg for arg in args if isinstance(arg, str)] if isinstance(args, list) else []


def is_arena(entry: Any) -> bool:
    """A `mcp-arena` command, `mcp_arena`/`mcp-arena` among the arguments (`python -m`, `uvx`), or `serve --upstream`."""
    if not isinstance(entry, dict):
        return False
    command = entry.get("command")
    args = string_args(entry)
    if isinstance(command, str) and ARENA_NAME.match(re.split(r"[\\/]", command)[-1]):
        return True
    if any(ARENA_NAME.match(arg) for arg in args):  # a bare word: a folder that happens to be called mcp_arena is no arena
        return True
    return any(word == "serve" and following.startswith("--upstream") for word, following in zip(args, args[1:]))


def upstream_of(entry: Mapping[str, Any]) -> str | None:
    """The upstream file an arena entry reads: `--upstream FILE`, `--upstream=FILE` or its MCP_ARENA_UPSTREAM."""
    args = string_args(entry)
    for index, arg in enumerate(args):
        if arg == "--upstream" and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--upstream="):
            return arg.partition("=")[2]
    env = entry.get("env")
    value = env.get(UPSTREAM_ENV) if isinstance(env, dict) else None
    return value if isinstance(value, str) and value else None


def without_upstream(entry: dict[str, Any]) -> dict[str, Any]:
    """An arena entry that no longer reads an upstream file."""
    args, kept, skip = string_args(entry), [], False
    for index, arg in enumerate(args):
        if skip:
            skip = False
        elif arg == "--upstream" and index + 1 < len(args):
            skip = True
        elif not arg.startswith("--upstream="):
            kept.append(arg)
    plain = {**entry, "args": kept} if "args" in entry else dict(entry)
    env = plain.get("env")
    if isinstance(env, dict) and UPSTREAM_ENV in env:
        env = {name: value for name, value in env.items() if name != UPSTREAM_ENV}
        plain = {key: value for key, value in plain.items() if key != "env"} | ({"env": env} if env else {})
    return plain


def is_disabled(entry: Any) -> bool:
    return isinstance(entry, dict) and entry.get("disabled") is True


def arena_launcher(explicit: str | None) -> tuple[str, list[str]]:
    """The command (and leading arguments) that starts this mcp-arena: the running executable, the one on PATH, or `python -m`."""
    if explicit:
        return explicit, []
    running = sys.argv[0] if sys.argv else ""
    if running and ARENA_NAME.match(Path(running).name) and Path(running).is_file():
        return os.path.abspath(running), []
    found = shutil.which("mcp-arena")
    if found:
        return os.path.abspath(found), []
    return sys.executable, ["-m", "mcp_arena"]


# --- planning ---------------------------------------------------------------------------------


@dataclass
class Change:
    """What one run does: the new host config, and for wrap the upstream file to write."""

    verb: str  # "wrap" | "unwrap"
    doc: Any  # the new host config
    upstream: Path
    upstream_doc: dict[str, Any] | None = None  # None: the upstream file is left as it is
    moved: list[str] = field(default_factory=list)  # servers moved by this run (into the upstream file, or back)
    replaced: list[str] = field(default_factory=list)  # wrap: moved servers that replaced an upstream entry of the same name
    kept: list[str] = field(default_factory=list)  # servers that stay where they were (disabled; on unwrap, names the host already uses)
    secrets: list[str] = field(default_factory=list)  # "name (env: A, B)" of the moved servers: keys only
    placeholders: list[str] = field(default_factory=list)  # fields of moved servers holding ${...}
    relocated: list[str] = field(default_factory=list)  # servers whose relative cwd was made absolute
    arena_key: str = "arena"


def plan_wrap(doc: Any, host: Host, config: Path, upstream_flag: Path | None, home: Path, launcher: Callable[[], tuple[str, list[str]]]) -> Change:
    servers = servers_of(doc, host.key, config, f' Add your servers under "{host.key}" first.')
    front = front_of(servers, config, is_arena)
    current = upstream_of(servers[front]) if front else None
    upstream = upstream_path(current, config) if current else (upstream_flag or default_upstream(home, host, config))
    if current and upstream_flag and upstream_flag != upstream:
        raise InvalidArgument(f'{config}: the arena entry "{front}" already reads {upstream}. Omit --upstream-file, or pass that path.')
    wrapped = {key: entry for key, entry in servers.items() if key != front and not is_disabled(entry)}
    check_entries(wrapped, host, config)
    change = Change("wrap", doc, upstream, kept=[key for key, entry in servers.items() if key != front and is_disabled(entry)])
    if current:
        merged = merge_into(change, wrapped, config)
    else:
        if not wrapped:
            raise InvalidArgument(f'{config}: no servers to wrap (every entry is disabled or the arena). Add your servers under "{host.key}" first.')
        merged = fresh_upstream(change, servers, front, wrapped, host, config)
    if not wrapped:  # already wrapped and nothing new: nothing changes
        return change
    change.moved = list(wrapped)
    parse_upstreams(merged, source=str(upstream), base=upstream.parent)  # the file must be one `serve` starts
    arena_key = front or free_key(servers, change.kept)
    before = servers[front] if front else None
    arena_entry = before if current else new_arena_entry(before, host, upstream, launcher)
    change.doc = {**doc, host.key: replace_servers(servers, set(wrapped), arena_key, arena_entry)}
    change.arena_key = arena_key
    change.secrets = [described for key, entry in wrapped.items() if (described := secret_keys(key, entry))]
    change.placeholders = [where for key, entry in wrapped.items() for where in placeholders_in(key, entry)]
    return change


def front_of(servers: dict[str, Any], config: Path, test: Callable[[Any], bool]) -> str | None:
    """The one arena entry of the servers, if any."""
    fronts = [key for key, entry in servers.items() if test(entry)]
    if len(fronts) > 1:
        raise InvalidArgument(f"{config}: {len(fronts)} arena entries ({', '.join(fronts)}). Keep one of them and run wrap again.")
    return fronts[0] if fronts else None


def upstream_path(value: str, config: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else config.parent / path


def default_upstream(home: Path, host: Host, config: Path) -> Path:
    """`<home>/upstreams/<host>.json` for the host's per-user config; a project's config gets its own file so two projects never share one."""
    folder = home.expanduser().absolute() / "upstreams"
    if host.user_level and config == default_config(host).expanduser().resolve():
        return folder / f"{host.name}.json"
    project = config.parent.parent if config.parent.name.startswith(".") else config.parent
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", project.name).strip("-") or "config"
    digest = hashlib.sha256(str(config).encode()).hexdigest()[:8]
    return folder / f"{host.name}-{slug}-{digest}.json"


def check_entries(wrapped: dict[str, Any], host: Host, config: Path) -> None:
    """Every entry to wrap is one the proxy can start; a relative cwd is checked against the host config's folder."""
    for key, entry in wrapped.items():
        if isinstance(entry, dict) and "envFile" in entry:
            raise InvalidArgument(
                f'{config}: {host.key}.{key} reads its variables from "envFile", which the arena does not read. '
                'Copy them into "env" (or remove that server) and run wrap again.'
            )
    parse_upstreams({host.key: wrapped}, source=str(config), base=config.parent)


def merge_into(change: Change, wrapped: dict[str, Any], config: Path) -> dict[str, Any]:
    """Already wrapped: servers added to the host config since then join the upstream file."""
    if not change.upstream.is_file():
        raise InvalidArgument(
            f"{config}: the arena entry reads {change.upstream}, which does not exist. "
            f"Restore that file, or the host config from its backup ({config.name}.bak-*)."
        )
    existing, _ = load_json(change.upstream)
    key, servers = upstream_servers(existing, change.upstream)
    merged = dict(servers)
    for name, entry in wrapped.items():
        if name in merged:
            change.replaced.append(name)
        merged[name] = absolute_cwd(name, entry, config, change)
    if wrapped:
        change.upstream_doc = {**existing, key: merged}
    return {key: merged}


def fresh_upstream(change: Change, servers: dict[str, Any], front: str | None, wrapped: dict[str, Any], host: Host, config: Path) -> dict[str, Any]:
    """Not wrapped yet: the upstream file holds exactly these servers, and a note of how to undo."""
    if change.upstream.is_file():
        existing, _ = load_json(change.upstream)
        note = existing.get(NOTE_KEY) if isinstance(existing, dict) else None
        if not isinstance(note, dict) or note.get("config") != str(config):
            owner = f"the servers of {note.get('config')}" if isinstance(note, dict) else "servers not written by wrap"
            raise InvalidArgument(f"{change.upstream} already holds {owner}. Pass another --upstream-file, or move that file away.")
    upstreams = {name: absolute_cwd(name, entry, config, change) for name, entry in wrapped.items()}
    note = {"host": host.name, "config": str(config), "entryBefore": servers.get(front) if front else None}
    change.upstream_doc = {"mcpServers": upstreams, NOTE_KEY: note}
    return {"mcpServers": upstreams}


def absolute_cwd(name: str, entry: Any, config: Path, change: Change) -> Any:
    """The proxy takes a relative cwd from the upstream file's folder: anchor it to the host config's folder, where it was."""
    cwd = entry.get("cwd") if isinstance(entry, dict) else None
    if not isinstance(cwd, str) or not cwd or Path(cwd).expanduser().is_absolute():
        return entry
    change.relocated.append(name)
    return {**entry, "cwd": str(config.parent / cwd)}


def new_arena_entry(before: dict[str, Any] | None, host: Host, upstream: Path, launcher: Callable[[], tuple[str, list[str]]]) -> dict[str, Any]:
    """The arena entry that reads the upstream file: an existing arena entry gains `--upstream`, else a new one."""
    if before is not None:
        return {**before, "args": [*string_args(before), "--upstream", str(upstream)]}
    command, leading = launcher()
    return ({"type": "stdio"} if host.typed else {}) | {"command": command, "args": [*leading, "serve", "--upstream", str(upstream)]}


def free_key(servers: dict[str, Any], kept: list[str]) -> str:
    """`arena`, unless a server that stays in the host config has that name."""
    candidates = ("arena", *(f"arena-{number}" for number in range(1, len(servers) + 2)))
    return next(name for name in candidates if name not in kept)


def replace_servers(servers: dict[str, Any], removed: set[str], arena_key: str, arena_entry: Any) -> dict[str, Any]:
    """The servers with the removed ones and the old arena entry replaced by one arena entry, where the first of them was."""
    out: dict[str, Any] = {}
    for key, entry in servers.items():
        if key in removed or key == arena_key:
            out.setdefault(arena_key, arena_entry)
        else:
            out[key] = entry
    return out


def plan_unwrap(doc: Any, host: Host, config: Path, upstream_flag: Path | None) -> Change:
    servers = servers_of(doc, host.key, config)
    front = front_of(servers, config, lambda entry: is_arena(entry) and upstream_of(entry) is not None)
    if front is None:
        raise InvalidArgument(f"{config}: no arena entry reads an upstream file, so nothing is wrapped and there is nothing to unwrap.")
    upstream = upstream_flag or upstream_path(upstream_of(servers[front]) or "", config)
    if not upstream.is_file():
        raise InvalidArgument(
            f"cannot unwrap: {upstream}, the arena entry's upstream file, does not exist. Restore {config} from its backup ({config.name}.bak-*)."
        )
    existing, _ = load_json(upstream)
    _, restored = upstream_servers(existing, upstream)
    note = existing.get(NOTE_KEY)
    arena_before = note.get("entryBefore") if isinstance(note, dict) and "entryBefore" in note else without_upstream(servers[front])
    change = Change("unwrap", doc, upstream, arena_key=front)
    out: dict[str, Any] = {}
    for key, entry in servers.items():
        if key != front:
            out[key] = entry
            continue
        if arena_before is not None:
            out[key] = arena_before
        for name, server in restored.items():
            if name in out or (name in servers and name != front):
                change.kept.append(name)  # the host config has a server of that name now: it wins
            else:
                out[name] = server
                change.moved.append(name)
    change.doc = {**doc, host.key: out}
    change.secrets = [described for name in change.moved if (described := secret_keys(name, restored[name]))]
    return change


# --- secrets and placeholders ------------------------------------------------------------------


def secret_keys(name: str, entry: Any) -> str:
    """`name (env: A, B; headers: C)`: which secrets an entry holds, by key."""
    if not isinstance(entry, dict):
        return ""
    parts = [f"{kind}: {', '.join(entry[kind])}" for kind in ("env", "headers") if isinstance(entry.get(kind), dict) and entry[kind]]
    return f"{name} ({'; '.join(parts)})" if parts else ""


def secrets_in(servers: Iterable[Any]) -> tuple[str, ...]:
    """The values to mask in printed JSON: env and header values, URL credentials and query values, connection-string passwords."""
    found: list[str] = []
    for entry in servers:
        if not isinstance(entry, dict):
            continue
        for kind in ("env", "headers"):
            values = entry.get(kind)
            if isinstance(values, dict):
                found += [value for value in values.values() if isinstance(value, str)]
        if isinstance(entry.get("url"), str):
            found += url_secrets(entry["url"])
        found += [secret for arg in string_args(entry) if "://" in arg for secret in url_secrets(arg)[1:]]
    return strongest(json.dumps(value, ensure_ascii=False)[1:-1] for value in found)  # as they appear inside JSON strings


def placeholders_in(name: str, entry: Any) -> list[str]:
    """The fields of an entry whose value holds a `${...}` the host would have filled in."""
    if not isinstance(entry, dict):
        return []
    fields = [f"{name}.{key}" for key in ("command", "url", "cwd") if isinstance(entry.get(key), str) and PLACEHOLDER.search(entry[key])]
    args = entry.get("args")
    fields += [f"{name}.args[{index}]" for index, arg in enumerate(args if isinstance(args, list) else []) if isinstance(arg, str) and PLACEHOLDER.search(arg)]
    for kind in ("env", "headers"):
        values = entry.get(kind)
        values = values if isinstance(values, dict) else {}
        fields += [f"{name}.{kind}.{key}" for key, value in values.items() if isinstance(value, str) and PLACEHOLDER.search(value)]
    return fields


# --- writing ----------------------------------------------------------------------------------


def render(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def apply(config: Path, key: str, old: Any, new: Any, *, write: bool) -> Path | None:
    """Print the new host config (secrets masked), or write it after a backup; the backup's path, if one was made."""
    if not write:
        sys.stdout.write(redact(render(new), secrets_in(new[key].values())))
        return None
    if new == old:
        return None
    backup = backup_path(config)
    try:
        shutil.copy2(config, backup)
        write_file(config, render(new), stat.S_IMODE(config.stat().st_mode))
    except OSError as exc:
        raise InvalidArgument(f"cannot write {config}: {exc.strerror}. Check its permissions; the original is unchanged or in {backup}.") from None
    return backup


def backup_path(config: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate, number = config.with_name(f"{config.name}.bak-{stamp}"), 0
    while candidate.exists():  # two runs in one second (wrap, then unwrap) keep both backups
        number += 1
        candidate = config.with_name(f"{config.name}.bak-{stamp}-{number}")
    return candidate


def write_private(path: Path, text: str) -> None:
    """The upstream file: mode 0600 from its first byte (it holds tokens), replaced atomically."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_file(path, text, 0o600)
    except OSError as exc:
        raise InvalidArgument(f"cannot write {path}: {exc.strerror}. Pass --upstream-file with a folder you can write to.") from None


def write_file(path: Path, text: str, mode: int) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # created 0600
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- the summary (stderr) ---------------------------------------------------------------------


def report(change: Change, host: Host, config: Path, backup: Path | None, *, write: bool, commented: bool) -> None:
    lines = summary_lines(change, host, config)
    if backup is not None:
        lines.append(f"  backup: {backup}")
        if commented:
            lines.append(f"  note: the comments of {config.name} are not kept; the backup has them")
    if change.moved and write:
        lines.append(f"  restart {host.title} to load the new config")
    elif change.moved:
        lines.append(f"  {config} is unchanged: the new config is on stdout (secret values, if any, shown as ***).")
        lines.append(f"  Run again with --write to apply it (a backup is made first), then restart {host.title}.")
    print("\n".join(lines), file=sys.stderr)


def summary_lines(change: Change, host: Host, config: Path) -> list[str]:
    prefix = f"mcp-arena {change.verb}:"
    if change.verb == "unwrap":
        lines = [f"{prefix} restored {len(change.moved)} server(s) into {config}: {', '.join(change.moved)}"]
        if change.kept:
            lines.append(f"  not restored, {config.name} already has a server of that name: {', '.join(change.kept)}")
        lines.append(f"  {change.upstream} is kept; delete it if you will not wrap again (it holds the servers' secrets)")
        return lines
    if not change.moved:
        return [f'{prefix} {config} is already wrapped (arena entry "{change.arena_key}", servers in {change.upstream}); nothing to change']
    lines = [f"{prefix} wrapped {len(change.moved)} server(s) of {config}: {', '.join(change.moved)}"]
    if change.replaced:
        lines.append(f"  replaced the upstream entries of the same name: {', '.join(change.replaced)}")
    lines.append(f'  upstream file (mode 0600): {change.upstream}; arena entry: "{change.arena_key}"')
    if change.secrets:
        lines.append(f"  secrets it holds, by key: {'; '.join(change.secrets)}")
    if change.kept:
        lines.append(f"  left in {config.name} (disabled): {', '.join(change.kept)}")
    if change.relocated:
        lines.append(f"  relative cwd made absolute (from {config.parent}): {', '.join(change.relocated)}")
    if change.placeholders:
        lines.append(
            f"  warning: ${{...}} placeholders, which {host.title} fills in, are copied as they are in: {', '.join(change.placeholders)}. "
            f"The arena cannot prompt for ${{input:...}} values nor expand the others: put the real values in {change.upstream}."
        )
    return lines
