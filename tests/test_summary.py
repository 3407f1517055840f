"""Anchored summaries: tolerant parsing, canonical rendering, iterative merge."""

from __future__ import annotations

import random

import pytest

from mcp_arena.core.summary import (
    TRAIL_MARKER,
    AnchoredSummary,
    ChangedFile,
    file_key,
    measure,
    merge,
    parse,
    render,
)

FIRST = """\
## Session Intent
Fix the JWT expiry bug in the auth service

## Files Modified
- auth.controller.ts: fix JWT token generation
- config/redis.ts: connection pool settings

## Decisions Made
- Use a Redis connection pool instead of one connection per request
- Retry transient failures with exponential backoff

## Current State
- 14 tests pass, 2 fail

## Next Steps
1. Fix the remaining test failures
"""

SECOND = """\
# session intent
Fix the JWT expiry bug and add refresh tokens

# FILES MODIFIED
* `auth.controller.ts` — JWT generation fixed, refresh endpoint added
* tests/auth.test.ts: mocks for the new config

# Decisions made
- use a redis connection pool instead of one connection per request.
- Refresh tokens live 7 days

# Current State
16 tests pass
"""

THIRD = """\
**Session Intent**
Fix the JWT expiry bug and add refresh tokens

**Files Modified**
- src/session.ts - session service mocks

Decisions Made:
- Refresh tokens live 7 days, rotated on use

Current State:
All 18 tests pass

Next Steps:
1. Update the docs
"""


def merged_three(trail: list[ChangedFile] | None = None) -> AnchoredSummary:
    first = merge(None, parse(FIRST), []).summary
    second = merge(first, parse(SECOND), []).summary
    return merge(second, parse(THIRD), trail or []).summary


def test_three_merges_keep_intent_and_refine_it():
    summary = merged_three()
    assert summary.session_intent.splitlines() == [
        "Fix the JWT expiry bug and add refresh tokens",  # newest leads; THIRD repeats SECOND: no duplicate
        "Fix the JWT expiry bug in the auth service",  # distinct earlier wording kept below
    ]


def test_intent_keeps_distinct_earlier_lines_below_the_newest():
    first = parse("## Session Intent\nMigrate the CLI to click")
    second = parse("## Session Intent\nSpeed up the test suite")
    intent = merge(first, second).summary.session_intent
    assert intent == "Speed up the test suite\nMigrate the CLI to click"
    assert merge(parse("## Session Intent\nA"), parse("## Current State\nx")).summary.session_intent == "A"


def test_three_merges_accumulate_files_newest_wording_in_place():
    assert merged_three().files_modified == (
        "`auth.controller.ts` — JWT generation fixed, refresh endpoint added",
        "config/redis.ts: connection pool settings",
        "tests/auth.test.ts: mocks for the new config",
        "src/session.ts - session service mocks",
    )


def test_three_merges_accumulate_decisions_dedup_newest_wording():
    assert merged_three().decisions_made == (
        "use a redis connection pool instead of one connection per request.",
        "Retry transient failures with exponential backoff",
        "Refresh tokens live 7 days",
        "Refresh tokens live 7 days, rotated on use",
    )


def test_state_and_next_steps_take_the_newest_present():
    second = merge(merge(None, parse(FIRST)).summary, parse(SECOND)).summary
    assert second.current_state == "16 tests pass"
    assert second.next_steps == "1. Fix the remaining test failures", "SECOND has no Next Steps: keep the old"
    third = merged_three()
    assert third.current_state == "All 18 tests pass"
    assert third.next_steps == "1. Update the docs"


def test_trail_fills_unmentioned_files_and_reports_them():
    trail = [
        ChangedFile("config/redis.ts", "modified"),
        ChangedFile("src/cache.py", "created", "LRU cache"),
        ChangedFile("old/legacy.py", "deleted"),
        ChangedFile("/repo/src/session.ts", "modified"),  # named by the bullet as src/session.ts
    ]
    result = merge(merged_three(), parse("## Current State\nok"), trail)
    assert result.filled_from_trail == ("src/cache.py", "old/legacy.py")
    assert result.summary.files_modified[-2:] == (
        f"src/cache.py: created; LRU cache {TRAIL_MARKER}",
        f"old/legacy.py: deleted {TRAIL_MARKER}",
    )


def test_trail_bullets_are_refreshed_and_give_way_to_the_agent():
    first = merge(None, parse("## Current State\nx"), [ChangedFile("src/a.py", "created")])
    assert first.summary.files_modified == (f"src/a.py: created {TRAIL_MARKER}",)
    second = merge(first.summary, parse("## Current State\ny"), [ChangedFile("src/a.py", "deleted")])
    assert second.summary.files_modified == (f"src/a.py: deleted {TRAIL_MARKER}",)
    third = merge(second.summary, parse("## Files Modified\n- a.py: removed again"), [ChangedFile("src/a.py", "deleted")])
    assert third.summary.files_modified == ("a.py: removed again",)
    assert third.filled_from_trail == ()


def test_ambiguous_basename_does_not_count_as_mentioning_both():
    trail = [ChangedFile("a/util.py", "modified"), ChangedFile("b/util.py", "modified")]
    result = merge(None, parse("## Files Modified\n- util.py: tweaks"), trail)
    assert result.filled_from_trail == ("a/util.py", "b/util.py")


def test_file_entry_rejects_read_only():
    with pytest.raises(ValueError, match="read-only"):
        ChangedFile("a.py", "read")


def test_plain_text_goes_to_current_state():
    summary = parse("We fixed the parser; two tests still fail.\n\nLook at lexer.c next.")
    assert summary.current_state == "We fixed the parser; two tests still fail.\n\nLook at lexer.c next."
    assert summary.session_intent == "" and summary.files_modified == ()


def test_text_with_only_unknown_headings_is_current_state():
    summary = parse("# Summary\nall good\n## Notes\nnone")
    assert summary.extra_sections == ()
    assert summary.current_state == "### Summary\nall good\n#### Notes\nnone"


@pytest.mark.parametrize(
    "heading",
    ["# Next Steps", "## next steps", "### NEXT STEPS ###", "**Next Steps**", "**Next Steps:**",
     "Next Steps:", "  ## Next Steps  ", "## Next Steps（下一步）", "## Next steps:", "# Next"],
)
def test_tolerant_headings(heading):
    assert parse(f"{heading}\n1. run the suite\n").next_steps == "1. run the suite"


def test_prose_lines_with_colons_are_not_headings():
    assert parse("## Current State\nStatus: green\nNext: docs").current_state == "Status: green\nNext: docs"


def test_extra_sections_kept_in_order_after_the_anchors():
    text = "## Notes\nn1\n## Session Intent\ni\n## Risks\nr\n### detail\nd\n## notes\nn2"
    summary = parse(text)
    assert summary.session_intent == "i"
    assert summary.extra_sections == (("Risks", "r\n### detail\nd"), ("notes", "n2"))
    assert summary.current_state == "## Notes\nn1".replace("## ", "### "), "preamble lands in Current State"
    rendered = render(summary)
    assert rendered.index("## Next Steps") < rendered.index("## Risks")


def test_extras_merge_newest_per_name():
    previous = parse("## Session Intent\ni\n## Risks\nold\n## Links\nl")
    new = parse("## Session Intent\ni\n## risks\nnew\n## Open Questions\nq")
    assert merge(previous, new).summary.extra_sections == (
        ("risks", "new"), ("Links", "l"), ("Open Questions", "q")
    ), "newest body and spelling, in the place the name first appeared"


def test_render_is_canonical_and_lists_every_anchor():
    rendered = render(parse(SECOND))
    assert rendered.startswith("## Session Intent\nFix the JWT expiry bug and add refresh tokens\n\n## Files Modified\n- ")
    assert "## Next Steps\n" in rendered and rendered.endswith("\n")
    assert [line for line in rendered.splitlines() if line.startswith("## ")] == [
        "## Session Intent", "## Files Modified", "## Decisions Made", "## Current State", "## Next Steps"]


@pytest.mark.parametrize("text", [FIRST, SECOND, THIRD, "plain words", "", "## Notes\nx\n## Current State\ny"])
def test_round_trip_of_parsed_text(text):
    summary = parse(text)
    assert parse(render(summary)) == summary
    assert render(parse(render(summary))) == render(summary)


def test_round_trip_of_constructed_summaries():
    rng = random.Random(7)
    words = ["fix", "src/a.py:", "`b.ts`", "—", "tests", "x", "1.", "-", "*", "#", "note", "Status:", "**"]

    def text(lines: int) -> str:
        return "\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(1, 5))) for _ in range(lines))

    checked = 0
    for _ in range(400):
        try:
            summary = AnchoredSummary(
            session_intent=text(rng.randint(0, 3)),
            files_modified=tuple(text(rng.randint(1, 2)) for _ in range(rng.randint(0, 3))),
            decisions_made=tuple(text(1) for _ in range(rng.randint(0, 3))),
            current_state=text(rng.randint(0, 4)),
            next_steps=text(rng.randint(0, 2)),
            extra_sections=(("Open Questions", text(2)),) if rng.random() < 0.5 else (),
            )
        except ValueError:
            continue  # a body line that is a heading: rejected up front, see the next test
        assert parse(render(summary)) == summary
        checked += 1
    assert checked > 150


def test_deeper_headings_inside_a_section_round_trip():
    summary = AnchoredSummary(current_state="### Details\nall green\n#### More")
    assert parse(render(summary)) == summary


def test_summary_rejects_bodies_that_would_not_round_trip():
    with pytest.raises(ValueError, match="reads as the Next Steps heading"):
        AnchoredSummary(current_state="fine\n## Next Steps\nsneaky")
    with pytest.raises(ValueError, match="### or deeper"):
        AnchoredSummary(current_state="fine\n## Details\nmore")
    with pytest.raises(ValueError, match="anchor"):
        AnchoredSummary(extra_sections=(("current state", "x"),))


def test_merge_and_render_are_deterministic():
    trail = [ChangedFile("src/cache.py", "created", "LRU"), ChangedFile("x.py", "modified")]
    outputs = {render(merged_three(trail)) for _ in range(5)}
    assert len(outputs) == 1
    assert render(merged_three(trail)).encode() == next(iter(outputs)).encode()


def test_measure_reports_total_and_largest_section():
    summary = merged_three()
    size = measure(summary, len)
    assert size.total == len(render(summary))
    assert [name for name, _ in size.per_section][:5] == [
        "Session Intent", "Files Modified", "Decisions Made", "Current State", "Next Steps"]
    assert size.largest[0] == "Files Modified"
    assert sum(n for _, n in size.per_section) <= size.total


@pytest.mark.parametrize(
    "bullet, key",
    [
        ("src/a.py: fixed", "src/a.py"),
        ("./src/a.py - fixed", "src/a.py"),
        ("`src/a.py` — fixed", "src/a.py"),
        ("**src/a.py**: fixed", "src/a.py"),
        ("src/a.py:12: off-by-one", "src/a.py"),
        ("README.md updated", "README.md"),
        ("Several test files", "several test files"),
    ],
)
def test_file_key(bullet, key):
    assert file_key(bullet) == key
