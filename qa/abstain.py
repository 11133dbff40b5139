"""Whether to answer: an ordered list of small checks, each giving a reason to decline or nothing.

A wrong passage shown with confidence is worse than an honest "I couldn't find that in these pages", so every
answer passes these checks first, in this order (`Abstainer.CHECKS`):

1. rule (qa/data/rules.json): kinds of question patient-information pages rarely answer (doses, costs, missed
   doses, survival statistics, off-topic chat...), each switched off for a corpus whose pages cover its topic;
2. named only: a drug the pages merely list, asked about its side effects;
3. missing figure: "how many weeks?" when the best passage gives no number, duration or frequency near its
   best-matching sentence;
4. unknown name: a drug or disease the corpus never mentions, with nothing else matching strongly;
5. weak match: the best passage's cosine is below Config.min_score;
6. scope model: a small logistic regression over how closely the best passage matches (SCOPE_FEATURES), fitted at
   `qa build` on this corpus's own questions: answered ones, and the same ones with their section taken out of
   the index (so they look like a question these pages come close to but don't answer).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from qa.lexical import DRUG_LIKE
from qa.retrieval import MATCH_FEATURES, Retrieval
from qa.types import Chunk, Hit

_Patterns = tuple[re.Pattern[str], ...]


def _compile(patterns: Iterable[str]) -> _Patterns:
    """Case-insensitive, except a short all-capitals word, which is an acronym ("ALL" is not "all")."""
    return tuple(re.compile(p) if re.fullmatch(r"\\b[A-Z]{2,5}\\b", p) else re.compile(p, re.I) for p in patterns)


@dataclass(frozen=True)
class Rule:
    """One kind of question pages usually don't answer, with the corpus evidence that they do after all."""

    name: str
    reason: str
    ask: _Patterns
    unless: _Patterns = ()
    evidence: _Patterns = ()
    min_evidence: int = 2
    mention: bool = False  # fires on a mere mention of a topic: the scope model must agree (Config.mention_rate)
    example: tuple[str, str] = ("", "")  # a question it declines, a sentence that shows a corpus covers its topic

    def asks(self, question: str) -> bool:
        text = question.replace("’", "'")
        return any(p.search(text) for p in self.ask) and not any(u.search(text) for u in self.unless)

    def coverage(self, sentences: Iterable[str], headings: Iterable[str]) -> str | None:
        """A heading, or the min_evidence-th sentence, showing the pages cover this topic; None when they don't."""
        for heading in headings:
            if any(p.search(heading) for p in self.evidence):
                return heading
        found = 0
        for sentence in sentences:
            if any(p.search(sentence) for p in self.evidence):
                found += 1
                if found >= self.min_evidence:
                    return sentence
        return None


def _condition_rules(raw: dict[str, Any]) -> list[Rule]:
    """One mention rule per disease name list: "These pages don't cover chronic lymphocytic leukemia."."""
    rules = []
    example = raw.get("example", {})
    for names in raw.get("names", ()):
        patterns = [rf"\b{re.escape(n)}\b" for n in names]
        rules.append(Rule(f"condition: {names[0]}", raw["reason"].format(name=names[0]), _compile(patterns),
                          evidence=_compile(patterns), min_evidence=int(raw.get("min_evidence", 3)), mention=True,
                          example=(example.get("question", "").format(name=names[0]),
                                   example.get("covered_by", "").format(name=names[0]))))
    return rules


@dataclass(frozen=True)
class Rules:
    """The rules that hold for this corpus, and the ones its pages switched off (with the text that did it)."""

    enabled: tuple[Rule, ...]
    switched_off: tuple[tuple[str, str], ...] = ()

    @staticmethod
    def load_all(path: Path | None = None) -> list[Rule]:
        """Every rule of the file (default: the packaged qa/data/rules.json), before any corpus is seen."""
        text = path.read_text(encoding="utf-8") if path else \
            resources.files("qa").joinpath("data/rules.json").read_text(encoding="utf-8")
        raw = json.loads(text)
        rules = [Rule(r["name"], r["reason"], _compile(r["ask"]), _compile(r.get("unless", ())),
                      _compile(r.get("evidence", ())), int(r.get("min_evidence", 2)), bool(r.get("mention", False)),
                      (r.get("example", {}).get("question", ""), r.get("example", {}).get("covered_by", "")))
                 for r in raw["rules"]]
        return rules + _condition_rules(raw.get("conditions", {}))

    @classmethod
    def for_corpus(cls, chunks: list[Chunk], path: Path | None = None) -> Rules:
        """The rules whose topic these pages don't cover."""
        sentences = [c.text[s:e] for c in chunks for s, e in c.sentences]
        headings = sorted({h for c in chunks for h in (c.page, c.section) if h})
        enabled, off = [], []
        for rule in cls.load_all(path):
            shown = rule.coverage(sentences, headings)
            if shown is None:
                enabled.append(rule)
            else:
                off.append((rule.name, shown[:160]))
        return cls(tuple(enabled), tuple(off))

    def matches(self, question: str) -> tuple[Rule, ...]:
        """Every enabled rule the question falls under, in the file's order."""
        return tuple(r for r in self.enabled if r.asks(question))


# A question after a figure (how long, how many, what percent) that the best passage does not contain: in any
# corpus, a passage without a number can't be the answer to "how many weeks?"
_ASKS_FIGURE = re.compile(r"\b(how (long|many|much|often|soon)|what (percent|percentage)|"
                          r"what are the (odds|chances))\b", re.I)
_HAS_FIGURE = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|twelve|dozen|few|several|"
                         r"hours?|days?|weeks?|months?|years?|daily|weekly|monthly|once|twice|percent|half|"
                         r"minutes?|cycles?|lifelong|long-term|short)\b", re.I)
_ASKS_HARM = re.compile(r"\b(side[- ]?effects?|adverse|toxicit\w*|cause[sd]?|causing|damage[sd]?|harm\w*|risks?|"
                        r"safe|problems?)\b", re.I)
_NAME = re.compile(r"[a-z][a-z0-9-]{3,}")  # a word that may name a drug, in lower-cased text
# what a passage says when it describes a drug's harms; not bare "risk" (risk groups) or "causes" (of a disease)
_HARM_CUE = re.compile(r"\b(side[- ]?effects?|adverse|toxicit\w*|(can|may|might|could|often|also|sometimes|to) cause|"
                       r"damage\w*|harm\w*)\b", re.I)


def figure_window(hit: Hit, sentences: int) -> str:
    """The text around the hit's best sentence, `sentences` either side; the whole passage when it has no best
    sentence (BM25 alone) or `sentences` is negative."""
    spans = hit.chunk.sentences
    if sentences < 0 or hit.sentence < 0 or hit.sentence >= len(spans):
        return hit.chunk.text
    first, last = max(hit.sentence - sentences, 0), min(hit.sentence + sentences, len(spans) - 1)
    return hit.chunk.text[spans[first][0]:spans[last][1]]


@dataclass(frozen=True)
class NamedOnly:
    """Drugs the pages only name in a list ("...vincristine, dexamethasone or prednisone...") without saying
    what they do to you. Asked for their side effects, the best passage is a list that merely contains the
    name, so the question is declined instead. Built from the corpus: a drug counts as described when a
    heading names it or a passage that names it (with the next one in its section) talks about side effects,
    toxicity, damage or harm."""

    undescribed: frozenset[str]

    @classmethod
    def from_chunks(cls, chunks: list[Chunk], known_words: frozenset[str], aliases: dict[str, set[str]]) -> NamedOnly:
        headings = " ".join(sorted({c.context.lower() for c in chunks}))
        # a passage and the one after it in the same section: where a drug named in passing is described, if at
        # all (a whole section can run to pages, and somewhere in it another drug's side effects)
        texts = [c.text.lower() + (" " + n.text.lower() if n and (n.doc_id, n.context) == (c.doc_id, c.context)
                                   else "") for c, n in zip(chunks, [*chunks[1:], None], strict=True)]
        named = [set(_NAME.findall(text)) for text in texts]
        undescribed = {word for found in named for word in found
                       if word not in known_words and (word in aliases or DRUG_LIKE.search(word))}
        described = {w for w in undescribed if re.search(rf"\b{re.escape(w)}\b", headings)}
        for text, found in zip(texts, named, strict=True):
            if _HARM_CUE.search(text):
                described |= found & undescribed
        for word in list(described):  # a brand and its generic share one description
            described |= {a for a in aliases.get(word, ()) if a in undescribed}
        return cls(frozenset(undescribed - described))

    def check(self, question: str) -> list[str]:
        """The named-only drugs a question asks the harms of (empty when it doesn't)."""
        if not _ASKS_HARM.search(question):
            return []
        words = _NAME.findall(question.lower())
        return [w for w in dict.fromkeys(words) if w in self.undescribed]


# What the scope model reads of MATCH_FEATURES: how close the best passage and sentence come to the question.
# Word-coverage features are left out on purpose: questions made from the pages repeat the pages' words (coverage
# 0.97) where patients' questions do not (0.73 on the evaluation sets), so a model fitted on the former would
# read every patient's own wording as "not answered" (eval/experiments.md, round 8).
SCOPE_FEATURES = ("chunk_cos", "sentence_cos", "best_sentence_cos")
_COLUMNS = [MATCH_FEATURES.index(f) for f in SCOPE_FEATURES]


@dataclass(frozen=True)
class ScopeModel:
    """P(the pages don't answer it) from how closely the best passage matches: a logistic regression on
    standardized SCOPE_FEATURES, fitted on this corpus's questions. `threshold` is the probability at which it
    declines, set when it is fitted so that a chosen share of the corpus's own held-out answerable questions would
    be declined (Config.scope_false_rate): the line is drawn where these pages' matches usually fall."""

    weights: np.ndarray
    bias: float
    mean: np.ndarray
    std: np.ndarray
    threshold: float
    mention_threshold: float = 0.0  # a "mention" rule declines from here: the corpus's typical answerable question

    def probability(self, match: tuple[float, ...]) -> float | None:
        """None when there is nothing to judge (no hit, or lexical mode)."""
        if len(match) != len(MATCH_FEATURES):
            return None
        z = (np.asarray(match, dtype=np.float64)[_COLUMNS] - self.mean) / self.std
        return float(1.0 / (1.0 + np.exp(-(z @ self.weights + self.bias))))

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(SCOPE_FEATURES), "weights": [round(float(w), 6) for w in self.weights],
                "bias": round(self.bias, 6), "mean": [round(float(v), 6) for v in self.mean],
                "std": [round(float(v), 6) for v in self.std], "threshold": round(self.threshold, 6),
                "mention_threshold": round(self.mention_threshold, 6)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScopeModel:
        if tuple(data.get("features", ())) != SCOPE_FEATURES:
            raise ValueError("the scope model was fitted on other features; run `qa build`")
        return cls(np.array(data["weights"], dtype=np.float64), float(data["bias"]),
                   np.array(data["mean"], dtype=np.float64), np.array(data["std"], dtype=np.float64),
                   float(data["threshold"]), float(data.get("mention_threshold", 0.0)))


def fit_scope_model(answered: np.ndarray, unanswered: np.ndarray, false_rate: float, mention_rate: float = 0.5,
                    calibrate: np.ndarray | None = None, c: float = 1.0) -> ScopeModel:
    """Fit on MATCH_FEATURES rows of answerable (label 0) and unanswerable (label 1) questions. The threshold
    declines `false_rate` of the answerable questions in `calibrate` (default: all of `answered`), their
    (1 - false_rate) quantile; a mention rule needs a probability above `mention_rate` of them. Deterministic."""
    from sklearn.linear_model import LogisticRegression

    x = np.vstack([answered, unanswered])[:, _COLUMNS]
    y = np.r_[np.zeros(len(answered)), np.ones(len(unanswered))]
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit((x - mean) / std, y)
    fitted = ScopeModel(model.coef_[0].astype(np.float64), float(model.intercept_[0]), mean, std, 1.0)
    p = np.array([fitted.probability(tuple(row)) for row in (answered if calibrate is None else calibrate)])
    threshold = float(np.quantile(p, 1.0 - false_rate)) if len(p) else 0.5
    mention = float(np.quantile(p, 1.0 - mention_rate)) if len(p) else 0.5
    return ScopeModel(fitted.weights, fitted.bias, mean, std, min(max(threshold, 0.05), 0.995), mention)


@dataclass(frozen=True)
class TopicModel:
    """P(not answered) from what a question is about: a logistic regression over the question's vector (and how
    closely the best passage matches), fitted at build on a maintainer's hand-written questions, answerable against
    out of scope. Only a corpus with enough of them gets one. The scope model knows how close a match is, not what
    the pages leave out on purpose ("how is ALL diagnosed?" on treatment pages matches the odd passage that
    mentions a diagnosis); a maintainer's out-of-scope questions say that, and this model learns it from them.
    An out-of-scope question these pages now answer well (a page was added) is dropped from its training."""

    weights: np.ndarray  # one per vector dimension, then one per SCOPE_FEATURES column
    bias: float
    threshold: float

    def probability(self, vector: np.ndarray | None, match: tuple[float, ...]) -> float | None:
        """None for a vector it was not fitted on (lexical mode, another encoder) or nothing retrieved."""
        if vector is None or len(match) != len(MATCH_FEATURES) or vector.size + len(_COLUMNS) != self.weights.size:
            return None
        x = np.r_[np.asarray(vector, dtype=np.float64).ravel(), np.asarray(match, dtype=np.float64)[_COLUMNS]]
        return float(1.0 / (1.0 + np.exp(-(x @ self.weights + self.bias))))

    def to_dict(self) -> dict[str, Any]:
        return {"features": f"question vector + {', '.join(SCOPE_FEATURES)}",
                "weights": [round(float(w), 6) for w in self.weights], "bias": round(self.bias, 6),
                "threshold": round(self.threshold, 6)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TopicModel:
        return cls(np.array(data["weights"], dtype=np.float64), float(data["bias"]), float(data["threshold"]))


def fit_topic_model(answered: np.ndarray, unanswered: np.ndarray, calibrate: np.ndarray, false_rate: float,
                    c: float = 10.0) -> TopicModel:
    """Rows are [question vector, MATCH_FEATURES]; the threshold declines `false_rate` of `calibrate`'s rows
    (answerable questions the model was not fitted on). Deterministic for the same data."""
    from sklearn.linear_model import LogisticRegression

    def features(rows: np.ndarray) -> np.ndarray:
        dim = rows.shape[1] - len(MATCH_FEATURES)
        return np.c_[rows[:, :dim], rows[:, dim:][:, _COLUMNS]]

    x = np.vstack([features(answered), features(unanswered)])
    y = np.r_[np.zeros(len(answered)), np.ones(len(unanswered))]
    model = LogisticRegression(C=c, max_iter=5000).fit(x, y)
    fitted = TopicModel(model.coef_[0].astype(np.float64), float(model.intercept_[0]), 1.0)
    dim = calibrate.shape[1] - len(MATCH_FEATURES)
    p = [fitted.probability(row[:dim], tuple(row[dim:])) for row in calibrate]
    threshold = float(np.quantile([v for v in p if v is not None], 1.0 - false_rate)) if len(p) else 0.5
    return TopicModel(fitted.weights, fitted.bias, min(max(threshold, 0.05), 0.995))


@dataclass
class Case:
    """What the checks look at for one question; the scope probability is worked out once, when first asked."""

    question: str
    english: bool
    retrieval: Retrieval
    scope_model: ScopeModel | None = None
    topic_model: TopicModel | None = None
    _p: float | None = field(default=None, repr=False)
    _scored: bool = field(default=False, repr=False)

    @property
    def topic_probability(self) -> float | None:
        return self.topic_model.probability(self.retrieval.vector, self.retrieval.match) if self.topic_model \
            else None

    @property
    def scope_probability(self) -> float | None:
        if not self._scored:
            self._p = self.scope_model.probability(self.retrieval.match) if self.scope_model else None
            self._scored = True
        return self._p


OUT_OF_SCOPE = "Questions like this one usually aren't answered here."  # the scope model declined


class Abstainer:
    """Runs the checks in order; the first reason found is the answer's."""

    def __init__(self, rules: Rules, named_only: NamedOnly, unknown_names: Callable[[str], list[str]],
                 scope_model: ScopeModel | None, min_score: float, unknown_name_score: float,
                 use_rules: bool = True, use_scope_model: bool = True, topic_model: TopicModel | None = None,
                 figure_sentences: int = 1) -> None:
        self.rules = rules
        self.named_only = named_only
        self.unknown_names = unknown_names
        self.scope_model = scope_model
        self.topic_model = topic_model
        self.min_score = min_score
        self.unknown_name_score = unknown_name_score
        self.use_rules = use_rules
        self.use_scope_model = use_scope_model
        self.figure_sentences = figure_sentences

    def by_rule(self, case: Case) -> str | None:
        """A rule of rules.json that holds for this corpus (a mention rule only when the scope model agrees)."""
        if not self.use_rules:
            return None
        for rule in self.rules.matches(case.question):
            p = case.scope_probability if rule.mention else None
            if p is None or self.scope_model is None or p >= self.scope_model.mention_threshold:
                return rule.reason
        return None

    def by_named_only(self, case: Case) -> str | None:
        named = self.named_only.check(case.question) if self.use_rules else []
        if not named:
            return None
        their = "its" if len(named) == 1 else "their"
        return f"The pages name {', '.join(named[:3])} but don't describe {their} side effects or risks."

    def by_missing_figure(self, case: Case) -> str | None:
        """"How many weeks...?" when the best passage gives no number, duration or frequency where it matches: its
        best sentence and `figure_sentences` either side, not a number elsewhere in the passage."""
        hits = case.retrieval.hits
        if not self.use_rules or not hits or not _ASKS_FIGURE.search(case.question):
            return None
        return None if _HAS_FIGURE.search(figure_window(hits[0], self.figure_sentences)) \
            else "The pages don't give that figure."

    def by_unknown_name(self, case: Case) -> str | None:
        # another language's words are all "unknown": the weak-match and scope checks decide for those
        if not self.use_rules or not case.english or case.retrieval.confidence >= self.unknown_name_score:
            return None
        unknown = self.unknown_names(case.question)
        return f"The pages don't mention {', '.join(unknown[:3])}." if unknown else None

    def by_weak_match(self, case: Case) -> str | None:
        if not case.retrieval.hits or case.retrieval.confidence < self.min_score:
            return ""  # declined, with nothing more to say than "couldn't find that"
        return None

    def by_scope_model(self, case: Case) -> str | None:
        if not (self.use_rules and self.use_scope_model and case.english and self.scope_model):
            return None
        p = case.scope_probability
        return OUT_OF_SCOPE if p is not None and p >= self.scope_model.threshold else None

    def by_topic_model(self, case: Case) -> str | None:
        if not (self.use_rules and self.use_scope_model and case.english and self.topic_model):
            return None
        p = case.topic_probability
        return OUT_OF_SCOPE if p is not None and p >= self.topic_model.threshold else None

    # the order matters: a rule's reason says more than "weak match", and the learned models come last
    CHECKS = ("rule", "named only", "missing figure", "unknown name", "weak match", "scope model", "topic model")

    def decide(self, case: Case) -> tuple[str, str]:
        """(which check declined, the reason to show), or ("", "") when the question may be answered.

        Each check returns None to let the question through, or the reason it declines it ("" = no words to add).
        """
        checks = (self.by_rule, self.by_named_only, self.by_missing_figure, self.by_unknown_name, self.by_weak_match,
                  self.by_scope_model, self.by_topic_model)
        for name, check in zip(self.CHECKS, checks, strict=True):
            reason = check(case)
            if reason is not None:
                return name, reason
        return "", ""
