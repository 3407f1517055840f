"""Read an `mcpServers` file (the Claude Desktop format) into server specs.

    {"mcpServers": {
        "files":  {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]},
        "github": {"url": "https://api.example.com/mcp", "headers": {"Authorization": "Bearer ..."}},
        "legacy": {"type": "sse", "url": "http://127.0.0.1:9000/sse"}
    }}

A server is local (`command`, optional `args`, `env`, `cwd`) or remote (`url`, optional
`headers`; streamable HTTP unless `"type": "sse"`). `type` may also say `stdio`, `http` or
`streamable-http`; `timeout` (seconds) overrides the call timeout for that server;
`"disabled": true` skips it. VS Code's top-level `"servers"` is read like `"mcpServers"`.
A relative `cwd` is taken from the file's folder. Keys other hosts write for themselves
(`autoApprove`, `alwaysAllow`, `description`) are ignored; any other key is an error, so a
typo such as `comand` is caught at start instead of starting nothing.

Secrets: `env` and `headers` values, URL credentials and query values, and passwords in URL
arguments are collected into `secrets`; reprs show keys only, and `redact` blanks every
secret out of a text before it reaches a log line or an error message. Parsing stops here:
nothing in this module starts a process or opens a connection.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from mcp_arena.proxy.errors import UpstreamConfigError
from mcp_arena.proxy.secrets import Secrets, public_url, redact, strongest, url_secrets

Transport = Literal["stdio", "streamable-http", "sse"]

TYPES: dict[str, Transport] = {"stdio": "stdio", "http": "streamable-http", "streamable-http": "streamable-http", "sse": "sse"}
LOCAL_KEYS = ("command", "args", "env", "cwd")
REMOTE_KEYS = ("url", "headers")
COMMON_KEYS = ("type", "timeout", "disabled")
IGNORED_KEYS = ("autoApprove", "alwaysAllow", "description")


@dataclass(frozen=True)
class ServerSpec:
    """What both kinds of server share: the key it has in the file and how to keep its secrets."""

    key: str
    timeout: float | None  # per-call timeout in seconds; None: the arena's default
    secrets: tuple[str, ...] = field(repr=False)

    @property
    def transport(self) -> Transport:
        raise NotImplementedError

    @property
    def where(self) -> str:
        """How to name the server in a message: the command or the URL without credentials and query."""
        raise NotImplementedError

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)


@dataclass(frozen=True)
class LocalServer(ServerSpec):
    command: str = ""
    args: tuple[str, ...] = field(default=(), repr=False)  # arguments can carry a connection string
    env: Secrets = field(default_factory=Secrets)
    cwd: Path | None = None

    @property
    def transport(self) -> Transport:
        return "stdio"

    @property
    def where(self) -> str:
        return f"`{self.command}`"


@dataclass(frozen=True)
class RemoteServer(ServerSpec):
    url: str = field(default="", repr=False)
    kind: Transport = "streamable-http"
    headers: Secrets = field(default_factory=Secrets)

    @property
    def transport(self) -> Transport:
        return self.kind

    @property
    def where(self) -> str:
        return public_url(self.url)

    def __repr__(self) -> str:
        return f"RemoteServer(key={self.key!r}, url={self.where!r}, kind={self.kind!r}, headers={self.headers!r}, timeout={self.timeout!r})"


def load_upstreams(path: str | Path) -> list[LocalServer | RemoteServer]:
    """The enabled servers of an mcpServers file, in file order. Raises UpstreamConfigError."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise UpstreamConfigError(
            f'upstream file not found: {file}. Pass the path of a JSON file holding an "mcpServers" object '
            "(--upstream FILE or MCP_ARENA_UPSTREAM); a Claude Desktop config file works as it is."
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise UpstreamConfigError(f"{file}: not UTF-8 text ({exc.reason}). Save the file as UTF-8 JSON.") from None
    except json.JSONDecodeError as exc:
        # msg, line and column only: the exception's doc attribute holds the file text, secrets included
        raise UpstreamConfigError(f"{file}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}. Fix the JSON syntax there.") from None
    return parse_upstreams(data, source=str(file), base=file.parent)


def parse_upstreams(data: Any, *, source: str = "<upstreams>", base: Path | None = None) -> list[LocalServer | RemoteServer]:
    """The enabled servers of an already-parsed mcpServers document. Raises UpstreamConfigError."""
    if not isinstance(data, dict):
        raise UpstreamConfigError(f'{source}: the top level must be a JSON object with an "mcpServers" object, not {json_type(data)}.')
    keys = [key for key in ("mcpServers", "servers") if key in data]
    if len(keys) != 1:
        found = 'both "mcpServers" and "servers"' if keys else f"keys {sorted(data)}"
        raise UpstreamConfigError(f'{source}: expected one "mcpServers" object at the top level, found {found}.')
    servers = data[keys[0]]
    if not isinstance(servers, dict):
        raise UpstreamConfigError(f'{source}: "{keys[0]}" must be an object mapping a server name to its entry, not {json_type(servers)}.')
    specs = [parse_server(key, entry, f"{source}: {keys[0]}.{key}", base) for key, entry in servers.items()]
    enabled = [spec for spec in specs if spec is not None]
    check_prefixes(enabled, source)
    return enabled


def parse_server(key: str, entry: Any, where: str, base: Path | None) -> LocalServer | RemoteServer | None:
    if not key.strip():
        raise UpstreamConfigError(f"{where}: a server needs a non-empty name.")
    if not isinstance(entry, dict):
        raise UpstreamConfigError(f'{where}: must be an object such as {{"command": "..."}} or {{"url": "..."}}, not {json_type(entry)}.')
    check_keys(entry, where)
    if _optional(entry, "disabled", bool, where, "true or false"):
        return None
    timeout = _timeout(entry, where)
    kind = _transport(entry, where)
    if kind == "stdio":
        if "url" in entry or "headers" in entry:
            raise UpstreamConfigError(f'{where}: a stdio server takes "command", not "url"/"headers". Remove one of them.')
        return _local(key, entry, where, base, timeout)
    if any(name in entry for name in LOCAL_KEYS):
        raise UpstreamConfigError(f'{where}: a {kind} server takes "url" (and "headers"), not "command"/"args"/"env"/"cwd". Remove one of them.')
    return _remote(key, entry, where, kind, timeout)


def check_keys(entry: dict[str, Any], where: str) -> None:
    allowed = LOCAL_KEYS + REMOTE_KEYS + COMMON_KEYS
    for name in entry:
        if name in allowed or name in IGNORED_KEYS:
            continue
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f' Did you mean "{close[0]}"?' if close else ""
        raise UpstreamConfigError(f'{where}: unknown key "{name}".{hint} Allowed keys: {", ".join(allowed)}.')


def _transport(entry: dict[str, Any], where: str) -> Transport:
    declared = _optional(entry, "type", str, where, "a string")
    if declared is None:
        if "command" in entry:
            return "stdio"
        if "url" in entry:
            return "streamable-http"
        raise UpstreamConfigError(f'{where}: missing "command" (a local server) or "url" (a remote one). Add one of them.')
    if declared not in TYPES:
        raise UpstreamConfigError(f'{where}: unknown "type" "{declared}". Use one of: {", ".join(TYPES)}.')
    return TYPES[declared]


def _local(key: str, entry: dict[str, Any], where: str, base: Path | None, timeout: float | None) -> LocalServer:
    command = _optional(entry, "command", str, where, "a string")
    if not command:
        raise UpstreamConfigError(f'{where}: missing "command", the program that starts the server (for example "npx").')
    args = _optional(entry, "args", list, where, "a list of strings") or []
    if not all(isinstance(arg, str) for arg in args):
        raise UpstreamConfigError(f'{where}: "args" must be a list of strings; quote numbers too.')
    env = _string_map(entry, "env", where)
    cwd = _optional(entry, "cwd", str, where, "a string")
    folder = None
    if cwd:
        folder = Path(cwd).expanduser()
        if not folder.is_absolute() and base is not None:
            folder = base / folder
    secrets = list(env.values())
    for arg in args:
        if "://" in arg:
            secrets += url_secrets(arg)[1:]  # the password of a connection string; a user name is no secret
    return LocalServer(key=key, timeout=timeout, secrets=strongest(secrets), command=command, args=tuple(args), env=Secrets(env), cwd=folder)


def _remote(key: str, entry: dict[str, Any], where: str, kind: Transport, timeout: float | None) -> RemoteServer:
    url = _optional(entry, "url", str, where, "a string")
    if not url:
        raise UpstreamConfigError(f'{where}: missing "url", the server\'s endpoint (for example "http://127.0.0.1:8000/mcp").')
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamConfigError(f'{where}: "url" must be an http:// or https:// URL with a host, got {public_url(url)!r}.')
    headers = _string_map(entry, "headers", where)
    secrets = list(headers.values()) + url_secrets(url)
    return RemoteServer(key=key, timeout=timeout, secrets=strongest(secrets), url=url, kind=kind, headers=Secrets(headers))


def _string_map(entry: dict[str, Any], name: str, where: str) -> dict[str, str]:
    values = _optional(entry, name, dict, where, "an object of strings") or {}
    for item, value in values.items():
        if not isinstance(value, str):
            # the value itself is never shown: it may be a token
            raise UpstreamConfigError(f'{where}: "{name}"."{item}" must be a string ({json_type(value)} given); quote it.')
    return dict(values)


def _timeout(entry: dict[str, Any], where: str) -> float | None:
    value = entry.get("timeout")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise UpstreamConfigError(f'{where}: "timeout" must be a positive number of seconds.')
    return float(value)


def _optional(entry: dict[str, Any], name: str, kind: type, where: str, expected: str) -> Any:
    value = entry.get(name)
    if value is not None and not isinstance(value, kind):
        raise UpstreamConfigError(f'{where}: "{name}" must be {expected}, not {json_type(value)}.')
    return value


def json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


PREFIX_CHARACTERS = re.compile(r"[^A-Za-z0-9_-]+")


def prefix_of(key: str) -> str:
    """The form of a server key used as a tool-name prefix: letters, digits, '_' and '-' only."""
    return PREFIX_CHARACTERS.sub("_", key).strip("_") or "server"


def check_prefixes(specs: list[LocalServer | RemoteServer], source: str) -> None:
    seen: dict[str, str] = {}
    for spec in specs:
        prefix = prefix_of(spec.key)
        if prefix in seen:
            raise UpstreamConfigError(f'{source}: servers "{seen[prefix]}" and "{spec.key}" would share the tool-name prefix "{prefix}". Rename one of them.')
        seen[prefix] = spec.key
