"""Follow-ups: which questions borrow the chat's topic, and what is searched (pure)."""

from __future__ import annotations

import pytest

from qa.conversation import contextualize, is_follow_up


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
