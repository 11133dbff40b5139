"""Fresh child processes: wall time and peak RSS from the kernel, /proc memory, free ports, a chat server.

Linux only: peak memory comes from `wait4` rusage and `/proc/<pid>/status`.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from qa.config import Config

ROOT = Path(__file__).resolve().parents[1]


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def json_default(value: object) -> object:
    """json.dumps(default=...) for numpy scalars and paths."""
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value).__name__)


@dataclass(frozen=True)
class ChildRun:
    """One finished child process: wall time from spawn to exit and its peak RSS from the kernel."""

    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    cpu_s: float = math.nan  # user + system CPU seconds: the cost of the work even when the cores were shared


# A parent's peak RSS leaks into a forked child's ru_maxrss (the kernel records the old mm's high-water mark
# at exec), and this parent holds the model. So a ~10 MB Python spawns and waits for the measured command.
_SPAWN = """
import json, os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
seconds = time.perf_counter() - started
with open(sys.argv[1], "w") as f:
    code = os.waitstatus_to_exitcode(status)
    json.dump({"seconds": seconds, "maxrss_kb": usage.ru_maxrss, "code": code,
               "cpu_s": usage.ru_utime + usage.ru_stime}, f)
"""


def run_child(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 900.0) -> ChildRun:
    """Run cmd to completion: wall time from spawn to exit and peak RSS (ru_maxrss) of that process alone."""
    with tempfile.TemporaryDirectory(prefix="qa-bench-child-") as tmp:
        stats = Path(tmp) / "stats.json"
        with open(Path(tmp) / "out", "w+b") as out, open(Path(tmp) / "err", "w+b") as err:
            proc = subprocess.Popen([sys.executable, "-c", _SPAWN, str(stats), *cmd], stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL, env=env, cwd=ROOT, start_new_session=True)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        if not stats.exists():
            return ChildRun(math.nan, math.nan, -9, stdout, stderr + f"\nkilled after {timeout:.0f} s")
        s = json.loads(stats.read_text(encoding="utf-8"))
        return ChildRun(s["seconds"], s["maxrss_kb"] / 1024, s["code"], stdout, stderr, s.get("cpu_s", math.nan))


def proc_memory(pid: int | str = "self") -> dict[str, float]:
    """Current (rss_mb, VmRSS) and peak (peak_mb, VmHWM) resident memory of a process in MB, from /proc."""
    out: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out["rss_mb" if line.startswith("VmRSS") else "peak_mb"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(cfg: Config, **extra: str) -> dict[str, str]:
    """This environment with the run's corpus, index and model as QA_* variables (what `qa` and app.py read)."""
    env = dict(os.environ)
    env.update(
        QA_CORPUS_DIR=str(Path(cfg.paths.corpus_dir).resolve()),
        QA_INDEX_DIR=str(Path(cfg.paths.index_dir).resolve()),
        QA_MODEL_NAME=cfg.indexing.model_name,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
    )
    env.update(extra)
    return env


@dataclass(frozen=True)
class Server:
    """A chat server (`python app.py`) running in a child process on 127.0.0.1."""

    proc: subprocess.Popen[bytes]
    port: int
    started: float  # time.perf_counter() at spawn
    ready_s: float  # from spawn until its page answered

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def pid(self) -> int:
        return self.proc.pid


@contextmanager
def serve(env: dict[str, str] | None = None, timeout: float = 300.0) -> Iterator[Server]:
    """Start `python app.py` on a free 127.0.0.1 port, wait until it answers, stop it on the way out.

    env defaults to this process's environment (the default corpus and index/); RuntimeError when the server
    exits or does not answer within `timeout` seconds.
    """
    port = free_port()
    env = dict(env if env is not None else os.environ)
    env.update(QA_HOST="127.0.0.1", QA_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1",
               GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False")
    output = tempfile.TemporaryFile()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], env=env, cwd=ROOT, stdout=output,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_until_up(proc, port, output, started + timeout)
        yield Server(proc, port, started, round(time.perf_counter() - started, 3))
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        output.close()


def _wait_until_up(proc: subprocess.Popen[bytes], port: int, output: IO[bytes], deadline: float) -> None:
    while True:
        if proc.poll() is not None:
            output.seek(0)
            raise RuntimeError(f"app.py exited with {proc.returncode}: {output.read().decode()[-800:]}")
        if time.perf_counter() > deadline:
            raise RuntimeError(f"app.py did not answer on port {port} in time")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)


def machine() -> dict[str, Any]:
    """Date, CPUs, memory, platform, Python, commit and library versions of this run."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for pkg in ("torch", "sentence-transformers", "onnxruntime", "faiss-cpu", "bm25s", "gradio", "gradio_client",
                "numpy"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
    except OSError:
        commit = None
    memory_gb = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            memory_gb = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cpus": os.cpu_count(), "memory_gb": memory_gb,
            "platform": platform.platform(), "python": platform.python_version(), "commit": commit,
            "versions": versions}
