"""Abstention as its own decision: questions the pages never answer, and names the corpus never mentions."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources

import numpy as np


@dataclass(frozen=True)
class ScopeRule:
    name: str
    reason: str
    patterns: tuple[re.Pattern[str], ...]
    unless: tuple[re.Pattern[str], ...] = ()  # the rule does not apply when one of these matches
    # fires on a mere mention of a topic (insurance, a child, another cancer), which an answerable question can
    # make on the way ("our insurance won't pay; could a clinical trial help?"): the scope model must agree
    mention: bool = False

    def applies(self, text: str) -> bool:
        return any(p.search(text) for p in self.patterns) and not any(u.search(text) for u in self.unless)


@dataclass(frozen=True)
class ScopeChecker:
    """Rules from qa/data/scope.json, checked against the patient's own words (not the expanded query)."""

    rules: tuple[ScopeRule, ...]

    @classmethod
    def load(cls) -> ScopeChecker:
        raw = json.loads(resources.files("qa").joinpath("data/scope.json").read_text(encoding="utf-8"))
        return cls(tuple(
            ScopeRule(r["name"], r["reason"], tuple(re.compile(p, re.I) for p in r["patterns"]),
                      tuple(re.compile(p, re.I) for p in r.get("unless", ())), bool(r.get("mention", False)))
            for r in raw["rules"]
        ))

    def matches(self, question: str) -> tuple[ScopeRule, ...]:
        """Every rule the question falls under, in the file's order."""
        text = question.replace("’", "'")
        return tuple(r for r in self.rules if r.applies(text))

    def check(self, question: str) -> ScopeRule | None:
        """The first rule the question falls under, or None when it may be answerable."""
        return next(iter(self.matches(question)), None)


_ASKS_HARM = re.compile(r"\b(side[- ]?effects?|adverse|toxicit\w*|cause[sd]?|causing|damage[sd]?|harm\w*|risks?|"
                        r"safe|problems?)\b", re.I)
_HARM_CUE = re.compile(r"\b(side[- ]?effects?|can cause|may cause|causes?|damage|risks?|problems?)\b", re.I)
_DRUGLIKE = re.compile(r"(mab|nib|cel|rubicin|mycin|sone|xate|(?<!l)ine|ase|mide|purine|platin|tide)$")


@dataclass(frozen=True)
class NamedOnly:
    """Drugs the pages only name in a list ("...vincristine, dexamethasone or prednisone...") without saying
    what they do to you. Asked for their side effects, the best passage is a list that merely contains the
    name, so the question is declined instead. Built from the corpus: a drug counts as described when a
    heading names it or a section that names it talks about side effects, damage or risks."""

    undescribed: frozenset[str]

    @classmethod
    def from_chunks(cls, chunks: list, known_words: frozenset[str], aliases: dict[str, set[str]]) -> NamedOnly:
        sections: dict[tuple[str, str], list[str]] = {}
        for c in chunks:
            sections.setdefault((c.doc_id, c.context), []).append(c.text.lower())
        headings = " ".join(context.lower() for _, context in sections)
        texts = [" ".join(parts) for parts in sections.values()]  # one text per section
        undescribed = {word for text in texts for word in re.findall(r"[a-z][a-z0-9-]{3,}", text)
                       if word not in known_words and (word in aliases or _DRUGLIKE.search(word))}
        described = {w for w in undescribed if re.search(rf"\b{re.escape(w)}\b", headings)}
        for text in texts:
            if _HARM_CUE.search(text):
                described |= {w for w in undescribed if re.search(rf"\b{re.escape(w)}\b", text)}
        for word in list(described):  # a brand and its generic share one description
            described |= {a for a in aliases.get(word, ()) if a in undescribed}
        return cls(frozenset(undescribed - described))

    def check(self, question: str) -> list[str]:
        """The named-only drugs a question asks the harms of (empty when it doesn't)."""
        if not _ASKS_HARM.search(question):
            return []
        words = re.findall(r"[a-z][a-z0-9-]{3,}", question.lower())
        return [w for w in dict.fromkeys(words) if w in self.undescribed]


@dataclass(frozen=True)
class ScopeModel:
    """Out of scope as a learned decision: a logistic regression over the question's vector from the tuned
    query encoder (qa.adapt) and the best passage's cosine, fitted by eval/train_scope.py on the training
    questions (answerable against out of scope, with cross-fitted encoders). It catches near misses no rule
    names ("how long does the stem cell infusion take?"). The decision threshold is a setting
    (Config.scope_threshold), picked on dev and the validation set, which other writers wrote."""

    weights: np.ndarray  # one per vector dimension, then one for the confidence
    bias: float

    def probability(self, vector: np.ndarray, confidence: float) -> float:
        x = np.append(np.asarray(vector, dtype=np.float64).ravel(), confidence)
        return float(1.0 / (1.0 + np.exp(-(x @ self.weights + self.bias))))

    def score(self, vector: np.ndarray | None, confidence: float) -> float | None:
        """The probability, or None for a vector it was not fitted on (lexical mode, another encoder)."""
        if vector is None or np.asarray(vector).size + 1 != self.weights.size:
            return None
        return self.probability(vector, confidence)

    def declines(self, vector: np.ndarray | None, confidence: float, threshold: float) -> bool:
        p = self.score(vector, confidence)
        return p is not None and p >= threshold

    @classmethod
    def load(cls) -> ScopeModel | None:
        """The shipped model (qa/data/scope_model.json), or None when there is none."""
        try:
            data = json.loads(resources.files("qa").joinpath("data/scope_model.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return cls(np.array(data["weights"], dtype=np.float64), float(data["bias"]))
