"""`qa bench`: speed, memory, build time and scale of the assistant, written to eval/bench/ (a checkout only)."""

from bench.report import summary_table
from bench.run import BenchOptions, rewrite_report, run_bench, run_large_build

__all__ = ["BenchOptions", "rewrite_report", "run_bench", "run_large_build", "summary_table"]
