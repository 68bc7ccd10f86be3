"""Network benchmark: a 4-validator testnet of real processes against the in-process limit.

One run prints:
  (a) the in-process py-evm limit for ERC-20 transfers (bench/throughput.py's measurement),
      taken before the network starts and again after it stops, the mean used for the ratios
      (a warning if the two differ by more than 15%: the machine's speed changed meanwhile);
  (b) sustained finalized ERC-20 transfers/s on a 4-validator testnet (``azora testnet init``
      processes on 127.0.0.1), pre-signed transfers from 8 senders sent one
      ``eth_sendRawTransaction`` each, as fast as the senders go ("saturated") with every
      sender on validator0's endpoint, then with the senders spread over the four endpoints,
      then paced at half the spread rate ("paced"); p50/p99 latency from the send to the
      block holding the receipt (as seen on validator0), and the ratios to (a) and to the
      machine's bound for four validators that each execute every block, (a) x cores / 4; and
      the heights of the live network that needed more than round 0 (validator0's log);
      and where the CPU went while each saturated load ran: per validator, its event loop
      (the process's main thread), its other threads (execution, validation, storage) and
      its child processes (the RPC gateway, the decoder workers), per finalized transfer,
      with the senders' own, and how many of the machine's cores all of it kept busy;
  (c) range sync: a new full node syncs the whole chain (a prebuilt part with ERC-20 transfers
      in every block, then the live part), blocks/s and tx/s from its log, beside
      ``azora export`` + ``azora import``'s code (node.chainio.import_chain) on the same blocks
      into a fresh datadir (a raw import stops at the first epoch boundary, see
      ``measure_import``, and the sync rate is then also given over the same blocks).

    python -m bench.network [--prebuilt 300] [--per-block 10] [--count 1500] [--client requests|lean]
                            [--settle 10] [--node-args "--rpc.gateway off"]
"""
from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import psutil
import requests
from eth_utils import keccak

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "network"))
sys.path.insert(0, str(REPO / "bench"))

import throughput  # noqa: E402  (bench/throughput.py: in-process limit, signing, token)
from bench.common import CLIENTS, json_poster  # noqa: E402
from harness import Testnet, azora, backdate_genesis, prebuild_chain, rpc_call  # noqa: E402

VALIDATORS = ["validator0", "validator1", "validator2", "validator3"]
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO  azora\.consensus: committed #(\d+) .* txs=(\d+)")
ROUND = re.compile(r"azora\.consensus: committed #(\d+) \S+ round=(\d+) ")


@dataclass
class LoadResult:
    """One load phase: offered and finalized rates and send→receipt latencies (seconds)."""

    sent: int
    finalized_per_second: float
    latencies: list[float] = field(repr=False)

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class BlockWatcher:
    """Records when each transaction hash first appears in a block on one node."""

    def __init__(self, rpc: str, client: str = "requests") -> None:
        self.rpc = rpc
        self.client = client
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._height = int(rpc_call(rpc, "eth_blockNumber"), 16)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        post = json_poster(self.rpc, self.client)
        while not self._stop.is_set():
            try:
                head = int(post(b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}')["result"], 16)
                for number in range(self._height + 1, head + 1):
                    block = post(b'{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["%s",false]}'
                                 % hex(number).encode())["result"]
                    now = time.perf_counter()
                    for tx_hash in block["transactions"]:
                        self.seen.setdefault(tx_hash, now)
                self._height = head
            except (OSError, http.client.HTTPException, requests.RequestException, KeyError, TypeError, ValueError):
                post = json_poster(self.rpc, self.client)   # a fresh connection
            time.sleep(0.02)

    def wait_for(self, hashes: list[str], timeout: float) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if all(h in self.seen for h in hashes):
                return
            time.sleep(0.1)
        missing = sum(h not in self.seen for h in hashes)
        raise RuntimeError(f"{missing} of {len(hashes)} transactions not finalized within {timeout}s")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def run_load(net: Testnet, watcher: BlockWatcher, senders: list[Any], token: str, count: int,
             rate: float | None, spread: bool = True, client: str = "requests",
             on_start: Callable[[], None] | None = None) -> LoadResult:
    """Send ``count`` ERC-20 transfers (one RPC call each, over ``client``: see
    bench.common.json_poster), unpaced or at ``rate`` per second overall; wait until every one
    is in a block. ``spread``: each sender uses one validator's endpoint (sender i the i-th,
    round-robin), as users of different wallets do; otherwise all send to validator0's, as a
    dApp's users behind one RPC provider do. ``on_start`` is called once the transfers are
    signed, just before the first is sent."""
    nonces = [int(net.rpc("validator0", "eth_getTransactionCount", [a.address, "latest"]), 16) for a in senders]
    per_sender = throughput.workload("erc20", senders, nonces, count, token)
    sent_at: dict[str, float] = {}
    errors: list[str] = []
    urls = [net.nodes[name].rpc for name in VALIDATORS]
    interval = len(senders) / rate if rate else 0.0

    def send(index: int, txs: list[bytes]) -> None:
        post = json_poster(urls[index % len(urls)] if spread else urls[0], client)
        start = time.perf_counter()
        for i, raw in enumerate(txs):
            if interval:
                time.sleep(max(0.0, start + i * interval - time.perf_counter()))
            tx_hash = "0x" + keccak(raw).hex()
            sent_at[tx_hash] = time.perf_counter()
            reply = post(b'{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0x%s"]}'
                         % raw.hex().encode())
            if "error" in reply:
                errors.append(str(reply["error"]))

    threads = [threading.Thread(target=send, args=(i, txs)) for i, txs in enumerate(per_sender)]
    if on_start is not None:
        on_start()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} sends refused, first: {errors[0]}")
    hashes = list(sent_at)
    watcher.wait_for(hashes, timeout=max(120, len(hashes) / 5))
    finished = max(watcher.seen[h] for h in hashes)
    latencies = [watcher.seen[h] - sent_at[h] for h in hashes]
    return LoadResult(len(hashes), len(hashes) / (finished - started), latencies)


def _pid(net: Testnet, name: str) -> int:
    process = net.nodes[name].proc
    assert process is not None, f"{name} is not running"
    return process.pid


def committed_log(path: Path) -> list[tuple[float, int, int]]:
    """(time, height, txs) of every ``committed #N`` line in a node's log."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        match = LOG_LINE.match(line)
        if match:
            stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            out.append((stamp, int(match.group(2)), int(match.group(3))))
    return out


def later_rounds(path: Path, first: int) -> tuple[list[int], int]:
    """(heights from ``first`` on that a node's log shows decided after round 0, heights it
    committed from ``first`` on): a healthy network decides every height in round 0."""
    rounds = {int(m.group(1)): int(m.group(2)) for m in ROUND.finditer(path.read_text(errors="replace"))}
    live = {height: r for height, r in rounds.items() if height >= first}
    return sorted(height for height, r in live.items() if r > 0), len(live)


@dataclass
class SyncResult:
    blocks: int
    txs: int
    seconds: float

    @property
    def blocks_per_second(self) -> float:
        return self.blocks / self.seconds

    @property
    def txs_per_second(self) -> float:
        return self.txs / self.seconds


def measure_sync(net: Testnet) -> list[tuple[float, int, int]]:
    """Start the full node and wait until it has the validators' head; its ``committed`` log
    entries up to that head (time, height, txs)."""
    target = max(int(net.rpc(name, "eth_blockNumber"), 16) for name in VALIDATORS)
    net.start("node0")
    net.wait_for_height(target, ["node0"], timeout=1800)
    return [entry for entry in committed_log(net.nodes["node0"].log_path) if entry[1] <= target]


def sync_rate(entries: list[tuple[float, int, int]], up_to: int) -> SyncResult:
    """The rate over the blocks after the first one up to ``up_to`` (the first block's own
    import time is not inside the interval, so it is counted out)."""
    chosen = [entry for entry in entries if entry[1] <= up_to]
    first, last = chosen[0], chosen[-1]
    return SyncResult(len(chosen) - 1, sum(e[2] for e in chosen[1:]), max(1e-6, last[0] - first[0]))


def measure_import(net: Testnet, workdir: Path) -> SyncResult:
    """``azora export`` the full node's chain, then time ``azora import`` into a fresh datadir.

    The reward system call of each epoch's first block is computed from the signer bitmaps
    the blocks carry, so the import re-executes the whole file (the report says how far it
    got, should it ever stop early)."""
    net.stop("node0")
    chain_file = workdir / "chain.rlp"
    datadir = net.nodes["node0"].home / "data"
    azora("export", "--datadir", str(datadir), str(chain_file))
    # `azora import` runs node.chainio.import_chain; it is timed in this process so that the
    # interpreter's start-up (seconds, on a busy machine) is not counted against it.
    from kernel.genesis import Genesis
    from node.chainio import import_chain
    from node.service import open_chain
    chain = open_chain(workdir / "imported", Genesis.from_file(Path(net.manifest["genesis"])))
    started = time.perf_counter()
    try:
        import_chain(chain, chain_file)
    except Exception as exc:  # noqa: BLE001 - the epoch boundary, see above
        print(f"(raw import stopped at #{chain.head.block_number}: {str(exc).splitlines()[0][:120]})")
    seconds = time.perf_counter() - started
    blocks = chain.head.block_number
    chain.db.close()
    return SyncResult(blocks, chain_transactions(datadir, blocks), seconds)


def chain_transactions(datadir: Path, up_to: int) -> int:
    """Transactions in blocks 1..``up_to`` of a stopped node's chain, read directly."""
    from node.service import open_chain
    chain = open_chain(datadir)
    try:
        return sum(len(chain.block_of(chain.header_by_number(n)).transactions) for n in range(1, up_to + 1))
    finally:
        chain.db.close()


@dataclass(frozen=True)
class ProcessCpu:
    """CPU-seconds a validator process used, split by where they went."""
    loop: float       # its main thread: the trio event loop (RPC answers, gossip, consensus)
    threads: float    # its other threads: block execution and validation, storage
    children: float   # its child processes: the RPC gateway, the transaction decoder workers
    gateway: float = 0.0   # of which the RPC gateway's

    def __sub__(self, earlier: "ProcessCpu") -> "ProcessCpu":
        return ProcessCpu(self.loop - earlier.loop, self.threads - earlier.threads,
                          self.children - earlier.children, self.gateway - earlier.gateway)


def process_cpu(pid: int) -> ProcessCpu:
    """The CPU process ``pid`` and its living children have used so far."""
    process = psutil.Process(pid)
    with process.oneshot():
        times = process.cpu_times()
        main = sum(t.user_time + t.system_time for t in process.threads() if t.id == pid)
    children = gateway = 0.0
    for child in process.children(recursive=True):
        try:
            child_times = child.cpu_times()
            is_gateway = "node.rpc.gateway" in " ".join(child.cmdline())
        except psutil.NoSuchProcess:
            continue
        children += child_times.user + child_times.system
        if is_gateway:
            gateway += child_times.user + child_times.system
    return ProcessCpu(main, times.user + times.system - main, children, gateway)


def own_cpu() -> float:
    """CPU-seconds this process (the senders' threads, the block watcher) has used so far."""
    times = psutil.Process().cpu_times()
    return times.user + times.system


# Two in-process measurements (before the network starts and after it stops) further apart
# than this say the machine's speed changed during the run: a shared host's CPU was seen to
# take 1.3 to 2.1 s for the same pure-Python loop from one minute to the next, idle otherwise.
DRIFT_WARNING = 1.15


@dataclass
class Report:
    in_process_runs: tuple[float, float]   # (a) before the network starts, after it stops
    saturated_one: LoadResult      # every sender on validator0's endpoint
    saturated: LoadResult          # senders spread over the validators' endpoints
    paced: LoadResult              # spread, at half the spread saturated rate
    sync: SyncResult
    sync_same_blocks: SyncResult
    imported: SyncResult
    # heights of the live network decided after round 0, and how many heights it decided
    later_rounds: tuple[list[int], int] = ([], 0)
    # per validator, the CPU it used while the one-endpoint load ran (sent to finalized),
    # and while the spread one ran; the senders' (this process's) for each, in CPU-seconds
    cpu_one_endpoint: dict[str, ProcessCpu] = field(default_factory=dict)
    cpu_spread: dict[str, ProcessCpu] = field(default_factory=dict)
    senders_cpu: tuple[float, float] = (0.0, 0.0)

    @property
    def in_process(self) -> float:
        """The in-process limit the ratios use: the mean of the two measurements."""
        return sum(self.in_process_runs) / len(self.in_process_runs)

    @property
    def drift(self) -> float:
        """How far apart the two in-process measurements are (1.0: the same)."""
        return max(self.in_process_runs) / max(1e-9, min(self.in_process_runs))

    @property
    def machine_bound(self) -> float:
        """What four validators that each execute every block can finalize on this machine:
        the in-process rate times its cores, shared four ways."""
        return self.in_process * (os.cpu_count() or 1) / len(VALIDATORS)

    def lines(self) -> list[str]:
        out = [f"{'':48}{'ERC-20 tx/s':>12}{'p50 s':>8}{'p99 s':>8}{'/ (a)':>8}{'/ bound':>9}",
               f"{'(a) in-process py-evm limit':48}{self.in_process:>12.1f}"
               f"   (before {self.in_process_runs[0]:.1f}, after {self.in_process_runs[1]:.1f})",
               f"{f'    bound: (a) x {os.cpu_count() or 1} cores / {len(VALIDATORS)} validators':48}"
               f"{self.machine_bound:>12.1f}"]
        for name, load in (("saturated, one endpoint", self.saturated_one),
                           ("saturated, spread", self.saturated), ("paced, spread", self.paced)):
            out.append(f"{f'(b) 4 validators, {name} ({load.sent} tx)':48}{load.finalized_per_second:>12.1f}"
                       f"{load.percentile(0.5):>8.2f}{load.percentile(0.99):>8.2f}"
                       f"{load.finalized_per_second / self.in_process:>8.2f}"
                       f"{load.finalized_per_second / self.machine_bound:>9.2f}")
        if self.drift > DRIFT_WARNING:
            out.append(f"    the machine's speed drifted: (a) before and after differ {self.drift:.2f}x, "
                       "the ratios are not to be trusted")
        later, live = self.later_rounds
        out.append(f"(b) heights decided after round 0: {len(later)} of {live}"
                   + (f" (#{', #'.join(map(str, later[:10]))}{', ...' if len(later) > 10 else ''})" if later else ""))
        out += self.cpu_lines()
        out += ["", f"{'':44}{'blocks':>8}{'txs':>8}{'blocks/s':>10}{'tx/s':>10}"]
        for name, result in (("(c) range sync of a new full node, whole chain", self.sync),
                             ("(c) range sync, the blocks import took", self.sync_same_blocks),
                             ("(c) azora import of the export (its code)", self.imported)):
            out.append(f"{name:44}{result.blocks:>8}{result.txs:>8}{result.blocks_per_second:>10.1f}"
                       f"{result.txs_per_second:>10.1f}")
        out.append(f"{'(c) ratio sync / import, same blocks':44}{'':16}"
                   f"{self.sync_same_blocks.blocks_per_second / self.imported.blocks_per_second:>10.2f}"
                   f"{self.sync_same_blocks.txs_per_second / max(1e-9, self.imported.txs_per_second):>10.2f}")
        return out

    def cpu_lines(self) -> list[str]:
        """Where the CPU went during the saturated loads, in µs per finalized transfer, and how
        busy the machine's cores were."""
        out: list[str] = []
        for label, cpu, load, senders in (("one-endpoint", self.cpu_one_endpoint, self.saturated_one, self.senders_cpu[0]),
                                          ("spread", self.cpu_spread, self.saturated, self.senders_cpu[1])):
            if not cpu:
                continue
            sent = load.sent
            out += ["", f"(b) CPU per finalized transfer while the {label} load ran, µs",
                    f"    {'':20}{'event loop':>12}{'threads':>10}{'children':>10}   (gateway)"]
            for name, used in cpu.items():
                out.append(f"    {name:20}{used.loop / sent * 1e6:>12.0f}{used.threads / sent * 1e6:>10.0f}"
                           f"{used.children / sent * 1e6:>10.0f}{used.gateway / sent * 1e6:>11.0f}")
            threads = sum(used.threads for used in cpu.values())
            rest = sum(used.loop + used.children for used in cpu.values())
            seconds = sent / load.finalized_per_second
            out.append(f"    all validators: {threads / sent * 1e3:.2f} ms in threads (execution; "
                       f"(a) alone costs {1e3 / self.in_process:.2f} ms per execution), "
                       f"{rest / sent * 1e3:.2f} ms in loops and children; the senders {senders / sent * 1e3:.2f} ms")
            out.append(f"    cores busy: {(threads + rest + senders) / seconds:.2f} of {os.cpu_count() or 1} "
                       f"(validators {(threads + rest) / seconds:.2f}, senders {senders / seconds:.2f})")
        return out


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> Report:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prebuilt", type=int, default=300, help="blocks built before the network starts")
    parser.add_argument("--per-block", type=int, default=10, help="ERC-20 transfers in each prebuilt block")
    parser.add_argument("--count", type=int, default=1500, help="ERC-20 transfers in the saturated phase")
    parser.add_argument("--in-process-count", type=int, default=2000)
    parser.add_argument("--block-interval", type=float, default=1.0)
    parser.add_argument("--client", choices=CLIENTS, default="requests",
                        help="the senders' HTTP library (see bench.common.json_poster)")
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds the started network runs before the load: users reach a running "
                             "network, not one whose processes are still importing py-evm")
    parser.add_argument("--keep", type=Path, default=None, help="keep the testnet directory here")
    parser.add_argument("--node-args", default="", help="more flags for each validator's azora node run, "
                        "e.g. '--rpc.gateway off'")
    args = parser.parse_args(argv)

    from eth.vm.forks.prague.transactions import PragueTransactionBuilder

    in_process = throughput.in_process_rates(args.in_process_count)["erc20"]
    out(f"in-process limit measured: {in_process:.1f} ERC-20 transfers/s")
    workdir = Path(tempfile.mkdtemp(prefix="azora-bench-net-")) if args.keep is None else args.keep
    net = Testnet.init(workdir / "net", validators=4, full_nodes=1, block_interval=args.block_interval,
                       chain_id=throughput.CHAIN_ID)
    accounts = throughput.dev_accounts(throughput.SENDERS + 1)
    deployer, senders = accounts[0], accounts[1:]
    raw_deploy, token = throughput.token_deploy(deployer, 0, senders)
    prebuilt = throughput.workload("erc20", senders, [0] * len(senders), args.prebuilt * args.per_block, token)
    queue = [PragueTransactionBuilder.decode(txs[i]) for i in range(len(prebuilt[0])) for txs in prebuilt]

    def transactions_for(height: int) -> list[Any]:
        if height == 1:
            return [PragueTransactionBuilder.decode(raw_deploy)]
        batch, queue[:] = queue[:args.per_block], queue[args.per_block:]
        return batch

    try:
        backdate_genesis(net, args.prebuilt + 60)
        prebuild_chain(net, args.prebuilt + 1, transactions_for)
        out(f"prebuilt {args.prebuilt + 1} blocks; starting 4 validators")
        for name in VALIDATORS:
            net.nodes[name].extra_args += args.node_args.split()
        net.start(*VALIDATORS)
        net.wait_for_height(args.prebuilt + 3, VALIDATORS, timeout=120)
        time.sleep(args.settle)
        watcher = BlockWatcher(net.nodes["validator0"].rpc, args.client)
        try:
            pids = {name: _pid(net, name) for name in VALIDATORS}
            cpu_before: dict[str, Any] = {}

            def take_cpu_before() -> None:
                cpu_before.update({name: process_cpu(pid) for name, pid in pids.items()}, senders=own_cpu())

            saturated_one = run_load(net, watcher, senders, token, args.count, None, spread=False,
                                     client=args.client, on_start=take_cpu_before)
            cpu_one = {name: process_cpu(pid) - cpu_before[name] for name, pid in pids.items()}
            senders_one = own_cpu() - cpu_before["senders"]
            out(f"saturated, one endpoint: {saturated_one.finalized_per_second:.1f} tx/s")
            saturated = run_load(net, watcher, senders, token, args.count, None, client=args.client,
                                 on_start=take_cpu_before)
            cpu_spread = {name: process_cpu(pid) - cpu_before[name] for name, pid in pids.items()}
            senders_spread = own_cpu() - cpu_before["senders"]
            out(f"saturated, spread: {saturated.finalized_per_second:.1f} tx/s")
            paced = run_load(net, watcher, senders, token, max(len(senders), args.count // 5),
                             max(1.0, saturated.finalized_per_second / 2), client=args.client)
        finally:
            watcher.stop()
        rounds = later_rounds(net.nodes["validator0"].log_path, args.prebuilt + 2)
        entries = measure_sync(net)
        imported = measure_import(net, workdir)
        sync, sync_same = sync_rate(entries, entries[-1][1]), sync_rate(entries, imported.blocks)
    finally:
        net.close()
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    after = throughput.in_process_rates(args.in_process_count)["erc20"]
    out(f"in-process limit measured again: {after:.1f} ERC-20 transfers/s")
    report = Report((in_process, after), saturated_one, saturated, paced, sync, sync_same, imported, rounds,
                    cpu_one, cpu_spread, (senders_one, senders_spread))
    for line in report.lines():
        out(line)
    return report


if __name__ == "__main__":
    main()
