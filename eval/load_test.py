"""Load test: many concurrent chat clients against a real server on 127.0.0.1; zero failures, bounded memory.

Full size (issue 7), about five minutes on two cores:

    .venv/bin/python eval/load_test.py --clients 32 --questions 2000

It starts `python app.py` on a free localhost port (the shipped queue and concurrency settings), waits for
it, sends the questions of eval/questions.jsonl mixed with bad inputs (empty, 100,000 characters, control
characters, injection, other languages) from N concurrent gradio_client clients, and reports requests,
failures, latency p50/p95/max and the server's RSS after a concurrent warm-up and at the end. It exits 1
when a request failed or RSS grew by more than --max-growth (default 10%). `--url` targets a server that is
already running (RSS is then not measured). The default test run uses the same code at a small size
(tests/test_load.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class Request:
    """One call: which endpoint, the message and the earlier user messages of its chat."""

    endpoint: str  # "/ask" (structured) or "/chat" (the reply the chat shows)
    message: str
    history: tuple[str, ...] = ()


@dataclass
class Report:
    """What one run measured."""

    clients: int
    requests: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    max_ms: float = 0.0
    rss_start_mb: float | None = None
    rss_end_mb: float | None = None
    rss_growth: float | None = None  # (end - start) / start

    def ok(self, max_growth: float) -> bool:
        return self.failures == 0 and (self.rss_growth is None or self.rss_growth <= max_growth)


def mixed_requests(n: int, seed: int = 0, bad_share: float = 0.2) -> list[Request]:
    """n requests: evaluation questions (with their history) and, bad_share of the time, bad inputs."""
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


def make_client(url: str):  # type: ignore[no-untyped-def]
    """A gradio_client kept offline: the client library would otherwise look up huggingface.co for its
    user-agent registry and send telemetry (the server itself makes no outbound connection)."""
    import huggingface_hub.constants
    from gradio_client import Client

    Client._telemetry_thread = lambda self: None  # type: ignore[method-assign]
    offline = huggingface_hub.constants.HF_HUB_OFFLINE
    huggingface_hub.constants.HF_HUB_OFFLINE = True
    try:
        return Client(url, verbose=False)
    finally:
        huggingface_hub.constants.HF_HUB_OFFLINE = offline


def check(request: Request, result: Any) -> str | None:
    """None when the reply is well-formed, else what is wrong with it."""
    if request.endpoint == "/ask":
        if not isinstance(result, dict) or not {"answerable", "passages", "notice"} <= set(result):
            return f"malformed /ask result {str(result)[:80]!r}"
        if result["answerable"] and not result["passages"]:
            return "answerable without passages"
        return None
    if not isinstance(result, str) or not result.strip():
        return f"empty /chat reply {str(result)[:80]!r}"
    return None


def run_load(url: str, requests: list[Request], clients: int, rss: Any = None, warmup: int = 100) -> Report:
    """Send the requests from `clients` concurrent clients; rss() -> bytes of the server (or None).

    A concurrent warm-up of `warmup` other requests comes first, so that the model, caches, queue workers and
    per-thread allocations exist before RSS is taken: growth after that is what a leak would show.
    """
    report = Report(clients=clients)
    lock = threading.Lock()
    latencies: list[float] = []
    pool = [make_client(url) for _ in range(clients)]

    def send(batch: list[Request], timed: bool) -> None:
        shards = [batch[i::clients] for i in range(clients)]

        def worker(n: int) -> None:
            for request in shards[n]:
                started = time.perf_counter()
                try:
                    history = list(request.history)
                    result = pool[n].predict(request.message, history, api_name=request.endpoint)
                    problem = check(request, result)
                except Exception as e:  # noqa: BLE001 - every failure is counted and reported, none is fatal
                    problem = f"{type(e).__name__}: {e}"
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    if timed:
                        latencies.append(elapsed)
                        report.requests += 1
                    if problem:
                        report.failures += 1
                        report.errors.append(f"{request.endpoint} {request.message[:40]!r}: {problem}"[:300])

        with ThreadPoolExecutor(max_workers=clients) as executor:
            list(executor.map(worker, range(clients)))

    seed = len(requests)
    send(mixed_requests(warmup, seed=seed + 1), timed=False)
    start_rss = rss() if rss else None
    started = time.perf_counter()
    send(requests, timed=True)
    report.seconds = round(time.perf_counter() - started, 2)
    if latencies:
        ordered = sorted(latencies)
        report.p50_ms = round(statistics.median(ordered), 1)
        report.p95_ms = round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1)
        report.max_ms = round(ordered[-1], 1)
    if rss and start_rss:
        end_rss = rss()
        report.rss_start_mb = round(start_rss / 2**20, 1)
        report.rss_end_mb = round(end_rss / 2**20, 1)
        report.rss_growth = round((end_rss - start_rss) / start_rss, 4)
    return report


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_rss(pid: int):  # type: ignore[no-untyped-def]
    """rss() for a server process, including its children (none, for app.py)."""
    import psutil

    process = psutil.Process(pid)
    children = lambda: process.children(recursive=True)  # noqa: E731
    return lambda: process.memory_info().rss + sum(c.memory_info().rss for c in children())


def start_server(port: int, timeout: float = 300.0) -> subprocess.Popen[bytes]:
    """`python app.py` on 127.0.0.1:port, waited for until it answers."""
    env = dict(
        os.environ,
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
        GRADIO_ANALYTICS_ENABLED="False",
    )
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"app.py exited with {server.returncode} before serving")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
            return server
        except OSError:
            time.sleep(1)
    server.terminate()
    raise SystemExit(f"app.py did not answer on port {port} within {timeout:.0f}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--url", help="a running server to test (default: start app.py on a free port)")
    parser.add_argument("--max-growth", type=float, default=0.10, help="allowed RSS growth (0.10 = 10%%)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=100, help="untimed requests sent before RSS is taken")
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)

    requests = mixed_requests(args.questions, args.seed)
    server = None
    if args.url:
        url, rss = args.url, None
    else:
        port = free_port()
        server = start_server(port)
        url, rss = f"http://127.0.0.1:{port}/", process_rss(server.pid)
    try:
        report = run_load(url, requests, args.clients, rss, warmup=args.warmup)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    summary = asdict(report) | {"errors": report.errors[:20]}
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    ok = report.ok(args.max_growth)
    print(
        f"{'PASS' if ok else 'FAIL'}: {report.requests} requests from {report.clients} clients in "
        f"{report.seconds}s, {report.failures} failed, p95 {report.p95_ms} ms, RSS growth "
        f"{'n/a' if report.rss_growth is None else f'{report.rss_growth:.1%}'}",
        file=sys.stderr,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
