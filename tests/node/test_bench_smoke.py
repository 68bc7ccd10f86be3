"""The throughput benchmark runs end to end with tiny counts and prints its table."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "throughput.py"


def load_bench():
    """bench/ is not an installed package: load the script by path."""
    spec = importlib.util.spec_from_file_location("azora_bench_throughput", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_benchmark_prints_in_process_end_to_end_and_ratio_rows():
    lines: list[str] = []
    report = load_bench().main(["--count", "16", "--modes", "automine"], out=lines.append)
    assert set(report.in_process) == {"eth", "erc20"} and all(r > 0 for r in report.in_process.values())
    assert all(r > 0 for r in report.end_to_end["automine"].values())
    text = "\n".join(lines)
    assert "(a) in-process build_block" in text and "(b) JSON-RPC automine" in text
    assert "(c) ratio automine" in text
