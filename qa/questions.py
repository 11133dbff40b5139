"""Question files and answer spans: reading gold and training questions, and whether a passage holds an answer.

Relevance is judged by answer text, not by chunk ids: a passage answers a question when it contains one of the
question's gold spans, compared after folding case, punctuation, whitespace, link markup and footnote marks, so
re-chunking never invalidates a question set. Shared by the evaluation and by `qa build` (hand-written training
questions), so serving never needs the evaluation's code.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from qa.corpus import clean_inline
from qa.errors import QAError
from qa.types import Document, GoldQuestion


def fold(text: str) -> str:
    """Compare text ignoring case, punctuation, whitespace, link markup and footnote marks."""
    text = clean_inline(text).lower()
    return " ".join(re.findall(r"[a-z0-9]+", text))


NEAR_COPY = 0.8  # word overlap (Jaccard) at which two questions count as one question reworded


def question_words(text: str) -> frozenset[str]:
    """The folded words of a question: what near-copy checks compare."""
    return frozenset(fold(text).split())


def is_near_copy(words: frozenset[str], others: Iterable[frozenset[str]]) -> bool:
    """True when a question's words (nearly) repeat another's: how training, validation, holdout and the gold set
    are kept apart (eval/add_training.py, and the tests that check the shipped sets)."""
    return any(words == o or len(words & o) >= NEAR_COPY * len(words | o) for o in others)


def _longest_run(span: list[str], passage: list[str]) -> int:
    """Length of the longest run of consecutive span words that appears in the passage (word-level LCS-substring)."""
    best = 0
    prev = [0] * (len(passage) + 1)
    for a in span:
        cur = [0] * (len(passage) + 1)
        for j, b in enumerate(passage, start=1):
            if a == b:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def is_relevant(passage: str, spans: Iterable[str], min_run: float = 0.75) -> bool:
    """A passage answers when it contains a gold span, or >= 75% of a span's words as one run (cut by a chunk edge)."""
    folded = fold(passage)
    words = folded.split()
    for span in spans:
        f = fold(span)
        if not f:
            continue
        if f in folded:
            return True
        span_words = f.split()
        if _longest_run(span_words, words) >= math.ceil(min_run * len(span_words)):
            return True
    return False


def load_questions(path: Path | str) -> list[GoldQuestion]:
    """Read a JSONL gold file; extra fields are ignored, missing optional ones get defaults."""
    path = Path(path)
    if not path.exists():
        raise QAError(f"question file {path} does not exist")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            spans = tuple(row.get("gold_spans") or ())
            out.append(GoldQuestion(
                id=str(row["id"]), question=str(row["question"]), history=tuple(row.get("history") or ()),
                gold_spans=spans, answerable=bool(row.get("answerable", bool(spans))), page=row.get("page"),
                kind=str(row.get("kind") or "plain"), split=str(row.get("split") or "test"),
            ))
        except (ValueError, KeyError, TypeError) as e:
            raise QAError(f"{path}:{n}: not a valid question line ({e})") from None
    return out


def mid_chat(questions: list[GoldQuestion]) -> list[GoldQuestion]:
    """Each answerable question written to stand alone, asked after the one before it in the file: a patient who
    moves on to a new subject in the same chat. A follow-up rule that glues a question to the last one when it
    should not shows here, never in the file as written (only its follow-ups carry a history)."""
    return [replace(q, history=(before.question,)) for before, q in zip(questions, questions[1:], strict=False)
            if q.answerable and not q.history]


def validate_questions(questions: list[GoldQuestion], documents: list[Document]) -> list[str]:
    """Problems with a gold set: duplicate ids, spans not verbatim in the corpus (runs of whitespace count as one
    space: spans copied from a raw file keep its line breaks and padding), answerable != bool(spans)."""
    problems = []
    texts = [" ".join(d.text.split()) for d in documents]
    texts += [" ".join(heading.split()) for d in documents for heading in (d.title, *(s.heading for s in d.sections))]
    seen: set[str] = set()
    for q in questions:
        if q.id in seen:
            problems.append(f"{q.id}: duplicate id")
        seen.add(q.id)
        if q.answerable != bool(q.gold_spans):
            problems.append(f"{q.id}: answerable={q.answerable} but {len(q.gold_spans)} gold spans")
        for span in q.gold_spans:
            if not any(" ".join(span.split()) in t for t in texts):
                problems.append(f"{q.id}: span not found verbatim in the corpus: {span[:60]!r}")
        if q.kind == "followup" and not q.history:
            problems.append(f"{q.id}: followup without history")
    return problems
