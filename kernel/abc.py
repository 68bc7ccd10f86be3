"""The kernel's read interfaces, with their docstrings in one place (as py-evm's ``eth/abc.py``).

The JSON-RPC layer depends on these and on nothing that can write: :class:`ChainViewAPI` is
everything a namespace may read of the chain (headers, blocks, receipts, the log index, state
at any block, proofs) and run on it (calls, gas estimates, access-list tracing), none of which
persists anything. ``kernel.view.ChainView`` implements it over the writable ``kernel.chain.Chain``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Protocol, Sequence

from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI

from kernel.execution import AccessListResult, CallLimits, CallMessage, StateOverrides
from kernel.forks import ForkSchedule
from kernel.genesis import Genesis
from kernel.simulate import SimulateRequest, SimulatedBlock
from kernel.tracing import BlockTrace, TraceConfig


class AccountReaderAPI(Protocol):
    """Account reads of one block's state."""

    def get_balance(self, address: bytes) -> int: ...
    def get_nonce(self, address: bytes) -> int: ...
    def get_code(self, address: bytes) -> bytes: ...
    def get_storage(self, address: bytes, slot: int) -> int: ...


@dataclass(frozen=True)
class StorageProof:
    """One storage slot's value and the trie nodes proving it (EIP-1186)."""

    key: bytes                  # the 32-byte slot as asked
    value: int
    proof: tuple[bytes, ...]    # RLP trie nodes, root first


@dataclass(frozen=True)
class AccountProof:
    """An account and the state-trie nodes proving it, with its storage proofs (EIP-1186)."""

    address: bytes
    balance: int
    nonce: int
    code_hash: bytes
    storage_root: bytes
    proof: tuple[bytes, ...]
    storage: tuple[StorageProof, ...]


@dataclass(frozen=True)
class BlobFees:
    """A block's blob market: its base fee per blob gas and blob gas used / maximum."""

    base_fee_per_blob_gas: int
    blob_gas_used_ratio: float


@dataclass(frozen=True)
class PendingBlockView:
    """The block being built: the pool's executable transactions on top of the head, never
    persisted, with the state it would leave."""

    block: BlockAPI
    receipts: tuple[ReceiptAPI, ...]
    senders: tuple[bytes, ...]
    state: AccountReaderAPI
    # the in-memory overlay the block's state lives in (calls on "pending" run on it); dropped
    # with the view, never written to the database
    db: Any = None


# Where a call runs: a block's header (its state and context), or the block being built.
ExecutionPoint = BlockHeaderAPI | PendingBlockView


class ChainViewAPI(Protocol):
    """A read-only view of one chain: nothing reached through it writes to the database."""

    @property
    def chain_id(self) -> int: ...

    @property
    def genesis(self) -> Genesis:
        """The genesis the chain was built from (its file's contents, parsed)."""

    @property
    def genesis_hash(self) -> bytes: ...

    @property
    def schedule(self) -> ForkSchedule:
        """The fork schedule blocks are executed under."""

    @property
    def system_contracts(self) -> dict[str, str]:
        """Name → address of the system contracts deployed at genesis (empty if none)."""

    @property
    def head(self) -> BlockHeaderAPI:
        """The canonical head (every block is final when committed)."""

    def header_by_number(self, number: int) -> BlockHeaderAPI:
        """The canonical header at ``number``; raises ``HeaderNotFound`` above the head."""

    def header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI:
        """Any stored header by hash; raises ``HeaderNotFound``."""

    def is_canonical(self, header: BlockHeaderAPI) -> bool: ...

    def block_of(self, header: BlockHeaderAPI) -> BlockAPI: ...

    def receipts_of(self, header: BlockHeaderAPI) -> tuple[ReceiptAPI, ...]: ...

    def canonical_hash(self, number: int) -> bytes:
        """The hash of canonical block ``number``; raises ``HeaderNotFound`` above the head."""

    def block_logs_record(self, block_hash: bytes) -> bytes | None:
        """The block's logs as one record (``kernel.block_logs``); None where none was written."""

    def senders_of(self, header: BlockHeaderAPI) -> list[bytes]:
        """The recovered senders of the block's transactions, in order."""

    def commit_of(self, block_hash: bytes) -> bytes | None:
        """The commit certificate (RLP) that finalised a block, if stored."""

    def transaction_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        """(block number, index) of a canonical transaction, or None."""

    def log_block_candidates(self, first: int, last: int, addresses: Iterable[bytes],
                             topics: Iterable[bytes]) -> list[int] | None:
        """Blocks in [first, last] that may hold matching logs; None if the index cannot narrow."""

    def state_at(self, header: BlockHeaderAPI) -> AccountReaderAPI:
        """The accounts after ``header``'s block (an archive node: any past block)."""

    def account_proof(self, header: BlockHeaderAPI, address: bytes,
                      slots: Sequence[bytes]) -> AccountProof:
        """``address`` and its ``slots`` (32-byte keys) proven against ``header``'s state root."""

    def next_base_fee(self, parent: BlockHeaderAPI) -> int:
        """The base fee of the block after ``parent`` (0 before London)."""

    def blob_fees_of(self, header: BlockHeaderAPI) -> BlobFees:
        """The block's blob base fee and blob gas used ratio (zeros before Cancun)."""

    def next_base_fee_per_blob_gas(self, parent: BlockHeaderAPI) -> int:
        """The blob base fee of the block after ``parent`` (0 before Cancun)."""

    @property
    def call_limits(self) -> CallLimits:
        """The EVM timeout and gas cap that every execution below runs under (tracers and
        simulators apply them too: ``kernel.execution.deadline_vm_class``)."""

    def call(self, at: ExecutionPoint, message: CallMessage,
             overrides: StateOverrides | None = None) -> bytes:
        """Run ``message`` on the state after ``at`` in ``at``'s block context (a header, or the
        pending block as geth's "pending" tag); raises ``kernel.execution.CallError``."""

    def estimate_gas(self, at: ExecutionPoint, message: CallMessage,
                     overrides: StateOverrides | None = None) -> int:
        """The least gas with which ``message`` succeeds; raises ``CallError``."""

    def create_access_list(self, at: ExecutionPoint, message: CallMessage) -> AccessListResult:
        """The accounts and slots ``message`` touches, and the gas it uses with them warm."""

    def trace_transaction(self, header: BlockHeaderAPI, index: int, config: TraceConfig) -> Any:
        """geth's trace (struct logs or the named tracer's result) of transaction ``index`` of
        ``header``'s block, replayed on its parent's state; raises ``kernel.tracing.TraceError``."""

    def trace_block(self, header: BlockHeaderAPI, config: TraceConfig) -> list[BlockTrace]:
        """Every transaction of ``header``'s block traced in order."""

    def trace_call(self, header: BlockHeaderAPI, message: CallMessage, config: TraceConfig,
                   overrides: StateOverrides | None = None,
                   block_fields: Mapping[str, Any] | None = None) -> Any:
        """``message`` traced on ``header``'s state, in a block context changed by
        ``block_fields`` (header fields); raises ``TraceError`` or ``CallError``."""

    def simulate(self, base: BlockHeaderAPI, request: SimulateRequest, timeout: float) -> list[SimulatedBlock]:
        """eth_simulateV1: the request's blocks built on ``base``'s state and dropped; raises
        ``kernel.simulate.SimulationError`` when the request as a whole fails."""

    def pending_block(self, transactions: Sequence[SignedTransactionAPI], timestamp: int,
                      coinbase: bytes) -> PendingBlockView:
        """``transactions`` (those that fit and are valid) executed as the head's child block,
        its writes held in memory and dropped."""
