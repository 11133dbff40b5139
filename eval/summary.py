"""One table for every corpus and question set `make eval` evaluated: eval/summary.md and eval/summary.png.

    .venv/bin/python eval/summary.py

Reads the metrics.json files `qa eval` wrote (the seed's gold test split, its validation and holdout sets, and each
corpus under eval/corpora/ with its patient and NLM questions) and puts the shipped default next to the
LangChain-tutorial-style baseline, scored by the same scorer. Nothing is measured here.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent
KEYS = ("hit@1", "hit@3", "mrr@10", "abstain_recall", "false_abstain_rate")


def _pick(metrics: dict, config: str, split: str | None) -> dict:
    """One configuration's numbers, on one split or on all questions ({} when it wasn't run)."""
    if config not in metrics:
        return {}
    return metrics[config]["by_split"][split] if split else metrics[config]["overall"]


def rows() -> list[tuple[str, str, dict, dict]]:
    """(corpus, question set, default metrics, tutorial metrics) for every report found."""
    out = []
    seed = [("gold set, test split", ROOT / "metrics.json", "test"), ("validation set (other writers)",
            ROOT / "val" / "metrics.json", None), ("holdout set (another writer)", ROOT / "holdout" / "metrics.json",
            None)]
    for label, path, split in seed:
        if path.exists():
            m = json.loads(path.read_text(encoding="utf-8"))
            out.append(("seed (ACS, adult ALL)", label, _pick(m, "default", split), _pick(m, "tutorial", split)))
    for folder in sorted((ROOT / "corpora").iterdir()):
        for name, label in (("patient", "patient questions, test split"), ("medquad", "NLM questions (MedQuAD)")):
            path = folder / "report" / name / "metrics.json"
            if not path.exists():
                continue
            m = json.loads(path.read_text(encoding="utf-8"))
            split = "test" if name == "patient" else None
            out.append((folder.name, label, _pick(m, "default", split), _pick(m, "tutorial", split)))
    return out


def _f(m: dict, key: str) -> str:
    v = m.get(key)
    return "" if v is None else f"{v:.3f}"


def table(found: list[tuple[str, str, dict, dict]]) -> str:
    lines = ["| corpus | questions | n | hit@1 | hit@3 | MRR@10 | out-of-scope declined | answerable declined | "
             "tutorial hit@1 | tutorial hit@3 | tutorial MRR@10 |", "|---|---|---|" + "---|" * 8]
    for corpus, label, d, t in found:
        lines.append(f"| {corpus} | {label} | {int(d.get('n', 0))} | " + " | ".join(_f(d, k) for k in KEYS) + " | "
                     + " | ".join(_f(t, k) for k in KEYS[:3]) + " |")
    return "\n".join(lines)


def plot(found: list[tuple[str, str, dict, dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{c}\n{q.split(',')[0]}" for c, q, _, _ in found]
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(found)), 4))
    x = range(len(found))
    ax.bar([i - 0.2 for i in x], [d.get("hit@3", 0) for _, _, d, _ in found], 0.4, label="shipped default")
    ax.bar([i + 0.2 for i in x], [t.get("hit@3", 0) for _, _, _, t in found], 0.4, label="tutorial baseline")
    ax.axhline(0.92, color="grey", ls="--", lw=1, label="target on new corpora (0.92)")
    ax.set_xticks(list(x), labels, fontsize=7)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("hit@3")
    ax.legend(fontsize=8)
    ax.set_title("Answer among the first three passages, by corpus")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    found = rows()
    text = ["# Every corpus at a glance", "", "Written by `eval/summary.py` from the reports `make eval` wrote. "
            "Ranking metrics over answerable questions (a declined one scores 0); the tutorial baseline "
            "(qa/baseline.py) never declines.", "", table(found), "", "![hit@3 by corpus](summary.png)", ""]
    (ROOT / "summary.md").write_text("\n".join(text), encoding="utf-8")
    plot(found, ROOT / "summary.png")
    print(table(found))


if __name__ == "__main__":
    main()
