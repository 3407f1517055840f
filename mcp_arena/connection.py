"""Which connection a request came on, for the default session of calls that name none.

The HTTP session id when the transport has one (streamable HTTP's `mcp-session-id`
header, SSE's `session_id` query parameter), else "" (stdio: one connection per process).
"""

from __future__ import annotations

from typing import Any


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
