"""Ablations on a dev split: each variant is the shipped Config with a few fields changed.

    .venv/bin/python eval/tune.py [--split dev] [--model NAME_OR_PATH] '{"chunk_tokens": 120}' '{"rerank": false}' ...
    .venv/bin/python eval/tune.py --corpus eval/corpora/lymphoma/corpus \\
        --questions eval/corpora/lymphoma/patient_questions.jsonl \\
        --from-index .eval-index/lymphoma '{"adapt_epochs": 5}'

Prints one markdown table row per variant: the pipeline's ranking with every decline check off ("never-decline":
hit@1, hit@3, MRR@10) and the shipped default's declines (out of scope declined, answerable declined). Each
variant gets its own temporary index; `--from-index` starts it from an index already built for the same corpus,
so a variant that changes only learning or search reuses the passages' vectors and refits just what it changes
(qa.learn's manifest says what is stale). This is how the defaults in qa/config.py were chosen: on dev splits only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from qa import Assistant, Config
from qa.embedding import SentenceTransformerEmbedder
from qa.evaluate import headline, run_config
from qa.questions import load_questions

ROOT = Path(__file__).resolve().parents[1]
RANKING = ("hit@1", "hit@3", "mrr@10")
DECLINES = ("abstain_recall", "false_abstain_rate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("variants", nargs="*", default=["{}"], help="JSON objects of Config fields to change")
    parser.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: the configured one)")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "questions.jsonl")
    parser.add_argument("--split", default="dev", help="questions of this split only ('' = every question)")
    parser.add_argument("--from-index", type=Path, default=None, help="an index of the same corpus to start from")
    parser.add_argument("--model", default=None, help="embedding model (default: the shipped one)")
    args = parser.parse_args()

    base = Config.from_env().replace(model_name=args.model)
    if args.corpus is not None:
        base = base.replace(corpus_dir=args.corpus)
    embedder = SentenceTransformerEmbedder(base.indexing.model_name)
    questions = [q for q in load_questions(args.questions) if not args.split or q.split == args.split]
    keys = [f"never-decline {k}" for k in RANKING] + list(DECLINES)
    print(f"{len(questions)} questions ({sum(q.answerable for q in questions)} answerable) from {args.questions}")
    print("| variant | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for spec in args.variants:
        changes = json.loads(spec)
        with tempfile.TemporaryDirectory(prefix="qa-tune-") as scratch:  # a copy: the source index is never written
            index_dir = Path(scratch) / "index"
            if args.from_index is not None:
                shutil.copytree(args.from_index, index_dir)
            assistant = Assistant.load(base.replace(index_dir=index_dir, **changes), embedder)
            ranked = headline(run_config(assistant, questions, "never-decline"))
            declined = headline(run_config(assistant, questions, "default"))
        values = [ranked.get(k, 0.0) for k in RANKING] + [declined.get(k, float("nan")) for k in DECLINES]
        label = spec if spec != "{}" else "shipped default"
        print(f"| `{label}` | " + " | ".join(f"{v:.3f}" for v in values) + " |", flush=True)


if __name__ == "__main__":
    main()
