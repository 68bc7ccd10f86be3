"""bench/network.py runs end to end on a real 4-validator testnet with tiny counts."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "network.py"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def load_bench():
    """bench/ is not an installed package: load the script by path."""
    spec = importlib.util.spec_from_file_location("azora_bench_network", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_network_benchmark_prints_rates_latencies_and_sync_rows():
    lines: list[str] = []
    report = load_bench().main(["--prebuilt", "12", "--per-block", "2", "--count", "24",
                                "--in-process-count", "32"], out=lines.append)
    assert report.in_process > 0 and report.saturated.finalized_per_second > 0
    assert report.saturated.sent == 24 and len(report.saturated.latencies) == 24
    assert 0 < report.saturated.percentile(0.5) <= report.saturated.percentile(0.99)
    assert report.sync.blocks >= 12 and report.imported.blocks >= report.sync.blocks
    text = "\n".join(lines)
    assert "(a) in-process py-evm limit" in text and "(b) 4-validator testnet, saturated" in text
    assert "(c) range sync of a new full node" in text and "(c) azora import of the export" in text
