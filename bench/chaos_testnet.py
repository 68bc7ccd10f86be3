"""Chaos on a network: SIGKILL validators of a loaded 4-validator testnet, restart, count losses.

``python -m bench.chaos --testnet`` runs this. ``azora testnet init`` writes four validators
(equal power, so any three keep committing), started as real ``azora node run`` processes on
127.0.0.1. Senders sign ETH transfers from eight dev accounts at ``--rate`` per second, each
to a running node picked at random, and poll receipts. The main thread sleeps a random time,
SIGKILLs one random validator (mid-round, mid-commit, mid-write: anywhere), leaves it down for
a random moment and restarts it on its datadir. It checks:

* the datadir opens (the restart reaches RPC-ready; a failure is a corrupt datadir);
* the block the victim held at its head before the kill is still there, same hash, after the
  restart: finality is instant, so any change is a lost finalized block;
* the victim catches up with the others (time to RPC-ready and to the network's head);
* at the end, all four hold the same chain (no fork) and no log names an equivocation (a
  restarted validator that signed twice would be caught by its peers: double signatures);
* transactions acknowledged by a node that was killed before it gossiped them: a client whose
  receipt does not come re-sends the same bytes to another node, as a wallet does; any never
  mined after that are lost.

Prints the loss counts (all must be 0) and the recovery times (p50, max).
"""
from __future__ import annotations

import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests
from eth_account import Account

from bench.common import DEV_MNEMONIC, REPO, RpcError, percentile, rpc

sys.path.insert(0, str(REPO / "tests" / "network"))
from harness import Testnet  # noqa: E402  (the multi-process testnet the network tests drive)

CHAIN_ID = 31337
GWEI = 10**9
RECEIVER = "0x" + "78" * 20
SENDERS = 8
RESEND_AFTER = 6.0       # seconds without a receipt before a client re-sends to another node
CATCH_UP_TIMEOUT = 120.0

Account.enable_unaudited_hdwallet_features()


@dataclass
class Sent:
    raw: bytes
    sent_at: float
    block: int | None = None


@dataclass
class TestnetChaosReport:
    kills: int = 0
    acknowledged: int = 0
    mined: int = 0
    resent: int = 0
    corrupt_datadirs: int = 0
    crashed: int = 0
    finalized_lost: int = 0
    forks: int = 0
    equivocations: int = 0
    lost_transactions: int = 0
    final_heights: dict[str, int] = field(default_factory=dict)
    ready_seconds: list[float] = field(default_factory=list)
    catch_up_seconds: list[float] = field(default_factory=list)

    @property
    def losses(self) -> int:
        return (self.corrupt_datadirs + self.crashed + self.finalized_lost + self.forks + self.equivocations
                + self.lost_transactions)

    def lines(self) -> list[str]:
        out = [f"testnet chaos: {self.kills} SIGKILLs of validators of a loaded 4-validator testnet, "
               f"final heights {self.final_heights}",
               f"  transactions acknowledged                      {self.acknowledged:6d}",
               f"  ... mined                                      {self.mined:6d}",
               f"  ... re-sent to another node (no receipt in {RESEND_AFTER:.0f} s) {self.resent:6d}",
               f"  corrupt datadirs (restart failed)              {self.corrupt_datadirs:6d}",
               f"  validators that died unkilled (not answering)  {self.crashed:6d}",
               f"  finalized blocks lost or changed               {self.finalized_lost:6d}",
               f"  forks (nodes disagreeing at a height)          {self.forks:6d}",
               f"  equivocations (double signatures)              {self.equivocations:6d}",
               f"  acknowledged transactions never mined          {self.lost_transactions:6d}",
               f"  losses (must be 0)                             {self.losses:6d}"]
        for name, times in (("restart to RPC ready", self.ready_seconds),
                            ("restart to the network's head", self.catch_up_seconds)):
            if times:
                out.append(f"  recovery, {name}: p50 {statistics.median(times):.2f}s  "
                           f"p90 {percentile(times, 0.9):.2f}s  max {max(times):.2f}s")
        return out


class Senders(threading.Thread):
    """Eight accounts, one transfer per tick round-robin, each to a random running node."""

    def __init__(self, net: Testnet, rate: float, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.net = net
        self.interval = 1.0 / rate
        self.rng = rng
        self.accounts = [Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
                         for i in range(1, 1 + SENDERS)]
        self.nonces = [0] * SENDERS
        self.sent: dict[str, Sent] = {}
        self.resent = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.session = requests.Session()

    def _sign(self, index: int, nonce: int) -> bytes:
        return bytes(self.accounts[index].sign_transaction({
            "chainId": CHAIN_ID, "nonce": nonce, "to": RECEIVER, "value": 1, "gas": 21_000,
            "maxFeePerGas": 100 * GWEI, "maxPriorityFeePerGas": GWEI, "type": 2}).raw_transaction)

    def _running_url(self) -> str | None:
        names = self.net.running_names()
        return self.net.nodes[self.rng.choice(names)].rpc if names else None

    def send(self, raw: bytes) -> str | None:
        url = self._running_url()
        if url is None:
            return None
        try:
            return str(rpc(self.session, url, "eth_sendRawTransaction", "0x" + raw.hex(), timeout=5))
        except (requests.RequestException, ValueError, RpcError):
            return None   # that node is being killed (or already has it): the next tick tries again

    def run(self) -> None:
        tick_number = 0
        while not self.stop.is_set():
            tick = time.monotonic()
            index = tick_number % SENDERS
            tick_number += 1
            raw = self._sign(index, self.nonces[index])
            tx_hash = self.send(raw)
            if tx_hash is not None:
                with self.lock:
                    self.sent[tx_hash] = Sent(raw, time.monotonic())
                self.nonces[index] += 1
            if tick_number % SENDERS == 0:
                self.poll()
            time.sleep(max(0.0, self.interval - (time.monotonic() - tick)))

    def unmined(self) -> dict[str, Sent]:
        with self.lock:
            return {h: s for h, s in self.sent.items() if s.block is None}

    def poll(self) -> None:
        """Read receipts from a running node; re-send what waited too long to another node."""
        url = self._running_url()
        pending = self.unmined()
        if url is None or not pending:
            return
        body = [{"jsonrpc": "2.0", "id": i, "method": "eth_getTransactionReceipt", "params": [h]}
                for i, h in enumerate(pending)]
        try:
            answers = {a["id"]: a.get("result") for a in self.session.post(url, json=body, timeout=10).json()}
        except (requests.RequestException, ValueError):
            return
        now = time.monotonic()
        for i, (tx_hash, sent) in enumerate(pending.items()):
            receipt = answers.get(i)
            if receipt is not None:
                sent.block = int(receipt["blockNumber"], 16)
            elif now - sent.sent_at > RESEND_AFTER:
                self.send(sent.raw)
                sent.sent_at = now
                self.resent += 1


def _head(net: Testnet, name: str) -> tuple[int, str]:
    block = net.rpc(name, "eth_getBlockByNumber", ["latest", False])
    return int(block["number"], 16), block["hash"]


def run_testnet_chaos(kills: int, rate: float, min_gap: float, max_gap: float, seed: int,
                      out: Callable[[str], None]) -> TestnetChaosReport:
    rng = random.Random(seed)
    workdir = Path(tempfile.mkdtemp(prefix="azora-chaos-net-"))
    net = Testnet.init(workdir / "net", validators=4, block_interval=0.5, chain_id=CHAIN_ID)
    validators = [name for name, node in net.nodes.items() if node.validator]
    report = TestnetChaosReport()
    senders = Senders(net, rate, rng)
    try:
        net.start(*validators)
        net.wait_for_height(2, validators, timeout=120)
        senders.start()
        for index in range(kills):
            time.sleep(rng.uniform(min_gap, max_gap))
            victim = rng.choice(validators)
            try:
                held_height, held_hash = _head(net, victim)
            except (requests.RequestException, RuntimeError):
                held_height, held_hash = 0, ""
            net.kill(victim)
            report.kills += 1
            time.sleep(rng.uniform(0.0, 2.0))   # down for a moment: the others go on without it
            restarted = time.monotonic()
            try:
                net.start(victim)
            except RuntimeError as error:
                report.corrupt_datadirs += 1
                out(f"kill {index + 1}: {victim} did not restart: {str(error)[-400:]}")
                break
            report.ready_seconds.append(time.monotonic() - restarted)
            if held_height and net.block_hash(victim, held_height) != held_hash:
                report.finalized_lost += 1
                out(f"kill {index + 1}: {victim} lost or changed finalized block #{held_height}")
            others = [n for n in validators if n != victim]
            try:
                target = max(net.height(n) for n in others)
            except (requests.RequestException, RuntimeError) as error:
                report.crashed += 1
                out(f"kill {index + 1}: a validator that was not killed stopped answering: {error}")
                break
            net.wait_for_height(target, [victim], timeout=CATCH_UP_TIMEOUT)
            report.catch_up_seconds.append(time.monotonic() - restarted)
            if (index + 1) % 10 == 0:
                out(f"  {index + 1} kills, {len(senders.sent)} acknowledged, heights {net.heights(validators)}")
        senders.stop.set()
        senders.join(30)
        deadline = time.monotonic() + 90
        while senders.unmined() and time.monotonic() < deadline:
            senders.poll()
            time.sleep(1)
        heights = net.heights(validators)
        report.final_heights = heights
        try:
            net.assert_same_chain(validators, min(heights.values()))
        except AssertionError as error:
            report.forks += 1
            out(f"fork: {error}")
        report.equivocations = sum(net.nodes[n].log(10**9).count("equivocation by") for n in validators)
    finally:
        senders.stop.set()
        net.close()
    report.acknowledged = len(senders.sent)
    report.mined = sum(1 for s in senders.sent.values() if s.block is not None)
    report.resent = senders.resent
    report.lost_transactions = report.acknowledged - report.mined
    for line in report.lines():
        out(line)
    if report.losses == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        out(f"kept {workdir} (each node's log: {workdir}/net/<name>/node.log)")
    return report

