"""Abstention rules (qa/data/scope.json) and named-only drugs (qa.scope.NamedOnly) on hand-written questions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qa.corpus import load_corpus
from qa.scope import NamedOnly, ScopeChecker

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scope() -> ScopeChecker:
    return ScopeChecker.load()


def test_topics_declared_not_covered_are_really_absent_from_the_corpus(scope: ScopeChecker) -> None:
    """A maintainer who adds a page about one of these topics is told to drop it from the rule."""
    [rule] = [r for r in scope.rules if r.name == "not covered"]
    texts = [d.text for d in load_corpus(ROOT / "corpus")]
    texts += [p.read_text(encoding="utf-8") for p in (ROOT / "corpus").glob("*.txt")]
    for pattern in rule.patterns:
        hits = [m.group(0) for t in texts for m in [pattern.search(t)] if m]
        assert not hits, f"{pattern.pattern!r} matches the corpus ({hits[0]!r}): the pages do cover it now"


@pytest.mark.parametrize(("question", "rule"), [
    ("what is GVHD and how do they treat it", "not covered"),
    ("how often will they check my MRD?", "not covered"),
    ("can my dog sleep in my bed after the transplant", "not covered"),
    ("should I take my dasatinib with a meal?", "not covered"),
    ("what's the usual dose of imatinib", "dose"),
    ("i forgot my pill this morning, should I double up", "missed dose"),
    ("how long do I have to live with relapsed ALL", "prognosis"),
    ("does insurance pay for CAR T", "cost"),
])
def test_rules_decline_what_the_pages_never_answer(scope: ScopeChecker, question: str, rule: str) -> None:
    found = scope.check(question)
    assert found is not None and found.name == rule


@pytest.mark.parametrize("question", [
    "how long do I have to keep taking pills after induction?",  # not a prognosis question
    "my hands shake so much I drop my coffee cup, is that from the drugs?",  # not a diet question
    "what are the side effects of Gleevec?",
    "how is a stem cell transplant done?",
    "why do they keep doing spinal taps?",
])
def test_rules_leave_answerable_questions_alone(scope: ScopeChecker, question: str) -> None:
    assert scope.check(question) is None


@pytest.fixture(scope="module")
def named_only(real_assistant) -> NamedOnly:  # type: ignore[no-untyped-def]
    return real_assistant.named_only


def test_named_only_drugs_come_from_the_corpus(named_only: NamedOnly) -> None:
    assert {"methotrexate", "nelarabine", "pegaspargase"} <= named_only.undescribed
    # drugs with their own section or side-effect sentences are described, and so are their brand names
    assert not {"imatinib", "gleevec", "blinatumomab", "blincyto", "inotuzumab", "besponsa", "revumenib",
                "revuforj", "vincristine"} & named_only.undescribed
    assert all(re.fullmatch(r"[a-z][a-z0-9-]+", w) for w in named_only.undescribed)


@pytest.mark.parametrize(("question", "expected"), [
    ("what are the side effects of methotrexate?", ["methotrexate"]),
    ("can nelarabine damage my nerves", ["nelarabine"]),
    ("is methotrexate part of induction?", []),  # not asking about harms: the list answers it
    ("Gleevec side effects", []),
    ("what are the side effects of chemo?", []),
])
def test_named_only_check(named_only: NamedOnly, question: str, expected: list[str]) -> None:
    assert named_only.check(question) == expected


def test_asking_the_harms_of_a_named_only_drug_is_declined_with_its_name(real_assistant) -> None:
    answer = real_assistant.ask("does methotrexate cause hair loss?")
    assert not answer.answerable and "methotrexate" in answer.reason
    assert real_assistant.ask("is methotrexate used in induction chemo?").answerable
