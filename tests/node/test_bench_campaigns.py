"""The fault campaigns (bench/chaos.py, bench/soak.py) run end to end with tiny sizes."""
from __future__ import annotations

import pytest


@pytest.mark.timeout(600)
def test_chaos_kills_a_loaded_dev_node_three_times_and_loses_nothing(load_bench):
    lines: list[str] = []
    report = load_bench("chaos").main(["--kills", "3", "--seed", "7", "--max-gap", "1.5"], out=lines.append)
    assert report.kills == 3 and len(report.recover_seconds) == 3
    assert report.mined_seen > 0
    assert report.losses == 0, "\n".join(lines)
    text = "\n".join(lines)
    assert "losses (must be 0)" in text and "restart to RPC ready: p50" in text
