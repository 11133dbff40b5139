"""The second-stage reranker (qa/rerank.py): pairwise fitting on hand-computable data, and its file format."""

from __future__ import annotations

import numpy as np
import pytest

from qa.rerank import FEATURES, LinearReranker, fit_pairwise, pairwise_differences


def test_pairwise_differences_by_hand() -> None:
    rows = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    diffs = pairwise_differences([(rows, np.array([True, False, False]))])
    assert diffs.tolist() == [[1.0, -1.0], [-1.0, -2.0]]


def test_questions_without_a_pair_give_none() -> None:
    rows = np.ones((3, 2))
    none = pairwise_differences([(rows, np.zeros(3, bool)), (rows, np.ones(3, bool))])
    assert none.shape == (0, 2)
    assert pairwise_differences([]).shape == (0, len(FEATURES))


def _groups(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Questions of 10 candidates: feature 1 marks the answer (with noise), feature 0 is noise."""
    rng = np.random.default_rng(seed)
    groups = []
    for _ in range(150):
        relevant = np.zeros(10, bool)
        relevant[: rng.integers(1, 4)] = True
        groups.append((np.c_[rng.normal(0, 1, 10), np.where(relevant, 1.0, 0.0) + rng.normal(0, 0.5, 10)], relevant))
    return groups


def _raw_weights(model: LinearReranker | None) -> np.ndarray:
    assert model is not None
    return model.weights / model.std


def test_pairwise_fit_learns_which_candidate_answers() -> None:
    groups = _groups(0)
    model = fit_pairwise(groups)
    assert model is not None
    w = model.weights
    assert model.bias == 0.0
    assert w[1] > 0 and abs(w[1]) > 5 * abs(w[0])
    fitted = np.mean([rel[np.argmax(rows @ _raw_weights(model))] for rows, rel in groups])
    oracle = np.mean([rel[np.argmax(rows[:, 1])] for rows, rel in groups])  # knowing which feature matters
    assert fitted >= oracle - 0.02


def test_pairwise_fit_ignores_how_easy_a_question_is() -> None:
    """Shifting every candidate of a question by the same amount (an easy question has high cosines all
    round) changes nothing about their order, so it must not change the fitted scorer either. A pointwise
    fit, relevant or not across questions, learns from exactly those shifts."""
    groups = _groups(1)
    rng = np.random.default_rng(2)
    shifted = [(rows + [rng.normal(0, 3), 2.0 * relevant.sum()], relevant) for rows, relevant in groups]
    plain, moved = fit_pairwise(groups, c=1e6), fit_pairwise(shifted, c=1e6)
    np.testing.assert_allclose(_raw_weights(plain), _raw_weights(moved), atol=0.02)

    from sklearn.linear_model import LogisticRegression

    def pointwise(gs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        fit = LogisticRegression(C=1e6).fit(np.vstack([r for r, _ in gs]), np.concatenate([y for _, y in gs]))
        return fit.coef_[0]

    assert abs(pointwise(shifted)[1] - pointwise(groups)[1]) > 0.5  # the trap the pairwise fit avoids


def test_nothing_to_order_fits_nothing() -> None:
    rows = np.ones((3, len(FEATURES)))
    assert fit_pairwise([]) is None
    assert fit_pairwise([(rows, np.ones(3, bool))]) is None


def test_the_file_round_trips_and_a_reranker_on_other_features_is_refused() -> None:
    model = fit_pairwise([(np.c_[np.eye(3), np.zeros((3, len(FEATURES) - 3))], np.array([True, False, False]))])
    assert model is not None
    again = LinearReranker.from_dict(model.to_dict())
    np.testing.assert_allclose(again.weights, model.weights, atol=1e-6)
    with pytest.raises(ValueError, match="qa build"):
        LinearReranker.from_dict({"features": ["rrf"], "weights": [1.0], "bias": 0.0, "mean": [0.0], "std": [1.0]})
