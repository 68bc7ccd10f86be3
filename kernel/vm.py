"""Azora's VM: py-evm's newest fork (Prague), overriding only what Azora changes; and the
Cancun-or-later VMs of a chain whose genesis sets its own blob parameters."""
from __future__ import annotations

import functools
import logging
from hashlib import sha256
from typing import Any, ClassVar, Sequence, TypeVar, cast

import ckzg
import rlp
import eth.precompiles.point_evaluation as point_evaluation
from eth._utils.db import get_block_header_by_hash
from eth.abc import (
    BlockAndMetaWitness, BlockAPI, BlockHeaderAPI, ComputationAPI, ReceiptAPI, SignedTransactionAPI,
    StateAPI, TransactionFieldsAPI, VirtualMachineAPI,
)
from eth.constants import SYSTEM_ADDRESS
from eth.vm.base import VM
from eth.vm.forks.byzantium import ByzantiumVM
from eth.vm.forks.byzantium.constants import EIP658_TRANSACTION_STATUS_CODE_FAILURE, EIP658_TRANSACTION_STATUS_CODE_SUCCESS
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.state import PragueState
from eth.vm.interrupt import EVMMissingData
from eth.vm.state import BaseState
from eth_typing import Address
from eth_utils import ValidationError, keccak
from eth_utils.logging import get_extended_debug_logger

from kernel import ordered_trie, receipts
from kernel.account_db import AzoraAccountDB
from kernel.blobs import (
    BlobSchedule, compute_base_fee_per_blob_gas, compute_excess_blob_gas, get_total_blob_gas,
    validate_block_blob_gas,
)
from kernel.interpreter import AzoraPragueComputation

logger = logging.getLogger("azora.kernel.vm")

# The point-evaluation precompile (0x0a) reloads the KZG trusted setup from disk on every call
# (about 3 s): any caller could stall block production with one cheap call. Load it once.
_load_trusted_setup_once = functools.cache(ckzg.load_trusted_setup)
point_evaluation.load_trusted_setup = _load_trusted_setup_once

# Block tries (transactions, receipts, withdrawals) built in one pass, for every fork's VM.
ordered_trie.install()


SYSTEM_CALL_GAS = 30_000_000


class AzoraPragueState(PragueState):
    """Prague state without py-evm's per-state "system contracts" step, which changes nothing.

    py-evm 0.12.1b1 builds every state (each block, and each eth_call) by reading the code of
    the EIP-4788 and EIP-2935 contracts and writing it back when it is already there
    (``if not code != CONTRACT_CODE: set_code``); where it is not there it does nothing. Either
    way the state is what it was — a same-code write leaves the account and the root as they
    were — but the reads, the code hashing and the write were an eighth of an eth_call. The
    contracts come with the genesis, as on Ethereum.

    Its accounts are written through :class:`~kernel.account_db.AzoraAccountDB`, and its
    logger is made once: py-evm's ``logger`` property looks the logger up again on every use,
    four times a transaction (2% of an ERC-20 transfer).
    """

    account_db_class = AzoraAccountDB
    computation_class = AzoraPragueComputation
    logger = get_extended_debug_logger("eth.vm.state.AzoraPragueState")

    def set_system_contracts(self) -> None:
        pass


class AzoraPragueVM(PragueVM):
    """Prague execution; block headers are Ethereum headers (extraData ≤ 32 bytes,
    difficulty 0, nonce 0) whose coinbase and mixHash carry the BFT proposer and the hash of
    the parent's commit certificate — consensus checks those, the VM only executes.

    ``system_calls`` run at the start of the block, after Prague's own system steps, as calls
    from SYSTEM_ADDRESS (as EIP-4788 and EIP-2935 do): the consensus rules decide them (epoch
    rewards), and every node passes the same ones when it builds or imports the block.
    """

    fork = "prague"
    _state_class = AzoraPragueState
    system_calls: tuple[tuple[Address, bytes], ...] = ()
    # The receipts of the block being imported, as its transactions made them (import_block).
    applied_receipts: tuple[ReceiptAPI, ...] | None = None

    def import_block(self, block: BlockAPI) -> BlockAndMetaWitness:
        self.applied_receipts = None
        return super().import_block(block)

    def apply_all_transactions(self, transactions: Sequence[SignedTransactionAPI], base_header: BlockHeaderAPI
                               ) -> tuple[BlockHeaderAPI, tuple[ReceiptAPI, ...], tuple[ComputationAPI, ...]]:
        """py-evm's (importing a block), with gas used and bloom kept running and the header
        copied once (:class:`RunningHeader`) rather than after every transaction."""
        if base_header.block_number != self.get_header().block_number:
            raise ValidationError(f"This VM instance must only work on block #{self.get_header().block_number}, "
                                  f"but the target header has block #{base_header.block_number}")
        running = RunningHeader(self, base_header)
        receipts, computations = [], []
        for transaction in transactions:
            snapshot = self.state.snapshot()
            try:
                receipt, computation = self.apply_transaction(cast(BlockHeaderAPI, running), transaction)
            except EVMMissingData:
                self.state.revert(snapshot)
                raise
            running.add(receipt)
            if get_total_blob_gas(transaction):
                running.add_blob_gas(transaction)
            receipts.append(receipt)
            computations.append(computation)
        self.applied_receipts = tuple(receipts)
        return running.header(), self.applied_receipts, tuple(computations)

    @classmethod
    def make_receipt(cls, base_header: BlockHeaderAPI, transaction: SignedTransactionAPI,
                     computation: ComputationAPI, state: StateAPI) -> ReceiptAPI:
        """py-evm's (Byzantium on), the receipt's bloom and encoding made directly
        (:mod:`kernel.receipts`)."""
        gas_used = base_header.gas_used + cls.finalize_gas_used(transaction, computation)
        status = EIP658_TRANSACTION_STATUS_CODE_FAILURE if computation.is_error else EIP658_TRANSACTION_STATUS_CODE_SUCCESS
        return receipts.make_receipt(transaction, status, gas_used, computation.get_log_entries())

    @classmethod
    def validate_receipt(cls, receipt: ReceiptAPI) -> None:
        """Nothing to check: py-evm asks after each transaction whether the receipt it just made
        has a status code and a bloom holding its logs' addresses and topics, which it made
        from those logs (5% of an ERC-20 transfer). Receipts from elsewhere are checked by
        the receipts root."""

    def increment_blob_gas_used(self, old_header: BlockHeaderAPI, transaction: TransactionFieldsAPI) -> BlockHeaderAPI:
        """py-evm's, without its copy of the header after every transaction that carries no
        blobs (the copy validates every field again: a twentieth of importing a block)."""
        if not get_total_blob_gas(transaction):
            return old_header
        return super().increment_blob_gas_used(old_header, transaction)

    def process_deposit_request_data(self, block: BlockAPI) -> None:
        """py-evm's scan of the block's receipts for deposit logs, given the receipts the import
        just made instead of decoding them back from the receipt trie it wrote (a fifth of
        importing a block of transfers)."""
        receipts = self.applied_receipts
        super().process_deposit_request_data(block if receipts is None else cast(BlockAPI, _WithReceipts(block, receipts)))

    def pack_block(self, block: BlockAPI, *args: Any, **kwargs: Any) -> BlockAPI:
        """py-evm's, without deep-copying the block's transactions (``replace_header``)."""
        if "uncles" in kwargs:
            uncles = kwargs.pop("uncles")
            kwargs.setdefault("uncles_hash", keccak(rlp.encode(uncles)))
        else:
            uncles = block.uncles
        return replace_header(block, block.header.copy(**kwargs), uncles=uncles)

    def finalize_block(self, block: BlockAPI) -> BlockAndMetaWitness:
        """py-evm's, setting the state root without deep-copying the block's transactions
        (``replace_header``): that copy, and the one below, were a twentieth of importing a
        block. No block rewards after the merge (py-evm's Paris assigns none)."""
        meta_witness = self.state.persist()
        final_block = replace_header(block, block.header.copy(state_root=self.state.state_root))
        return BlockAndMetaWitness(final_block, meta_witness)

    @staticmethod
    def compute_requests_hash(block: BlockAPI) -> BlockAPI:
        """py-evm's EIP-7685 requests hash, set without deep-copying the block's transactions."""
        digest = sha256()
        for request in block.block_requests:
            if len(request) > 1:
                digest.update(sha256(request).digest())
        return replace_header(block, block.header.copy(requests_hash=digest.digest()))

    def block_preprocessing(self, block: BlockAPI) -> None:
        super().block_preprocessing(block)
        for to, data in self.system_calls:
            computation = self.execute_bytecode(
                origin=SYSTEM_ADDRESS, gas_price=0, gas=SYSTEM_CALL_GAS, to=to, sender=SYSTEM_ADDRESS,
                value=0, data=data, code=self.state.get_code(to), code_address=to)
            if computation.is_error:
                # Deterministic on every node; the block stays valid without the call's effects.
                logger.warning("system call to 0x%s failed: %r", to.hex(), computation.error)


class RunningHeader:
    """A block's header while its transactions are applied (``OpenBlock.add``, an import): its
    gas used and bloom as ``vm``'s ``add_receipt_to_header`` leaves them after each receipt,
    every other field the header's. From Byzantium on that call sets only those two, so they
    are kept here and the header copied once, when it is asked for (a copy re-validates the
    header's twenty fields: 4% of a transfer); before Byzantium it also sets the state root
    after every transaction, and is called. py-evm's ``apply_transaction`` reads only gas used
    and gas limit of the header it is given (the gas left, the receipt's cumulative gas)."""

    __slots__ = ("_vm", "_header", "_per_receipt", "gas_used", "bloom")

    def __init__(self, vm: VirtualMachineAPI, header: BlockHeaderAPI) -> None:
        self._vm = vm
        self._per_receipt = type(vm).add_receipt_to_header is not ByzantiumVM.add_receipt_to_header
        self._reset(header)

    def _reset(self, header: BlockHeaderAPI) -> None:
        self._header = header
        self.gas_used = header.gas_used
        self.bloom = header.bloom

    def __getattr__(self, name: str) -> Any:
        return getattr(self._header, name)

    def add(self, receipt: ReceiptAPI) -> None:
        if self._per_receipt:
            self._reset(self._vm.add_receipt_to_header(self._header, receipt))
        else:
            self.gas_used = receipt.gas_used
            self.bloom |= receipt.bloom

    def add_blob_gas(self, transaction: TransactionFieldsAPI) -> None:
        """``vm.increment_blob_gas_used`` for ``transaction``."""
        self._reset(self._vm.increment_blob_gas_used(self.header(), transaction))

    def header(self) -> BlockHeaderAPI:
        """The header with the gas used and bloom so far (the one it was made from, if none
        was added)."""
        if self.gas_used == self._header.gas_used and self.bloom == self._header.bloom:
            return self._header
        return self._header.copy(gas_used=self.gas_used, bloom=self.bloom)


def replace_header(block: BlockAPI, header: BlockHeaderAPI, **fields: Any) -> BlockAPI:
    """``block`` under ``header`` (and any other ``fields``), its transactions shared, not
    copied: rlp's ``copy`` deep-copies every field it is not given, a tenth of the time of
    building a full block, and transactions are immutable."""
    # py-evm's blocks are rlp Serializables: their fields are named in ``_meta``
    current = {name: getattr(block, name) for name in cast(Any, block)._meta.field_names}
    return block.copy(**{**current, **fields, "header": header})


class PrevRandaoRecordingState:
    """A state that notes whether any code read PREVRANDAO (the header's mixHash): a block
    executed before its mixHash was known stays valid under another one only if none did."""

    read_prevrandao = False

    @property
    def mix_hash(self) -> Any:
        self.read_prevrandao = True
        return super().mix_hash  # type: ignore[misc]


_mixin_vm_classes: dict[tuple[type[VirtualMachineAPI], type], Any] = {}
AnyVM = TypeVar("AnyVM", bound=VirtualMachineAPI)


def with_state_mixin(vm_class: type[AnyVM], mixin: type, prefix: str) -> type[AnyVM]:
    """``vm_class`` whose state class also derives from ``mixin`` (first, so its methods
    wrap the state's), named ``prefix`` + the original's; one class per pair, cached."""
    cached = _mixin_vm_classes.get((vm_class, mixin))
    if cached is None:
        state_class = vm_class.get_state_class()
        state: Any = type(f"{prefix}{state_class.__name__}", (mixin, state_class), {})
        cached = vm_class.configure(__name__=f"{prefix}{vm_class.__name__}", _state_class=state)
        _mixin_vm_classes[(vm_class, mixin)] = cached
    return cached


def prevrandao_recording_vm_class(vm_class: type[AnyVM]) -> type[AnyVM]:
    """``vm_class`` whose state is a :class:`PrevRandaoRecordingState`."""
    return with_state_mixin(vm_class, PrevRandaoRecordingState, "PrevRandaoRecording")


class _WithReceipts:
    """A block whose ``get_receipts`` answers from memory; everything else is the block's."""

    def __init__(self, block: BlockAPI, receipts: tuple[ReceiptAPI, ...]) -> None:
        self._block, self._receipts = block, receipts

    def get_receipts(self, chaindb: Any) -> tuple[ReceiptAPI, ...]:
        return self._receipts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._block, name)


class BlobScheduleVM(VM):
    """Mixed in before a Cancun-or-later VM: the blob rules read this chain's ``blob_schedule``
    (its genesis ``blobSchedule``) where py-evm reads its fork's module constants.

    Every place py-evm reads them is overridden: the child header's excess blob gas (target),
    block validation (target and max) and, through :class:`BlobScheduleState`, the blob base
    fee (update fraction) that execution charges and BLOBBASEFEE pushes.
    """

    blob_schedule: ClassVar[BlobSchedule]

    @classmethod
    def create_header_from_parent(cls, parent_header: BlockHeaderAPI | None,
                                  **header_params: Any) -> BlockHeaderAPI:
        # py-evm's VMs take None for a genesis header, which its API does not declare
        header = super().create_header_from_parent(cast(BlockHeaderAPI, parent_header), **header_params)
        if parent_header is None:
            return header       # a genesis header: its excess blob gas is the file's
        return header.copy(excess_blob_gas=compute_excess_blob_gas(parent_header, cls.blob_schedule))

    def validate_block_blobs(self, block: BlockAPI) -> None:
        parent = get_block_header_by_hash(block.header.parent_hash, self.chaindb)
        validate_block_blob_gas(block.header, parent, block.transactions, self.blob_schedule)


class BlobScheduleState(BaseState):
    """Mixed in before a Cancun-or-later state: the blob base fee under ``blob_schedule``."""

    blob_schedule: ClassVar[BlobSchedule]

    @property
    def blob_base_fee(self) -> int:
        # a Cancun-or-later context always has an excess (None is for earlier forks)
        return compute_base_fee_per_blob_gas(self.execution_context.excess_blob_gas or 0, self.blob_schedule)


@functools.cache
def with_blob_schedule(vm_class: type[VirtualMachineAPI], schedule: BlobSchedule) -> type[VirtualMachineAPI]:
    """``vm_class`` (Cancun or later) with ``schedule``'s blob parameters.

    A new class per (VM, schedule), never a change to py-evm's module constants: chains with
    different schedules run side by side in one process. Cached, so a genesis read twice
    gives the same classes (and the per-class caches of tracing and calls stay small).
    """
    state_class = vm_class.get_state_class()
    state = type(state_class.__name__, (BlobScheduleState, state_class), {"blob_schedule": schedule})
    return type(vm_class.__name__, (BlobScheduleVM, vm_class),
                {"blob_schedule": schedule, "_state_class": state, "__module__": __name__})
