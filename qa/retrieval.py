"""Dense (passages and sentences) and BM25 runs, fused by weighted reciprocal rank fusion."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from qa.config import Config
from qa.embedding import Embedder
from qa.index import Index
from qa.lexical import chunk_text_for_search, tokenize
from qa.rerank import LinearReranker, candidate_features
from qa.types import Chunk, Hit


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
    """Hits, best first, how strongly the best one matches the query (cosine; 0 in lexical mode), and the
    query's embedding (None in lexical mode), which the out-of-scope model reads."""

    hits: tuple[Hit, ...]
    confidence: float
    vector: np.ndarray | None = None


class Retriever:
    """Searches one Index with one embedder under one Config."""

    def __init__(self, index: Index, embedder: Embedder, cfg: Config, reranker: LinearReranker | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self.cfg = cfg
        self.reranker = reranker
        self._stems: dict[int, tuple[set[str], set[str]]] = {}  # chunk row -> (text stems, heading stems)
        self._rows = {c.id: i for i, c in enumerate(index.chunks)}  # chunk id -> FAISS row

    def _query_vector(self, query: str) -> np.ndarray:
        embed_query = getattr(self.embedder, "embed_query", None)
        vector = embed_query(query) if embed_query else self.embedder.embed([query])[0]
        return np.asarray(vector, dtype=np.float32).reshape(1, -1)

    def dense_run(self, qv: np.ndarray, depth: int) -> list[Hit]:
        scores, rows = self.index.dense.search(qv, min(depth, len(self.index.chunks)))
        return [Hit(self.index.chunks[r], float(s), "dense") for s, r in zip(scores[0], rows[0], strict=True) if r >= 0]

    def sentence_run(self, qv: np.ndarray, depth: int) -> list[Hit]:
        """Chunks ranked by their best-matching sentence (so a passage that says "it" still matches)."""
        n = self.index.sentences.ntotal
        scores, rows = self.index.sentences.search(qv, min(depth * 4, n))
        hits: dict[int, Hit] = {}
        for s, r in zip(scores[0], rows[0], strict=True):
            if r < 0:
                continue
            owner = int(self.index.sentence_owner[r])
            if owner not in hits:
                chunk = self.index.chunks[owner]
                hits[owner] = Hit(chunk, float(s), "dense", int(r - self.index.sentence_first[owner]))
        return sorted(hits.values(), key=lambda h: -h.score)[:depth]

    def best_sentence(self, qv: np.ndarray, hit: Hit) -> tuple[int, float]:
        """Index and cosine of the chunk's sentence closest to the query."""
        first = int(self.index.sentence_first[self._row(hit)])
        count = len(hit.chunk.sentences)
        if count == 0:
            return -1, 0.0
        vectors = np.vstack([self.index.sentences.reconstruct(first + i) for i in range(count)])
        sims = vectors @ qv[0]
        i = int(np.argmax(sims))
        return i, float(sims[i])

    def _row(self, hit: Hit) -> int:
        return self._rows[hit.chunk.id]

    def candidates(self, query: str, dense_query: str | None = None) -> tuple[list[Hit], np.ndarray, np.ndarray]:
        """Fused, de-duplicated hybrid candidates with their reranker features and query vector.

        Each hit carries its best sentence; the feature rows follow qa.rerank.FEATURES.
        """
        depth = self.cfg.candidates
        qv = self._query_vector(dense_query or query)
        bm25 = self.index.bm25.scores(query)
        order = np.argsort(-bm25, kind="stable")[:depth]
        lexical = [Hit(self.index.chunks[i], float(bm25[i]), "lexical") for i in order if bm25[i] > 0]
        runs = [self.dense_run(qv, depth), self.sentence_run(qv, depth), lexical]
        weights = [self.cfg.dense_weight, self.cfg.sentence_weight, self.cfg.lexical_weight]
        fused = drop_overlaps(rrf_fuse(runs, weights, self.cfg.rrf_k))[: self.cfg.rerank_depth]
        top_bm25 = max(float(bm25.max()) if len(bm25) else 0.0, 1e-9)
        top_fused = max((h.score for h in fused), default=1.0) or 1.0
        query_stems = set(tokenize(query))
        hits, rows = [], []
        for rank, hit in enumerate(fused, start=1):
            row = self._row(hit)
            i, sentence_cos = self.best_sentence(qv, hit)
            chunk_cos = float(self.index.dense.reconstruct(row) @ qv[0])
            stems = self._stems.get(row)
            if stems is None:
                stems = (set(tokenize(chunk_text_for_search(hit.chunk))), set(tokenize(hit.chunk.context)))
                self._stems[row] = stems
            rows.append(candidate_features(hit.score / top_fused, rank, chunk_cos, sentence_cos,
                                           float(bm25[row]) / top_bm25, query_stems, stems[0], stems[1],
                                           len(hit.chunk.text.split())))
            hits.append(replace(hit, sentence=i))
        return hits, np.array(rows, dtype=np.float64).reshape(len(rows), -1), qv

    def retrieve(self, query: str, k: int | None = None, mode: str | None = None,
                 dense_query: str | None = None) -> Retrieval:
        """Top k distinct passages for the query and the confidence of the best one.

        dense_query, when given, is what the embedding model sees (e.g. without appended aliases).
        """
        k = k or self.cfg.k
        mode = mode or self.cfg.mode
        depth = max(self.cfg.candidates, k)
        if not self.index.chunks:
            return Retrieval((), 0.0)
        if mode == "lexical":
            hits = drop_overlaps(self.index.bm25.search(query, depth))[:k]
            return Retrieval(tuple(hits), 1.0 if hits else 0.0)
        if mode == "dense":
            qv = self._query_vector(dense_query or query)
            fused = drop_overlaps(self.dense_run(qv, depth))
        else:
            fused, rows, qv = self.candidates(query, dense_query)
            if self.reranker is not None and self.cfg.rerank and fused:
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
                sentence_cos = self.best_sentence(qv, hit)[1]
                chunk_cos = float(self.index.dense.reconstruct(self._row(hit)) @ qv[0])
                confidence = max(sentence_cos, chunk_cos)
            out.append(hit)
        return Retrieval(tuple(out), confidence, qv[0])

    def search(self, query: str, k: int | None = None, mode: str | None = None) -> list[Hit]:
        """Hits only (the pyserini-style searcher call)."""
        return list(self.retrieve(query, k, mode).hits)
