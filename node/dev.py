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
from eth.abc import BlockAPI
from eth_utils import to_checksum_address

from node.accounts import ManagedAccounts
from node.backend import Backend
from node.rpc.errors import invalid_params, server_error
from node.rpc.hexcodec import data, parse_address, parse_data, parse_quantity, quantity

logger = logging.getLogger("azora.dev")
MAX_TXS_PER_BLOCK = 5_000


@dataclass
class _Snapshot:
    head_number: int
    time_offset: int


class DevProducer:
    """Builds blocks from the pool on the node's only validator."""

    def __init__(self, backend: Backend, *, coinbase: bytes, block_time: float | None,
                 seal: Callable[[Any], dict[str, Any]] | None = None) -> None:
        self.backend = backend
        self.coinbase = coinbase
        self.block_time = block_time
        self.time_offset = 0
        self.next_timestamp: int | None = None
        self._seal = seal
        self._wake = trio.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._snapshots: dict[int, _Snapshot] = {}
        self._lock = threading.Lock()
        backend.on_tx_added.append(self._on_tx_added)

    # -- the loop --------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self._token = trio.lowlevel.current_trio_token()
        task_status.started()
        next_block_at = trio.current_time() + (self.block_time or 0)
        while True:
            if self.block_time:
                # A fixed cadence: the time spent building counts towards the period, so a
                # loaded chain still makes a block every block_time seconds (not period + build).
                await trio.sleep_until(next_block_at)
                await trio.to_thread.run_sync(self.mine_pending, True)
                next_block_at = max(next_block_at + self.block_time, trio.current_time())
            else:
                await self._wake.wait()
                self._wake = trio.Event()
                while self.backend.pool.pending_count:
                    if not await trio.to_thread.run_sync(self.mine_pending, False):
                        break

    def _on_tx_added(self, _tx: Any) -> None:
        if self._token is None or self.block_time:
            return
        try:
            trio.from_thread.run_sync(self._wake.set, trio_token=self._token)
        except RuntimeError:  # already on the loop thread
            self._wake.set()

    # -- mining ----------------------------------------------------------------------------

    def mine_pending(self, allow_empty: bool, timestamp: int | None = None) -> BlockAPI | None:
        """Build one block from the pool (thread-safe); None if there was nothing to mine."""
        with self._lock:
            chain, pool = self.backend.chain, self.backend.pool
            base_fee = self.backend.next_base_fee()
            transactions = pool.select(base_fee, MAX_TXS_PER_BLOCK)
            if not transactions and not allow_empty:
                return None
            result = chain.build_block(transactions, timestamp=self._timestamp(timestamp),
                                       coinbase=self.coinbase, **(self._seal(chain.head) if self._seal else {}))
            senders = {tx.sender for tx in transactions}
            pool.on_new_head(senders, _Accounts(chain), [tx for tx, _ in result.rejected])
            for tx, reason in result.rejected:
                logger.warning("dropped 0x%s: %s", tx.hash.hex(), reason)
        block = result.block
        logger.info("block #%d 0x%s txs=%d", block.number, block.hash.hex()[:12], len(block.transactions))
        for hook in self.backend.on_new_block:
            hook(block)
        return block

    def _timestamp(self, explicit: int | None) -> int:
        parent = self.backend.chain.head.timestamp
        if explicit is not None:
            chosen = explicit
        elif self.next_timestamp is not None:
            chosen, self.next_timestamp = self.next_timestamp, None
        else:
            chosen = int(time.time()) + self.time_offset
        return max(chosen, parent + 1)

    # -- snapshots -------------------------------------------------------------------------

    def snapshot(self) -> int:
        snapshot_id = len(self._snapshots) + 1
        self._snapshots[snapshot_id] = _Snapshot(self.backend.chain.head.block_number, self.time_offset)
        return snapshot_id

    def revert(self, snapshot_id: int) -> bool:
        snapshot = self._snapshots.get(snapshot_id)
        if snapshot is None:
            return False
        with self._lock:
            self.backend.chain.rewind_to(snapshot.head_number)
            self.backend.pool.reset()
            self.time_offset = snapshot.time_offset
        # A revert consumes the snapshot and every later one, as in ganache/hardhat/anvil.
        for later in [i for i in self._snapshots if i >= snapshot_id]:
            del self._snapshots[later]
        return True


class _Accounts:
    def __init__(self, chain: Any) -> None:
        self._state = chain.state_at(chain.head)

    def get_nonce(self, address: bytes) -> int:
        return self._state.get_nonce(address)

    def get_balance(self, address: bytes) -> int:
        return self._state.get_balance(address)


class EvmAPI:
    """Dev-only ``evm_`` methods (hardhat/anvil names)."""

    def __init__(self, producer: DevProducer) -> None:
        self._p = producer

    def mine(self, options: Any = None) -> str:
        blocks, timestamp = 1, None
        if isinstance(options, dict):
            blocks = parse_quantity(options["blocks"], "blocks") if "blocks" in options else 1
            timestamp = parse_quantity(options["timestamp"], "timestamp") if "timestamp" in options else None
        elif options is not None:
            timestamp = parse_quantity(options, "timestamp") if isinstance(options, str) else int(options)
        for _ in range(max(1, blocks)):
            self._p.mine_pending(True, timestamp)
            timestamp = None
        return "0x0"

    def snapshot(self) -> str:
        return quantity(self._p.snapshot())

    def revert(self, snapshot_id: Any) -> bool:
        return self._p.revert(parse_quantity(snapshot_id, "snapshot id"))

    def increaseTime(self, seconds: Any) -> str:
        amount = int(seconds) if isinstance(seconds, int) else parse_quantity(seconds, "seconds")
        self._p.time_offset += amount
        return quantity(self._p.time_offset)

    def setNextBlockTimestamp(self, timestamp: Any) -> None:
        value = int(timestamp) if isinstance(timestamp, int) else parse_quantity(timestamp, "timestamp")
        if value <= self._p.backend.chain.head.timestamp:
            raise server_error(f"timestamp {value} is not after the head's "
                               f"{self._p.backend.chain.head.timestamp}")
        self._p.next_timestamp = value


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
        if isinstance(typed, str):
            typed = json.loads(typed)
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
