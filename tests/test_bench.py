"""The benchmark's pure helpers: percentiles, the synthetic corpus, recall, target verdicts, the report."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qa import bench
from qa.bench import judge, percentile, recall_at_k, summarize, synthetic_corpus
from qa.cli import build_parser


def _sentences(n: int = 12, dim: int = 8) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return [f"s{i}" for i in range(n)], vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_percentile_interpolates_like_numpy() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    # sorted 1..5: p50 is the middle value 3; p95 sits 0.95 * 4 = 3.8 ranks in: 4 + 0.8 * (5 - 4) = 4.8
    assert percentile(values, 50) == 3.0
    assert percentile(values, 95) == pytest.approx(4.8)
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 5.0
    for q in (10, 37.5, 95, 99):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_of_nothing_is_nan_and_bad_q_is_refused() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="0..100"):
        percentile([1.0], 101)


def test_summarize_reports_p50_p95_max() -> None:
    s = summarize([10.0, 20.0, 30.0])
    assert (s["n"], s["p50"], s["max"], s["mean"]) == (3, 20.0, 30.0, 20.0)
    assert summarize([])["n"] == 0


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


def test_unique_question_numbers_each_request() -> None:
    questions = [("What is ALL?", []), ("Is it curable?", ["What is ALL?"])]
    assert bench.unique_question(questions, 3) == ("Is it curable? (3)", ["What is ALL?"])
    assert bench.unique_question(questions, 0)[0] != bench.unique_question(questions, 2)[0]


def _results(warm_p95: float, qps: float) -> dict:
    return {
        "machine": {"date": "d", "cpus": 2, "memory_gb": 8, "platform": "p", "python": "3", "commit": "c",
                    "versions": {}},
        "options": {"requests": 10, "time_cap": 5.0, "out_dir": "eval/bench"},
        "loadavg": {"start": [1.0, 1.0, 1.0]},
        "wall_s": 1.0,
        "warm": {"ask": {"total": {"p50": 10.0, "p95": warm_p95}}, "ratio_total_to_embedding_p50": 1.5},
        "server": {"peak_rss_mb": 700.0, "levels": [
            {"clients": 16, "qps": qps, "errors": 0, "latency_ms": {"p95": 300.0}}]},
    }


def test_judge_compares_each_target_in_its_direction() -> None:
    verdicts = {row["key"]: row["met"] for row in judge(_results(warm_p95=20.0, qps=50.0))}
    assert verdicts["warm_p95_ms"] is True and verdicts["warm_ratio"] is True
    assert verdicts["server_qps"] is True and verdicts["server_p95_ms"] is True
    assert verdicts["server_rss_mb"] is True
    assert verdicts["scale_recall"] is None  # not measured is neither met nor missed
    missed = {row["key"]: row["met"] for row in judge(_results(warm_p95=30.0, qps=39.0))}
    assert missed["warm_p95_ms"] is False and missed["server_qps"] is False


def test_report_states_each_target_and_the_machine_load() -> None:
    results = _results(warm_p95=20.0, qps=50.0)
    results["targets"] = judge(results)
    del results["warm"], results["server"]  # the sections' own tables need a full run; the verdicts stay
    report = bench.render_report(results, plots=[])
    assert "| Warm `Assistant.ask` p95 ≤ 25 ms | 20.00 | met |" in report
    assert "Load average" in report and "[1.0, 1.0, 1.0]" in report


def test_cli_has_a_bench_command_with_quick_and_skip_flags() -> None:
    argv = ["bench", "--quick", "--skip-scale", "--skip-server", "--sizes", "100,200"]
    args = build_parser().parse_args(argv)
    assert args.quick and args.skip_scale and args.skip_server and args.sizes == "100,200"


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
    shares = bench.stack_shares(raw)
    assert shares["model (torch / ONNX Runtime / transformers)"] == 0.6
    assert shares["qa pipeline (BM25, fusion, answer)"] == 0.2
    assert shares["Gradio / HTTP / asyncio"] == 0.1 and shares["other"] == 0.1
    assert bench.stack_shares("") == {}
