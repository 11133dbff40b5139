"""Train the second-stage reranker on the training questions and write qa/data/reranker.json.

    .venv/bin/python eval/train_reranker.py [--questions eval/train_questions.jsonl] [--folds 2]

Each answerable training question contributes its fused candidates (qa.Retriever.candidates), labelled
relevant when they contain a gold span. The model learns to order candidates within one question: every
(relevant, not relevant) pair of the same question is one example, and a logistic regression without intercept
is fitted on the difference of their standardized features (RankNet's pairwise loss with a linear scorer). A
pointwise fit (relevant or not, across questions) spends its weights on telling strong questions from weak ones,
which says nothing about which of one question's candidates comes first (eval/experiments.md, round 7).
The features must look like they will for a new question, but the query encoder (qa.adapt) was tuned on
these very questions and would score them too well. So the features are cross-fitted (eval/crossfit.py): the
questions are cut into folds, and each fold's features come from an encoder trained on the other folds only. Neither
`dev` nor `test` is used. Deterministic: same data, same weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from crossfit import fit_parser, fold_assistants

from qa.evaluate import is_relevant, load_questions
from qa.rerank import FEATURES

ROOT = Path(__file__).resolve().parents[1]


def pairwise_differences(groups: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Feature differences (relevant minus not relevant) over all such pairs within each question.

    Questions with no relevant candidate, or only relevant ones, order nothing and give no pair.
    """
    out = [(rows[relevant][:, None, :] - rows[~relevant][None, :, :]).reshape(-1, rows.shape[1])
           for rows, relevant in groups if relevant.any() and not relevant.all()]
    return np.vstack(out) if out else np.zeros((0, groups[0][0].shape[1] if groups else len(FEATURES)))


def fit_pairwise(groups: list[tuple[np.ndarray, np.ndarray]], C: float = 1.0) -> dict[str, object]:
    """Weights, zero bias, mean and std of a linear scorer that orders each question's candidates.

    groups holds (feature rows, relevant) per question. Each (relevant, other) pair is one example, once as
    relevant minus other (label 1) and once mirrored (label 0): a balanced problem, fitted without intercept.
    """
    from sklearn.linear_model import LogisticRegression

    x = np.vstack([rows for rows, _ in groups])
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    diffs = pairwise_differences([((rows - mean) / std, relevant) for rows, relevant in groups])
    model = LogisticRegression(C=C, max_iter=3000, fit_intercept=False).fit(
        np.vstack([diffs, -diffs]), np.r_[np.ones(len(diffs)), np.zeros(len(diffs))])
    return {"weights": [round(float(w), 6) for w in model.coef_[0]], "bias": 0.0,
            "mean": [round(float(v), 6) for v in mean], "std": [round(float(v), 6) for v in std]}


def main() -> None:
    parser = fit_parser(__doc__, ROOT / "qa" / "data" / "reranker.json", 1.0)
    args = parser.parse_args()

    questions = [q for q in load_questions(args.questions) if q.split == args.split]
    groups: list[tuple[np.ndarray, np.ndarray]] = []  # (feature rows, relevant) per question
    for fold, assistant in fold_assistants(questions, args.folds, rerank=False):
        for q in fold:
            if not q.answerable:
                continue
            _, query = assistant.prepare_query(q.question, list(q.history))
            hits, feats, _ = assistant.retriever.candidates(query, assistant.dense_query(q.question, q.history))
            if hits:
                groups.append((feats, np.array([is_relevant(h.chunk.text, q.gold_spans) for h in hits])))
    model = fit_pairwise(groups, args.C)
    answerable = sum(q.answerable for q in questions)
    relevant = sum(int(r.sum()) for _, r in groups)
    pairs = sum(int(r.sum()) * int((~r).sum()) for _, r in groups)  # what pairwise_differences builds
    out = {
        "features": list(FEATURES),
        **model,
        "objective": "pairwise: relevant vs other candidates of the same question",
        "trained_on": f"{args.questions.name} split={args.split}: {answerable} questions ({args.folds}-fold "
                      f"cross-fitted query encoders), {sum(len(r) for r, _ in groups)} candidates, {relevant} "
                      f"relevant, {pairs} pairs",
        "C": args.C,
    }
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: out[k] for k in ("features", "weights", "bias", "trained_on")}, indent=1))


if __name__ == "__main__":
    main()
