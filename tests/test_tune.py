"""eval/tune.py, the ablation script settings are chosen with, run on the real index it starts from."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

from qa.config import Config

ROOT = Path(__file__).resolve().parents[1]


def test_tune_starts_from_a_built_index_and_leaves_it_alone(real_assistant, real_cfg: Config, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    gold = [json.loads(line) for line in (ROOT / "eval" / "questions.jsonl").read_text().splitlines()]
    dev = [q for q in gold if q["split"] == "dev"]
    picked = [q for q in dev if q["answerable"]][:4] + [q for q in dev if not q["answerable"]][:2]
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in picked))
    index = real_cfg.paths.index_dir  # built by the real_assistant fixture

    def files() -> list[tuple[str, int, int]]:
        return sorted((str(p.relative_to(index)), p.stat().st_size, p.stat().st_mtime_ns) for p in index.rglob("*"))

    before = files()
    monkeypatch.setattr(sys, "argv", ["tune.py", "--corpus", str(real_cfg.paths.corpus_dir), "--questions",
                                      str(questions), "--from-index", str(index), '{"shown": 2}'])
    runpy.run_path(str(ROOT / "eval" / "tune.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "6 questions (4 answerable)" in out
    row = next(line for line in out.splitlines() if line.startswith('| `{"shown": 2}`'))
    values = [float(v) for v in row.strip("|").split("|")[1:]]
    assert len(values) == 5 and all(0.0 <= v <= 1.0 for v in values)
    assert values[1] >= values[0]  # hit@3 >= hit@1
    assert files() == before  # the source index was copied, never written to
