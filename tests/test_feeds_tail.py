"""The incremental transcript reader and the live feed: partial lines, bad bytes, rotation, deletion."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from mcp_arena.feeds.claude_code import parse_lines, read_transcript
from mcp_arena.feeds.live import ClaudeCodeFeed
from mcp_arena.feeds.tail import TailState, TranscriptTail
from tests.helpers import CORPUS

SAMPLE = CORPUS / "claude-code" / "subagent.jsonl"


def sample_lines() -> list[bytes]:
    return SAMPLE.read_bytes().splitlines(keepends=True)


def uuids(records: list[dict]) -> list[str]:
    return [r["uuid"] for r in records if "uuid" in r]


@pytest.fixture
def transcript(tmp_path: Path) -> Path:
    return tmp_path / "session.jsonl"


def test_reads_everything_once(transcript: Path) -> None:
    shutil.copy(SAMPLE, transcript)
    tail = TranscriptTail(transcript)
    assert len(tail.read_new()) == len(sample_lines())
    assert tail.offset == transcript.stat().st_size
    assert tail.read_new() == []


def test_a_truncated_last_line_waits_until_it_is_complete(transcript: Path) -> None:
    lines = sample_lines()
    cut = len(lines[5]) // 2
    transcript.write_bytes(b"".join(lines[:5]) + lines[5][:cut])
    tail = TranscriptTail(transcript)
    assert len(tail.read_new()) == 5
    assert tail.read_new() == []
    with open(transcript, "ab") as handle:
        handle.write(lines[5][cut:] + lines[6])
    assert [r.get("uuid") for r in tail.read_new()] == [json.loads(lines[5]).get("uuid"), json.loads(lines[6]).get("uuid")]


def test_lines_longer_than_a_chunk(transcript: Path) -> None:
    shutil.copy(SAMPLE, transcript)
    small = TranscriptTail(transcript, chunk_bytes=64)
    assert small.read_new() == TranscriptTail(transcript).read_new()


def test_appends_arrive_in_order_across_many_reads(transcript: Path) -> None:
    lines = sample_lines()
    tail = TranscriptTail(transcript)
    seen: list[dict] = []
    for line in lines:
        with open(transcript, "ab") as handle:
            handle.write(line)
        seen.extend(tail.read_new())
    assert seen == [json.loads(line) for line in lines]


def test_non_utf8_bytes_are_replaced_with_a_warning(transcript: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = json.loads(sample_lines()[3])
    good["message"] = {"role": "user", "content": "caf\udcff"}  # placeholder, replaced below by a raw byte
    raw = json.dumps(good, ensure_ascii=False).encode("utf-8", errors="surrogateescape")
    transcript.write_bytes(raw + b"\n" + sample_lines()[4])
    with caplog.at_level(logging.WARNING):
        records = TranscriptTail(transcript).read_new()
    assert len(records) == 2
    assert records[0]["message"]["content"] == "caf\ufffd"
    assert "not valid UTF-8" in caplog.text


def test_garbage_and_unknown_records_never_stop_reading(transcript: Path) -> None:
    lines = sample_lines()
    transcript.write_bytes(lines[3] + b"{not json\n" + b"[1, 2]\n" + b'{"type": "from-the-future", "x": 1}\n' + b"\n" + lines[4])
    records = TranscriptTail(transcript).read_new()
    known = [json.loads(lines[3]), json.loads(lines[4])]
    assert records == [known[0], {"type": "from-the-future", "x": 1}, known[1]]
    feed = ClaudeCodeFeed(transcript)
    assert feed.poll() == list(parse_lines(known, source="transcript"))
    assert feed.parser.skipped["from-the-future"] == 1


def test_a_missing_or_deleted_file_reads_as_nothing(transcript: Path) -> None:
    tail = TranscriptTail(transcript)
    assert tail.read_new() == []  # not created yet
    shutil.copy(SAMPLE, transcript)
    first = tail.read_new(max_lines=10)
    transcript.unlink()
    assert tail.read_new() == []
    assert tail.offset > 0 and len(first) == 10


def test_deleted_while_iterating(transcript: Path) -> None:
    shutil.copy(SAMPLE, transcript)
    tail = TranscriptTail(transcript, chunk_bytes=4096)
    records = []
    for index, record in enumerate(tail.iter_new()):
        records.append(record)
        if index == 3:
            transcript.unlink()  # the open handle still reads the old file to its end
    assert len(records) == len(sample_lines())
    assert tail.read_new() == []


def test_replaced_by_another_file_starts_over_without_repeating(transcript: Path) -> None:
    lines = sample_lines()
    transcript.write_bytes(b"".join(lines[:40]))
    tail = TranscriptTail(transcript)
    first = tail.read_new()
    replacement = transcript.with_suffix(".new")
    extra = json.dumps({"type": "user", "uuid": "brand-new", "message": {"role": "user", "content": "hi"}}).encode()
    replacement.write_bytes(extra + b"\n" + b"".join(lines))  # same lines after a new head, new inode
    os.replace(replacement, transcript)
    again = tail.read_new()
    assert tail.last_reset == "was replaced by another file"
    assert set(uuids(first)).isdisjoint(uuids(again))
    assert uuids(first) + uuids(again)[1:] == uuids([json.loads(line) for line in lines])
    assert uuids(again)[0] == "brand-new"


def test_truncated_file_starts_over(transcript: Path, caplog: pytest.LogCaptureFixture) -> None:
    lines = sample_lines()
    transcript.write_bytes(b"".join(lines))
    tail = TranscriptTail(transcript)
    tail.read_new()
    new_line = json.dumps({"type": "user", "uuid": "after-truncation", "message": {"role": "user", "content": "x"}}).encode()
    transcript.write_bytes(new_line + b"\n")
    with caplog.at_level(logging.WARNING):
        assert uuids(tail.read_new()) == ["after-truncation"]
    assert tail.last_reset.startswith("shrank below the read offset")
    assert "reading it again from the start" in caplog.text


def test_rewritten_in_place_starts_over(transcript: Path) -> None:
    lines = sample_lines()
    transcript.write_bytes(b"".join(lines[:20]))
    tail = TranscriptTail(transcript)
    tail.read_new()
    changed = json.dumps({"type": "user", "uuid": "rewritten", "message": {"role": "user", "content": "y"}}).encode()
    with open(transcript, "r+b") as handle:  # same inode, longer, different head
        handle.write(changed + b"\n" + b"".join(lines))
    assert uuids(tail.read_new()) == ["rewritten", *uuids([json.loads(line) for line in lines[20:]])]
    assert tail.last_reset == "was rewritten in place"


def test_replaced_by_a_copy_continues_where_it_was(transcript: Path) -> None:
    lines = sample_lines()
    transcript.write_bytes(b"".join(lines[:30]))
    tail = TranscriptTail(transcript)
    tail.read_new()
    copy = transcript.with_suffix(".copy")
    copy.write_bytes(b"".join(lines))
    os.replace(copy, transcript)
    assert tail.read_new() == [json.loads(line) for line in lines[30:]]
    assert tail.last_reset is None and tail.duplicates_skipped == 0


def test_state_survives_json_and_resumes_without_repeats(transcript: Path) -> None:
    lines = sample_lines()
    transcript.write_bytes(b"".join(lines[:50]))
    tail = TranscriptTail(transcript)
    tail.read_new()
    saved = json.loads(json.dumps(tail.state.to_dict()))
    with open(transcript, "ab") as handle:
        handle.write(b"".join(lines[50:]))
    resumed = TranscriptTail(transcript, TailState.from_dict(saved))
    assert resumed.read_new() == [json.loads(line) for line in lines[50:]]


def test_stopping_early_keeps_the_offset_and_probes_consistent(transcript: Path) -> None:
    shutil.copy(SAMPLE, transcript)
    tail = TranscriptTail(transcript)
    parts = [tail.read_new(max_lines=7) for _ in range(20)]
    assert tail.last_reset is None
    assert sum(len(part) for part in parts) == len(sample_lines())


def test_idempotent_reread_with_a_fresh_tail_and_the_same_events(transcript: Path) -> None:
    shutil.copy(SAMPLE, transcript)
    once = ClaudeCodeFeed(transcript).poll()
    twice = ClaudeCodeFeed(transcript).poll()
    assert once == twice
    assert once == list(read_transcript(SAMPLE, source="transcript"))


def test_live_feed_resumes_from_its_state_mid_turn(transcript: Path) -> None:
    lines = sample_lines()
    whole = list(read_transcript(SAMPLE, source="transcript"))
    for cut in (10, 33, 61):
        transcript.write_bytes(b"".join(lines[:cut]))
        feed = ClaudeCodeFeed(transcript)
        before = feed.poll()
        with open(transcript, "ab") as handle:
            handle.write(b"".join(lines[cut:]))
        after = ClaudeCodeFeed(transcript, json.loads(json.dumps(feed.state()))).poll()
        assert before + after == whole
        transcript.unlink()
