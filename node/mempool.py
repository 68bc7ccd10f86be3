"""The transaction pool: per-sender nonce queues, replacement, limits and geth's rejections.

pending = executable now (contiguous nonces from the account's nonce); queued = gapped, waiting
for the missing nonces. Blocks take pending transactions by effective tip, nonce order kept
per sender.
"""
from __future__ import annotations

import heapq
import threading
from dataclasses import dataclass
from enum import Enum
from typing import Callable, ClassVar, Collection, Iterable, Iterator, Mapping, Protocol

from eth.abc import SignedTransactionAPI
from eth_typing import Address
from eth_utils.exceptions import ValidationError

MAX_TX_SIZE = 128 * 1024          # geth's txMaxSize
BLOB_TX_TYPE = 3
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class Fault(Enum):
    """Whose fault a rejection is, as a relay sees it."""

    INVALID = "invalid"       # no honest node would relay it: broken, or for another chain
    IGNORABLE = "ignorable"   # fine in itself, unwanted here and now (known, stale, pool full...)


class TxRejected(Exception):
    """A transaction the pool (or the decoder before it) refused; ``str()`` is geth's message,
    answered byte for byte over JSON-RPC."""

    fault: ClassVar[Fault]


class InvalidTransaction(TxRejected):
    """The transaction can never be valid: bad encoding or signature, another chain, oversized,
    below its intrinsic gas, a fee cap below its tip."""

    fault = Fault.INVALID


class MalformedTransaction(InvalidTransaction):
    """The raw bytes do not decode as a transaction (JSON-RPC answers -32602 for these)."""


class UnwantedTransaction(TxRejected):
    """A transaction valid in itself that this pool does not take now: already known, nonce
    too low, underpriced replacement, pool full, unfunded at this head, unsupported type."""

    fault = Fault.IGNORABLE


class AccountReader(Protocol):
    def get_nonce(self, address: Address) -> int: ...
    def get_balance(self, address: Address) -> int: ...


@dataclass(frozen=True)
class PoolLimits:
    max_pending: int = 20_000
    max_queued: int = 4_096
    max_per_sender: int = 1_024
    price_bump_percent: int = 10
    block_gas_limit: int = 30_000_000
    accepts_blobs: bool = False     # a chain with a blob network (a geth genesis with blobSchedule)
    # anvil's rule for a dev chain: a fee cap below the next block's base fee is refused at
    # once, since automine would otherwise make empty blocks waiting for it. A network keeps
    # such a transaction (geth's rule) until the base fee falls to it or it is replaced.
    refuse_below_base_fee: bool = False


def fee_cap(tx: SignedTransactionAPI) -> int:
    return tx.max_fee_per_gas


def tip_cap(tx: SignedTransactionAPI) -> int:
    return tx.max_priority_fee_per_gas


def effective_tip(tx: SignedTransactionAPI, base_fee: int) -> int:
    return min(tx.max_priority_fee_per_gas, tx.max_fee_per_gas - base_fee)


class TxPool:
    """Thread-safe: the RPC server adds from worker threads while the producer takes."""

    def __init__(self, chain_id: int, limits: PoolLimits = PoolLimits()) -> None:
        self.chain_id = chain_id
        self.limits = limits
        self._lock = threading.RLock()
        self._pending: dict[bytes, dict[int, SignedTransactionAPI]] = {}
        self._queued: dict[bytes, dict[int, SignedTransactionAPI]] = {}
        self._by_hash: dict[bytes, SignedTransactionAPI] = {}
        # Per sender, the highest account nonce seen (from a reader or a new head).
        self._base: dict[bytes, int] = {}
        self._listeners: list[Callable[[SignedTransactionAPI], None]] = []

    # -- admission -------------------------------------------------------------------------

    def add(self, tx: SignedTransactionAPI, accounts: AccountReader, *, encoded_size: int,
            base_fee: int = 0) -> bytes:
        """Validate and admit ``tx``; returns its hash or raises :class:`TxRejected`.

        ``base_fee`` is the next block's: the one ``tx`` would pay if included now.
        """
        sender = self.validate_static(tx, encoded_size)
        if self.limits.refuse_below_base_fee and fee_cap(tx) < base_fee:
            raise UnwantedTransaction(
                f"max fee per gas less than block base fee: address 0x{sender.hex()}, "
                f"maxFeePerGas: {fee_cap(tx)}, baseFee: {base_fee}")
        # State reads stay outside the lock: eight RPC threads must not queue behind LevelDB.
        # A head that moves meanwhile is caught by on_new_head, which drops what went stale.
        read_nonce = accounts.get_nonce(sender)
        balance = accounts.get_balance(sender)
        with self._lock:
            # The reader may predate a block the pool has already heard of: never go back.
            state_nonce = max(read_nonce, self._base.get(sender, 0))
            self._base[sender] = state_nonce
            if tx.hash in self._by_hash:
                raise UnwantedTransaction("already known")
            if tx.nonce < state_nonce:
                raise UnwantedTransaction(f"nonce too low: address 0x{sender.hex()}, tx: {tx.nonce} state: {state_nonce}")
            cost = tx.gas * fee_cap(tx) + tx.value
            if balance < cost:
                raise UnwantedTransaction(
                    f"insufficient funds for gas * price + value: address 0x{sender.hex()} "
                    f"have {balance} want {cost}")
            self._insert(sender, tx, state_nonce)
        for listener in self._listeners:
            listener(tx)
        return tx.hash

    def validate_static(self, tx: SignedTransactionAPI, encoded_size: int) -> Address:
        """Checks that need no state; returns the recovered sender."""
        if getattr(tx, "type_id", None) == BLOB_TX_TYPE and not self.limits.accepts_blobs:
            # Unwanted, not invalid: chains with a blob network carry these.
            raise UnwantedTransaction("transaction type not supported: blob transactions need a blob network")
        if encoded_size > MAX_TX_SIZE:
            raise InvalidTransaction(f"oversized data: transaction size {encoded_size}, limit {MAX_TX_SIZE}")
        tx_chain_id = getattr(tx, "chain_id", None)
        if tx_chain_id is not None and tx_chain_id != self.chain_id:
            raise InvalidTransaction(f"invalid chain id for signer: have {tx_chain_id} want {self.chain_id}")
        if tx.gas > self.limits.block_gas_limit:
            # Unwanted, not invalid: the limit moves with every head.
            raise UnwantedTransaction("exceeds block gas limit")
        if tx.max_priority_fee_per_gas > tx.max_fee_per_gas:
            raise InvalidTransaction("max priority fee per gas higher than max fee per gas")
        try:
            if not 0 < tx.r < SECP256K1_N or not 0 < tx.s <= SECP256K1_N // 2:
                # EIP-2: high-s signatures are malleable copies; geth refuses them as senders.
                raise ValueError("invalid transaction v, r, s values")
            tx.validate()
            sender = tx.sender
        except (ValidationError, ValueError, Exception) as exc:
            raise InvalidTransaction(f"invalid sender: {exc}") from None
        if tx.gas < tx.intrinsic_gas:
            raise InvalidTransaction(f"intrinsic gas too low: have {tx.gas}, want {tx.intrinsic_gas}")
        return sender

    def _insert(self, sender: bytes, tx: SignedTransactionAPI, state_nonce: int) -> None:
        pending = self._pending.setdefault(sender, {})
        queued = self._queued.setdefault(sender, {})
        existing = pending.get(tx.nonce) or queued.get(tx.nonce)
        if existing is not None:
            self._check_replacement(existing, tx)
        elif len(pending) + len(queued) >= self.limits.max_per_sender:
            raise UnwantedTransaction("txpool is full: too many transactions from this account")
        elif len(self._by_hash) >= self.limits.max_pending + self.limits.max_queued:
            self._evict_cheapest_for(tx)
        if existing is not None:
            del self._by_hash[existing.hash]
        self._by_hash[tx.hash] = tx
        # pending is contiguous from the nonce it was last based on; if that is no longer the
        # account's nonce (a block landed and on_new_head has not run yet), re-sort everything.
        if pending and (state_nonce - 1 in pending or state_nonce not in pending):
            pending.pop(tx.nonce, None)
            queued[tx.nonce] = tx
            self._rebalance(sender, state_nonce)
        elif tx.nonce in pending or tx.nonce == state_nonce + len(pending):
            pending[tx.nonce] = tx
            self._promote(sender, state_nonce + len(pending))
        else:
            queued[tx.nonce] = tx

    def _promote(self, sender: bytes, next_nonce: int) -> None:
        """Move queued transactions that became contiguous with pending (O(promoted))."""
        pending, queued = self._pending[sender], self._queued[sender]
        while next_nonce in queued:
            pending[next_nonce] = queued.pop(next_nonce)
            next_nonce += 1

    def _check_replacement(self, old: SignedTransactionAPI, new: SignedTransactionAPI) -> None:
        bump = 100 + self.limits.price_bump_percent
        if fee_cap(new) * 100 < fee_cap(old) * bump or tip_cap(new) * 100 < tip_cap(old) * bump:
            raise UnwantedTransaction("replacement transaction underpriced")

    def _tails(self) -> Iterator[SignedTransactionAPI]:
        """Each sender's highest-nonce transaction: the only ones removable without a gap."""
        for queues in (self._queued, self._pending):
            for sender, queue in queues.items():
                if queue and not (queues is self._pending and self._queued.get(sender)):
                    yield queue[max(queue)]

    def _evict_cheapest_for(self, tx: SignedTransactionAPI) -> None:
        victim = min(self._tails(), key=fee_cap, default=None)
        if victim is None or fee_cap(victim) >= fee_cap(tx):
            raise UnwantedTransaction("txpool is full")
        self._remove(victim)

    def _rebalance(self, sender: bytes, state_nonce: int) -> None:
        """Pending = the run of nonces contiguous from the account nonce; the rest queued."""
        everything = {**self._queued.get(sender, {}), **self._pending.get(sender, {})}
        pending: dict[int, SignedTransactionAPI] = {}
        next_nonce = state_nonce
        while next_nonce in everything:
            pending[next_nonce] = everything.pop(next_nonce)
            next_nonce += 1
        self._pending[sender] = pending
        self._queued[sender] = everything

    # -- block production and chain updates ------------------------------------------------

    def select(self, base_fee: int, max_count: int = 10_000,
               next_nonces: Mapping[Address, int] | None = None) -> list[SignedTransactionAPI]:
        """Pending transactions payable at ``base_fee``, best tip first, nonce order per sender.

        ``next_nonces``: senders' nonces after a block not yet committed, the parent of the
        block being built; their transactions below those are in it, and left out."""
        with self._lock:
            if next_nonces is None:
                queues = {s: [q[n] for n in sorted(q)] for s, q in self._pending.items() if q}
            else:
                queues = {}
                for s, q in self._pending.items():
                    txs = self._pending_from(q, next_nonces.get(Address(s), 0))
                    if txs:
                        queues[s] = txs
        heads = [(-effective_tip(txs[0], base_fee), s, 0) for s, txs in queues.items()
                 if fee_cap(txs[0]) >= base_fee]
        heapq.heapify(heads)
        chosen: list[SignedTransactionAPI] = []
        while heads and len(chosen) < max_count:
            _, sender, index = heapq.heappop(heads)
            txs = queues[sender]
            chosen.append(txs[index])
            if index + 1 < len(txs) and fee_cap(txs[index + 1]) >= base_fee:
                heapq.heappush(heads, (-effective_tip(txs[index + 1], base_fee), sender, index + 1))
        return chosen

    @staticmethod
    def _pending_from(queue: dict[int, SignedTransactionAPI], nonce: int) -> list[SignedTransactionAPI]:
        """A sender's pending transactions from ``nonce`` on. Pending nonces are contiguous:
        walked from ``nonce``, O(taken) (a dev chain filling its next block as transactions
        arrive asks many times a second, its block's first thousand nonces behind it)."""
        if nonce in queue:
            taken = []
            while nonce in queue:
                taken.append(queue[nonce])
                nonce += 1
            return taken
        return [queue[n] for n in sorted(queue) if n >= nonce]

    def on_new_head(self, senders: Iterable[Address], accounts: AccountReader,
                    rejected: Iterable[SignedTransactionAPI] = ()) -> None:
        """Drop what the new head made stale (mined or invalid) and promote what it unblocked.

        A rejected transaction leaves a gap: its sender's later transactions go back to queued.
        """
        with self._lock:
            senders = set(senders)
            for tx in rejected:
                self._remove(tx)
                senders.add(tx.sender)
            for sender in senders:
                nonce = accounts.get_nonce(sender)
                self._base[sender] = nonce
                for queue in (self._pending.get(sender, {}), self._queued.get(sender, {})):
                    for stale in [n for n in queue if n < nonce]:
                        del self._by_hash[queue.pop(stale).hash]
                self._rebalance(sender, nonce)
                if not self._pending[sender] and not self._queued[sender]:
                    del self._pending[sender], self._queued[sender]

    def _remove(self, tx: SignedTransactionAPI) -> None:
        if self._by_hash.pop(tx.hash, None) is None:
            return
        for queues in (self._pending, self._queued):
            queue = queues.get(tx.sender, {})
            if tx.nonce in queue and queue[tx.nonce].hash == tx.hash:
                del queue[tx.nonce]

    def drop(self, tx_hash: bytes) -> bool:
        """Remove one transaction (a dev chain's anvil_dropTransaction); its sender's later
        ones wait in queued for the gap to fill. False if the pool does not hold it."""
        with self._lock:
            tx = self._by_hash.get(tx_hash)
            if tx is None:
                return False
            self._remove(tx)
            self._rebalance(tx.sender, self._base.get(tx.sender, 0))
            return True

    def reset(self) -> None:
        with self._lock:
            self._pending.clear()
            self._queued.clear()
            self._by_hash.clear()
            self._base.clear()

    # -- reads -----------------------------------------------------------------------------

    def get(self, tx_hash: bytes) -> SignedTransactionAPI | None:
        return self._by_hash.get(tx_hash)

    def is_pending(self, tx_hash: bytes) -> bool:
        """Whether the pool holds the transaction as executable now (not behind a nonce gap)."""
        with self._lock:
            tx = self._by_hash.get(tx_hash)
            return tx is not None and self._pending.get(tx.sender, {}).get(tx.nonce) is tx

    def pending_nonce(self, sender: bytes, state_nonce: int) -> int:
        with self._lock:
            pending = self._pending.get(sender, {})
            return max(state_nonce, max(pending) + 1) if pending else state_nonce

    def content(self) -> tuple[dict[bytes, dict[int, SignedTransactionAPI]],
                               dict[bytes, dict[int, SignedTransactionAPI]]]:
        with self._lock:
            return ({s: dict(q) for s, q in self._pending.items() if q},
                    {s: dict(q) for s, q in self._queued.items() if q})

    @property
    def pending_count(self) -> int:
        return sum(len(q) for q in self._pending.values())

    def pending_count_besides(self, senders: Collection[bytes]) -> int:
        """Executable transactions of senders other than ``senders``."""
        with self._lock:
            return sum(len(q) for sender, q in self._pending.items() if sender not in senders)

    @property
    def queued_count(self) -> int:
        return sum(len(q) for q in self._queued.values())

    def subscribe(self, listener: Callable[[SignedTransactionAPI], None]) -> None:
        self._listeners.append(listener)
