"""Dense (passages and sentences) and BM25 runs, fused by weighted reciprocal rank fusion, then reranked."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, replace

import numpy as np

from qa.config import Config
from qa.embedding import Embedder
from qa.index import Index
from qa.lexical import tokenize
from qa.rerank import FEATURES, LinearReranker, candidate_features
from qa.types import Chunk, Hit, SearchQuery

# How well the best passage matches the question, in terms that mean the same in any corpus; what the scope
# model (qa.abstain) reads to tell "these pages answer it" from "these pages only come close".
MATCH_FEATURES = ("chunk_cos", "sentence_cos", "best_sentence_cos", "coverage", "idf_coverage", "missing_idf",
                  "unknown", "length", "number_gap")
_ASKS_NUMBER = re.compile(r"\b(how (long|many|much|often|soon|likely)|what (percent|percentage|are the (odds|chances))|"
                          r"survival rate|life expectancy|odds|chances?|statistics?|rates?)\b", re.I)
_HAS_NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|few|several|hours?|days?|weeks?|"
                         r"months?|years?|daily|weekly|monthly|once|twice|percent|most|half)\b", re.I)


def rrf_fuse(runs: list[list[Hit]], weights: list[float], rrf_k: int = 60, k: int | None = None) -> list[Hit]:
    """Weighted reciprocal rank fusion: score(chunk) = sum_r w_r / (rrf_k + rank_r), ranks from 1.

    rrf_k=60 follows Cormack, Clarke & Buettcher (2009); it is not the number of results. The fused hit
    keeps the best-sentence pointer of the first run that has one.
    """
    scores: dict[str, float] = {}
    best: dict[str, Hit] = {}
    for run, weight in zip(runs, weights, strict=True):
        for rank, hit in enumerate(run, start=1):
            cid = hit.chunk.id
            scores[cid] = scores.get(cid, 0.0) + weight / (rrf_k + rank)
            if cid not in best or (best[cid].sentence < 0 <= hit.sentence):
                best[cid] = hit
    order = sorted(scores, key=lambda cid: (-scores[cid], cid))
    fused = [replace(best[cid], score=scores[cid], retriever="hybrid") for cid in order]
    return fused if k is None else fused[:k]


def _overlap(a: Chunk, b: Chunk) -> int:
    """Characters two chunks of the same page share."""
    return min(a.end, b.end) - max(a.start, b.start)


def drop_overlaps(hits: list[Hit], max_overlap: float = 0.5) -> list[Hit]:
    """Remove a hit that mostly repeats a better one (overlapping chunks of the same section)."""
    kept: list[Hit] = []
    for hit in hits:
        c = hit.chunk
        if any(k.chunk.doc_id == c.doc_id and _overlap(k.chunk, c) > max_overlap * min(len(c.text), len(k.chunk.text))
               for k in kept):
            continue
        kept.append(hit)
    return kept


def _shown_already(hit: Hit, sentence: int, kept: list[Hit]) -> bool:
    s, e = hit.chunk.sentences[sentence]
    a, b = hit.chunk.start + s, hit.chunk.start + e
    return any(k.chunk.doc_id == hit.chunk.doc_id and k.chunk.start <= a and b <= k.chunk.end for k in kept)


@dataclass(frozen=True)
class Retrieval:
    """Hits, best first; how strongly the best one matches (cosine; 0 in lexical mode); the query's vector (None
    in lexical mode); and the match features of the best hit (MATCH_FEATURES order, empty when there is none)."""

    hits: tuple[Hit, ...]
    confidence: float
    vector: np.ndarray | None = None
    match: tuple[float, ...] = ()


class Retriever:
    """Searches one Index with one embedder under one Config."""

    def __init__(self, index: Index, embedder: Embedder, cfg: Config, reranker: LinearReranker | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self.cfg = cfg
        self.reranker = reranker
        self._stems: dict[int, tuple[set[str], set[str]]] = {}  # chunk row -> (text stems, heading stems)
        self._rows = {c.id: i for i, c in enumerate(index.chunks)}  # chunk id -> FAISS row

    def _query_vector(self, text: str) -> np.ndarray:
        embed_query = getattr(self.embedder, "embed_query", None)
        vector = embed_query(text) if embed_query else self.embedder.embed([text])[0]
        return np.asarray(vector, dtype=np.float32).reshape(1, -1)

    def row(self, hit: Hit) -> int:
        """The index row of a hit's chunk."""
        return self._rows[hit.chunk.id]

    def _stems_of(self, row: int) -> tuple[set[str], set[str]]:
        stems = self._stems.get(row)
        if stems is None:
            chunk = self.index.chunks[row]
            stems = (set(tokenize(chunk.search_text)), set(tokenize(chunk.context)))
            self._stems[row] = stems
        return stems

    def dense_run(self, qv: np.ndarray, depth: int, exclude: Collection[int] = ()) -> list[Hit]:
        found = min(depth + len(exclude), len(self.index.chunks))
        scores, rows = self.index.dense.search(qv, found)
        return [Hit(self.index.chunks[r], float(s), "dense") for s, r in zip(scores[0], rows[0], strict=True)
                if r >= 0 and r not in exclude][:depth]

    def sentence_run(self, qv: np.ndarray, depth: int, exclude: Collection[int] = ()) -> list[Hit]:
        """Chunks ranked by their best-matching sentence (so a passage that says "it" still matches)."""
        n = self.index.sentences.ntotal
        scores, rows = self.index.sentences.search(qv, min(depth * 4 + len(exclude) * 4, n))
        hits: dict[int, Hit] = {}
        for s, r in zip(scores[0], rows[0], strict=True):
            if r < 0:
                continue
            owner = int(self.index.sentence_owner[r])
            if owner not in hits and owner not in exclude:
                chunk = self.index.chunks[owner]
                hits[owner] = Hit(chunk, float(s), "dense", int(r - self.index.sentence_first[owner]))
        return sorted(hits.values(), key=lambda h: -h.score)[:depth]

    def best_sentence(self, qv: np.ndarray, hit: Hit) -> tuple[int, float]:
        """Index and cosine of the chunk's sentence closest to the query."""
        first = int(self.index.sentence_first[self._rows[hit.chunk.id]])
        count = len(hit.chunk.sentences)
        if count == 0:
            return -1, 0.0
        vectors = np.vstack([self.index.sentences.reconstruct(first + i) for i in range(count)])
        sims = vectors @ qv[0]
        i = int(np.argmax(sims))
        return i, float(sims[i])

    def _chunk_cos(self, qv: np.ndarray, hit: Hit) -> float:
        return float(self.index.dense.reconstruct(self._rows[hit.chunk.id]) @ qv[0])

    def candidates(self, query: SearchQuery, exclude: Collection[int] = ()) -> tuple[list[Hit], np.ndarray,
                                                                                       np.ndarray]:
        """Fused, de-duplicated hybrid candidates with their reranker features and the query vector.

        Each hit carries its best sentence; the feature rows follow qa.rerank.FEATURES. Rows in `exclude` are
        never returned (how the scope model learns what a question looks like when its answer is missing).
        """
        depth = self.cfg.search.candidates
        qv = self._query_vector(query.dense)
        bm25 = self.index.bm25.scores(query.text)
        order = np.argsort(-bm25, kind="stable")[:depth + len(exclude)]
        lexical = [Hit(self.index.chunks[i], float(bm25[i]), "lexical") for i in order
                   if bm25[i] > 0 and i not in exclude][:depth]
        runs = [self.dense_run(qv, depth, exclude), self.sentence_run(qv, depth, exclude), lexical]
        weights = [self.cfg.search.dense_weight, self.cfg.search.sentence_weight, self.cfg.search.lexical_weight]
        fused = drop_overlaps(rrf_fuse(runs, weights, self.cfg.search.rrf_k))[: self.cfg.search.rerank_depth]
        top_bm25 = max(float(bm25.max()) if len(bm25) else 0.0, 1e-9)
        top_fused = max((h.score for h in fused), default=1.0) or 1.0
        query_stems = set(tokenize(query.text))
        hits, rows = [], []
        for rank, hit in enumerate(fused, start=1):
            row = self._rows[hit.chunk.id]
            i, sentence_cos = self.best_sentence(qv, hit)
            text_stems, heading_stems = self._stems_of(row)
            rows.append(candidate_features(hit.score / top_fused, rank, self._chunk_cos(qv, hit), sentence_cos,
                                           float(bm25[row]) / top_bm25, query_stems, text_stems, heading_stems,
                                           len(hit.chunk.text.split())))
            hits.append(replace(hit, sentence=i))
        return hits, np.array(rows, dtype=np.float64).reshape(len(rows), len(FEATURES)), qv

    def match_features(self, query: SearchQuery, qv: np.ndarray, hits: list[Hit]) -> tuple[float, ...]:
        """MATCH_FEATURES of the best hit: cosines, how many (and how rare) of the question's words it holds."""
        if not hits:
            return ()
        top = hits[0]
        sentence_cos = self.best_sentence(qv, top)[1]
        best_any = max(self.best_sentence(qv, h)[1] for h in hits[:5])
        stems = set(tokenize(query.core)) or set(tokenize(query.text))
        bm25 = self.index.bm25
        # words no passage has ("my dad", a typo nothing fixed) can never be covered: they count in `unknown`,
        # and coverage is over the words the corpus does have
        known = {s for s in stems if bm25.document_frequency.get(s, 0) > 0}
        text_stems, heading_stems = self._stems_of(self._rows[top.chunk.id])
        covered = known & (text_stems | heading_stems)
        top_idf = bm25.idf("\0")  # a stem no passage has: the rarest possible
        weights = {s: bm25.idf(s) for s in known}
        total = sum(weights.values()) or 1.0
        missing = [weights[s] for s in known - covered]
        unknown = len(stems) - len(known)
        number_gap = float(bool(_ASKS_NUMBER.search(query.core)) and not _HAS_NUMBER.search(top.chunk.text))
        return (
            self._chunk_cos(qv, top),
            sentence_cos,
            best_any,
            len(covered) / max(len(known), 1),
            sum(weights[s] for s in covered) / total,
            max(missing, default=0.0) / top_idf,
            unknown / max(len(stems), 1),
            min(len(stems), 12) / 12.0,
            number_gap,
        )

    def retrieve(self, query: SearchQuery | str, k: int | None = None, mode: str | None = None,
                 exclude: Collection[int] = ()) -> Retrieval:
        """Top k distinct passages for the query, the confidence of the best one and its match features."""
        if isinstance(query, str):
            query = SearchQuery.plain(query)
        k = k or self.cfg.search.k
        mode = mode or self.cfg.search.mode
        depth = max(self.cfg.search.candidates, k)
        if not self.index.chunks:
            return Retrieval((), 0.0)
        if mode == "lexical":
            hits = drop_overlaps(self.index.bm25.search(query.text, depth))[:k]
            return Retrieval(tuple(hits), 1.0 if hits else 0.0)
        if mode == "dense":
            qv = self._query_vector(query.dense)
            fused = drop_overlaps(self.dense_run(qv, depth, exclude))
        else:
            fused, rows, qv = self.candidates(query, exclude)
            if self.reranker is not None and self.cfg.search.rerank and fused:
                scores = self.reranker.score(rows)
                order = sorted(range(len(fused)), key=lambda n: (-scores[n], n))
                fused = [replace(fused[n], score=float(scores[n])) for n in order]
        out: list[Hit] = []
        confidence = 0.0
        for hit in fused:
            if len(out) == k:
                break
            if hit.sentence < 0:
                hit = replace(hit, sentence=self.best_sentence(qv, hit)[0])
            i = hit.sentence
            if i >= 0 and _shown_already(hit, i, out):
                continue  # its key sentence is already on screen in an overlapping passage
            if not out:
                confidence = max(self.best_sentence(qv, hit)[1], self._chunk_cos(qv, hit))
            out.append(hit)
        return Retrieval(tuple(out), confidence, qv[0], self.match_features(query, qv, out))
