"""A bounded load test: concurrent clients against a real server on 127.0.0.1, zero failures, bounded memory.

The full size (32 clients, 2,000 questions, server RSS growth) is `python eval/load_test.py`; this runs the same
load generator (bench/load.py) with 4 clients x 25 questions, both client kinds the benchmark uses, and each bad
input once through the running chat.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
from test_robustness import assert_safe_markup  # the markup check of the API-level tests

from bench.load import Request, check, gradio_client, numbered, run_load
from bench.process import free_port
from qa import chat as app

ROOT = Path(__file__).resolve().parents[1]


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("load_test", ROOT / "eval" / "load_test.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["load_test"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


load_test = _load_script()


@pytest.fixture(scope="module")
def server_url(real_assistant):  # type: ignore[no-untyped-def]
    demo = app.build_demo(real_assistant)
    demo.queue(default_concurrency_limit=4)  # as qa.chat.main sets it
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, share=False)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def client(server_url: str):  # type: ignore[no-untyped-def]
    return gradio_client(server_url)


def test_mixed_requests_include_questions_history_and_bad_inputs() -> None:
    requests = load_test.mixed_requests(200, seed=1)
    assert len(requests) == 200
    assert {r.endpoint for r in requests} == {"/ask", "/chat"}
    assert any(r.history for r in requests)
    assert any(r.message in load_test.BAD_INPUTS for r in requests)
    assert any(len(m) >= 100_000 for m in load_test.BAD_INPUTS)
    assert load_test.mixed_requests(200, seed=1) == requests


def test_four_clients_a_hundred_questions_no_failure(server_url: str) -> None:
    # the server runs in this process, so its RSS is this process's
    report = load_test.run_load_test(server_url, load_test.mixed_requests(100, seed=7), clients=4, pid=os.getpid(),
                                     warmup=10)
    print(f"\nload: {report['requests']} requests, {report['errors']} failed, latency {report['latency_ms']}, "
          f"RSS growth {report['rss_growth']:.1%}")
    assert report["requests"] == 100 and report["answered"] == 100
    assert report["errors"] == 0, report["error_samples"][:5]
    assert report["latency_ms"]["p95"] < 10_000
    assert report["rss_growth"] is not None and report["rss_growth"] <= 0.10


def test_bare_http_clients_as_the_benchmark_drives_them(server_url: str) -> None:
    questions = [("What is ALL?", []), ("How long does it last?", ["What is maintenance therapy?"])]
    result = run_load(server_url, numbered(questions, 8), clients=2, kind="http", time_cap=60.0, pid=os.getpid())
    assert (result.requests, result.answered, result.errors) == (8, 8, 0), result.error_samples
    assert result.latency_ms["n"] == 8 and result.qps > 0
    assert result.server_rss_max_mb is not None and not result.hit_time_cap


@pytest.mark.parametrize("message", load_test.BAD_INPUTS, ids=lambda m: repr(m[:24]))
def test_each_bad_input_through_the_running_chat(client, message: str) -> None:  # type: ignore[no-untyped-def]
    reply = client.predict(message, [], api_name="/chat")
    assert isinstance(reply, str) and reply.strip()
    assert_safe_markup(reply)
    structured = client.predict(message, [], api_name="/ask")
    assert check(Request("/ask", message), structured) is None
    if not message.strip():
        assert "Please type a question" in reply and not structured["passages"]
