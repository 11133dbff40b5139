"""Load test: many concurrent chat clients against a real server on 127.0.0.1; zero failures, bounded memory.

Full size (issue 7), about five minutes on two cores:

    .venv/bin/python eval/load_test.py --clients 32 --questions 2000

It starts `python app.py` on a free localhost port (the shipped queue and concurrency settings), waits for
it, sends the questions of eval/questions.jsonl mixed with bad inputs (empty, 100,000 characters, control
characters, injection, other languages) from N concurrent gradio_client clients, and reports requests,
failures, latency p50/p95/max and the server's RSS after a concurrent warm-up and at the end. It exits 1
when a request failed or RSS grew by more than --max-growth (default 10%). `--url` targets a server that is
already running (RSS is then not measured). The clients, the server start and the timing are the benchmark's
load generator (bench/load.py, bench/process.py); the default test run uses them at a small size
(tests/test_load.py).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.load import Request, run_load
from bench.process import proc_memory, serve

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval" / "questions.jsonl"

BAD_INPUTS: list[str] = [
    "",
    "   \n\t ",
    "What are the side effects of Gleevec? " + "more words here " * 6250,  # 100,000 characters
    "x" * 100_000,
    "\x00\x07What\u200b is\u202e blinatumomab?\ufeff",
    "😟🙏 how long does maintenance last? 👨‍👩‍👧",
    "<script>alert(1)</script> can surgery cure ALL?",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1)) ![x](http://evil.example/p.png)",
    "¿Cuáles son los efectos secundarios de la quimioterapia?",
    "化疗有哪些副作用？",
    "ما هي الآثار الجانبية للعلاج الكيميائي؟",
    "What is CRS with CAR T-cell therapy (格列卫, Гливек)?",
]


def mixed_requests(n: int, seed: int = 0, bad_share: float = 0.2) -> list[Request]:
    """n requests, /ask and /chat in turn: evaluation questions (with their history) and, bad_share of the
    time, bad inputs."""
    rng = random.Random(seed)
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = []
    for i in range(n):
        endpoint = "/ask" if i % 2 else "/chat"
        if rng.random() < bad_share:
            out.append(Request(endpoint, rng.choice(BAD_INPUTS)))
        else:
            row = rng.choice(rows)
            out.append(Request(endpoint, row["question"], tuple(row.get("history") or ())))
    return out


def run_load_test(url: str, requests: list[Request], clients: int, pid: int | None = None,
              warmup: int = 100) -> dict[str, Any]:
    """A concurrent warm-up of `warmup` other requests, then the timed requests; the server's RSS between.

    The warm-up makes the model, caches, queue workers and per-thread allocations exist before RSS is taken:
    growth after it is what a leak would show. Returns the load generator's figures plus rss_start_mb,
    rss_end_mb and rss_growth ((end - start) / start; None without a pid).
    """
    if warmup:
        run_load(url, mixed_requests(warmup, seed=len(requests) + 1), clients, "gradio_client")
    start = proc_memory(pid).get("rss_mb") if pid is not None else None
    result = run_load(url, requests, clients, "gradio_client", pid=pid)
    end = proc_memory(pid).get("rss_mb") if pid is not None else None
    if start is None or end is None:
        return asdict(result) | {"rss_start_mb": None, "rss_end_mb": None, "rss_growth": None}
    return asdict(result) | {"rss_start_mb": round(start, 1), "rss_end_mb": round(end, 1),
                             "rss_growth": round((end - start) / start, 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--url", help="a running server to test (default: start app.py on a free port)")
    parser.add_argument("--max-growth", type=float, default=0.10, help="allowed RSS growth (0.10 = 10%%)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=100, help="untimed requests sent before RSS is taken")
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)

    requests = mixed_requests(args.questions, args.seed)
    try:
        if args.url:
            report = run_load_test(args.url, requests, args.clients, warmup=args.warmup)
        else:
            with serve() as server:
                report = run_load_test(server.url, requests, args.clients, server.pid, warmup=args.warmup)
    except RuntimeError as e:  # the server did not start
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    growth = report["rss_growth"]
    ok = report["errors"] == 0 and (growth is None or growth <= args.max_growth)
    print(
        f"{'PASS' if ok else 'FAIL'}: {report['requests']} requests from {report['clients']} clients in "
        f"{report['wall_s']}s, {report['errors']} failed, p95 {report['latency_ms']['p95']} ms, RSS growth "
        f"{'n/a' if growth is None else f'{growth:.1%}'}",
        file=sys.stderr,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
