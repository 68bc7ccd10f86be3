"""The read-only chain view every JSON-RPC namespace is given (see ``kernel.abc.ChainViewAPI``).

It forwards reads to the :class:`~kernel.chain.Chain` and runs calls on states that are never
persisted; it has no method that writes, so a namespace holding it cannot change the chain.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence, cast

import rlp
from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth.rlp.accounts import Account
from eth_utils import keccak
from trie import HexaryTrie

from kernel.abc import AccountProof, AccountReaderAPI, BlobFees, ExecutionPoint, PendingBlockView, StorageProof
from kernel.chain import Chain
from kernel.execution import AccessListResult, CallExecutor, CallLimits, CallMessage, StateOverrides
from kernel.forks import ForkSchedule, blob_schedule_of, compute_base_fee_per_blob_gas
from kernel.genesis import Genesis
from kernel.simulate import SimulateRequest, SimulatedBlock, Simulator
from kernel.tracing import BlockTrace, SystemCallsFor, TraceConfig, TracingEngine


class ChainView:
    """Reads of one :class:`Chain` and executions on its states, never a write."""

    def __init__(self, chain: Chain, limits: CallLimits = CallLimits(), *,
                 system_calls_for: SystemCallsFor | None = None) -> None:
        """``limits``: the EVM timeout and gas cap of every execution through this view.
        ``system_calls_for(block)``: the consensus-decided system calls of a block (the node's
        rules), which replays for tracing run before the block's transactions."""
        self._chain = chain
        self._calls = CallExecutor(chain, limits)
        self._traces = TracingEngine(chain, system_calls_for)
        self._simulator = Simulator(chain, chain.db.pending_batch)

    @property
    def call_limits(self) -> CallLimits:
        """The EVM timeout and gas cap every execution of this view runs under."""
        return self._calls.limits

    # -- chain facts ------------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        return self._chain.chain_id

    @property
    def genesis(self) -> Genesis:
        return self._chain.genesis

    @property
    def genesis_hash(self) -> bytes:
        return self._chain.genesis_hash

    @property
    def schedule(self) -> ForkSchedule:
        return self._chain.schedule

    @property
    def system_contracts(self) -> dict[str, str]:
        return self._chain.system_contracts

    # -- headers, blocks, receipts ----------------------------------------------------------

    @property
    def head(self) -> BlockHeaderAPI:
        return self._chain.head

    def header_by_number(self, number: int) -> BlockHeaderAPI:
        return self._chain.header_by_number(number)

    def header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI:
        return self._chain.header_by_hash(block_hash)

    def is_canonical(self, header: BlockHeaderAPI) -> bool:
        return self._chain.is_canonical(header)

    def block_of(self, header: BlockHeaderAPI) -> BlockAPI:
        return self._chain.block_of(header)

    def receipts_of(self, header: BlockHeaderAPI) -> tuple[ReceiptAPI, ...]:
        return self._chain.receipts_of(header)

    def canonical_hash(self, number: int) -> bytes:
        return self._chain.canonical_hash(number)

    def block_logs_record(self, block_hash: bytes) -> bytes | None:
        return self._chain.block_logs_record(block_hash)

    def senders_of(self, header: BlockHeaderAPI) -> list[bytes]:
        return self._chain.senders_of(header)

    def commit_of(self, block_hash: bytes) -> bytes | None:
        return self._chain.commit_of(block_hash)

    def transaction_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        return self._chain.transaction_location(tx_hash)

    def log_block_candidates(self, first: int, last: int, addresses: Iterable[bytes],
                             topics: Iterable[bytes]) -> list[int] | None:
        return self._chain.log_block_candidates(first, last, addresses, topics)

    # -- state ------------------------------------------------------------------------------

    def state_at(self, header: BlockHeaderAPI) -> AccountReaderAPI:
        # py-evm's StateAPI takes its Address (a NewType of bytes) where the reader takes bytes.
        return cast(AccountReaderAPI, self._chain.state_at(header))

    def account_proof(self, header: BlockHeaderAPI, address: bytes, slots: Sequence[bytes]) -> AccountProof:
        # State and storage tries are stored node by node under their hashes: walk them read-only.
        state_trie = HexaryTrie(self._chain.db, header.state_root)
        account_key = keccak(address)
        encoded = state_trie.get(account_key)
        account = rlp.decode(encoded, sedes=Account) if encoded else Account(0, 0, BLANK_ROOT_HASH, EMPTY_SHA3)
        storage_trie = HexaryTrie(self._chain.db, account.storage_root)
        storage = []
        for slot in slots:
            if account.storage_root == BLANK_ROOT_HASH:
                storage.append(StorageProof(slot, 0, ()))
                continue
            slot_key = keccak(slot)
            value = storage_trie.get(slot_key)
            storage.append(StorageProof(slot, rlp.decode(value, sedes=rlp.sedes.big_endian_int) if value else 0,
                                        trie_proof(storage_trie, slot_key)))
        return AccountProof(address, account.balance, account.nonce, account.code_hash, account.storage_root,
                            trie_proof(state_trie, account_key), tuple(storage))

    def pending_block(self, transactions: Sequence[SignedTransactionAPI], timestamp: int,
                      coinbase: bytes) -> PendingBlockView:
        pending = self._chain.execute_transactions(transactions, timestamp=timestamp, coinbase=coinbase)
        # Nothing lands: the batch is dropped, and the state reads what it holds in memory.
        pending.writes.discard()
        block = pending.block
        state = cast(AccountReaderAPI, self._chain.vm_at(block.header, pending.writes.db).state)
        return PendingBlockView(block, pending.result.receipts, tuple(tx.sender for tx in block.transactions), state,
                                pending.writes.db)

    # -- fees -------------------------------------------------------------------------------

    def _child_header(self, parent: BlockHeaderAPI) -> BlockHeaderAPI:
        return self._chain.create_child_header(parent, timestamp=parent.timestamp + 1)

    def next_base_fee(self, parent: BlockHeaderAPI) -> int:
        return getattr(self._child_header(parent), "base_fee_per_gas", 0) or 0

    def blob_fees_of(self, header: BlockHeaderAPI) -> BlobFees:
        schedule = blob_schedule_of(self.schedule.vm_class_at(header.block_number, header.timestamp))
        excess = getattr(header, "excess_blob_gas", None)
        if schedule is None or excess is None:
            return BlobFees(0, 0.0)
        used = getattr(header, "blob_gas_used", 0) or 0
        # a schedule may allow no blobs at all (max 0): nothing used of nothing is a ratio of 0
        ratio = used / schedule.max_blob_gas_per_block if schedule.max_blob_gas_per_block else 0.0
        return BlobFees(compute_base_fee_per_blob_gas(excess, schedule), ratio)

    def next_base_fee_per_blob_gas(self, parent: BlockHeaderAPI) -> int:
        return self.blob_fees_of(self._child_header(parent)).base_fee_per_blob_gas

    # -- execution --------------------------------------------------------------------------

    def call(self, at: ExecutionPoint, message: CallMessage,
             overrides: StateOverrides | None = None) -> bytes:
        header, db = _context_of(at)
        return self._calls.call(header, message, overrides, db=db)

    def estimate_gas(self, at: ExecutionPoint, message: CallMessage,
                     overrides: StateOverrides | None = None) -> int:
        header, db = _context_of(at)
        return self._calls.estimate_gas(header, message, overrides, db=db)

    def create_access_list(self, at: ExecutionPoint, message: CallMessage) -> AccessListResult:
        header, db = _context_of(at)
        return self._calls.create_access_list(header, message, db=db)

    # -- tracing ----------------------------------------------------------------------------

    def trace_transaction(self, header: BlockHeaderAPI, index: int, config: TraceConfig) -> Any:
        return self._traces.trace_transaction(header, index, config)

    def trace_block(self, header: BlockHeaderAPI, config: TraceConfig) -> list[BlockTrace]:
        return self._traces.trace_block(header, config)

    def trace_call(self, header: BlockHeaderAPI, message: CallMessage, config: TraceConfig,
                   overrides: StateOverrides | None = None,
                   block_fields: Mapping[str, Any] | None = None) -> Any:
        return self._traces.trace_call(header, message, config, overrides, block_fields)

    def simulate(self, base: BlockHeaderAPI, request: SimulateRequest, timeout: float) -> list[SimulatedBlock]:
        return self._simulator.simulate(base, request, timeout)


def trie_proof(trie: HexaryTrie, key: bytes) -> tuple[bytes, ...]:
    """geth's proof list: the root and every node stored by hash on the path to ``key``.

    Nodes shorter than 32 bytes live inside their parent, so geth leaves them out.
    """
    nodes = [rlp.encode(node) for node in trie.get_proof(key)]
    return tuple(node for i, node in enumerate(nodes) if i == 0 or len(node) >= 32)


def _context_of(at: ExecutionPoint) -> tuple[BlockHeaderAPI, Any]:
    """The header whose state and block context a call runs in, and the database holding that
    state (None: the chain's; the pending block's in-memory overlay otherwise)."""
    if isinstance(at, PendingBlockView):
        return at.block.header, at.db
    return at, None
