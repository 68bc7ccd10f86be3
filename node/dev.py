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
from eth.abc import BlockAPI, StateAPI
from eth_typing import Address
from eth_utils import to_checksum_address

from kernel.chain import Observer
from node.accounts import ManagedAccounts
from node.backend import Backend
from node.dev_log import TransactionLog
from node.services.block_production import BlockOverrides
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
# The longest an automined send's answer waits for its block (a block normally takes
# milliseconds; a stalled producer must not hold the client's request forever).
AUTOMINED_ANSWER_TIMEOUT = 30.0


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
    """When a dev chain makes blocks: as soon as transactions wait (automine), every
    ``block_time`` seconds (interval mining), or only when asked (``evm_mine``, with an optional
    timestamp); and what the dev helpers change in the block of a height (:meth:`overrides`)."""

    def __init__(self, block_time: float | None) -> None:
        self.block_time = block_time
        self.automine = True
        self.time_offset = 0
        self.next_timestamp: int | None = None
        self.forced: list[int | None] = []       # timestamps of blocks evm_mine asked for
        self.coinbase: bytes | None = None       # anvil_setCoinbase; None: the validator
        self.next_base_fee: int | None = None    # anvil_setNextBlockBaseFeePerGas, one block
        # State edits (anvil_setBalance, ...) by the height whose block applies them; heights
        # built for edits alone leave the pool's transactions for the next block.
        self._edits: dict[int, list[Callable[[StateAPI], None]]] = {}
        self._edit_only: set[int] = set()
        self._wake = trio.Event()
        # Interval mining's next tick, on trio's clock and on the wall clock: an interval
        # block is stamped with the time its tick was due (as a post-merge Ethereum slot is),
        # so the next block's timestamp is known before its tick (``planned_timestamp``).
        self._next_block_at: float | None = None
        self._next_block_wall = 0.0
        self._tick_wall: float | None = None     # the due time of the tick being built
        self.observe: Observer | None = None     # the transaction log's, while it prints

    def wake(self) -> None:
        self._wake.set()

    def is_awake(self) -> bool:
        return self._wake.is_set()

    def set_block_time(self, block_time: float | None) -> None:
        """Interval mining on (seconds) or off (None); the next block comes a full period later."""
        self.block_time = block_time
        self._next_block_at = None
        self._tick_wall = None

    async def wait_for_next_height(self, backend: Backend) -> None:
        while not self.forced:
            if self.block_time:
                now = trio.current_time()
                if self._next_block_at is None:
                    self._next_block_at = now + self.block_time
                    self._next_block_wall = time.time() + self.block_time
                if now >= self._next_block_at:
                    self._tick_wall = self._next_block_wall
                    # A fixed cadence: building time counts towards the period (a tick
                    # more than a period late starts the next one now).
                    if self._next_block_at + self.block_time >= now:
                        self._next_block_at += self.block_time
                        self._next_block_wall += self.block_time
                    else:
                        self._next_block_at, self._next_block_wall = now, time.time()
                    break
                with trio.move_on_at(self._next_block_at):
                    await self._wait()
            elif self.automine and backend.pool.pending_count:
                break
            else:
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
            now = self._tick_wall if self._tick_wall is not None else time.time()
            chosen = int(now) + self.time_offset
        self._tick_wall = None
        return max(chosen, parent_timestamp + 1)

    def planned_timestamp(self, parent_timestamp: int) -> int | None:
        """The timestamp :meth:`timestamp` will give the next interval block, if the next
        height is the next tick's; None if it is not known (no interval mining, a block asked
        for, a timestamp chosen)."""
        if not self.block_time or self.forced or self.next_timestamp is not None:
            return None
        if self._next_block_at is None:    # the cadence starts now (``wait_for_next_height``)
            self._next_block_at = trio.current_time() + self.block_time
            self._next_block_wall = time.time() + self.block_time
        return max(int(self._next_block_wall) + self.time_offset, parent_timestamp + 1)

    def observer(self) -> Observer | None:
        return self.observe

    def add_edit(self, height: int, edit: Callable[[StateAPI], None], *, edit_only: bool) -> None:
        self._edits.setdefault(height, []).append(edit)
        if edit_only:
            self._edit_only.add(height)

    def overrides(self, height: int) -> BlockOverrides:
        edits = tuple(self._edits.get(height, ()))

        def edit_state(state: StateAPI) -> None:
            for edit in edits:
                edit(state)
        return BlockOverrides(coinbase=self.coinbase, base_fee_per_gas=self.next_base_fee,
                              edit_state=edit_state if edits else None,
                              include_transactions=height not in self._edit_only)

    def block_committed(self, height: int) -> None:
        """A block is in: its edits and the one-block base fee are spent."""
        for done in [h for h in self._edits if h <= height]:
            del self._edits[done]
        self._edit_only = {h for h in self._edit_only if h > height}
        self.next_base_fee = None

    def forget_edits(self) -> None:
        self._edits.clear()
        self._edit_only.clear()
        self.next_base_fee = None


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
        # One state edit at a time: each waits for the block that applies it.
        self._edit_lock = threading.Lock()
        self.impersonated = Impersonations()
        self.base_number = int(backend.chain.genesis.header.get("block_number", 0))   # a fork's base
        # Set (and replaced) on the event loop when a block is in or automine is switched.
        self._mined = trio.Event()
        backend.on_tx_added.append(self._on_tx_added)
        backend.on_new_block.append(self._on_new_block)
        transaction_log = TransactionLog(backend.view)
        policy.observe = transaction_log.observe
        backend.on_new_block.append(transaction_log)

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
        if self._token is not None and self.policy.automine and not self.policy.block_time \
                and not self.policy.is_awake():
            self._token.run_sync_soon(self.policy.wake)

    def _on_new_block(self, block: BlockAPI) -> None:
        self.policy.block_committed(block.number)
        self.backend.next_base_fee_override = None
        self._release_answers()

    def _release_answers(self) -> None:
        """From any thread: the answers waiting in :meth:`settle_sent` look at the pool again."""
        if self._token is not None:
            self._token.run_sync_soon(self._tell_mined)

    def _tell_mined(self) -> None:
        self._mined.set()
        self._mined = trio.Event()

    async def settle_sent(self, sent: list[bytes]) -> None:
        """``Dispatcher.after_sending``: with automine on, a request that sent transactions
        is answered once they are mined (or have left the pool), as Hardhat's and anvil's
        are. A client's first receipt poll then finds the receipt (web3.py's
        ``wait_for_transaction_receipt`` otherwise slept 0.1 s before its second: 93 ms a
        transaction against Hardhat's 21), and what it reads next includes them. One behind a
        nonce gap is not waited for; nor is anything once automine is off.

        Unless other senders' transactions wait in the pool too: then the chain is loaded
        (concurrent senders), and the answer comes at once, as geth's does, so that their
        transactions share blocks. Each waiting for a block of its own, four clients sending one
        transfer per request got 175 a second instead of 450."""
        if not self.policy.automine or self.policy.block_time:
            return
        pool = self.backend.pool
        senders = {tx.sender for tx in map(pool.get, sent) if tx is not None}
        if pool.pending_count_besides(senders):
            return
        with trio.move_on_after(AUTOMINED_ANSWER_TIMEOUT):
            while self.policy.automine and not self.policy.block_time:
                mined = self._mined      # taken before the pool is read: no block slips between
                if not any(pool.is_pending(tx_hash) for tx_hash in sent):
                    return
                await mined.wait()

    def _wake(self) -> None:
        if self._token is not None:
            self._token.run_sync_soon(self.policy.wake)

    # -- dev controls, called from RPC worker threads -----------------------------------------

    def mine(self, count: int, timestamp: int | None = None, interval: int | None = None) -> None:
        """Make ``count`` blocks now (empty if the pool is), the first at ``timestamp``, each
        ``interval`` seconds after the one before (when given)."""
        if interval is not None:
            head = self.backend.chain.head
            first = timestamp if timestamp is not None else self.policy.timestamp(head.timestamp)
            timestamps: list[int | None] = [first + index * interval for index in range(count)]
        else:
            timestamps = [timestamp] + [None] * (count - 1)

        async def mine_async() -> None:
            target = self.backend.chain.head.block_number + count
            self.policy.forced.extend(timestamps)
            self.policy.wake()
            await self.host.wait_for_height(target)
        trio.from_thread.run(mine_async, trio_token=self._token)

    def edit_state(self, edit: Callable[[StateAPI], None], touched: tuple[bytes, ...] = ()) -> None:
        """Apply ``edit`` to the state in a block of its own, committed before this returns:
        ``latest`` shows it at once and a restart keeps it (anvil edits its pending state
        without a block). The pool re-reads the ``touched`` accounts (a nonce set lower)."""
        with self._edit_lock:
            height: list[int] = []

            def queue() -> None:
                height.append(self.backend.chain.head.block_number + 1)
                self.policy.add_edit(height[0], edit, edit_only=True)

            async def edit_async() -> None:
                await self.host.exclusive(queue)
                self.policy.forced.append(None)
                self.policy.wake()
                await self.host.wait_for_height(height[0])
            trio.from_thread.run(edit_async, trio_token=self._token)
            self.backend.pool.on_new_head([Address(a) for a in touched], self.backend.head_accounts())

    def set_automine(self, enabled: bool) -> None:
        self.policy.automine = enabled
        self._wake()
        self._release_answers()   # answers waiting for automine go

    def set_interval_mining(self, seconds: float | None) -> None:
        self.policy.set_block_time(seconds)
        self._wake()
        self._release_answers()

    def set_next_base_fee(self, base_fee: int) -> None:
        self.policy.next_base_fee = base_fee
        self.backend.next_base_fee_override = base_fee

    def drop_transaction(self, tx_hash: bytes) -> bool:
        return self.backend.pool.drop(tx_hash)

    def reset(self) -> None:
        """Back to the chain's first block (genesis, or a fork's base): blocks, pool,
        snapshots, impersonations, the clock and the pending overrides."""
        with self._snapshots_lock:
            self._rewind(_Snapshot(self.base_number, 0))
            self._snapshots.clear()
        self.impersonated.clear()
        self.policy.forget_edits()
        self.policy.coinbase = None
        self.backend.next_base_fee_override = None

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
            for hook in self.backend.on_rewind:
                hook()
            self.backend.chain.rewind_to(snapshot.head_number)
            self.host.validator_sets.forget_above(snapshot.head_number)
            self.backend.pool.reset()
            self.policy.time_offset = snapshot.time_offset
            # The lone dev validator signs the rewound heights again: a fresh record, as a
            # dev chain's key guards nothing (a network validator's record is never reset).
            self._reset_signer()
        trio.from_thread.run(self.host.exclusive, rewind, trio_token=self._token)


class Impersonations:
    """Addresses whose transactions the dev chain accepts unsigned (anvil_impersonateAccount)."""

    def __init__(self) -> None:
        self._addresses: set[bytes] = set()
        self._lock = threading.Lock()
        self.every_address = False      # anvil_autoImpersonateAccount

    def add(self, address: bytes) -> None:
        with self._lock:
            self._addresses.add(address)

    def remove(self, address: bytes) -> None:
        with self._lock:
            self._addresses.discard(address)

    def clear(self) -> None:
        with self._lock:
            self._addresses.clear()
        self.every_address = False

    def __contains__(self, address: object) -> bool:
        with self._lock:
            return self.every_address or address in self._addresses


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

    def setAutomine(self, enabled: Any) -> None:
        if not isinstance(enabled, bool):
            raise invalid_params("invalid argument 0: automine must be true or false")
        self._p.set_automine(enabled)

    def setIntervalMining(self, milliseconds: Any) -> None:
        """Hardhat's unit, milliseconds (anvil_setIntervalMining takes seconds); 0 stops it."""
        if isinstance(milliseconds, bool) or not isinstance(milliseconds, (int, str)):
            raise invalid_params("invalid argument 0: interval must be a number of milliseconds")
        interval = milliseconds if isinstance(milliseconds, int) else parse_quantity(milliseconds, "interval")
        if interval < 0:
            raise invalid_params("invalid argument 0: interval must not be negative")
        self._p.set_interval_mining(interval / 1000 or None)

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

    def __init__(self, backend: Backend, accounts: ManagedAccounts,
                 impersonated: "Impersonations | None" = None) -> None:
        self._b = backend
        self._accounts = accounts
        self._impersonated = impersonated

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
        sender = parse_address(tx.get("from"), "from") if isinstance(tx, dict) and "from" in tx else None
        if sender is not None and self._impersonated is not None and sender in self._impersonated \
                and self._accounts.get(sender) is None:
            return self._send_impersonated(sender, tx)
        account = self._account(tx.get("from") if isinstance(tx, dict) else None)
        signed = account.sign_transaction(self._fill(tx))
        decoded = self._b.decode_transaction(bytes(signed.raw_transaction))
        return data(self._b.submit(decoded, len(signed.raw_transaction)))

    def _send_impersonated(self, sender: bytes, tx: dict[str, Any]) -> str:
        from node.dev_helpers import impersonated_transaction
        head = self._b.chain.head
        builder = self._b.chain.vm_class_for(head.block_number + 1, head.timestamp + 1).get_transaction_builder()
        unsigned = impersonated_transaction(builder, self._fill(tx), sender)
        return data(self._b.submit(unsigned, len(unsigned.encode())))

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
