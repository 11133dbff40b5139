"""One benchmark run: every section in turn against a private index, then results.json, report.md and plots.

Every measurement runs against a private index folder (a fresh `qa build` of the configured corpus), so the
benchmark never touches the index other commands use. Child processes are timed from the outside (wall
clock) and their peak memory comes from the kernel, so the numbers are what a patient's process would see.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.build import measure_build
from bench.large import measure_large_build
from bench.latency import Uncached, measure_cold, measure_warm, read_questions
from bench.plots import write_plots
from bench.process import ROOT, json_default, loadavg, log, machine
from bench.report import render_report
from bench.scale import measure_scale
from bench.server import measure_concurrency, measure_server
from bench.targets import OVERLOAD_CLIENTS, SCALE_SIZE, SERVER_CLIENTS, judge
from qa.config import Config
from qa.errors import QAError


@dataclass(frozen=True)
class BenchOptions:
    """What to run and how much of it; `quick()` gives a smoke run."""

    out_dir: Path = Path("eval/bench")
    questions: Path = Path("eval/questions.jsonl")
    build_corpora: tuple[Path, ...] = (Path("eval/corpora/lymphoma/corpus"),)  # built too: time and memory only
    sizes: tuple[int, ...] = (1_000, 10_000, SCALE_SIZE)  # synthetic chunks
    clients: tuple[int, ...] = (1, 4, SERVER_CLIENTS, OVERLOAD_CLIENTS)  # concurrent clients per load level
    requests: int = 400  # per load level
    concurrency: tuple[int, ...] = (1, 2, 4, 8)  # QA_CONCURRENCY settings compared at the top two load levels
    time_cap: float = 120.0  # seconds per load level
    cold_runs: int = 3  # fresh processes per cold-start measurement (median reported)
    warm_questions: int = 0  # 0 = every evaluation question
    seed: int = 0
    skip_scale: bool = False
    skip_server: bool = False
    profile: bool = True

    @classmethod
    def quick(cls, **changes: Any) -> BenchOptions:
        base = dict(sizes=(1_000, 5_000), requests=20, time_cap=20.0, cold_runs=1, warm_questions=40,
                    concurrency=(1, 2))
        return cls(**{**base, **changes})


def corpus_name(corpus: Path) -> str:
    """"seed" for the shipped corpus/, else the corpus's own name (eval/corpora/lymphoma/corpus -> lymphoma)."""
    path = Path(corpus).resolve()
    if path == ROOT / "corpus":
        return "seed"
    return path.parent.name if path.name == "corpus" else path.name


def run_bench(cfg: Config, opts: BenchOptions) -> dict[str, Any]:
    """Run every section (minus the skipped ones), write results.json, report.md and plots; returns the results."""
    from qa.assistant import Assistant
    from qa.embedding import SentenceTransformerEmbedder

    out_dir = Path(opts.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    questions = read_questions(opts.questions) if Path(opts.questions).is_file() else []
    if not questions:
        raise QAError(f"{opts.questions} is missing or holds no questions")
    work = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    cfg = cfg.replace(index_dir=work / "index", corpus_dir=Path(cfg.paths.corpus_dir).resolve())
    results: dict[str, Any] = {
        "machine": machine(),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(opts).items()},
        "loadavg": {"start": loadavg()},
    }

    def profile(name: str) -> Path | None:
        return out_dir / name if opts.profile else None

    previous = _previous(out_dir)
    if "large_build" in previous:  # measured apart (over an hour): kept until measured again
        results["large_build"] = previous["large_build"]
    started = time.perf_counter()
    try:
        # the configured corpus first: the later sections run on its index
        builds = [(cfg, corpus_name(cfg.paths.corpus_dir))]
        for corpus in opts.build_corpora:
            if not Path(corpus).is_dir():
                log(f"build: {corpus} is not a folder; skipped")
                continue
            name = corpus_name(corpus)
            builds.append((cfg.replace(corpus_dir=Path(corpus).resolve(), index_dir=work / f"index-{name}"), name))
        results["build"] = []
        for build_cfg, name in builds:
            log(f"index build of {name} (fresh process)")
            results["build"].append(measure_build(build_cfg, name))
        results["loadavg"]["after_build"] = loadavg()

        log("warm latency")
        assistant = Assistant.load(cfg, embedder=Uncached(SentenceTransformerEmbedder(cfg.indexing.model_name)))
        warm_qs = questions[: opts.warm_questions] if opts.warm_questions else questions
        results["warm"] = measure_warm(assistant, warm_qs, profile("profile_warm.txt"))
        results["loadavg"]["after_warm"] = loadavg()

        log("cold start (fresh processes)")
        results["cold"] = measure_cold(cfg, questions[0][0], opts.cold_runs, profile("profile_cold.txt"))
        results["loadavg"]["after_cold"] = loadavg()

        if not opts.skip_scale:
            results["scale"] = measure_scale(assistant, questions, opts.sizes, opts.seed, work)
            results["loadavg"]["after_scale"] = loadavg()
        del assistant

        if not opts.skip_server:
            log("server cold start and concurrency")
            results["server"] = measure_server(cfg, questions, opts.clients, opts.requests, opts.time_cap,
                                               profile("profile_server.txt"))
            results["loadavg"]["after_server"] = loadavg()
            if opts.concurrency:
                results["concurrency"] = measure_concurrency(cfg, questions, opts.concurrency, opts.clients[-2:],
                                                             opts.requests, opts.time_cap)
                results["loadavg"]["after_concurrency"] = loadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["wall_s"] = round(time.perf_counter() - started, 1)
    write_outputs(results, out_dir)
    return results


def run_large_build(cfg: Config, chunks: int, out_dir: Path, seed: int = 0) -> dict[str, Any]:
    """A real `qa build` of a written corpus of `chunks` passages (bench.large), added to results.json beside the
    other sections, which stay as they were; returns the results."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = _previous(out_dir)
    work = Path(tempfile.mkdtemp(prefix="qa-bench-large-"))
    try:
        results["large_build"] = measure_large_build(cfg, chunks, work, seed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results.setdefault("machine", machine())
    write_outputs(results, out_dir)
    return results


def _previous(out_dir: Path) -> dict[str, Any]:
    path = Path(out_dir) / "results.json"
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def write_outputs(results: dict[str, Any], out_dir: Path) -> None:
    """results.json, the plots and report.md, with the targets judged afresh (and the folder they are in now)."""
    results.setdefault("options", {})["out_dir"] = str(out_dir)
    results["targets"] = judge(results)
    text = json.dumps(results, indent=2, default=json_default)
    (out_dir / "results.json").write_text(text + "\n", encoding="utf-8")
    plots = write_plots(results, out_dir)
    (out_dir / "report.md").write_text(render_report(results, plots), encoding="utf-8")


def rewrite_report(out_dir: Path) -> dict[str, Any]:
    """Render report.md and the plots again from an existing results.json, without measuring anything."""
    path = Path(out_dir) / "results.json"
    if not path.exists():
        raise QAError(f"{path} does not exist; run `qa bench` first")
    results = json.loads(path.read_text(encoding="utf-8"))
    write_outputs(results, Path(out_dir))
    return results
