"""A real multi-process Azora testnet on 127.0.0.1 for tests and benchmarks.

``Testnet.init`` runs ``azora testnet init`` on a free port range; ``start``/``kill``/``stop``
drive one ``azora node run --config`` process per node; ``rpc``/``height``/``wait_until`` read
each node over JSON-RPC. ``close`` stops everything (SIGTERM, then SIGKILL).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # tests/, for bench/network.py too
from helpers import AZORA, REPO, free_port_range  # noqa: E402


def azora(*args: str, timeout: float = 120) -> str:
    """Run one ``azora`` command to completion; its stdout, or an error with its output."""
    done = subprocess.run(AZORA + list(args), cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"azora {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def rpc_call(url: str, method: str, params: list[Any] | None = None, timeout: float = 10) -> Any:
    """One JSON-RPC call; raises on a JSON-RPC error."""
    reply = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []},
                          timeout=timeout).json()
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


@dataclass
class NodeProcess:
    """One node of the manifest and, while running, its process."""

    name: str
    config: Path
    rpc: str
    p2p: str
    validator: bool
    address: str | None
    proc: subprocess.Popen[bytes] | None = None
    extra_args: list[str] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.config.parent

    @property
    def log_path(self) -> Path:
        return self.home / "node.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self, tail: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:] if self.log_path.exists() else ""


class Testnet:
    """Processes of one ``azora testnet init`` directory."""

    __test__ = False   # not a pytest test class

    def __init__(self, directory: Path, manifest: dict[str, Any]) -> None:
        self.directory = directory
        self.manifest = manifest
        self.nodes = {n["name"]: NodeProcess(n["name"], Path(n["config"]), n["rpc"], n["p2p"], n["validator"],
                                             n.get("address")) for n in manifest["nodes"]}

    @classmethod
    def init(cls, directory: Path, *, validators: int = 4, full_nodes: int = 0,
             block_interval: float = 0.5, chain_id: int = 31337, epoch_length: int | None = None,
             jail_duration: int | None = None) -> "Testnet":
        total = validators + full_nodes
        p2p_base = free_port_range(total)
        http_base = free_port_range(total)
        options = [*(["--epoch-length", str(epoch_length)] if epoch_length is not None else []),
                   *(["--jail-duration", str(jail_duration)] if jail_duration is not None else [])]
        azora("testnet", "init", "--validators", str(validators), "--full-nodes", str(full_nodes),
              "--out", str(directory), "--chain-id", str(chain_id), "--base-p2p-port", str(p2p_base),
              "--base-http-port", str(http_base), "--block-interval", str(block_interval), *options)
        return cls(directory, json.loads((directory / "testnet.json").read_text()))

    # -- processes -------------------------------------------------------------------------

    def start(self, *names: str, wait: bool = True) -> None:
        """Start the named nodes (all when none are named) and wait for their JSON-RPC."""
        for name in names or tuple(self.nodes):
            node = self.nodes[name]
            assert not node.running, f"{name} is already running"
            log = open(node.log_path, "ab")
            node.proc = subprocess.Popen(AZORA + ["node", "run", "--config", str(node.config), *node.extra_args],
                                         cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
            log.close()
        if wait:
            for name in names or tuple(self.nodes):
                self.wait_ready(name)

    def wait_ready(self, name: str, timeout: float = 90) -> None:
        node = self.nodes[name]
        deadline = time.time() + timeout
        while time.time() < deadline:
            if node.proc is not None and node.proc.poll() is not None:
                raise RuntimeError(f"{name} exited {node.proc.returncode}:\n{node.log()}")
            try:
                rpc_call(node.rpc, "eth_chainId", timeout=2)
                return
            except (requests.RequestException, RuntimeError):
                time.sleep(0.2)
        raise RuntimeError(f"{name} did not start:\n{node.log()}")

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send ``sig`` and wait for the process to go."""
        node = self.nodes[name]
        if node.proc is None:
            return
        if node.proc.poll() is None:
            node.proc.send_signal(sig)
            try:
                node.proc.wait(20)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(10)
        node.proc = None

    def stop(self, name: str) -> None:
        """SIGTERM (a clean shutdown), SIGKILL if it hangs."""
        self.kill(name, signal.SIGTERM)

    def close(self) -> None:
        """Stop every process this testnet started: SIGTERM to all, then SIGKILL stragglers."""
        running = [n for n in self.nodes.values() if n.running]
        for node in running:
            node.proc.send_signal(signal.SIGTERM)
        deadline = time.time() + 15
        for node in running:
            try:
                node.proc.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(10)
            node.proc = None

    # -- reading nodes -----------------------------------------------------------------------

    def rpc(self, name: str, method: str, params: list[Any] | None = None, timeout: float = 10) -> Any:
        return rpc_call(self.nodes[name].rpc, method, params, timeout)

    def height(self, name: str) -> int:
        return int(self.rpc(name, "eth_blockNumber"), 16)

    def heights(self, names: list[str] | None = None) -> dict[str, int]:
        return {name: self.height(name) for name in names or self.running_names()}

    def running_names(self) -> list[str]:
        return [name for name, node in self.nodes.items() if node.running]

    def block_hash(self, name: str, number: int) -> str | None:
        block = self.rpc(name, "eth_getBlockByNumber", [hex(number), False])
        return block["hash"] if block else None

    def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``predicate`` (RPC errors count as False) until it holds or fail with logs."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if predicate():
                    return
            except (requests.RequestException, RuntimeError, KeyError, TypeError):
                pass
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; heights "
                             f"{self._safe_heights()}\n" + self.logs_tail())

    def wait_for_height(self, height: int, names: list[str] | None = None, timeout: float = 60) -> None:
        targets = names or self.running_names()
        self.wait_until(lambda: all(self.height(n) >= height for n in targets), timeout,
                        f"{targets} to reach #{height}")

    def _safe_heights(self) -> dict[str, int | str]:
        out: dict[str, int | str] = {}
        for name in self.running_names():
            try:
                out[name] = self.height(name)
            except Exception as exc:  # noqa: BLE001 - a diagnostic only
                out[name] = f"error {exc}"
        return out

    def logs_tail(self, tail: int = 2500) -> str:
        return "\n".join(f"--- {name} ---\n{node.log(tail)}" for name, node in self.nodes.items()
                         if node.log_path.exists())

    def assert_same_chain(self, names: list[str], up_to: int, start: int = 1) -> None:
        """Every named node holds the same hash at every height in [start, up_to]."""
        batch = [{"jsonrpc": "2.0", "id": n, "method": "eth_getBlockByNumber", "params": [hex(n), False]}
                 for n in range(start, up_to + 1)]
        chains = {}
        for name in names:
            replies = requests.post(self.nodes[name].rpc, json=batch, timeout=60).json()
            chains[name] = {r["id"]: (r.get("result") or {}).get("hash") for r in replies}
        reference = chains[names[0]]
        assert all(reference[n] for n in range(start, up_to + 1)), f"{names[0]} lacks blocks up to #{up_to}"
        for name in names[1:]:
            different = [n for n in range(start, up_to + 1) if chains[name][n] != reference[n]]
            assert not different, f"{name} differs from {names[0]} at heights {different[:10]}"


# -- a chain built ahead of time ---------------------------------------------------------------

def backdate_genesis(testnet: Testnet, seconds: int) -> None:
    """Move the genesis timestamp ``seconds`` into the past (before any node has started).

    Block timestamps are whole seconds, strictly increasing and at most 2 s ahead of the
    clock, so a live network makes at most one block per second; a backdated genesis leaves
    room for ``prebuild_chain`` to stamp one block per second of the past."""
    path = Path(testnet.manifest["genesis"])
    genesis = json.loads(path.read_text())
    genesis["timestamp"] = hex(int(time.time()) - seconds)
    path.write_text(json.dumps(genesis, indent=2))


def prebuild_chain(testnet: Testnet, blocks: int,
                   transactions_for: Callable[[int], list[Any]] | None = None) -> None:
    """Build ``blocks`` committed blocks into every validator's datadir before the network starts.

    Each block is built as its round-0 proposer would build it (coinbase = proposer, mixHash
    binding the parent's commit, extraData listing its signers, timestamp = genesis + height,
    the epoch-reward system call at
    each epoch's first block) and committed with precommits
    signed by every validator's keystore key, so it is indistinguishable from a block the
    network finalized; full nodes then range-sync it, verifying every commit. Each validator's
    last-sign record is left at the last prebuilt precommit, as its node would have left it:
    otherwise its double-sign check finds its key in the latest commits and refuses to start.
    """
    import shutil

    from consensus.commit import build_commit_certificate
    from consensus.block_rules import compute_mix_hash
    from consensus.signing import LocalSigner
    from consensus.types import Vote, VoteType
    from consensus.validator_set import compute_proposer
    from kernel.genesis import Genesis
    from node.rewards import block_extra_data, reward_system_calls
    from node.service import consensus_domain, open_chain
    from node.validators import ValidatorSetStore
    from wallet.keystore import load_keystore, read_password_file

    validators = [n for n in testnet.nodes.values() if n.validator]
    first = validators[0]
    datadir = first.home / "data"
    genesis = Genesis.from_file(Path(testnet.manifest["genesis"]))
    chain = open_chain(datadir, genesis)
    try:
        domain = consensus_domain(chain)
        signers = {}
        for node in validators:
            account = load_keystore(node.home / "validator.json", read_password_file(node.home / "password.txt"))
            signer = LocalSigner(bytes(account.key), domain)
            signers[signer.address] = signer
        sets = ValidatorSetStore(chain)
        parent_certificate = None
        for height in range(chain.head.block_number + 1, chain.head.block_number + 1 + blocks):
            validator_set = sets.for_height(height)
            extra_data = block_extra_data(sets, height - 1, parent_certificate)
            pending = chain.execute_transactions(
                transactions_for(height) if transactions_for else [],
                timestamp=chain.head.timestamp + 1, coinbase=compute_proposer(validator_set, 0),
                mix_hash=compute_mix_hash(parent_certificate), extra_data=extra_data,
                system_calls=reward_system_calls(chain, sets, height, extra_data))
            block_hash = pending.block.hash
            precommits = [signers[v.address].sign_vote(Vote(VoteType.PRECOMMIT, height, 0, block_hash))
                          for v in validator_set.validators]
            parent_certificate = build_commit_certificate(height, 0, block_hash, precommits)
            chain.commit_block(pending, commit=parent_certificate.encode())
            sets.for_height(height + 1)
    finally:
        chain.db.close()
    if parent_certificate is not None:
        from consensus.sign_guard import FileSignRecordStore, GuardedSigner
        for node in validators:
            address = bytes.fromhex(node.address[2:]) if node.address else None
            signer = next(s for a, s in signers.items() if a == address)
            record = FileSignRecordStore(node.home / "data" / "consensus" / "last_sign.json")
            GuardedSigner(signer, record).sign_vote(Vote(VoteType.PRECOMMIT, parent_certificate.height,
                                                         parent_certificate.round, parent_certificate.block_hash))
    for node in validators[1:]:
        target = node.home / "data"
        shutil.copytree(datadir / "chaindata", target / "chaindata")
        shutil.copy(datadir / "genesis.json", target / "genesis.json")
