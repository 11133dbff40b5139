"""Fit the out-of-scope model (qa.scope.ScopeModel) on the training questions and write qa/data/scope_model.json.

    .venv/bin/python eval/train_scope.py [--questions eval/train_questions.jsonl] [--folds 2] [--extra-false 0.01]

Features are the question's vector from the tuned query encoder plus the best passage's cosine; the label is
out of scope. As for the reranker, the vectors are cross-fitted (eval/crossfit.py: each question is encoded
by an encoder that never trained on it). Neither `dev` nor `test` is used. Deterministic: same data, same
weights. It also prints, from 5-fold cross-validated probabilities, what each threshold would decline on the
training questions, and records the lowest one costing at most --extra-false more answerable questions
(`train_cv_threshold`). That is a reference only: the shipped threshold is Config.scope_threshold, picked on
dev and eval/val_questions.jsonl, whose writers differ from the training questions'.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from crossfit import fit_parser, fold_assistants

from qa.evaluate import load_questions

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = fit_parser(__doc__, ROOT / "qa" / "data" / "scope_model.json", 10.0)
    parser.add_argument("--extra-false", type=float, default=0.01,
                        help="answerable questions the model may add to the declines (fraction)")
    args = parser.parse_args()

    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    questions = [q for q in load_questions(args.questions) if q.split == args.split]
    rows, labels, declined = [], [], []
    for fold, assistant in fold_assistants(questions, args.folds, scope_model=False):
        for q in fold:
            answer = assistant.ask(q.question, list(q.history))
            vector = assistant.embedder.embed_query(assistant.dense_query(q.question, q.history))
            rows.append(np.append(vector.ravel(), answer.confidence))
            labels.append(not q.answerable)
            declined.append(not answer.answerable)
    x, y, already = np.array(rows), np.array(labels), np.array(declined)
    model = LogisticRegression(C=args.C, max_iter=5000)
    cv = cross_val_predict(model, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=0),
                           method="predict_proba")[:, 1]
    budget = already[~y].mean() + args.extra_false
    grid = [round(t, 2) for t in np.arange(0.30, 1.0, 0.01)]
    threshold = next(t for t in grid if (already | (cv >= t))[~y].mean() <= budget)
    after = already | (cv >= threshold)
    model.fit(x, y)
    out = {
        "features": "tuned query vector (384) + best passage cosine",
        "weights": [round(float(w), 6) for w in model.coef_[0]],
        "bias": round(float(model.intercept_[0]), 6),
        "train_cv_threshold": threshold,
        "C": args.C,
        "trained_on": f"{args.questions.name} split={args.split}: {int((~y).sum())} answerable, {int(y.sum())} "
                      f"out of scope ({args.folds}-fold cross-fitted query encoders)",
        "cross_validated": {
            "without_model": {"out_of_scope_declined": round(float(already[y].mean()), 3),
                              "answerable_declined": round(float(already[~y].mean()), 3)},
            "with_model": {"out_of_scope_declined": round(float(after[y].mean()), 3),
                           "answerable_declined": round(float(after[~y].mean()), 3)},
        },
    }
    args.out.write_text(json.dumps(out) + "\n", encoding="utf-8")
    print("| threshold | answerable declined | out of scope declined |\n|---|---|---|")
    for t in (0.5, 0.6, 0.7, 0.8, 0.9, 1.01):
        after_t = already | (cv >= t)
        print(f"| {t} | {after_t[~y].mean():.3f} | {after_t[y].mean():.3f} |")
    print(json.dumps({k: v for k, v in out.items() if k not in ("weights",)}, indent=1))


if __name__ == "__main__":
    main()
