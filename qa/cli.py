"""`qa build | ask | serve | eval`: parse flags, build the Config, call the qa API, print."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from qa.config import MODES, Config
from qa.errors import QAError


def _config(args: argparse.Namespace) -> Config:
    """Defaults, then QA_* environment variables, then flags."""
    return Config.from_env().replace(
        corpus_dir=getattr(args, "corpus", None), index_dir=getattr(args, "index", None),
        model_name=getattr(args, "model", None), mode=getattr(args, "mode", None), k=getattr(args, "k", None),
        host=getattr(args, "host", None), port=getattr(args, "port", None),
    )


def _say(message: str) -> None:
    print(f"qa: {message}", file=sys.stderr, flush=True)


def cmd_build(args: argparse.Namespace) -> int:
    from qa import learn
    from qa.embedding import SentenceTransformerEmbedder
    from qa.index import build_index

    cfg = _config(args)
    started = time.perf_counter()
    embedder = SentenceTransformerEmbedder(cfg.indexing.model_name)
    index = build_index(cfg, embedder, show_progress=sys.stderr.isatty())
    try:
        index.save(cfg.paths.index_dir)
    except OSError as e:  # read-only folder or full disk: say which folder, not a traceback
        raise QAError(f"could not write the index to {cfg.paths.index_dir} ({e.strerror or e}); "
                      "make the folder writable, free disk space, or pass --index") from None
    m = index.manifest
    print(f"built {cfg.paths.index_dir}: {m['num_documents']} pages, {m['num_chunks']} passages, "
          f"{m['num_sentences']} sentences, model {m['model']} ({m['dim']} dims) "
          f"in {time.perf_counter() - started:.1f}s", flush=True)
    # the saved index replaced any earlier learned models: fit the ones for this corpus now, not at first ask
    learned = learn.ensure(cfg, index, embedder, _say)
    print(learn.summary(learned, index))
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from qa.answer import to_text
    from qa.assistant import Assistant

    cfg = _config(args)
    assistant = Assistant.load(cfg)
    if assistant.status != "loaded":  # rebuilt, or built in memory only: one line saying what happened
        print(f"qa: index {assistant.status}", file=sys.stderr)
    if assistant.encoder_status.startswith("trained"):  # work done just now; `qa build` reports the other states
        print(f"qa: query encoder {assistant.encoder_status}", file=sys.stderr)
    answer = assistant.ask(" ".join(args.question), history=args.history or [], k=args.k)
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
        return 0
    if answer.notice:
        print(f"!! {answer.notice}\n")
    if not answer.answerable:
        print(to_text(answer.html))
        return 0
    for n, p in enumerate(answer.passages, start=1):
        print(f"[{n}] {p.citation}")
        for line in p.text.split("\n"):
            marker = ">>" if p.highlight and p.highlight.strip("- ") in line else "  "
            print(f"  {marker} {line}")
        print()
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import tempfile

    from qa import learn
    from qa.assistant import Assistant
    from qa.evaluate import DEFAULT_CONFIGS, evaluate
    from qa.questions import load_questions, validate_questions
    from qa.report import OTHER_CORPUS_TARGETS, write_report

    cfg = _config(args)
    question_files = args.questions or [Path("eval/questions.jsonl")]
    questions = [q for path in question_files for q in load_questions(path)]
    with tempfile.TemporaryDirectory(prefix="qa-eval-") as tmp:
        if args.corpus is not None and args.index is None:  # another corpus: its own index, never index/
            cfg = cfg.replace(index_dir=Path(tmp) / "index")
            _say(f"building a temporary index for {args.corpus} (with its learned models)")
        assistant = Assistant.load(cfg, progress=_say)
        if assistant.status != "loaded" or not assistant.encoder_status.startswith("loaded"):
            _say(f"index {assistant.status}; learned models {assistant.encoder_status}")
        problems = validate_questions(questions, assistant.index.documents)
        for problem in problems[:20]:
            print(f"qa: warning: {problem}", file=sys.stderr)
        configs = args.config or list(DEFAULT_CONFIGS)
        metrics, results = evaluate(assistant, questions, configs, split=args.split, show_progress=True)
    names = ", ".join(Path(p).name for p in question_files)
    title = f"Retrieval evaluation: {names}" + (f", split {args.split}" if args.split else "")
    notes = args.notes.read_text(encoding="utf-8") if args.notes else ""
    seed = args.corpus is None  # the shipped corpus has its own targets; any other is a corpus nobody tuned for
    learned = learn.summary(assistant.learned, assistant.index) + "\n  rules switched off by these pages: " + \
        (", ".join(name for name, _ in assistant.rules.switched_off) or "none")
    report = write_report(metrics, results, args.out, primary="default" if "default" in configs else configs[0],
                          title=title, notes=notes, learned=learned, targets=None if seed else OTHER_CORPUS_TARGETS)
    keys = ("hit@1", "hit@3", "mrr@10", "ndcg@10", "abstain_recall", "false_abstain_rate", "latency_p95_ms")
    print(f"{'config':<10}" + "".join(f"{k:>20}" for k in keys))
    for name, m in metrics.items():
        print(f"{name:<10}" + "".join(f"{m['overall'].get(k, float('nan')):>20.3f}" for k in keys))
    print(f"report: {report}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from qa.chat import main as serve

    return serve(_config(args))


def cmd_bench(args: argparse.Namespace) -> int:
    try:  # the benchmark lives beside the package in a source checkout (bench/), not in the wheel
        import bench
    except ModuleNotFoundError as e:
        if e.name != "bench":
            raise
        raise QAError("qa bench runs from a source checkout: the benchmark (bench/) is not part of the installed "
                      "package; run `make bench` or `python -m bench` in a clone of the repository") from None

    if args.report_only:  # re-render report.md and plots from results.json: no measuring
        print(bench.summary_table(bench.rewrite_report(args.out or bench.BenchOptions().out_dir)))
        return 0
    if args.large_build:  # alone (100,000 passages: about 1 h 50 min on 2 cores); the other sections stay as they were
        out = args.out or bench.BenchOptions().out_dir
        print(bench.summary_table(bench.run_large_build(_config(args), args.large_build, out)))
        return 0
    sizes = tuple(int(x) for x in args.sizes.split(",")) if args.sizes else None
    changes = {k: v for k, v in dict(out_dir=args.out, questions=args.questions, sizes=sizes,
                                       skip_scale=args.skip_scale, skip_server=args.skip_server).items() if v}
    opts = bench.BenchOptions.quick(**changes) if args.quick else bench.BenchOptions(**changes)
    print(bench.summary_table(bench.run_bench(_config(args), opts)))
    return 0


def cmd_feedback_export(args: argparse.Namespace) -> int:
    """Thumbs-down from the opt-in feedback log as candidate gold questions (JSONL) for review."""
    from qa.feedback import FeedbackLog, to_candidates

    log = FeedbackLog.in_dir(Config.from_env().paths.data_dir) if args.log is None else FeedbackLog(args.log)
    rows = to_candidates(log.read())
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if args.out is None:
        sys.stdout.write(lines)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(lines, encoding="utf-8")
    print(f"{len(rows)} candidate question(s) from {log.path} to {args.out or 'stdout'}; each needs_review: "
          "copy gold_spans from the corpus (or set answerable false) before adding it to eval/", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qa", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="show progress and warnings")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--corpus", type=Path, help="corpus folder (QA_CORPUS_DIR, default corpus/)")
        p.add_argument("--index", type=Path, help="index folder (QA_INDEX_DIR, default index/)")
        p.add_argument("--model", help="bundled model name or local model folder (QA_MODEL_NAME)")

    p = sub.add_parser("build", help="parse, chunk and embed the corpus into the index folder")
    common(p)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("ask", help="answer one question in the terminal")
    common(p)
    p.add_argument("question", nargs="+")
    p.add_argument("-k", type=int, help="passages to return (default 5)")
    p.add_argument("--mode", choices=MODES, help="retriever (default hybrid)")
    p.add_argument("--history", action="append", help="an earlier question of the chat (repeatable, oldest first)")
    p.add_argument("--json", action="store_true", help="print the structured answer as JSON")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("eval", help="evaluate retrieval on gold question files and write a report; with --corpus "
                                    "and no --index, a temporary index is built (and learned) for that corpus")
    common(p)
    p.add_argument("--questions", type=Path, action="append",
                   help="JSONL gold questions (repeatable; default eval/questions.jsonl)")
    p.add_argument("--out", type=Path, default=Path("eval"), help="folder for results, metrics, report and plots")
    p.add_argument("--split", help="only this split (dev or test)")
    p.add_argument("--config", action="append", help="configuration to run (repeatable; default: all)")
    p.add_argument("--notes", type=Path, help="markdown file to include in the report (e.g. eval/experiments.md)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("serve", help="start the chat (same as python app.py)")
    common(p)
    p.add_argument("--host", help="address to bind (default 127.0.0.1; GRADIO_SERVER_NAME)")
    p.add_argument("--port", type=int, help="port (default 7860; GRADIO_SERVER_PORT)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("bench", help="time and size the pipeline: build, latency, cold start, memory, scale, load "
                                     "(from a source checkout)")
    common(p)
    p.add_argument("--out", type=Path, help="results folder (default eval/bench)")
    p.add_argument("--questions", type=Path, help="questions to time (default eval/questions.jsonl)")
    p.add_argument("--sizes", help="synthetic corpus sizes, comma-separated (default 1000,10000,100000)")
    p.add_argument("--quick", action="store_true", help="small counts: a smoke run of a couple of minutes")
    p.add_argument("--skip-scale", action="store_true", help="skip the synthetic-corpus scale runs")
    p.add_argument("--skip-server", action="store_true", help="skip the chat server start and load test")
    p.add_argument("--report-only", action="store_true", help="rewrite report.md and plots from results.json")
    p.add_argument("--large-build", type=int, metavar="PASSAGES",
                   help="only a real qa build of a written corpus of this many passages (100000: about 1 h 50 min), "
                        "added to results.json")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("feedback", help="work with the opt-in thumbs up/down log (QA_FEEDBACK=1)")
    feedback = p.add_subparsers(dest="feedback_command", required=True)
    p = feedback.add_parser("export", help="turn thumbs-down into candidate gold questions (JSONL)")
    p.add_argument("--log", type=Path, help="feedback log (default: QA_DATA_DIR/feedback.jsonl)")
    p.add_argument("--out", type=Path, help="write here instead of stdout")
    p.set_defaults(func=cmd_feedback_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: a user error prints one line on stderr and exits 1; bugs keep their traceback."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="qa: %(message)s")
    try:
        return int(args.func(args) or 0)
    except QAError as e:
        print(f"qa: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
