"""Retrieval evaluation: gold answer spans, IR metrics over the passages as shown, abstention, a report."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from qa.chunking import count_tokens
from qa.errors import QAError
from qa.questions import is_relevant, mid_chat
from qa.stats import percentile
from qa.types import Answer, GoldQuestion

KINDS = ("plain", "clinical", "brand", "typo", "followup", "paraphrase", "out_of_scope", "emergency")
KS = (1, 3, 5)
# Configurations compared side by side; "default" is the shipped Config, the others change a few fields.
# "tutorial" is the usual LangChain tutorial retriever (qa.baseline); bm25, dense and hybrid are the standard
# baselines (bundled model, nothing learned, no abstention); "never-decline" is the whole pipeline with every
# abstention check off (its ranking alone); the default-* rows each take one stage out of the shipped default.
TUTORIAL = "tutorial"
MID_CHAT_CONFIGS = ("never-decline", "default")  # asked again mid-chat (qa.questions.mid_chat)
_PLAIN = {"expand_query": False, "abstain_rules": False, "min_score": -1.0, "adapt": False, "rerank": False}
CONFIGS: dict[str, dict[str, Any]] = {
    TUTORIAL: {},
    "bm25": {**_PLAIN, "mode": "lexical"},
    "dense": {**_PLAIN, "mode": "dense"},
    "hybrid": {**_PLAIN, "mode": "hybrid"},
    "never-decline": {"abstain_rules": False, "min_score": -1.0},
    "default-no-rerank": {"rerank": False},
    "default-no-scope-model": {"scope_model": False},
    "default-rules-always": {"mention_rate": 1.0},  # mention rules decline without asking the scope model
    "default-torch-queries": {"query_onnx": False},  # the tuned encoder in torch instead of ONNX Runtime
    "default": {},
}
# what `qa eval` runs when no --config is given: the yardsticks, the pipeline's ranking alone, and the default
DEFAULT_CONFIGS = (TUTORIAL, "bm25", "dense", "hybrid", "never-decline", "default-no-scope-model", "default")


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


def headline(results: list[Result], shown: int = 3) -> dict[str, float]:
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
        out["latency_p50_ms"] = percentile(latencies, 50)
        out["latency_p95_ms"] = percentile(latencies, 95)
    return out


def run_config(assistant: Any, questions: list[GoldQuestion], name: str, k: int = 10,
               progress: Callable[[Iterable[GoldQuestion]], Iterable[GoldQuestion]] | None = None) -> list[Result]:
    """Ask every question through Assistant.ask under one named configuration."""
    changes = CONFIGS.get(name)
    if changes is None:
        raise QAError(f"unknown configuration {name!r}; known: {', '.join(CONFIGS)}")
    if name == TUTORIAL:
        from qa.baseline import TutorialBaseline

        variant: Any = TutorialBaseline(assistant.cfg.paths.corpus_dir, assistant.base_embedder)
    else:
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
    shown = assistant.cfg.search.shown
    metrics: dict[str, Any] = {}
    all_results: list[Result] = []
    for name in configs:
        progress: Callable[[Iterable[GoldQuestion]], Iterable[GoldQuestion]] | None = None
        if show_progress:
            from tqdm import tqdm

            def progress(items: Iterable[GoldQuestion], name: str = name) -> Iterable[GoldQuestion]:
                return tqdm(items, desc=f"eval {name}", unit="q", leave=False)
        results = run_config(assistant, questions, name, progress=progress)
        all_results.extend(results)
        groups: dict[str, Any] = {"overall": headline(results, shown)}
        chat = mid_chat(questions) if name in MID_CHAT_CONFIGS else []
        if chat:
            ids = {q.id for q in chat}
            groups["mid_chat"] = {"alone": headline([r for r in results if r.question.id in ids], shown),
                                  "mid-chat": headline(run_config(assistant, chat, name), shown)}
        for field_name in ("split", "kind", "page"):
            values = sorted({str(getattr(r.question, field_name)) for r in results})
            groups[f"by_{field_name}"] = {
                v: headline([r for r in results if str(getattr(r.question, field_name)) == v], shown) for v in values
            }
        metrics[name] = groups
    return metrics, all_results


def abstention_curve(results: list[Result], thresholds: Iterable[float]) -> list[tuple[float, float, float]]:
    """(threshold, abstain_recall, false_abstain_rate) if the confidence threshold alone were moved."""
    unans = [r for r in results if not r.question.answerable]
    ans = [r for r in results if r.question.answerable]
    curve = []
    for t in thresholds:
        # declined at threshold t: too weak a match, or declined by another check (a rule, the scope model...)
        def declined(r: Result, t: float = t) -> bool:
            return r.answer.confidence < t or r.answer.declined_by not in ("", "weak match")

        rec = sum(map(declined, unans)) / len(unans) if unans else 0.0
        far = sum(map(declined, ans)) / len(ans) if ans else 0.0
        curve.append((t, rec, far))
    return curve
