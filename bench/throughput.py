"""Throughput: the in-process py-evm block-building limit against ``azora dev``'s JSON-RPC.

One run prints, for ETH transfers and ERC-20 transfers from 8 senders:
  (a) in process: ``kernel.Chain.build_block`` on a temporary LevelDB (pre-signed txs);
  (b) end to end: pre-signed raw txs sent to an ``azora dev`` process, automine and
      ``--block-time 1``, timed from the first send to the last receipt, two ways:
      ``batch``  8 concurrent senders posting JSON-RPC batches of ``eth_sendRawTransaction``;
      ``single`` what dApps, bots and wallets do: ``--clients`` concurrent HTTP clients (keep-
                 alive, 4 by default) each posting one transaction per request, then polling
                 each of its receipts with ``eth_getTransactionReceipt``, one per request
                 (``--client requests``, web3.py's library, or ``lean``: http.client);
  (c) the ratio (b)/(a);
  (d) CPU time per transaction in the end-to-end runs: the node process's (user + system,
      /proc), its helper processes' (the RPC gateway, transaction decoder workers) and this
      client's, in ms, beside the in-process build's 1000/(a): where a shortfall goes when the
      machine's cores are shared by the node and its clients;
  (f) what bounds the node: how busy its process was (its CPU seconds per second of the run;
      its Python holds one GIL, so about 1.0 is all it can be) and the rate it would reach
      busy all the time, 1000/(node CPU ms per transaction), over (a): a run whose (c) is
      below that ceiling left the node idle (waiting for a tick, for requests); one at the
      ceiling is bound by the node's work per transaction, execution and requests together;
  (e) with ``--compare URL``: the single mode's load sent to another node you started on
      this machine, e.g. Hardhat's with interval mining (``mining: {auto: false, interval:
      1000}``, ``chainId: 1337``), after Azora's runs, and Azora's single rows over it;
  (g) with ``--block-time 1`` (and for the compared node): the rate of the run's full blocks,
      the transactions of the blocks produced wholly under load over the time they took
      (:class:`BlockClock`): (b) also counts the ramp to the first tick and the wait for the
      last, which in a run of a few seconds cost 4-6% whatever the node does.

    python -m bench.throughput [--count 8000] [--modes automine,block-time] [--send batch,single]
                               [--clients 4] [--client requests|lean] [--profile DIR]
                               [--node-args "--rpc.gateway off"] [--compare http://127.0.0.1:8545]
                               [--log-level WARNING|INFO] [--repeat N]

The default count measures sustained throughput: with ``--block-time 1`` and a 30M-gas
block (1,428 transfers at most), a few thousand transactions span only two or three blocks,
and where the first one-second tick falls decides a third of the time. 8,000 is 1,000 per
sender, what the pool holds per account (1,024) when they all arrive at once.

The node runs at ``--log-level WARNING`` unless told: ``INFO``, what ``azora dev`` runs at
when started by hand, also prints each mined transaction. Since its console messages and
failure are read as it executes (node/dev_log.py) the two levels measure alike (automine,
single, 2,000 ERC-20 transfers: 534 and 391/s at WARNING, 521 and 436/s at INFO, alternated).

``--profile DIR`` records the node under py-spy (if on PATH; ``--gil`` sampling, so the
profile shows where the CPU goes) during each end-to-end run, as raw collapsed stacks.
"""
from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests
import rlp
import vyper
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from bench.common import CLIENTS, free_port, json_poster, rpc

REPO = Path(__file__).resolve().parents[1]
CHAIN_ID = 1337
GWEI = 10**9
MNEMONIC = "test test test test test test test test test test test junk"
SENDERS = 8
SEND_BATCH = 100
TOKEN_SOURCE = (Path(__file__).parent / "Token.vy").read_text()
TRANSFER_SELECTOR = keccak(text="transfer(address,uint256)")[:4]
RECEIVER = "0x" + "77" * 20

Account.enable_unaudited_hdwallet_features()


# -- workload ----------------------------------------------------------------------------

def dev_accounts(count: int) -> list[Any]:
    return [Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)]


def sign(account: Any, nonce: int, *, to: str | None, data: bytes = b"", value: int = 0,
         gas: int = 21_000) -> bytes:
    fields = {"chainId": CHAIN_ID, "nonce": nonce, "value": value, "gas": gas, "data": data,
              "maxFeePerGas": 100 * GWEI, "maxPriorityFeePerGas": GWEI, "type": 2}
    if to is not None:
        fields["to"] = to_checksum_address(to)
    return bytes(account.sign_transaction(fields).raw_transaction)


def token_deploy(deployer: Any, nonce: int, holders: list[Any]) -> tuple[bytes, str]:
    """The raw deploy transaction and the token's address."""
    bytecode = bytes.fromhex(vyper.compile_code(TOKEN_SOURCE, output_formats=["bytecode"])["bytecode"][2:])
    args = encode(["address[]", "uint256"], [[h.address for h in holders], 10**30])
    raw = sign(deployer, nonce, to=None, data=bytecode + args, gas=3_000_000)
    address = keccak(rlp.encode([bytes.fromhex(deployer.address[2:]), nonce]))[12:]
    return raw, "0x" + address.hex()


def workload(kind: str, senders: list[Any], start_nonces: list[int], count: int,
             token: str | None) -> list[list[bytes]]:
    """Per sender, ``count // len(senders)`` pre-signed raw transactions in nonce order."""
    per_sender = count // len(senders)
    out = []
    for account, first in zip(senders, start_nonces):
        txs = []
        for nonce in range(first, first + per_sender):
            if kind == "eth":
                txs.append(sign(account, nonce, to=RECEIVER, value=1))
            else:
                call = TRANSFER_SELECTOR + encode(["address", "uint256"], [RECEIVER, 1])
                txs.append(sign(account, nonce, to=token, data=call, gas=80_000))
        out.append(txs)
    return out


# -- (a) in process ------------------------------------------------------------------------

def in_process_rates(count: int) -> dict[str, float]:
    """Transfers a second ``Chain.build_block`` executes and commits, decoded transactions in,
    in this process, its garbage collector set as the node sets its own."""
    from node.runtime import GC_THRESHOLDS

    accounts = dev_accounts(SENDERS + 1)
    deployer, senders = accounts[0], accounts[1:]
    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)     # the engine as the node runs it (node.runtime.tune_gc)
    gc.freeze()
    try:
        return _in_process_rates(count, accounts, deployer, senders)
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def _in_process_rates(count: int, accounts: list[Any], deployer: Any, senders: list[Any]) -> dict[str, float]:
    from eth.vm.forks.prague.transactions import PragueTransactionBuilder

    from kernel.chain import Chain
    from kernel.db import LevelDB
    from kernel.genesis import Genesis

    genesis = Genesis.from_json({
        "config": {"chainId": CHAIN_ID}, "timestamp": hex(int(time.time())),
        "gasLimit": hex(30_000_000), "baseFeePerGas": hex(GWEI),
        "alloc": {a.address: {"balance": hex(10**24)} for a in accounts}})
    rates = {}
    with tempfile.TemporaryDirectory(prefix="azora-bench-") as tmp:
        db = LevelDB(Path(tmp) / "db")
        chain = Chain(db, genesis)
        raw_deploy, token = token_deploy(deployer, 0, senders)
        deploy = chain.build_block([PragueTransactionBuilder.decode(raw_deploy)],
                                   timestamp=chain.head.timestamp + 1)
        assert deploy.receipts[0].state_root == b"\x01", "token deploy failed"
        nonces = [0] * SENDERS
        for kind in ("eth", "erc20"):
            per_sender = workload(kind, senders, nonces, count, token)
            nonces = [n + len(txs) for n, txs in zip(nonces, per_sender)]
            # Round-robin over senders, as the pool's selection interleaves them.
            ordered = [PragueTransactionBuilder.decode(txs[i])
                       for i in range(len(per_sender[0])) for txs in per_sender]
            started = time.perf_counter()
            remaining, mined = ordered, 0
            while remaining:
                result = chain.build_block(remaining, timestamp=chain.head.timestamp + 1)
                assert not result.rejected, result.rejected[:1]
                assert all(r.state_root == b"\x01" for r in result.receipts), "a transfer failed"
                mined += len(result.block.transactions)
                remaining = list(result.deferred)
            rates[kind] = mined / (time.perf_counter() - started)
        db.close()
    return rates


# -- (b) end to end ------------------------------------------------------------------------


class Endpoint:
    """A node's JSON-RPC over HTTP."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def call(self, method: str, *params: Any) -> Any:
        answer = self.session.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                                   "params": list(params)}, timeout=120).json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def wait_receipt(self, tx_hash: str, timeout: float = 600) -> dict[str, Any]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            receipt = self.call("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                return receipt
            time.sleep(0.02)
        raise RuntimeError(f"no receipt for {tx_hash}")

    def deploy_token(self) -> tuple[list[Any], str]:
        """The benchmark's senders and the token they hold, deployed on this node."""
        accounts = dev_accounts(SENDERS + 1)
        deployer, senders = accounts[0], accounts[1:]
        raw_deploy, token = token_deploy(deployer, int(self.call("eth_getTransactionCount", deployer.address,
                                                                 "latest"), 16), senders)
        self.wait_receipt(self.call("eth_sendRawTransaction", "0x" + raw_deploy.hex()))
        return senders, token

    def next_workload(self, kind: str, senders: list[Any], count: int,
                      token: str) -> tuple[list[int], list[list[bytes]]]:
        """The senders' nonces on this node and ``count`` transfers of ``kind`` signed from them."""
        nonces = [int(self.call("eth_getTransactionCount", a.address, "latest"), 16) for a in senders]
        return nonces, workload(kind, senders, nonces, count, token)

    def wait_nonces(self, addresses: list[str], targets: list[int], timeout: float = 600) -> None:
        """Until every address's mined nonce reaches its target: its last receipt exists.

        Polls nonces (a cheap state read) rather than receipts, whose lookup decodes the
        whole block's receipts and would load the node it measures.
        """
        deadline = time.time() + timeout
        body = [{"jsonrpc": "2.0", "id": i, "method": "eth_getTransactionCount",
                 "params": [address, "latest"]} for i, address in enumerate(addresses)]
        while time.time() < deadline:
            answers = sorted(self.session.post(self.url, json=body, timeout=120).json(),
                             key=lambda a: a["id"])
            if all(int(a["result"], 16) >= t for a, t in zip(answers, targets)):
                return
            time.sleep(0.05)
        raise RuntimeError("transactions not mined in time")


class BlockClock:
    """When each new block of a node first answered ``eth_blockNumber`` (polled every
    ``POLL`` seconds from a thread while a run lasts), for the rate its full blocks hold.

    A run from its first send to its last receipt also counts the ramp before the first
    one-second tick and the wait for the last: in a 9-second run they cost the figure 4-6%
    whatever the node does. The blocks produced wholly under load are the chain's own rate:
    those after the first block holding the run's transactions and up to the one before its
    last, over the time from that first block's arrival to the last full one's, or the
    difference of their timestamps if that is longer (:meth:`rate_of`). Each arrival is timed
    to one poll (50 ms: 20 calls a second, a load the node hardly notices), so over a run of
    several blocks the figure is good to about 1%.
    """

    POLL = 0.05

    def __init__(self, url: str) -> None:
        self.url = url
        self._seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> "BlockClock":
        self._first = self._number(requests.Session())
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _number(self, session: requests.Session) -> int:
        return int(rpc(session, self.url, "eth_blockNumber"), 16)

    def _watch(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            number, now = self._number(session), time.perf_counter()
            for missed in range(max(self._seen, default=self._first) + 1, number + 1):
                self._seen.setdefault(missed, now)
            self._stop.wait(self.POLL)

    def full_block_rate(self) -> float | None:
        """Transactions a second of the run's full blocks; None if it filled fewer than one
        block between two others."""
        session = requests.Session()
        blocks = {number: rpc(session, self.url, "eth_getBlockByNumber", hex(number), False) for number in self._seen}
        return self.rate_of(self._seen, {number: len(block["transactions"]) for number, block in blocks.items()},
                            {number: int(block["timestamp"], 16) for number, block in blocks.items()})

    @staticmethod
    def rate_of(seen: dict[int, float], counts: dict[int, int], stamps: dict[int, int]) -> float | None:
        """The full blocks' rate from when each block was seen, how many transactions it
        holds and its timestamp. The span is the longer of the two clocks': a first block
        seen late (its tick kept waiting while a burst of sends was admitted) shortens the
        seen span, and timestamps alone would hide a producer that falls behind its ticks."""
        numbers = sorted(seen)
        holding = [i for i, number in enumerate(numbers) if counts[number]]
        if len(holding) < 3:
            return None
        run = numbers[holding[0]:holding[-1] + 1]
        span = max(seen[run[-2]] - seen[run[0]], stamps[run[-2]] - stamps[run[0]])
        return sum(counts[number] for number in run[1:-1]) / span if span > 0 else None


class DevNode(Endpoint):
    """An ``azora dev`` subprocess on a temporary datadir."""

    def __init__(self, extra_args: list[str], log_path: Path, log_level: str = "WARNING") -> None:
        self.port = free_port()
        super().__init__(f"http://127.0.0.1:{self.port}")
        self.datadir = Path(tempfile.mkdtemp(prefix="azora-bench-dev-"))
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "--log-level", log_level, "dev", "--datadir",
             str(self.datadir / "data"), "--http.port", str(self.port), *extra_args],
            cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"azora dev exited; see {log_path}")
            try:
                self.call("eth_chainId")
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("azora dev did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()
        shutil.rmtree(self.datadir, ignore_errors=True)


def send_concurrently(url: str, per_sender: list[list[bytes]]) -> None:
    """One thread per sender, each posting its transactions in JSON-RPC batches, in order."""
    errors: list[str] = []

    def run(txs: list[bytes]) -> None:
        session = requests.Session()
        for start in range(0, len(txs), SEND_BATCH):
            body = [{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction",
                     "params": ["0x" + raw.hex()]} for i, raw in enumerate(txs[start:start + SEND_BATCH])]
            for answer in session.post(url, json=body, timeout=600).json():
                if "error" in answer:
                    errors.append(str(answer["error"]))

    threads = [threading.Thread(target=run, args=(txs,)) for txs in per_sender]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} sends refused, first: {errors[0]}")


def send_one_per_request(url: str, per_sender: list[list[bytes]], clients: int, client: str = "requests") -> None:
    """``clients`` keep-alive HTTP clients; each owns some senders, sends their transactions
    one request each (a sender's in nonce order), then polls each receipt one request each
    until all are mined: the path a dApp's users take.

    ``client`` is the HTTP library (bench.common.json_poster)."""
    errors: list[str] = []
    owned: list[list[list[bytes]]] = [per_sender[i::clients] for i in range(clients)]

    def poster() -> Callable[[str, str], Any]:
        send = json_poster(url, client)

        def post(method: str, param: str) -> Any:
            answer = send(b'{"jsonrpc":"2.0","id":1,"method":"%s","params":["%s"]}' % (method.encode(), param.encode()))
            if "error" in answer:
                errors.append(f"{method}: {answer['error']}")
                return None
            return answer["result"]
        return post

    def run(mine: list[list[bytes]]) -> None:
        try:
            send_and_wait(mine)
        except Exception as exc:  # noqa: BLE001 - a client that fails fails the run, not silently its thread
            errors.append(f"client failed: {exc!r}")

    def send_and_wait(mine: list[list[bytes]]) -> None:
        post = poster()
        # round-robin over this client's senders: each sender's transactions stay in order
        interleaved = [tx for group in itertools.zip_longest(*mine) for tx in group if tx is not None]
        waiting = [post("eth_sendRawTransaction", "0x" + raw.hex()) for raw in interleaved]
        waiting = [h for h in waiting if h is not None]
        deadline = time.time() + 600
        while waiting and time.time() < deadline:
            waiting = [h for h in waiting if post("eth_getTransactionReceipt", h) is None]
            if waiting:
                time.sleep(0.05)
        if waiting:
            errors.append(f"{len(waiting)} receipts never came")

    threads = [threading.Thread(target=run, args=(mine,)) for mine in owned if mine]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, first: {errors[0]}")


def end_to_end_rates(count: int, mode: str, profile_dir: Path | None, send: str = "batch",
                     clients: int = 4, client: str = "requests", node_args: list[str] | None = None,
                     log_level: str = "WARNING",
                     ) -> tuple[dict[str, float], dict[str, tuple[float, float, float]], dict[str, float],
                                dict[str, float]]:
    """(transfers/s, CPU ms per transfer of node, helpers and client, the most transfers a
    second of blocks can hold: the block gas limit over a transfer's gas, and the rate of the
    run's full blocks (:class:`BlockClock`; with ``--block-time`` only)), per kind."""
    extra = (["--block-time", "1"] if mode == "block-time" else []) + list(node_args or [])
    log_path = Path(tempfile.gettempdir()) / f"azora-bench-{mode}-{send}.log"
    node = DevNode(extra, log_path, log_level)
    rates, cpu, caps, full = {}, {}, {}, {}
    try:
        senders, token = node.deploy_token()
        for kind in ("eth", "erc20"):
            nonces, per_sender = node.next_workload(kind, senders, count, token)
            last_hashes = ["0x" + keccak(txs[-1]).hex() for txs in per_sender]
            spy = _start_profiler(node.proc.pid, profile_dir, f"{mode}-{send}-{kind}") if profile_dir else None
            targets = [n + len(txs) for n, txs in zip(nonces, per_sender)]
            started = time.perf_counter()
            node_cpu, helpers_cpu = process_cpu_seconds(node.proc.pid), children_cpu_seconds(node.proc.pid)
            client_cpu = time.process_time()
            with BlockClock(node.url) as clock:
                if send == "single":
                    send_one_per_request(node.url, per_sender, clients, client)   # returns once every receipt is in
                else:
                    send_concurrently(node.url, per_sender)
                    node.wait_nonces([a.address for a in senders], targets)
                elapsed = time.perf_counter() - started
            node_cpu = process_cpu_seconds(node.proc.pid) - node_cpu
            helpers_cpu = children_cpu_seconds(node.proc.pid) - helpers_cpu
            client_cpu = time.process_time() - client_cpu
            if spy is not None:
                spy.send_signal(signal.SIGINT)   # py-spy writes its profile on Ctrl-C
                spy.wait(60)
            receipts = [node.wait_receipt(h) for h in last_hashes]
            assert all(r["status"] == "0x1" for r in receipts)
            mined = sum(int(node.call("eth_getTransactionCount", a.address, "latest"), 16) - n
                        for a, n in zip(senders, nonces))
            assert mined == sum(len(txs) for txs in per_sender), mined
            rates[kind] = mined / elapsed
            cpu[kind] = (1000 * node_cpu / mined, 1000 * helpers_cpu / mined, 1000 * client_cpu / mined)
            gas_limit = int(node.call("eth_getBlockByNumber", "latest", False)["gasLimit"], 16)
            caps[kind] = gas_limit / (sum(int(r["gasUsed"], 16) for r in receipts) / len(receipts))
            sustained = clock.full_block_rate() if mode == "block-time" else None
            if sustained is not None:
                full[kind] = sustained
    finally:
        node.stop()
    return rates, cpu, caps, full


def median_run(runs: list[tuple[dict[str, float], dict[str, tuple[float, float, float]], dict[str, float],
                                 dict[str, float]]]
               ) -> tuple[dict[str, float], dict[str, tuple[float, float, float]], dict[str, float], dict[str, float]]:
    """Of :func:`end_to_end_rates`' runs, per kind, the figures of the run whose rate is the
    median (the lower middle one of an even count): the figures of one run stay together."""
    rates, cpu, caps, full = {}, {}, {}, {}
    for kind in runs[0][0]:
        ordered = sorted(runs, key=lambda run: run[0][kind])
        middle = ordered[(len(ordered) - 1) // 2]
        rates[kind] = middle[0][kind]
        if kind in middle[1]:
            cpu[kind] = middle[1][kind]
        if kind in middle[2]:
            caps[kind] = middle[2][kind]
        if kind in middle[3]:
            full[kind] = middle[3][kind]
    return rates, cpu, caps, full


def other_node_rates(url: str, count: int, clients: int, client: str) -> tuple[dict[str, float], dict[str, float]]:
    """The single mode's load on another node's endpoint: what a dApp developer compares
    (Hardhat's ``npx hardhat node`` with interval mining, anvil ``--block-time 1``). The node
    must fund the test mnemonic's accounts and use chain id 1337, as both do by default or
    with ``chainId: 1337``. Also the rate of its full blocks, as :class:`BlockClock` finds it."""
    node = Endpoint(url)
    chain_id = int(node.call("eth_chainId"), 16)
    if chain_id != CHAIN_ID:
        raise SystemExit(f"error: {url} has chain id {chain_id}; the benchmark signs for {CHAIN_ID}")
    senders, token = node.deploy_token()
    rates, full = {}, {}
    for kind in ("eth", "erc20"):
        _, per_sender = node.next_workload(kind, senders, count, token)
        started = time.perf_counter()
        with BlockClock(url) as clock:
            send_one_per_request(url, per_sender, clients, client)   # returns once every receipt is in
            rates[kind] = sum(len(txs) for txs in per_sender) / (time.perf_counter() - started)
        last = node.wait_receipt("0x" + keccak(per_sender[-1][-1]).hex())
        assert last["status"] in ("0x1", 1), last
        sustained = clock.full_block_rate()
        if sustained is not None:
            full[kind] = sustained
    return rates, full


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(pid: int) -> float:
    """The same for the processes ``pid`` started and that still run: the node's RPC gateway
    and its transaction decoder workers."""
    total = 0.0
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text().split():
            try:
                total += process_cpu_seconds(int(child)) + children_cpu_seconds(int(child))
            except (FileNotFoundError, ProcessLookupError):
                pass   # exited meanwhile
    return total


def _start_profiler(pid: int, profile_dir: Path, name: str) -> subprocess.Popen | None:
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        print("(py-spy not on PATH: no profile)", file=sys.stderr)
        return None
    profile_dir.mkdir(parents=True, exist_ok=True)
    # --gil: only the thread holding the GIL is sampled, i.e. where the CPU actually goes.
    return subprocess.Popen([py_spy, "record", "--pid", str(pid), "--format", "raw", "--threads", "--gil",
                             "--output", str(profile_dir / f"{name}.txt")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# -- report --------------------------------------------------------------------------------

@dataclass
class Report:
    in_process: dict[str, float]
    end_to_end: dict[str, dict[str, float]]
    # per end-to-end row and kind: (node, its helper processes, client) CPU ms per transaction
    cpu: dict[str, dict[str, tuple[float, float, float]]] = field(default_factory=dict)
    # another node's endpoint under the single mode's load (--compare), and its rates
    compared: tuple[str, dict[str, float]] | None = None
    # per kind: transfers one second of full blocks holds (gas limit / a transfer's gas)
    caps: dict[str, float] = field(default_factory=dict)
    # per block-time row, and for the compared endpoint: its full blocks' rate per kind (BlockClock)
    full_blocks: dict[str, dict[str, float]] = field(default_factory=dict)
    compared_full: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        # rows are keyed "mode" (batch sends) or "mode, single" (one transaction per request)
        out = [f"{'':34}{'ETH transfers/s':>12}{'ERC-20 transfers/s':>22}",
               f"{'(a) in-process build_block':34}{self.in_process['eth']:>12.1f}{self.in_process['erc20']:>22.1f}"]
        if self.caps:
            # --block-time 1 includes no more than this, however fast the node: when it is
            # below (a), (c) cannot reach 1 and the node is measured against it in (c')
            out.append(f"{'(a) gas cap of 1-s blocks':34}{self.caps['eth']:>12.1f}{self.caps['erc20']:>22.1f}")
        for mode, rates in self.end_to_end.items():
            out.append(f"{'(b) JSON-RPC ' + mode:34}{rates['eth']:>12.1f}{rates['erc20']:>22.1f}")
        for mode, rates in self.end_to_end.items():
            out.append(f"{'(c) ratio ' + mode:34}{rates['eth'] / self.in_process['eth']:>12.2f}"
                       f"{rates['erc20'] / self.in_process['erc20']:>22.2f}")
        if self.caps:
            for mode, rates in self.end_to_end.items():
                if mode.startswith("block-time"):
                    bound = {kind: min(self.in_process[kind], self.caps[kind]) for kind in self.caps}
                    label = "(c') / min(a, cap) " + mode
                    out.append(f"{label:34}"
                               f"{rates['eth'] / bound['eth']:>12.2f}{rates['erc20'] / bound['erc20']:>22.2f}")
        out.append(f"{'(d) CPU ms/tx in-process build':34}{1000 / self.in_process['eth']:>12.2f}"
                   f"{1000 / self.in_process['erc20']:>22.2f}")
        for mode, cpu in self.cpu.items():
            for side, which in (("node", 0), ("gateway+workers", 1), ("client", 2)):
                out.append(f"{'(d) CPU ms/tx ' + side + ', ' + mode:34}{cpu['eth'][which]:>12.2f}"
                           f"{cpu['erc20'][which]:>22.2f}")
        for mode, cpu in self.cpu.items():
            rates = self.end_to_end.get(mode)
            if rates is None:
                continue
            busy = {kind: rates[kind] * cpu[kind][0] / 1000 for kind in rates}
            ceiling = {kind: 1000 / cpu[kind][0] / self.in_process[kind] if cpu[kind][0] else 0.0 for kind in rates}
            for label, figures in (("(f) node busy (CPU s/s), ", busy), ("(f) busy-node ceiling / (a), ", ceiling)):
                out.append(f"{label + mode:34}{figures['eth']:>12.2f}{figures['erc20']:>22.2f}")
        if self.compared is not None:
            url, rates = self.compared
            out.append(f"{'(e) ' + url + ', single':34}{rates['eth']:>12.1f}{rates['erc20']:>22.1f}")
            for mode, ours in self.end_to_end.items():
                if mode.endswith("single"):
                    out.append(f"{'(e) ratio ' + mode + ' / (e)':34}{ours['eth'] / rates['eth']:>12.2f}"
                               f"{ours['erc20'] / rates['erc20']:>22.2f}")
        out.extend(self._full_block_lines())
        return out

    def _full_block_lines(self) -> list[str]:
        def row(label: str, figures: dict[str, float | None], digits: int) -> str:
            cells = [f"{figures[kind]:.{digits}f}" if figures.get(kind) is not None else "-" for kind in ("eth", "erc20")]
            return f"{label:34}{cells[0]:>12}{cells[1]:>22}"

        def over(ours: dict[str, float], theirs: dict[str, float]) -> dict[str, float | None]:
            return {kind: ours[kind] / theirs[kind] if kind in ours and theirs.get(kind) else None
                    for kind in ("eth", "erc20")}

        out = []
        for mode, rates in self.full_blocks.items():
            out.append(row("(g) full blocks, " + mode, dict(rates), 1))
            out.append(row("(g) ratio full blocks / (a), " + mode, over(rates, self.in_process), 2))
        if self.compared is not None and self.compared_full:
            out.append(row("(g) full blocks, " + self.compared[0], dict(self.compared_full), 1))
            for mode, rates in self.full_blocks.items():
                if mode.endswith("single"):
                    out.append(row(f"(g) ratio {mode} / its", over(rates, self.compared_full), 2))
        return out

    def as_json(self) -> str:
        return json.dumps({"in_process": self.in_process, "end_to_end": self.end_to_end, "cpu": self.cpu,
                           "compared": dict([self.compared]) if self.compared else {}, "caps": self.caps,
                           "full_blocks": self.full_blocks, "compared_full_blocks": self.compared_full})


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> Report:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=8000, help="transactions per kind (split over 8 senders)")
    parser.add_argument("--modes", default="automine,block-time")
    parser.add_argument("--send", default="batch,single",
                        help="batch: JSON-RPC batches from 8 senders; single: one transaction per request")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients of the single mode")
    parser.add_argument("--client", choices=CLIENTS, default="requests",
                        help="the single mode's HTTP library (see bench.common.json_poster)")
    parser.add_argument("--profile", type=Path, default=None, help="write py-spy profiles here")
    parser.add_argument("--node-args", default="", help="more flags for azora dev, e.g. '--rpc.gateway off'")
    parser.add_argument("--log-level", default="WARNING", choices=("WARNING", "INFO"),
                        help="azora dev's log level: WARNING (the figures quoted so far) or INFO, its "
                             "default, which prints every mined transaction")
    parser.add_argument("--repeat", type=int, default=1,
                        help="end-to-end runs of each mode, each on a fresh node: (b)-(g) print the median "
                             "run of each kind (on a shared machine one run's rate moves by 10%% or more)")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument("--compare", default=None, metavar="URL",
                        help="also send the single mode's load to another node's endpoint (e.g. Hardhat's)")
    args = parser.parse_args(argv)
    out(f"{args.count} ETH + {args.count} ERC-20 transfers from {SENDERS} senders"
        + (f"; end-to-end figures from the median of {args.repeat} runs" if args.repeat > 1 else ""))
    # The machine is shared: the in-process limit is measured before and after the end-to-end
    # runs and the better figure kept, so noise cannot flatter the ratio.
    first = in_process_rates(args.count)
    end_to_end, cpu, caps, full_blocks = {}, {}, {}, {}
    for mode in (m for m in args.modes.split(",") if m):
        for send in (s for s in args.send.split(",") if s):
            name = mode if send == "batch" else f"{mode}, single"
            runs = [end_to_end_rates(args.count, mode, args.profile, send, args.clients, args.client,
                                     args.node_args.split(), args.log_level) for _ in range(args.repeat)]
            end_to_end[name], cpu[name], run_caps, full = median_run(runs)
            if mode == "block-time":
                caps = run_caps
                full_blocks[name] = full
    compared, compared_full = None, {}
    if args.compare:
        runs = [other_node_rates(args.compare, args.count, args.clients, args.client) for _ in range(args.repeat)]
        compared_rates, _, _, compared_full = median_run([(rates, {}, {}, full) for rates, full in runs])
        compared = (args.compare, compared_rates)
    second = in_process_rates(args.count) if args.count >= 100 else first
    in_process = {kind: max(first[kind], second[kind]) for kind in first}
    report = Report(in_process, end_to_end, cpu, compared, caps, full_blocks, compared_full)
    for line in report.lines():
        out(line)
    if args.json:
        out(report.as_json())
    return report


if __name__ == "__main__":
    main()
