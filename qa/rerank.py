"""Second-stage scorer: a small linear model over retrieval features, fitted at `qa build` on the corpus's questions.

There is no offline cross-encoder (MODELS.md), so the reranker combines signals the first stage already
has (passage and sentence cosine, BM25, fused rank) with word coverage of the question. It is trained to order one
question's candidates (pairwise), not to say whether a passage is relevant: whether to answer at all is the
abstention stage's call. qa.learn fits it on questions the query encoder never trained on, so its features look
the way they will for a patient's question, and saves it beside the index it was fitted for.
"""

from __future__ import annotations

from dataclasses import dataclass

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
            raise ValueError("the reranker was fitted on other features; run `qa build`")
        return cls(np.array(data["weights"], dtype=np.float64), float(data["bias"]),
                   np.array(data["mean"], dtype=np.float64), np.array(data["std"], dtype=np.float64))

    def to_dict(self) -> dict[str, object]:
        return {"features": list(FEATURES), "weights": [round(float(w), 6) for w in self.weights],
                "bias": round(self.bias, 6), "mean": [round(float(v), 6) for v in self.mean],
                "std": [round(float(v), 6) for v in self.std]}


def pairwise_differences(groups: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Feature differences (relevant minus not relevant) over all such pairs within each question.

    Questions with no relevant candidate, or only relevant ones, order nothing and give no pair.
    """
    out = [(rows[relevant][:, None, :] - rows[~relevant][None, :, :]).reshape(-1, rows.shape[1])
           for rows, relevant in groups if relevant.any() and not relevant.all()]
    width = groups[0][0].shape[1] if groups and groups[0][0].ndim == 2 else len(FEATURES)
    return np.vstack(out) if out else np.zeros((0, width))


def fit_pairwise(groups: list[tuple[np.ndarray, np.ndarray]], c: float = 1.0) -> LinearReranker | None:
    """A linear scorer that orders each question's candidates (RankNet's pairwise loss with a linear model).

    groups holds (feature rows, relevant) per question. Each (relevant, other) pair is one example, once as
    relevant minus other (label 1) and once mirrored (label 0): a balanced problem, fitted without intercept.
    A pointwise fit (relevant or not, across questions) spends its weights telling easy questions from hard
    ones, which says nothing about which of one question's candidates comes first. None when no question
    has both a relevant and an irrelevant candidate. Deterministic: same data, same weights.
    """
    from sklearn.linear_model import LogisticRegression

    groups = [(rows, relevant) for rows, relevant in groups if len(rows)]
    if not groups:
        return None
    x = np.vstack([rows for rows, _ in groups])
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    diffs = pairwise_differences([((rows - mean) / std, relevant) for rows, relevant in groups])
    if not len(diffs):
        return None
    model = LogisticRegression(C=c, max_iter=3000, fit_intercept=False).fit(
        np.vstack([diffs, -diffs]), np.r_[np.ones(len(diffs)), np.zeros(len(diffs))])
    return LinearReranker(model.coef_[0].astype(np.float64), 0.0, mean, std)
