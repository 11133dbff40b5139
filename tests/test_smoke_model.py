"""Named questions put the answering passage first: on the seed pages, and on another publisher's pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa import Assistant, Config

ROOT = Path(__file__).resolve().parents[1]
NAMED = [
    ("What are the side effects of Gleevec?", "Common side effects include diarrhea, nausea, muscle pain"),
    ("How long does maintenance last?", "lasts for about 2 years"),
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
    assert "I couldn&#39;t find that in these pages" in answer.html
    assert "1-800-227-2345" in answer.html


@pytest.fixture(scope="module")
def lymphoma(real_embedder, tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    """NCI's lymphoma pages with the real model, built and learned here (encoder tuning off to keep it short)."""
    cfg = Config.of(corpus_dir=ROOT / "eval" / "corpora" / "lymphoma" / "corpus",
                 index_dir=tmp_path_factory.mktemp("lymphoma") / "index", adapt=False)
    return Assistant.load(cfg, real_embedder)


@pytest.mark.parametrize(("question", "span"), [
    ("what are the symptoms of hodgkin lymphoma?", "Signs of adult Hodgkin lymphoma include swollen lymph nodes"),
    ("what is watchful waiting", "Watchful waiting is closely monitoring a patients condition"),
    ("why would they filter my blood if it gets too thick?", "plasmapheresis is done to remove extra plasma"),
])
def test_another_publishers_pages_answer_too(lymphoma: Assistant, question: str, span: str) -> None:
    answer = lymphoma.ask(question)
    assert answer.answerable and any(span.lower() in p.text.lower() for p in answer.passages[:3]), \
        [p.text[:80] for p in answer.passages]


def test_another_publishers_pages_decline_in_their_own_words(lymphoma: Assistant) -> None:
    answer = lymphoma.ask("how much does chemo cost?")
    assert not answer.answerable and answer.reason == "The pages don't cover costs or insurance."
    assert "National Cancer Institute" in answer.html
    assert "American Cancer Society" not in answer.html and "1-800" not in answer.html


def test_a_new_subject_mid_chat_is_searched_by_itself(real_assistant) -> None:
    """"How long does ..." after another question reads like a follow-up to the rule; the pages match it better
    alone, so it is answered alone (and glued to the earlier question with the check off)."""
    earlier = ["How do targeted therapies differ from conventional cytotoxic chemotherapy?"]
    question = "How long does the whole treatment for ALL usually take?"
    assert real_assistant.prepare(question, earlier).topic != question  # the rule glues it
    answer = real_assistant.ask(question, history=earlier)
    assert answer.query.startswith(question)
    glued = real_assistant.with_config(alone_margin=-1.0).ask(question, history=earlier)
    assert glued.query.startswith(earlier[0]) and glued.confidence < answer.confidence


def test_a_follow_up_keeps_the_chat_subject(real_assistant) -> None:
    answer = real_assistant.ask("what are its side effects?", history=["What is blinatumomab (Blincyto)?"])
    assert answer.query.startswith("What is blinatumomab")
    assert "Blinatumomab (Blincyto)" in answer.passages[0].section  # its side effects, not some other drug's
