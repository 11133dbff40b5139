"""Fusion and de-duplication (pure, hand-computed); the Retriever on the tiny corpus, fake embedder."""

from __future__ import annotations

import random

import pytest

from qa.index import build_index
from qa.retrieval import Retriever, drop_overlaps, rrf_fuse
from qa.types import Chunk, Hit


def hit(
    cid: str,
    score: float = 0.0,
    retriever: str = "dense",
    doc: str = "d",
    start: int = 0,
    end: int = 10,
    sentence: int = -1,
) -> Hit:
    chunk = Chunk(id=cid, doc_id=doc, text="x" * (end - start), start=start, end=end)
    return Hit(chunk, score, retriever, sentence)


def random_runs(seed: int) -> tuple[list[list[Hit]], list[float]]:
    rng = random.Random(seed)
    pool = [f"c{i}" for i in range(rng.randint(0, 12))]
    runs = [
        [hit(cid) for cid in rng.sample(pool, rng.randint(0, len(pool)))] for _ in range(rng.randint(1, 4))
    ]
    return runs, [rng.choice([0.5, 1.0, 2.0]) for _ in runs]


@pytest.mark.parametrize("seed", range(12))
def test_fused_is_a_permutation_of_the_union(seed: int) -> None:
    runs, weights = random_runs(seed)
    fused = rrf_fuse(runs, weights)
    ids = [h.chunk.id for h in fused]
    assert sorted(ids) == sorted({h.chunk.id for run in runs for h in run})
    assert all(h.retriever == "hybrid" for h in fused)


@pytest.mark.parametrize("seed", range(12))
def test_fused_scores_never_increase(seed: int) -> None:
    runs, weights = random_runs(seed)
    scores = [h.score for h in rrf_fuse(runs, weights, rrf_k=10)]
    assert all(a >= b for a, b in zip(scores, scores[1:], strict=False))


@pytest.mark.parametrize("k", [0, 1, 2, 5])
def test_fused_k_cuts_the_list(k: int) -> None:
    runs = [[hit("a"), hit("b"), hit("c")]]
    assert [h.chunk.id for h in rrf_fuse(runs, [1.0], k=k)] == ["a", "b", "c"][:k]


def test_rrf_scores_by_hand() -> None:
    runs = [[hit("a"), hit("b"), hit("c")], [hit("c"), hit("a")]]
    fused = rrf_fuse(runs, [1.0, 1.0], rrf_k=60)
    # a: 1/(60+1) + 1/(60+2) = 0.016393 + 0.016129 = 0.032522
    # c: 1/(60+3) + 1/(60+1) = 0.015873 + 0.016393 = 0.032266
    # b: 1/(60+2)            = 0.016129
    assert [h.chunk.id for h in fused] == ["a", "c", "b"]
    assert [h.score for h in fused] == pytest.approx([1 / 61 + 1 / 62, 1 / 63 + 1 / 61, 1 / 62])
    assert fused[0].score == pytest.approx(0.032522, abs=1e-6)


def test_weighted_rrf_by_hand() -> None:
    runs = [[hit("a"), hit("b")], [hit("b"), hit("a")]]
    fused = rrf_fuse(runs, [1.0, 3.0], rrf_k=1)
    # a: 1/(1+1) + 3/(1+2) = 0.5 + 1.0  = 1.5
    # b: 1/(1+2) + 3/(1+1) = 0.333 + 1.5 = 1.8333
    assert [(h.chunk.id, h.score) for h in fused] == [("b", pytest.approx(11 / 6)), ("a", pytest.approx(1.5))]


def test_ties_are_broken_by_chunk_id() -> None:
    fused = rrf_fuse([[hit("b")], [hit("a")]], [1.0, 1.0])
    assert [h.chunk.id for h in fused] == ["a", "b"]


def test_fusion_keeps_the_first_sentence_pointer() -> None:
    fused = rrf_fuse([[hit("a")], [hit("a", sentence=2)], [hit("a", sentence=1)]], [1.0, 1.0, 1.0])
    assert fused[0].sentence == 2


def test_empty_runs_fuse_to_nothing() -> None:
    assert rrf_fuse([[], []], [1.0, 1.0]) == []


def test_drop_overlaps_removes_the_worse_of_two_overlapping_chunks() -> None:
    hits = [
        hit("a", start=0, end=100),
        hit("b", start=80, end=180),
        hit("c", start=30, end=130),
        hit("d", doc="other", start=0, end=100),
    ]
    # b overlaps a by 20 of 100 chars (kept); c overlaps a by 70 (> 50%: dropped); d is another page
    assert [h.chunk.id for h in drop_overlaps(hits)] == ["a", "b", "d"]


@pytest.fixture
def retriever(tiny_cfg, fake_embedder) -> Retriever:
    return Retriever(build_index(tiny_cfg, fake_embedder), fake_embedder, tiny_cfg)


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
@pytest.mark.parametrize(
    ("query", "section"),
    [
        ("how do I return an item", "How to return an item"),
        ("refunds reach your card", "Refund timing"),
        ("customs fees on international orders", "International orders"),
    ],
)
def test_named_queries_on_the_tiny_corpus(retriever: Retriever, mode: str, query: str, section: str) -> None:
    hits = retriever.retrieve(query, k=2, mode=mode).hits
    assert hits[0].chunk.section == section


def test_results_are_distinct_and_at_most_k(retriever: Retriever) -> None:
    hits = retriever.retrieve("delivery days parcel refund", k=3).hits
    assert len(hits) <= 3
    assert len({h.chunk.id for h in hits}) == len(hits)


def test_confidence_is_the_best_cosine(retriever: Retriever) -> None:
    strong = retriever.retrieve("refunds reach your card within business days")
    weak = retriever.retrieve("zebra quantum violin")
    assert strong.confidence > 0.5
    assert weak.confidence < strong.confidence


def test_excluded_rows_are_never_returned(retriever: Retriever) -> None:
    """How the scope model learns what a near miss looks like: the answer's rows taken out of every run."""
    first = retriever.retrieve("refunds reach your card", k=5)
    gone = {retriever.row(first.hits[0])}
    again = retriever.retrieve("refunds reach your card", k=5, exclude=gone)
    assert again.hits and not {retriever.row(h) for h in again.hits} & gone
    assert len(again.match) == len(first.match)
    everything = set(range(len(retriever.index.chunks)))
    assert retriever.retrieve("refunds reach your card", exclude=everything).hits == ()


def test_match_features_count_only_the_words_the_corpus_has(retriever: Retriever) -> None:
    from qa.retrieval import MATCH_FEATURES

    plain = dict(zip(MATCH_FEATURES, retriever.retrieve("refunds reach your card").match, strict=True))
    framed = dict(zip(MATCH_FEATURES, retriever.retrieve("grandpa wondered: refunds reach your card").match,
                      strict=True))
    assert framed["coverage"] == plain["coverage"]  # "grandpa wondered" is in no passage: not held against it
    assert framed["unknown"] > plain["unknown"] == 0.0
    asks = dict(zip(MATCH_FEATURES, retriever.retrieve("how many days until refunds reach my card").match,
                    strict=True))
    assert asks["number_gap"] == 0.0  # the refund passage gives a number of days
