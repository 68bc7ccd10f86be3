"""Expensive RPC against block production: does a validator keep its pace while strangers run
infinite loops through eth_call?

One ``azora dev --block-time 1`` (a one-validator BFT chain: the same consensus host, block
builder and RPC lanes as a network validator) runs ``--seconds`` quietly, then as long under
``--callers`` concurrent clients that each send ``eth_call`` of an infinite loop with 50M gas
(``{"data": "0x5b600056", "gas": "0x2faf080"}``) again as soon as the last one answers. Both
phases print the interval between blocks (p50, p99, max, from each block's arrival at a
``newHeads``-like poll every 50 ms), ``eth_blockNumber``'s latency, and the time from sending a
transfer to its receipt; the loaded phase also prints how long each loop call took (the EVM
timeout, 5 s by default, bounds it). The issue that asked for it: a plain eth_blockNumber
waited 63-70 s behind ten such calls, and a transfer ~65 s.

    python -m bench.rpc_load [--seconds 30] [--callers 10]
"""
from __future__ import annotations

import argparse
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import requests

from bench.common import percentile
from bench.throughput import RECEIVER, DevNode, dev_accounts, sign

LOOP_CALL = {"data": "0x5b600056", "gas": "0x2faf080"}


@dataclass
class Phase:
    name: str
    block_intervals: list[float] = field(default_factory=list)
    head_latencies: list[float] = field(default_factory=list)
    transfer_seconds: list[float] = field(default_factory=list)
    loop_seconds: list[float] = field(default_factory=list)

    def line(self) -> str:
        def ms(values: list[float], q: float) -> str:
            return f"{percentile(values, q) * 1000:7.0f}"
        text = (f"{self.name:8s} blocks {len(self.block_intervals) + 1:4d}  interval p50 {ms(self.block_intervals, 0.5)} "
                f"p99 {ms(self.block_intervals, 0.99)} max {max(self.block_intervals or [0]) * 1000:7.0f} ms | "
                f"eth_blockNumber p50 {ms(self.head_latencies, 0.5)} p99 {ms(self.head_latencies, 0.99)} ms | "
                f"transfer to receipt p50 {ms(self.transfer_seconds, 0.5)} max "
                f"{max(self.transfer_seconds or [0]) * 1000:7.0f} ms")
        if self.loop_seconds:
            text += f" | loop calls {len(self.loop_seconds)}, longest {max(self.loop_seconds):.2f} s"
        return text


def run_phase(node: DevNode, name: str, seconds: float, callers: int) -> Phase:
    phase = Phase(name)
    stop = threading.Event()
    lock = threading.Lock()

    def loop_caller() -> None:
        session = requests.Session()
        while not stop.is_set():
            started = time.monotonic()
            session.post(node.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_call",
                                         "params": [LOOP_CALL, "latest"]}, timeout=120)
            with lock:
                phase.loop_seconds.append(time.monotonic() - started)

    threads = [threading.Thread(target=loop_caller, daemon=True) for _ in range(callers)]
    for thread in threads:
        thread.start()
    sender = dev_accounts(3)[2]
    nonce = int(node.call("eth_getTransactionCount", sender.address, "pending"), 16)
    last_height, last_seen = None, None
    next_transfer = time.monotonic()
    pending: dict[str, float] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        height = int(node.call("eth_blockNumber"), 16)
        now = time.monotonic()
        phase.head_latencies.append(now - started)
        if last_height is not None and height > last_height and last_seen is not None:
            phase.block_intervals.append((now - last_seen) / (height - last_height))
        if last_height is None or height > last_height:
            last_height, last_seen = height, now
        if now >= next_transfer:   # one transfer every 2 s, its receipt polled
            raw = sign(sender, nonce, to=RECEIVER, value=1)
            pending[node.call("eth_sendRawTransaction", "0x" + raw.hex())] = now
            nonce += 1
            next_transfer = now + 2
        for tx_hash, sent in list(pending.items()):
            if node.call("eth_getTransactionReceipt", tx_hash) is not None:
                phase.transfer_seconds.append(time.monotonic() - sent)
                del pending[tx_hash]
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(30)
    return phase


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> list[Phase]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each phase")
    parser.add_argument("--callers", type=int, default=10, help="concurrent infinite-loop eth_call clients")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="azora-bench-rpcload-"))
    node = DevNode(["--block-time", "1"], work / "dev.log")
    try:
        phases = [run_phase(node, "quiet", args.seconds, 0),
                  run_phase(node, f"{args.callers} loops", args.seconds, args.callers)]
    finally:
        node.stop()
    for phase in phases:
        out(phase.line())
    quiet, loaded = phases
    out(f"block interval p99 under load / quiet: "
        f"{percentile(loaded.block_intervals, 0.99) / max(percentile(quiet.block_intervals, 0.99), 1e-9):.2f}")
    return phases


if __name__ == "__main__":
    main()
