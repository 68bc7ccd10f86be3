"""The chain: genesis, block building and import, each block one atomic LevelDB batch.

No network, no clock: the caller supplies timestamps and the consensus fields of headers.
"""
from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar, cast

import rlp
from eth.abc import (
    AtomicDatabaseAPI, BlockAPI, BlockHeaderAPI, ComputationAPI, ReceiptAPI, SignedTransactionAPI, StateAPI,
    VirtualMachineAPI,
)
from eth.consensus.context import ConsensusContext
from eth.constants import GAS_TX
from eth.db.chain import ChainDB
from eth.db.schema import SchemaV1
from eth.exceptions import HeaderNotFound, TransactionNotFound
from eth.vm.base import VM
from eth.vm.chain_context import ChainContext
from eth_typing import Address, BlockNumber, Hash32
from eth_utils import ValidationError
from eth.chains.base import validate_imported_block_unchanged

from kernel import schema
from kernel.block_logs import encode_block_logs
from kernel.blobs import get_total_blob_gas
from kernel.db import LevelDB, PendingWrites
from kernel.forks import blob_schedule_of
from kernel.genesis import Genesis
from kernel.vm import AzoraPragueVM, RunningHeader, prevrandao_recording_vm_class, replace_header

logger = logging.getLogger("azora.kernel")

ZERO_HASH = b"\0" * 32
# Blocks this object committed last, kept decoded: clients read a new block and poll its
# receipts soon after it lands, and decoding them back from the tries cost more than
# formatting them (a 190-transaction block: ~60% of a receipt poll's time). Bounded by their
# transactions (a few KB of objects each with its receipt) and by count, the newest kept.
RECENT_TRANSACTIONS = 4096
RECENT_BLOCKS = 64
AnyVM = TypeVar("AnyVM", bound=VirtualMachineAPI)
# (transaction, its top call's computation), after each transaction a block includes
Observer = Callable[[SignedTransactionAPI, ComputationAPI], None]


class ChainError(Exception):
    """A block or request the chain cannot accept; the message says why."""


@dataclass(frozen=True)
class PendingBlock:
    """An executed block whose writes wait in memory until it is committed."""

    result: "BuildResult"
    writes: PendingWrites
    # Built on a parent not yet committed (``execute_transactions(parent_pending=...)``):
    # whether any code read PREVRANDAO; None when not recorded.
    read_prevrandao: bool | None = None

    @property
    def block(self) -> BlockAPI:
        return self.result.block


@dataclass(frozen=True)
class BuildResult:
    block: BlockAPI
    receipts: tuple[ReceiptAPI, ...]
    # Transactions left out: (tx, reason). Deferred ones did not fit the gas left in the block.
    rejected: tuple[tuple[SignedTransactionAPI, str], ...]
    deferred: tuple[SignedTransactionAPI, ...]


class Chain:
    """One chain in one LevelDB: the owner of every write to it."""

    def __init__(self, db: LevelDB, genesis: Genesis, *, check_seal: bool = True,
                 genesis_progress: Callable[[int], None] | None = None) -> None:
        self.db = db
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.schedule = genesis.schedule if check_seal else genesis.schedule.without_seal_check()
        self.chaindb = ChainDB(db)
        self._head: BlockHeaderAPI | None = None
        self._chain_context = ChainContext(self.chain_id)
        self._recent = _RecentBlocks(RECENT_BLOCKS, RECENT_TRANSACTIONS)
        self._initialise_genesis(genesis_progress)

    # -- genesis -------------------------------------------------------------------------

    def _initialise_genesis(self, progress: Callable[[int], None] | None) -> None:
        try:
            stored = self.db[schema.GENESIS_HASH]
        except KeyError:
            stored = None
        if stored is None:
            with self.db.block_batch() as batch:
                result = self.genesis.build(batch, progress)
                header = result.header
                ChainDB(batch).persist_header(header)
                batch[schema.GENESIS_HASH] = header.hash
                batch[schema.SYSTEM_CONTRACTS] = json.dumps(dict(result.contracts)).encode()
            logger.info("initialised genesis %s", header.hash.hex())
        else:
            self._check_genesis_matches(stored, progress)

    def _check_genesis_matches(self, stored: bytes, progress: Callable[[int], None] | None) -> None:
        from eth.db.atomic import AtomicDB
        expected = self.genesis.build(AtomicDB(), progress).header.hash
        if expected != stored:
            raise ChainError(
                f"database genesis 0x{stored.hex()} differs from the genesis file's "
                f"0x{expected.hex()}: wrong --datadir or genesis"
            )

    @property
    def genesis_hash(self) -> bytes:
        return self.db[schema.GENESIS_HASH]

    @property
    def system_contracts(self) -> dict[str, str]:
        """Name → address of the system contracts deployed at genesis (empty if none)."""
        try:
            return json.loads(self.db[schema.SYSTEM_CONTRACTS])
        except KeyError:
            return {}

    # -- VMs -----------------------------------------------------------------------------

    def vm_class_for(self, number: int, timestamp: int) -> type[VM]:
        # every class of a schedule derives from py-evm's VM (kernel.forks)
        return cast(type[VM], self.schedule.vm_class_at(number, timestamp))

    def vm_at(self, header: BlockHeaderAPI, db: AtomicDatabaseAPI | None = None, *,
              vm_class: type[VirtualMachineAPI] | None = None) -> VirtualMachineAPI:
        """A VM whose state is ``header``'s state root and whose context is ``header``
        (of ``vm_class``, by default the schedule's VM for the header)."""
        return self._new_vm(vm_class or self.vm_class_for(header.block_number, header.timestamp), header, db)

    def _new_vm(self, vm_class: type[AnyVM], header: BlockHeaderAPI, db: AtomicDatabaseAPI | None) -> AnyVM:
        db = self.db if db is None else db
        return vm_class(header=header, chaindb=ChainDB(db), chain_context=self._chain_context,
                        consensus_context=ConsensusContext(db))

    def state_at(self, header: BlockHeaderAPI) -> StateAPI:
        """The state after ``header``'s block (archive: any past block)."""
        return self.vm_at(header).state

    def create_child_header(self, parent: BlockHeaderAPI, **params: Any) -> BlockHeaderAPI:
        timestamp = int(params.get("timestamp", parent.timestamp + 1))
        params.setdefault("gas_limit", parent.gas_limit)
        vm_class = self.vm_class_for(parent.block_number + 1, timestamp)
        return vm_class.create_header_from_parent(parent, **params)

    # -- writes --------------------------------------------------------------------------

    def build_block(self, transactions: Sequence[SignedTransactionAPI], *, timestamp: int,
                    commit: bytes | None = None, **header_fields: Any) -> BuildResult:
        """Execute ``transactions`` on top of the head and persist the block in one batch."""
        pending = self.execute_transactions(transactions, timestamp=timestamp, **header_fields)
        self.commit_block(pending, commit)
        return pending.result

    def execute_transactions(
        self,
        transactions: Sequence[SignedTransactionAPI],
        *,
        until: Callable[[], bool] | None = None,
        observe: "Observer | None" = None,
        **block_fields: Any,
    ) -> "PendingBlock":
        """Build a block from ``transactions`` in order, without writing it: an
        :meth:`open_block` (``block_fields`` are its arguments) with the transactions added
        (:meth:`OpenBlock.add`, ``until`` and ``observe`` are its) and sealed."""
        block = self.open_block(**block_fields)
        block.add(transactions, until=until, observe=observe)
        return block.seal()

    def open_block(
        self,
        *,
        timestamp: int,
        coinbase: bytes = b"\0" * 20,
        mix_hash: bytes = ZERO_HASH,
        extra_data: bytes = b"",
        gas_limit: int | None = None,
        parent: BlockHeaderAPI | None = None,
        system_calls: Sequence[tuple[bytes, bytes]] = (),
        base_fee_per_gas: int | None = None,
        edit_state: Callable[[StateAPI], None] | None = None,
        parent_pending: "PendingBlock | None" = None,
    ) -> "OpenBlock":
        """A block on ``parent`` (the head by default) that transactions are added to until it
        is sealed (:class:`OpenBlock`), without writing anything.

        ``system_calls`` (to, data) run first, from the system address, as the consensus
        rules require for this block. A dev chain may set the block's ``base_fee_per_gas``
        and ``edit_state`` before the transactions run (anvil's helpers); such a block is not
        one another node re-executes.

        ``parent_pending``: build on that block, executed but not committed (a proposer
        preparing the next block while the current one is voted on). The result reads
        through its writes, can only be committed after it, and records whether any code read
        PREVRANDAO, so that :meth:`restamp` knows if another mixHash leaves it valid.
        """
        if parent_pending is not None:
            parent = parent_pending.block.header
            pending = self.db.pending_batch(over=parent_pending.writes)
            # the parent's header, for BLOCKHASH (committing writes it again, unchanged)
            pending.db[parent.hash] = rlp.encode(parent)
        else:
            pending = self.db.pending_batch()
        parent = parent or self.head
        if timestamp <= parent.timestamp:
            raise ChainError(f"timestamp {timestamp} not after parent's {parent.timestamp}")
        header = self.create_child_header(
            parent, timestamp=timestamp, coinbase=coinbase, mix_hash=mix_hash,
            extra_data=extra_data, gas_limit=gas_limit or parent.gas_limit)
        if base_fee_per_gas is not None:
            header = header.copy(base_fee_per_gas=base_fee_per_gas)
        vm_class = self.vm_class_for(header.block_number, header.timestamp)
        if parent_pending is not None:
            vm_class = prevrandao_recording_vm_class(vm_class)
        vm = self._new_vm(vm_class, header, pending.db)
        install_system_calls(vm, system_calls)
        vm.block_preprocessing(vm.get_block())
        if edit_state is not None:
            edit_state(vm.state)
        return OpenBlock(vm, header, pending, chosen_base_fee=base_fee_per_gas is not None,
                         records_prevrandao=parent_pending is not None)

    def restamp(self, pending: "PendingBlock", *, mix_hash: bytes, extra_data: bytes) -> "PendingBlock":
        """The block of ``pending`` under a header with another ``mix_hash`` and ``extra_data``,
        with the same execution: no code reads extraData, and only PREVRANDAO reads mixHash,
        so this holds unless the execution recorded a read of it (ChainError then)."""
        header = pending.block.header
        if mix_hash != header.mix_hash and pending.read_prevrandao is not False:
            raise ChainError(f"block #{header.block_number}: its execution may have read PREVRANDAO")
        block = replace_header(pending.block, header.copy(mix_hash=mix_hash, extra_data=extra_data))
        result = pending.result
        return PendingBlock(BuildResult(block, result.receipts, result.rejected, result.deferred),
                            pending.writes, pending.read_prevrandao)

    def import_block(self, block: BlockAPI, *, commit: bytes | None = None,
                     system_calls: Sequence[tuple[bytes, bytes]] = ()) -> BlockAPI:
        """Fully validate and execute ``block`` on its parent and persist it in one batch."""
        if self.chaindb.header_exists(block.hash) and self.is_canonical(block.header):
            return block
        pending = self.execute_block(block, system_calls)
        self.commit_block(pending, commit)
        return pending.block

    def execute_block(self, block: BlockAPI,
                      system_calls: Sequence[tuple[bytes, bytes]] = ()) -> "PendingBlock":
        """Validate and execute someone else's ``block`` on its parent, without writing it.

        ``system_calls`` must be the ones the consensus rules give for this block, exactly
        as its proposer ran them, or the state root will not match.
        """
        pending = self.db.pending_batch()
        chaindb = ChainDB(pending.db)
        try:
            parent = chaindb.get_block_header_by_hash(block.header.parent_hash)
        except HeaderNotFound:
            raise ChainError(f"block #{block.number}: unknown parent "
                             f"0x{block.header.parent_hash.hex()}") from None
        vm_class = self.vm_class_for(block.number, block.header.timestamp)
        base = vm_class.create_header_from_parent(
            parent, timestamp=block.header.timestamp, gas_limit=block.header.gas_limit,
            coinbase=block.header.coinbase)
        vm = vm_class(header=base.copy(gas_used=block.header.gas_used), chaindb=chaindb,
                      chain_context=self._chain_context, consensus_context=ConsensusContext(pending.db))
        install_system_calls(vm, system_calls)
        try:
            if hasattr(vm, "validate_block_blobs"):
                # Cancun on: the header's blob fields first, as geth checks headers before bodies.
                vm.validate_block_blobs(block)
            imported = vm.import_block(block).block
            validate_imported_block_unchanged(imported, block)
            vm.validate_seal(block.header)
            vm.validate_seal_extension(block.header, ())
        except ValidationError as exc:
            raise ChainError(f"block #{block.number} invalid: {exc}") from exc
        # Azora's VM keeps the receipts the import made; other forks' are read back
        receipts = getattr(vm, "applied_receipts", None)
        if receipts is None:
            receipts = tuple(chaindb.get_receipts(imported.header, vm_class.get_receipt_builder()))
        return PendingBlock(BuildResult(imported, receipts, (), ()), pending)

    def commit_block(self, pending: "PendingBlock", commit: bytes | None = None) -> None:
        """Make an executed block the new head, with everything it wrote, in one batch."""
        block = pending.block
        if block.header.parent_hash != self.head.hash:
            pending.writes.discard()
            raise ChainError(f"block #{block.number}: its parent is no longer the head")
        self._persist(pending.writes.db, ChainDB(pending.writes.db), block,
                      pending.result.receipts, commit)
        pending.writes.commit()
        self._head = block.header
        self._recent.add(block, pending.result.receipts)

    def _persist(self, batch: AtomicDatabaseAPI, chaindb: ChainDB, block: BlockAPI,
                 receipts: Sequence[ReceiptAPI], commit: bytes | None) -> None:
        chaindb.persist_block(block)
        if chaindb.get_canonical_head().hash != block.hash:
            # Dev-chain rewinds re-build heights already seen; the newest block wins.
            chaindb._set_as_canonical_chain_head(batch, block.header, block.header.parent_hash)
        batch[schema.make_block_senders_key(block.hash)] = b"".join(
            tx.sender for tx in block.transactions)
        batch[schema.make_block_logs_key(block.hash)] = encode_block_logs(block, receipts)
        if commit is not None:
            batch[schema.make_commit_key(block.hash)] = commit
        for receipt in receipts:
            for log in receipt.logs:
                batch[schema.make_log_address_key(log.address, block.number)] = b""
                for topic in log.topics:
                    batch[schema.make_log_topic_key(topic.to_bytes(32, "big"), block.number)] = b""

    def get_aux(self, key: bytes) -> bytes | None:
        """A record the node keeps beside the chain (e.g. validator sets), or None."""
        return self.db.raw.get(key)

    def set_aux(self, key: bytes, value: bytes) -> None:
        self.db[key] = value

    def set_commit(self, block_hash: bytes, commit: bytes) -> None:
        self.db[schema.make_commit_key(block_hash)] = commit

    def rewind_to(self, number: int) -> None:
        """Make block ``number`` the head again (dev chains' ``evm_revert``).

        The number→hash entries above it stay (py-evm's gap bookkeeping reads them) but are
        ignored because they lie above the head, and the next blocks overwrite them.
        """
        header = self.chaindb.get_canonical_block_header_by_number(BlockNumber(number))
        with self.db.block_batch() as batch:
            chaindb = ChainDB(batch)
            for n in range(number + 1, self.head.block_number + 1):
                old = chaindb.get_canonical_block_header_by_number(BlockNumber(n))
                for tx_hash in chaindb.get_block_transaction_hashes(old):
                    chaindb._remove_transaction_from_canonical_chain(batch, tx_hash)
            batch[SchemaV1.make_canonical_head_hash_lookup_key()] = header.hash
        self._head = header

    # -- reads ---------------------------------------------------------------------------

    @property
    def head(self) -> BlockHeaderAPI:
        """The canonical head. This object is the database's only writer, so the head is kept
        in memory (every RPC call and transaction admission asks for it) and refreshed when a
        block is committed or the chain rewound."""
        if self._head is None:
            self._head = self.chaindb.get_canonical_head()
        return self._head

    def header_by_number(self, number: int) -> BlockHeaderAPI:
        if number > self.head.block_number:   # e.g. entries left above a rewound head
            raise HeaderNotFound(f"no canonical block #{number}: the head is lower")
        return self.chaindb.get_canonical_block_header_by_number(BlockNumber(number))

    def header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI:
        return self.chaindb.get_block_header_by_hash(Hash32(block_hash))

    def is_canonical(self, header: BlockHeaderAPI) -> bool:
        try:
            return self.header_by_number(header.block_number).hash == header.hash
        except HeaderNotFound:
            return False

    def block_of(self, header: BlockHeaderAPI) -> BlockAPI:
        recent = self._recent.get(header.hash)
        if recent is not None:
            return recent[0]
        vm_class = self.vm_class_for(header.block_number, header.timestamp)
        return vm_class.get_block_class().from_header(header, self.chaindb)

    def receipts_of(self, header: BlockHeaderAPI, chaindb: ChainDB | None = None) -> tuple[ReceiptAPI, ...]:
        recent = self._recent.get(header.hash) if chaindb is None else None
        if recent is not None:
            return recent[1]
        vm_class = self.vm_class_for(header.block_number, header.timestamp)
        return tuple((chaindb or self.chaindb).get_receipts(header, vm_class.get_receipt_builder()))

    def canonical_hash(self, number: int) -> bytes:
        """The hash of canonical block ``number`` without decoding its header; raises
        ``HeaderNotFound`` above the head."""
        if number > self.head.block_number:
            raise HeaderNotFound(f"no canonical block #{number}: the head is lower")
        return self.chaindb.get_canonical_block_hash(BlockNumber(number))

    def block_logs_record(self, block_hash: bytes) -> bytes | None:
        """The block's log record (``kernel.block_logs``), or None for a block persisted before
        records were written (genesis, older datadirs)."""
        return self.db.raw.get(schema.make_block_logs_key(block_hash))

    def senders_of(self, header: BlockHeaderAPI) -> list[bytes]:
        try:
            raw = self.db[schema.make_block_senders_key(header.hash)]
        except KeyError:  # genesis, or a block persisted by an older node
            return [tx.sender for tx in self.block_of(header).transactions]
        return [raw[i:i + 20] for i in range(0, len(raw), 20)]

    def commit_of(self, block_hash: bytes) -> bytes | None:
        try:
            return self.db[schema.make_commit_key(block_hash)]
        except KeyError:
            return None

    def transaction_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        """(block number, index) of a canonical transaction, or None.

        A block's batch reaches the database just before the head moves onto it; a reader in
        that instant sees the index entry first, so entries above the head are not yet there.
        """
        try:
            number, index = self.chaindb.get_transaction_index(Hash32(tx_hash))
        except TransactionNotFound:
            return None
        if number > self.head.block_number:
            return None
        return int(number), int(index)

    def log_block_candidates(self, first: int, last: int, addresses: Iterable[bytes],
                             topics: Iterable[bytes]) -> list[int] | None:
        """Block numbers in [first, last] that may hold matching logs, from the log index.

        ``addresses`` are alternatives (any), ``topics`` are requirements (all). None means
        the index cannot narrow the range (no address and no topic given).
        """
        candidates: set[int] | None = None
        addresses = list(addresses)
        if addresses:
            candidates = set()
            for address in addresses:
                candidates |= set(self._indexed_numbers(schema.LOG_BY_ADDRESS + address, first, last))
        for topic in topics:
            numbers = set(self._indexed_numbers(schema.LOG_BY_TOPIC + topic, first, last))
            candidates = numbers if candidates is None else candidates & numbers
        return None if candidates is None else sorted(candidates)

    def _indexed_numbers(self, prefix: bytes, first: int, last: int) -> Iterator[int]:
        for key, _ in self.db.iterate_prefix(prefix, start=first.to_bytes(8, "big"),
                                             stop=(last + 1).to_bytes(8, "big")):
            yield int.from_bytes(key[-8:], "big")


class OpenBlock:
    """A block being built: executed transactions, receipts and state writes in memory,
    more transactions added (:meth:`add`) until it is sealed (:meth:`seal`).

    One block may be added to several times (a dev chain fills the next block as
    transactions arrive and seals it at its tick); each call runs in whatever thread the
    caller chooses, one at a time.
    """

    def __init__(self, vm: VM, header: BlockHeaderAPI, writes: PendingWrites, *,
                 chosen_base_fee: bool, records_prevrandao: bool) -> None:
        self._vm = vm
        self._header = header          # gas used and bloom so far
        self._writes = writes
        self._chosen_base_fee = chosen_base_fee
        self._records_prevrandao = records_prevrandao
        self.included: list[SignedTransactionAPI] = []
        self._receipts: list[ReceiptAPI] = []
        self._rejected: list[tuple[SignedTransactionAPI, str]] = []
        # Deferred, by hash: ones that did not fit the gas left (for good), and the rest of the
        # latest call after its ``until`` answered True (a later call may take them).
        self._deferred: dict[bytes, SignedTransactionAPI] = {}
        self._interrupted: list[SignedTransactionAPI] = []
        # Senders with a deferred transaction: their later nonces wait with it, as in geth's
        # miner (run now, they would fail the nonce check and be dropped as invalid).
        self._waiting: set[Address] = set()
        self._blob_schedule = blob_schedule_of(type(vm))      # None before Cancun
        self._next_nonces: dict[Address, int] = {}
        self.sealed = False

    @property
    def base_fee_per_gas(self) -> int:
        return self._header.base_fee_per_gas or 0

    @property
    def gas_left(self) -> int:
        return self._header.gas_limit - self._header.gas_used

    @property
    def full(self) -> bool:
        """No transaction fits any more, or one did not (its sender's later ones wait with it)."""
        return self.gas_left < GAS_TX or bool(self._waiting)

    @property
    def next_nonces(self) -> Mapping[Address, int]:
        """Each sender's nonce after this block's transactions, for those it includes."""
        return self._next_nonces

    def add(self, transactions: Sequence[SignedTransactionAPI], *, until: Callable[[], bool] | None = None,
            observe: "Observer | None" = None) -> list[tuple[SignedTransactionAPI, str]]:
        """Execute ``transactions`` in order after those added before; returns the ones
        rejected by this call, with their reasons.

        Invalid transactions (bad nonce, no funds, ...) are left out with their reason, and
        ones that no longer fit the block's gas are deferred, with their senders' later
        nonces. ``until``, asked before each transaction, ends the call when it answers
        True: the rest are deferred (a proposer's time budget; the kernel reads no clock).
        ``observe(tx, computation)`` is called after each included transaction with its top
        call's computation (its error, output and child calls): what a dev node prints of a
        transaction without executing it again.
        """
        if self.sealed:
            raise ChainError("the block is sealed")
        vm, waiting, schedule = self._vm, self._waiting, self._blob_schedule
        running = RunningHeader(vm, self._header)    # gas used and bloom, the header copied once
        rejected: list[tuple[SignedTransactionAPI, str]] = []
        self._interrupted = []
        try:
            for index, tx in enumerate(transactions):
                if until is not None and until():
                    self._interrupted = list(transactions[index:])
                    break
                if waiting and tx.sender in waiting:
                    self._deferred[tx.hash] = tx
                    continue
                blob_gas = get_total_blob_gas(tx)
                if tx.gas > running.gas_limit - running.gas_used or \
                        blob_gas and schedule and running.blob_gas_used + blob_gas > schedule.max_blob_gas_per_block:
                    self._deferred[tx.hash] = tx     # as geth's miner: it may fit a later block
                    waiting.add(tx.sender)
                    continue
                try:
                    # py-evm validates a transaction (nonce, balance, gas) before it touches
                    # state, so a rejected one leaves nothing behind.
                    receipt, computation = vm.apply_transaction(cast(BlockHeaderAPI, running), tx)
                except ValidationError as exc:
                    rejected.append((tx, str(exc)))
                    continue
                if observe is not None:
                    observe(tx, computation)
                running.add(receipt)
                if blob_gas:    # as the import decides it (AzoraPragueVM.apply_all_transactions)
                    running.add_blob_gas(tx)
                self.included.append(tx)
                self._receipts.append(receipt)
                self._next_nonces[tx.sender] = tx.nonce + 1
        finally:
            self._header = running.header()
        self._rejected.extend(rejected)
        return rejected

    def seal(self) -> "PendingBlock":
        """The block with the transactions added so far, its roots computed; nothing more
        can be added."""
        if self.sealed:
            raise ChainError("the block is sealed")
        self.sealed = True
        vm = self._vm
        vm._block = vm.get_block().copy(header=self._header)  # the header carries gas used and bloom
        filled = vm.set_block_transactions_and_withdrawals(
            vm.get_block(), vm.get_header(), self.included, self._receipts)
        if not self._chosen_base_fee:
            block = vm.mine_block(filled).block
        else:   # py-evm's header validation would refuse the base fee the dev chain chose
            block = vm.finalize_block(vm.pack_block(filled)).block
        deferred = [*self._deferred.values(), *self._interrupted]
        result = BuildResult(block, tuple(self._receipts), tuple(self._rejected), tuple(deferred))
        if not self._records_prevrandao:
            return PendingBlock(result, self._writes)
        return PendingBlock(result, self._writes, bool(getattr(vm.state, "read_prevrandao", True)))

    def discard(self) -> None:
        """Drop what the block wrote (it will not be sealed)."""
        self.sealed = True
        self._writes.discard()


def install_system_calls(vm: VM, calls: Sequence[tuple[bytes, bytes]]) -> None:
    """Azora's VMs (kernel.vm) run ``calls`` at the start of the block; the VMs of Ethereum's
    own forks have no such step and take none."""
    if isinstance(vm, AzoraPragueVM):
        vm.system_calls = tuple((Address(to), data) for to, data in calls)


class _RecentBlocks:
    """The last committed blocks with their receipts, by hash: at most ``blocks`` of them,
    with at most ``transactions`` between them unless the newest alone has more. A hash fixes
    a block and its receipts, so an entry never goes stale, whatever rewinds do."""

    def __init__(self, blocks: int, transactions: int) -> None:
        self.blocks, self.transactions = blocks, transactions
        self._blocks: OrderedDict[bytes, tuple[BlockAPI, tuple[ReceiptAPI, ...]]] = OrderedDict()
        self._held = 0   # transactions of the blocks kept
        self._lock = threading.Lock()   # committed on one thread, read on many

    def add(self, block: BlockAPI, receipts: tuple[ReceiptAPI, ...]) -> None:
        with self._lock:
            if block.hash in self._blocks:
                return
            self._blocks[block.hash] = (block, receipts)
            self._held += len(block.transactions)
            while len(self._blocks) > 1 and (self._held > self.transactions or len(self._blocks) > self.blocks):
                _, (oldest, _) = self._blocks.popitem(last=False)
                self._held -= len(oldest.transactions)

    def get(self, block_hash: bytes) -> tuple[BlockAPI, tuple[ReceiptAPI, ...]] | None:
        with self._lock:
            return self._blocks.get(block_hash)
