"""A soak of the chat server: many rounds of questions at one load level, one JSON line per round.

    python -m bench.soak [ROUNDS] [CLIENTS] [REQUESTS]      (default 14 rounds of 400 requests from 16 clients)

Throughput and memory should hold from the first round to the last; a server that slows down or grows round after
round keeps something per request (how Gradio's queue summary was found: eval/experiments.md, round 9). Runs
against the configured corpus and index (QA_* variables), which must be built; not part of `qa bench` (minutes).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

from bench.latency import read_questions
from bench.load import numbered, run_load
from bench.process import ROOT, child_env, serve
from qa.config import Config


def soak(cfg: Config, rounds: int = 14, clients: int = 16, requests: int = 400) -> Iterator[dict[str, Any]]:
    """Start a server, warm it with 40 questions, then yield one row per round (answers/s, latency, server RSS)."""
    questions = read_questions(ROOT / "eval" / "questions.jsonl")
    with serve(child_env(cfg)) as server:
        run_load(server.url, numbered(questions, 40, 0), 4)
        offset = 100
        for n in range(rounds):
            level = run_load(server.url, numbered(questions, requests, offset), clients, pid=server.pid)
            offset += requests
            yield {"round": n + 1, "questions_so_far": (n + 1) * requests, "qps": level.qps,
                   "p50_ms": level.latency_ms["p50"], "p95_ms": level.latency_ms["p95"], "errors": level.errors,
                   "server_rss_mb": level.server_rss_max_mb}


def main(argv: list[str]) -> None:
    rounds, clients, requests = ([int(a) for a in argv] + [14, 16, 400][len(argv):])[:3]
    for row in soak(Config.from_env(), rounds, clients, requests):
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
