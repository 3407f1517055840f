"""Ranking maths of recall, pure: fusion of the two legs, term coverage, snippets, the token budget.

No LanceDB and no model here: lists of seqs and strings in, lists and strings out. The
query path (`index.py`) fetches the rows and calls these to order and cut them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence

RRF_K = 60
# Full-text hits weigh (share of query terms they contain) ** 3 in the fusion.
# On the bench's probes, squared beat linear and flat weights for paraphrased
# queries (0.90 vs 0.75 recall@5) and kept keyword queries at 1.00. Cubed since
# long results are searched by window: a window of a log matching one or two
# words of a question, and near it in meaning, outranked the one window holding
# both of its words (buried facts, lab/buried.py: keyword recall 0.96 -> 1.00
# at 10,000 events; paraphrase recall unchanged).
COVERAGE_POWER = 3
MIN_SNIPPET_TOKENS = 30
CHARS_PER_TOKEN = 4

_SPACE = re.compile(r"\s+")


def estimate_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


# -- fusion -----------------------------------------------------------------------------------


def rrf_fuse(
    ranked_lists: Mapping[str, Sequence[int]],
    k: int = RRF_K,
    *,
    weights: Mapping[str, Mapping[int, float]] | None = None,
    unranked_twice: Iterable[int] = (),
) -> list[tuple[int, float, tuple[str, ...]]]:
    """Weighted reciprocal-rank fusion: (seq, score, legs) best first, ties by seq.

    A hit adds weight / (k + rank) per leg (weight 1 unless `weights[leg][seq]`
    says otherwise). `unranked_twice` names events the vector leg could not rank
    at all (not embedded yet): their full-text share counts twice, standing in
    for the missing vector rank, so a fresh event is not outranked for being fresh.
    """
    weights = weights or {}
    stand_in = set(unranked_twice)
    scores: dict[int, float] = {}
    legs: dict[int, list[str]] = {}
    for leg, seqs in sorted(ranked_lists.items()):
        leg_weights = weights.get(leg, {})
        for rank, seq in enumerate(seqs, start=1):
            weight = leg_weights.get(seq, 1.0) * (2.0 if leg == "fulltext" and seq in stand_in else 1.0)
            scores[seq] = scores.get(seq, 0.0) + weight / (k + rank)
            legs.setdefault(seq, []).append(leg)
    fused = [(seq, round(score, 9), tuple(legs[seq])) for seq, score in scores.items()]
    fused.sort(key=lambda item: (-item[1], item[0]))
    return fused


def term_coverage(text: str, terms: Sequence[str]) -> float:
    """Share of the query's terms that start a word of the text (1.0 for no terms)."""
    if not terms:
        return 1.0
    lower = text.lower()
    found = sum(1 for term in terms if re.search(r"(?<![a-z0-9])" + re.escape(term), lower))
    return found / len(terms)


def coverage_weight(text: str, terms: Sequence[str]) -> float:
    """A full-text hit's weight in the fusion: its term coverage ** COVERAGE_POWER."""
    return term_coverage(text, terms) ** COVERAGE_POWER


def dedupe_by_best(pairs: Iterable[tuple[int, float]]) -> list[int]:
    """Seqs ordered by similarity (highest first, ties by seq), each once."""
    best: dict[int, float] = {}
    for seq, similarity in pairs:
        if seq not in best or similarity > best[seq]:
            best[seq] = similarity
    return [seq for seq, _ in sorted(best.items(), key=lambda item: (-item[1], item[0]))]


# -- snippets and the budget --------------------------------------------------------------------


def _best_centre(text_lower: str, terms: Sequence[str], width: int) -> int | None:
    """Position whose window holds the most distinct query terms (earliest wins)."""
    positions = [
        (match.start(), term)
        for term in terms
        for match in re.finditer(r"(?<![a-z0-9_])" + re.escape(term), text_lower)
    ]
    if not positions:
        return None
    positions.sort()
    best_pos, best_count = positions[0][0], 0
    for pos, _ in positions:
        count = len({term for other, term in positions if pos <= other < pos + width // 2})
        if count > best_count:
            best_pos, best_count = pos, count
    return best_pos


def _cut(text: str, start: int, end: int) -> str:
    if start > 0:
        space = text.find(" ", start, start + 20)
        start = space + 1 if space != -1 else start
    if end < len(text):
        space = text.rfind(" ", end - 20, end)
        end = space if space > start else end
    return ("…" if start > 0 else "") + text[start:end].strip() + ("…" if end < len(text) else "")


def make_snippet(text: str, terms: Sequence[str], max_tokens: int, count_tokens: Callable[[str], int]) -> str:
    """A window of `text` within `max_tokens`, centred on the query terms when they occur."""
    flat = _SPACE.sub(" ", text).strip()
    if count_tokens(flat) <= max_tokens:
        return flat
    width = max(16, max_tokens * CHARS_PER_TOKEN)
    lower = flat.lower()
    for _ in range(12):
        centre = _best_centre(lower, terms, width)  # again at each width: the terms a narrower window can hold
        if centre is None:
            start = 0
        else:
            start = max(0, min(centre - width // 3, len(flat) - width))
        snippet = _cut(flat, start, min(len(flat), start + width))
        if count_tokens(snippet) <= max_tokens:
            return snippet
        width = int(width * 0.8)
    return snippet[: max(1, max_tokens)]


def plan_budget(n_hits: int, max_tokens: int) -> tuple[int, int]:
    """(hits kept, tokens per snippet) so that the hits fit in max_tokens."""
    if n_hits == 0:
        return 0, 0
    kept = min(n_hits, max(1, max_tokens // MIN_SNIPPET_TOKENS))
    return kept, max(1, max_tokens // kept)
