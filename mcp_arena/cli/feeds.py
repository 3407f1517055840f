"""The feed subcommands of `mcp-arena`: `ingest`, `replay`, `hook` (listed in `cli.main.COMMANDS`).

Ingest is idempotent per session: a `feed_state` row (feed "ingest") keeps how
many events the session has taken from its transcript and a digest of them.
A re-ingest parses the file again, checks that its first events still hash to
that digest, and appends only the events past them — nothing for an unchanged
file, the new tail for a Claude Code file that grew. A file whose known part
changed is reported and left alone rather than appended twice.

A Claude Code transcript of a session the PostToolUse hook logged holds the
hook's trimmed views: `Arena.append` joins its copies of the hooked calls with
what the hook logged (by tool-use id, `engine.transcript.join_hooked`), so they
are taken (the file's position moves past them) but not appended; the report
says how many.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from mcp_arena.config import Settings
from mcp_arena.core.events import EventDraft
from mcp_arena.engine.transcript import UsageSampler
from mcp_arena.errors import ArenaError, InvalidArgument
from mcp_arena.feeds import formats

INGEST_FEED = "ingest"
BATCH_EVENTS = 2_000
TRANSCRIPT_SUFFIXES = (".jsonl", ".json", ".traj")


# -- ingest ----------------------------------------------------------------------------------------


@dataclass
class SessionIngest:
    session: str
    path: str
    added: int = 0  # events appended
    known: int = 0  # events of the file taken by earlier ingests
    taken: int = 0  # events of the file taken now: the appended ones and the copies joined
    problem: str = ""

    @property
    def joined(self) -> int:
        """Copies of calls the hook logged: taken, not appended (an `untrimmed` note stands for its copy)."""
        return self.taken - self.added

    def outcome(self) -> str:
        if self.problem:
            return self.problem
        joined = f", {self.joined} joined to calls the hook logged" if self.joined else ""
        return f"+{self.added} events ({self.known} already there{joined})"


class Progress:
    """A one-line progress bar on stderr: files done, events added, rate."""

    def __init__(self, total_bytes: int, stream: Any = None) -> None:
        self.total = max(total_bytes, 1)
        self.done = 0
        self.events = 0
        self.started = time.perf_counter()
        self.stream = stream or sys.stderr

    def advance(self, done_bytes: int = 0, events: int = 0) -> None:
        self.done += done_bytes
        self.events += events
        filled = int(30 * self.done / self.total)
        rate = self.events / max(time.perf_counter() - self.started, 1e-9)
        self.stream.write(f"\ringest [{'#' * filled}{'.' * (30 - filled)}] {100 * self.done // self.total:3d}%  {self.events:,} events  {rate:,.0f} ev/s")
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\n")


def transcript_files(paths: Iterable[str]) -> list[Path]:
    """The files named, and the transcript files under the folders named, in a stable order."""
    found: list[Path] = []
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in TRANSCRIPT_SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise InvalidArgument(f"no such file or folder: {given}")
    return found


def ingest_file(arena: Any, path: Path, progress: Progress) -> list[SessionIngest]:
    results = []
    for session, drafts in formats.read_sessions(path, source="import"):
        arena.ensure_session(session, origin="import", label=str(path))
        result = SessionIngest(session=session, path=str(path))
        for added in ingest_session(arena, result, drafts):
            progress.advance(events=added)
        results.append(result)
    return results


def ingest_session(arena: Any, result: SessionIngest, drafts: Iterator[EventDraft]) -> Iterator[int]:
    """Append the session's events past those already ingested; yields each batch's size."""
    saved = arena.store.newest_feed_state(result.session, INGEST_FEED)
    known_events, known_digest = (saved[0]["events"], saved[0]["digest"]) if saved else (0, "")
    digest = hashlib.sha256()
    sampler = UsageSampler(arena.settings.window_tokens)
    known = sampler.apply(islice(drafts, known_events))  # the sampler must see them to sample the tail alike
    for draft in known:
        digest.update(fingerprint(draft))
    if len(known) < known_events or digest.hexdigest() != (known_digest or digest.hexdigest()):
        result.problem = f"the first {known_events} events ingested before no longer match this file; skipped"
        return
    result.known = known_events
    while batch := sampler.apply(islice(drafts, BATCH_EVENTS)):
        added = len(arena.append(result.session, batch))
        for draft in batch:
            digest.update(fingerprint(draft))
        result.taken += len(batch)
        result.added += added
        yield added
    if result.taken:
        state = {"events": known_events + result.taken, "digest": digest.hexdigest(), "path": result.path}
        arena.store.save_feed_state(result.session, INGEST_FEED, state)


def fingerprint(draft: EventDraft) -> bytes:
    return "\x1f".join((draft.kind, draft.tool, draft.call_id, str(draft.is_error), draft.text)).encode() + b"\x1e"


def add_ingest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="transcript files or folders (Claude Code JSONL, SWE-agent .traj, OpenHands JSON/JSONL)")
    parser.add_argument("--no-semantic", action="store_true", help="skip the embedding model (full-text search only)")


def run_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_arena.engine.arena import Arena

    files = transcript_files(args.paths)
    arena = Arena(settings)
    progress = Progress(sum(path.stat().st_size for path in files))
    results: list[SessionIngest] = []
    try:
        for path in files:
            try:
                results.extend(ingest_file(arena, path, progress))
            except (ArenaError, OSError, ValueError) as exc:  # one unreadable file must not stop the others
                results.append(SessionIngest(session="-", path=str(path), problem=f"not ingested: {exc}"))
            progress.advance(done_bytes=path.stat().st_size)
    finally:
        progress.finish()
        arena.close()
    elapsed = time.perf_counter() - progress.started
    for result in results:
        print(f"{result.path}\t{result.session}\t{result.outcome()}")
    added = sum(result.added for result in results)
    print(f"ingested {added:,} events into {len(results)} sessions from {len(files)} files in {elapsed:.2f} s ({added / max(elapsed, 1e-9):,.0f} events/s)")
    return 1 if any(result.problem for result in results) else 0


# -- replay ----------------------------------------------------------------------------------------


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="a transcript (Claude Code JSONL, SWE-agent .traj, OpenHands)")
    parser.add_argument("--session", help="which session of a multi-session file (OpenHands output.jsonl)")
    parser.add_argument("--window-tokens", type=int, help="context window to judge the zones against (default 200000)")


def run_replay(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_arena.cli.replay import replay
    from mcp_arena.engine.arena import Arena

    with tempfile.TemporaryDirectory(prefix="mcp-arena-replay-") as scratch:
        home = args.home or Path(scratch)
        arena = Arena(settings.model_copy(update={"home": home, "semantic": False, "transcript": "", "session": ""}))
        try:
            replay(arena, args.path, sys.stdout, session=args.session)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from exc
        finally:
            arena.close()
    return 0


# -- hooks -----------------------------------------------------------------------------------------


def add_hook_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("event", choices=("session-start", "pre-compact", "post-tool-use"), help="the Claude Code hook this runs as (input: JSON on stdin)")


def run_hook_command(args: argparse.Namespace, settings: Settings) -> int:
    from mcp_arena.cli.hooks import run_hook

    return run_hook(args.event, settings)
