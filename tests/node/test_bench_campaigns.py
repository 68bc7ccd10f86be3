"""The fault campaigns (bench/chaos.py on a dev node and on a testnet, bench/soak.py) run end to end
with tiny sizes."""
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


@pytest.mark.timeout(600)
def test_chaos_kills_a_validator_of_a_loaded_testnet_and_the_network_loses_nothing(load_bench):
    lines: list[str] = []
    report = load_bench("chaos").main(["--testnet", "--kills", "1", "--seed", "3", "--max-gap", "1", "--rate", "5"],
                                      out=lines.append)
    text = "\n".join(lines)
    assert report.kills == 1 and len(report.catch_up_seconds) == 1, text
    assert report.mined > 0 and report.losses == 0, text
    assert "finalized blocks lost or changed" in text and "restart to the network's head: p50" in text


@pytest.mark.timeout(600)
def test_soak_samples_rss_files_pool_and_latency_per_interval(load_bench):
    lines: list[str] = []
    report = load_bench("soak").main(["--minutes", "0.2", "--interval", "3", "--peak-seconds", "3"],
                                     out=lines.append)
    assert report.peak and report.rate == pytest.approx(max(1.0, report.peak / 2))
    assert len(report.samples) >= 3
    assert all(s.rss_mib > 0 and s.open_files > 0 for s in report.samples)
    assert report.samples[-1].sent > 0 and report.samples[-1].latency_p50 > 0
    assert set(report.growth) == {"RSS", "anon memory", "open files", "pool", "latency p50"}
    assert all(0 < s.anon_mib < s.rss_mib for s in report.samples)
    text = "\n".join(lines)
    assert "RSS MiB" in text and "growth, first third -> last third" in text


@pytest.mark.timeout(300)
def test_rpc_load_measures_block_pace_quiet_and_under_infinite_loop_calls(load_bench):
    lines: list[str] = []
    quiet, loaded = load_bench("rpc_load").main(["--seconds", "4", "--callers", "3"], out=lines.append)
    assert quiet.block_intervals and loaded.block_intervals and loaded.loop_seconds
    assert not quiet.loop_seconds and max(loaded.loop_seconds) < 30   # the EVM timeout ends each
    assert lines[-1].startswith("block interval p99 under load / quiet: ")
