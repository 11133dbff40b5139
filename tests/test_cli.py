"""`qa build | ask`: JSON output equals the API's, user errors are one line on stderr and exit 1."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from qa.cli import main
from qa.config import Config

REAL_CORPUS = Path(__file__).resolve().parents[1] / "corpus"


@pytest.fixture
def use_real_model(monkeypatch: pytest.MonkeyPatch, real_embedder):
    """The CLI's embedder is the session's real model (loaded once), not a second copy."""
    monkeypatch.setattr("qa.assistant.SentenceTransformerEmbedder", lambda name, **_: real_embedder)
    monkeypatch.setattr("qa.embedding.SentenceTransformerEmbedder", lambda name, **_: real_embedder)
    return real_embedder


@pytest.fixture
def use_fake_model(monkeypatch: pytest.MonkeyPatch, fake_embedder):
    monkeypatch.setenv("QA_ADAPT", "0")  # a fake model can't be fine-tuned; the rest of the learning runs
    monkeypatch.setattr("qa.assistant.SentenceTransformerEmbedder", lambda name, **_: fake_embedder)
    monkeypatch.setattr("qa.embedding.SentenceTransformerEmbedder", lambda name, **_: fake_embedder)
    return fake_embedder


@pytest.mark.parametrize(
    ("question", "history"),
    [
        ("What are the side effects of Gleevec?", []),
        ("what are its side effects?", ["What is blinatumomab?"]),
        ("how do I fix my car's brakes?", []),
    ],
)
def test_ask_json_matches_the_api(
    real_assistant, real_cfg: Config, use_real_model, capsys, question: str, history: list[str]
) -> None:
    argv = ["ask", "--json", "--corpus", str(REAL_CORPUS), "--index", str(real_cfg.paths.index_dir), question]
    for h in history:
        argv[1:1] = ["--history", h]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == real_assistant.ask(question, history=history).to_dict()
    assert set(out) >= {"answerable", "passages"}
    for p in out["passages"]:
        assert set(p) >= {"text", "page", "section", "score", "revised", "url", "citation"}


def test_ask_reads_the_index_dir_from_the_environment(
    real_assistant, real_cfg: Config, use_real_model, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("QA_INDEX_DIR", str(real_cfg.paths.index_dir))
    monkeypatch.setenv("QA_CORPUS_DIR", str(REAL_CORPUS))
    before = os.stat(real_cfg.paths.index_dir / "manifest.json").st_mtime_ns
    assert main(["ask", "--json", "Can surgery cure ALL?"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["answerable"] and "cure this type of cancer with surgery" in out["passages"][0]["text"]
    assert os.stat(real_cfg.paths.index_dir / "manifest.json").st_mtime_ns == before  # loaded, not rebuilt


def test_ask_plain_text_prints_citations(real_assistant, real_cfg: Config, use_real_model, capsys) -> None:
    assert (
        main(
            [
                "ask",
                "--index",
                str(real_cfg.paths.index_dir),
                "--corpus",
                str(REAL_CORPUS),
                "What are the side effects of Gleevec?",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("[1] Targeted Therapy Drugs for Acute Lymphocytic Leukemia (ALL)")
    assert "American Cancer Society" in out and ">>" in out


def test_build_then_ask_on_a_fresh_folder(tiny_cfg: Config, use_fake_model, capsys) -> None:
    flags = ["--corpus", str(tiny_cfg.paths.corpus_dir), "--index", str(tiny_cfg.paths.index_dir), "--model", "fake"]
    assert main(["build", *flags]) == 0
    assert capsys.readouterr().out.startswith(f"built {tiny_cfg.paths.index_dir}: 2 pages")
    assert main(["ask", "--json", *flags, "-k", "1", "refunds reach your card"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["passages"]) <= 1


def _one_line_error(capsys, *expected: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().split("\n")
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("qa: error: ")
    assert "Traceback" not in captured.err
    for text in expected:
        assert text in lines[0]
    return lines[0]


def test_missing_corpus_is_one_line(tmp_path: Path, use_fake_model, capsys) -> None:
    code = main(
        ["build", "--corpus", str(tmp_path / "nowhere"), "--index", str(tmp_path / "ix"), "--model", "fake"]
    )
    assert code == 1
    _one_line_error(capsys, str(tmp_path / "nowhere"), "does not exist")


def test_empty_corpus_is_one_line(tmp_path: Path, use_fake_model, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["ask", "--corpus", str(tmp_path / "empty"), "--index", str(tmp_path / "ix"), "hello"]) == 1
    _one_line_error(capsys, "no readable")


def test_bad_environment_value_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("QA_K", "lots")
    assert main(["ask", "hello"]) == 1
    _one_line_error(capsys, "QA_K")


def test_unknown_model_is_one_line(tmp_path: Path, capsys) -> None:
    assert (
        main(
            [
                "build",
                "--corpus",
                str(REAL_CORPUS),
                "--index",
                str(tmp_path / "ix"),
                "--model",
                str(tmp_path / "no-model"),
            ]
        )
        == 1
    )
    _one_line_error(capsys, "nothing is downloaded")


def test_bad_flag_is_an_argparse_error(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["ask", "--mode", "semantic", "hello"])
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_damaged_index_is_rebuilt_by_ask(tiny_cfg: Config, use_fake_model, capsys) -> None:
    flags = ["--corpus", str(tiny_cfg.paths.corpus_dir), "--index", str(tiny_cfg.paths.index_dir), "--model", "fake"]
    assert main(["build", *flags]) == 0
    (tiny_cfg.paths.index_dir / "dense.faiss").write_bytes(b"garbage")
    capsys.readouterr()
    assert main(["ask", "--json", *flags, "refunds reach your card"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["passages"]
    assert captured.err.strip().split("\n") == [captured.err.strip()]  # one line saying what happened
    assert captured.err.startswith("qa: index rebuilt") and "dense.faiss" in captured.err


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_build_into_a_read_only_folder_names_it(tiny_cfg: Config, use_fake_model, capsys) -> None:
    locked = tiny_cfg.paths.index_dir.parent / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        code = main(
            [
                "build",
                "--corpus",
                str(tiny_cfg.paths.corpus_dir),
                "--index",
                str(locked / "index"),
                "--model",
                "fake",
            ]
        )
    finally:
        locked.chmod(0o755)
    assert code == 1
    _one_line_error(capsys, str(locked / "index"), "writable")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (errno.EACCES, "Permission denied"),
        (errno.EROFS, "Read-only file system"),
        (errno.ENOSPC, "No space left"),
    ],
)
def test_build_when_the_disk_refuses_names_the_folder(
    tiny_cfg: Config, use_fake_model, capsys, monkeypatch: pytest.MonkeyPatch, code: int, message: str
) -> None:
    """Root ignores permissions, so the refusal is simulated where the index writer first touches the disk."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(code, message)

    monkeypatch.setattr("qa.index.tempfile.mkdtemp", refuse)
    exit_code = main(
        ["build", "--corpus", str(tiny_cfg.paths.corpus_dir), "--index", str(tiny_cfg.paths.index_dir),
         "--model", "fake"]
    )
    assert exit_code == 1
    _one_line_error(capsys, str(tiny_cfg.paths.index_dir), message)


def test_eval_on_another_corpus_builds_a_temporary_index(tiny_cfg: Config, use_fake_model, tmp_path: Path,
                                                         capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """`qa eval --corpus DIR --questions FILE`: the corpus gets its own index and learned models in a temporary
    folder (index/ is never touched), and the report has the same metrics and says what was learned."""
    monkeypatch.chdir(tmp_path)
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps({"id": "a", "question": "when will my refund arrive?", "gold_spans": [],
                    "answerable": False, "split": "test"}) + "\n"
        + json.dumps({"id": "b", "question": "how do I send an item back?", "split": "test",
                      "gold_spans": ["Print the return label from your account page and drop the parcel at "
                                     "any post office."],
                      "answerable": True}) + "\n", encoding="utf-8")
    out = tmp_path / "report"
    code = main(["eval", "--corpus", str(tiny_cfg.paths.corpus_dir), "--questions", str(questions), "--out", str(out),
                 "--config", "tutorial", "--config", "default", "--model", "fake"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "temporary index" in captured.err and not (tmp_path / "index").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"tutorial", "default"} and metrics["default"]["overall"]["n"] == 2
    # b again, asked after a: the default's row; the tutorial baseline reads no history
    assert metrics["default"]["mid_chat"]["mid-chat"]["n"] == 1 and "mid_chat" not in metrics["tutorial"]
    report = (out / "report.md").read_text()
    assert "What the build learned from this corpus" in report and "hit@3 >= 0.92" in report
    assert "| default, mid-chat | 1 |" in report
