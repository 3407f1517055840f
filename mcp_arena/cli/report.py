"""`mcp-arena report`: one session as a self-contained HTML page, for people.

    mcp-arena report [--session ID | --latest] [--out FILE.html] [--open]

Reads the session from the store (events without their text but for tool calls,
squash and artifact records), folds it with `core.report.gather` and writes
`core.report_page.render`'s page; `--open` hands the file to the default
browser. Writes nothing to the arena. Imported only when the command runs (it
loads LanceDB).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import webbrowser
from importlib.metadata import version
from pathlib import Path
from typing import Any

from mcp_arena.config import Settings
from mcp_arena.core import report_page
from mcp_arena.core.artifacts import ArtifactRecord
from mcp_arena.core.events import Event
from mcp_arena.core.ledger import SquashRecord
from mcp_arena.core.report import Report, gather
from mcp_arena.engine.store import Store, event_from_row
from mcp_arena.errors import ArenaError, UnknownSession

EVENT_COLUMNS = ("session", "seq", "kind", "tool", "tokens", "is_error", "source", "call_id", "ts", "meta")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--session", help="the session to report on")
    which.add_argument("--latest", action="store_true", help="the newest session (the default)")
    parser.add_argument("--out", type=Path, help="the HTML file to write (default: mcp-arena-report-<session>.html here)")
    parser.add_argument("--open", action="store_true", help="open the page in the default browser")


def run(args: argparse.Namespace, settings: Settings) -> int:
    started = time.perf_counter()
    store = Store(settings.database, settings.home / "locks")
    session, row = _chosen(store, args.session)
    page = report_page.render(read_report(store, session, settings, row), generator=f"mcp-arena {version('mcp-arena')} report")
    out = args.out or Path(f"mcp-arena-report-{_file_safe(session)}.html")
    out.write_text(page, encoding="utf-8")
    elapsed = time.perf_counter() - started
    print(f"{out} ({len(page.encode()) / 1024:,.0f} KiB, session {session}, {elapsed:.2f} s)")
    if args.open and not webbrowser.open(out.resolve().as_uri()):
        print("mcp-arena report: no browser to open it with; open the file above", file=sys.stderr)
    return 0


def read_report(store: Store, session: str, settings: Settings, row: dict[str, Any] | None = None) -> Report:
    """The session's report from the store: the one read path the command and the tests share."""
    return gather(
        session,
        read_events(store, session),
        [SquashRecord.from_row(r) for r in store.rows("squashes", session, order_by="record")],
        [ArtifactRecord(r["path"], r["action"], r["seq"], r["note"], r["source"]) for r in store.rows("artifacts", session)],
        settings,
        label=(row or {}).get("label", ""),
        origin=(row or {}).get("origin", ""),
    )


def read_events(store: Store, session: str) -> list[Event]:
    """The session's events in seq order; only tool calls keep their text (their arguments)."""
    calls = {r["seq"]: r["text"] for r in store.events(session, kinds=["tool_call"], columns=["seq", "text"])}
    return [event_from_row({**r, "text": calls.get(r["seq"], "")}) for r in store.events(session, columns=EVENT_COLUMNS)]


def _chosen(store: Store, session: str | None) -> tuple[str, dict[str, Any] | None]:
    rows = store.sessions()
    if not rows:
        raise ArenaError(f"no sessions yet in {store.uri}; ingest a transcript (mcp-arena ingest PATH) or run the server first")
    if session is None:
        return rows[-1]["session"], rows[-1]
    for row in rows:
        if row["session"] == session:
            return session, row
    newest = ", ".join(r["session"] for r in rows[-10:])
    raise UnknownSession(f"unknown session {session!r}. Known sessions (newest last): {newest}. Or pass --latest.")


def _file_safe(session: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", session)
