"""The result shaper's rules: kinds, graded budgets, trim + exact page-back, structured content, `_meta`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mcp_arena.core import skills
from mcp_arena.core.shape import (
    DEFAULT_BUDGETS,
    KINDS,
    META_KEY,
    PAGE_TOKENS,
    Budgets,
    bare_tool_name,
    classify,
    head_share,
    page_meta,
    shape,
    shape_structured,
    trim_meta,
)
from mcp_arena.core.tokens import TokenCounter
from mcp_arena.core.trim import MIN_BUDGET_TOKENS, Omission, page, page_note, page_spans, pages, render_call, trim
from mcp_arena.errors import InvalidArgument
from mcp_arena.feeds.formats import read_sessions
from tests.helpers import CORPUS

count = TokenCounter("o200k_base").count
PAGE_CALL = {"tool": "memory_search", "arguments": {"seq": 1234, "page": 1, "session": "s-1"}}
FILESYSTEM_OUTPUT_SCHEMA = {"type": "object", "properties": {"content": {"type": "string"}}, "required": ["content"]}


def corpus_results() -> list[tuple[str, dict, str]]:
    """(tool, call arguments, text) of every distinct tool result in the public corpus."""
    found: dict[tuple[str, str], dict] = {}
    for path in sorted(p for p in CORPUS.rglob("*") if p.suffix in (".jsonl", ".json", ".traj")):
        for _session, events in read_sessions(path):
            arguments: dict[str, dict] = {}
            for event in events:
                if event.kind == "tool_call":
                    value = json.loads(event.text)
                    arguments[event.call_id] = value if isinstance(value, dict) else {}
                elif event.kind == "tool_result":
                    found.setdefault((event.tool, event.text), arguments.get(event.call_id, {}))
    return [(tool, args, text) for (tool, text), args in found.items()]


CORPUS_RESULTS = corpus_results()
LONG_RESULTS = sorted((r for r in CORPUS_RESULTS if count(r[2]) > 1_000), key=lambda r: (r[0], r[2]))


def lines_of(n: int, width: int = 6) -> str:
    return "".join(f"line {i:>{width}} of the output, with some words\n" for i in range(1, n + 1))


def all_pages(text: str, trimmed, page_tokens: int) -> list:
    """Every page, and `page(n)` agrees with it on the first, second and last."""
    every = pages(text, trimmed.omitted, page_tokens, count)
    for number in sorted({1, min(2, len(every)), len(every)}):
        assert page(text, trimmed.omitted, number, page_tokens, count) == every[number - 1]
    return every


def assert_round_trip(text: str, budget: int, page_tokens: int) -> None:
    trimmed = trim(text, budget, count, PAGE_CALL)
    assert trimmed is not None
    assert trimmed.shown_tokens <= budget
    assert trimmed.shown_tokens == count(trimmed.text)
    assert trimmed.head == text[: trimmed.omitted.start] and trimmed.tail == text[trimmed.omitted.end :]
    every = all_pages(text, trimmed, page_tokens)
    assert trimmed.head + "".join(p.text for p in every) + trimmed.tail == text
    assert all(p.tokens == count(p.text) <= page_tokens for p in every)
    assert [p.number for p in every] == list(range(1, len(every) + 1))
    assert [p.next for p in every] == [*range(2, len(every) + 1), None]
    assert sum(p.end - p.start for p in every) == trimmed.omitted.end - trimmed.omitted.start


# --- classify -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments", "kind"),
    [
        ("Bash", {"command": "pytest -x"}, "command"),
        ("Bash", {"command": "cat src/app.py"}, "file"),
        ("bash", {"command": "cd repo && ls -la"}, "listing"),
        ("Bash", {"command": "grep -rn TODO src | head -50"}, "listing"),
        ("Bash", {"command": "cat notes.txt | grep flag"}, "listing"),
        ("Bash", {"command": "pytest 2>&1 | tail -20"}, "command"),
        ("Bash", {"command": "tail -f /var/log/syslog"}, "log"),
        ("Bash", {"command": "cat build/output.log"}, "log"),
        ("Bash", {"command": "docker logs web"}, "log"),
        ("Bash", {"command": "curl -s https://example.com"}, "web"),
        ("Bash", {"command": "sed -n 1,80p module.py"}, "file"),
        ("Bash", {"command": "sed -i s/a/b/ module.py"}, "command"),
        ("Bash", {"command": "FOO=1 sudo /bin/cat x.py"}, "file"),
        ("Bash", {"command": 'echo "unbalanced'}, "command"),
        ("run", {"command": "find src -name '*.pony'"}, "listing"),
        ("shell", {"command": ["bash", "-lc", "cat README.md"]}, "file"),
        ("Bash", {}, "command"),
        ("Read", {"file_path": "/a.py"}, "file"),
        ("mcp__filesystem__read_text_file", {"path": "/a.py"}, "file"),
        ("mcp__filesystem__read_multiple_files", {"paths": ["/a.py"]}, "file"),
        ("mcp__github__get_file_contents", {"path": "a.py"}, "file"),
        ("filesystem/read_file", {"path": "/a.py"}, "file"),
        ("MCP__FileSystem__Read_File", {}, "file"),
        ("open", {"path": "a.py", "line_number": 3}, "file"),
        ("edit", {"text": "x"}, "file"),
        ("Grep", {"pattern": "x"}, "listing"),
        ("Glob", {"pattern": "**/*.py"}, "listing"),
        ("mcp__filesystem__search_files", {"pattern": "x"}, "listing"),
        ("mcp__filesystem__list_directory", {"path": "."}, "listing"),
        ("mcp__filesystem__directory_tree", {"path": "."}, "listing"),
        ("find_file", {"file_name": "a.py"}, "listing"),
        ("WebFetch", {"url": "https://x"}, "web"),
        ("mcp__fetch__fetch", {"url": "https://x"}, "web"),
        ("WebSearch", {"query": "x"}, "web"),
        ("mcp__k8s__get_logs", {"pod": "x"}, "log"),
        ("execute_command", {"command": "make"}, "command"),
        ("submit", {}, "command"),
        ("Task", {"prompt": "x"}, "other"),
        ("mcp__arena__context_status", {}, "other"),
        ("", None, "other"),
    ],
)
def test_classify(tool, arguments, kind):
    assert classify(tool, arguments) == kind


def test_bare_tool_name_agrees_with_the_skill_catalog():
    for name in ("mcp__fs__read_file", "fs/read_file", "fs.read_file", "fs:read_file", "Read", "mcp__a__b__c", "__"):
        assert bare_tool_name(name) == skills.bare_tool_name(name)


def test_every_corpus_result_gets_a_kind():
    kinds = {classify(tool, arguments) for tool, arguments, _text in CORPUS_RESULTS}
    assert kinds <= set(KINDS)
    assert {"command", "listing", "web", "file", "other"} <= kinds


# --- budgets ----------------------------------------------------------------------


def test_command_output_logs_and_listings_are_cut_harder_than_a_file_read():
    for usage in (None, 0.1, 0.95):
        file_budget = DEFAULT_BUDGETS.tokens_for("file", usage)
        for kind in ("command", "log", "listing"):
            assert DEFAULT_BUDGETS.tokens_for(kind, usage) < file_budget


def test_budgets_tighten_past_stage_one():
    for kind in KINDS:
        calm = DEFAULT_BUDGETS.tokens_for(kind, None)
        assert DEFAULT_BUDGETS.tokens_for(kind, 0.0) == calm
        assert DEFAULT_BUDGETS.tokens_for(kind, 0.79) == calm
        assert DEFAULT_BUDGETS.tokens_for(kind, 0.80) == max(MIN_BUDGET_TOKENS, calm // 2)
        assert DEFAULT_BUDGETS.tokens_for(kind, 1.0) < calm


def test_budgets_follow_their_settings_and_never_drop_below_the_minimum():
    budgets = Budgets(command=300, stage1=0.5, pressure_factor=0.1)
    assert budgets.tokens_for("command", 0.4) == 300
    assert budgets.tokens_for("command", 0.6) == MIN_BUDGET_TOKENS
    with pytest.raises(ValueError, match="at least"):
        Budgets(file=10)
    with pytest.raises(ValueError, match="pressure_factor"):
        Budgets(pressure_factor=0)
    with pytest.raises(ValueError, match="unknown kind"):
        budgets.tokens_for("image")


def test_pressure_shrinks_a_shaped_result():
    text = lines_of(2_000)
    calm = shape(text, "Bash", {"command": "make"}, count, PAGE_CALL, usage=0.5)
    pressed = shape(text, "Bash", {"command": "make"}, count, PAGE_CALL, usage=0.9)
    assert calm is not None and pressed is not None
    assert pressed.shown_tokens <= DEFAULT_BUDGETS.command // 2 < calm.shown_tokens <= DEFAULT_BUDGETS.command


# --- small results stay whole -------------------------------------------------------


def test_small_results_are_untouched():
    assert trim("", 500, count, PAGE_CALL) is None
    assert trim("one short line", 500, count, PAGE_CALL) is None
    assert trim(lines_of(20), 500, count, PAGE_CALL) is None
    for tool, arguments, text in CORPUS_RESULTS:
        if count(text) <= DEFAULT_BUDGETS.tokens_for(classify(tool, arguments)):
            assert shape(text, tool, arguments, count, PAGE_CALL) is None


def test_nothing_is_trimmed_when_the_marker_would_cost_what_it_saves():
    budget = 500
    just_over = next(lines_of(n) for n in range(1, 100) if count(lines_of(n)) > budget)
    assert count(just_over) <= budget + 20
    assert trim(just_over, budget, count, PAGE_CALL) is None
    for n in range(30, 80):
        trimmed = trim(lines_of(n), budget, count, PAGE_CALL)
        assert trimmed is None or trimmed.tokens - trimmed.shown_tokens >= count(trimmed.marker)
    assert trim(lines_of(80), budget, count, PAGE_CALL) is not None


def test_budget_below_the_minimum_is_refused():
    with pytest.raises(ValueError, match="at least"):
        trim(lines_of(1_000), MIN_BUDGET_TOKENS - 1, count, PAGE_CALL)
    with pytest.raises(ValueError, match="at least"):
        page_spans("x", Omission(0, 1, 1, 1, 1, 1, True, True, 1), 10, count)


# --- the marker -----------------------------------------------------------------------


def test_marker_is_one_line_naming_the_page_call_verbatim():
    text = lines_of(3_000)
    trimmed = trim(text, 2_000, count, PAGE_CALL)
    assert trimmed is not None
    assert "\n" not in trimmed.marker
    assert trimmed.text == trimmed.head + trimmed.marker + "\n" + trimmed.tail
    assert render_call(PAGE_CALL) == 'memory_search(page=1, seq=1234, session="s-1")'
    assert trimmed.marker.endswith(f"Page back verbatim: {render_call(PAGE_CALL)}]")
    omitted = trimmed.omitted
    assert trimmed.marker == (
        f"[… mcp-arena: omitted lines {omitted.first_line:,}–{omitted.last_line:,} of 3,000 "
        f"({omitted.tokens:,} tokens). Page back verbatim: memory_search(page=1, seq=1234, session=\"s-1\")]"
    )
    assert text.splitlines()[omitted.first_line - 1] == text[omitted.start :].split("\n", 1)[0]


def test_the_rendered_call_parses_back_to_the_same_arguments():
    call = {"tool": "memory_search", "arguments": {"session": 'a "quoted"\nname', "seq": 7, "page": 2, "extra": [1, {"b": None}]}}
    rendered = render_call(call)
    assert "\n" not in rendered
    assert rendered == render_call({"tool": "memory_search", "arguments": dict(reversed(call["arguments"].items()))})
    tool, inner = re.fullmatch(r"(\w+)\((.*)\)", rendered).groups()
    decoder, parsed, position = json.JSONDecoder(), {}, 0
    while position < len(inner):
        name, _, rest = inner[position:].partition("=")
        value, used = decoder.raw_decode(rest)
        parsed[name.lstrip(", ")] = value
        position += len(name) + 1 + used
    assert tool == "memory_search" and parsed == call["arguments"]


def test_trim_is_deterministic():
    text = lines_of(3_000)
    assert trim(text, 1_000, count, PAGE_CALL) == trim(text, 1_000, count, dict(PAGE_CALL))


def test_command_output_keeps_more_tail_than_head():
    text = lines_of(3_000)
    trimmed = shape(text, "Bash", {"command": "pytest"}, count, PAGE_CALL)
    as_file = shape(text, "Read", {"file_path": "x"}, count, PAGE_CALL, budgets=Budgets(file=DEFAULT_BUDGETS.command))
    assert trimmed is not None and as_file is not None
    assert count(trimmed.tail) > count(trimmed.head)
    assert count(as_file.head) > count(as_file.tail)
    assert head_share("command") < 0.5 < head_share("file")


@pytest.mark.parametrize("first", [1, 41])
def test_a_view_the_host_numbers_keeps_its_head_only_and_names_lines_by_the_host_s_numbers(first):
    """Claude Code numbers a Read's lines from `startLine` one after another: a tail after the marker would be shown
    under wrong numbers, so a numbered view keeps the head only, and its marker row is the first omitted line."""
    text = lines_of(3_000)
    trimmed = shape(text, "Read", {"file_path": "x"}, count, PAGE_CALL, numbered_from=first)
    assert trimmed is not None and trimmed.tail == "" and trimmed.text == trimmed.head + trimmed.marker
    assert trimmed.shown_tokens <= DEFAULT_BUDGETS.file and count(trimmed.head) > DEFAULT_BUDGETS.file * 0.8  # the budget goes to the head
    kept = trimmed.head.count("\n")
    expected = f"omitted lines {first + kept:,}–{first + 2_999:,} (" if first != 1 else f"omitted lines {1 + kept:,}–3,000 of 3,000 ("
    assert expected in trimmed.marker
    every = pages(text, trimmed.omitted, PAGE_TOKENS, count)
    assert trimmed.head + "".join(p.text for p in every) == text


def test_a_web_search_keeps_its_summary_and_cuts_its_link_list():
    links = "Links: " + json.dumps([{"title": f"Result {n} about xterm.js scrolling", "url": f"https://example.org/{n}"} for n in range(60)])
    summary = "\n".join(f"Summary line {n}: the scroll events are captured by the viewport." for n in range(12))
    text = f'Web search results for query: "xterm scroll"\n\n{links}\n\n{summary}'
    trimmed = shape(text, "WebSearch", {"query": "xterm scroll"}, count, PAGE_CALL)
    assert trimmed is not None and trimmed.shown_tokens <= DEFAULT_BUDGETS.web
    assert trimmed.head.startswith(text[:80]) and trimmed.tail.endswith(summary) and summary in trimmed.tail
    assert "characters" in trimmed.marker  # the one long link line is cut by characters
    assert head_share("web") < 0.5


# --- round trip: head + every page + tail == the original ------------------------------


@pytest.mark.parametrize("tool_args_text", LONG_RESULTS, ids=lambda r: f"{r[0]}-{count(r[2])}")
def test_round_trip_on_every_long_corpus_result(tool_args_text):
    _tool, _arguments, text = tool_args_text
    assert_round_trip(text, budget=400, page_tokens=500)


def test_the_corpus_has_long_results_to_round_trip():
    assert len(LONG_RESULTS) >= 10


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(lines_of(800), id="plain"),
        pytest.param(lines_of(800).rstrip("\n"), id="no-final-newline"),
        pytest.param(lines_of(800).replace("\n", "\r\n"), id="crlf"),
        pytest.param("".join(f"{i}: naïve café — 漢字かな 🙂👩🏽‍💻 Ωμέγα\n" for i in range(600)), id="unicode"),
        pytest.param("x" * 10 + "漢字 🙂 minified{json:[1,2,3]} " * 4_000, id="one-giant-line"),
        pytest.param("head\n" + "🙂 " * 20_000 + "\ntail\n", id="giant-middle-line"),
        pytest.param("\n \n" * 3_000, id="blank-lines"),
        pytest.param("a\r" * 5_000 + "end", id="carriage-returns-only"),
        pytest.param(lines_of(300) + "z" * 30_000 + "\n" + lines_of(300), id="giant-line-among-lines"),
    ],
)
def test_round_trip_on_awkward_text(text):
    assert_round_trip(text, budget=300, page_tokens=400)


def test_a_giant_line_is_cut_by_characters():
    text = "漢字 🙂 word " * 30_000  # one line, no newline at all
    trimmed = trim(text, 1_000, count, PAGE_CALL)
    assert trimmed is not None and trimmed.head and trimmed.tail
    assert (trimmed.omitted.first_line, trimmed.omitted.last_line, trimmed.omitted.total_lines) == (1, 1, 1)
    assert not trimmed.omitted.start_on_line and not trimmed.omitted.end_on_line
    assert f"characters {trimmed.omitted.start + 1:,}–{trimmed.omitted.end:,} of {len(text):,}" in trimmed.marker
    assert trimmed.marker in trimmed.text.splitlines()


def test_shown_text_fits_even_when_token_counts_do_not_add_up():
    def superadditive(text: str) -> int:  # the whole costs more than its parts
        return len(text) // 4 + len(text) ** 2 // 2_000_000

    text = lines_of(4_000)
    trimmed = trim(text, 1_500, superadditive, PAGE_CALL)
    assert trimmed is not None and trimmed.shown_tokens == superadditive(trimmed.text) <= 1_500
    some = [page(text, trimmed.omitted, n, 700, superadditive) for n in range(1, 4)]
    assert all(p.tokens <= 700 for p in some)


# --- pages ------------------------------------------------------------------------------


def test_pages_are_bounded_deterministic_and_name_their_lines():
    text = lines_of(3_000)
    trimmed = trim(text, 2_000, count, PAGE_CALL)
    assert trimmed is not None
    every = all_pages(text, trimmed, PAGE_TOKENS)
    assert len(every) > 3
    assert all(p.tokens <= PAGE_TOKENS for p in every)
    assert all(p.start_on_line and p.end_on_line for p in every)  # whole lines when no line is giant
    assert every[0].first_line == trimmed.omitted.first_line and every[-1].last_line == trimmed.omitted.last_line
    assert all(a.last_line + 1 == b.first_line for a, b in zip(every, every[1:]))
    assert page(text, trimmed.omitted, 2, PAGE_TOKENS, count) == every[1]
    assert every[1].text == "".join(text.splitlines(keepends=True)[every[1].first_line - 1 : every[1].last_line])


def test_a_page_that_does_not_exist_names_the_valid_ones():
    text = lines_of(3_000)
    trimmed = trim(text, 2_000, count, PAGE_CALL)
    assert trimmed is not None
    last = len(page_spans(text, trimmed.omitted, PAGE_TOKENS, count))
    for wrong in (0, last + 1):
        with pytest.raises(InvalidArgument, match=f"pages 1–{last}"):
            page(text, trimmed.omitted, wrong, PAGE_TOKENS, count)
    with pytest.raises(InvalidArgument, match="logged original"):
        page(text + "changed", trimmed.omitted, 1, PAGE_TOKENS, count)


def test_omission_survives_json():
    trimmed = trim(lines_of(3_000), 2_000, count, PAGE_CALL)
    assert trimmed is not None
    stored = json.loads(json.dumps(trimmed.omitted.as_dict()))
    assert Omission.from_dict(stored) == trimmed.omitted


def test_page_note_names_the_next_call():
    text = lines_of(3_000)
    trimmed = trim(text, 2_000, count, PAGE_CALL)
    assert trimmed is not None
    first = page(text, trimmed.omitted, 1, PAGE_TOKENS, count)
    next_call = {"tool": "memory_search", "arguments": {"seq": 1234, "page": 2}}
    note = page_note(first, 1234, next_call)
    assert "\n" not in note
    assert note.startswith(f"[mcp-arena: page 1 of {first.count} of seq 1234: lines {first.first_line:,}–{first.last_line:,} of 3,000")
    assert note.endswith("Next: memory_search(page=2, seq=1234)]")
    last = page(text, trimmed.omitted, first.count, PAGE_TOKENS, count)
    assert page_note(last, 1234, None).endswith("Last page.]")


# --- structured content -------------------------------------------------------------------


def _validate(instance: object, schema: dict) -> None:
    try:
        import jsonschema
    except ImportError:  # not installed: check the one shape this schema asks for
        assert isinstance(instance, dict) and isinstance(instance.get("content"), str)
        return
    jsonschema.validate(instance, schema)


def test_structured_content_repeating_the_text_is_trimmed_the_same_way():
    text = lines_of(3_000)
    trimmed = shape(text, "mcp__filesystem__read_text_file", {"path": "/big.txt"}, count, PAGE_CALL)
    assert trimmed is not None
    structured = {"content": text}
    shaped = shape_structured(structured, text, trimmed.text)
    _validate(shaped, FILESYSTEM_OUTPUT_SCHEMA)
    assert shaped == {"content": trimmed.text}
    assert structured == {"content": text}  # the input is not modified


def test_structured_replacement_is_recursive_and_touches_nothing_else():
    text, shown = "the original\n" * 3, "the shown"
    structured = {"files": [{"path": "a", "content": text}, {"path": "b", "content": "other"}], "n": 2, "ok": True, "none": None, text[:5]: text}
    assert shape_structured(structured, text, shown) == {
        "files": [{"path": "a", "content": shown}, {"path": "b", "content": "other"}],
        "n": 2,
        "ok": True,
        "none": None,
        text[:5]: shown,
    }
    assert shape_structured(text, text, shown) == shown
    assert shape_structured(None, text, shown) is None


# --- the _meta payload ----------------------------------------------------------------------


def test_trim_meta_says_where_the_original_is_and_how_to_page_it():
    text = lines_of(3_000)
    trimmed = trim(text, 2_000, count, PAGE_CALL)
    assert trimmed is not None
    meta = {META_KEY: trim_meta(1234, trimmed, PAGE_CALL)}
    assert META_KEY == "mcp-arena/trim"
    assert meta[META_KEY] == {
        "seq": 1234,
        "tokens": count(text),
        "shown_tokens": count(trimmed.text),
        "page": {"tool": "memory_search", "arguments": {"seq": 1234, "page": 1, "session": "s-1"}},
    }
    json.dumps(meta)


def test_page_meta_names_the_next_page_until_the_last():
    text = lines_of(3_000)
    trimmed = trim(text, 2_000, count, PAGE_CALL)
    assert trimmed is not None
    every = all_pages(text, trimmed, PAGE_TOKENS)
    next_call = {"tool": "memory_search", "arguments": {"seq": 1234, "page": 2}}
    first = page_meta(1234, trimmed.tokens, every[0], next_call)
    assert first == {"seq": 1234, "tokens": trimmed.tokens, "shown_tokens": every[0].tokens, "page": next_call}
    assert page_meta(1234, trimmed.tokens, every[-1], None) == {"seq": 1234, "tokens": trimmed.tokens, "shown_tokens": every[-1].tokens}


def test_the_shaper_is_pure():
    source = Path(__file__).resolve().parents[1] / "mcp_arena" / "core"
    for name in ("shape.py", "trim.py"):
        imports = [line for line in (source / name).read_text().splitlines() if line.startswith(("import ", "from "))]
        assert not [line for line in imports if re.search(r"lancedb|\bmcp\b(?!_arena)|threading|engine|yaml|open\(", line)]
