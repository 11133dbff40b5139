"""Training questions made from the corpus (qa/synthesize.py): pure, seeded, bounded, answered by the pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.chunking import chunk_corpus
from qa.corpus import load_corpus
from qa.query import QueryExpander, load_lay_terms
from qa.synthesize import corpus_sentences, example_questions, page_subject, section_subject, synthesize
from qa.types import Chunk

ROOT = Path(__file__).resolve().parents[1]
CORPORA = [ROOT / "corpus", ROOT / "eval" / "corpora" / "lymphoma" / "corpus",
           Path(__file__).parent / "data" / "corpus"]


@pytest.fixture(scope="module", params=CORPORA, ids=lambda p: p.parent.name if p.name == "corpus" else p.name)
def chunks(request: pytest.FixtureRequest) -> list[Chunk]:
    return chunk_corpus(load_corpus(request.param), 160, 1)


def _make(chunks: list[Chunk], **kwargs: object):  # type: ignore[no-untyped-def]
    aliases = QueryExpander.from_chunks(chunks).aliases
    return synthesize(chunks, aliases, load_lay_terms(), **kwargs)  # type: ignore[arg-type]


def test_every_question_is_answered_by_sentences_of_the_corpus(chunks: list[Chunk]) -> None:
    questions = _make(chunks)
    sentences = {c.text[s:e] for c in chunks for s, e in c.sentences}
    doc_ids = {c.doc_id for c in chunks}
    assert questions
    for q in questions:
        assert q.answerable and q.split == "synthetic" and q.question.strip()
        assert q.gold_spans and set(q.gold_spans) <= sentences, q
        assert q.page in doc_ids  # the page its answer is on: rows are looked up there
        assert bool(q.history) == (q.kind == "followup")


def test_questions_are_the_same_every_time_and_differ_by_seed(chunks: list[Chunk]) -> None:
    first, again = _make(chunks), _make(chunks)
    assert [(q.question, q.gold_spans) for q in first] == [(q.question, q.gold_spans) for q in again]
    other = _make(chunks, seed=1)
    assert [q.question for q in other] != [q.question for q in first]


def test_the_budget_is_a_ceiling(chunks: list[Chunk]) -> None:
    assert len(_make(chunks, limit=25)) <= 25
    every = _make(chunks, limit=100_000, keyword_share=1.0)
    fewer = _make(chunks, limit=100_000, keyword_share=0.2)
    keywords = [q for q in every if q.kind == "keywords"]
    assert len([q for q in fewer if q.kind == "keywords"]) == int(len(keywords) * 0.2)
    assert {q.kind for q in every} - {"keywords"} <= {q.kind for q in fewer}  # template questions all kept


def test_the_seed_gets_questions_patients_would_ask() -> None:
    chunks = chunk_corpus(load_corpus(ROOT / "corpus"), 160, 1)
    questions = {q.question.lower().rstrip("?").strip() for q in _make(chunks, limit=100_000)}
    kinds = {q.kind for q in _make(chunks)}
    assert {"heading", "definition", "keywords", "followup"} <= kinds
    assert any(k.startswith("intent:") for k in kinds)
    assert any("side effects of" in q for q in questions)


@pytest.mark.parametrize(("title", "subject"), [
    ("Chemotherapy for Acute Lymphocytic Leukemia (ALL)", "chemotherapy"),
    ("Adult Hodgkin Lymphoma Treatment (PDQ) - Patient Version", "adult hodgkin lymphoma"),
    ("Returns", "returns"),
])
def test_page_subject(title: str, subject: str) -> None:
    assert page_subject(title) == subject


def test_section_subject_takes_the_page_for_an_aspect_heading() -> None:
    page = "Adult Hodgkin Lymphoma Treatment (PDQ) - Patient Version"
    assert section_subject(page, "Signs and symptoms") == ("adult hodgkin lymphoma", "symptoms")
    assert section_subject(page, "Monoclonal antibody therapy") == ("monoclonal antibody therapy", None)
    assert section_subject("Immunotherapy for ALL", "Blinatumomab (Blincyto) › Side effects") == \
        ("blinatumomab", "side effects")


def test_example_questions_come_from_headings(chunks: list[Chunk]) -> None:
    examples = example_questions(chunks)
    assert 1 <= len(examples) <= 5 and len(set(examples)) == len(examples)
    words = {w for c in chunks for w in c.section.lower().replace("?", " ").split()}
    assert all(e.lower().rstrip("?").split()[-1] in words for e in examples)  # each ends on a heading's word


def test_a_large_corpus_makes_its_questions_from_a_sample_of_sentences() -> None:
    """More sentences than twice the budget: questions come from a seeded sample (bounded build time)."""
    chunks = []
    for i in range(60):
        first, second = f"Drug{i}mab treats leukemia type {i} in adults.", f"It is given weekly for {i} months."
        text = f"{first} {second}"
        chunks.append(Chunk(id=f"p{i}#0", doc_id=f"p{i}", text=text, start=0, end=len(text), page=f"Page {i}",
                            section="Treatment", sentences=((0, len(first)), (len(first) + 1, len(text)))))
    made = synthesize(chunks, limit=10, seed=0)
    assert 0 < len(made) <= 10
    assert made == synthesize(chunks, limit=10, seed=0)


def test_corpus_sentences_lists_each_sentence_once_in_order(chunks: list[Chunk]) -> None:
    """Overlapping chunks repeat sentences; each is made questions from once, its text cut from its chunk."""
    got = corpus_sentences(chunks)
    places = [(s.doc_id, s.chunk.start + s.chunk.sentences[s.n][0]) for s in got]
    assert len(places) == len(set(places))
    every = {(c.doc_id, c.start + s) for c in chunks for s, _ in c.sentences}
    assert set(places) == every
    for doc in {d for d, _ in places}:  # in corpus order: each page's sentences as they come
        starts = [start for d, start in places if d == doc]
        assert starts == sorted(starts)
    for s in got[:50]:
        start, end = s.chunk.sentences[s.n]
        assert s.text == s.chunk.text[start:end] and s.page == s.chunk.page and s.section == s.chunk.section
