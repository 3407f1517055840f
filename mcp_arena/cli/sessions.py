"""`mcp-arena status | sessions | export | summary`: look into the arena's sessions, for people.

Each opens the arena (or only its store), reads one session and prints it;
`summary --undo` is the one that writes (it appends an undo record). Imported
only when one of these commands runs (it loads LanceDB).
"""

from __future__ import annotations

import argparse
import json
import sys

from mcp_arena.config import Settings
from mcp_arena.core import status as dashboard
from mcp_arena.engine.arena import Arena
from mcp_arena.engine.store import Store
from mcp_arena.errors import ArenaError


def add_session_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--session", required=True)


def add_no_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def add_summary_arguments(parser: argparse.ArgumentParser) -> None:
    add_session_argument(parser)
    parser.add_argument("--versions", action="store_true", help="list the kept summary versions")
    parser.add_argument("--version", type=int, help="print one version (its record number)")
    parser.add_argument("--undo", action="store_true", help="undo the last squash (appends an undo record)")


def run_status(args: argparse.Namespace, settings: Settings) -> int:
    arena = Arena(settings)
    try:
        arena.require_session(args.session)
        with arena.locked(args.session) as ledger:
            print(dashboard.status(ledger, settings).text())
    finally:
        arena.close()
    return 0


def run_sessions(args: argparse.Namespace, settings: Settings) -> int:
    store = Store(settings.database, settings.home / "locks")
    rows = store.sessions()
    if not rows:
        print(f"no sessions yet in {settings.database}", file=sys.stderr)
    for row in rows:
        print(f"{row['session']}\t{row['origin']}\t{row['label']}")
    return 0


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    arena = Arena(settings)
    try:
        arena.require_session(args.session)
        for row in arena.store.events(args.session):
            row["meta"] = json.loads(row["meta"]) if row["meta"] else {}
            print(json.dumps(row, sort_keys=True, ensure_ascii=False))
    finally:
        arena.close()
    return 0


def run_summary(args: argparse.Namespace, settings: Settings) -> int:
    arena = Arena(settings)
    try:
        arena.require_session(args.session)
        if args.undo:
            record = arena.undo_squash(args.session)
            print(f"undid squash #{record.undoes} (seq {record.from_seq}–{record.to_seq}); anchored summary now:\n")
            print(record.anchored or "(empty)")
            return 0
        versions = arena.summary_versions(args.session)
        if args.version is not None:
            chosen = [v for v in versions if v.record == args.version]
            if not chosen:
                kept = ", ".join(str(v.record) for v in versions) or "none"
                raise ArenaError(f"no kept summary version {args.version}; kept versions: {kept}")
            print(chosen[0].anchored or "(empty)")
        elif args.versions:
            for v in versions:
                what = f"undo of #{v.undoes}" if v.op == "undo" else f"squash '{v.tag}' seq {v.from_seq}–{v.to_seq}"
                print(f"#{v.record}\t{what}\t{v.tokens_before}→{v.tokens_after} tokens")
        else:
            print(versions[-1].anchored if versions else "(no squash yet)")
    finally:
        arena.close()
    return 0
