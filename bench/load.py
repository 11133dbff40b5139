"""The load generator: concurrent clients send requests to a running chat server and time each answer.

`qa bench` (bench/server.py) and the load test (eval/load_test.py, tests/test_load.py) both drive it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench.process import loadavg, proc_memory
from qa.stats import summarize

KINDS = ("http", "gradio_client")


@dataclass(frozen=True)
class Request:
    """One call: which endpoint, the message and the earlier user messages of its chat."""

    endpoint: str  # "/ask" (structured) or "/chat" (the reply the chat shows)
    message: str
    history: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadResult:
    """What one run of the load generator measured (the field names are results.json's keys)."""

    client: str  # "http" or "gradio_client"
    clients: int
    requests: int  # sent
    answered: int  # well-formed replies
    errors: int  # failed or malformed
    error_samples: list[str]
    wall_s: float
    qps: float  # answered per second of wall time
    latency_ms: dict[str, float]  # summarize() of the answered requests
    server_rss_max_mb: float | None  # sampled every 0.25 s when the server's pid is known
    loadavg_before: list[float]
    hit_time_cap: bool


def numbered(questions: Sequence[tuple[str, list[str]]], n: int, offset: int = 0) -> list[Request]:
    """n /ask requests cycling through (question, history) pairs, each numbered so a query-vector cache never hits."""
    out = []
    for i in range(offset, offset + n):
        question, history = questions[i % len(questions)]
        out.append(Request("/ask", f"{question} ({i})", tuple(history)))
    return out


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


class HttpClient:
    """A bare HTTP client of Gradio's REST API: POST the call, read its server-sent events (a load tool's view)."""

    def __init__(self, url: str) -> None:
        import httpx

        self.url = url
        self.http = httpx.Client(timeout=60.0)

    def predict(self, message: str, history: list[str], api_name: str = "/ask") -> Any:
        call = f"{self.url}gradio_api/call{api_name}"
        event_id = self.http.post(call, json={"data": [message, history]}).raise_for_status().json()["event_id"]
        with self.http.stream("GET", f"{call}/{event_id}") as r:
            body = "".join(r.iter_text())
        if "event: complete" not in body:
            raise RuntimeError(body[-200:])
        data = json.loads(body.split("event: complete", 1)[1].split("data:", 1)[1].strip().split("\n", 1)[0])
        return data[0]

    def close(self) -> None:
        self.http.close()


def gradio_client(url: str) -> Any:
    """The official gradio_client, kept offline: the library would otherwise look up huggingface.co for its
    user-agent registry and send telemetry (the server itself makes no outbound connection)."""
    import huggingface_hub.constants
    from gradio_client import Client

    Client._telemetry_thread = lambda self: None  # analytics_enabled=False alone still honours the env variable
    offline = huggingface_hub.constants.HF_HUB_OFFLINE
    huggingface_hub.constants.HF_HUB_OFFLINE = True
    try:
        return Client(url, verbose=False, download_files=False, analytics_enabled=False)
    finally:
        huggingface_hub.constants.HF_HUB_OFFLINE = offline


def make_client(url: str, kind: str) -> Any:
    """A client with `predict(message, history, api_name=...)`: bare HTTP or the official gradio_client."""
    if kind not in KINDS:
        raise ValueError(f"unknown client kind {kind!r}; known: {', '.join(KINDS)}")
    return HttpClient(url) if kind == "http" else gradio_client(url)


def run_load(url: str, requests: Sequence[Request], clients: int, kind: str = "http",
             time_cap: float | None = None, pid: int | None = None) -> LoadResult:
    """Send `requests` from `clients` concurrent clients (one thread each) until all are sent or `time_cap` s pass.

    Each client takes the next request when its previous one returned, so there are `clients` in flight. A
    request counts as answered when `check` finds its reply well-formed; latency is taken over answered ones.
    With the server's `pid`, its RSS is sampled from /proc every 0.25 s.
    """
    pool = [make_client(url, kind) for _ in range(clients)]
    lock = threading.Lock()
    taken = [0]
    latencies: list[float] = []
    errors: list[str] = []
    rss_peak = [0.0]
    stop = threading.Event()
    deadline = time.perf_counter() + time_cap if time_cap else None

    def next_request() -> Request | None:
        with lock:
            if taken[0] >= len(requests) or (deadline is not None and time.perf_counter() > deadline):
                return None
            taken[0] += 1
            return requests[taken[0] - 1]

    def worker(client: Any) -> None:
        while (request := next_request()) is not None:
            started = time.perf_counter()
            try:
                result = client.predict(request.message, list(request.history), api_name=request.endpoint)
                problem = check(request, result)
            except Exception as e:  # noqa: BLE001 - every failure is counted and reported, none is fatal
                problem = f"{type(e).__name__}: {e}"
            ms = (time.perf_counter() - started) * 1000
            with lock:
                if problem:
                    errors.append(f"{request.endpoint} {request.message[:40]!r}: {problem}"[:300])
                else:
                    latencies.append(ms)

    def sample_rss() -> None:
        while pid is not None and not stop.wait(0.25):
            rss_peak[0] = max(rss_peak[0], proc_memory(pid).get("rss_mb", 0.0))

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    before = loadavg()
    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(clients) as executor:
            list(executor.map(worker, pool))
    finally:
        wall = time.perf_counter() - started
        stop.set()
        sampler.join()
        for client in pool:
            close = getattr(client, "close", None)
            if close:
                close()
    return LoadResult(
        client=kind, clients=clients, requests=taken[0], answered=len(latencies), errors=len(errors),
        error_samples=errors[:20], wall_s=round(wall, 2), qps=round(len(latencies) / wall, 2) if wall else 0.0,
        latency_ms=summarize(latencies), server_rss_max_mb=round(rss_peak[0], 1) if pid is not None else None,
        loadavg_before=before, hit_time_cap=time_cap is not None and wall >= time_cap,
    )
