"""Opt-in feedback log: append-only, safe under concurrency; thumbs-down export to gold candidates."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

from qa.cli import main
from qa.config import Config
from qa.feedback import FeedbackLog, Reason, Vote, candidate_id, to_candidates


def test_append_and_read_round_trip(tmp_path: Path) -> None:
    log = FeedbackLog.in_dir(tmp_path / "data")
    vote = Vote(question="how long?", up=False, history=("what is maintenance?",), shown=("p#3",))
    log.append(vote)
    log.append(Reason(vote=vote.id, text="it did not say how long"))
    records = log.read()
    assert [r["kind"] for r in records] == ["vote", "reason"]
    assert records[0]["question"] == "how long?"
    assert records[0]["history"] == ["what is maintenance?"]
    assert records[1]["vote"] == vote.id


def test_missing_log_reads_as_empty(tmp_path: Path) -> None:
    assert FeedbackLog(tmp_path / "nope.jsonl").read() == []


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "feedback.jsonl")
    log.append(Vote(question="a", up=True))
    with log.path.open("ab") as f:
        f.write(b'{"kind": "vote", "question": "half a li')  # a crash in the middle of a write
    assert [r["question"] for r in log.read()] == ["a"]


def test_concurrent_threads_lose_no_line(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "feedback.jsonl")
    # long questions make each line bigger than a pipe buffer, so a torn write would show up
    def click(n: int) -> None:
        for i in range(25):
            log.append(Vote(question=f"{n}-{i} " + "x" * 5000, up=bool(i % 2)))

    threads = [threading.Thread(target=click, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = log.path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert all(json.loads(line) for line in lines[:-1])
    assert len(log.read()) == 8 * 25


def _click_in_process(path: str, n: int) -> None:
    log = FeedbackLog(Path(path))
    for i in range(20):
        log.append(Vote(question=f"p{n}-{i} " + "y" * 3000, up=False))


def test_concurrent_processes_lose_no_line(tmp_path: Path) -> None:
    path = tmp_path / "feedback.jsonl"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_click_in_process, args=(str(path), n)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=30)
    questions = {r["question"].split()[0] for r in FeedbackLog(path).read()}
    assert len(questions) == 4 * 20


def test_thumbs_down_become_candidate_gold_questions() -> None:
    down = Vote(question="is that the same for T-cell ALL?", up=False, history=("what is nelarabine?",),
                shown=("p#1", "p#2"))
    again = Vote(question="is that the same for T-cell ALL?", up=False, history=("what is nelarabine?",))
    records = [
        json.loads(json.dumps(r.__dict__))
        for r in (Vote(question="liked", up=True), down, again, Reason(vote=down.id, text="wrong drug"),
                  Reason(vote=again.id, text="  "))
    ]
    rows = to_candidates(records)
    assert len(rows) == 1  # the same question in the same context is one candidate
    row = rows[0]
    assert row["id"] == candidate_id("is that the same for T-cell ALL?", ["what is nelarabine?"])
    assert {k: row[k] for k in ("question", "history", "gold_spans", "answerable", "page", "split")} == {
        "question": "is that the same for T-cell ALL?", "history": ["what is nelarabine?"], "gold_spans": [],
        "answerable": True, "page": None, "split": "dev",
    }
    assert row["kind"] == "followup"
    assert row["needs_review"] is True
    assert row["reasons"] == ["wrong drug"]
    assert row["shown"] == ["p#1", "p#2"]


def test_cli_feedback_export(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("QA_DATA_DIR", str(tmp_path))
    log = FeedbackLog.in_dir(tmp_path)
    log.append(Vote(question="what about radiation?", up=False))
    log.append(Vote(question="great", up=True))
    out = tmp_path / "candidates.jsonl"
    assert main(["feedback", "export", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["question"] for r in rows] == ["what about radiation?"]
    assert rows[0]["kind"] == "plain"
    assert "1 candidate" in capsys.readouterr().err

    assert main(["feedback", "export"]) == 0  # to stdout
    assert json.loads(capsys.readouterr().out.splitlines()[0])["question"] == "what about radiation?"


def test_feedback_is_off_by_default_and_on_by_env() -> None:
    assert Config().serving.feedback is False
    assert Config.from_env({"QA_FEEDBACK": "1"}).serving.feedback is True


def test_questions_are_logged_only_when_turned_on(tmp_path) -> None:
    """QA_LOG_QUESTIONS off: nothing on disk; on: one line per question in data_dir/questions.jsonl."""
    from gradio_client import Client

    from qa import chat as app
    from qa.config import Config
    from qa.feedback import read_records
    from qa.types import Answer

    class Fake:
        def __init__(self, cfg: Config) -> None:
            self.cfg = cfg

        def ask(self, message, history=None, k=None):  # type: ignore[no-untyped-def]
            return Answer(question=message, query=message, answerable=False, passages=(), html="none")

    for on in (False, True):
        data = tmp_path / ("on" if on else "off")
        demo = app.build_demo(Fake(Config.of(data_dir=data, log_questions=on)))
        _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=None, quiet=True)
        try:
            Client(url, verbose=False).predict("secret question 42", [], api_name="/ask")
        finally:
            demo.close()
        rows = list(read_records(data / "questions.jsonl"))
        assert [r["question"] for r in rows] == (["secret question 42"] if on else [])
        assert on or not data.exists()
