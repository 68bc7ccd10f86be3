"""bench/network.py runs end to end on a real 4-validator testnet with tiny counts."""
from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_network_benchmark_prints_rates_latencies_and_sync_rows(load_bench):
    lines: list[str] = []
    report = load_bench("network").main(["--prebuilt", "12", "--per-block", "2", "--count", "24", "--settle", "0",
                                         "--client", "raw",
                                         "--in-process-count", "32"], out=lines.append)
    assert report.in_process > 0 and report.saturated.finalized_per_second > 0
    before, after = report.in_process_runs   # (a) twice: the machine's speed may change meanwhile
    assert before > 0 and after > 0 and report.in_process == (before + after) / 2
    assert report.saturated.sent == 24 and len(report.saturated.latencies) == 24
    assert report.saturated_one.sent == 24 and report.saturated_one.finalized_per_second > 0
    assert 0 < report.saturated.percentile(0.5) <= report.saturated.percentile(0.99)
    assert report.sync.blocks >= 12 and report.imported.blocks >= report.sync.blocks
    text = "\n".join(lines)
    assert "(a) in-process py-evm limit" in text and "(b) 4 validators, saturated, one endpoint" in text
    assert "(b) 4 validators, saturated, spread" in text and "bound: (a) x" in text
    assert "(c) range sync of a new full node" in text and "(c) azora import of the export" in text
    later, live = report.later_rounds   # the live network's heights, each decided in some round
    assert live >= 3 and all(height >= 14 for height in later)
    assert "(b) heights decided after round 0: " in text


def test_a_drift_of_the_machine_speed_is_flagged(load_bench):
    network = load_bench("network")
    load, sync = network.LoadResult(10, 100.0, [1.0] * 10), network.SyncResult(10, 100, 1.0)

    def lines(before: float, after: float) -> str:
        return "\n".join(network.Report((before, after), load, load, load, sync, sync, sync).lines())

    steady, drifted = lines(1000.0, 1100.0), lines(700.0, 1100.0)
    assert "(before 1000.0, after 1100.0)" in steady and "drifted" not in steady
    assert "differ 1.57x, the ratios are not to be trusted" in drifted
    assert " 900.0 " in drifted   # the mean: ratios use it


def test_later_rounds_are_read_from_the_committed_lines(load_bench, tmp_path):
    log = tmp_path / "node.log"
    log.write_text("\n".join(
        f"2026-12-03 12:00:0{i},000 INFO  azora.consensus: committed #{height} 0xabcdef123456 round={r} txs=3"
        for i, (height, r) in enumerate([(4, 0), (5, 1), (6, 0), (7, 2)])) + "\n")
    assert load_bench("network").later_rounds(log, 5) == ([5, 7], 3)
