"""Abstention as its own decision: questions the pages never answer, and names the corpus never mentions."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class ScopeRule:
    name: str
    reason: str
    patterns: tuple[re.Pattern[str], ...]
    unless: tuple[re.Pattern[str], ...] = ()  # the rule does not apply when one of these matches

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
                      tuple(re.compile(p, re.I) for p in r.get("unless", ())))
            for r in raw["rules"]
        ))

    def check(self, question: str) -> ScopeRule | None:
        """The first rule the question falls under, or None when it may be answerable."""
        text = question.replace("’", "'")
        return next((r for r in self.rules if r.applies(text)), None)
