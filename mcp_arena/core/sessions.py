"""Session ids: which names a caller may use, whose namespace they fall in, what a new one says.

A caller names a session with 1–128 of `A-Z a-z 0-9 . _ : @ -`; naming one that does
not exist yet starts it. On HTTP with per-principal tokens every principal has its
own namespace: the stored id is `<principal>/<name>`. The `/` is outside the name
alphabet, so no caller can spell an id of another namespace: a name is always
scoped to the caller's principal (its own prefix may be given back, as results show
it), and the unscoped ids (stdio, the transcript, the CLI's imports) belong to the
owner, the principal `""`. The CLI reads every id as it is stored.

Pure: no store, no MCP. `engine.arena` resolves and creates sessions with these rules.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from mcp_arena.errors import InvalidArgument

NAME_PATTERN = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
PRINCIPAL_PATTERN = re.compile(r"[A-Za-z0-9._@-]{1,64}")
SEPARATOR = "/"
OWNER = ""  # the principal of stdio, unauthenticated loopback HTTP, the single-token mode and the CLI
RECENT_SHOWN = 5  # sessions a "new session" notice lists: enough to spot a typo, bounded
CLOSE_MATCH_POOL = 1_000  # newest sessions a typo is compared with (difflib is O(n) per call)


def scoped(name: str, principal: str = OWNER) -> str:
    """The stored id of `name` in `principal`'s namespace."""
    return f"{principal}{SEPARATOR}{name}" if principal else name


def name_of(session_id: str, principal: str = OWNER) -> str:
    """`session_id` without `principal`'s prefix (as a caller of that principal may spell it)."""
    prefix = scoped("", principal)
    return session_id[len(prefix) :] if principal and session_id.startswith(prefix) else session_id


def in_namespace(session_id: str, principal: str = OWNER) -> bool:
    if principal:
        return session_id.startswith(scoped("", principal))
    return SEPARATOR not in session_id


def check_principal(principal: str) -> str:
    if principal and not PRINCIPAL_PATTERN.fullmatch(principal):
        raise InvalidArgument(f"invalid principal name {principal[:80]!r}: use 1–64 of A-Z a-z 0-9 . _ @ -")
    return principal


def parse(session: str, principal: str = OWNER) -> str:
    """The stored id a caller of `principal` means by `session`; raises for a malformed name."""
    name = name_of(session, principal)
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidArgument(f"invalid session id {session[:80]!r}: use 1–128 of A-Z a-z 0-9 . _ : @ -, or omit session to use this connection's session")
    return scoped(name, principal)


def recent(session_ids: Iterable[str], principal: str = OWNER, exclude: str = "", count: int = RECENT_SHOWN) -> list[str]:
    """The newest `count` ids of `principal`'s namespace, newest first; `session_ids` oldest first."""
    mine = [s for s in session_ids if s != exclude and in_namespace(s, principal)]
    return mine[::-1][:count]


def close_matches(session_id: str, session_ids: Iterable[str], principal: str = OWNER) -> list[str]:
    """Ids of `principal`'s namespace that `session_id` looks like a typo of (at most 3)."""
    mine = [s for s in session_ids if s != session_id and in_namespace(s, principal)][-CLOSE_MATCH_POOL:]
    return difflib.get_close_matches(session_id, mine, n=3, cutoff=0.8)


def new_session_notice(session_id: str, recent_ids: list[str], close: list[str]) -> str:
    """The line a call that started a session by naming it ends with, so a typo is visible."""
    line = f"\n(new session {session_id!r} started"
    if close:
        line += f"; did you mean {', '.join(repr(s) for s in close)}?"
    if recent_ids:
        line += f"; recent sessions: {', '.join(recent_ids)}"
    return line + ")"
