"""Fork mode's remote: the JSON-RPC client that reads another node's state for the kernel.

Any Ethereum JSON-RPC node serves (``eth_getBalance``, ``eth_getTransactionCount``,
``eth_getCode``, ``eth_getStorageAt`` at the fork block); ``eth_getProof`` is not needed.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from eth_account import Account
from eth_utils import to_canonical_address

from consensus.config import DEV_TIMEOUTS
from consensus.sign_guard import GuardedSigner, MemorySignRecordStore
from consensus.signing import LocalSigner, SigningDomain
from consensus.validator_set import new_validator_set
from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.fork import CachedStateSource, RemoteAccount, fork_genesis, forked_schedule
from kernel.forks import compute_fork_schedule
from kernel.schema import SYSTEM_CONTRACTS
from node.backend import Backend
from node.dev import DevChain, DevPolicy
from node.evidence import EvidenceReporter
from kernel.schema import make_validator_set_key
from node.services.consensus_host import build_consensus_host
from node.validators import ValidatorSetStore, encode_validator_set

TIMEOUT_S = 10.0
RETRIES = 3


class ForkError(Exception):
    """The remote cannot serve the fork; the message is one line for the user."""


@dataclass(frozen=True)
class ForkPoint:
    """What the fork continues from: the remote's chain id and its block ``number``'s header."""

    url: str
    chain_id: int
    number: int
    block_hash: bytes
    timestamp: int
    gas_limit: int
    base_fee_per_gas: int
    system_contracts: dict[str, str]


class JsonRpcStateSource:
    """:class:`kernel.fork.RemoteStateSource` over HTTP JSON-RPC, with timeouts and retries."""

    def __init__(self, url: str, *, timeout: float = TIMEOUT_S, retries: int = RETRIES) -> None:
        self.url = url
        self._timeout = timeout
        self._retries = retries
        self._session = requests.Session()
        self._ids = 0

    def request(self, method: str, *params: Any) -> Any:
        """The result of one call; transport failures are retried, then raise ForkError."""
        self._ids += 1
        body = {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": list(params)}
        last: Exception | None = None
        for attempt in range(self._retries):
            try:
                reply = self._session.post(self.url, json=body, timeout=self._timeout).json()
                break
            except (requests.RequestException, ValueError) as exc:
                last = exc
                time.sleep(0.2 * 2 ** attempt)
        else:
            raise ForkError(f"cannot reach fork URL {self.url}: {_reason(last)}")
        if "error" in reply:
            raise ForkError(f"fork URL {self.url}: {method} failed: {reply['error'].get('message')}")
        return reply["result"]

    def account(self, address: bytes, block: int) -> RemoteAccount:
        where = ("0x" + address.hex(), hex(block))
        return RemoteAccount(nonce=int(self.request("eth_getTransactionCount", *where), 16),
                             balance=int(self.request("eth_getBalance", *where), 16),
                             code=bytes.fromhex(self.request("eth_getCode", *where)[2:]))

    def storage(self, address: bytes, slot: int, block: int) -> int:
        return int(self.request("eth_getStorageAt", "0x" + address.hex(), hex(slot), hex(block)), 16)

    def block_hash(self, number: int) -> bytes:
        block = self.request("eth_getBlockByNumber", hex(number), False)
        if block is None:
            raise ForkError(f"fork URL {self.url} has no block #{number}")
        return bytes.fromhex(block["hash"][2:])

    def fork_point(self, number: int | None) -> ForkPoint:
        """The remote's block ``number`` (default: its head) and chain facts; ForkError if the
        remote is unreachable or lacks that block."""
        chain_id = int(self.request("eth_chainId"), 16)
        block = self.request("eth_getBlockByNumber", hex(number) if number is not None else "latest", False)
        if block is None:
            raise ForkError(f"fork URL {self.url} has no block #{number}")
        return ForkPoint(self.url, chain_id, int(block["number"], 16), bytes.fromhex(block["hash"][2:]),
                         int(block["timestamp"], 16), int(block["gasLimit"], 16),
                         int(block.get("baseFeePerGas") or "0x0", 16), self._system_contracts())

    def _system_contracts(self) -> dict[str, str]:
        """An Azora remote's system contracts (azora_nodeInfo); none for another chain."""
        try:
            return dict(self.request("azora_nodeInfo").get("contracts", {}))
        except ForkError:
            return {}


def _reason(exc: Exception | None) -> str:
    if isinstance(exc, requests.ConnectionError):
        return "connection refused or host unknown"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return str(exc)


# A forked dev chain never reaches an epoch boundary: its one validator is fixed for its life
# and no epoch rewards run (they would read the remote registry's set and blocks below the fork).
FORK_EPOCH_LENGTH = 2**62


def open_fork_chain(datadir: Path, source: JsonRpcStateSource, point: ForkPoint,
                    balances: dict[bytes, int]) -> Chain:
    """The local chain on top of ``point``: its base is the remote's block, its reads of state
    never written locally go to ``source`` (cached in the datadir's LevelDB)."""
    from node.service import DB_DIR

    datadir.mkdir(parents=True, exist_ok=True)
    db = LevelDB(datadir / DB_DIR)
    cached = CachedStateSource(source, db)
    schedule = forked_schedule(compute_fork_schedule({"chainId": point.chain_id}), cached, point.number)
    genesis = fork_genesis(point.chain_id, schedule, cached, number=point.number, timestamp=point.timestamp,
                           gas_limit=point.gas_limit, base_fee_per_gas=point.base_fee_per_gas,
                           balances=balances)
    chain = Chain(db, genesis)
    if point.system_contracts:
        chain.set_aux(SYSTEM_CONTRACTS, json.dumps(point.system_contracts).encode())
    return chain


def build_fork_dev_chain(backend: Backend, validator_key: bytes, block_time: float | None) -> DevChain:
    """The dev producer on a fork: the dev validator alone signs, whatever the remote's set.

    The signing domain names the remote's ValidatorRegistry when it has one (an Azora remote),
    the zero address otherwise; the set is recorded for the fork's base and its child so the
    consensus host never derives it from the remote's registry.
    """
    chain = backend.chain
    registry = chain.system_contracts.get("ValidatorRegistry")
    domain = SigningDomain(chain.chain_id, to_canonical_address(registry) if registry else b"\0" * 20)
    validator = Account.from_key(validator_key)
    dev_set = encode_validator_set(new_validator_set([(to_canonical_address(validator.address), 1)]))
    base = chain.genesis.header.get("block_number", 0)
    for height in (base, base + 1):
        chain.set_aux(make_validator_set_key(height), dev_set)
    local = LocalSigner(validator_key, domain)
    policy = DevPolicy(block_time)
    host = build_consensus_host(backend, signer=GuardedSigner(local, MemorySignRecordStore()), domain=domain,
                                validator_sets=ValidatorSetStore(chain, epoch_length=FORK_EPOCH_LENGTH),
                                timeouts=DEV_TIMEOUTS, policy=policy,
                                on_evidence=EvidenceReporter(backend, validator).report)

    def reset_signer() -> None:
        host.signer = GuardedSigner(local, MemorySignRecordStore())

    return DevChain(backend, host, policy, reset_signer)


def open_fork(url: str, number: int | None, datadir: Path, addresses: list[str], balance_wei: int) -> Chain:
    """``azora dev --fork-url``: reach the remote (ForkError if it cannot serve the fork), then
    open the forked chain with ``addresses`` funded locally."""
    stored = stored_fork_number(datadir)
    if number is not None and stored is not None and number != stored:
        raise ForkError(f"{datadir} holds a fork of block #{stored}, not #{number}: use another --datadir")
    source = JsonRpcStateSource(url)
    point = source.fork_point(stored if number is None else number)
    chain = open_fork_chain(datadir, source, point, {to_canonical_address(a): balance_wei for a in addresses})
    (datadir / FORK_FILE).write_text(json.dumps({"url": url, "number": point.number}))
    return chain


FORK_FILE = "fork.json"


def stored_fork_number(datadir: Path) -> int | None:
    """The block a datadir's fork was made at (a restart continues that fork, not the remote's
    new head)."""
    try:
        return int(json.loads((datadir / FORK_FILE).read_text())["number"])
    except FileNotFoundError:
        return None
