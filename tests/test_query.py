"""Query preparation: aliases the corpus defines, lay words, typo correction; the patient's words are kept."""

from __future__ import annotations

import pytest

from qa.query import QueryExpander, mine_aliases
from qa.types import Chunk


def test_mine_aliases_both_directions() -> None:
    aliases = mine_aliases(
        ["Imatinib (Gleevec) is a targeted drug.", "A lumbar puncture (spinal tap) is done."]
    )
    assert aliases["gleevec"] == {"imatinib"} and aliases["imatinib"] == {"gleevec"}
    assert aliases["spinal tap"] == {"lumbar puncture"}


def test_acronyms_take_as_many_words_as_letters() -> None:
    aliases = mine_aliases(["It can cause cytokine release syndrome (CRS) in some people."])
    assert aliases["crs"] == {"cytokine release syndrome"}


def test_lists_and_function_words_in_parentheses_are_not_aliases() -> None:
    aliases = mine_aliases(["Drugs (such as vincristine) and others (A, B, C) are used."])
    assert aliases == {}


@pytest.fixture(scope="module")
def expander() -> QueryExpander:
    texts = [
        "Imatinib (Gleevec) can cause nausea.",
        "Chemotherapy uses drugs such as vincristine.",
        "A lumbar puncture (spinal tap) checks the cerebrospinal fluid.",
    ]
    chunks = [
        Chunk(id=f"d#{i}", doc_id="d", text=t, start=0, end=len(t), page="Page") for i, t in enumerate(texts)
    ]
    return QueryExpander.from_chunks(chunks, frozenset({"water", "something", "side", "effects"}))


def test_expand_adds_the_corpus_name_and_keeps_the_question(expander: QueryExpander) -> None:
    query = expander.expand("side effects of gleevec")
    assert query.startswith("side effects of gleevec")
    assert "imatinib" in query


def test_expand_adds_lay_synonyms(expander: QueryExpander) -> None:
    assert "chemotherapy" in expander.expand("is chemo hard?")


def test_typos_are_corrected_to_corpus_words(expander: QueryExpander) -> None:
    assert "vincristine" in expander.correct("what does vincristin do")


def test_ordinary_words_are_not_corrected(expander: QueryExpander) -> None:
    assert expander.correct("something about water") == "something about water"


@pytest.mark.parametrize("query", ["", "   ", "?", "12345", "日本語の質問", "😀😀"])
def test_odd_queries_pass_through(expander: QueryExpander, query: str) -> None:
    assert expander.expand(query) == query
