"""The memory_search tool's body: validate, search the session's log, say where each hit sits.

It is given what it needs (the search runtime, the session's ledger, the token
budget of the hits) and knows nothing of the arena that calls it.
"""

from __future__ import annotations

import bisect

from mcp_arena.core.events import KINDS
from mcp_arena.core.ledger import Ledger
from mcp_arena.core.limits import MAX_LIMIT, MAX_NAME_CHARS, MAX_NAMES, MAX_QUERY_CHARS
from mcp_arena.core.results import SearchHit, SearchResult
from mcp_arena.engine.recall import SearchRuntime
from mcp_arena.errors import InvalidArgument
from mcp_arena.search.filter import SCOPES


def validate(query: str, limit: int, scope: str) -> str:
    text = (query or "").strip()
    if not text:
        raise InvalidArgument("query is empty: describe what to recall, e.g. memory_search(query=\"redis timeout error\")")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidArgument(f"query is {len(text)} characters; keep it under {MAX_QUERY_CHARS}")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be between 1 and {MAX_LIMIT}; got {limit}")
    if scope not in SCOPES:
        raise InvalidArgument(f"unknown scope {scope[:40]!r}; use one of: {', '.join(SCOPES)}")
    return text


def validate_filters(kinds: list[str] | None, tools: list[str] | None, from_seq: int | None, to_seq: int | None) -> None:
    for kind in kinds or ():
        if kind not in KINDS:
            raise InvalidArgument(f"unknown kind {str(kind)[:40]!r}; use any of: {', '.join(KINDS)}")
    if tools is not None:
        if len(tools) > MAX_NAMES:
            raise InvalidArgument(f"{len(tools)} tools given; name at most {MAX_NAMES}")
        for tool in tools:
            if not tool.strip() or len(tool) > MAX_NAME_CHARS:
                raise InvalidArgument(f"tool names must be 1-{MAX_NAME_CHARS} characters, e.g. tools=[\"Bash\"]; got {tool[:40]!r}")
    for name, value in (("from_seq", from_seq), ("to_seq", to_seq)):
        if value is not None and value < 0:
            raise InvalidArgument(f"{name} must be 0 or more; got {value}")
    if from_seq is not None and to_seq is not None and from_seq > to_seq:
        raise InvalidArgument(f"from_seq {from_seq} is after to_seq {to_seq}; swap them")


def answer(
    runtime: SearchRuntime,
    ledger: Ledger,
    max_tokens: int,
    query: str,
    limit: int,
    scope: str,
    kinds: list[str] | None = None,
    tools: list[str] | None = None,
    from_seq: int | None = None,
    to_seq: int | None = None,
) -> tuple[str, SearchResult]:
    """One memory_search call: its text and its result; the search excludes the call itself."""
    text = validate(query, limit, scope)
    validate_filters(kinds, tools, from_seq, to_seq)
    squashes = ledger.active_squashes()
    outcome = runtime.search(
        ledger.session,
        text,
        limit=limit,
        scope=scope,
        squashed_ranges=[(r.from_seq, r.to_seq) for r in squashes],
        before_seq=ledger.last_seq - 1,  # not this call itself
        max_tokens=max_tokens,
        kinds=kinds or None,
        tools=tools or None,
        seq_min=from_seq,
        seq_max=to_seq,
    )
    hits = [
        SearchHit(seq=h.seq, kind=h.kind, tool=h.tool, score=round(h.score, 4), where=where(ledger, h.seq), snippet=h.snippet)
        for h in outcome.hits
    ]
    result = SearchResult(
        session=ledger.session,
        query=text,
        scope=scope,
        kinds=sorted(kinds) if kinds else None,
        tools=sorted(tools) if tools else None,
        from_seq=from_seq,
        to_seq=to_seq,
        mode=outcome.mode,
        hits=hits,
        not_embedded=outcome.not_embedded,
        truncated=outcome.truncated,
    )
    return result.text(), result


def where(ledger: Ledger, seq: int) -> str:
    """'squashed by <tag> (#n), after tag <t>' or 'live, after tag <t>'."""
    tags = sorted((tag.seq, tag.name) for tag in ledger.agent_tags())
    position = bisect.bisect_left(tags, (seq, "")) - 1
    after = f", after tag '{tags[position][1]}'" if position >= 0 else ""
    for record in ledger.active_squashes():
        if record.from_seq <= seq <= record.to_seq:
            return f"squashed by '{record.tag}' (#{record.record}){after}"
    return f"live{after}"
