"""``azora dev``'s single-validator block producer and its dev-only RPC methods.

Blocks come as soon as transactions arrive (automine) or every ``block_time`` seconds; the
clock can be moved forward (``evm_increaseTime``) and the chain rewound (``evm_revert``).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import trio
from eth_utils import to_checksum_address

from node.accounts import ManagedAccounts
from node.backend import Backend
from node.services.consensus_host import ConsensusHost
from node.rpc.errors import invalid_params, server_error
from node.rpc.hexcodec import data, parse_address, parse_data, parse_quantity, quantity

logger = logging.getLogger("azora.dev")


@dataclass
class _Snapshot:
    head_number: int
    time_offset: int


# A header's timestamp is a uint64 and the EVM's TIMESTAMP must fit it: a dev clock moved past
# it would make blocks no node can build on.
MAX_TIMESTAMP = 2**64 - 1
MAX_MINED_BLOCKS = 100_000      # one evm_mine call; a larger request is a typo, not a test


def parse_timestamp(value: Any, name: str = "timestamp") -> int:
    """Seconds as a JSON number or a hex quantity, within a block timestamp's 64 bits."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise invalid_params(f"invalid argument 0: {name} must be a number or a hex quantity")
    if isinstance(value, int):
        if not 0 <= value <= MAX_TIMESTAMP:
            raise invalid_params(f"invalid argument 0: {name}: number out of range (0 to 2**64-1)")
        return value
    return parse_quantity(value, name, bits=64)


class DevPolicy:
    """When a dev chain makes blocks: as soon as transactions wait (automine), or every
    ``block_time`` seconds; ``evm_mine`` forces one, with an optional timestamp."""

    def __init__(self, block_time: float | None) -> None:
        self.block_time = block_time
        self.time_offset = 0
        self.next_timestamp: int | None = None
        self.forced: list[int | None] = []       # timestamps of blocks evm_mine asked for
        self._wake = trio.Event()
        self._next_block_at: float | None = None

    def wake(self) -> None:
        self._wake.set()

    def is_awake(self) -> bool:
        return self._wake.is_set()

    async def wait_for_next_height(self, backend: Backend) -> None:
        if self.block_time:
            if self._next_block_at is None:
                self._next_block_at = trio.current_time() + self.block_time
            # A fixed cadence: building time counts towards the period.
            with trio.move_on_at(self._next_block_at):
                while not self.forced:
                    await self._wait()
            if not self.forced:
                self._next_block_at = max(self._next_block_at + self.block_time, trio.current_time())
        else:
            while not self.forced and not backend.pool.pending_count:
                await self._wait()
        if self.forced:
            explicit = self.forced.pop(0)
            if explicit is not None:
                self.next_timestamp = explicit

    async def _wait(self) -> None:
        await self._wake.wait()
        self._wake = trio.Event()

    def timestamp(self, parent_timestamp: int) -> int:
        if self.next_timestamp is not None:
            chosen, self.next_timestamp = self.next_timestamp, None
            # the clock goes on from the chosen time (Hardhat's and anvil's rule), so a later
            # evm_increaseTime counts from there instead of vanishing behind it
            self.time_offset = chosen - int(time.time())
        else:
            chosen = int(time.time()) + self.time_offset
        return max(chosen, parent_timestamp + 1)


class DevChain:
    """``azora dev``: the consensus engine with the node's only validator, plus dev controls."""

    def __init__(self, backend: Backend, host: ConsensusHost, policy: DevPolicy,
                 reset_signer: Callable[[], None]) -> None:
        self.backend = backend
        self.host = host
        self.policy = policy
        self._reset_signer = reset_signer
        self._token: trio.lowlevel.TrioToken | None = None
        self._snapshots: dict[int, _Snapshot] = {}
        # RPC worker threads take and revert snapshots concurrently: one at a time, so no two
        # snapshots share an id and a snapshot is consumed by exactly one revert.
        self._snapshots_lock = threading.Lock()
        backend.on_tx_added.append(self._on_tx_added)

    async def run(
        self, *,
        # trio-typing's stubs (installed with libp2p) shadow trio's own types and predate TaskStatus.
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,  # type: ignore[name-defined]
    ) -> None:
        self._token = trio.lowlevel.current_trio_token()
        await self.host.run(task_status=task_status)

    def _on_tx_added(self, _tx: Any) -> None:
        # Only automine waits for transactions; an interval chain takes what the pool holds.
        # The wake-up is queued without waiting for the loop (an RPC thread blocked on it
        # per transaction stalled admission), and only once per burst (reading is_set() from
        # a thread is safe).
        if self._token is not None and not self.policy.block_time and not self.policy.is_awake():
            self._token.run_sync_soon(self.policy.wake)

    # -- dev controls, called from RPC worker threads -----------------------------------------

    def mine(self, count: int, timestamp: int | None = None) -> None:
        """Make ``count`` blocks now (empty if the pool is), the first at ``timestamp``."""
        async def mine_async() -> None:
            target = self.backend.chain.head.block_number + count
            for index in range(count):
                self.policy.forced.append(timestamp if index == 0 else None)
            self.policy.wake()
            await self.host.wait_for_height(target)
        trio.from_thread.run(mine_async, trio_token=self._token)

    def snapshot(self) -> int:
        with self._snapshots_lock:
            snapshot_id = max(self._snapshots, default=0) + 1
            self._snapshots[snapshot_id] = _Snapshot(self.backend.chain.head.block_number, self.policy.time_offset)
            return snapshot_id

    def revert(self, snapshot_id: int) -> bool:
        with self._snapshots_lock:
            snapshot = self._snapshots.get(snapshot_id)
            if snapshot is None:
                return False
            self._rewind(snapshot)
            # A revert consumes the snapshot and every later one, as in ganache/hardhat/anvil.
            for later in [i for i in self._snapshots if i >= snapshot_id]:
                del self._snapshots[later]
            return True

    def _rewind(self, snapshot: _Snapshot) -> None:
        def rewind() -> None:
            self.backend.chain.rewind_to(snapshot.head_number)
            self.host.validator_sets.forget_above(snapshot.head_number)
            self.backend.pool.reset()
            self.policy.time_offset = snapshot.time_offset
            # The lone dev validator signs the rewound heights again: a fresh record, as a
            # dev chain's key guards nothing (a network validator's record is never reset).
            self._reset_signer()
        trio.from_thread.run(self.host.exclusive, rewind, trio_token=self._token)


class EvmAPI:
    """Dev-only ``evm_`` methods (hardhat/anvil names)."""

    def __init__(self, dev: DevChain) -> None:
        self._p = dev

    def mine(self, options: Any = None) -> str:
        blocks, timestamp = 1, None
        if isinstance(options, dict):
            blocks = parse_quantity(options["blocks"], "blocks", bits=64) if "blocks" in options else 1
            timestamp = parse_timestamp(options["timestamp"]) if "timestamp" in options else None
        elif options is not None:
            timestamp = parse_timestamp(options)
        if blocks > MAX_MINED_BLOCKS:
            raise invalid_params(f"invalid argument 0: blocks: at most {MAX_MINED_BLOCKS} per call")
        self._p.mine(max(1, blocks), timestamp)
        return "0x0"

    def snapshot(self) -> str:
        return quantity(self._p.snapshot())

    def revert(self, snapshot_id: Any) -> bool:
        return self._p.revert(parse_quantity(snapshot_id, "snapshot id"))

    def increaseTime(self, seconds: Any) -> str:
        amount = parse_timestamp(seconds, "seconds")
        if int(time.time()) + self._p.policy.time_offset + amount > MAX_TIMESTAMP:
            raise invalid_params(f"invalid argument 0: seconds: the clock would pass the largest block "
                                 f"timestamp ({MAX_TIMESTAMP})")
        self._p.policy.time_offset += amount
        return quantity(self._p.policy.time_offset)

    def setNextBlockTimestamp(self, timestamp: Any) -> None:
        value = parse_timestamp(timestamp)
        if value <= self._p.backend.chain.head.timestamp:
            raise server_error(f"timestamp {value} is not after the head's "
                               f"{self._p.backend.chain.head.timestamp}")
        self._p.policy.next_timestamp = value


class DevSigningAPI:
    """eth_sendTransaction, eth_sign, eth_signTransaction, eth_signTypedData_v4 for the
    node's managed accounts (and personal_sign via :class:`PersonalAPI`)."""

    def __init__(self, backend: Backend, accounts: ManagedAccounts) -> None:
        self._b = backend
        self._accounts = accounts

    def _account(self, address: Any) -> Any:
        account = self._accounts.get(parse_address(address, "from"))
        if account is None:
            raise server_error("unknown account")
        return account

    def _fill(self, tx: Any) -> dict[str, Any]:
        if not isinstance(tx, dict) or "from" not in tx:
            raise invalid_params("invalid argument 0: transaction object with from expected")
        sender = parse_address(tx["from"], "from")
        out: dict[str, Any] = {"chainId": self._b.chain.chain_id}
        if tx.get("to"):
            out["to"] = to_checksum_address(parse_address(tx["to"], "to"))
        raw_data = tx.get("input", tx.get("data"))
        out["data"] = "0x" + (parse_data(raw_data, "input").hex() if raw_data else "")
        out["value"] = parse_quantity(tx["value"], "value") if tx.get("value") else 0
        out["nonce"] = parse_quantity(tx["nonce"], "nonce") if tx.get("nonce") else self._b.pending_nonce(sender)
        base_fee = self._b.next_base_fee()
        if tx.get("gasPrice") is not None:
            out["gasPrice"] = parse_quantity(tx["gasPrice"], "gasPrice")
        else:
            tip = parse_quantity(tx["maxPriorityFeePerGas"]) if tx.get("maxPriorityFeePerGas") else 10**9
            out["maxPriorityFeePerGas"] = tip
            out["maxFeePerGas"] = parse_quantity(tx["maxFeePerGas"]) if tx.get("maxFeePerGas") else 2 * base_fee + tip
            out["type"] = 2
        if tx.get("accessList"):
            out["accessList"] = tx["accessList"]
        if tx.get("gas"):
            out["gas"] = parse_quantity(tx["gas"], "gas")
        else:
            from node.execution import CallArgs
            call = {k: v for k, v in tx.items() if k not in ("gas",)}
            call["nonce"] = hex(out["nonce"])
            out["gas"] = self._b.executor.estimate_gas(self._b.chain.head, CallArgs.parse(call))
        return out

    def sendTransaction(self, tx: Any) -> str:
        account = self._account(tx.get("from") if isinstance(tx, dict) else None)
        signed = account.sign_transaction(self._fill(tx))
        decoded = self._b.decode_transaction(bytes(signed.raw_transaction))
        return data(self._b.submit(decoded, len(signed.raw_transaction)))

    def signTransaction(self, tx: Any) -> dict[str, Any]:
        account = self._account(tx.get("from") if isinstance(tx, dict) else None)
        signed = account.sign_transaction(self._fill(tx))
        from node.rpc.format import format_transaction
        decoded = self._b.decode_transaction(bytes(signed.raw_transaction))
        return {"raw": data(bytes(signed.raw_transaction)),
                "tx": format_transaction(decoded, decoded.sender, None, None)}

    def sign(self, address: Any, message: Any) -> str:
        return data(ManagedAccounts.sign_message(self._account(address), parse_data(message, "message")))

    def signTypedData_v4(self, address: Any, typed: Any) -> str:
        import json
        from node.rpc.typed_data import check_typed_data
        if isinstance(typed, str):
            typed = json.loads(typed)
        check_typed_data(typed)
        return data(ManagedAccounts.sign_typed_data(self._account(address), typed))

    def signTypedData(self, address: Any, typed: Any) -> str:
        return self.signTypedData_v4(address, typed)


class PersonalAPI:
    def __init__(self, signing: DevSigningAPI) -> None:
        self._s = signing

    def sign(self, message: Any, address: Any, password: Any = None) -> str:
        return self._s.sign(address, message)

    def listAccounts(self) -> list[str]:
        return [a.address.lower() for a in self._s._accounts.all()]
