"""Chaos: SIGKILL a loaded ``azora dev`` at random moments, restart it, count what was lost.

A sender thread signs and sends transfers from one dev account (``--rate`` per second,
automine) and polls their receipts. The main thread sleeps a random time, SIGKILLs the node,
restarts it on the same datadir and checks, before the sender resumes:

* the datadir opens (the restart reaches RPC-ready; a failure is a corrupt datadir);
* every transaction whose receipt was seen before a kill still has that receipt (same block);
* the head never goes back below a block whose receipt was seen;
* acknowledged but unmined transactions: ``eth_sendRawTransaction`` returned their hash, but
  no receipt had been seen at the kill. ``azora dev`` keeps its pool in memory, so these die
  with the process unless they were mined just before it: the figure is what a client must
  re-send after a dev node crash, not a durability loss. The campaign re-sends them (same
  bytes, same hash) and counts any that still never get mined as lost.

Prints the loss counts (all must be 0) and the time from restart to RPC-ready (p50, max).

    python -m bench.chaos [--kills 100] [--rate 20] [--min-gap 0.2] [--max-gap 3] [--seed 1]
    python -m bench.chaos --testnet [--kills 100] [--rate 20] ...   (bench/chaos_testnet.py)
"""
from __future__ import annotations

import argparse
import functools
import os
import random
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

from bench.common import DEV_MNEMONIC, REPO, RpcError, free_port, percentile, rpc as _rpc

CHAIN_ID = 1337
GWEI = 10**9
RECEIVER = "0x" + "77" * 20
READY_TIMEOUT = 120.0
RESEND_TIMEOUT = 60.0

Account.enable_unaudited_hdwallet_features()




# a killed node must be noticed quickly
rpc = functools.partial(_rpc, timeout=10)


def rpc_batch(session: requests.Session, url: str, method: str, params: list[list[Any]]) -> list[Any]:
    """One batch call per 200 requests; results in ``params`` order (None for an error)."""
    results: list[Any] = []
    for start in range(0, len(params), 200):
        chunk = params[start:start + 200]
        body = [{"jsonrpc": "2.0", "id": i, "method": method, "params": p} for i, p in enumerate(chunk)]
        answers = {a["id"]: a.get("result") for a in session.post(url, json=body, timeout=30).json()}
        results.extend(answers.get(i) for i in range(len(chunk)))
    return results



class DevProcess:
    """``azora dev`` on a fixed datadir and port, killed and restarted in place."""

    def __init__(self, datadir: Path, log_path: Path) -> None:
        self.datadir = datadir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start and wait for RPC; returns seconds from spawn to the first answer."""
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "node.cli", "--log-level", "WARNING", "dev", "--datadir",
                 str(self.datadir), "--http.port", str(self.port)],
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        session = requests.Session()
        while time.monotonic() - started < READY_TIMEOUT:
            if self.proc.poll() is not None:
                raise RuntimeError(f"azora dev exited {self.proc.returncode}; see {self.log_path}")
            try:
                rpc(session, self.url, "eth_blockNumber", timeout=2)
                return time.monotonic() - started
            except (requests.RequestException, ValueError):
                time.sleep(0.05)
        raise RuntimeError(f"azora dev not ready in {READY_TIMEOUT}s; see {self.log_path}")

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        self.proc = None


@dataclass
class Sent:
    nonce: int
    raw: bytes
    block: int | None = None         # receipt's block number, once seen
    block_hash: str | None = None


class Sender(threading.Thread):
    """Sends one transfer per tick and polls receipts; pauses on request between kills."""

    def __init__(self, url: str, rate: float) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.interval = 1.0 / rate
        self.account = Account.from_mnemonic(DEV_MNEMONIC, account_path="m/44'/60'/0'/0/3")
        self.session = requests.Session()
        self.next_nonce = 0
        self.acked: dict[str, Sent] = {}      # every hash eth_sendRawTransaction returned
        self.errors = 0
        self.lock = threading.Lock()
        self.resume = threading.Event()
        self.idle = threading.Event()
        self.stop = threading.Event()
        self.resume.set()

    def sign(self, nonce: int) -> bytes:
        return bytes(self.account.sign_transaction({
            "chainId": CHAIN_ID, "nonce": nonce, "to": RECEIVER, "value": 1, "gas": 21_000,
            "maxFeePerGas": 100 * GWEI, "maxPriorityFeePerGas": GWEI, "type": 2}).raw_transaction)

    def run(self) -> None:
        sends = 0
        while not self.stop.is_set():
            if not self.resume.is_set():
                self.idle.set()
                self.resume.wait()
                continue
            self.idle.clear()
            tick = time.monotonic()
            with self.lock:
                nonce = self.next_nonce
                raw = self.sign(nonce)
            try:
                tx_hash = rpc(self.session, self.url, "eth_sendRawTransaction", "0x" + raw.hex(), timeout=5)
                with self.lock:
                    self.acked[tx_hash] = Sent(nonce, raw)
                    self.next_nonce = nonce + 1
                sends += 1
                if sends % 5 == 0:
                    self.poll_receipts()
            except (requests.RequestException, ValueError, RpcError):
                self.errors += 1   # the node is being killed, or refused: retried next tick
            time.sleep(max(0.0, self.interval - (time.monotonic() - tick)))
        self.idle.set()

    def unmined(self) -> dict[str, Sent]:
        with self.lock:
            return {h: s for h, s in self.acked.items() if s.block is None}

    def poll_receipts(self) -> None:
        pending = self.unmined()
        receipts = rpc_batch(self.session, self.url, "eth_getTransactionReceipt", [[h] for h in pending])
        with self.lock:
            for tx_hash, receipt in zip(pending, receipts):
                if receipt is not None:
                    self.acked[tx_hash].block = int(receipt["blockNumber"], 16)
                    self.acked[tx_hash].block_hash = receipt["blockHash"]

    def pause(self) -> None:
        self.resume.clear()
        self.idle.wait(30)


@dataclass
class ChaosReport:
    kills: int = 0
    acknowledged: int = 0
    mined_seen: int = 0
    corrupt_datadirs: int = 0
    receipts_lost: int = 0
    head_regressions: int = 0
    unmined_at_kill: int = 0
    resent_mined: int = 0
    still_pooled: int = 0
    lost_after_resend: int = 0
    recover_seconds: list[float] = field(default_factory=list)
    final_head: int = 0

    @property
    def losses(self) -> int:
        return self.corrupt_datadirs + self.receipts_lost + self.head_regressions + self.lost_after_resend


def check_after_restart(node: DevProcess, sender: Sender, report: ChaosReport, highest_seen: int) -> None:
    """Compare the restarted node with what the sender saw before the kill; re-send the pool."""
    session = requests.Session()
    head = int(rpc(session, node.url, "eth_blockNumber"), 16)
    if head < highest_seen:
        report.head_regressions += 1
    with sender.lock:
        mined = {h: s for h, s in sender.acked.items() if s.block is not None}
    receipts = rpc_batch(session, node.url, "eth_getTransactionReceipt", [[h] for h in mined])
    for (tx_hash, sent), receipt in zip(mined.items(), receipts):
        if receipt is None or receipt["blockHash"] != sent.block_hash:
            report.receipts_lost += 1
    sender.poll_receipts()            # mined in the instant before the kill: not lost
    unmined = sorted(sender.unmined().items(), key=lambda item: item[1].nonce)
    report.unmined_at_kill += len(unmined)
    for tx_hash, sent in unmined:
        try:
            rpc(session, node.url, "eth_sendRawTransaction", "0x" + sent.raw.hex())
        except RpcError:
            report.still_pooled += 1      # "already known": the pool kept it
    deadline = time.monotonic() + RESEND_TIMEOUT
    while unmined and time.monotonic() < deadline:
        sender.poll_receipts()
        if not sender.unmined():
            break
        time.sleep(0.1)
    left = sender.unmined()
    report.resent_mined += len(unmined) - len(left)
    report.lost_after_resend += len(left)
    with sender.lock:
        for tx_hash in left:          # counted once; forget them so the next round is clean
            del sender.acked[tx_hash]
        latest = int(rpc(session, node.url, "eth_getTransactionCount", sender.account.address, "latest"), 16)
        sender.next_nonce = latest


def run_chaos(kills: int, rate: float, min_gap: float, max_gap: float, seed: int,
              datadir: Path | None, out: Callable[[str], None]) -> ChaosReport:
    rng = random.Random(seed)
    workdir = Path(tempfile.mkdtemp(prefix="azora-chaos-"))
    node = DevProcess(datadir or workdir / "data", workdir / "node.log")
    report = ChaosReport()
    node.start()
    sender = Sender(node.url, rate)
    sender.start()
    try:
        for index in range(kills):
            time.sleep(rng.uniform(min_gap, max_gap))
            node.kill()                                   # mid-send, mid-block: anywhere
            sender.pause()
            report.kills += 1
            with sender.lock:
                highest_seen = max((s.block for s in sender.acked.values() if s.block is not None), default=0)
            try:
                report.recover_seconds.append(node.start())
            except RuntimeError as error:
                report.corrupt_datadirs += 1
                out(f"kill {index + 1}: restart failed: {error}")
                break
            check_after_restart(node, sender, report, highest_seen)
            sender.resume.set()
            if (index + 1) % 10 == 0:
                out(f"  {index + 1} kills, {len(sender.acked)} acknowledged, losses so far {report.losses}")
        sender.pause()
        sender.poll_receipts()
        report.final_head = int(rpc(requests.Session(), node.url, "eth_blockNumber"), 16)
    finally:
        sender.stop.set()
        sender.resume.set()
        node.kill(signal.SIGTERM)
    report.acknowledged = len(sender.acked)
    report.mined_seen = sum(1 for s in sender.acked.values() if s.block is not None)
    print_report(report, node.datadir, out)
    if datadir is None and report.losses == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        out(f"kept {workdir} (log: {node.log_path})")
    return report


def print_report(report: ChaosReport, datadir: Path, out: Callable[[str], None]) -> None:
    times = report.recover_seconds
    out(f"chaos: {report.kills} SIGKILLs of a loaded azora dev ({datadir}), final head #{report.final_head}")
    out(f"  transactions acknowledged                      {report.acknowledged:6d}")
    out(f"  ... receipts seen                              {report.mined_seen:6d}")
    out(f"  corrupt datadirs (restart failed)              {report.corrupt_datadirs:6d}")
    out(f"  receipts seen before a kill, gone after        {report.receipts_lost:6d}")
    out(f"  head below a block with a seen receipt         {report.head_regressions:6d}")
    out(f"  acknowledged, unmined at a kill (in-memory     {report.unmined_at_kill:6d}")
    out(f"    dev pool: a client re-sends these)")
    out(f"  ... re-sent (same hash) and mined              {report.resent_mined:6d}")
    out(f"  ... still in the pool after restart            {report.still_pooled:6d}")
    out(f"  ... lost even after re-sending                 {report.lost_after_resend:6d}")
    out(f"  losses (must be 0)                             {report.losses:6d}")
    if times:
        out(f"  recovery, restart to RPC ready: p50 {statistics.median(times):.2f}s  "
            f"p90 {percentile(times, 0.9):.2f}s  max {max(times):.2f}s")


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> Any:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0, help="transactions per second")
    parser.add_argument("--min-gap", type=float, default=0.2, help="seconds between restart and kill, at least")
    parser.add_argument("--max-gap", type=float, default=3.0, help="... and at most")
    parser.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(4), "big"))
    parser.add_argument("--datadir", type=Path, help="keep the chain here (default: a temp dir)")
    parser.add_argument("--testnet", action="store_true",
                        help="kill validators of a 4-validator testnet instead of an azora dev")
    args = parser.parse_args(argv)
    out(f"seed {args.seed}")
    if args.testnet:
        from bench.chaos_testnet import run_testnet_chaos
        return run_testnet_chaos(args.kills, args.rate, args.min_gap, args.max_gap, args.seed, out)
    return run_chaos(args.kills, args.rate, args.min_gap, args.max_gap, args.seed, args.datadir, out)


if __name__ == "__main__":
    sys.exit(1 if main().losses else 0)
