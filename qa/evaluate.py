"""Retrieval evaluation: gold answer spans, IR metrics over the passages as shown, abstention, a report."""

from __future__ import annotations

import json
import math
import re
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.chunking import count_tokens
from qa.corpus import clean_inline
from qa.errors import QAError
from qa.types import Answer, Document, GoldQuestion

KINDS = ("plain", "clinical", "brand", "typo", "followup", "paraphrase", "out_of_scope", "emergency")
KS = (1, 3, 5)
# Configurations compared side by side; "default" is the shipped Config, the others change a few fields.
# bm25, dense and hybrid are the standard baselines (bundled model, no adaptation); the default-* rows each take
# one stage out of the shipped default (or run the query encoder in torch).
CONFIGS: dict[str, dict[str, Any]] = {
    "bm25": {"mode": "lexical", "expand_query": False, "abstain_rules": False, "adapt": False},
    "dense": {"mode": "dense", "expand_query": False, "abstain_rules": False, "adapt": False},
    "hybrid": {"mode": "hybrid", "expand_query": False, "abstain_rules": False, "rerank": False, "adapt": False},
    "default-base-model": {"adapt": False},
    "default-no-rerank": {"rerank": False},
    "default-no-scope-model": {"scope_model": False},
    "default-rules-always": {"mention_threshold": 0.0},  # mention rules decline without asking the scope model
    "default-torch-queries": {"query_onnx": False},  # the tuned encoder in torch instead of ONNX Runtime
    "default": {},
}


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


def validate_questions(questions: list[GoldQuestion], documents: list[Document]) -> list[str]:
    """Problems with a gold set: duplicate ids, spans not verbatim in the corpus, answerable != bool(spans)."""
    problems = []
    texts = [d.text for d in documents]
    seen: set[str] = set()
    for q in questions:
        if q.id in seen:
            problems.append(f"{q.id}: duplicate id")
        seen.add(q.id)
        if q.answerable != bool(q.gold_spans):
            problems.append(f"{q.id}: answerable={q.answerable} but {len(q.gold_spans)} gold spans")
        for span in q.gold_spans:
            if not any(span in t for t in texts):
                problems.append(f"{q.id}: span not found verbatim in the corpus: {span[:60]!r}")
        if q.kind == "followup" and not q.history:
            problems.append(f"{q.id}: followup without history")
    return problems


@dataclass(frozen=True)
class Result:
    """One question under one configuration."""

    question: GoldQuestion
    config: str
    answer: Answer
    relevant: tuple[bool, ...]  # per shown passage, in rank order
    latency_ms: float

    def row(self) -> dict[str, Any]:
        return {
            "id": self.question.id, "question": self.question.question, "config": self.config,
            "answerable_pred": self.answer.answerable, "confidence": round(self.answer.confidence, 4),
            "latency_ms": round(self.latency_ms, 2),
            "relevant_ranks": [i + 1 for i, r in enumerate(self.relevant) if r],
            "passages": [{"text": p.text, "page": p.page, "section": p.section, "score": round(p.score, 5)}
                         for p in self.answer.passages],
        }


def ranking_metrics(results: list[Result]) -> dict[str, float]:
    """hit@1/3/5, mrr@10, ndcg@10 over answerable questions (ir_measures, trec_eval semantics).

    A declined answerable question shows nothing and scores 0. Relevant passages are judged by span, so the
    ideal ranking for nDCG holds the relevant passages that were shown (at least one per question).
    """
    import ir_measures
    from ir_measures import RR, Success, nDCG

    answerable = [r for r in results if r.question.answerable]
    if not answerable:
        return {}
    qrels, run = [], []
    for r in answerable:
        qid = f"{r.config}/{r.question.id}"
        rel = [i for i, ok in enumerate(r.relevant) if ok]
        for i in rel:
            qrels.append(ir_measures.Qrel(qid, f"p{i}", 1))
        if not rel:
            qrels.append(ir_measures.Qrel(qid, "unseen-answer", 1))
        for i, _ in enumerate(r.relevant):
            run.append(ir_measures.ScoredDoc(qid, f"p{i}", float(len(r.relevant) - i)))
    measures = {f"hit@{k}": Success @ k for k in KS} | {"mrr@10": RR @ 10, "ndcg@10": nDCG @ 10}
    names = {str(m): name for name, m in measures.items()}
    per_query: dict[str, dict[str, float]] = {}
    for m in ir_measures.iter_calc(list(measures.values()), qrels, run):
        per_query.setdefault(names[str(m.measure)], {})[m.query_id] = m.value
    qids = [f"{r.config}/{r.question.id}" for r in answerable]
    return {name: sum(per_query.get(name, {}).get(q, 0.0) for q in qids) / len(qids) for name in measures}


def abstention_metrics(results: list[Result]) -> dict[str, float]:
    unans = [r for r in results if not r.question.answerable]
    ans = [r for r in results if r.question.answerable]
    out = {}
    if unans:
        out["abstain_recall"] = sum(not r.answer.answerable for r in unans) / len(unans)
    if ans:
        out["false_abstain_rate"] = sum(not r.answer.answerable for r in ans) / len(ans)
    return out


def summarize(results: list[Result], shown: int = 3) -> dict[str, float]:
    """All headline numbers for one group of results."""
    out: dict[str, float] = {"n": len(results), "n_answerable": sum(r.question.answerable for r in results)}
    out |= ranking_metrics(results)
    out |= abstention_metrics(results)
    lengths = [len(p.text.split()) for r in results for p in r.answer.passages[:shown]]
    if lengths:
        out["mean_passage_words"] = statistics.fmean(lengths)
        out["max_passage_tokens"] = max(count_tokens(p.text) for r in results for p in r.answer.passages[:shown])
    latencies = sorted(r.latency_ms for r in results)
    if latencies:
        out["latency_p50_ms"] = _percentile(latencies, 50)
        out["latency_p95_ms"] = _percentile(latencies, 95)
    return out


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    i = (len(sorted_values) - 1) * pct / 100
    lo, hi = math.floor(i), math.ceil(i)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (i - lo)


def run_config(assistant: Any, questions: list[GoldQuestion], name: str, k: int = 10,
               progress: Callable[[Iterable[GoldQuestion]], Iterable[GoldQuestion]] | None = None) -> list[Result]:
    """Ask every question through Assistant.ask under one named configuration."""
    changes = CONFIGS.get(name)
    if changes is None:
        raise QAError(f"unknown configuration {name!r}; known: {', '.join(CONFIGS)}")
    variant = assistant.with_config(**changes) if changes else assistant
    clear = getattr(assistant.embedder, "clear_cache", None)
    if clear:
        clear()  # each configuration pays for its own query encodes: latencies stay comparable
    results = []
    for q in (progress(questions) if progress else questions):
        t = time.perf_counter()
        answer = variant.ask(q.question, history=list(q.history), k=k)
        latency = (time.perf_counter() - t) * 1000
        relevant = tuple(is_relevant(p.text, q.gold_spans) for p in answer.passages) if q.answerable else ()
        results.append(Result(q, name, answer, relevant, latency))
    return results


def evaluate(assistant: Any, questions: list[GoldQuestion], configs: Iterable[str] = ("default",),
             split: str | None = None, show_progress: bool = False) -> tuple[dict[str, Any], list[Result]]:
    """Metrics overall, per split, per kind and per page for each configuration, plus the raw results."""
    if split:
        questions = [q for q in questions if q.split == split]
    if not questions:
        raise QAError(f"no questions{f' in split {split!r}' if split else ''} to evaluate")
    shown = assistant.cfg.shown
    metrics: dict[str, Any] = {}
    all_results: list[Result] = []
    for name in configs:
        progress = None
        if show_progress:
            from tqdm import tqdm

            def progress(items, name=name):  # type: ignore[no-untyped-def]
                return tqdm(items, desc=f"eval {name}", unit="q", leave=False)
        results = run_config(assistant, questions, name, progress=progress)
        all_results.extend(results)
        groups: dict[str, dict[str, Any]] = {"overall": summarize(results, shown)}
        for field_name in ("split", "kind", "page"):
            values = sorted({str(getattr(r.question, field_name)) for r in results})
            groups[f"by_{field_name}"] = {
                v: summarize([r for r in results if str(getattr(r.question, field_name)) == v], shown) for v in values
            }
        metrics[name] = groups
    return metrics, all_results


def abstention_curve(results: list[Result], thresholds: Iterable[float]) -> list[tuple[float, float, float]]:
    """(threshold, abstain_recall, false_abstain_rate) if the confidence threshold alone were moved."""
    unans = [r for r in results if not r.question.answerable]
    ans = [r for r in results if r.question.answerable]
    curve = []
    for t in thresholds:
        # declined at threshold t: too weak a match, or declined by a scope rule (which sets a reason)
        rec = sum(r.answer.confidence < t or bool(r.answer.reason) for r in unans) / len(unans) if unans else 0.0
        far = sum(r.answer.confidence < t or bool(r.answer.reason) for r in ans) / len(ans) if ans else 0.0
        curve.append((t, rec, far))
    return curve
