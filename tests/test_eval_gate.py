"""Regression gate: the shipped default on the gold set's test split must not fall below eval/baseline.json."""

from __future__ import annotations

import json
from pathlib import Path

from qa.evaluate import evaluate
from qa.questions import load_questions

ROOT = Path(__file__).resolve().parents[1]


def test_default_config_meets_baseline(real_assistant) -> None:
    baseline = json.loads((ROOT / "eval" / "baseline.json").read_text())
    questions = load_questions(ROOT / "eval" / "questions.jsonl")
    metrics, _ = evaluate(real_assistant, questions, ["default"], split=baseline["split"], show_progress=True)
    got = metrics["default"]["overall"]
    failures = []
    for name, floor in baseline["floors"].items():
        if got[name] < floor:
            failures.append(f"{name} {got[name]:.3f} < floor {floor:.3f}")
    for name, ceiling in baseline.get("ceilings", {}).items():
        if got[name] > ceiling:
            failures.append(f"{name} {got[name]:.3f} > ceiling {ceiling:.3f}")
    assert not failures, "; ".join(failures)
