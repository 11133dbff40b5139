"""The report's plots (matplotlib, Agg backend: no display needed); target lines come from bench.targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.targets import target

WARM_STAGES = ("prepare", "embedding", "dense", "sentences", "bm25", "fusion", "select", "format")


def write_plots(results: dict[str, Any], out_dir: Path) -> list[str]:
    """PNG plots of the sections that ran, next to the report; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for name, draw in (("warm_stages.png", _warm), ("scale_latency.png", _scale_latency),
                       ("scale_memory.png", _scale_memory), ("concurrency.png", _concurrency)):
        fig = draw(plt, results)
        if fig is not None:
            fig.tight_layout()
            fig.savefig(out_dir / name, dpi=110)
            plt.close(fig)
            written.append(name)
    return written


def _warm(plt: Any, results: dict[str, Any]) -> Any:
    warm = results.get("warm")
    if not warm:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.6))
    x = np.arange(len(WARM_STAGES))
    ax.bar(x - 0.2, [warm["stages"][n]["p50"] for n in WARM_STAGES], 0.4, label="p50")
    ax.bar(x + 0.2, [warm["stages"][n]["p95"] for n in WARM_STAGES], 0.4, label="p95")
    ax.set_xticks(x, WARM_STAGES, rotation=20)
    ax.set_ylabel("ms")
    ax.set_title(f"Warm query stages (ask p95 {warm['ask']['total']['p95']:.1f} ms)")
    ax.legend()
    return fig


def _points(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in (results.get("scale") or {}).get("points", []) if "error" not in p]


def _scale_latency(plt: Any, results: dict[str, Any]) -> Any:
    points = _points(results)
    if not points:
        return None
    sizes = [p["size"] for p in points]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for key, label in (("total", "query (with embedding)"), ("search", "search (no embedding)"),
                       ("dense", "dense FAISS"), ("bm25", "BM25")):
        ax.plot(sizes, [p["query_ms"][key]["p95"] for p in points], marker="o", label=f"{label} p95")
    ax.plot(sizes, [p["exact_search_ms"]["p95"] for p in points], marker="x", ls=":", label="exact FAISS p95")
    ax.axhline(target("scale_p95_ms").limit, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("chunks (synthetic)")
    ax.set_ylabel("ms")
    ax.set_yscale("log")  # the embedding's tail on a busy machine would flatten the search lines
    ax.set_title("Query latency p95 vs corpus size (dashed: target)")
    ax.legend(fontsize=8)
    return fig


def _scale_memory(plt: Any, results: dict[str, Any]) -> Any:
    points = _points(results)
    if not points:
        return None
    sizes = [p["size"] for p in points]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(sizes, [p["process_peak_rss_mb"] for p in points], marker="o", label="process peak (with model)")
    ax.plot(sizes, [p["rss_mb"]["build_peak"] for p in points], marker="o", label="build peak (no model)")
    ax.plot(sizes, [p["rss_mb"]["index_resident"] for p in points], marker="o", label="index resident")
    ax.plot(sizes, [p["disk_mb"]["total"] for p in points], marker="o", label="on disk")
    ax.set_xscale("log")
    ax.set_xlabel("chunks (synthetic)")
    ax.set_ylabel("MB")
    ax.set_title("Memory and disk vs corpus size")
    ax.legend(fontsize=8)
    return fig


def _concurrency(plt: Any, results: dict[str, Any]) -> Any:
    server = results.get("server") or {}
    if not server.get("levels"):
        return None
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.6))
    for key, style in (("levels", "-"), ("levels_gradio_client", "--")):
        levels = server.get(key) or []
        if levels:
            n = [lv["clients"] for lv in levels]
            ax.plot(n, [lv["qps"] for lv in levels], marker="o", ls=style, label=levels[0]["client"])
            ax2.plot(n, [lv["latency_ms"]["p95"] for lv in levels], marker="s", ls=style, label=levels[0]["client"])
    ax.axhline(target("server_qps").limit, color="grey", lw=0.8, ls=":")
    ax2.axhline(target("server_p95_ms").limit, color="grey", lw=0.8, ls=":")
    for axis, ylabel in ((ax, "answered questions / s"), (ax2, "p95 latency (ms)")):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("concurrent clients")
        axis.set_ylabel(ylabel)
        axis.legend(fontsize=8)
    fig.suptitle("Chat server /ask under load (dotted: targets)")
    return fig
