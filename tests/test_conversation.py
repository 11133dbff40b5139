"""Follow-ups: which questions borrow the chat's topic, and what is searched (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.conversation import TOPICS, contextualize, is_follow_up, specific_terms


@pytest.mark.parametrize(
    "question",
    [
        "what are its side effects?",
        "what about its side effects?",
        "how long does it last?",
        "and the risks?",
        "is it safe?",
        "side effects?",
        "why?",
    ],
)
def test_follow_ups(question: str) -> None:
    assert is_follow_up(question)


@pytest.mark.parametrize(
    "question",
    [
        "What are the side effects of Gleevec?",
        "What does maintenance chemotherapy involve?",
        "What is cytokine release syndrome with CAR T-cell therapy?",
        "Can surgery cure leukemia?",
    ],
)
def test_questions_with_their_own_topic(question: str) -> None:
    assert not is_follow_up(question)


def test_follow_up_borrows_the_previous_question() -> None:
    assert contextualize("what are its side effects?", ["What is blinatumomab?"]) == (
        "What is blinatumomab? what are its side effects?"
    )


def test_chain_of_follow_ups_resolves_to_the_first_topic() -> None:
    history = ["What is blinatumomab?", "how is it given?"]
    query = contextualize("what are its side effects?", history)
    assert query == "What is blinatumomab? how is it given? what are its side effects?"


def test_a_new_topic_ignores_history() -> None:
    q = "What are the side effects of Gleevec?"
    assert contextualize(q, ["What is blinatumomab?"]) == q


@pytest.mark.parametrize("history", [None, [], ["", "   "]])
def test_no_usable_history_leaves_the_question(history: list[str] | None) -> None:
    assert contextualize("what are its side effects?", history) == "what are its side effects?"


def test_history_is_a_tuple_or_a_list() -> None:
    assert contextualize("and its risks?", ("What is Gleevec?",)) == "What is Gleevec? and its risks?"


@pytest.mark.parametrize(("question", "specific"), [
    ("what is an Ommaya reservoir and how do they put it in", {"ommaya"}),
    ("What is chemotherapy and why is it used for leukemia?", set()),  # "chemotherapy" is one of TOPICS
    ("hepatosplenic t cell lymphoma, who usually gets it?", {"hepatosplenic"}),
])
def test_a_pronoun_that_points_back_inside_the_question_is_no_follow_up(question: str, specific: set[str]) -> None:
    """Asked after another question, these were searched glued to it (the pronoun made them look like
    follow-ups): what they name comes before the pronoun, so the pronoun means it."""
    assert not is_follow_up(question, specific=frozenset(specific))
    assert contextualize(question, ["what is maintenance therapy?"], specific=frozenset(specific)) == question


@pytest.mark.parametrize("question", ["is it curable?", "which kinds of lymphoma is that used for?",
                                      "can they give it to children with hepatosplenic lymphoma?"])
def test_a_pronoun_before_anything_named_still_leans_on_the_chat(question: str) -> None:
    assert is_follow_up(question, specific=frozenset({"hepatosplenic"}))


def test_specific_terms_are_the_corpus_rarer_technical_words() -> None:
    frequency = {"lymphoma": 360, "hodgkin": 231, "burkitt": 11, "hepatosplenic": 1, "virus": 7, "cells": 149,
                 "mds": 2}
    terms = specific_terms(frequency, ordinary={"virus", "cells"})
    assert terms == {"burkitt", "hepatosplenic"}  # not the pages' subject, not English, not a short form


def test_the_decision_sees_the_question_with_its_typos_corrected() -> None:
    question = "burkits lymphoma in africa is it caused by a virus"
    spell = {question: question.replace("burkits", "burkitt")}.get
    history = ["the lump is only in my neck, so why do they want to scan my whole chest?"]
    assert contextualize(question, history, specific=frozenset({"burkitt"}), spell=spell) == question
    assert contextualize(question, history, specific=frozenset({"burkitt"})).startswith(history[0])


def test_on_real_pages_a_named_subtype_keeps_a_question_to_itself() -> None:
    """Built from a corpus nobody tuned for (NCI's lymphoma pages) and the model's real word list."""
    from qa.chunking import chunk_corpus
    from qa.corpus import load_corpus
    from qa.embedding import known_words
    from qa.query import Preparer, QueryExpander

    root = Path(__file__).resolve().parents[1] / "eval" / "corpora" / "lymphoma" / "corpus"
    preparer = Preparer(QueryExpander.from_chunks(chunk_corpus(load_corpus(root), 160, 1),
                                                  known_words("all-MiniLM-L6-v2")), 2000)
    earlier = ["I have mycosis fungoides. Is light therapy (PUVA) a good treatment for it?"]
    alone = "hepatosplenic t cell lymfoma who usualy gets it"
    assert preparer.prepare(alone, earlier).topic == alone
    follow = preparer.prepare("which kinds of lymphoma is that used for?", ["what is intrathecal chemotherapy?"])
    assert follow.topic == "what is intrathecal chemotherapy? which kinds of lymphoma is that used for?"


def test_a_pronoun_opening_leans_on_the_chat_whatever_the_question_names() -> None:
    """"can it come back?" names a topic ("come back", the corpus's alias of "recurred") only after its pronoun."""
    question = "can it come back after they treat it?"
    assert is_follow_up(question, topics=TOPICS | {"come back"})
    assert contextualize(question, ["what is MALT lymphoma?"], topics=TOPICS | {"come back"}).startswith("what is")


@pytest.mark.parametrize(("question", "expected"), [("how long does chemotherapy last for ALL", False),
                                                    ("why is chemo given in cycles?", False),
                                                    ("how long does the first part last?", True),
                                                    ("why?", True)])
def test_why_and_how_long_lean_on_the_chat_only_when_nothing_is_named(question: str, expected: bool) -> None:
    assert is_follow_up(question) is expected
