"""The yardstick: the retriever of the usual LangChain RAG tutorial, scored by the same scorer as the assistant.

Whole files loaded as they are (TextLoader), cut by a recursive character splitter into 1,000-character chunks
with 200 characters of overlap (RecursiveCharacterTextSplitter's defaults in the tutorial: paragraph, line, word
and character separators, tried in that order), embedded with the same bundled MiniLM, searched in a flat FAISS
index. No cleaning, no query preparation, no fusion, no reranking, no abstention: every question gets its top k.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qa.corpus import corpus_files
from qa.embedding import Embedder
from qa.types import Answer, Chunk, Passage

SEPARATORS = ("\n\n", "\n", " ", "")


def _merge(splits: list[str], size: int, overlap: int) -> list[str]:
    """Join pieces into chunks of at most `size` characters, starting each new chunk with up to `overlap`
    characters of the previous one (LangChain's _merge_splits, separators already kept on the pieces)."""
    chunks: list[str] = []
    current: list[str] = []
    total = 0
    for piece in splits:
        if total + len(piece) > size and current:
            text = "".join(current).strip()
            if text:
                chunks.append(text)
            while current and (total > overlap or total + len(piece) > size):
                total -= len(current.pop(0))
        current.append(piece)
        total += len(piece)
    text = "".join(current).strip()
    if text:
        chunks.append(text)
    return chunks


def split_text(text: str, size: int = 1000, overlap: int = 200, separators: tuple[str, ...] = SEPARATORS) -> list[str]:
    """Recursive character splitting: split on the coarsest separator that occurs (kept at the start of the piece
    after it); pieces still too long are split again with the finer separators."""
    separator = next((s for s in separators if s == "" or s in text), "")
    finer = separators[separators.index(separator) + 1:] if separator else ()
    if separator:
        parts = text.split(separator)
        pieces = [parts[0]] + [separator + p for p in parts[1:]]
    else:
        pieces = list(text)
    out: list[str] = []
    good: list[str] = []
    for piece in (p for p in pieces if p):
        if len(piece) < size:
            good.append(piece)
            continue
        if good:
            out.extend(_merge(good, size, overlap))
            good = []
        out.extend(split_text(piece, size, overlap, finer) if finer else [piece])
    if good:
        out.extend(_merge(good, size, overlap))
    return out


class TutorialBaseline:
    """ask() like the Assistant's, so the evaluation scores both the same way."""

    def __init__(self, corpus_dir: Path, embedder: Embedder, size: int = 1000, overlap: int = 200) -> None:
        import faiss

        self.chunks: list[Chunk] = []
        for path in corpus_files(Path(corpus_dir)):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            name = path.relative_to(corpus_dir).as_posix()
            for n, piece in enumerate(split_text(text, size, overlap)):
                self.chunks.append(Chunk(id=f"{name}#{n}", doc_id=name, text=piece, start=0, end=len(piece),
                                         page=name))
        vectors = embedder.embed([c.text for c in self.chunks]) if self.chunks else np.zeros((0, embedder.dim))
        self.index = faiss.IndexFlatIP(embedder.dim)  # MiniLM's vectors are normalised: inner product == cosine
        if len(vectors):
            self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.embedder = embedder

    def ask(self, message: str, history: list[str] | None = None, k: int = 4) -> Answer:
        if not message.strip() or not self.chunks:
            return Answer(question=message, query=message, answerable=False, passages=(), html="")
        vector = self.embedder.embed([message]).astype(np.float32)
        scores, rows = self.index.search(vector, min(k, len(self.chunks)))
        passages = tuple(Passage(text=self.chunks[r].text, page=self.chunks[r].page, section="", score=float(s),
                                 revised=None, url=None, citation=self.chunks[r].page, chunk_id=self.chunks[r].id)
                         for s, r in zip(scores[0], rows[0], strict=True) if r >= 0)
        return Answer(question=message, query=message, answerable=bool(passages), passages=passages, html="",
                      confidence=float(scores[0][0]) if passages else 0.0)
