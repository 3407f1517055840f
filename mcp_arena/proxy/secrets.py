"""Keeping the upstream file's credentials out of reprs, messages and log lines.

The secrets of a server are its `env` values, its `headers` values, the user, password
and query values of its URL, and the password of any connection-string argument. They
are held in `Secrets` (a mapping whose repr shows keys only) and blanked out of any text
with `redact`. `RedactingFilter` does the same for log records of the libraries that
see them (httpx2 logs every request URL at INFO, and MCPServer sets the root logger to
INFO), installed by the pool while upstreams run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from urllib.parse import parse_qsl, urlsplit

MASK = "***"
SHORTEST_SECRET = 8  # shorter values ("1", "debug", a server's own name) would blank out ordinary words; no credential is that short
# Loggers that may print a URL, a header or a server's words: the HTTP client, the SDK's client side, ours.
LOGGERS = (
    "httpx2",
    "httpx",
    "client",
    "mcp.client.client",
    "mcp.client.sse",
    "mcp.client.stdio",
    "mcp.client.streamable_http",
    "mcp.shared.jsonrpc_dispatcher",
    "mcp_arena.proxy",
)


class Secrets(Mapping[str, str]):
    """A read-only mapping whose values never show in repr or str (environment values, header values)."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str] | None = None):
        self._values = dict(values or {})

    def __getitem__(self, key: str) -> str:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __hash__(self) -> int:
        return hash(frozenset(self._values.items()))

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{key!r}: {MASK!r}" for key in self._values) + "}"

    __str__ = __repr__


def strongest(secrets: Iterable[str]) -> tuple[str, ...]:
    """Long enough to matter, longest first, so a secret that contains another is blanked whole."""
    kept = {secret for secret in secrets if len(secret) >= SHORTEST_SECRET}
    return tuple(sorted(kept, key=len, reverse=True))


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def public_url(url: str) -> str:
    """scheme://host[:port]/path: no user, password, query or fragment."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def url_secrets(url: str) -> list[str]:
    """The parts of a URL that may be credentials: user, password and every query value."""
    try:
        parts = urlsplit(url)
        found = [parts.username or "", parts.password or ""]
        found += [value for _name, value in parse_qsl(parts.query)]
    except ValueError:
        return []
    return found


class RedactingFilter(logging.Filter):
    """Blanks the given secrets out of every record of the loggers it is installed on."""

    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        self.secrets = strongest(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if record.exc_info:
            trace = logging.Formatter().formatException(record.exc_info)
            if redact(trace, self.secrets) != trace:
                message, record.exc_info, record.exc_text = f"{message}\n{trace}", None, None
        clean = redact(message, self.secrets)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True

    def install(self) -> None:
        for name in LOGGERS:
            logging.getLogger(name).addFilter(self)

    def remove(self) -> None:
        for name in LOGGERS:
            logging.getLogger(name).removeFilter(self)
