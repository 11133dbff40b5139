"""A real `qa build` of a large corpus: pages written from the shipped corpora's own sentences, built end to end.

The synthetic scale runs (bench/scale.py) size the index alone in seconds; this one runs the whole build a
maintainer would (parse, chunk, embed every passage and sentence with the real model, make questions, fit the
encoder, reranker and scope model) on a corpus of a given number of passages, and measures its wall time and peak
memory from the kernel. At 100,000 passages it takes over an hour on 2 cores, so `qa bench` runs it only when asked
(`qa bench --large-build 100000`) and keeps its last result in results.json.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench.build import measure_build
from bench.process import ROOT, child_env, log, run_child
from qa.config import Config

SOURCES = (ROOT / "corpus", *sorted((ROOT / "eval" / "corpora").glob("*/corpus")))
SECTIONS, SENTENCES = (4, 9), (4, 14)  # per page, per section: ranges drawn from
PER_PARAGRAPH = 3


def real_text(sources: tuple[Path, ...] = SOURCES) -> tuple[list[str], list[str], list[str]]:
    """(sentences, section headings, page titles) of the shipped corpora, each once, in a fixed order."""
    from qa.chunking import chunk_corpus
    from qa.corpus import load_corpus

    sentences: dict[str, None] = {}
    headings: dict[str, None] = {}
    titles: dict[str, None] = {}
    for folder in sources:
        if not folder.is_dir():
            continue
        documents = load_corpus(folder)
        for c in chunk_corpus(documents, 200, 0):
            for s, e in c.sentences:
                text = " ".join(c.text[s:e].split())
                if 4 <= len(text.split()) <= 60:
                    sentences[text] = None
            if c.section:
                headings[c.section.split(" > ")[-1]] = None
        titles.update((d.title, None) for d in documents)
    return list(sentences), list(headings), list(titles)


def write_corpus(folder: Path, pages: int, seed: int = 0) -> dict[str, Any]:
    """`pages` markdown pages of real sentences under real headings, drawn with a fixed seed; one file each."""
    sentences, headings, titles = real_text()
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for n in range(pages):
        parts = [f"# {rng.choice(titles)} (part {n + 1})"]
        for heading in rng.sample(headings, rng.randint(*SECTIONS)):
            parts.append(f"## {heading}")
            body = rng.sample(sentences, rng.randint(*SENTENCES))
            parts += [" ".join(body[i:i + PER_PARAGRAPH]) for i in range(0, len(body), PER_PARAGRAPH)]
        text = "\n\n".join(parts) + "\n"
        (folder / f"page{n:06d}.md").write_text(text, encoding="utf-8")
        written += len(text.encode())
    return {"pages": pages, "seed": seed, "mb": round(written / 2**20, 1), "real_sentences": len(sentences),
            "real_headings": len(headings), "real_titles": len(titles)}


def count_chunks(folder: Path, cfg: Config) -> int:
    """How many passages `qa build` will make of this folder (parse and chunk only: no model)."""
    from qa.chunking import chunk_corpus
    from qa.corpus import load_corpus

    return len(chunk_corpus(load_corpus(folder), cfg.indexing.chunk_tokens, cfg.indexing.overlap_sentences))


def measure_large_build(cfg: Config, chunks: int, work: Path, seed: int = 0) -> dict[str, Any]:
    """Write a corpus of about `chunks` passages (at least that many), `qa build` it in a fresh process, then
    answer one question from it in another; returns measure_build's figures plus how the corpus was made."""
    started = time.perf_counter()
    pilot = work / "pilot"
    write_corpus(pilot, 200, seed)
    per_page = count_chunks(pilot, cfg) / 200
    shutil.rmtree(pilot, ignore_errors=True)
    pages = math.ceil(chunks / per_page * 1.01)
    corpus = work / "corpus"
    made = write_corpus(corpus, pages, seed)
    made["chunks_per_page_in_pilot"] = round(per_page, 2)
    log(f"large build: {pages:,} pages ({made['mb']} MB), ~{round(pages * per_page):,} passages; qa build")
    build_cfg = cfg.replace(corpus_dir=corpus, index_dir=work / "index")
    out = measure_build(build_cfg, f"{chunks:,} passages", timeout=6 * 3600)
    ask = run_child([sys.executable, "-m", "qa", "ask", "--corpus", str(corpus), "--index", str(work / "index"),
                     "--model", cfg.indexing.model_name, "how is acute lymphocytic leukemia treated?"],
                    env=child_env(build_cfg), timeout=600)
    out["ask"] = {"ok": ask.returncode == 0 and bool(ask.stdout.strip()), "wall_s": round(ask.seconds, 2),
                  "peak_rss_mb": round(ask.peak_rss_mb, 1), "first_line": ask.stdout.strip().splitlines()[:1]}
    out["corpus_made"] = made
    out["target_chunks"] = chunks
    out["measured"] = time.strftime("%Y-%m-%d")
    out["total_s"] = round(time.perf_counter() - started, 1)
    return out


def main() -> None:  # pragma: no cover - `python -m bench.large CHUNKS WORKDIR` for a run by hand
    result = measure_large_build(Config.from_env(), int(sys.argv[1]), Path(sys.argv[2]))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
