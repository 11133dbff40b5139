"""Warm latency (each stage of `Assistant.ask`, next to a bare query encoding) and cold start (fresh processes)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.process import ChildRun, child_env, run_child
from qa.config import Config
from qa.stats import percentile, summarize

WARMUP = 10  # asks before timing: first calls pay lazy imports, allocator growth and thread pool start


class Uncached:
    """The real embedder without its query cache (no embed_query), so every ask pays for its encoding."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    @property
    def max_tokens(self) -> int:
        return int(self.inner.max_tokens)

    def embed(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        return self.inner.embed(texts, show_progress=show_progress)

    def count_tokens(self, text: str) -> int:
        return int(self.inner.count_tokens(text))


class FixedVector:
    """An embedder that returns a vector set beforehand: times retrieval without the model."""

    name = "fixed"
    max_tokens = 1 << 30

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.vector = np.zeros(dim, dtype=np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.tile(self.vector, (len(texts), 1))

    def count_tokens(self, text: str) -> int:
        return 0


def read_questions(path: Path) -> list[tuple[str, list[str]]]:
    """(question, history) pairs of an evaluation file."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                rows.append((str(row["question"]), [str(h) for h in row.get("history") or []]))
    return rows


def _ms(seconds: float) -> float:
    return seconds * 1000


def measure_warm(assistant: Any, questions: list[tuple[str, list[str]]], profile_to: Path | None) -> dict[str, Any]:
    """Warm latency of ask() per question, each stage timed on its own, and a bare encoding next to it.

    The three are interleaved question by question, so a busy moment of the machine hits all of them alike.
    """
    from qa.retrieval import Retriever, rrf_fuse

    cfg = assistant.cfg
    retriever = assistant.retriever
    index = assistant.index
    tuned = getattr(assistant.embedder, "query", None)  # qa.adapt.QueryTunedEmbedder: questions go through it
    encode_query = tuned.embed if tuned is not None else assistant.embedder.embed
    # the bare forward pass of whatever encodes questions (ONNX Runtime or torch), without the query cache
    bare_encode = (tuned if tuned is not None else assistant.embedder.inner).embed
    fixed = FixedVector(assistant.embedder.dim)
    no_model = Retriever(index, fixed, cfg, getattr(retriever, "reranker", None))  # same retrieve(), vector handed in
    depth = max(cfg.search.candidates, cfg.search.k)
    weights = [cfg.search.dense_weight, cfg.search.sentence_weight, cfg.search.lexical_weight]

    for question, history in questions[:WARMUP]:
        assistant.ask(question, history)
        bare_encode([question])
    ask_t: dict[str, list[float]] = {k: [] for k in ("prepare", "retrieve", "format", "total")}
    stage_t: dict[str, list[float]] = {
        k: [] for k in ("embedding", "dense", "sentences", "bm25", "fusion", "select", "retrieve_without_embedding")
    }
    bare: list[float] = []
    for question, history in questions:
        answer = assistant.ask(question, history)
        if "total" not in answer.timings:
            continue  # an empty message returns before any stage
        for key in ask_t:
            ask_t[key].append(answer.timings[key])
        query = answer.query
        t = time.perf_counter()
        qv = np.asarray(encode_query([query]), dtype=np.float32).reshape(1, -1)
        t_embed = time.perf_counter()
        dense = retriever.dense_run(qv, depth)
        t_dense = time.perf_counter()
        sentences = retriever.sentence_run(qv, depth)
        t_sent = time.perf_counter()
        lexical = index.bm25.search(query, depth)
        t_bm25 = time.perf_counter()
        rrf_fuse([dense, sentences, lexical], weights, cfg.search.rrf_k)
        t_fuse = time.perf_counter()
        fixed.vector = qv[0]
        no_model.retrieve(query, k=cfg.search.k)
        t_all = time.perf_counter()
        bare_encode([question])
        bare.append(_ms(time.perf_counter() - t_all))
        stage_t["embedding"].append(_ms(t_embed - t))
        stage_t["dense"].append(_ms(t_dense - t_embed))
        stage_t["sentences"].append(_ms(t_sent - t_dense))
        stage_t["bm25"].append(_ms(t_bm25 - t_sent))
        stage_t["fusion"].append(_ms(t_fuse - t_bm25))
        stage_t["retrieve_without_embedding"].append(_ms(t_all - t_fuse))
        # What retrieve() does after fusion: reranker features and score, overlaps, best sentence, confidence.
        stage_t["select"].append(max(0.0, _ms((t_all - t_fuse) - (t_fuse - t_embed))))
    ask = {k: summarize(v) for k, v in ask_t.items()}
    stages = {k: summarize(v) for k, v in stage_t.items()}
    stages["prepare"] = ask["prepare"]
    stages["format"] = ask["format"]
    bare_s = summarize(bare)
    result: dict[str, Any] = {
        "questions": len(ask_t["total"]),
        "ask": ask,
        "stages": stages,
        "bare_embedding": bare_s,
        "ratio_total_to_embedding_p50": round(ask["total"]["p50"] / bare_s["p50"], 2) if bare_s["n"] else None,
        "ratio_total_to_embedding_p95": round(ask["total"]["p95"] / bare_s["p95"], 2) if bare_s["n"] else None,
        "query_runtime": getattr(assistant.embedder, "runtime", "torch"),
        "encoder_threads": cfg.serving.torch_threads,  # intra-op threads of torch and ONNX Runtime alike
    }
    if profile_to is not None:
        result["profile"] = profile(lambda: [assistant.ask(q, h) for q, h in questions], profile_to)
    return result


def profile(work: Callable[[], object], path: Path) -> str:
    """Profile work() with pyinstrument (or cProfile when it is missing) to a text file; returns its name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        from pyinstrument import Profiler
    except ImportError:
        import cProfile
        import io
        import pstats

        prof = cProfile.Profile()
        prof.runcall(work)
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(40)
        path.write_text(buf.getvalue(), encoding="utf-8")
        return path.name
    profiler = Profiler(interval=0.0005)
    profiler.start()
    try:
        work()
    finally:
        profiler.stop()
    path.write_text(profiler.output_text(unicode=True, color=False), encoding="utf-8")
    return path.name


FLOOR = """
import os, sys
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import sentence_transformers
from qa.embedding import resolve_model_path
model = sentence_transformers.SentenceTransformer(str(resolve_model_path(sys.argv[1])), device="cpu",
                                                  local_files_only=True)
if sys.argv[2] == "encode":
    model.encode(["What is ALL?"], normalize_embeddings=True)
"""

IMPORT_CHECK = """
import json, sys
import qa
from qa import Config
print(json.dumps({m: m in sys.modules for m in ("torch", "gradio", "sentence_transformers", "faiss")}))
"""


def measure_cold(cfg: Config, question: str, runs: int, profile_to: Path | None) -> dict[str, Any]:
    """Fresh-process `qa ask` against its floor (import sentence_transformers + model load), interleaved."""
    env = child_env(cfg)
    model = cfg.indexing.model_name
    ask_args = ["ask", "--corpus", str(cfg.paths.corpus_dir), "--index", str(cfg.paths.index_dir), "--model", model,
                question]
    commands = {
        "python": [sys.executable, "-c", "pass"],
        "floor": [sys.executable, "-c", FLOOR, model, "load"],
        "floor_encode": [sys.executable, "-c", FLOOR, model, "encode"],
        "ask": [sys.executable, "-m", "qa", *ask_args],
    }
    samples: dict[str, list[ChildRun]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            samples[name].append(run_child(cmd, env=env))
    for name, done in samples.items():
        bad = [r for r in done if r.returncode]
        if bad:
            raise RuntimeError(f"cold start '{name}' failed: {bad[0].stderr.strip()[-500:]}")

    def stats(done: list[ChildRun]) -> dict[str, Any]:
        return {
            "wall_s": [round(r.seconds, 3) for r in done],
            "median_s": round(percentile([r.seconds for r in done], 50), 3),
            "peak_rss_mb": round(max(r.peak_rss_mb for r in done), 1),
        }

    out: dict[str, Any] = {k: stats(v) for k, v in samples.items()}
    out["ratio_ask_to_floor"] = round(out["ask"]["median_s"] / out["floor"]["median_s"], 2)
    out["ratio_ask_to_floor_with_encode"] = round(out["ask"]["median_s"] / out["floor_encode"]["median_s"], 2)
    imports = run_child([sys.executable, "-c", IMPORT_CHECK], env=env)
    loaded = json.loads(imports.stdout.strip().splitlines()[-1]) if imports.returncode == 0 else {}
    out["import_qa"] = {
        "modules": loaded,
        "light": bool(loaded) and not (loaded["torch"] or loaded["gradio"]),
        "wall_s": round(imports.seconds, 3),
    }
    if profile_to is not None:
        try:
            import pyinstrument  # noqa: F401

            prof = run_child([sys.executable, "-m", "pyinstrument", "--no-color", "-r", "text", "-o", str(profile_to),
                              "-m", "qa", *ask_args], env=env)
            if prof.returncode == 0:
                out["profile"] = profile_to.name
        except ImportError:
            pass
    return out
