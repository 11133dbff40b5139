"""Scale: synthetic corpora of many chunks, each built and queried in its own process.

`python -m bench.scale FOLDER SIZE SEED MODEL` runs one size and prints its figures as JSON (measure_scale
starts it; the model is loaded only after the build, so the build's memory is the index's own).
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.latency import WARMUP, FixedVector
from bench.process import json_default, loadavg, log, proc_memory, run_child
from qa.config import Config
from qa.stats import summarize

METHOD = ("chunks of 3 real corpus sentences drawn with numpy default_rng(seed); vector = Dirichlet-weighted mean "
          "of the sentences' real embeddings + Gaussian noise (norm ~0.1), normalised; queries = the evaluation "
          "questions embedded by the real model")
MEASURED = "live query embedding + dense chunk search + BM25 + RRF fusion at candidates depth"
EF_SEARCH = (64, 128, 256, 512)  # the HNSW sweep


def synthetic_corpus(sentences: Sequence[str], vectors: np.ndarray, size: int, seed: int = 0, per_chunk: int = 3,
                     noise: float = 0.1) -> tuple[list[str], np.ndarray]:
    """`size` chunks made of `per_chunk` real sentences drawn with a fixed seed, and a vector for each.

    A chunk's vector is the random-weighted (Dirichlet) mean of its sentences' real embeddings, plus Gaussian
    noise of norm ~`noise`, L2-normalised: no model call, so 100k chunks take seconds, not ~20 minutes of
    embedding, and every vector is distinct (no ties to blur recall). Same inputs and seed, same corpus.
    """
    if len(sentences) != len(vectors) or not len(sentences):
        raise ValueError(f"need one vector per sentence and at least one ({len(sentences)} vs {len(vectors)})")
    if size < 0 or per_chunk < 1:
        raise ValueError(f"size must be >= 0 and per_chunk >= 1, not {size}, {per_chunk}")
    rng = np.random.default_rng(seed)
    base = np.asarray(vectors, dtype=np.float32)
    dim = base.shape[1]
    picks = rng.integers(0, len(sentences), size=(size, per_chunk))
    weights = rng.dirichlet(np.ones(per_chunk), size=size).astype(np.float32)
    out = np.empty((size, dim), dtype=np.float32)
    block = 8192  # bounds the (block, per_chunk, dim) temporary to ~40 MB
    for start in range(0, size, block):
        p, w = picks[start : start + block], weights[start : start + block]
        mixed = np.einsum("bp,bpd->bd", w, base[p])
        mixed += rng.standard_normal(mixed.shape, dtype=np.float32) * (noise / math.sqrt(dim))
        out[start : start + block] = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)
    texts = [" ".join(sentences[j] for j in row) for row in picks.tolist()]
    return texts, out


def recall_at_k(approx: np.ndarray, exact: np.ndarray, k: int = 10) -> float:
    """Mean share of the exact top k that the approximate search also returned (rows of FAISS ids)."""
    if approx.shape[0] != exact.shape[0]:
        raise ValueError("approx and exact need one row per query")
    if not len(exact):
        return math.nan
    found = [
        len(set(a[:k].tolist()) & {e for e in b[:k].tolist() if e >= 0}) / max(1, int((b[:k] >= 0).sum()))
        for a, b in zip(approx, exact, strict=True)
    ]
    return float(np.mean(found))


def _ms(seconds: float) -> float:
    return seconds * 1000


def scale_inputs(assistant: Any, questions: list[tuple[str, list[str]]], folder: Path) -> Path:
    """The real sentences with their stored vectors and the evaluation questions embedded, for the workers."""
    index = assistant.index
    n = index.sentences.ntotal
    vectors = index.sentences.reconstruct_n(0, n)
    texts = [c.text[s:e] for c in index.chunks for s, e in c.sentences]
    if len(texts) != n:
        raise RuntimeError(f"{len(texts)} sentences but {n} sentence vectors")
    queries = [q for q, _ in questions]
    query_vectors = assistant.embedder.embed(queries)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "inputs.npz", vectors=vectors, query_vectors=query_vectors)
    (folder / "inputs.json").write_text(json.dumps({"sentences": texts, "queries": queries}), encoding="utf-8")
    return folder


def scale_point(folder: Path, size: int, seed: int, model_name: str) -> dict[str, Any]:
    """Build and query one synthetic corpus of `size` chunks (in its own process: see measure_scale)."""
    import faiss

    from qa.index import Index, faiss_type, make_faiss_index
    from qa.lexical import Bm25
    from qa.retrieval import Retriever, rrf_fuse
    from qa.types import Chunk

    arrays = np.load(folder / "inputs.npz")
    meta = json.loads((folder / "inputs.json").read_text(encoding="utf-8"))
    queries, query_vectors = meta["queries"], arrays["query_vectors"].astype(np.float32)
    rss_start = proc_memory()["rss_mb"]
    t0 = time.perf_counter()
    texts, vectors = synthetic_corpus(meta["sentences"], arrays["vectors"], size, seed)
    t_gen = time.perf_counter()
    dense = make_faiss_index(vectors)
    t_faiss = time.perf_counter()
    chunks = [Chunk(id=f"synthetic#{i}", doc_id=f"synthetic/{i // 20}", text=t, start=0, end=len(t),
                    page="Synthetic page") for i, t in enumerate(texts)]
    bm25 = Bm25(chunks)
    t_bm25 = time.perf_counter()
    expected = faiss_type(size)  # the rule build_index records
    manifest = {"num_chunks": size, "faiss_type": expected, "synthetic_seed": seed}
    empty = faiss.IndexFlatIP(vectors.shape[1])
    index = Index(manifest, [], chunks, dense, empty, np.zeros(0, np.int64), np.zeros(size, np.int64), bm25)
    rss_built = proc_memory()["rss_mb"]
    build_peak = proc_memory()["peak_mb"]
    out_dir = folder / f"index-{size}"
    t_save0 = time.perf_counter()
    index.save(out_dir)
    t_save = time.perf_counter()
    disk = {p.name: p.stat().st_size for p in out_dir.iterdir()}
    saved_manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))

    # The model comes in only now, so build memory above is the index's own; queries are embedded live.
    from qa.embedding import SentenceTransformerEmbedder

    cfg = Config.of(model_name=model_name)
    embedder = SentenceTransformerEmbedder(cfg.indexing.model_name)
    embedder.model  # noqa: B018 - load it now, outside the timed loop
    rss_model = proc_memory()["rss_mb"]
    depth = max(cfg.search.candidates, cfg.search.k)
    retriever = Retriever(index, FixedVector(vectors.shape[1]), cfg)
    timing: dict[str, list[float]] = {k: [] for k in ("embedding", "dense", "bm25", "fusion", "search", "total")}
    for query in queries[:WARMUP]:
        retriever.dense_run(embedder.embed([query]), depth)
        bm25.search(query, depth)
    for query in queries:
        t = time.perf_counter()
        qv = embedder.embed([query])
        t_embed = time.perf_counter()
        d = retriever.dense_run(qv, depth)
        t1 = time.perf_counter()
        lexical = bm25.search(query, depth)
        t2 = time.perf_counter()
        rrf_fuse([d, lexical], [cfg.search.dense_weight, cfg.search.lexical_weight], cfg.search.rrf_k)
        t3 = time.perf_counter()
        for key, sec in (("embedding", t_embed - t), ("dense", t1 - t_embed), ("bm25", t2 - t1),
                         ("fusion", t3 - t2), ("search", t3 - t_embed), ("total", t3 - t)):
            timing[key].append(_ms(sec))
    # Exact search over the same vectors: the ground truth for recall, and what exact would cost at this size.
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    exact_ms = _search_ms(exact, query_vectors, depth)
    _, exact_rows = exact.search(query_vectors, 10)
    _, approx_rows = dense.search(query_vectors, 10)
    hnsw = getattr(dense, "hnsw", None)
    mem = proc_memory()
    shutil.rmtree(out_dir, ignore_errors=True)
    return {
        "size": size,
        "faiss_type": {"IndexFlatIP": "flat-ip", "IndexHNSWSQ": "hnsw-fp16-ip"}.get(type(dense).__name__,
                                                                                    type(dense).__name__),
        "expected_faiss_type": expected,
        "manifest_faiss_type": saved_manifest.get("faiss_type"),
        "build_s": {"generate": round(t_gen - t0, 2), "faiss": round(t_faiss - t_gen, 2),
                    "bm25": round(t_bm25 - t_faiss, 2), "save": round(t_save - t_save0, 2),
                    "total": round(t_save - t0, 2)},
        "disk_mb": {k: round(v / 2**20, 2) for k, v in disk.items()} | {"total": round(sum(disk.values()) / 2**20, 2)},
        "rss_mb": {"start": round(rss_start, 1), "built": round(rss_built, 1), "with_model": round(rss_model, 1),
                   "index_resident": round(rss_built - rss_start, 1), "build_peak": round(build_peak, 1),
                   "peak": round(mem.get("peak_mb", 0.0), 1)},
        "query_ms": {k: summarize(v) for k, v in timing.items()},
        "exact_search_ms": summarize(exact_ms),
        "recall_at_10": round(recall_at_k(approx_rows, exact_rows, 10), 4),
        "depth": depth,
        "ef_search": int(hnsw.efSearch) if hnsw is not None else None,
        "hnsw_m": int(hnsw.nb_neighbors(1)) if hnsw is not None else None,
        "ef_construction": int(hnsw.efConstruction) if hnsw is not None else None,
        "hnsw_sweep": _ef_sweep(dense, query_vectors, exact_rows, depth) if hnsw is not None else [],
        "queries": len(queries),
    }


def _search_ms(index: Any, query_vectors: np.ndarray, depth: int) -> list[float]:
    """Milliseconds of each query searched on its own (one at a time, as a server answers them)."""
    out = []
    for i in range(len(query_vectors)):
        t = time.perf_counter()
        index.search(query_vectors[i : i + 1], depth)
        out.append(_ms(time.perf_counter() - t))
    return out


def _ef_sweep(dense: Any, query_vectors: np.ndarray, exact_rows: np.ndarray, depth: int) -> list[dict[str, Any]]:
    """Recall@10 and single-query search time of an HNSW index at several efSearch values (then restored)."""
    shipped = dense.hnsw.efSearch
    sweep = []
    try:
        for ef in EF_SEARCH:
            dense.hnsw.efSearch = ef
            ms = _search_ms(dense, query_vectors, depth)
            _, rows = dense.search(query_vectors, 10)
            sweep.append({"ef_search": ef, "search_ms": summarize(ms),
                          "recall_at_10": round(recall_at_k(rows, exact_rows, 10), 4)})
    finally:
        dense.hnsw.efSearch = shipped
    return sweep


def measure_scale(assistant: Any, questions: list[tuple[str, list[str]]], sizes: Sequence[int], seed: int,
                  work: Path) -> dict[str, Any]:
    """One fresh process per corpus size, so each size's memory is its own; the model is not loaded there."""
    folder = scale_inputs(assistant, questions, work / "scale")
    points = []
    for size in sizes:
        log(f"scale: {size:,} synthetic chunks")
        before = loadavg()
        run = run_child([sys.executable, "-m", "bench.scale", str(folder), str(size), str(seed),
                         assistant.cfg.indexing.model_name], timeout=1800)
        if run.returncode:
            points.append({"size": size, "error": run.stderr.strip()[-800:]})
            continue
        point = json.loads(run.stdout.strip().splitlines()[-1])
        point["process_peak_rss_mb"] = round(run.peak_rss_mb, 1)
        point["process_wall_s"] = round(run.seconds, 2)
        point["loadavg_before"] = before
        points.append(point)
    return {"method": METHOD, "measured": MEASURED, "seed": seed, "points": points}


def main(argv: list[str]) -> int:
    """`python -m bench.scale FOLDER SIZE SEED MODEL`: one scale point, JSON on stdout."""
    if len(argv) != 4:
        print("usage: python -m bench.scale FOLDER SIZE SEED MODEL (internal; use `qa bench`)", file=sys.stderr)
        return 2
    print(json.dumps(scale_point(Path(argv[0]), int(argv[1]), int(argv[2]), argv[3]), default=json_default))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
