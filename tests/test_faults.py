"""Faults: a damaged, stale or half-written index is never served; a read-only disk serves from memory."""

from __future__ import annotations

import errno
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qa.assistant import Assistant
from qa.config import Config
from qa.errors import IndexMismatchError, IndexNotFoundError
from qa.index import FILES, build_index, load_index

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
QUESTION = "refunds reach your card"


@pytest.fixture
def saved(tiny_cfg: Config, fake_embedder) -> Config:
    build_index(tiny_cfg, fake_embedder).save(tiny_cfg.paths.index_dir)
    return tiny_cfg


def _assert_serves(assistant: Assistant) -> None:
    answer = assistant.ask(QUESTION)
    assert answer.answerable and answer.passages[0].section == "Refund timing"


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for i in range(0, len(data), 7):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


DAMAGE = {"missing": Path.unlink, "truncated": _truncate, "corrupt": _corrupt}


@pytest.mark.parametrize("name", [*FILES, "manifest.json"])
@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_index_is_detected_and_rebuilt_by_load(
    saved: Config, fake_embedder, name: str, damage: str
) -> None:
    DAMAGE[damage](saved.paths.index_dir / name)
    with pytest.raises((IndexMismatchError, IndexNotFoundError)):
        load_index(saved, fake_embedder.dim)
    assistant = Assistant.load(saved, fake_embedder)
    assert assistant.status.startswith("rebuilt")
    _assert_serves(assistant)
    load_index(saved, fake_embedder.dim)  # and the rebuilt index on disk is whole again


def test_index_of_another_model_is_rebuilt(tiny_cfg: Config, fake_embedder) -> None:
    other = tiny_cfg.replace(model_name="some-other-model")
    build_index(other, fake_embedder).save(tiny_cfg.paths.index_dir)
    assistant = Assistant.load(tiny_cfg, fake_embedder)
    assert assistant.status.startswith("rebuilt") and "model" in assistant.status
    assert load_index(tiny_cfg, fake_embedder.dim).manifest["model"] == "fake"


def test_index_of_another_corpus_is_rebuilt(saved: Config, fake_embedder) -> None:
    (saved.paths.corpus_dir / "returns.md").write_text(
        "# Returns\n\n## Refund timing\n\nRefunds reach your card in 3 days.\n"
    )
    assistant = Assistant.load(saved, fake_embedder)
    assert assistant.status.startswith("rebuilt") and "corpus" in assistant.status
    assert "3 days" in assistant.ask(QUESTION).passages[0].text


def test_matching_index_is_loaded_not_rebuilt(saved: Config, fake_embedder) -> None:
    first = Assistant.load(saved, fake_embedder)  # fits the learned models (they ask questions, not passages)
    assert first.status == "loaded"
    fake_embedder.calls = 0
    again = Assistant.load(saved, fake_embedder)
    assert again.status == again.encoder_status == "loaded" and fake_embedder.calls == 0


# --- crash during a save ----------------------------------------------------------------------------------


def _leftovers(cfg: Config) -> list[str]:
    return sorted(
        p.name for p in cfg.paths.index_dir.parent.iterdir() if p.name.startswith(f".{cfg.paths.index_dir.name}.")
    )


@pytest.mark.parametrize("exc", [OSError(errno.EIO, "I/O error"), KeyboardInterrupt()])
def test_crash_while_writing_vectors_leaves_nothing_that_loads(
    tiny_cfg: Config, fake_embedder, monkeypatch: pytest.MonkeyPatch, exc: BaseException
) -> None:
    import faiss

    real_write = faiss.write_index

    def half_write(index: object, path: str) -> None:
        real_write(index, path)
        Path(path).write_bytes(Path(path).read_bytes()[:20])  # a torn file, then the crash
        raise exc

    index = build_index(tiny_cfg, fake_embedder)
    monkeypatch.setattr(faiss, "write_index", half_write)
    with pytest.raises(type(exc)):
        index.save(tiny_cfg.paths.index_dir)
    monkeypatch.undo()
    assert not tiny_cfg.paths.index_dir.exists()
    assert _leftovers(tiny_cfg) == []
    with pytest.raises(IndexNotFoundError):
        load_index(tiny_cfg, fake_embedder.dim)
    assert Assistant.load(tiny_cfg, fake_embedder).status.startswith("rebuilt")


def test_failed_swap_puts_the_previous_index_back(
    saved: Config, fake_embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replacing an index: the old one is moved aside, then the new one fails to land; the old one returns."""
    import os

    real_replace = os.replace
    calls = []

    def replace_then_fail(src: object, dst: object) -> None:
        calls.append((src, dst))
        if len(calls) == 2:
            raise OSError(errno.EIO, "I/O error")
        real_replace(src, dst)

    changed = saved.replace(chunk_tokens=60)
    index = build_index(changed, fake_embedder)
    monkeypatch.setattr("qa.index.os.replace", replace_then_fail)
    with pytest.raises(OSError):
        index.save(saved.paths.index_dir)
    monkeypatch.undo()
    assert _leftovers(saved) == []
    assert load_index(saved, fake_embedder.dim).manifest["chunk_tokens"] == saved.indexing.chunk_tokens  # the old one
    with pytest.raises(IndexMismatchError):
        load_index(changed, fake_embedder.dim)  # never the half-swapped new one
    assistant = Assistant.load(changed, fake_embedder)
    assert assistant.status.startswith("rebuilt")
    _assert_serves(assistant)


KILL_SCRIPT = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {tests!r})
    from conftest import FakeEmbedder
    from qa.config import Config
    from qa.index import build_index
    import qa.index

    cfg = Config.of(corpus_dir={corpus!r}, index_dir={index!r}, model_name="fake", adapt=False)
    index = build_index(cfg, FakeEmbedder())
    real_replace = os.replace

    def killed(src, dst):  # the process dies here: no except block, no cleanup runs
        if {when!r} == "before-rename":
            os._exit(137)
        real_replace(src, dst)
        os._exit(137)

    qa.index.os.replace = killed
    index.save(cfg.paths.index_dir)
    """
)


@pytest.mark.parametrize("when", ["before-rename", "between-renames"])
def test_killed_process_leaves_nothing_that_loads_and_next_start_rebuilds(
    saved: Config, fake_embedder, when: str
) -> None:
    (saved.paths.corpus_dir / "new.md").write_text("# New page\n\nA new page about parcels. Parcels are boxes.\n")
    script = KILL_SCRIPT.format(
        tests=str(TESTS), corpus=str(saved.paths.corpus_dir), index=str(saved.paths.index_dir), when=when
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 137, proc.stderr
    assert _leftovers(saved)  # the dead process left its temporary folder behind ...
    with pytest.raises((IndexNotFoundError, IndexMismatchError)):
        load_index(saved, fake_embedder.dim)  # ... but nothing that loads as the index
    assistant = Assistant.load(saved, fake_embedder)
    assert assistant.status.startswith("rebuilt")
    assert any("parcels" in p.text.lower() for p in assistant.ask("parcels boxes").passages)


# --- disk refuses writes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "where"),
    [
        (errno.EACCES, "qa.index.tempfile.mkdtemp"),
        (errno.EROFS, "qa.index.tempfile.mkdtemp"),
        (errno.ENOSPC, "faiss.write_index"),
    ],
)
def test_unwritable_index_folder_still_serves_from_memory(
    tiny_cfg: Config,
    fake_embedder,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    code: int,
    where: str,
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(code, errno.errorcode[code])

    monkeypatch.setattr(where, refuse)
    with caplog.at_level(logging.WARNING, logger="qa.index"):
        assistant = Assistant.load(tiny_cfg, fake_embedder)
    assert assistant.status.startswith("built in memory")
    assert str(tiny_cfg.paths.index_dir) in caplog.text  # the warning names the folder
    _assert_serves(assistant)
    assert not tiny_cfg.paths.index_dir.exists() and _leftovers(tiny_cfg) == []


@pytest.mark.skipif(
    sys.platform == "win32" or __import__("os").geteuid() == 0, reason="root ignores folder permissions"
)
def test_really_read_only_folder_still_serves_from_memory(
    tmp_path: Path, tiny_cfg: Config, fake_embedder
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assistant = Assistant.load(tiny_cfg.replace(index_dir=locked / "index"), fake_embedder)
    finally:
        locked.chmod(0o755)
    assert assistant.status.startswith("built in memory")
    _assert_serves(assistant)


# --- bad corpus files -------------------------------------------------------------------------------------


def test_bad_corpus_files_are_skipped_and_the_rest_is_indexed(
    tiny_cfg: Config, fake_embedder, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = tiny_cfg.paths.corpus_dir
    (corpus / "image.txt").write_bytes(bytes(range(256)) * 4)
    (corpus / "empty.md").write_bytes(b"")
    (corpus / "blank.txt").write_text("\n\n   \n")
    (corpus / "latin1.txt").write_bytes("Résumé\n\nLe café est très bon.\n".encode("latin-1"))
    with caplog.at_level(logging.WARNING, logger="qa.corpus"):
        assistant = Assistant.load(tiny_cfg, fake_embedder)
    for name in ("image.txt", "empty.md", "blank.txt", "latin1.txt"):
        assert name in caplog.text
    assert {d.source for d in assistant.index.documents} == {"returns.md", "shipping.txt"}
    _assert_serves(assistant)


def test_stale_build_folders_are_cleaned_up(tiny_cfg, fake_embedder) -> None:
    """A folder left by a killed build is removed by the next save once it is old; a fresh one is left alone."""
    import os
    import time

    from qa.index import build_index

    stale = tiny_cfg.paths.index_dir.parent / f".{tiny_cfg.paths.index_dir.name}.tmp-killed"
    fresh = tiny_cfg.paths.index_dir.parent / f".{tiny_cfg.paths.index_dir.name}.tmp-running"
    for folder in (stale, fresh):
        folder.mkdir(parents=True)
        (folder / "chunks.jsonl").write_text("half")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    build_index(tiny_cfg, fake_embedder).save(tiny_cfg.paths.index_dir)
    assert not stale.exists()
    assert fresh.exists()
