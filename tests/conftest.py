"""Shared fixtures: a tiny corpus with a fake embedder for exact unit tests, and the real model on the real corpus."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.config import Config

ROOT = Path(__file__).resolve().parents[1]
REAL_CORPUS = ROOT / "corpus"
TEST_CORPUS = Path(__file__).parent / "data" / "corpus"


class FakeEmbedder:
    """Deterministic bag-of-words embedder: each word hashes to one of 64 dimensions.

    Texts sharing words have positive cosine, texts sharing none have cosine 0, so ranks can be worked out by hand.
    """

    name = "fake"
    dim = 64
    max_tokens = 256

    def __init__(self) -> None:
        self.calls = 0

    @staticmethod
    def _slot(word: str) -> int:
        return int(hashlib.md5(word.encode()).hexdigest(), 16) % 64

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                out[i, self._slot(word)] += 1.0
            norm = np.linalg.norm(out[i])
            if norm:
                out[i] /= norm
        return out

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 2


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No QA_* or GRADIO_SERVER_* variable from the outside leaks into a test."""
    import os

    for key in list(os.environ):
        if key.startswith("QA_") or key.startswith("GRADIO_SERVER_"):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def tiny_cfg(tmp_path: Path) -> Config:
    """The small test corpus copied to a temp folder, with its own index folder."""
    corpus = tmp_path / "corpus"
    shutil.copytree(TEST_CORPUS, corpus)
    return Config.of(corpus_dir=corpus, index_dir=tmp_path / "index", model_name="fake", min_score=0.1,
                  adapt=False)


@pytest.fixture(scope="session")
def real_cfg(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The real corpus with the real bundled model; the index lives in a session temp folder."""
    return Config.of(corpus_dir=REAL_CORPUS, index_dir=tmp_path_factory.mktemp("real") / "index")


@pytest.fixture(scope="session")
def real_embedder():  # type: ignore[no-untyped-def]
    from qa.embedding import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(Config().indexing.model_name)


@pytest.fixture(scope="session")
def real_assistant(real_cfg: Config, real_embedder):  # type: ignore[no-untyped-def]
    """The shipped default pipeline: real model, real FAISS index, real corpus (built once per session)."""
    from qa.assistant import Assistant

    return Assistant.load(real_cfg, real_embedder)
