"""Abstention rules (qa/data/scope.json) and named-only drugs (qa.scope.NamedOnly) on hand-written questions."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from qa.assistant import OUT_OF_SCOPE
from qa.corpus import load_corpus
from qa.scope import NamedOnly, ScopeChecker, ScopeModel

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scope() -> ScopeChecker:
    return ScopeChecker.load()


@pytest.mark.parametrize("name", ["not covered", "off topic"])
def test_topics_declared_not_covered_are_really_absent_from_the_corpus(scope: ScopeChecker, name: str) -> None:
    """A maintainer who adds a page about one of these topics is told to drop it from the rule."""
    [rule] = [r for r in scope.rules if r.name == name]
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
    ("can I crush my dasatinib tablets if they're hard to swallow?", "taking medicines"),
    ("does my thyroid pill interact with nilotinib", "taking medicines"),
    ("is it ok to take ibuprofen while on chemo pills?", "taking medicines"),
    ("what's a normal platelet count?", "not covered"),
    ("could the paint fumes at my job have caused my leukemia?", "causes and risk"),
    ("does a bone marrow biopsy hurt a lot?", "diagnosis"),
    ("when can I go back to work after my transplant?", "daily life"),
    ("how long will it take my brother to recover after donating his stem cells?", "not covered"),
    ("what's the weather like in Boston this week", "off topic"),
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
    # each of these once fired a rule on an answerable training question; the rules were narrowed
    "should we travel to a big cancer center for the transplant?",
    "which hospital should do my transplant?",
    "is Aucatzyl for adults or kids?",
    "cytokine release syndrome, what causes it?",
    "my aunt says to take vitamins instead of chemo, is that a real option?",
    "which drugs make up the first-month cocktail?",
    "the pharmacy gave me Imkeldi instead of tablets, is it the same medicine?",
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


def test_scope_model_declines_at_its_threshold_and_only_for_its_own_vectors() -> None:
    model = ScopeModel(weights=np.array([2.0, 0.0, -1.0]), bias=0.0)
    assert model.probability(np.array([1.0, 0.0]), 0.0) == pytest.approx(1 / (1 + np.exp(-2.0)))
    assert model.declines(np.array([1.0, 0.0]), 0.0, 0.7)  # 0.88 >= 0.7
    assert not model.declines(np.array([1.0, 0.0]), 0.0, 0.9)
    assert not model.declines(np.array([1.0, 0.0]), 1.5, 0.7)  # a strong match pulls it under
    assert not model.declines(None, 0.0, 0.7)  # lexical mode: no vector
    assert not model.declines(np.ones(5), 0.0, 0.7)  # another encoder's vector: not what it was fitted on


def test_the_shipped_scope_model_is_on_and_decides_ask(real_assistant) -> None:
    """On by default (it pays on dev and the validation set, eval/experiments.md): a question is declined
    by it exactly when its probability reaches Config.scope_threshold and nothing else declined it."""
    model = ScopeModel.load()
    assert model is not None and model.weights.size == 385
    on = real_assistant
    assert on.cfg.scope_model and on.scope_model is not None
    threshold = on.cfg.scope_threshold
    off = real_assistant.with_config(scope_model=False)
    outcomes = set()
    for question in ["how long does the stem cell infusion take?", "what are the side effects of Gleevec?",
                     "can I go swimming during maintenance?", "what is consolidation therapy?"]:
        retrieval = on.retriever.retrieve(on.prepare_query(question)[1], dense_query=on.dense_query(question))
        expected = model.probability(retrieval.vector, retrieval.confidence) >= threshold
        without = off.ask(question)
        answer = on.ask(question)
        assert answer.answerable <= without.answerable  # the model only ever adds declines
        if without.answerable:
            assert answer.answerable == (not expected), question
            assert (answer.reason == OUT_OF_SCOPE) == expected
            outcomes.add(expected)
    assert outcomes == {True, False}  # the examples exercise both sides of the threshold


MENTION_RULES = {"cost", "children", "other cancers", "pregnancy and fertility", "diet and lifestyle", "not covered"}


def test_mention_rules_are_the_topic_word_lists(scope: ScopeChecker) -> None:
    """Rules that fire on a mere mention of a topic are marked; rules about what a question asks are not."""
    assert {r.name for r in scope.rules if r.mention} == MENTION_RULES
    question = "my 6 year old needs chemo, what is the dose of imatinib and does insurance pay?"
    assert [r.name for r in scope.matches(question)][:3] == ["dose", "cost", "children"]
    assert scope.check(question).name == "dose"


LOOK_ALIKES = ["My kids keep asking what maintenance therapy is. How long does it last?",
               "We can't afford much, so is a clinical trial an option when ALL comes back?"]
NEAR_MISSES = ["does insurance pay for blinatumomab", "how is ALL treated in children"]


@pytest.mark.parametrize("question", LOOK_ALIKES + NEAR_MISSES)
def test_a_mention_rule_declines_only_when_the_scope_model_agrees(real_assistant, question: str) -> None:
    """Config.mention_threshold: a question that names insurance or kids on the way is answered when the scope
    model says it is not about that; 0 restores the rule's decline; rules about the ask itself are never gated."""
    on = real_assistant
    rule = on.scope.check(question)
    assert rule is not None and rule.mention
    retrieval = on.retriever.retrieve(on.prepare_query(question)[1], dense_query=on.dense_query(question))
    p = on.scope_model.probability(retrieval.vector, retrieval.confidence)
    answer = on.ask(question)
    assert answer.answerable == (p < on.cfg.mention_threshold), (question, p)
    if not answer.answerable:
        assert answer.reason == rule.reason
    if question in LOOK_ALIKES:
        assert p < on.cfg.mention_threshold / 2, (question, p)  # far from the edge, whichever encoder trained
        assert "clinical trial" in answer.passages[0].text.lower() or "maintenance" in answer.passages[0].text.lower()
    else:
        assert p > 0.5, (question, p)
    always = on.with_config(mention_threshold=0.0)
    assert not always.ask(question).answerable and always.ask(question).reason == rule.reason
    assert not on.with_config(scope_model=False).ask(question).answerable  # without the model the rules decide


def test_rules_about_the_ask_are_never_gated(real_assistant) -> None:
    never = real_assistant.with_config(mention_threshold=1.0)  # no mention rule could decline now
    dose = never.ask("what is the usual dose of imatinib")
    assert not dose.answerable and "doses" in dose.reason
    assert never.ask("My kids keep asking what maintenance therapy is. How long does it last?").answerable
