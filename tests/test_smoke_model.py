"""Named questions on the real corpus put the answering passage first."""

from __future__ import annotations

import pytest

NAMED = [
    ("What are the side effects of Gleevec?", "Common side effects include diarrhea, nausea, muscle pain"),
    ("How long does maintenance last?", "Maintenance usually lasts for about 2 years"),
    ("What is CRS with CAR T-cell therapy?", "CRS happens when T cells release chemicals"),
    ("Can surgery cure ALL?", "it isn't possible to cure this type of cancer with surgery"),
]


@pytest.mark.parametrize(("question", "span"), NAMED)
def test_named_question_puts_answer_first(real_assistant, question: str, span: str) -> None:
    answer = real_assistant.ask(question)
    assert answer.answerable
    assert span in answer.passages[0].text


def test_unrelated_question_is_declined(real_assistant) -> None:
    answer = real_assistant.ask("how do I fix my car's brakes?")
    assert not answer.answerable
    assert answer.passages == ()
    assert "I couldn't find that in these pages" in answer.markdown
    assert "1-800-227-2345" in answer.markdown
