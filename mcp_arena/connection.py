"""Which connection a request came on, and who sent it, for the session a call runs in.

`connection_key`: the HTTP session id when the transport has one (streamable HTTP's
`mcp-session-id` header, SSE's `session_id` query parameter), else "" (stdio: one
connection per process). `principal_of`: the principal of the request's bearer token
(`mcp_arena.auth` puts it in the token's claims), else "" (the owner: stdio, open HTTP).
"""

from __future__ import annotations

from typing import Any

PRINCIPAL_CLAIM = "mcp-arena/principal"  # the claim `mcp_arena.auth` sets on a verified token


def connection_key(request: Any) -> str:
    headers = getattr(request, "headers", None)
    if headers is not None:
        session_id = headers.get("mcp-session-id")
        if session_id:
            return str(session_id)
    query = getattr(request, "query_params", None)
    if query is not None and query.get("session_id"):
        return str(query["session_id"])
    return ""


def principal_of(request: Any) -> str:
    """The principal the SDK's bearer-auth middleware verified for this request ("" without one)."""
    scope = getattr(request, "scope", None)
    user = scope.get("user") if isinstance(scope, dict) else None
    token = getattr(user, "access_token", None)
    claims = getattr(token, "claims", None) or {}
    principal = claims.get(PRINCIPAL_CLAIM, "")
    return principal if isinstance(principal, str) else ""
