"""Metric code on hand-computed cases, span relevance, and the gold-set validator on the shipped file."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.evaluate import Result, abstention_metrics, ranking_metrics
from qa.questions import is_near_copy, is_relevant, load_questions, mid_chat, question_words, validate_questions
from qa.types import Answer, GoldQuestion, Passage

ROOT = Path(__file__).resolve().parents[1]


def _result(qid: str, relevant: list[bool], answerable_q: bool = True, answered: bool = True) -> Result:
    q = GoldQuestion(id=qid, question="?", gold_spans=("x",) if answerable_q else (), answerable=answerable_q)
    passages = tuple(Passage(text=str(i), page="p", section="s", score=1.0, revised=None, url=None, citation="c")
                     for i in range(len(relevant)))
    answer = Answer(question="?", query="?", answerable=answered, passages=passages if answered else (), html="")
    return Result(q, "cfg", answer, tuple(relevant) if answered else (), 1.0)


def test_ranking_metrics_hand_computed() -> None:
    results = [
        _result("a", [False, True, False]),  # first relevant at rank 2
        _result("b", [True, False, False]),  # first relevant at rank 1
        _result("c", [False, False, False], answered=False),  # answerable but declined: scores 0
        _result("d", [], answerable_q=False, answered=False),  # unanswerable: not in ranking metrics
    ]
    m = ranking_metrics(results)
    # hit@1: only b -> 1/3.  hit@3: a and b -> 2/3.
    assert m["hit@1"] == pytest.approx(1 / 3)
    assert m["hit@3"] == pytest.approx(2 / 3)
    # mrr@10: (1/2 + 1 + 0) / 3 = 0.5
    assert m["mrr@10"] == pytest.approx(0.5)
    # ndcg@10: a = (1/log2(3)) / 1 = 0.6309, b = 1, c = 0 -> 1.6309 / 3
    assert m["ndcg@10"] == pytest.approx((1 / 1.5849625007211562 + 1) / 3)


def test_abstention_metrics_hand_computed() -> None:
    results = [
        _result("u1", [], answerable_q=False, answered=False),  # declined correctly
        _result("u2", [False], answerable_q=False, answered=True),  # answered an unanswerable question
        _result("a1", [True]),
        _result("a2", [True], answered=False),  # wrongly declined
        _result("a3", [True]),
        _result("a4", [True]),
    ]
    m = abstention_metrics(results)
    assert m["abstain_recall"] == pytest.approx(1 / 2)  # u1 of {u1, u2}
    assert m["false_abstain_rate"] == pytest.approx(1 / 4)  # a2 of four answerable


@pytest.mark.parametrize(
    ("passage", "span", "expected"),
    [
        ("Common **side effects** include [diarrhea](#)¹, nausea.",
         "Common side effects include diarrhea, nausea", True),
        ("COMMON SIDE-EFFECTS include diarrhea", "common side effects include diarrhea", True),
        # cut by a chunk edge: 6 of the span's 8 words (75%) appear as one run
        ("... Maintenance usually lasts for about 2", "Maintenance usually lasts for about 2 years today", True),
        # only 5 of 8 words in a run: not enough
        ("Maintenance usually lasts for about", "Maintenance usually lasts for about 2 years today", False),
        ("Something else entirely", "Maintenance usually lasts for about 2 years", False),
    ],
)
def test_is_relevant(passage: str, span: str, expected: bool) -> None:
    assert is_relevant(passage, [span]) is expected


def test_shipped_gold_set_is_valid() -> None:
    from qa.corpus import load_corpus

    questions = load_questions(ROOT / "eval" / "questions.jsonl")
    assert validate_questions(questions, load_corpus(ROOT / "corpus")) == []
    assert len(questions) >= 200
    test = [q for q in questions if q.split == "test"]
    assert len(test) >= 0.4 * len(questions)
    for split in ("dev", "test"):
        qs = [q for q in questions if q.split == split]
        assert {q.kind for q in qs} >= {"plain", "clinical", "brand", "typo", "followup", "paraphrase",
                                          "out_of_scope", "emergency"}
        assert sum(q.kind == "out_of_scope" for q in qs) >= 20
        assert sum(q.kind == "followup" for q in qs) >= 15
        assert len({q.page for q in qs if q.answerable}) == 8


def test_shipped_validation_set_is_valid_and_apart_from_the_gold_set() -> None:
    """eval/val_questions.jsonl decides between variants next to dev: valid, and no copy of a gold question."""
    from qa.corpus import load_corpus

    val = load_questions(ROOT / "eval" / "val_questions.jsonl")
    assert validate_questions(val, load_corpus(ROOT / "corpus")) == []
    assert {q.split for q in val} == {"val"}
    assert sum(q.answerable for q in val) >= 150 and sum(not q.answerable for q in val) >= 80
    gold = [question_words(q.question) for q in load_questions(ROOT / "eval" / "questions.jsonl")]
    near = [q.id for q in val if is_near_copy(question_words(q.question), gold)]
    assert not near, f"validation questions (almost) word for word in the gold set: {near}"


def test_shipped_holdout_set_is_valid_and_apart_from_every_other_set() -> None:
    """eval/holdout_questions.jsonl is only ever reported: valid, and no copy of a question any other set holds."""
    from qa.corpus import load_corpus

    holdout = load_questions(ROOT / "eval" / "holdout_questions.jsonl")
    assert validate_questions(holdout, load_corpus(ROOT / "corpus")) == []
    assert {q.split for q in holdout} == {"holdout"}
    assert sum(q.answerable for q in holdout) >= 120 and sum(not q.answerable for q in holdout) >= 40
    paths = [ROOT / "eval" / "questions.jsonl", ROOT / "eval" / "val_questions.jsonl",
             ROOT / "corpus" / "train_questions.jsonl"]
    others = [question_words(q.question) for path in paths for q in load_questions(path)]
    near = [q.id for q in holdout if is_near_copy(question_words(q.question), others)]
    assert not near, f"holdout questions (almost) word for word in another set: {near}"


def test_loader_ignores_extra_fields(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "x1", "question": "hi", "gold_spans": [], "answerable": false, "extra": 1}\n')
    [q] = load_questions(path)
    assert (q.id, q.answerable, q.kind) == ("x1", False, "plain")


def test_validator_reports_problems() -> None:
    from qa.types import Document

    docs = [Document(id="d", title="T", text="Alpha beta gamma.")]
    bad = [GoldQuestion(id="1", question="?", gold_spans=("not there",)),
           GoldQuestion(id="1", question="?", gold_spans=(), answerable=True)]
    problems = validate_questions(bad, docs)
    assert any("not found verbatim" in p for p in problems)
    assert any("duplicate id" in p for p in problems)
    assert any("answerable=True but 0" in p for p in problems)


CORPORA = sorted(p.name for p in (ROOT / "eval" / "corpora").iterdir() if (p / "corpus").is_dir())


@pytest.mark.parametrize("name", CORPORA)
def test_other_corpora_question_sets_are_valid(name: str) -> None:
    """Every gold span of the patient questions is in that corpus as the parser cleans it; every NLM question has
    spans there too (its spans are a whole section of the source, a few of them heading lines the parser keeps
    only as structure)."""
    from qa.corpus import load_corpus

    root = ROOT / "eval" / "corpora" / name
    documents = load_corpus(root / "corpus")
    patient = load_questions(root / "patient_questions.jsonl")
    assert validate_questions(patient, documents) == []
    for q in load_questions(root / "medquad_questions.jsonl"):
        missing = [p for p in validate_questions([q], documents) if "not found" in p]
        assert len(missing) < len(q.gold_spans) / 2, missing
    assert len(patient) >= 40 and sum(not q.answerable for q in patient) >= 12
    assert {q.split for q in patient} == {"dev", "test"}


def test_mid_chat_asks_each_standalone_answerable_question_after_the_one_before() -> None:
    qs = [GoldQuestion(id="a", question="what is induction?", gold_spans=("x",)),
          GoldQuestion(id="b", question="how long is the weather nice?", gold_spans=(), answerable=False),
          GoldQuestion(id="c", question="what is a port?", gold_spans=("y",)),
          GoldQuestion(id="d", question="is it painful?", history=("what is a port?",), gold_spans=("z",))]
    chat = mid_chat(qs)
    assert [(q.id, q.history) for q in chat] == [("c", ("how long is the weather nice?",))]
