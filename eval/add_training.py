"""Append new training questions to corpus/train_questions.jsonl, keeping the training set apart from the evaluation.

    .venv/bin/python eval/add_training.py NEW.jsonl [MORE.jsonl ...]

A question is dropped when its wording matches an evaluation question (eval/questions.jsonl, the validation
set eval/val_questions.jsonl or the holdout set eval/holdout_questions.jsonl) or a training question already
kept: the same folded text, or word overlap (Jaccard) of 0.8 or more. Lines with problems (span not verbatim in
the corpus, duplicate id, ...) are reported and dropped too. Prints what it kept.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from qa.corpus import load_corpus
from qa.questions import is_near_copy, load_questions, question_words, validate_questions

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--train", type=Path, default=ROOT / "corpus" / "train_questions.jsonl")
    parser.add_argument("--evaluation", type=Path, nargs="+",
                        default=[ROOT / "eval" / name for name in
                                 ("questions.jsonl", "val_questions.jsonl", "holdout_questions.jsonl")])
    args = parser.parse_args()
    documents = load_corpus(ROOT / "corpus")
    evaluation = [question_words(q.question) for path in args.evaluation for q in load_questions(path)]
    train = load_questions(args.train)
    kept_words = [question_words(q.question) for q in train]
    ids = {q.id for q in train}
    added, dropped = [], {"near an evaluation question": 0, "near a training question": 0, "invalid": 0}
    for path in args.files:
        for q in load_questions(path):
            if q.id in ids or validate_questions([q], documents) or q.split != "train":
                dropped["invalid"] += 1
            elif is_near_copy(question_words(q.question), evaluation):
                dropped["near an evaluation question"] += 1
            elif is_near_copy(question_words(q.question), kept_words):
                dropped["near a training question"] += 1
            else:
                added.append(q)
                ids.add(q.id)
                kept_words.append(question_words(q.question))
    with args.train.open("a", encoding="utf-8") as out:
        out.writelines(json.dumps(asdict(q), ensure_ascii=False) + "\n" for q in added)
    print(f"added {len(added)} ({sum(q.answerable for q in added)} answerable), dropped {dropped}")


if __name__ == "__main__":
    main()
