"""Urgent-symptom detection: the vocabulary lives in qa/data/urgent_symptoms.json for clinical review."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class UrgentDetector:
    """Finds messages that describe an urgent symptom happening now."""

    notice: str
    groups: dict[str, tuple[re.Pattern[str], ...]]
    questions: tuple[re.Pattern[str], ...]
    now: tuple[re.Pattern[str], ...]

    @classmethod
    def load(cls) -> UrgentDetector:
        raw = json.loads(resources.files("qa").joinpath("data/urgent_symptoms.json").read_text(encoding="utf-8"))

        def compile_all(patterns: list[str]) -> tuple[re.Pattern[str], ...]:
            return tuple(re.compile(rf"(?<!\w){p}(?!\w)", re.I) for p in patterns)

        return cls(
            notice=raw["notice"],
            groups={name: compile_all(p) for name, p in raw["groups"].items()},
            questions=compile_all(raw["questions"]),
            now=tuple(re.compile(p, re.I) for p in raw["now"]),
        )

    def detect(self, message: str) -> list[str]:
        """Names of the urgent-symptom groups the message describes (empty when none)."""
        text = re.sub(r"\s+", " ", message.replace("’", "'")).strip()
        found = [name for name, patterns in self.groups.items() if any(p.search(text) for p in patterns)]
        if found and any(q.search(text) for q in self.questions) and not any(n.search(text) for n in self.now):
            return []  # a general question about a symptom, not a report of one
        return found
