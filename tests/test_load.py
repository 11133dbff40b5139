"""A bounded load test: concurrent gradio_client clients against a real server on 127.0.0.1, zero failures.

The full size (32 clients, 2,000 questions, server RSS growth) is `python eval/load_test.py`; this runs the
same code with 4 clients x 25 questions, and each bad input once through the running chat.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from pathlib import Path
from types import ModuleType

import pytest
from test_robustness import assert_safe_markup  # the markup check of the API-level tests

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
    demo.queue(default_concurrency_limit=4)  # as app.main sets it
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, share=False)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def client(server_url: str):  # type: ignore[no-untyped-def]
    return load_test.make_client(server_url)


def test_mixed_requests_include_questions_history_and_bad_inputs() -> None:
    requests = load_test.mixed_requests(200, seed=1)
    assert len(requests) == 200
    assert {r.endpoint for r in requests} == {"/ask", "/chat"}
    assert any(r.history for r in requests)
    assert any(r.message in load_test.BAD_INPUTS for r in requests)
    assert any(len(m) >= 100_000 for m in load_test.BAD_INPUTS)
    assert load_test.mixed_requests(200, seed=1) == requests


def test_four_clients_a_hundred_questions_no_failure(server_url: str) -> None:
    import psutil

    rss = psutil.Process(os.getpid()).memory_info
    report = load_test.run_load(
        server_url, load_test.mixed_requests(100, seed=7), clients=4, rss=lambda: rss().rss, warmup=10
    )
    print(
        f"\nload: {report.requests} requests, {report.failures} failed, p50 {report.p50_ms} ms, "
        f"p95 {report.p95_ms} ms, max {report.max_ms} ms, RSS growth {report.rss_growth:.1%}"
    )
    assert report.requests == 100
    assert report.failures == 0, report.errors[:5]
    assert report.p95_ms < 10_000
    assert report.rss_growth is not None and report.rss_growth <= 0.10


@pytest.mark.parametrize("message", load_test.BAD_INPUTS, ids=lambda m: repr(m[:24]))
def test_each_bad_input_through_the_running_chat(client, message: str) -> None:  # type: ignore[no-untyped-def]
    reply = client.predict(message, [], api_name="/chat")
    assert isinstance(reply, str) and reply.strip()
    assert_safe_markup(reply)
    structured = client.predict(message, [], api_name="/ask")
    assert load_test.check(load_test.Request("/ask", message), structured) is None
    if not message.strip():
        assert "Please type a question" in reply and not structured["passages"]


def test_check_flags_malformed_replies() -> None:
    ask, chat = load_test.Request("/ask", "q"), load_test.Request("/chat", "q")
    assert load_test.check(ask, {"answerable": False, "passages": [], "notice": ""}) is None
    assert load_test.check(ask, {"answerable": True, "passages": [], "notice": ""})
    assert load_test.check(ask, "text")
    assert load_test.check(chat, "a reply") is None
    assert load_test.check(chat, "  ")
