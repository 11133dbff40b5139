"""Chunker invariants on the real corpus: token budget, model limit, sentence boundaries, stable ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.chunking import chunk_corpus, chunk_document, count_tokens, split_sentences
from qa.config import Config
from qa.corpus import load_corpus
from qa.types import Chunk, Document, Section

REAL_CORPUS = Path(__file__).resolve().parents[1] / "corpus"
DEFAULT = Config().indexing.chunk_tokens  # the shipped size
SIZES = sorted({30, 60, 120, DEFAULT, 250})


@pytest.fixture(scope="module")
def docs() -> list[Document]:
    return load_corpus(REAL_CORPUS)


@pytest.fixture(scope="module")
def chunked(docs: list[Document]) -> dict[int, list[Chunk]]:
    return {size: chunk_corpus(docs, size, 1) for size in SIZES}


@pytest.mark.parametrize("size", SIZES)
def test_token_budget(chunked: dict[int, list[Chunk]], size: int) -> None:
    assert max(count_tokens(c.text) for c in chunked[size]) <= size


@pytest.mark.parametrize("size", SIZES)
def test_text_is_the_document_span(docs: list[Document], chunked: dict[int, list[Chunk]], size: int) -> None:
    by_id = {d.id: d for d in docs}
    for c in chunked[size]:
        doc = by_id[c.doc_id]
        assert c.text == doc.text[c.start : c.end]
        assert c.text == c.text.strip() and c.text
        assert c.page == doc.title
        assert next(s.heading for s in doc.sections if s.start <= c.start < s.end) == c.section
        for s, e in c.sentences:
            assert 0 <= s < e <= len(c.text)


@pytest.mark.parametrize("size", SIZES)
def test_chunks_cover_every_character(
    docs: list[Document], chunked: dict[int, list[Chunk]], size: int
) -> None:
    for doc in docs:
        covered = bytearray(len(doc.text))
        for c in chunked[size]:
            if c.doc_id == doc.id:
                covered[c.start : c.end] = b"\1" * (c.end - c.start)
        lost = [i for i, ch in enumerate(doc.text) if not covered[i] and not ch.isspace()]
        assert lost == [], doc.text[lost[0] : lost[0] + 60] if lost else ""


@pytest.mark.parametrize("size", SIZES)
def test_ids_unique_and_stable_across_runs(
    docs: list[Document], chunked: dict[int, list[Chunk]], size: int
) -> None:
    first = chunked[size]
    again = chunk_corpus(load_corpus(REAL_CORPUS), size, 1)
    assert [c.id for c in first] == [c.id for c in again]
    assert first == again
    assert len({c.id for c in first}) == len(first)
    for doc in docs:
        ids = [c.id for c in first if c.doc_id == doc.id]
        assert ids == [f"{doc.id}#{n}" for n in range(len(ids))]


@pytest.mark.parametrize("size", sorted({120, DEFAULT, 250}))
def test_chunks_start_and_end_at_sentence_boundaries(docs: list[Document], size: int) -> None:
    """At the shipped size no sentence exceeds the budget, so chunks are whole sentences or list lines."""
    for doc in docs:
        starts, ends = set(), set()
        for section in doc.sections:
            offset = section.start
            for para in doc.text[section.start : section.end].split("\n\n"):
                for s, e in split_sentences(para):
                    starts.add(offset + s)
                    ends.add(offset + e)
                offset += len(para) + 2
        for c in chunk_corpus([doc], size, 1):
            assert c.start in starts and c.end in ends, c.id
            # and a boundary a reader would agree with: end of a line, or after sentence punctuation
            assert c.end == len(doc.text) or doc.text[c.end] == "\n" or c.text[-1] in '.?!:)"', c.id


def test_long_sentences_are_cut_at_word_boundaries_within_budget(docs: list[Document]) -> None:
    for c in chunk_corpus(docs, 30, 1):
        doc = next(d for d in docs if d.id == c.doc_id)
        assert c.start == 0 or doc.text[c.start - 1].isspace()
        assert c.end == len(doc.text) or doc.text[c.end].isspace() or not doc.text[c.end].isalnum()


def test_embedding_text_within_the_real_models_limit(real_embedder, chunked: dict[int, list[Chunk]]) -> None:
    """The model silently ignores word pieces past max_seq_length: no chunk with its prefix goes there."""
    limit = real_embedder.max_tokens
    assert limit == 256  # all-MiniLM-L6-v2
    longest = max(real_embedder.count_tokens(c.search_text) for c in chunked[DEFAULT])
    assert longest <= limit


def test_overlap_repeats_one_sentence_inside_a_paragraph() -> None:
    text = " ".join(f"Sentence number {n} is here." for n in range(1, 9))
    doc = Document(id="d", title="T", text=text, sections=(Section("", 0, len(text)),))
    words = lambda t: len(t.split())  # noqa: E731 - a word count keeps the budget arithmetic readable
    chunks = chunk_document(doc, size=15, overlap=1, count=words)
    # 5 words a sentence, 15 words a chunk: 3 sentences, then restart at the last one
    assert [c.text.count(".") for c in chunks] == [3, 3, 3, 2]
    assert chunks[1].text.startswith("Sentence number 3")
    assert chunks[2].text.startswith("Sentence number 5")
    no_overlap = chunk_document(doc, size=15, overlap=0, count=words)
    assert [c.text[:17] for c in no_overlap] == [
        "Sentence number 1",
        "Sentence number 4",
        "Sentence number 7",
    ]


def test_document_without_sections_has_no_chunks() -> None:
    assert chunk_document(Document(id="d", title="T", text="Some text."), size=50) == []


def test_split_sentences_list_lines_are_units() -> None:
    text = "Common effects include:\n- Nausea\n- Hair loss"
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == ["Common effects include:", "- Nausea", "- Hair loss"]
