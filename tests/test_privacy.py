"""Privacy defaults: localhost only, no share link, no analytics, no outbound connection, nothing kept."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import socket
import time
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from qa import chat as app
from qa.config import Config
from qa.types import Answer

ROOT = Path(__file__).resolve().parents[1]
MARKER = "zq7private-marker-4411"  # a word no page, log line or cache contains unless a question was kept
QUESTIONS = [f"What are the side effects of Gleevec {MARKER}?", f"Can surgery cure ALL {MARKER}?"]


def _is_loopback(address: object) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths and socketpairs never leave the machine
    host = str(address[0])
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Each connect or name lookup beyond localhost fails and is recorded, even if the caller swallows it."""
    attempts: list[str] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            attempts.append(f"connect {address}")
            raise OSError("test: outbound network is disabled")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            attempts.append(f"connect_ex {address}")
            return 101  # ENETUNREACH
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback((host.decode() if isinstance(host, bytes) else host, 0)):
            attempts.append(f"getaddrinfo {host}")
            raise socket.gaierror(socket.EAI_NONAME, "test: name lookups are disabled")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    try:
        yield attempts
    finally:
        monkeypatch.setattr(socket.socket, "connect", real_connect)
        monkeypatch.setattr(socket.socket, "connect_ex", real_connect_ex)
        monkeypatch.setattr(socket, "getaddrinfo", real_getaddrinfo)


def test_the_guard_blocks_the_outside_and_allows_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    with no_network(monkeypatch) as attempts:
        with pytest.raises(OSError), socket.create_connection(("93.184.216.34", 80), timeout=1):
            pass
        with pytest.raises(OSError), socket.create_connection(("example.org", 80), timeout=1):
            pass
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen()
            socket.create_connection(server.getsockname(), timeout=1).close()
    assert len(attempts) == 2


def test_defaults_bind_localhost_and_keep_nothing() -> None:
    cfg = Config.from_env({})
    assert cfg.serving.host == "127.0.0.1"
    assert cfg.serving.log_questions is False
    assert cfg.serving.feedback is False


class _Stub:
    status = "loaded"
    encoder_status = "loaded"

    def __init__(self) -> None:
        self.cfg = Config()

    def ask(self, message: str, history: list[str] | None = None, k: int | None = None) -> Answer:
        return Answer(question=message, query=message, answerable=False, passages=(), html="none")


def test_app_launches_on_localhost_without_share_or_analytics(monkeypatch: pytest.MonkeyPatch) -> None:
    import gradio as gr

    launched: dict[str, Any] = {}

    def fake_launch(self: Any, **kwargs: Any) -> None:
        launched.update(kwargs, analytics=self.analytics_enabled, queue=self._queue)

    for name in ("GRADIO_ANALYTICS_ENABLED", "GRADIO_ANALYTICS_MAX_EVENTS", "GRADIO_ANALYTICS_CACHE_FREQUENCY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("qa.Assistant.load", classmethod(lambda cls, cfg=None, *a, **k: _Stub()))
    monkeypatch.setattr(gr.Blocks, "launch", fake_launch)
    assert app.main(Config.from_env()) == 0
    assert launched["server_name"] == "127.0.0.1"
    assert launched["share"] is False
    assert launched["analytics"] is False
    assert launched.get("mcp_server") in (False, None)
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    # bounded per-request bookkeeping: the queue's own statistics and the chats' state (issue 19's slow-down)
    assert launched["queue"].ANALYTICS_MAX_EVENTS == 200
    assert launched["state_session_capacity"] == Config().serving.sessions
    assert launched["queue"].default_concurrency_limit == Config().serving.concurrency


def test_host_is_only_what_the_maintainer_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    import gradio as gr

    launched: dict[str, Any] = {}
    monkeypatch.setattr("qa.Assistant.load", classmethod(lambda cls, cfg=None, *a, **k: _Stub()))
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: launched.update(kwargs))
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7999")
    app.main(Config.from_env())
    assert (launched["server_name"], launched["server_port"]) == ("0.0.0.0", 7999)
    assert launched["share"] is False


def test_asking_through_a_fresh_assistant_opens_no_outbound_connection(
    real_cfg: Config, real_assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Model load from disk, index load, questions: all with the outside world unreachable."""
    from qa.assistant import Assistant
    from qa.embedding import SentenceTransformerEmbedder

    with no_network(monkeypatch) as attempts:
        assistant = Assistant.load(real_cfg, SentenceTransformerEmbedder(real_cfg.indexing.model_name))
        answers = [assistant.ask(q) for q in QUESTIONS]
    assert attempts == []
    assert assistant.status == "loaded"
    assert all(a.answerable for a in answers)


def local_client(url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A gradio_client for the test's own calls. The client library (not the server) looks up huggingface.co
    for its user-agent registry and telemetry; that is test tooling, so it is kept offline here."""
    import huggingface_hub.constants
    from gradio_client import Client

    monkeypatch.setattr(Client, "_telemetry_thread", lambda self: None)
    with monkeypatch.context() as m:
        m.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        return Client(url, verbose=False)


class _Resources(HTMLParser):
    """What a browser would fetch while loading the page: scripts, styles, images, frames."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        fetched = {"script": "src", "img": "src", "iframe": "src", "link": "href", "source": "src"}
        for name, value in attrs:
            if tag in fetched and name == fetched[tag] and value:
                if tag == "link" and ("canonical" in dict(attrs).get("rel", "") or ""):
                    continue
                self.urls.append(value)


def _files_containing(marker: str, roots: list[Path], since: float) -> list[Path]:
    found = []
    for root in roots:
        if not root.exists():
            continue
        for path in root.rglob("*"):
            if any(part in (".venv", ".git", "node_modules") for part in path.parts):
                continue
            try:
                if not path.is_file() or path.stat().st_mtime < since or path.stat().st_size > 20_000_000:
                    continue
                if marker.encode() in path.read_bytes():
                    found.append(path)
            except OSError:
                continue
    return found


def test_chat_server_makes_no_outbound_connection_and_keeps_no_question(
    real_assistant,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A real Gradio server on localhost, asked through gradio_client, with the network guard on all along."""
    started = time.time() - 1
    monkeypatch.chdir(tmp_path)  # the default data_dir ("data") would appear here if anything were stored
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio-tmp"))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    caplog.set_level(logging.DEBUG, logger="qa")
    caplog.set_level(logging.INFO)
    with no_network(monkeypatch) as attempts:
        demo = app.build_demo(real_assistant)
        demo.queue()
        demo.launch(
            prevent_thread_lock=True,
            server_name="127.0.0.1",
            server_port=port,
            quiet=True,
            share=False,
            **app.launch_options(),
        )
        try:
            client = local_client(f"http://127.0.0.1:{port}/", monkeypatch)
            replies = [client.predict(q, api_name="/chat") for q in QUESTIONS]
            structured = client.predict(QUESTIONS[0], [], api_name="/ask")
            page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode()
        finally:
            demo.close()
    assert attempts == []
    assert all("American Cancer Society" in r for r in replies) and structured["answerable"]
    # the page loads nothing from another host (its og:image meta tag is for link previews, never fetched)
    resources = _Resources()
    resources.feed(page)
    assert resources.urls
    assert [u for u in resources.urls if re.match(r"^(https?:)?//", u) and "127.0.0.1" not in u] == []
    # nothing the patient typed was written anywhere, printed by the server, or logged
    assert not (tmp_path / "data").exists()
    roots = [tmp_path, ROOT, Path(real_assistant.cfg.paths.index_dir), Path(os.environ.get("TMPDIR", "/tmp"))]
    assert _files_containing(MARKER, roots, started) == []
    out, err = capfd.readouterr()
    assert MARKER not in out and MARKER not in err
    assert MARKER not in caplog.text
