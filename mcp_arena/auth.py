"""Who may call the arena over HTTP: bearer tokens to principals, Host/Origin checks, exposure.

Two ways to hand out tokens (both may be set):
- `MCP_ARENA_AUTH_TOKEN` / `--auth-token`: one token for the owner. Its holder is the owner
  principal `""`, which sees what a local stdio client sees (the unscoped sessions).
- `MCP_ARENA_AUTH_TOKENS` / `--auth-tokens FILE`: a JSON object mapping each token to a
  principal name; each principal sees only its own namespace (`core.sessions`).

`verifier(settings)` is the SDK's `TokenVerifier` over them: the SDK answers a request
without a valid `Authorization: Bearer` header with 401 before any MCP handling, on the
streamable-HTTP endpoint and on both SSE routes. `connection.principal_of` reads the
principal back from a request. The Host/Origin (DNS-rebinding) checks are the SDK's; on
loopback it sets them itself, elsewhere `transport_security` keeps them on for the bound
address, loopback and the `--allowed-host` names. `exposure` refuses a non-loopback bind
without a token (unless `--allow-unauthenticated`). stdio ignores all of this: whoever
can start the process owns the home folder anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import stat
from pathlib import Path

from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings

from mcp_arena.config import Settings
from mcp_arena.connection import PRINCIPAL_CLAIM
from mcp_arena.core.sessions import OWNER, PRINCIPAL_PATTERN
from mcp_arena.errors import ArenaError

log = logging.getLogger("mcp_arena.auth")

MIN_TOKEN_CHARS = 16
MAKE_ONE = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARD = ("0.0.0.0", "::", "")
# Resource-server mode without an authorization server: the SDK requires an issuer URL, and
# only uses it for OAuth routes this server does not mount (no provider, no resource URL).
AUTH_SETTINGS = AuthSettings(issuer_url="http://127.0.0.1", resource_server_url=None)


class AuthError(ArenaError):
    """A token setting that cannot be used; the message names the fix."""


def tokens(settings: Settings) -> dict[str, str]:
    """token -> principal, from both settings; empty when HTTP is open."""
    table: dict[str, str] = {}
    if settings.auth_token.get_secret_value():
        table[_checked_token(settings.auth_token.get_secret_value(), "MCP_ARENA_AUTH_TOKEN")] = OWNER
    if settings.auth_tokens:
        table.update(_read_token_file(Path(settings.auth_tokens).expanduser()))
    return table


def _read_token_file(path: Path) -> dict[str, str]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AuthError(f"cannot read the tokens file {path}: {exc.strerror}; check MCP_ARENA_AUTH_TOKENS / --auth-tokens") from exc
    except ValueError as exc:
        raise AuthError(f"the tokens file {path} is not JSON ({exc}); write {{\"<token>\": \"<principal>\", ...}}") from exc
    if not isinstance(raw, dict) or not raw:
        raise AuthError(f"the tokens file {path} must be a non-empty JSON object: {{\"<token>\": \"<principal>\", ...}}")
    table = {}
    for number, (token, principal) in enumerate(raw.items(), 1):
        if not isinstance(principal, str) or not PRINCIPAL_PATTERN.fullmatch(principal):
            raise AuthError(f"{path}: entry {number}: the principal must be 1-64 of A-Z a-z 0-9 . _ @ - (got {str(principal)[:40]!r})")
        table[_checked_token(token, f"{path}: entry {number} ({principal})")] = principal
    if os.name == "posix" and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s is readable by other users: chmod 600 %s", path, path)
    return table


def _checked_token(token: str, where: str) -> str:
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise AuthError(f"{where}: a token must be at least {MIN_TOKEN_CHARS} characters without spaces; make one with {MAKE_ONE}")
    return token


class StaticTokens(TokenVerifier):
    """The configured tokens, compared in constant time; a match carries its principal as a claim."""

    def __init__(self, table: dict[str, str]):
        self._digests = [(hashlib.sha256(token.encode()).digest(), principal) for token, principal in table.items()]

    async def verify_token(self, token: str) -> AccessToken | None:
        offered = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        found: str | None = None
        for digest, principal in self._digests:  # every entry, match or not: no timing tells which
            if hmac.compare_digest(digest, offered):
                found = principal
        if found is None:
            return None
        client = f"mcp-arena-principal/{found}" if found else "mcp-arena-owner"  # distinct for the SDK's session ownership
        return AccessToken(token=offered.hex()[:16], client_id=client, scopes=[], claims={PRINCIPAL_CLAIM: found})


def verifier(settings: Settings) -> StaticTokens | None:
    table = tokens(settings)
    return StaticTokens(table) if table else None


# -- reaching the port -------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


def transport_security(host: str, allowed_hosts: list[str]) -> TransportSecuritySettings | None:
    """The Host/Origin checks for a bind address; None: the SDK's own (loopback, nothing added)."""
    if is_loopback(host) and not allowed_hosts:
        return None
    names = ["127.0.0.1", "localhost", "[::1]"]
    if host not in WILDCARD and not is_loopback(host):
        names.append(f"[{host}]" if ":" in host else host)
    names += [name for name in allowed_hosts if name not in names]
    hosts = [spelled for name in names for spelled in (name, f"{name}:*")]
    origins = [f"{scheme}://{spelled}" for scheme in ("http", "https") for spelled in hosts]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def exposure(host: str, has_tokens: bool, allow_unauthenticated: bool, allowed_hosts: list[str]) -> list[str]:
    """Lines to print before serving HTTP on `host`; raises when the bind would expose every session."""
    if is_loopback(host):
        return [] if has_tokens else ["open to every local user and process of this machine (set MCP_ARENA_AUTH_TOKEN to require a token)"]
    if not has_tokens and not allow_unauthenticated:
        raise AuthError(
            f"refusing to serve on {host or 'every address'} without a token: anyone who can reach the port could read and write "
            f"every session. Set MCP_ARENA_AUTH_TOKEN (one token) or MCP_ARENA_AUTH_TOKENS (a JSON file of token -> principal), "
            f"make a token with {MAKE_ONE}; or pass --allow-unauthenticated if a firewall or proxy in front does this"
        )
    lines = [] if has_tokens else ["WARNING: no token required: anyone who can reach the port can read and write every session"]
    lines.append("plain HTTP: put a TLS-terminating proxy in front for anything beyond a trusted network (tokens travel in clear)")
    if host in WILDCARD and not allowed_hosts:
        lines.append("requests must name this server as 127.0.0.1 or localhost; add --allowed-host NAME for each name clients use")
    return lines
