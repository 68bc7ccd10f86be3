"""Soak: ``azora dev`` under a steady transaction load for a long time, sampled over time.

Measures a quick peak first (four senders as fast as they can for ``--peak-seconds``) unless
``--rate`` is given, then sends at half of it for ``--minutes`` (automine), and every
``--interval`` seconds samples the node process's RSS and its own (anonymous) part
(/proc/PID/status), its open files
(/proc/PID/fd), the pool (txpool_status) and the send→receipt latency of the interval's
transactions. Prints one row per interval, then compares the mean of the first third of the
intervals with the last third: growth beyond 10% is flagged.

    python -m bench.soak [--minutes 60] [--rate TX_PER_S] [--interval SECONDS]
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests
from eth_account import Account

from bench.common import DEV_MNEMONIC, REPO, free_port, rpc
from bench.scale import memory_of

CHAIN_ID = 1337
GWEI = 10**9
RECEIVER = "0x" + "77" * 20
SENDERS = 4
GROWTH_LIMIT = 0.10
POOL_FLOOR = 10
LATENCY_FLOOR = 0.05

Account.enable_unaudited_hdwallet_features()




def count_open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def growth(values: list[float]) -> float:
    """Relative change from the mean of the first third to the mean of the last third."""
    third = max(1, len(values) // 3)
    first, last = statistics.mean(values[:third]), statistics.mean(values[-third:])
    return (last - first) / first if first else (0.0 if last == 0 else float("inf"))


class Accounts:
    """Dev accounts with local nonces; signs transfers."""

    def __init__(self, count: int) -> None:
        self.accounts = [Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i + 4}")
                         for i in range(count)]
        self.nonces = [0] * count

    def advance(self, index: int) -> None:
        self.nonces[index] += 1

    def sign(self, index: int) -> bytes:
        """The next transfer of account ``index``; ``advance`` once the node accepted it."""
        nonce = self.nonces[index]
        return bytes(self.accounts[index].sign_transaction({
            "chainId": CHAIN_ID, "nonce": nonce, "to": RECEIVER, "value": 1, "gas": 21_000,
            "maxFeePerGas": 100 * GWEI, "maxPriorityFeePerGas": GWEI, "type": 2}).raw_transaction)


def measure_peak(url: str, accounts: Accounts, seconds: float) -> float:
    """Mined transfers per second with ``SENDERS`` threads sending back to back."""
    stop = time.monotonic() + seconds

    def run(index: int) -> None:
        session = requests.Session()
        while time.monotonic() < stop:
            try:
                rpc(session, url, "eth_sendRawTransaction", "0x" + accounts.sign(index).hex())
            except (requests.RequestException, RuntimeError):
                return      # a full pool is the peak too
            accounts.advance(index)

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(accounts.accounts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    session = requests.Session()
    for index, account in enumerate(accounts.accounts):
        while int(rpc(session, url, "eth_getTransactionCount", account.address, "latest"), 16) < accounts.nonces[index]:
            time.sleep(0.05)
    return sum(accounts.nonces) / (time.monotonic() - started)


class Load(threading.Thread):
    """Sends at ``rate`` round-robin over the accounts; a poller records receipt latencies."""

    def __init__(self, url: str, accounts: Accounts, rate: float) -> None:
        super().__init__(daemon=True)
        self.url, self.accounts, self.interval = url, accounts, 1.0 / rate
        self.pending: dict[str, float] = {}
        self.latencies: list[tuple[float, float]] = []   # (receipt seen at, latency)
        self.sent = 0
        self.errors = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.poller = threading.Thread(target=self.poll, daemon=True)

    def run(self) -> None:
        self.poller.start()
        session = requests.Session()
        next_at = time.monotonic()
        index = 0
        while not self.stop.is_set():
            account = index % len(self.accounts.accounts)
            raw = self.accounts.sign(account)
            index += 1
            try:
                sent_at = time.monotonic()
                tx_hash = rpc(session, self.url, "eth_sendRawTransaction", "0x" + raw.hex())
                self.accounts.advance(account)
                with self.lock:
                    self.pending[tx_hash] = sent_at
                    self.sent += 1
            except (requests.RequestException, RuntimeError):
                self.errors += 1
            next_at += self.interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    def poll(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            with self.lock:
                hashes = list(self.pending)
            if hashes:
                body = [{"jsonrpc": "2.0", "id": i, "method": "eth_getTransactionReceipt", "params": [h]}
                        for i, h in enumerate(hashes[:500])]
                try:
                    answers = session.post(self.url, json=body, timeout=30).json()
                except (requests.RequestException, ValueError):
                    answers = []
                now = time.monotonic()
                with self.lock:
                    for answer in answers:
                        if answer.get("result") is not None:
                            sent_at = self.pending.pop(hashes[answer["id"]])
                            self.latencies.append((now, now - sent_at))
            time.sleep(0.05)

    def latencies_since(self, since: float) -> list[float]:
        with self.lock:
            return [latency for seen, latency in self.latencies if seen >= since]


@dataclass
class Sample:
    elapsed: float
    rss_mib: float
    anon_mib: float      # the node's own memory: RSS less LevelDB's memory-mapped table files
    open_files: int
    pool: int
    sent: int
    head: int
    latency_p50: float
    latency_p95: float


@dataclass
class SoakReport:
    rate: float
    peak: float | None
    samples: list[Sample] = field(default_factory=list)
    growth: dict[str, float] = field(default_factory=dict)

    @property
    def flagged(self) -> list[str]:
        return [name for name, value in self.growth.items() if value > GROWTH_LIMIT]


def sample_node(pid: int, url: str, session: requests.Session, load: Load, started: float,
                since: float) -> Sample:
    status = rpc(session, url, "txpool_status")
    latencies = sorted(load.latencies_since(since))
    memory = memory_of(pid)
    return Sample(
        elapsed=time.monotonic() - started,
        rss_mib=memory["VmRSS"] / 2**20,
        anon_mib=memory.get("RssAnon", 0) / 2**20,
        open_files=count_open_files(pid),
        pool=int(status["pending"], 16) + int(status["queued"], 16),
        sent=load.sent,
        head=int(rpc(session, url, "eth_blockNumber"), 16),
        latency_p50=statistics.median(latencies) if latencies else 0.0,
        latency_p95=latencies[int(0.95 * (len(latencies) - 1))] if latencies else 0.0,
    )


def run_soak(minutes: float, rate: float | None, interval: float | None, peak_seconds: float,
             out: Callable[[str], None]) -> SoakReport:
    workdir = Path(tempfile.mkdtemp(prefix="azora-soak-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(workdir / "node.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "node.cli", "--log-level", "WARNING", "dev", "--datadir",
                             str(workdir / "data"), "--http.port", str(port)],
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    session = requests.Session()
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"azora dev did not start; see {workdir / 'node.log'}")
            try:
                rpc(session, url, "eth_chainId", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.2)
        accounts = Accounts(SENDERS)
        peak = None
        if rate is None:
            peak = measure_peak(url, accounts, peak_seconds)
            rate = max(1.0, peak / 2)
        report = SoakReport(rate=rate, peak=peak)
        seconds = minutes * 60
        interval = interval or max(1.0, seconds / 12)
        out(f"soak: azora dev (pid {proc.pid}) for {minutes:g} min at {rate:.1f} tx/s"
            + (f" (half the measured peak {peak:.1f} tx/s)" if peak else "") + f", every {interval:g}s")
        out(f"{'t (s)':>8} {'RSS MiB':>8} {'anon MiB':>8} {'fds':>5} {'pool':>6} {'sent':>7} {'head':>7} "
            f"{'lat p50':>8} {'lat p95':>8}")
        load = Load(url, accounts, rate)
        started = time.monotonic()
        load.start()
        since = started
        while time.monotonic() - started < seconds:
            time.sleep(min(interval, max(0.0, seconds - (time.monotonic() - started))))
            sample = sample_node(proc.pid, url, session, load, started, since)
            since = time.monotonic()
            report.samples.append(sample)
            out(f"{sample.elapsed:8.1f} {sample.rss_mib:8.1f} {sample.anon_mib:8.1f} {sample.open_files:5d} {sample.pool:6d} "
                f"{sample.sent:7d} {sample.head:7d} {sample.latency_p50:7.3f}s {sample.latency_p95:7.3f}s")
        load.stop.set()
        samples = report.samples
        report.growth = {
            "RSS": growth([s.rss_mib for s in samples]),
            # RSS also counts the pages of LevelDB's mapped table files, which follow the
            # database's size and which the kernel takes back under pressure (bench/scale.py)
            "anon memory": growth([s.anon_mib for s in samples]),
            "open files": growth([s.open_files for s in samples]),
            # Floors below which a change is noise, not growth: a pool holding less than one
            # second of the load (0 -> 1 would be +inf; 2 -> 4 at 100 tx/s is timing) and the
            # receipt poller's 50 ms granularity.
            "pool": growth([s.pool + max(POOL_FLOOR, rate) for s in samples]),
            "latency p50": growth([s.latency_p50 + LATENCY_FLOOR for s in samples]),
        }
        out("growth, first third -> last third: " + ", ".join(
            f"{name} {value:+.1%}{' FLAGGED' if value > GROWTH_LIMIT else ''}"
            for name, value in report.growth.items()))
        out(f"send errors {load.errors}; flagged: {', '.join(report.flagged) or 'none'}")
        return report
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> SoakReport:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rate", type=float, help="transactions per second (default: half a measured peak)")
    parser.add_argument("--interval", type=float, help="seconds between samples (default: a twelfth of the run)")
    parser.add_argument("--peak-seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    return run_soak(args.minutes, args.rate, args.interval, args.peak_seconds, out)


if __name__ == "__main__":
    sys.exit(1 if main().flagged else 0)
