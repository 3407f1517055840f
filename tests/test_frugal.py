"""Results that respect the context: writes answer with what they recorded, listings stay within their
token budget and say how to narrow, and nothing grows with the session's history unless asked for.

One large synthetic session is built once, in process: a generated agent log (its tool calls fill the
artifact trail), a thousand tags and a thousand more trail records, written in batches.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_arena.config import Settings
from mcp_arena.core import listing
from mcp_arena.engine.arena import Arena, Reply
from mcp_arena.lab.workload import generated_session

SESSION = "big"
EVENTS = 20_000
TAGS = 1_000
RECORDS = 1_000
GUIDE_OPENING = "\n\n--- skill: "
MORE = re.compile(r"^([\d,]+) more — narrow with .+\.$", re.MULTILINE)


def build(home: Path) -> None:
    arena = Arena(Settings(home=home, semantic=False, session=SESSION))
    try:
        arena.ensure_session(SESSION)
        drafts = generated_session(EVENTS, seed=5)
        for start in range(0, EVENTS, 2_000):
            arena.append(SESSION, drafts[start : start + 2_000])
        now = time.time()
        arena.store.add("tags", [
            {"session": SESSION, "name": f"step-{i}", "seq": i * 10, "note": f"tag number {i}", "origin": "agent", "ts": now}
            for i in range(TAGS)
        ])
        records = [{"path": f"docs/notes/topic_{i:04d}.md", "action": "read", "note": "background reading"} for i in range(RECORDS)]
        for start in range(0, RECORDS, 100):
            arena.trail.record(SESSION, EVENTS - 1, records[start : start + 100])
    finally:
        arena.close()


@pytest.fixture(scope="module")
def big_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("frugal")
    build(home)
    return home


@pytest.fixture
def arena(big_home: Path) -> Iterator[Arena]:
    opened = Arena(Settings(home=big_home, semantic=False, session=SESSION))
    try:
        yield opened
    finally:
        opened.close()


def body(reply: Reply) -> str:
    """The result as the model reads it, without the skill guides paged after it."""
    return reply.text.partition(GUIDE_OPENING)[0]


def ok(reply: Reply) -> Reply:
    assert not reply.is_error, reply.text
    return reply


def listed_paths(text: str) -> list[str]:
    return [line.split(" [", 1)[0].strip() for line in text.splitlines() if line.startswith("  ")]


# -- writes answer with what they recorded ----------------------------------------------------------


def test_tag_acknowledges_without_listing_the_sessions_tags(arena: Arena):
    reply = ok(arena.tag("frugal-check", note="checking the size of a tag result"))
    text = body(reply)
    assert arena.count_tokens(text) <= 100 and arena.count_tokens(str(reply.structured)) <= 100
    assert "Tagged 'frugal-check' at seq" in text and "checking the size" in text
    assert f"{TAGS + 1:,} tag(s)" in text and "step-1," not in text and "step-999" not in text
    structured = reply.structured or {}
    assert structured["name"] == "frugal-check" and structured["tags_in_session"] == TAGS + 1
    assert f"at seq {structured['seq']}" in text


def test_a_long_note_is_echoed_short(arena: Arena):
    reply = ok(arena.tag("long-note", note="why " * 120))
    assert arena.count_tokens(body(reply)) <= 100
    assert (reply.structured or {})["note"].endswith("…")


def test_artifact_record_acknowledges_what_it_recorded(arena: Arena):
    reply = ok(arena.artifact_index(record=[
        {"path": "src/frugal/ack.py", "action": "created", "note": "new"},
        {"path": "README.md", "action": "modified"},
    ]))
    text, structured = body(reply), reply.structured or {}
    assert arena.count_tokens(text) <= 100
    assert text.startswith(f"Recorded 2 file action(s) at seq {structured['seq']}: src/frugal/ack.py created, README.md modified.")
    assert structured["recorded"] == 2 and not structured["listed"]
    assert structured["recorded_files"] == [{"path": "src/frugal/ack.py", "action": "created"}, {"path": "README.md", "action": "modified"}]
    assert not any(structured[group] for group in ("created", "modified", "read_only", "deleted")) and structured["totals"] == {}
    created = ok(arena.artifact_index(path="src/frugal/**")).structured or {}
    assert [entry["path"] for entry in created["created"]] == ["src/frugal/ack.py"]


def test_a_large_write_is_acknowledged_within_bounds(arena: Arena):
    arena.ensure_session("deep")  # its own session: the big one's listings stay as built
    records = [{"path": "deep/" * 800 + f"file_{i}.py", "action": "modified", "note": "n" * 400} for i in range(100)]
    reply = ok(arena.artifact_index(record=records, session="deep"))
    text = body(reply)
    assert "and 95 more" in text and arena.count_tokens(text) <= 250
    assert len((reply.structured or {})["recorded_files"]) == 5 and arena.count_tokens(str(reply.structured)) <= 400
    listed = body(ok(arena.artifact_index(session="deep")))  # long paths and notes are cut in listings too
    assert arena.count_tokens(listed) <= arena.settings.artifact_max_tokens and len(listed_paths(listed)) >= 3


def test_a_write_with_a_filter_also_lists(arena: Arena):
    reply = ok(arena.artifact_index(record=[{"path": "src/frugal/both.py", "action": "modified"}], path="src/frugal/*"))
    text = body(reply)
    assert text.startswith("Recorded 1 file action(s)") and "Artifact trail of session big (path src/frugal/*):" in text
    assert "src/frugal/both.py" in listed_paths(text)


# -- the dashboard does not grow with the log ----------------------------------------------------------


def test_status_stays_small(arena: Arena):
    reply = ok(arena.context_status())
    assert arena.count_tokens(body(reply)) <= 250
    assert arena.count_tokens(str(reply.structured)) <= 400


# -- listings stay within their budget ------------------------------------------------------------------


@pytest.mark.parametrize("arguments", [{}, {"path": "src/**"}, {"action": "read"}, {"path": "src/cache/**", "action": "modified"}])
def test_trail_listing_fits_its_budget_and_says_how_to_narrow(arena: Arena, arguments: dict[str, str]):
    reply = ok(arena.artifact_index(**arguments))
    text, structured = body(reply), reply.structured or {}
    assert arena.count_tokens(text) <= arena.settings.artifact_max_tokens
    groups = ("created", "modified", "read_only", "deleted")
    shown = [entry["path"] for group in groups for entry in structured[group]]
    assert sorted(listed_paths(text)) == sorted(shown)  # the text and the structured content name the same files
    more = MORE.search(text)
    assert more is not None and int(more.group(1).replace(",", "")) == structured["more"] == sum(structured["totals"].values()) - len(shown)
    if "action" in arguments and "path" in arguments:
        assert "a narrower path glob" in more.group(0)
    elif "action" in arguments:
        assert 'path="' in more.group(0) and "action=" not in more.group(0)
    else:
        assert "action=" in more.group(0)
    assert len(shown) >= 10  # the budget is spent on files, not on frames


def test_every_group_gets_a_share_of_the_budget(arena: Arena):
    structured = ok(arena.artifact_index()).structured or {}
    for group in ("created", "modified", "read_only"):
        assert structured["totals"][group] > 50 and len(structured[group]) >= 5
        newest = max(entry["latest_seq"] for entry in structured[group])
        assert newest >= EVENTS - 200  # the most recently touched files come first


def test_a_tight_budget_is_kept(big_home: Path):
    arena = Arena(Settings(home=big_home, semantic=False, session=SESSION, artifact_max_tokens=200))
    try:
        text = body(ok(arena.artifact_index()))
        assert arena.count_tokens(text) <= 200 and MORE.search(text)
    finally:
        arena.close()


def test_the_skill_catalog_fits_its_budget(big_home: Path):
    arena = Arena(Settings(home=big_home, semantic=False, session=SESSION, catalog_max_tokens=200))
    try:
        reply = ok(arena.load_skill())
        text, structured = body(reply), reply.structured or {}
        assert arena.count_tokens(text) <= 200
        assert structured["more"] > 0 and len(structured["catalog"]) + structured["more"] == len(arena.skills.catalog)
        assert f"{structured['more']} more — narrow with name=" in text
        assert [line[2:].split(":")[0] for line in text.splitlines() if line.startswith("- ")] == [s["name"] for s in structured["catalog"]]
        unknown = arena.load_skill(name="tag-and-sqash")
        assert unknown.is_error and "Did you mean: tag-and-squash?" in body(unknown) and arena.count_tokens(body(unknown)) <= 220
    finally:
        arena.close()


# -- errors that name options are bounded too ------------------------------------------------------------


def test_duplicate_tag_names_a_free_name_not_every_tag(arena: Arena):
    reply = arena.tag("step-7")
    text = body(reply)  # after errors the pager may attach a guide: not the error's own text
    assert reply.is_error and "'step-7' already exists" in text and "'step-7-2'" in text
    assert arena.count_tokens(text) <= 60


def test_unknown_tag_names_close_and_newest_tags_only(arena: Arena):
    reply = arena.squash("done", from_tag="step-99x")
    text = body(reply)
    assert reply.is_error and "did you mean" in text and "'step-99'" in text
    assert re.search(r"[\d,]+ older, then ", text) and text.count("step-") <= 3 + listing.MAX_NAMES_IN_ERROR + 1
    assert arena.count_tokens(text) <= 200


def test_squash_names_a_bounded_number_of_files_from_the_trail(arena: Arena):
    ok(arena.tag("many-files"))
    ok(arena.artifact_index(record=[{"path": f"gen/out_{i:03d}.py", "action": "created"} for i in range(40)]))
    reply = ok(arena.squash("## Current State\nall generated"))
    text = body(reply)
    filled = next(line for line in text.splitlines() if line.startswith("Filled in from the artifact trail"))
    assert "and 30 more (all in Files Modified below)" in filled and filled.count("gen/out_") == 10
    assert "gen/out_039.py" in (reply.structured or {})["anchored_summary"]


# -- the rules, without the engine ------------------------------------------------------------------------


def test_share_takes_groups_in_turns():
    groups = {"a": ["a1", "a2", "a3", "a4"], "b": ["b1"], "c": []}
    assert listing.share(groups, str, budget=8, count_tokens=lambda text: 1) == {"a": 3, "b": 1, "c": 0}
    assert listing.share(groups, str, budget=4, count_tokens=lambda text: 1) == {"a": 1, "b": 1, "c": 0}  # a line costs 1 + its newline
    assert listing.share(groups, str, budget=3, count_tokens=lambda text: 1) == {"a": 1, "b": 0, "c": 0}  # b1 does not fit after a1


def test_clip_keeps_both_ends_and_names_within_counts_the_rest():
    assert listing.clip("src/" + "x" * 50 + "/file.py", 20).endswith("file.py") and len(listing.clip("a" * 50, 20)) == 20
    assert listing.clip_end("a note that goes on", 7) == "a note…"
    assert listing.names_within([f"t{i}" for i in range(15)], shown=3) == "12 older, then t12, t13, t14"
    assert listing.names_within([]) == "none yet"


def test_the_trail_folds_new_records_onto_the_old_as_a_whole_fold_would():
    from mcp_arena.core.artifacts import ArtifactRecord, Folded, fold

    batches = [
        [ArtifactRecord("build/out.o", "created", 1), ArtifactRecord("src/a.py", "read", 1), ArtifactRecord("src/b.py", "created", 2)],
        [ArtifactRecord("src/a.py", "modified", 3, "fix"), ArtifactRecord("build", "deleted", 4)],
        [ArtifactRecord("src/b.py", "created", 5), ArtifactRecord("build/out.o", "created", 6), ArtifactRecord("old.txt", "deleted", 6)],
    ]
    folded = Folded()
    for batch in batches:
        assert folded.extend(batch)
    assert folded.statuses == fold([record for batch in batches for record in batch])
    assert folded.records == 8 and folded.last_seq == 6
    assert not folded.extend([ArtifactRecord("late.py", "read", 6)])  # not newer: the caller folds afresh
    assert "late.py" not in folded.statuses
