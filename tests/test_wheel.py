"""The package as a user installs it: a wheel holds the chat and its data, and `qa serve` runs from it alone."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_CORPUS = Path(__file__).parent / "data" / "corpus"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project built as a wheel and unpacked into a folder of its own (dependencies come from this venv)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    [wheel] = out.glob("qa-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "qa/chat.py" in names and "qa/data/rules.json" in names and "qa/data/lay_terms.json" in names
    assert not [n for n in names if n.startswith(("tests/", "eval/", "corpus/", "bench/"))]
    site = out / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    return site


def test_qa_serve_runs_from_the_wheel_alone(installed: Path, tmp_path: Path) -> None:
    """No checkout on the path (another folder, the wheel first on PYTHONPATH): the chat starts, answers over
    HTTP, and every file it used came from the wheel."""
    corpus = tmp_path / "corpus"
    shutil.copytree(TEST_CORPUS, corpus)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(installed), "QA_CORPUS_DIR": str(corpus),
           "QA_INDEX_DIR": str(tmp_path / "index"), "QA_ADAPT": "0", "QA_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    check = subprocess.run([sys.executable, "-c", "import qa, qa.chat; print(qa.__file__)"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and check.stdout.strip().startswith(str(installed)), check.stdout + check.stderr
    proc = subprocess.Popen([sys.executable, "-m", "qa", "serve"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 240
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()[-2000:] if proc.stdout else ""
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
                break
            except OSError:
                assert time.time() < deadline, "the server from the wheel did not come up"
                time.sleep(0.5)
        from gradio_client import Client

        answer = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(
            "how long do refunds take?", [], api_name="/ask")
        answer = json.loads(answer) if isinstance(answer, str) else answer
        assert answer["answerable"] and "business days" in answer["passages"][0]["text"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
