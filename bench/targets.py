"""The performance targets: the only place their numbers live; verdicts and the report's tables come from here."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

SCALE_SIZE = 100_000  # synthetic chunks the scale targets are judged at
SERVER_CLIENTS = 16  # concurrent HTTP clients the server targets are judged at
OVERLOAD_CLIENTS = 32  # twice that: answers may queue, none may fail or go missing

_SYMBOLS = {"<=": "≤", ">=": "≥"}


@dataclass(frozen=True)
class Target:
    """One target: the figure it is judged on (`key`), how it reads, and its limit.

    `op` is "<=" or ">=" against `limit`, or "true" for a yes/no property (no limit).
    """

    key: str
    what: str
    op: str
    limit: float | None = None
    unit: str = ""

    def __post_init__(self) -> None:
        if self.op not in ("<=", ">=", "true") or (self.op == "true") != (self.limit is None):
            raise ValueError(f"target {self.key}: op must be <=, >= (with a limit) or true (without), not {self.op!r}")

    @property
    def bound(self) -> str:
        """The limit as it reads: "≤ 25 ms" ("yes" for a yes/no target)."""
        return "yes" if self.op == "true" else f"{_SYMBOLS[self.op]} {self.limit:,g}{self.unit}"

    @property
    def text(self) -> str:
        """How the target reads in the report: "Warm `Assistant.ask` p95 ≤ 25 ms"."""
        return self.what if self.op == "true" else f"{self.what} {self.bound}"

    def met(self, value: Any) -> bool | None:
        """Met, missed, or None when the figure was not measured."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if self.op == "true":
            return bool(value)
        limit = float(self.limit or 0.0)  # a comparing target always has one (__post_init__)
        return value >= limit if self.op == ">=" else value <= limit


_SCALE = f"{SCALE_SIZE // 1000}k chunks"
TARGETS = (
    Target("warm_p95_ms", "Warm `Assistant.ask` p95", "<=", 25.0, " ms"),
    Target("warm_ratio", "Warm total / one bare query encoding (p50/p50)", "<=", 2.0, "×"),
    Target("cold_ratio", "Cold `qa ask` / the floor (import sentence_transformers + model load)", "<=", 1.3, "×"),
    Target("import_light", "`import qa` loads neither torch nor gradio", "true"),
    Target("scale_p95_ms", f"{_SCALE}: query p95 (embedding + dense + BM25 + fusion)", "<=", 40.0, " ms"),
    Target("scale_recall", f"{_SCALE}: recall@10 against exact search", ">=", 0.98),
    Target("scale_auto_type", "Index type chosen by size (exact when small) and recorded in the manifest", "true"),
    Target("scale_build_rss_mb", f"{_SCALE}: real `qa build` peak RSS", "<=", 2048.0, " MB"),
    Target("server_qps", f"Server: answered questions/s at {SERVER_CLIENTS} clients", ">=", 40.0, "/s"),
    Target("server_p95_ms", f"Server: p95 at {SERVER_CLIENTS} clients", "<=", 400.0, " ms"),
    Target("server_errors", "Server: errors", "<=", 0.0),
    Target("server_overload", f"Server at {OVERLOAD_CLIENTS} clients: every request answered, none failed", "true"),
    Target("server_rss_mb", "Server peak RSS", "<=", 1200.0, " MB"),
)


def target(key: str) -> Target:
    """The target judged on `key` (KeyError names the known keys)."""
    for t in TARGETS:
        if t.key == key:
            return t
    raise KeyError(f"no target {key!r}; known: {', '.join(t.key for t in TARGETS)}")


def judge(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the measured figure and met (True) / missed (False) / not measured (None)."""
    measured = figures(results)
    return [
        {"key": t.key, "target": t.text, "limit": t.limit, "measured": measured.get(t.key),
         "met": t.met(measured.get(t.key))}
        for t in TARGETS
    ]


def figures(r: dict[str, Any]) -> dict[str, Any]:
    """The one number each target is judged on, pulled out of the results (absent when not measured)."""
    m: dict[str, Any] = {}
    warm = r.get("warm") or {}
    if warm:
        m["warm_p95_ms"] = warm["ask"]["total"]["p95"]
        m["warm_ratio"] = warm["ratio_total_to_embedding_p50"]
    cold = r.get("cold") or {}
    if cold:
        m["cold_ratio"] = cold.get("ratio_ask_to_floor")
        m["import_light"] = cold.get("import_qa", {}).get("light")
    scale = r.get("scale") or {}
    points = [p for p in scale.get("points", []) if "error" not in p]
    if points:
        big = max(points, key=lambda p: p["size"])
        if big["size"] >= SCALE_SIZE:
            m["scale_p95_ms"] = big["query_ms"]["total"]["p95"]
            m["scale_recall"] = big["recall_at_10"]
        m["scale_auto_type"] = all(
            p["faiss_type"] == p["expected_faiss_type"] == p["manifest_faiss_type"] for p in points
        )
    large = r.get("large_build") or {}
    if (large.get("chunks") or 0) >= SCALE_SIZE:
        m["scale_build_rss_mb"] = large["peak_rss_mb"]
    server = r.get("server") or {}
    levels = {lv["clients"]: lv for lv in server.get("levels", [])}
    if levels:
        if SERVER_CLIENTS in levels:
            judged = levels[SERVER_CLIENTS]
            m["server_qps"] = judged["qps"]
            m["server_p95_ms"] = judged["latency_ms"]["p95"]
        if OVERLOAD_CLIENTS in levels:
            over = levels[OVERLOAD_CLIENTS]
            m["server_overload"] = over["errors"] == 0 and over["answered"] == over["requests"]
        m["server_errors"] = sum(lv["errors"] for lv in levels.values())
    if server.get("peak_rss_mb") is not None:
        m["server_rss_mb"] = server["peak_rss_mb"]
    return m
