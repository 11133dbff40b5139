"""The index on disk: chunks + FAISS vectors (passages and sentences) + a manifest; BM25 rebuilt at load."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

from qa import __version__
from qa.chunking import chunk_corpus
from qa.config import Config
from qa.corpus import corpus_fingerprint, load_collection, load_corpus
from qa.embedding import Embedder, release_free_memory
from qa.errors import IndexMismatchError, IndexNotFoundError
from qa.lexical import Bm25
from qa.types import Chunk, Collection, Document

log = logging.getLogger(__name__)

FORMAT = 5  # bump when what is stored (parsing, chunking, embedding text) changes; 4: key-points lists;
# 5: a line holding a full stop is no heading
FILES = ("chunks.jsonl", "documents.jsonl", "dense.faiss", "sentences.faiss")
EXACT_LIMIT = 20_000  # up to this many vectors, exact search is fast enough; above it, HNSW


def sentence_text(chunk: Chunk, i: int) -> str:
    """One sentence with its section heading, for sentence-level matching."""
    s, e = chunk.sentences[i]
    return f"{chunk.section or chunk.page}: {chunk.text[s:e]}"


class VectorIndex(Protocol):
    """What the code uses of a FAISS index (faiss ships no type information)."""

    ntotal: int
    d: int

    def add(self, vectors: np.ndarray) -> None: ...

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def reconstruct(self, row: int) -> np.ndarray: ...

    def reconstruct_n(self, start: int, n: int) -> np.ndarray: ...


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:  # pragma: no cover - a dependency of the package
        raise ImportError("faiss is not available: install faiss-cpu (pip install -e .)") from None
    return faiss


def new_faiss_index(n: int, dim: int) -> VectorIndex:
    """An empty index of the kind n vectors get (faiss_type names it). Exact inner product for small corpora; once
    exact search gets slow, HNSW (no training, high recall) over vectors stored as 16-bit floats: half the memory
    of float32 (a 100k-passage corpus has ~470k sentence vectors), and no training
    either. Vectors are added later, so a large corpus is never held twice in memory."""
    faiss = _faiss()
    if n <= EXACT_LIMIT:
        return faiss.IndexFlatIP(dim)  # inner product == cosine: vectors are L2-normalised
    index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_fp16, 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 80
    index.hnsw.efSearch = 512  # qa bench: recall@10 0.92 at 128, 0.987 at 512, search p95 still ~1 ms
    return index


def make_faiss_index(vectors: np.ndarray) -> VectorIndex:
    """new_faiss_index holding `vectors` (rows in order)."""
    dim = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[0] else 1
    index = new_faiss_index(len(vectors), dim)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def gather(index: VectorIndex, rows: np.ndarray, block: int = 8192) -> np.ndarray:
    """The stored vectors of `rows` (ascending), read a block at a time so the whole index is never copied."""
    out = np.empty((len(rows), index.d), dtype=np.float32)
    done = 0
    for start in range(0, index.ntotal, block):
        end = min(start + block, index.ntotal)
        upto = int(np.searchsorted(rows, end, side="left"))
        if upto > done:
            out[done:upto] = index.reconstruct_n(start, end - start)[rows[done:upto] - start]
            done = upto
    return out


def faiss_type(n: int) -> str:
    """The kind of index new_faiss_index makes for n vectors (recorded in the manifest)."""
    return "flat-ip" if n <= EXACT_LIMIT else "hnsw-fp16-ip"


@dataclass
class Index:
    """Everything retrieval needs, in memory."""

    manifest: dict
    documents: list[Document]
    chunks: list[Chunk]
    dense: VectorIndex  # over each chunk's search_text, row n == chunks[n]
    sentences: VectorIndex  # over sentence_text, rows in chunk order
    sentence_owner: np.ndarray  # sentence row -> chunk row
    sentence_first: np.ndarray  # chunk row -> its first sentence row
    bm25: Bm25

    @property
    def documents_by_id(self) -> dict[str, Document]:
        return {d.id: d for d in self.documents}

    @property
    def collection(self) -> Collection:
        """What the pages are (sources.json, else worked out at build): recorded in the manifest."""
        raw = dict(self.manifest.get("collection") or {})
        for key in ("publishers", "examples"):
            raw[key] = tuple(raw.get(key) or ())
        raw["helplines"] = tuple(tuple(h) for h in raw.get("helplines") or ())
        raw.setdefault("title", "Questions about these pages")
        raw.setdefault("topic", "the pages listed below")
        return Collection(**raw)

    @contextlib.contextmanager
    def vectors_set_aside(self, folder: Path) -> Iterator[None]:
        """Both FAISS indexes written to `folder` and dropped from memory for the duration, then read back
        unchanged. The query encoder's training needs only the rows gathered for it; at 100,000 passages the
        indexes hold ~0.6 GB that the model's training copy, its optimizer and the ONNX export would sit on."""
        faiss = _faiss()
        paths = Path(folder) / ".dense.faiss", Path(folder) / ".sentences.faiss"
        try:
            faiss.write_index(self.dense, str(paths[0]))
            faiss.write_index(self.sentences, str(paths[1]))
            self.dense = self.sentences = cast(Any, None)  # nothing may search meanwhile: it would fail loudly
            release_free_memory()
            yield
        finally:
            if self.dense is None:
                self.dense, self.sentences = faiss.read_index(str(paths[0])), faiss.read_index(str(paths[1]))
            for path in paths:
                path.unlink(missing_ok=True)

    def save(self, index_dir: Path) -> None:
        """Write atomically: a temporary folder renamed into place, manifest (with checksums) last."""
        index_dir = Path(index_dir)
        index_dir.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_builds(index_dir)
        tmp = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.tmp-", dir=index_dir.parent))
        old: Path | None = None
        try:
            faiss = _faiss()
            with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as f:
                for c in self.chunks:
                    f.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
            with open(tmp / "documents.jsonl", "w", encoding="utf-8") as f:
                for d in self.documents:
                    f.write(json.dumps(asdict(d), ensure_ascii=False) + "\n")
            faiss.write_index(self.dense, str(tmp / "dense.faiss"))
            faiss.write_index(self.sentences, str(tmp / "sentences.faiss"))
            manifest = dict(self.manifest, files={name: sha256_file(tmp / name) for name in FILES})
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            for name in (*FILES, "manifest.json"):
                with open(tmp / name, "rb") as f:
                    os.fsync(f.fileno())
            if index_dir.exists():
                old = index_dir.with_name(f".{index_dir.name}.old-{os.getpid()}")
                os.replace(index_dir, old)
            os.replace(tmp, index_dir)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if old is not None and old.exists() and not index_dir.exists():
                with contextlib.suppress(OSError):  # the new index never landed: put the previous one back
                    os.replace(old, index_dir)
            raise


def _remove_stale_builds(index_dir: Path, max_age_s: float = 600.0) -> None:
    """Delete temp/old folders that a killed build left beside index_dir (never ones a live build may own)."""
    now = time.time()
    for leftover in index_dir.parent.glob(f".{index_dir.name}.*-*"):
        try:
            if leftover.is_dir() and now - leftover.stat().st_mtime > max_age_s:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            continue


def sha256_file(path: Path) -> str:
    """Checksum of one built file, streamed (model weights are ~90 MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "qa": __version__}
    for pkg in ("sentence-transformers", "faiss-cpu", "bm25s", "tiktoken", "torch", "pysbd"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


def expected_manifest(cfg: Config, dim: int | None = None) -> dict:
    """The fields a built index must match to be reused with this Config."""
    wanted = {
        "format": FORMAT,
        "model": cfg.indexing.model_name,
        "chunk_tokens": cfg.indexing.chunk_tokens,
        "overlap_sentences": cfg.indexing.overlap_sentences,
        "corpus_sha256": corpus_fingerprint(cfg.paths.corpus_dir),
        "qa_version": __version__,
    }
    if dim is not None:
        wanted["dim"] = dim
    return wanted


def _embed_into_index(embedder: Embedder, texts: list[str], show_progress: bool, what: str,
                      batch: int = 1024) -> VectorIndex:
    """Embed in batches straight into a new FAISS index: peak memory is the index plus one batch, not two copies
    of every vector. A text seen before (a sentence shared by two overlapping passages, boilerplate repeated on
    many pages) is embedded once and its stored vector reused. Large batches let the model sort texts by length,
    so less padding is computed (a large corpus takes minutes on a CPU, hence the progress bar when asked)."""
    index = new_faiss_index(len(texts), embedder.dim)
    first: dict[str, int] = {}  # text -> the row it was first stored in
    starts = range(0, len(texts), batch)
    if show_progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc=f"embedding {what}", unit="batch", total=-(-len(texts) // batch))
    for i in starts:
        block = texts[i:i + batch]
        new = [text for text in dict.fromkeys(block) if text not in first]
        fresh = dict(zip(new, embedder.embed(new), strict=True)) if new else {}
        vectors = np.empty((len(block), embedder.dim), dtype=np.float32)
        for n, text in enumerate(block):
            vectors[n] = fresh[text] if text in fresh else index.reconstruct(first[text])
            first.setdefault(text, i + n)
        index.add(vectors)
    return index


def build_index(cfg: Config, embedder: Embedder, show_progress: bool = False) -> Index:
    """Parse, chunk and embed the corpus; nothing is written (call Index.save)."""
    started = time.perf_counter()
    documents = load_corpus(cfg.paths.corpus_dir)
    chunks = chunk_corpus(documents, cfg.indexing.chunk_tokens, cfg.indexing.overlap_sentences)
    too_long = [c.id for c in chunks if embedder.count_tokens(c.search_text) > embedder.max_tokens]
    if too_long:  # the model would silently ignore the tail of these passages
        raise IndexMismatchError(
            f"{len(too_long)} chunks exceed {embedder.name}'s {embedder.max_tokens} word pieces "
            f"(first: {too_long[0]}); lower chunk_tokens (now {cfg.indexing.chunk_tokens})"
        )
    collection = load_collection(cfg.paths.corpus_dir, documents)
    if not collection.examples:
        from qa.synthesize import example_questions

        collection = replace(collection, examples=example_questions(chunks))
    # each list of texts lives only while it is embedded: at 100,000 passages they are ~160 MB together
    dense = _embed_into_index(embedder, [c.search_text for c in chunks], show_progress, "passages")
    release_free_memory()
    sentence_texts = [sentence_text(c, i) for c in chunks for i in range(len(c.sentences))]
    sentences = _embed_into_index(embedder, sentence_texts, show_progress, "sentences")
    num_sentences = len(sentence_texts)
    del sentence_texts
    release_free_memory()  # before BM25 and learning add theirs
    manifest = dict(
        expected_manifest(cfg, embedder.dim),
        collection=asdict(collection),
        num_documents=len(documents),
        num_chunks=len(chunks),
        num_sentences=num_sentences,
        faiss_type=faiss_type(len(chunks)),  # the passage index
        sentence_faiss_type=faiss_type(num_sentences),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        build_seconds=round(time.perf_counter() - started, 2),
        versions=_versions(),
    )
    return _assemble(manifest, documents, chunks, dense, sentences)


def _assemble(manifest: dict, documents: list[Document], chunks: list[Chunk], dense: VectorIndex,
              sentences: VectorIndex) -> Index:
    counts = np.array([len(c.sentences) for c in chunks], dtype=np.int64)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(chunks) else np.zeros(0, dtype=np.int64)
    owner = np.repeat(np.arange(len(chunks)), counts)
    return Index(manifest, documents, chunks, dense, sentences, owner, first, Bm25(chunks))


def _chunk_from_json(row: dict) -> Chunk:
    row["sentences"] = tuple(tuple(s) for s in row.get("sentences", ()))
    return Chunk(**row)


def _document_from_json(row: dict) -> Document:
    from qa.types import Section

    row["sections"] = tuple(Section(**s) for s in row.get("sections", ()))
    for key in ("links", "references", "nav"):
        row[key] = tuple(row.get(key, ()))
    return Document(**row)


def load_index(cfg: Config, dim: int | None = None) -> Index:
    """Load index_dir, refusing one that is missing, damaged, or built from other inputs."""
    index_dir = Path(cfg.paths.index_dir)
    manifest_path = index_dir / "manifest.json"
    if not manifest_path.exists():
        raise IndexNotFoundError(f"no index in {index_dir}; run `qa build`")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise IndexMismatchError(f"{manifest_path} is damaged; run `qa build`") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files", {}), dict):
        raise IndexMismatchError(f"{manifest_path} is damaged (not a manifest object); run `qa build`")
    wanted = expected_manifest(cfg, dim)
    for key, value in wanted.items():
        if manifest.get(key) != value:
            what = "corpus" if key == "corpus_sha256" else key
            raise IndexMismatchError(
                f"{index_dir} was built with {what} {str(manifest.get(key))[:16]!r} "
                f"but the config asks for {str(value)[:16]!r}; run `qa build`"
            )
    for name in FILES:
        path = index_dir / name
        if not path.exists() or sha256_file(path) != manifest.get("files", {}).get(name):
            raise IndexMismatchError(f"{path} is missing or damaged (checksum differs); run `qa build`")
    try:
        faiss = _faiss()
        with open(index_dir / "chunks.jsonl", encoding="utf-8") as f:
            chunks = [_chunk_from_json(json.loads(line)) for line in f]
        with open(index_dir / "documents.jsonl", encoding="utf-8") as f:
            documents = [_document_from_json(json.loads(line)) for line in f]
        dense = faiss.read_index(str(index_dir / "dense.faiss"))
        sentences = faiss.read_index(str(index_dir / "sentences.faiss"))
    except (OSError, ValueError, TypeError, RuntimeError) as e:
        raise IndexMismatchError(f"{index_dir} could not be read ({e}); run `qa build`") from None
    if dense.ntotal != len(chunks):
        raise IndexMismatchError(f"{index_dir}: {dense.ntotal} vectors for {len(chunks)} chunks; run `qa build`")
    return _assemble(manifest, documents, chunks, dense, sentences)


def ensure_index(cfg: Config, embedder: Embedder, show_progress: bool = False) -> tuple[Index, str]:
    """Load the index if it matches; otherwise rebuild and save it. Returns the index and what happened."""
    try:
        return load_index(cfg, embedder.dim), "loaded"
    except (IndexNotFoundError, IndexMismatchError) as e:
        reason = str(e).split(";")[0]
    index = build_index(cfg, embedder, show_progress=show_progress)
    try:
        index.save(cfg.paths.index_dir)
    except OSError as e:  # read-only or full disk: serve from memory, say so
        log.warning("could not write the index to %s (%s); serving from memory", cfg.paths.index_dir, e.strerror or e)
        return index, f"built in memory ({reason}); not saved: {e.strerror or e}"
    return index, f"rebuilt ({reason})"
