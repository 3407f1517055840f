"""Paging a trimmed result back from the log, verbatim: `memory_search(seq=N, page=K)`.

A result the shaper trimmed is logged whole, with the omission and the page size
in its meta (`trim`). A page is cut from that logged original by `core.trim`, so
the same seq and page give the same bytes in any process, and head + pages +
tail is the original exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcp_arena.core import shape, trim
from mcp_arena.core.events import Event
from mcp_arena.core.ledger import Ledger
from mcp_arena.core.results import PageResult
from mcp_arena.core.tools import ToolName
from mcp_arena.engine.store import Store
from mcp_arena.errors import InvalidArgument


def page_call(session: str, seq: int, page: int) -> dict[str, Any]:
    """The call that pages back page `page` of the result logged at `seq`."""
    return {"tool": str(ToolName.MEMORY_SEARCH), "arguments": {"seq": seq, "page": page, "session": session}}


def trim_record(trimmed: trim.Trim, page_tokens: int) -> dict[str, Any]:
    """What a trimmed result's event keeps in its meta: enough to cut the same pages again."""
    return {"tokens": trimmed.tokens, "shown_tokens": trimmed.shown_tokens, "omitted": trimmed.omitted.as_dict(), "page_tokens": page_tokens}


def page_back(store: Store, ledger: Ledger, seq: int, page_no: int | None, count_tokens: Callable[[str], int]) -> tuple[str, PageResult]:
    """Page `page_no` (default 1) of the trimmed result logged at `seq`."""
    page_no = 1 if page_no is None else page_no
    if page_no < 1:
        raise InvalidArgument(f"page must be 1 or more; got {page_no}")
    event = _trimmed_event(store, ledger, seq)
    record = event.meta["trim"]
    omitted = trim.Omission.from_dict(record["omitted"])
    page = trim.page(event.text, omitted, page_no, int(record["page_tokens"]), count_tokens)
    next_call = page_call(ledger.session, seq, page.number + 1) if page.has_next else None
    result = PageResult(
        session=ledger.session,
        seq=seq,
        page=page.number,
        pages=page.count,
        verbatim=page.text,
        note=trim.page_note(page, seq, next_call),
        trim=shape.page_meta(seq, int(record["tokens"]), page, next_call),
    )
    return result.text(), result


def _trimmed_event(store: Store, ledger: Ledger, seq: int) -> Event:
    if not 0 <= seq < ledger.last_seq:
        raise InvalidArgument(f"seq {seq} is not in this session's log (0–{max(ledger.last_seq - 1, 0)})")
    events = store.event_objects(ledger.session, seq_min=seq, seq_max=seq)
    if not events or not events[0].meta.get("trim"):
        raise InvalidArgument(
            f"the result at seq {seq} was not trimmed, so it has no pages; "
            "find what you need with memory_search(query=...) instead"
        )
    return events[0]
