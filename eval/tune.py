"""Ablations on the dev split: each variant is the shipped Config with a few fields changed.

    .venv/bin/python eval/tune.py [--split dev] [--model NAME_OR_PATH] '{"chunk_tokens": 120}' '{"rerank": false}' ...

Prints one markdown table row per variant (hit@1, hit@3, MRR@10, abstention). Variants that change chunking or
the model get their own temporary index. This is how the defaults in qa/config.py were chosen: on `dev` only.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from qa import Assistant, Config
from qa.embedding import SentenceTransformerEmbedder
from qa.evaluate import CONFIGS, headline, run_config
from qa.questions import load_questions

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("hit@1", "hit@3", "mrr@10", "abstain_recall", "false_abstain_rate", "mean_passage_words")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("variants", nargs="*", default=["{}"], help="JSON objects of Config fields to change")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "questions.jsonl")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--model", default=None, help="embedding model (default: the shipped one)")
    args = parser.parse_args()

    base = Config.from_env().replace(model_name=args.model)
    embedder = SentenceTransformerEmbedder(base.indexing.model_name)
    questions = [q for q in load_questions(args.questions) if q.split == args.split]
    print("| variant | " + " | ".join(KEYS) + " |")
    print("|---|" + "---|" * len(KEYS))
    for spec in args.variants:
        changes = json.loads(spec)
        cfg = base.replace(index_dir=Path(tempfile.mkdtemp(prefix="qa-tune-")) / "index", **changes)
        assistant = Assistant.load(cfg, embedder)
        CONFIGS["variant"] = {}
        m = headline(run_config(assistant, questions, "variant"))
        label = spec if spec != "{}" else "shipped default"
        print(f"| `{label}` | " + " | ".join(f"{m.get(k, 0):.3f}" for k in KEYS) + " |", flush=True)


if __name__ == "__main__":
    main()
