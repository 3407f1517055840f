"""The journal and the group commits behind it: real files, real LanceDB, real processes.

What a call wrote is readable before it is committed — in this process and in others —,
a torn line is skipped, a failed write leaves nothing behind, the committer batches many
calls into one LanceDB commit, and a process that died leaves segments the next store
replays exactly once (also when it died after committing, before dropping the segment).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import lancedb
import pytest

from mcp_arena.config import Settings
from mcp_arena.core.events import EventDraft
from mcp_arena.engine.arena import Arena
from mcp_arena.engine.journal import Journal, read_segment
from mcp_arena.engine.store import Store


def _store(home: Path, **options: float) -> Store:
    return Store(str(home / "arena.lancedb"), home / "locks", **options)  # type: ignore[arg-type]


def _committed_seqs(home: Path, session: str) -> list[int]:
    """What LanceDB itself holds, journal aside."""
    table = lancedb.connect(str(home / "arena.lancedb")).open_table("events")
    seqs = table.search().where(f"session = '{session}'").select(["seq"]).limit(None).to_arrow().column("seq").to_pylist()
    return sorted(seqs)


def _event(session: str, seq: int, text: str = "x") -> dict[str, object]:
    return {
        "session": session, "seq": seq, "kind": "note", "tool": "", "text": text, "tokens": 1,
        "is_error": False, "source": "test", "call_id": "", "ts": 1.0 + seq, "meta": "",
    }  # fmt: skip


def test_rows_are_readable_before_their_commit_and_committed_in_one_batch(tmp_path: Path):
    store = _store(tmp_path, commit_seconds=3600)  # the committer waits: only flush commits
    try:
        versions_before = store.tables["events"].version
        for seq in range(10):
            store.write([("events", _event("s", seq, f"call {seq}"))])
        assert [row["seq"] for row in store.events("s")] == list(range(10))  # from the journal
        assert [row["text"] for row in store.events("s", seq_min=8, columns=["text"])] == ["call 8", "call 9"]
        assert _committed_seqs(tmp_path, "s") == []
        store.flush()
        assert _committed_seqs(tmp_path, "s") == list(range(10))
        assert store.tables["events"].version == versions_before + 1  # ten calls, one commit
        assert [row["seq"] for row in store.events("s")] == list(range(10))  # not twice
        assert not list((tmp_path / "journal").glob("*.jsonl"))
    finally:
        store.close()


def test_the_committer_commits_by_itself(tmp_path: Path):
    store = _store(tmp_path, commit_seconds=0.05)
    try:
        store.write([("events", _event("s", 0))])
        deadline = time.monotonic() + 10
        while _committed_seqs(tmp_path, "s") != [0] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _committed_seqs(tmp_path, "s") == [0]
    finally:
        store.close()


def test_a_torn_last_line_is_skipped(tmp_path: Path):
    journal = Journal(tmp_path)
    journal.write([("events", _event("s", 0)), ("events", _event("s", 1))])
    sealed = journal.seal()
    assert sealed is not None
    with open(sealed.path, "ab") as segment:
        segment.write(b'{"table": "events", "row": {"session": "s", "se')
    assert [row["seq"] for _, row in read_segment(sealed.path)] == [0, 1]
    journal.close()


WRITE_UNTIL_FULL = """
import resource, signal, sys
from pathlib import Path
from mcp_arena.engine.journal import Journal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead of killing us
journal = Journal(Path(sys.argv[1]))
row = {"session": "s", "text": "y" * 3000}
journal.write([("events", {**row, "seq": 0})])
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    journal.write([("events", {**row, "seq": 1})])
except OSError as exc:
    print("refused", exc.errno)
"""


def test_a_write_the_disk_refuses_leaves_no_torn_line(tmp_path: Path):
    done = subprocess.run([sys.executable, "-c", WRITE_UNTIL_FULL, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("refused"), done.stdout + done.stderr
    [segment] = tmp_path.glob("*.jsonl")
    assert [row["seq"] for _, row in read_segment(segment)] == [0]  # the refused call left nothing
    assert segment.read_bytes().endswith(b"\n")


WRITER = """
import sys, time
from pathlib import Path
from mcp_arena.engine.store import Store
home = Path(sys.argv[1])
store = Store(str(home / "arena.lancedb"), home / "locks", commit_seconds=3600)
for seq in range(int(sys.argv[2])):
    store.write([("sessions", {"session": "w", "created": 1.0, "origin": "test", "label": ""})] if seq == 0 else [])
    store.write([("events", {"session": "w", "seq": seq, "kind": "note", "tool": "", "text": f"pending {seq}", "tokens": 1,
                             "is_error": False, "source": "test", "call_id": "", "ts": 1.0, "meta": ""})])
if len(sys.argv) > 3:
    store.flush()  # committed to LanceDB, but killed before the segment is dropped (see the test)
print("written", flush=True)
time.sleep(600)
"""


def _writer(home: Path, rows: int, *extra: str) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(home), str(rows), *extra], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "written"
    return process


def test_another_process_sees_rows_a_live_writer_has_not_committed(tmp_path: Path):
    _store(tmp_path).close()  # the tables exist before the writer starts
    writer = _writer(tmp_path, 5)
    reader = _store(tmp_path)
    try:
        assert [row["text"] for row in reader.events("w")] == [f"pending {seq}" for seq in range(5)]
        assert reader.has_session("w") and [row["session"] for row in reader.sessions()] == ["w"]
        assert _committed_seqs(tmp_path, "w") == []  # a live writer's segments are its own to commit
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        reader.close()


def test_segments_of_a_killed_process_are_replayed_once(tmp_path: Path):
    _store(tmp_path).close()
    writer = _writer(tmp_path, 7)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    reader = _store(tmp_path)
    assert [row["seq"] for row in reader.events("w")] == list(range(7))  # seen before and after the replay
    reader.close()  # its committer replayed the dead writer's segments first
    assert _committed_seqs(tmp_path, "w") == list(range(7))
    assert not list((tmp_path / "journal").glob("*"))  # segments and the dead owner's lock are gone
    _store(tmp_path).close()  # nothing to replay twice
    assert _committed_seqs(tmp_path, "w") == list(range(7))


def test_a_process_killed_after_committing_but_before_dropping_its_segment_is_not_replayed_twice(tmp_path: Path):
    _store(tmp_path).close()
    writer = _writer(tmp_path, 4)
    journal = tmp_path / "journal"
    kept = tmp_path / "kept"
    kept.mkdir()
    for segment in journal.glob("*.jsonl"):  # the segment as it was before the commit
        shutil.copy(segment, kept / segment.name)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    replaying = _store(tmp_path)
    replaying.close()
    assert _committed_seqs(tmp_path, "w") == list(range(4))
    for segment in kept.iterdir():  # as if the process died between the commit and the unlink
        shutil.copy(segment, journal / segment.name)
    (journal / (segment.name.split(".")[0] + ".lock")).touch()
    _store(tmp_path).close()
    assert _committed_seqs(tmp_path, "w") == list(range(4))
    assert not list(journal.glob("*.jsonl"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "arena-home", semantic=False)


def test_two_arenas_writing_one_session_keep_seqs_dense_while_nothing_is_committed(settings: Settings):
    first, second = Arena(settings), Arena(settings)  # two stores: two journal owners, like two processes
    try:
        first.store.commit_seconds = second.store.commit_seconds = 3600
        first.append("shared", [EventDraft(kind="note", text="first's note")])
        second.tag("from-second", session="shared")
        first.append("shared", [EventDraft(kind="note", text="first again")])
        assert [t["name"] for t in first.store.rows("tags", "shared")] == ["from-second"]
        assert first.tag("from-second", session="shared").is_error  # the first's ledger has the second's tag
        seqs = [row["seq"] for row in second.store.events("shared")]
        assert seqs == list(range(len(seqs))) and len(seqs) >= 6
        assert _committed_seqs(settings.home, "shared") == []
    finally:
        first.close()
        second.close()
    assert _committed_seqs(settings.home, "shared") == seqs


def test_one_process_at_a_time_maintains_a_home(tmp_path: Path):
    import fcntl
    import os

    store = _store(tmp_path)
    try:
        for seq in range(3):  # rows for the optimize to work on
            store.write([("events", _event("s", seq))])
        store.flush()
        held = os.open(tmp_path / "locks" / "maintenance.lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(held, fcntl.LOCK_EX)  # another process is maintaining
        before = store.tables["events"].version
        store.maintain()
        assert store.tables["events"].version == before and not store.tables["events"].list_indices()
        os.close(held)
        store.maintain()
        assert store.tables["events"].version > before and store.tables["events"].list_indices()
    finally:
        store.close()


def test_memory_search_finds_events_no_process_has_committed_yet(settings: Settings):
    first, second = Arena(settings), Arena(settings)  # two journal owners, like two processes
    try:
        first.store.commit_seconds = second.store.commit_seconds = 3600
        first.append("shared", [EventDraft(kind="tool_result", tool="Bash", text="pytest: 3 failed, quokka-42 checksum mismatch in vendor/lib.so")])
        assert _committed_seqs(settings.home, "shared") == []
        for arena in (first, second):  # its own journal, and another process's
            hits = arena.memory_search("quokka-42 checksum", session="shared").structured["hits"]
            assert hits and "quokka-42" in hits[0]["snippet"], hits
        assert _committed_seqs(settings.home, "shared") == []  # found without committing anything
    finally:
        first.close()
        second.close()


def test_a_paraphrase_finds_an_uncommitted_event_through_the_vector_leg(tmp_path: Path):
    settings = Settings(home=tmp_path / "arena-home", embedding_worker=False)  # the model in process
    arena = Arena(settings)
    try:
        arena.store.commit_seconds = 3600
        arena.append("s", [EventDraft(kind="tool_result", tool="Bash", text="deploy aborted: the database password has expired")])
        found = arena.memory_search("why did the release break? credentials out of date", session="s").structured
        # no word of the query is in the text: only the vector leg can find it, by embedding it from the journal
        assert found["mode"] == "hybrid" and [hit["seq"] for hit in found["hits"]] == [0], found
        assert _committed_seqs(settings.home, "s") == []
    finally:
        arena.close()
