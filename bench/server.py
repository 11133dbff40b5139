"""The chat server: time to its first answer, then load from concurrent clients, and where its CPU goes."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.load import KINDS, Request, check, gradio_client, numbered, run_load
from bench.process import child_env, log, proc_memory, serve
from qa.config import Config

PROFILE_SECONDS = 8  # py-spy's sampling window during the extra burst

# Where a sampled server stack spends its time, by the nearest frame (from the leaf) that names a library.
STACK_CATEGORIES = (
    ("model (torch / ONNX Runtime / transformers)",
     ("torch/", "transformers/", "sentence_transformers/", "tokenizers/", "onnxruntime/")),
    ("FAISS", ("faiss/",)),
    ("qa pipeline (BM25, fusion, answer)", ("qa/", "bm25s/", "Stemmer", "rapidfuzz/")),
    ("Gradio / HTTP / asyncio",
     ("gradio/", "gradio_client/", "starlette/", "fastapi/", "uvicorn/", "h11/", "anyio/", "asyncio/", "httpx/",
      "httpcore/", "pydantic", "orjson", "sse_starlette", "safehttpx/", "websockets/")),
)
# Leaves where a thread waits rather than works (py-spy's idle detection lets some through).
IDLE_LEAVES = ("selectors.py", "Condition.wait", "Event.wait", "Thread.join", "Queue.get", "time.sleep")


def measure_server(cfg: Config, questions: Sequence[tuple[str, list[str]]], clients: Sequence[int], requests: int,
                   time_cap: float, profile_to: Path | None = None) -> dict[str, Any]:
    """Start `python app.py` on a free 127.0.0.1 port, time its first answer, then load it at each level.

    Every request is numbered (bench.load.numbered) and no number repeats across levels, so the server's
    query-vector cache never hits.
    """
    out: dict[str, Any] = {}
    with serve(child_env(cfg)) as server:
        out["port"] = server.port
        out["http_ready_s"] = server.ready_s
        first = numbered(questions, 1)[0]
        answer = gradio_client(server.url).predict(first.message, list(first.history), api_name=first.endpoint)
        out["first_answer_s"] = round(time.perf_counter() - server.started, 3)
        out["first_answer_ok"] = check(first, answer) is None
        out["idle_rss_mb"] = round(proc_memory(server.pid).get("rss_mb", math.nan), 1)
        offset = 1
        levels: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
        for kind in KINDS:
            for n in clients:
                log(f"server: {n} concurrent {kind} clients")
                level = run_load(server.url, numbered(questions, requests, offset), n, kind, time_cap, server.pid)
                levels[kind].append(asdict(level))
                offset += requests
        out["levels"] = levels["http"]  # the targets are judged on these
        out["levels_gradio_client"] = levels["gradio_client"]
        if profile_to is not None:
            burst = numbered(questions, requests, offset)
            out["profile"] = _profiled_burst(server.url, burst, max(clients), server.pid, profile_to)
        mem = proc_memory(server.pid)
        out["rss_mb"] = round(mem.get("rss_mb", math.nan), 1)
        out["peak_rss_mb"] = round(mem.get("peak_mb", math.nan), 1)
    return out


def measure_concurrency(cfg: Config, questions: Sequence[tuple[str, list[str]]], settings: Sequence[int],
                        clients: Sequence[int], requests: int, time_cap: float) -> list[dict[str, Any]]:
    """One server per QA_CONCURRENCY setting, loaded by HTTP clients at each level: how the setting shipped
    (Config.serving.concurrency) was chosen. A short warm-up burst first, outside the figures."""
    rows = []
    for setting in settings:
        log(f"server: QA_CONCURRENCY={setting}")
        with serve(child_env(cfg, QA_CONCURRENCY=str(setting))) as server:
            run_load(server.url, numbered(questions, 40, 10_000_000), 4, "http", time_cap)
            offset = 20_000_000
            for n in clients:
                level = run_load(server.url, numbered(questions, requests, offset), n, "http", time_cap, server.pid)
                offset += requests
                rows.append({"concurrency": setting, **asdict(level)})
    return rows


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


def _profiled_burst(url: str, requests: list[Request], clients: int, pid: int, path: Path) -> dict[str, Any] | None:
    """An extra burst (not counted in the levels) with py-spy sampling every server thread; None without py-spy."""
    exe = _py_spy()
    if exe is None:
        return None
    raw_path = path.with_suffix(".raw")
    cmd = [exe, "record", "--pid", str(pid), "--duration", str(PROFILE_SECONDS), "--rate", "100", "--format", "raw",
           "--nonblocking", "-o", str(raw_path)]
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    level = run_load(url, requests, clients, "http", float(PROFILE_SECONDS), pid)
    try:
        spy.wait(PROFILE_SECONDS + 60)
    except subprocess.TimeoutExpired:
        spy.kill()
        return None
    if not raw_path.exists():
        return None
    raw = raw_path.read_text(encoding="utf-8", errors="replace")
    raw_path.unlink()
    shares = stack_shares(raw)
    lines = [
        f"py-spy, every thread of the chat server, {PROFILE_SECONDS} s at 100 Hz, during {level.answered} answers "
        f"from {level.clients} concurrent HTTP clients ({level.qps} answered/s)",
        "",
        "Share of busy samples (waits in select/Condition.wait left out) by the nearest library frame from the leaf:",
    ]
    lines += [f"  {v:6.1%}  {k}" for k, v in shares.items()]
    lines += ["", "Top leaf frames (self samples):"]
    lines += [f"  {k:7d}  {f}" for f, k in _top_frames(raw)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"file": path.name, "shares": shares, "answered": level.answered, "qps": level.qps}
