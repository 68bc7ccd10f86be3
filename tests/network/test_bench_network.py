"""bench/network.py runs end to end on a real 4-validator testnet with tiny counts."""
from __future__ import annotations

import os
import signal
import time

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
    assert set(report.cpu_one_endpoint) == {"validator0", "validator1", "validator2", "validator3"}
    assert all(cpu.threads > 0 and cpu.loop > 0 for cpu in report.cpu_one_endpoint.values())
    assert "(b) CPU per finalized transfer while the one-endpoint load ran" in text
    assert set(report.cpu_spread) == set(report.cpu_one_endpoint)
    assert all(cpu.threads > 0 and cpu.loop > 0 for cpu in report.cpu_spread.values())
    assert "(b) CPU per finalized transfer while the spread load ran" in text and "cores busy: " in text
    assert all(seconds > 0 for seconds in report.senders_cpu)


def test_a_drift_of_the_machine_speed_is_flagged(load_bench):
    network = load_bench("network")
    load, sync = network.LoadResult(10, 100.0, [1.0] * 10), network.SyncResult(10, 100, 1.0)

    def lines(before: float, after: float) -> str:
        return "\n".join(network.Report((before, after), load, load, load, sync, sync, sync).lines())

    steady, drifted = lines(1000.0, 1100.0), lines(700.0, 1100.0)
    assert "(before 1000.0, after 1100.0)" in steady and "drifted" not in steady
    assert "differ 1.57x, the ratios are not to be trusted" in drifted
    assert " 900.0 " in drifted   # the mean: ratios use it


def test_the_spread_loads_cpu_and_the_cores_kept_busy_are_printed(load_bench):
    network = load_bench("network")
    load, sync = network.LoadResult(1000, 100.0, [1.0] * 1000), network.SyncResult(10, 100, 1.0)
    one = {"validator0": network.ProcessCpu(0.45, 1.1, 0.43)}
    spread = {"validator0": network.ProcessCpu(0.3, 1.2, 0.5), "validator1": network.ProcessCpu(0.3, 1.2, 0.5)}
    text = "\n".join(network.Report((1000.0, 1000.0), load, load, load, sync, sync, sync, ([], 0), one, spread,
                                    (0.5, 0.7)).lines())
    section = text.split("while the spread load ran")[1]
    assert "all validators: 2.40 ms in threads" in section and "1.60 ms in loops and children" in section
    assert "the senders 0.70 ms" in section
    # 10 s of load (1,000 transfers at 100/s): 4.0 + 0.7 CPU-seconds
    assert "cores busy: 0.47 of" in section and "(validators 0.40, senders 0.07)" in section
    assert "cores busy: 0.25 of" in text.split("while the spread load ran")[0]


def test_later_rounds_are_read_from_the_committed_lines(load_bench, tmp_path):
    log = tmp_path / "node.log"
    log.write_text("\n".join(
        f"2026-12-03 12:00:0{i},000 INFO  azora.consensus: committed #{height} 0xabcdef123456 round={r} txs=3"
        for i, (height, r) in enumerate([(4, 0), (5, 1), (6, 0), (7, 2)])) + "\n")
    assert load_bench("network").later_rounds(log, 5) == ([5, 7], 3)


def test_the_cpu_of_the_one_endpoint_load_is_split_by_where_it_went(load_bench):
    network = load_bench("network")
    load, sync = network.LoadResult(1000, 100.0, [1.0] * 1000), network.SyncResult(10, 100, 1.0)
    cpu = {"validator0": network.ProcessCpu(0.45, 1.1, 0.43, 0.3), "validator1": network.ProcessCpu(0.15, 1.05, 0.13)}
    text = "\n".join(network.Report((1000.0, 1000.0), load, load, load, sync, sync, sync, ([], 0), cpu).lines())
    assert "(b) CPU per finalized transfer while the one-endpoint load ran" in text
    assert "while the spread load ran" not in text      # not measured: not printed
    row = next(line for line in text.splitlines() if line.strip().startswith("validator0"))
    assert row.split()[1:] == ["450", "1100", "430", "300"]   # the gateway's part of the children's
    assert "all validators: 2.15 ms in threads" in text and "1.16 ms in loops and children" in text
    assert "CPU per finalized" not in "\n".join(network.Report((1000.0, 1000.0), load, load, load, sync, sync,
                                                              sync).lines())


def test_a_process_cpu_is_split_between_its_main_thread_its_other_threads_and_children(load_bench):
    import subprocess
    import sys

    network = load_bench("network")
    script = """
import subprocess, sys, threading, time
def spin(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
spin(0.4)
thread = threading.Thread(target=spin, args=(0.4,))
thread.start()
thread.join()
child = subprocess.Popen([sys.executable, "-c", "import time\\nend = time.process_time() + 0.4\\n"
                          "while time.process_time() < end: pass\\ntime.sleep(60)"])
print("spun", flush=True)
time.sleep(60)
"""
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert process.stdout is not None and process.stdout.readline() == b"spun\n"
        time.sleep(2.0)   # the child's own 0.4 s
        used = network.process_cpu(process.pid)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert 0.35 <= used.loop < 1.5      # the spin, and the interpreter's start
    assert 0.35 <= used.threads < 0.8   # the other thread's spin alone
    assert used.children >= 0.35
    assert used.gateway == 0.0          # a child that is not an RPC gateway
