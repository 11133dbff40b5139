"""Urgent-symptom detection: the vocabulary lives in qa/data/urgent_symptoms.json for clinical review."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

_Patterns = tuple[re.Pattern[str], ...]

# "cant" -> "can't", "im" -> "i'm": people type fast on phones; the vocabulary is written with apostrophes
_CONTRACTIONS = re.compile(
    r"\b(can|won|don|doesn|isn|hasn|haven|didn|couldn|wouldn|aren|wasn|weren)t\b|\b(i)m\b|\b(i)ve\b|\b(there)s\b"
)


def normalize(message: str) -> str:
    """Lower case, straight apostrophes, repaired contractions, single spaces."""
    text = message.lower().replace("’", "'").replace("‘", "'").replace("`", "'")

    def fix(m: re.Match[str]) -> str:
        if m.group(1):
            return f"{m.group(1)}'t"
        if m.group(2):
            return "i'm"
        if m.group(3):
            return "i've"
        return "there's"

    text = _CONTRACTIONS.sub(fix, text)
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class SymptomGroup:
    """One kind of urgent symptom: wording that reports it, and words that merely name it."""

    name: str
    report: _Patterns
    mention: _Patterns


@dataclass(frozen=True)
class UrgentDetector:
    """Finds messages that describe an urgent symptom happening now, not questions about symptoms."""

    notice: str
    groups: tuple[SymptomGroup, ...]
    general: _Patterns
    now: _Patterns
    not_now: _Patterns

    @classmethod
    def load(cls, path: Path | None = None) -> UrgentDetector:
        """Read the vocabulary (default: the packaged qa/data/urgent_symptoms.json)."""
        source = path or resources.files("qa").joinpath("data/urgent_symptoms.json")
        raw = json.loads(source.read_text(encoding="utf-8"))

        def words(patterns: list[str]) -> _Patterns:
            # whole words only: "fits" must not match inside "benefits"
            return tuple(re.compile(rf"(?<!\w){p}(?!\w)") for p in patterns)

        def plain(patterns: list[str]) -> _Patterns:
            return tuple(re.compile(p) for p in patterns)

        groups = tuple(
            SymptomGroup(name, words(g.get("report", [])), words(g.get("mention", [])))
            for name, g in raw["groups"].items()
        )
        return cls(notice=raw["notice"], groups=groups, general=plain(raw["general"]), now=plain(raw["now"]),
                   not_now=plain(raw.get("not_now", [])))

    def detect(self, message: str) -> list[str]:
        """Names of the urgent-symptom groups the message describes (empty when none)."""
        text = normalize(message)
        # "so", "ok" and the like before a question do not make it less general
        lead = re.sub(r"^(?:(?:and|so|ok|okay|also|but|hi|hello|please|quick question)[,:.!]?\s+)+", "", text)
        personal = text
        for pattern in self.not_now:
            personal = pattern.sub(" ", personal)
        happening = any(p.search(personal) for p in self.now)
        general = any(p.search(lead) for p in self.general)
        if general and not happening:
            return []  # a question about a symptom, not a report of one
        found = []
        for group in self.groups:
            if any(p.search(text) for p in group.report) or (
                happening and any(p.search(text) for p in group.mention)
            ):
                found.append(group.name)
        return found


@lru_cache(maxsize=1)
def urgent_notice() -> str:
    """The notice text of the packaged vocabulary (lets the chat style it apart from other notes)."""
    return UrgentDetector.load().notice
