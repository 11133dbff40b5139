"""Second-stage scorer: a small linear model over retrieval features, trained on the training questions.

There is no offline cross-encoder (MODELS.md), so the reranker combines signals the first stage already
has (passage and sentence cosine, BM25, fused rank) with word coverage of the question. It is trained to order one
question's candidates (pairwise), not to say whether a passage is relevant: whether to answer at all is the scope
stage's call. Its weights live in qa/data/reranker.json, written by eval/train_reranker.py from the training
questions (eval/train_questions.jsonl), with cross-fitted features; neither dev nor test is used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

FEATURES = ("rrf", "inv_rank", "chunk_cos", "sentence_cos", "bm25", "coverage", "heading_coverage", "length")


def candidate_features(rrf: float, rank: int, chunk_cos: float, sentence_cos: float, bm25: float,
                       query_stems: set[str], text_stems: set[str], heading_stems: set[str],
                       words: int) -> list[float]:
    """One feature row per candidate passage, in FEATURES order (pure)."""
    n = max(len(query_stems), 1)
    return [
        rrf,  # fused score divided by the best candidate's: independent of rrf_k and the run weights
        1.0 / rank,
        chunk_cos,
        sentence_cos,
        bm25,  # already divided by the best BM25 score among the candidates
        len(query_stems & text_stems) / n,
        len(query_stems & heading_stems) / n,
        min(words, 200) / 200.0,
    ]


@dataclass(frozen=True)
class LinearReranker:
    """score = w . (x - mean) / std + b, comparable within one question only.

    Fitted pairwise, so score(a) - score(b) is the log-odds that a rather than b holds the answer.
    """

    weights: np.ndarray
    bias: float
    mean: np.ndarray
    std: np.ndarray

    def score(self, rows: np.ndarray) -> np.ndarray:
        return ((rows - self.mean) / self.std) @ self.weights + self.bias

    @classmethod
    def from_dict(cls, data: dict) -> LinearReranker:
        if tuple(data.get("features", ())) != FEATURES:
            raise ValueError("reranker was trained on other features; rerun eval/train_reranker.py")
        return cls(np.array(data["weights"], dtype=np.float64), float(data["bias"]),
                   np.array(data["mean"], dtype=np.float64), np.array(data["std"], dtype=np.float64))

    @classmethod
    def load(cls, path: Path | None = None) -> LinearReranker | None:
        """The shipped model (qa/data/reranker.json), or None when there is none yet."""
        try:
            text = path.read_text(encoding="utf-8") if path else \
                resources.files("qa").joinpath("data/reranker.json").read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return cls.from_dict(json.loads(text))
