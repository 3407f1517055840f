"""How an event's text is cut into passages for recall: overlapping windows of about `CHUNK_TOKENS` model tokens.

The embedding model reads 256 tokens of a text and no more, and one vector (or one BM25
score) for a whole 8k-token log dilutes a single sentence in it to nothing. So an event
whose text the model reads whole (at most `WHOLE_TOKENS`, estimated) stays one chunk,
numbered 0 and holding the whole text; a longer one is cut into windows numbered 1, 2, …
of up to `CHUNK_TOKENS`, each sharing up to `OVERLAP_TOKENS` with the one before. Windows
are made of whole lines: a line of a log or a file (up to CHUNK_TOKENS - OVERLAP_TOKENS)
is never cut, so a fact on one line lies whole in one window; a longer line (prose, minified
JSON) is taken in runs of OVERLAP_TOKENS / 2, and any stretch of that length lies whole in
one window. An event finds its place in a search by its best chunk.

Small windows because the rest of a window dilutes the fact: on the bench's buried facts
(lab/buried.py, 24 facts in 2k–20k-token logs among 10,000 events) the vector leg alone
found 0.42 of them in its top 5 with windows of 200 tokens, 0.50 with windows of 96 or 64
made of lines (0.58 and 0.67 with the vectors' residual, see vectors.py); 96 keeps the
rows per event at half of 64's for the same tokens embedded.

Tokens are estimated here without the model's tokenizer (this stays pure and costs no
load): a run of ASCII letters is one WordPiece token per 6 letters or part of them (per 3
with accents), a run of digits one per 3, any other visible character one. On logs, code
and JSON that is 5–10% under the real count, on prose and CJK about exact
(tests/test_chunks.py holds windows of such texts inside the model's 256 tokens).

Beyond `MAX_CHUNKS` windows (~34k tokens of a log) the rest of a huge result is left to
full text: embedding costs ~0.2 ms a token on one core, and a megabyte-sized result must
not hold the model for minutes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

# The model's window, less [CLS] and [SEP]: a text estimated within it is embedded whole.
WHOLE_TOKENS = 254
# A window of a long text, and what two neighbours share at most (see above for the measurement).
CHUNK_TOKENS = 96
OVERLAP_TOKENS = 30
MAX_CHUNKS = 512

_PIECE = re.compile(r"[A-Za-z\u00c0-\u024f]+|[0-9]+|\S")
_LINE = re.compile(r"[^\n]*\S[^\n]*")
_LETTERS_PER_TOKEN = 6
_DIGITS_PER_TOKEN = 3


@dataclass(frozen=True)
class Chunk:
    number: int  # 0: the whole text; 1..n: the n-th window of a long text
    start: int  # character offsets into the text
    end: int

    def of(self, text: str) -> str:
        return text[self.start : self.end]


def piece_tokens(piece: str) -> int:
    """Estimated WordPiece tokens of one piece (a letter run, a digit run, or one sign)."""
    first = piece[0]
    if first.isdigit():
        return -(-len(piece) // _DIGITS_PER_TOKEN)
    if first.isalpha() and len(piece) > 1:
        # Accents are stripped and such words are rarer in the vocabulary: they split finer.
        per_token = _LETTERS_PER_TOKEN if piece.isascii() else _LETTERS_PER_TOKEN // 2
        return -(-len(piece) // per_token)
    return 1


def estimate_tokens(text: str) -> int:
    return sum(piece_tokens(match.group()) for match in _PIECE.finditer(text))


def fits_whole(text: str, whole_tokens: int = WHOLE_TOKENS) -> bool:
    """Whether the text is one chunk (0), reading no further than its first `whole_tokens` pieces."""
    if len(text) <= whole_tokens:  # every piece is at least one character
        return True
    tokens = 0
    for match in _PIECE.finditer(text):
        tokens += piece_tokens(match.group())
        if tokens > whole_tokens:
            return False
    return True


def chunks_of(
    text: str,
    *,
    chunk_tokens: int = CHUNK_TOKENS,
    overlap_tokens: int = OVERLAP_TOKENS,
    whole_tokens: int = WHOLE_TOKENS,
    max_chunks: int = MAX_CHUNKS,
) -> list[Chunk]:
    """The chunks of a text: one (number 0) when it fits the model whole, else overlapping windows 1..n."""
    if not 0 < overlap_tokens < chunk_tokens:
        raise ValueError(f"the overlap ({overlap_tokens}) must be above 0 and below a chunk ({chunk_tokens})")
    if fits_whole(text, whole_tokens):
        return [Chunk(0, 0, len(text))]
    units = list(_units(text, chunk_tokens - overlap_tokens, max(1, overlap_tokens // 2)))
    return _windows(units, chunk_tokens, overlap_tokens, max_chunks)


def _units(text: str, whole_line: int, run: int) -> Iterator[tuple[int, int, int]]:
    """(start, end, tokens) of what windows are made of: each line of up to `whole_line` tokens whole
    (a line of a log is never cut), a longer line in runs of up to `run` tokens."""
    for line in _LINE.finditer(text):
        pieces = [(m.start() + line.start(), m.end() + line.start(), piece_tokens(m.group())) for m in _PIECE.finditer(line.group())]
        if sum(tokens for _, _, tokens in pieces) <= whole_line:
            yield pieces[0][0], pieces[-1][1], sum(tokens for _, _, tokens in pieces)
            continue
        first, tokens = 0, 0
        for number, (_, _, cost) in enumerate(pieces):
            if number > first and tokens + cost > run:
                yield pieces[first][0], pieces[number - 1][1], tokens
                first, tokens = number, 0
            tokens += cost
        yield pieces[first][0], pieces[-1][1], tokens


def _windows(units: list[tuple[int, int, int]], size: int, overlap: int, max_chunks: int) -> list[Chunk]:
    """Windows of as many units as fit in `size` tokens (at least one), the next starting at the last
    units of this one that fit in `overlap` (always after this one's start)."""
    chunks: list[Chunk] = []
    first, count = 0, len(units)
    while first < count and len(chunks) < max_chunks:
        last, tokens = first, 0
        while last < count and (last == first or tokens + units[last][2] <= size):
            tokens += units[last][2]
            last += 1
        chunks.append(Chunk(len(chunks) + 1, units[first][0], units[last - 1][1]))
        if last == count:
            break
        following, shared = last, 0
        while following - 1 > first and shared + units[following - 1][2] <= overlap:
            shared += units[following - 1][2]
            following -= 1
        first = following
    return chunks
