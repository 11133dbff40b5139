"""Cross-fitted assistants: the training questions cut into folds, each fold answered by a query encoder
trained on the other folds only, so its scores look like they will for a new question.

    .venv/bin/python eval/crossfit.py [--questions eval/train_questions.jsonl] [--folds 2] [--out FILE]

Run as a script it asks every training question (answerable and out of scope) through the shipped pipeline
with its fold's encoder and prints how the "not in these pages" threshold trades false declines against
caught out-of-scope questions: the operating point is picked here, on `train`, and only confirmed on `dev`.
The fold encoders are kept under index/crossfit/ and reused while the questions and settings are unchanged
(eval/train_reranker.py uses the same ones).
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from qa import Assistant, Config
from qa.evaluate import is_relevant, load_questions
from qa.types import GoldQuestion

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "index" / "crossfit"


def fit_parser(doc: str, out: Path, c: float) -> argparse.ArgumentParser:
    """The options every script that fits a model on cross-fitted training questions shares."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "train_questions.jsonl")
    parser.add_argument("--split", default="train")
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument("--C", type=float, default=c, help="inverse regularisation strength")
    return parser


def folds_of(questions: list[GoldQuestion], folds: int) -> list[list[GoldQuestion]]:
    """A fixed shuffle cut into folds: same questions, same folds."""
    shuffled = list(questions)
    random.Random(0).shuffle(shuffled)
    return [shuffled[i::folds] for i in range(folds)]


def fold_assistants(questions: list[GoldQuestion], folds: int, cache: Path = CACHE,
                    **changes: object) -> Iterator[tuple[list[GoldQuestion], Assistant]]:
    """(fold, assistant whose query encoder never saw that fold), one fold at a time."""
    cache.mkdir(parents=True, exist_ok=True)
    parts = folds_of(questions, folds)
    for n, fold in enumerate(parts):
        others = cache / f"train-{folds}fold{n}.jsonl"
        text = "".join(json.dumps(asdict(q)) + "\n" for m, f in enumerate(parts) if m != n for q in f)
        if not others.exists() or others.read_text(encoding="utf-8") != text:
            others.write_text(text, encoding="utf-8")
        cfg = Config.from_env().replace(train_questions=others, index_dir=cache / f"index-{folds}fold{n}", **changes)
        assistant = Assistant.load(cfg)
        print(f"fold {n + 1}/{folds}: query encoder {assistant.encoder_status}", flush=True)
        yield fold, assistant


def outcomes(questions: list[GoldQuestion], folds: int) -> list[dict]:
    """Per question: the cross-fitted confidence, whether a rule declined it, and the rank of the first answer."""
    rows = []
    for fold, assistant in fold_assistants(questions, folds):
        for q in fold:
            a = assistant.ask(q.question, list(q.history))
            ranks = [i for i, p in enumerate(a.passages, 1) if q.answerable and is_relevant(p.text, q.gold_spans)]
            rows.append({"id": q.id, "answerable": q.answerable, "kind": q.kind, "confidence": a.confidence,
                         "rule": a.reason, "rank": ranks[0] if ranks else 0})
    return rows


def tradeoff(rows: list[dict], thresholds: list[float]) -> list[tuple[float, float, float, float]]:
    """(threshold, false declines of answerable, out-of-scope declined, hit@1 of answerable) per threshold."""
    ans = [r for r in rows if r["answerable"]]
    oos = [r for r in rows if not r["answerable"]]
    out = []
    for t in thresholds:
        def declined(r: dict, t: float = t) -> bool:
            return bool(r["rule"]) or r["confidence"] < t
        out.append((t, sum(map(declined, ans)) / len(ans), sum(map(declined, oos)) / max(len(oos), 1),
                    sum(r["rank"] == 1 and not declined(r) for r in ans) / len(ans)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "train_questions.jsonl")
    parser.add_argument("--split", default="train")
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="write the per-question rows here (JSONL)")
    args = parser.parse_args()
    questions = [q for q in load_questions(args.questions) if q.split == args.split]
    rows = outcomes(questions, args.folds)
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    n_ans = sum(r["answerable"] for r in rows)
    print(f"{n_ans} answerable, {len(rows) - n_ans} out of scope ({args.split}, {args.folds}-fold cross-fitted)")
    print("| min_score | false declines | out of scope declined | hit@1 |\n|---|---|---|---|")
    for t, far, rec, hit1 in tradeoff(rows, [round(0.05 * i, 2) for i in range(0, 9)]):
        print(f"| {t:.2f} | {far:.3f} | {rec:.3f} | {hit1:.3f} |")


if __name__ == "__main__":
    main()
