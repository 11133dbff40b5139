"""The LangChain-tutorial-style yardstick (qa/baseline.py): its recursive character splitter, worked by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.baseline import TutorialBaseline, split_text

ROOT = Path(__file__).resolve().parents[1]


def test_short_text_is_one_chunk() -> None:
    assert split_text("One paragraph.\n\nTwo.", size=1000) == ["One paragraph.\n\nTwo."]


def test_paragraphs_are_packed_up_to_the_size() -> None:
    # three 40-character paragraphs, size 90: the first two fit (40 + 2 + 40 = 82), the third starts a new chunk,
    # carrying the second as overlap (its 42 characters with the separator <= 50)
    paragraphs = ["a" * 40, "b" * 40, "c" * 40]
    chunks = split_text("\n\n".join(paragraphs), size=90, overlap=50)
    assert chunks == ["a" * 40 + "\n\n" + "b" * 40, "b" * 40 + "\n\n" + "c" * 40]


def test_a_long_paragraph_goes_to_finer_separators() -> None:
    text = " ".join(f"w{i:03d}" for i in range(100))  # 499 characters, no line breaks
    chunks = split_text(text, size=100, overlap=20)
    assert all(len(c) <= 100 for c in chunks) and len(chunks) >= 5
    assert chunks[0].startswith("w000") and chunks[-1].endswith("w099")
    assert chunks[1].split()[0] in chunks[0]  # each chunk starts with the end of the one before


@pytest.mark.parametrize("name", ["lymphoma_pdq", "childhood_all_mds_pdq"])
def test_real_corpora_give_chunks_of_at_most_1000_characters(name: str) -> None:
    text = next((ROOT / "eval" / "corpora").glob(f"*/corpus/{name}.txt")).read_text(encoding="utf-8")
    chunks = split_text(text)
    assert all(0 < len(c) <= 1000 for c in chunks)
    assert sum(len(c) for c in chunks) >= len(text.strip()) * 0.95  # nothing lost (overlap only adds)


def test_the_baseline_answers_everything_with_its_top_k(fake_embedder) -> None:
    baseline = TutorialBaseline(Path(__file__).parent / "data" / "corpus", fake_embedder)
    answer = baseline.ask("how long does delivery take?", k=3)
    assert answer.answerable and 1 <= len(answer.passages) <= 3
    assert not baseline.ask("   ").answerable
