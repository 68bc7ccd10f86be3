"""The oracle benchmark runs end to end with tiny counts and prints its figures."""
from __future__ import annotations

import pytest


@pytest.mark.slow
def test_oracle_benchmark_prints_rates_latencies_and_the_node_erc20_rate(load_bench):
    lines: list[str] = []
    report = load_bench("oracle").main(["--count", "6", "--batch", "3", "--erc20", "16", "--claims", "8"], out=lines.append)
    assert report.count == 6 and report.accepted_per_second > 0 and report.submitted_per_second > 0
    assert 0 < report.p50_seconds <= report.p99_seconds and report.erc20_per_second > 0
    assert report.chain_claims_per_second > 0
    text = "\n".join(lines)
    assert "accepted and signed" in text and "POST -> submitted" in text and "node ERC-20 transfers" in text
    assert "node claims included" in text and "while claims came in" in text
    assert report.included_per_second > 0 and sum(report.claims_per_block) == 6
