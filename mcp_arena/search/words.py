"""Words of a text as the Python side of search sees them: lower case, stop words out, light stemming.

Used to locate query terms in a hit (snippets, term coverage) and to rank the rows
the full-text index does not cover yet. It never has to agree with LanceDB's own
tokenizer: both sides of every comparison made here go through this one.
"""

from __future__ import annotations

import re

WORD = re.compile(r"[A-Za-z0-9_]+")
STOP_WORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was were "
    "will with what when where which who why how did do does we i you".split()
)
_SUFFIXES = ("ing", "ed", "ly", "s")
_KEEP_FINAL_S = ("ss", "us", "is")
_PART = re.compile(r"[a-z0-9]+")


def stem(word: str) -> str:
    """A lower-case word without one common suffix (running -> runn, tests -> test)."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4 and not word.endswith(_KEEP_FINAL_S):
            return word[: -len(suffix)]
    return word


def query_terms(query: str) -> list[str]:
    """Distinct stems of the query's words, in order, for locating matches in a text."""
    terms: list[str] = []
    for word in WORD.findall(query.lower()):
        if len(word) < 2 or word in STOP_WORDS:
            continue
        word = stem(word)
        if word not in terms:
            terms.append(word)
    return terms


def stems(text: str) -> list[str]:
    """Every stem of the text, repeats kept (snake_case split), for BM25 over a few rows."""
    return [stem(part) for part in _PART.findall(text.lower()) if len(part) >= 2 and part not in STOP_WORDS]
