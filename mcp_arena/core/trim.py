"""Cut a flooding text to head + one marker line + tail, and page the cut part back exactly.

`trim(text, budget, count_tokens, page_call)` keeps a head and a tail of whole
lines that together fit the budget, and puts between them ONE marker line that
says what was left out and names the exact call that pages it back:

    [… mcp-arena: omitted lines 41–2,960 of 3,000 (37,880 tokens). Page back verbatim: memory_search(page=1, seq=1234)]

`page(text, omitted, page_no, page_tokens, count_tokens)` splits the omitted
part into pages 1..N of whole lines (a line longer than a page is split by
characters) and returns one of them verbatim. The property everything rests on:

    text[:omitted.start] + page 1 + … + page N + text[omitted.end:] == text

byte for byte: `\\r\\n`, a missing final newline, unicode and one giant line
included. Lines are split on `\\n` only (never on `\\r`, `\\x0c` or `\\u2028`,
which `str.splitlines` would split on), so offsets and line numbers agree with
what an editor or `sed -n` shows for the same text.

Where it stops: this module knows text, tokens and offsets. Which budget
applies (kind of tool, context pressure), the `_meta` payload and structured
content are `core/shape.py`; logging the original and answering the page call
are the engine's. Pages are deterministic for a given (text, omitted,
page_tokens, tokenizer): the caller must use the same `page_tokens` and
encoding for every page of one logged original.

Token counts are not exactly additive over a split (BPE merges across the cut),
so every bound here is checked by counting the assembled text, never by
summing the parts.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mcp_arena.errors import InvalidArgument

CountTokens = Callable[[str], int]

# The marker line (~50 tokens; 71 with a UUID session in the page call) must fit with room
# to spare; below this a "trim" would be little more than the marker.
MIN_BUDGET_TOKENS = 200
# A page must hold at least a few lines of ordinary text.
MIN_PAGE_TOKENS = 100
HEAD_SHARE = 0.6  # of the content budget; the tail gets the rest (and what the head left unused)
# Galloping start for a character cut: English and code run ~4 characters a
# token; the search doubles from there, so denser or sparser text only costs a
# few more probes.
CHARS_PER_TOKEN_GUESS = 4


@dataclass(frozen=True)
class Span:
    """A stretch `text[start:end]` of an original, in characters and in lines."""

    start: int  # character offset of the first character
    end: int  # character offset just after the last one
    first_line: int  # 1-based line holding `start`
    last_line: int  # 1-based line holding `end - 1`
    total_lines: int  # of the original
    total_chars: int  # of the original
    start_on_line: bool  # `start` is the start of a line
    end_on_line: bool  # `end` is the end of a line (newline included) or of the text

    def describe(self, line_offset: int = 0) -> str:
        """`lines 41–2,960 of 3,000`, with character offsets too when the span cuts a line. With a
        `line_offset` (text whose first line the host shows as line 1 + offset): `lines 60–2,979`,
        the host's numbers, without a total (the text may be a slice of a longer file)."""
        first, last = self.first_line + line_offset, self.last_line + line_offset
        of = f" of {self.total_lines:,}" if not line_offset else ""
        if first == last:
            lines = f"line {first:,}{of}"
        else:
            lines = f"lines {first:,}–{last:,}{of}"
        if self.start_on_line and self.end_on_line:
            return lines
        return f"{lines}, characters {self.start + 1:,}–{self.end:,} of {self.total_chars:,}"


@dataclass(frozen=True)
class Omission(Span):
    """Exactly what a trim left out: `text[start:end]` of the original."""

    tokens: int  # tokens of the omitted text

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for the engine to keep beside the logged original."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Omission:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Trim:
    """A trimmed result: what to show, and what was left out."""

    text: str  # head + marker line + tail: what the model sees
    head: str  # text[:omitted.start]
    marker: str  # the one marker line, without its newline
    tail: str  # text[omitted.end:]
    omitted: Omission
    tokens: int  # tokens of the original
    shown_tokens: int  # tokens of `text`


@dataclass(frozen=True)
class Page(Span):
    """One page of an omitted part, verbatim."""

    number: int  # 1-based
    count: int  # pages in all
    text: str
    tokens: int

    @property
    def has_next(self) -> bool:
        return self.number < self.count

    @property
    def next(self) -> int | None:
        """The number of the next page, None on the last."""
        return self.number + 1 if self.has_next else None


# --------------------------------------------------------------- lines


class _Lines:
    """Line starts of a text, split on `\\n` only; the newline belongs to its line."""

    def __init__(self, text: str) -> None:
        self.text = text
        starts = [0]
        position = text.find("\n")
        while position != -1 and position + 1 < len(text):
            starts.append(position + 1)
            position = text.find("\n", position + 1)
        self.starts = starts

    def __len__(self) -> int:
        return len(self.starts) if self.text else 0

    def span(self, index: int) -> tuple[int, int]:
        """(start, end) of line `index` (0-based), newline included."""
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.text)
        return self.starts[index], end

    def number_at(self, offset: int) -> int:
        """The 1-based line holding character `offset`."""
        return bisect_right(self.starts, offset)

    def is_boundary(self, offset: int) -> bool:
        return offset in (0, len(self.text)) or self.text[offset - 1] == "\n"


    def span_fields(self, start: int, end: int) -> dict[str, Any]:
        """The `Span` fields of `text[start:end]`."""
        return {
            "start": start,
            "end": end,
            "first_line": self.number_at(start),
            "last_line": self.number_at(max(start, end - 1)),
            "total_lines": len(self),
            "total_chars": len(self.text),
            "start_on_line": self.is_boundary(start),
            "end_on_line": self.is_boundary(end),
        }


# --------------------------------------------------------------- character cuts


def _longest_prefix(text: str, start: int, stop: int, budget: int, count: CountTokens) -> int:
    """The largest end in [start, stop] with count(text[start:end]) <= budget."""
    fits, step = start, max(1, budget * CHARS_PER_TOKEN_GUESS)
    probe = min(stop, start + step)
    while count(text[start:probe]) <= budget:
        if probe == stop:
            return stop
        fits, step = probe, step * 2
        probe = min(stop, start + step)
    low, high = fits, probe  # text[start:low] fits, text[start:high] does not
    while high - low > 1:
        middle = (low + high) // 2
        if count(text[start:middle]) <= budget:
            low = middle
        else:
            high = middle
    return low


def _shortest_suffix(text: str, start: int, stop: int, budget: int, count: CountTokens) -> int:
    """The smallest begin in [start, stop] with count(text[begin:stop]) <= budget."""
    fits, step = stop, max(1, budget * CHARS_PER_TOKEN_GUESS)
    probe = max(start, stop - step)
    while count(text[probe:stop]) <= budget:
        if probe == start:
            return start
        fits, step = probe, step * 2
        probe = max(start, stop - step)
    low, high = probe, fits  # text[low:stop] does not fit, text[high:stop] does
    while high - low > 1:
        middle = (low + high) // 2
        if count(text[middle:stop]) <= budget:
            high = middle
        else:
            low = middle
    return high


# --------------------------------------------------------------- head and tail


def _head_end(lines: _Lines, budget: int, count: CountTokens) -> int:
    """End offset of the head: whole lines from the top within `budget`; a first
    line longer than the whole budget is cut by characters."""
    text, end, used = lines.text, 0, 0
    for index in range(len(lines)):
        start, stop = lines.span(index)
        tokens = count(text[start:stop])
        if used + tokens <= budget:
            end, used = stop, used + tokens
            continue
        if tokens > budget:  # a giant line: fill what is left with its first characters
            end = _longest_prefix(text, start, stop, budget - used, count)
        break
    return end


def _tail_start(lines: _Lines, floor: int, budget: int, count: CountTokens) -> int:
    """Start offset of the tail: whole lines from the bottom within `budget`,
    never before `floor`; a last line longer than the whole budget is cut by characters."""
    text, begin, used = lines.text, len(lines.text), 0
    for index in range(len(lines) - 1, -1, -1):
        start, stop = lines.span(index)
        start = max(start, floor)
        if start >= stop:
            break
        tokens = count(text[start:stop])
        if used + tokens <= budget:
            begin, used = start, used + tokens
            continue
        if tokens > budget:
            begin = _shortest_suffix(text, start, stop, budget - used, count)
        break
    return begin


# --------------------------------------------------------------- the marker


def render_call(call: Mapping[str, Any]) -> str:
    """`tool(name=value, …)`, arguments sorted by name, values as JSON: one line, same bytes for the same call."""
    tool = " ".join(str(call["tool"]).split())
    arguments = call.get("arguments") or {}
    rendered = ", ".join(f"{name}={json.dumps(arguments[name], ensure_ascii=False, sort_keys=True)}" for name in sorted(arguments))
    return f"{tool}({rendered})"


def marker_line(omitted: Omission, page_call: Mapping[str, Any], line_offset: int = 0) -> str:
    return (
        f"[… mcp-arena: omitted {omitted.describe(line_offset)} ({omitted.tokens:,} tokens). "
        f"Page back verbatim: {render_call(page_call)}]"
    )


def _assemble(head: str, marker: str, tail: str) -> str:
    before = "\n" if head and not head.endswith("\n") else ""
    after = "\n" if tail else ""
    return f"{head}{before}{marker}{after}{tail}"


# --------------------------------------------------------------- trim


def trim(
    text: str,
    budget_tokens: int,
    count_tokens: CountTokens,
    page_call: Mapping[str, Any],
    head_share: float = HEAD_SHARE,
    keep_tail: bool = True,
    line_offset: int = 0,
) -> Trim | None:
    """Head + marker + tail within `budget_tokens`, or None when the text fits.

    Also None when trimming would save fewer tokens than the marker costs
    (a text just over the budget): hiding text behind a marker must pay for it. `page_call` is the call
    that pages the omitted part back (`{"tool": …, "arguments": {…}}`), named
    verbatim in the marker. `keep_tail=False` keeps the head only (the whole budget) and omits
    everything after it: for a host that numbers the lines it shows one after another, where a
    tail after the marker would be shown under the wrong line numbers; `line_offset` is then the
    host's number of the text's first line minus 1, and the marker names lines by the host's numbers.
    """
    if budget_tokens < MIN_BUDGET_TOKENS:
        raise ValueError(f"budget_tokens must be at least {MIN_BUDGET_TOKENS}, got {budget_tokens}")
    if not 0.0 <= head_share <= 1.0:
        raise ValueError(f"head_share must be within 0..1, got {head_share}")
    tokens = count_tokens(text)
    if tokens <= budget_tokens:
        return None
    lines = _Lines(text)
    worst = Omission(**{**lines.span_fields(0, len(text)), "first_line": len(lines), "start_on_line": False}, tokens=tokens)
    content = budget_tokens - count_tokens(marker_line(worst, page_call, line_offset)) - 2
    while True:
        result = _trim_within(lines, tokens, max(content, 0), count_tokens, page_call, head_share if keep_tail else 1.0, keep_tail, line_offset)
        if result is None or result.shown_tokens <= budget_tokens or content <= 0:
            return result
        content -= result.shown_tokens - budget_tokens  # the parts did not add up: shrink and retry


def _trim_within(
    lines: _Lines,
    tokens: int,
    content: int,
    count: CountTokens,
    page_call: Mapping[str, Any],
    head_share: float,
    keep_tail: bool = True,
    line_offset: int = 0,
) -> Trim | None:
    text = lines.text
    head_end = _head_end(lines, int(content * head_share), count)
    head_tokens = count(text[:head_end])
    tail_start = _tail_start(lines, head_end, content - head_tokens, count) if keep_tail else len(text)
    if tail_start <= head_end:
        return None  # head and tail meet: nothing left to omit
    omitted = Omission(**lines.span_fields(head_end, tail_start), tokens=count(text[head_end:tail_start]))
    marker = marker_line(omitted, page_call, line_offset)
    head, tail = text[:head_end], text[tail_start:]
    shown = _assemble(head, marker, tail)
    shown_tokens = count(shown)
    if tokens - shown_tokens < count(marker):
        return None  # hiding text behind a marker must save at least the marker
    return Trim(shown, head, marker, tail, omitted, tokens, shown_tokens)


# --------------------------------------------------------------- pages


def page_spans(text: str, omitted: Omission, page_tokens: int, count_tokens: CountTokens) -> list[tuple[int, int]]:
    """(start, end) of every page of the omitted part, in order; they tile it exactly."""
    if page_tokens < MIN_PAGE_TOKENS:
        raise ValueError(f"page_tokens must be at least {MIN_PAGE_TOKENS}, got {page_tokens}")
    spans: list[tuple[int, int]] = []
    position = omitted.start
    while position < omitted.end:
        stop = _page_end(text, position, omitted.end, page_tokens, count_tokens)
        spans.append((position, stop))
        position = stop
    return spans


def _page_end(text: str, start: int, limit: int, budget: int, count: CountTokens) -> int:
    """End of the page that starts at `start`: whole lines within `budget`, or
    the first characters of a line longer than a page."""
    ends: list[int] = []  # ends of the whole lines taken so far
    used, position = 0, start
    while position < limit:
        newline = text.find("\n", position, limit)
        stop = limit if newline == -1 else newline + 1
        if _surely_over(text, position, stop, budget - used, count):
            break
        tokens = count(text[position:stop])
        if used + tokens > budget:
            break
        ends.append(stop)
        used, position = used + tokens, stop
    while ends and count(text[start : ends[-1]]) > budget:
        ends.pop()  # the lines did not add up: give the last one back
    if ends:
        return ends[-1]
    newline = text.find("\n", start, limit)
    line_end = limit if newline == -1 else newline + 1
    return max(start + 1, _longest_prefix(text, start, line_end, budget, count))


def _surely_over(text: str, start: int, stop: int, budget: int, count: CountTokens) -> bool:
    """True when a prefix of `text[start:stop]` already exceeds `budget`: spares
    counting a whole giant line once per page (a 1 MB line, 200 pages)."""
    if budget <= 0:
        return start < stop
    probe = start + budget * CHARS_PER_TOKEN_GUESS * 2
    return probe < stop and count(text[start:probe]) > budget


def pages(text: str, omitted: Omission, page_tokens: int, count_tokens: CountTokens) -> list[Page]:
    """Every page of what `omitted` left out of `text`, in order, verbatim."""
    if len(text) != omitted.total_chars or omitted.end > len(text):
        raise InvalidArgument(
            f"this omission was cut from a text of {omitted.total_chars:,} characters, not {len(text):,}: page the logged original"
        )
    spans = page_spans(text, omitted, page_tokens, count_tokens)
    lines = _Lines(text)
    return [
        Page(**lines.span_fields(start, end), number=number, count=len(spans), text=text[start:end], tokens=count_tokens(text[start:end]))
        for number, (start, end) in enumerate(spans, start=1)
    ]


def page(text: str, omitted: Omission, page_no: int, page_tokens: int, count_tokens: CountTokens) -> Page:
    """Page `page_no` (1-based) of what `omitted` left out of `text`, verbatim.

    Finding page N walks the omitted part from its start (boundaries depend on
    every page before it); a caller that serves many pages of one original can
    keep `pages(...)` instead."""
    every = pages(text, omitted, page_tokens, count_tokens)
    if not 1 <= page_no <= len(every):
        raise InvalidArgument(f"page {page_no} does not exist: the omitted part has pages 1–{len(every)}")
    return every[page_no - 1]


def page_note(page: Page, seq: int, next_call: Mapping[str, Any] | None) -> str:
    """One line to put after a page: where it sits, and the call for the next one."""
    where = f"[mcp-arena: page {page.number} of {page.count} of seq {seq}: {page.describe()} ({page.tokens:,} tokens), verbatim."
    if next_call is None:
        return where + " Last page.]"
    return where + f" Next: {render_call(next_call)}]"
