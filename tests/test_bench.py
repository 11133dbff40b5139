"""The benchmark's pure parts: the synthetic corpus, recall, targets and verdicts, the report, the CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.build import growth
from bench.load import Request, check, numbered
from bench.report import render_report, summary_table
from bench.run import BenchOptions, corpus_name
from bench.scale import recall_at_k, synthetic_corpus
from bench.server import stack_shares
from bench.targets import OVERLOAD_CLIENTS, SCALE_SIZE, SERVER_CLIENTS, TARGETS, Target, judge, target
from qa.cli import build_parser, main
from qa.config import Config


def _sentences(n: int = 12, dim: int = 8) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return [f"s{i}" for i in range(n)], vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_synthetic_corpus_is_deterministic_for_a_seed() -> None:
    sentences, vectors = _sentences()
    texts_a, vectors_a = synthetic_corpus(sentences, vectors, 50, seed=3)
    texts_b, vectors_b = synthetic_corpus(sentences, vectors, 50, seed=3)
    texts_c, _ = synthetic_corpus(sentences, vectors, 50, seed=4)
    assert texts_a == texts_b
    assert np.array_equal(vectors_a, vectors_b)
    assert texts_a != texts_c


def test_synthetic_corpus_is_made_of_real_sentences_with_unit_vectors() -> None:
    sentences, vectors = _sentences()
    texts, out = synthetic_corpus(sentences, vectors, 20_000, seed=0, per_chunk=3)
    assert len(texts) == 20_000 and out.shape == (20_000, 8) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)  # inner product == cosine
    assert all(len(t.split()) == 3 and set(t.split()) <= set(sentences) for t in texts[:100])
    assert len({row.tobytes() for row in out}) == 20_000  # the noise makes every vector distinct: no ties


def test_synthetic_corpus_refuses_mismatched_inputs() -> None:
    sentences, vectors = _sentences()
    with pytest.raises(ValueError, match="one vector per sentence"):
        synthetic_corpus(sentences[:-1], vectors, 10)
    assert synthetic_corpus(sentences, vectors, 0)[1].shape == (0, 8)


def test_recall_at_k_counts_shared_ids() -> None:
    exact = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    approx = np.array([[4, 3, 2, 1], [5, 6, 9, 10]])
    # query 1: all 4 found in another order (1.0); query 2: 2 of 4 (0.5); mean 0.75
    assert recall_at_k(approx, exact, k=4) == pytest.approx(0.75)
    assert recall_at_k(approx, exact, k=2) == pytest.approx((0 / 2 + 2 / 2) / 2)


def test_numbered_requests_never_repeat_a_text() -> None:
    questions = [("What is ALL?", []), ("Is it curable?", ["What is ALL?"])]
    requests = numbered(questions, 4, offset=3)
    assert requests[0] == Request("/ask", "Is it curable? (3)", ("What is ALL?",))
    assert len({r.message for r in requests + numbered(questions, 3)}) == 7  # offsets 3..6 and 0..2


def test_check_flags_malformed_replies() -> None:
    ask, chat = Request("/ask", "q"), Request("/chat", "q")
    assert check(ask, {"answerable": False, "passages": [], "notice": ""}) is None
    assert check(ask, {"answerable": True, "passages": [], "notice": ""}) == "answerable without passages"
    assert check(ask, "text")
    assert check(chat, "a reply") is None
    assert check(chat, "  ")


def test_targets_read_from_their_limits_and_refuse_a_missing_limit() -> None:
    assert target("warm_p95_ms").text == "Warm `Assistant.ask` p95 ≤ 25 ms"
    assert target("scale_recall").text.startswith(f"{SCALE_SIZE // 1000}k chunks") and "≥ 0.98" in target(
        "scale_recall").text
    assert target("import_light").text == "`import qa` loads neither torch nor gradio"
    assert len({t.key for t in TARGETS}) == len(TARGETS)
    with pytest.raises(ValueError, match="with a limit"):
        Target("x", "something", "<=")
    with pytest.raises(KeyError, match="warm_p95_ms"):
        target("nope")


def _level(clients: int, qps: float, p95: float) -> dict:
    return {"client": "http", "clients": clients, "requests": 20, "answered": 20, "errors": 0, "error_samples": [],
            "wall_s": 1.0, "qps": qps, "latency_ms": {"n": 20, "p50": p95 / 2, "p95": p95, "max": p95, "mean": 1.0},
            "server_rss_max_mb": 690.0, "loadavg_before": [1.0, 1.0, 1.0], "hit_time_cap": False}


def _results(warm_p95: float, qps: float, p95: float = 300.0) -> dict:
    """A run with the server section (judged and rendered) and a partial warm section (judged only)."""
    return {
        "machine": {"date": "d", "cpus": 2, "memory_gb": 8, "platform": "p", "python": "3", "commit": "c",
                    "versions": {}},
        "options": {"requests": 20, "time_cap": 5.0, "out_dir": "eval/bench"},
        "loadavg": {"start": [1.0, 1.0, 1.0]},
        "wall_s": 1.0,
        "warm": {"ask": {"total": {"p50": 10.0, "p95": warm_p95}}, "ratio_total_to_embedding_p50": 1.5},
        "server": {"port": 1, "http_ready_s": 5.0, "first_answer_s": 6.0, "idle_rss_mb": 600.0, "peak_rss_mb": 700.0,
                   "levels": [_level(1, qps / 2, 30.0), _level(SERVER_CLIENTS, qps, p95),
                              _level(OVERLOAD_CLIENTS, qps, 2 * p95)]},
    }


def test_judge_compares_each_target_in_its_direction() -> None:
    verdicts = {row["key"]: row["met"] for row in judge(_results(warm_p95=20.0, qps=50.0))}
    assert verdicts["warm_p95_ms"] is True and verdicts["warm_ratio"] is True
    assert verdicts["server_qps"] is True and verdicts["server_p95_ms"] is True
    assert verdicts["server_rss_mb"] is True and verdicts["server_errors"] is True  # 0 errors ≤ 0
    assert verdicts["server_overload"] is True  # judged at 32 clients; qps and p95 stay judged at 16
    assert verdicts["scale_recall"] is None  # not measured is neither met nor missed
    lost = _results(warm_p95=20.0, qps=50.0)
    lost["server"]["levels"][-1]["answered"] = 19  # one request never answered at 32 clients
    assert {row["key"]: row["met"] for row in judge(lost)}["server_overload"] is False
    missed = {row["key"]: row["met"] for row in judge(_results(warm_p95=30.0, qps=39.0))}
    assert missed["warm_p95_ms"] is False and missed["server_qps"] is False
    assert [row["key"] for row in judge({})] == [t.key for t in TARGETS]  # every target, in order


def test_report_has_a_row_for_every_target_and_states_the_load() -> None:
    results = _results(warm_p95=20.0, qps=50.0)
    del results["warm"], results["server"]
    report = render_report(results, plots=[])
    table = report.split("## Targets", 1)[1].split("\n\n", 2)[1]
    for t in TARGETS:  # the table comes from TARGETS: nothing measured here, every target still listed
        assert f"| {t.text} | – | not measured |" in table
    assert len(table.splitlines()) == 2 + len(TARGETS)
    assert "Load average (1, 5, 15 min)" in report and "[1.0, 1.0, 1.0]" in report
    assert "Missed targets" not in report


def test_report_gives_the_measured_figure_and_the_verdict() -> None:
    results = _results(warm_p95=20.0, qps=50.0)
    del results["warm"]  # its section needs a full run
    report = render_report(results, plots=[])
    assert "| Server: answered questions/s at 16 clients ≥ 40/s | 50.00/s | met |" in report
    assert "| Server peak RSS ≤ 1,200 MB | 700.00 MB | met |" in report
    assert "| http | 16 | 20 | 0 | 50.0 | 150.0 | 300.0 | 300.0 | 690 | 1.0 |" in report
    printed = summary_table(results)
    assert "50.00/s  met" in printed and "not measured" in printed


def _build(name: str, sentences: int, index_s: float, trained: int, encoder_s: float) -> dict:
    return {"name": name, "corpus": name, "wall_s": 60.0, "peak_rss_mb": 900.0, "pages": 2, "chunks": 40,
            "sentences": sentences, "faiss_type": "flat-ip", "disk_mb": 0.5, "learned_disk_mb": 90.0,
            "stage_s": {"index": index_s, "encoder": encoder_s, "reranker": 0.0, "scope_model": 2.0,
                        "topic_model": 0.0, "learned_total": encoder_s + 2.0},
            "questions": {"made": 800, "hand_written": 0, "encoder_training": trained, "held_out": 100},
            "learning": {"adapt_epochs": 2, "synthetic_questions": 4000, "train_limit": 4000}, "stdout": ""}


def test_build_growth_is_seconds_per_thousand_sentences_and_questions() -> None:
    rows = growth([_build("seed", 300, 12.0, 3000, 180.0), _build("lymphoma", 500, 10.0, 800, 40.0)])
    # seed: 12 s / 300 sentences = 40 s per 1,000; 180 s / 3,000 questions = 60 s per 1,000
    assert rows[0] == {"name": "seed", "index_s_per_1k_sentences": 40.0, "encoder_s_per_1k_questions": 60.0}
    # lymphoma: 10 / 500 * 1000 = 20; 40 / 800 * 1000 = 50
    assert rows[1]["index_s_per_1k_sentences"] == 20.0 and rows[1]["encoder_s_per_1k_questions"] == 50.0
    # the difference: (10 - 12) s / (500 - 300) sentences = -10 per 1,000; (40 - 180) / (800 - 3000) = 63.64
    assert rows[2] == {"name": "seed → lymphoma (difference)", "index_s_per_1k_sentences": -10.0,
                       "encoder_s_per_1k_questions": 63.64}
    # about as many training questions in both (the 100k build trained on 3,452, the seed on 3,494): no rate
    rows = growth([_build("seed", 300, 12.0, 3494, 196.0), _build("100k", 467_000, 5800.0, 3452, 301.0)])
    assert rows[2]["encoder_s_per_1k_questions"] is None and rows[2]["index_s_per_1k_sentences"] == 12.4


def test_report_shows_each_build_and_its_stages() -> None:
    results = _results(warm_p95=20.0, qps=50.0)
    del results["warm"], results["server"]
    results["build"] = [_build("seed", 300, 12.0, 3000, 180.0), _build("lymphoma", 500, 10.0, 800, 40.0)]
    report = render_report(results, plots=[])
    assert "## Index build" in report
    assert "| seed | 12.0 | 180.0 | 0.0 | 2.0 | 0.0 | 182.0 |" in report
    assert "| lymphoma | 20.00 | 50.00 |" in report and "| seed → lymphoma (difference) |" in report
    assert "(2 epochs over each)" in report and "trains on at most 4,000" in report


def test_missed_targets_state_the_measurements_only() -> None:
    results = _results(warm_p95=20.0, qps=20.0, p95=900.0)
    del results["warm"]
    report = render_report(results, plots=[])
    assert "| Server: p95 at 16 clients ≤ 400 ms | 900.00 ms | **missed** |" in report
    notes = report.split("## Missed targets", 1)[1].split("\n## ", 1)[0]
    # 16 requests in flight at 20 answered/s: 16 / 20 s = 800 ms mean latency
    assert "20.0 answered/s and p95 900 ms at 16 clients" in notes and "800 ms" in notes
    assert "1 → 10.0, 16 → 20.0" in notes
    assert "would" not in notes  # no advice, only what was measured


def test_corpus_names_and_quick_options() -> None:
    from bench.process import ROOT

    assert corpus_name(ROOT / "corpus") == "seed"
    assert corpus_name(ROOT / "eval" / "corpora" / "lymphoma" / "corpus") == "lymphoma"
    assert BenchOptions.quick().sizes[-1] < SCALE_SIZE == BenchOptions().sizes[-1]
    assert BenchOptions().clients[-2:] == (SERVER_CLIENTS, OVERLOAD_CLIENTS)


def test_cli_has_a_bench_command_with_quick_and_skip_flags() -> None:
    argv = ["bench", "--quick", "--skip-scale", "--skip-server", "--sizes", "100,200", "--report-only"]
    args = build_parser().parse_args(argv)
    assert args.quick and args.skip_scale and args.skip_server and args.sizes == "100,200" and args.report_only
    assert build_parser().parse_args(["bench", "--large-build", "100000"]).large_build == 100_000


def test_qa_bench_without_a_checkout_says_so(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "bench", None)  # what an installed wheel sees: no bench package
    assert main(["bench", "--report-only"]) == 1
    assert "qa bench runs from a source checkout" in capsys.readouterr().err


def test_stack_shares_attribute_each_sample_to_the_nearest_library_frame() -> None:
    raw = "\n".join([
        "run (threading.py:1);ask (qa/assistant.py:9);forward (site-packages/torch/nn/module.py:5) 6",
        "run (threading.py:1);search (qa/lexical.py:70) 2",
        "serve (site-packages/uvicorn/server.py:3);dumps (json/encoder.py:1) 1",
        "main (app.py:1);EpollSelector.select (selectors.py:468) 5",
        "work (app.py:4) 1",
    ])
    # 10 busy samples (the 5 waiting in select are left out): torch leaf 6, qa leaf 2,
    # json under uvicorn counts as the server 1, nothing named 1
    shares = stack_shares(raw)
    assert shares["model (torch / ONNX Runtime / transformers)"] == 0.6
    assert shares["qa pipeline (BM25, fusion, answer)"] == 0.2
    assert shares["Gradio / HTTP / asyncio"] == 0.1 and shares["other"] == 0.1
    assert stack_shares("") == {}


def test_the_large_build_is_judged_on_its_real_peak_and_kept_across_runs(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The 100k target is judged on a real `qa build`'s measured peak; `--large-build` adds it beside the other
    sections and a later full run keeps it (it takes over an hour to measure)."""
    from bench import run as run_module

    large = _build("100,000 passages", 600_000, 5000.0, 4000, 400.0) | {
        "chunks": 100_200, "peak_rss_mb": 1800.0, "target_chunks": 100_000, "measured": "2026-12-06",
        "corpus_made": {"pages": 8500, "real_sentences": 1695, "real_headings": 83, "seed": 0},
        "ask": {"ok": True, "wall_s": 9.0, "peak_rss_mb": 1100.0}}
    assert {row["key"]: row["met"] for row in judge({"large_build": large})}["scale_build_rss_mb"] is True
    small = large | {"chunks": 5_000}  # a smaller run says nothing about the 100k target
    assert {row["key"]: row["met"] for row in judge({"large_build": small})}["scale_build_rss_mb"] is None

    results = _results(warm_p95=20.0, qps=50.0)
    del results["warm"]  # partial: judged, not plotted
    (tmp_path / "results.json").write_text(json.dumps(results), encoding="utf-8")
    monkeypatch.setattr(run_module, "measure_large_build", lambda cfg, chunks, work, seed=0: large)
    merged = run_module.run_large_build(Config(), 100_000, tmp_path)
    assert merged["server"] == results["server"] and merged["large_build"] == large
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| 100,000 passages |" in report and "real `qa build` peak RSS ≤ 2,048 MB | 1,800.00 MB | met" in report
    assert "8,500 pages written from the shipped corpora's own 1,695 sentences" in report
    assert run_module._previous(tmp_path)["large_build"] == large


def test_the_concurrency_sweep_is_a_table_per_setting() -> None:
    results = _results(warm_p95=20.0, qps=50.0)
    del results["warm"]
    results["concurrency"] = [{"concurrency": c, **_level(n, 60.0 + c, 250.0 * n / 16)}
                              for c in (1, 2) for n in (SERVER_CLIENTS, OVERLOAD_CLIENTS)]
    report = render_report(results, plots=[])
    assert "(`QA_CONCURRENCY`; shipped: 2)" in report
    assert "| 2 | 32 | 20 | 0 | 62.0 | 250.0 | 500.0 | 500.0 | 690 |" in report
    assert BenchOptions().concurrency == (1, 2, 4, 8) and BenchOptions.quick().concurrency == (1, 2)
