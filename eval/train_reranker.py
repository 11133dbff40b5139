"""Train the second-stage reranker on the training questions and write qa/data/reranker.json.

    .venv/bin/python eval/train_reranker.py [--questions eval/train_questions.jsonl] [--folds 2]

Each answerable training question contributes its fused candidates (qa.Retriever.candidates), labelled
relevant when they contain a gold span, and a logistic regression on standardized features is fitted.
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


def main() -> None:
    parser = fit_parser(__doc__, ROOT / "qa" / "data" / "reranker.json", 1.0)
    args = parser.parse_args()

    from sklearn.linear_model import LogisticRegression

    questions = [q for q in load_questions(args.questions) if q.split == args.split]
    rows, labels = [], []
    for fold, assistant in fold_assistants(questions, args.folds, rerank=False):
        for q in fold:
            if not q.answerable:
                continue
            _, query = assistant.prepare_query(q.question, list(q.history))
            hits, feats, _ = assistant.retriever.candidates(query, assistant.dense_query(q.question, q.history))
            for hit, row in zip(hits, feats, strict=True):
                rows.append(row)
                labels.append(int(is_relevant(hit.chunk.text, q.gold_spans)))
    x, y = np.array(rows), np.array(labels)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    model = LogisticRegression(C=args.C, max_iter=1000).fit((x - mean) / std, y)
    answerable = sum(q.answerable for q in questions)
    out = {
        "features": list(FEATURES),
        "weights": [round(float(w), 6) for w in model.coef_[0]],
        "bias": round(float(model.intercept_[0]), 6),
        "mean": [round(float(v), 6) for v in mean],
        "std": [round(float(v), 6) for v in std],
        "trained_on": f"{args.questions.name} split={args.split}: {answerable} questions ({args.folds}-fold "
                      f"cross-fitted query encoders), {len(y)} candidates, {int(y.sum())} relevant",
        "C": args.C,
    }
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: out[k] for k in ("features", "weights", "bias", "trained_on")}, indent=1))


if __name__ == "__main__":
    main()
