"""`qa build` in a fresh process: wall time, peak RSS, and the seconds of each stage from the manifests."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.process import child_env, run_child
from qa.config import Config

LEARNED_STAGES = ("encoder", "reranker", "scope_model", "topic_model")  # index/learned/manifest.json "seconds"


def _folder_mb(folder: Path, recursive: bool) -> float:
    files = folder.rglob("*") if recursive else folder.iterdir()
    return round(sum(p.stat().st_size for p in files if p.is_file()) / 2**20, 3)


def measure_build(cfg: Config, name: str, timeout: float = 3600.0) -> dict[str, Any]:
    """`qa build` of cfg's corpus into cfg's index folder, as a fresh process.

    Wall time and peak RSS come from the kernel; what was built and how long each stage took come from the
    index manifest ("build_seconds": parse, chunk and embed) and index/learned/manifest.json ("seconds" of each
    learned model, and the "questions" made and trained on).
    """
    index_dir = Path(cfg.paths.index_dir)
    cmd = [sys.executable, "-m", "qa", "build", "--corpus", str(cfg.paths.corpus_dir), "--index", str(index_dir),
           "--model", cfg.indexing.model_name]
    run = run_child(cmd, env=child_env(cfg), timeout=timeout)
    if run.returncode:
        raise RuntimeError(f"qa build of {name} failed ({run.returncode}): {run.stderr.strip()[-500:]}")
    manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
    learned_path = index_dir / "learned" / "manifest.json"
    learned = json.loads(learned_path.read_text(encoding="utf-8")) if learned_path.exists() else {}
    seconds = learned.get("seconds", {})
    questions = learned.get("questions", {})
    return {
        "name": name,
        "corpus": str(cfg.paths.corpus_dir),
        "wall_s": round(run.seconds, 2),
        "cpu_s": round(run.cpu_s, 1),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        "pages": manifest.get("num_documents"),
        "chunks": manifest.get("num_chunks"),
        "sentences": manifest.get("num_sentences"),
        "faiss_type": manifest.get("faiss_type"),
        "disk_mb": _folder_mb(index_dir, recursive=False),
        "learned_disk_mb": _folder_mb(index_dir / "learned", recursive=True) if learned else 0.0,
        "stage_s": {"index": manifest.get("build_seconds"), **{k: seconds.get(k) for k in LEARNED_STAGES},
                    "learned_total": seconds.get("total")},
        "questions": {
            "made": questions.get("synthetic"),
            "hand_written": questions.get("hand_written_answerable"),
            "encoder_training": questions.get("encoder_training"),
            "held_out": questions.get("held_out"),
        },
        "learning": {k: learned.get("learning", {}).get(k) for k in ("adapt_epochs", "synthetic_questions",
                                                                       "train_limit")},
        "stdout": run.stdout.strip(),
    }


def _rate(seconds: float | None, count: int | None) -> float | None:
    return round(seconds / count * 1000, 2) if seconds and count else None


def growth(builds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """How build time grows: index seconds per 1,000 sentences, encoder seconds per 1,000 training questions.

    One row per build, then one row for the difference between the builds with the fewest and the most
    sentences: the extra seconds per extra 1,000, without each stage's fixed part (such as loading the model).
    """
    def row(name: str, index_s: float | None, sentences: int | None, encoder_s: float | None,
            questions: int | None) -> dict[str, Any]:
        return {"name": name, "index_s_per_1k_sentences": _rate(index_s, sentences),
                "encoder_s_per_1k_questions": _rate(encoder_s, questions)}

    def counts(b: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
        return (b["stage_s"].get("index"), b.get("sentences"), b["stage_s"].get("encoder"),
                b["questions"].get("encoder_training"))

    rows = [row(b["name"], *counts(b)) for b in builds]
    done = [b for b in builds if None not in counts(b)]
    if len(done) >= 2:
        small, large = min(done, key=lambda b: b["sentences"]), max(done, key=lambda b: b["sentences"])
        if large["sentences"] > small["sentences"]:
            index_s, sentences, encoder_s, questions = (y - x for x, y in zip(counts(small), counts(large),
                                                                                strict=True))
            if abs(questions) < 0.1 * max(counts(small)[3], counts(large)[3]):
                encoder_s = questions = None  # about as many training questions: the rate would divide by noise
            rows.append(row(f"{small['name']} → {large['name']} (difference)", index_s, sentences, encoder_s,
                            questions))
    return rows
