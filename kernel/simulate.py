"""eth_simulateV1 (execution-apis): calls in a sequence of simulated blocks, nothing persisted.

Each simulated block is built as a real one is (block context, system steps, receipts, roots,
withdrawals) on top of the previous, with its own block and state overrides, in a pending
write batch that is dropped at the end: the answer carries real block hashes and state roots
and the chain is untouched. Calls are unsigned: their senders are taken as given.

Failures follow the spec: a call that reverts or fails in the EVM is a result (status 0 with
code 3 or -32015); a call that cannot run at all (nonce, funds, intrinsic gas, base fee, block
gas) fails the whole request with its -380xx code, as does a malformed block sequence.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Protocol, Sequence, cast

import rlp
from eth.abc import (
    AtomicDatabaseAPI, BlockAPI, BlockHeaderAPI, ComputationAPI, ReceiptAPI, SignedTransactionAPI,
    StateAPI, VirtualMachineAPI,
)
from eth.exceptions import Revert, VMError
from eth.vm.forks.byzantium.constants import (
    EIP658_TRANSACTION_STATUS_CODE_FAILURE, EIP658_TRANSACTION_STATUS_CODE_SUCCESS,
)
from eth.vm.forks.shanghai.withdrawals import Withdrawal
from eth.vm.spoof import SpoofTransaction
from eth_typing import Address
from eth_utils import ValidationError, keccak, to_checksum_address

from kernel.execution import (
    CallExecutor, CallMessage, StateOverrides, apply_state_overrides, decode_revert_reason, gas_used,
)
from kernel.tracing import (
    DEFAULT_TRACE_TIMEOUT, TraceRun, TraceTimeout, Tracer, error_text, tracing_vm_class,
)

MAX_SIMULATED_BLOCKS = 256        # geth's maxSimulateBlocks (and BLOCKHASH's reach)
TIMESTAMP_INCREMENT = 12          # geth: seconds between simulated blocks by default
TRANSFER_LOG_ADDRESS = b"\xee" * 20
TRANSFER_TOPIC = int.from_bytes(keccak(b"Transfer(address,address,uint256)"), "big")

# The spec's error codes.
NONCE_TOO_LOW, NONCE_TOO_HIGH, BASE_FEE_TOO_LOW = -38010, -38011, -38012
INTRINSIC_GAS_TOO_LOW, INSUFFICIENT_FUNDS, BLOCK_GAS_LIMIT_REACHED = -38013, -38014, -38015
BLOCK_NUMBER_INVALID, BLOCK_TIMESTAMP_INVALID, CLIENT_LIMIT_EXCEEDED = -38020, -38021, -38026
INVALID_PARAMS, VM_ERROR, TIMEOUT, REVERTED = -32602, -32015, -32016, 3


class SimulationError(Exception):
    """The whole request fails: the spec's code and geth's message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- the request ----------------------------------------------------------------------------

@dataclass(frozen=True)
class SimWithdrawal:
    index: int
    validator_index: int
    address: bytes
    amount: int       # gwei


@dataclass(frozen=True)
class BlockOverrides:
    """The spec's BlockOverrides; None keeps the default."""

    number: int | None = None
    time: int | None = None
    gas_limit: int | None = None
    fee_recipient: bytes | None = None
    prev_randao: bytes | None = None
    base_fee: int | None = None
    withdrawals: tuple[SimWithdrawal, ...] | None = None


@dataclass(frozen=True)
class SimBlock:
    overrides: BlockOverrides = BlockOverrides()
    state_overrides: StateOverrides = field(default_factory=dict)
    calls: tuple[CallMessage, ...] = ()


@dataclass(frozen=True)
class SimulateRequest:
    blocks: tuple[SimBlock, ...]
    validation: bool = False
    trace_transfers: bool = False


# -- the answer -----------------------------------------------------------------------------

@dataclass(frozen=True)
class SimLog:
    address: bytes
    topics: tuple[int, ...]
    data: bytes


@dataclass(frozen=True)
class CallFailure:
    code: int
    message: str
    data: bytes | None = None


@dataclass(frozen=True)
class CallOutcome:
    return_data: bytes
    gas_used: int
    logs: tuple[SimLog, ...]
    error: CallFailure | None
    max_used_gas: int = 0       # before refunds (geth's maxUsedGas)

    @property
    def succeeded(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class SimulatedBlock:
    block: BlockAPI
    senders: tuple[bytes, ...]
    calls: tuple[CallOutcome, ...]


# -- the logs a call emits (and its transfers, with traceTransfers) -------------------------

class LogCollector(Tracer):
    """Every log in emission order, ETH transfers among them as ERC-20 Transfer logs from
    0xeeee…eeee when asked; a failed frame's logs are dropped with it."""

    def __init__(self, trace_transfers: bool) -> None:
        self.trace_transfers = trace_transfers
        self.frames: list[list[SimLog]] = []
        self.logs: list[SimLog] = []

    def on_enter(self, depth: int, kind: str, sender: bytes, to: bytes, data: bytes, gas: int,
                 value: int | None) -> None:
        self.frames.append([])
        moves_value = kind in ("CALL", "CALLCODE", "CREATE", "CREATE2")
        if self.trace_transfers and moves_value and value:
            self.frames[-1].append(SimLog(TRANSFER_LOG_ADDRESS, (
                TRANSFER_TOPIC, int.from_bytes(sender, "big"), int.from_bytes(to, "big")),
                value.to_bytes(32, "big")))

    def on_log(self, address: bytes, topics: Sequence[int], data: bytes) -> None:
        self.frames[-1].append(SimLog(address, tuple(topics), data))

    def on_exit(self, depth: int, output: bytes, gas_used: int, error: VMError | None) -> None:
        logs = self.frames.pop()
        if error is not None:
            return
        (self.frames[-1] if self.frames else self.logs).extend(logs)

    def result(self) -> tuple[SimLog, ...]:
        return tuple(self.logs)


# -- the simulator --------------------------------------------------------------------------

class PendingBatchAPI(Protocol):
    @property
    def db(self) -> AtomicDatabaseAPI: ...

    def discard(self) -> None: ...


class SimulationSource(Protocol):
    """What simulation needs of a chain: VMs on any database."""

    chain_id: int

    def vm_class_for(self, number: int, timestamp: int) -> type[VirtualMachineAPI]: ...

    def vm_at(self, header: BlockHeaderAPI, db: AtomicDatabaseAPI | None = None, *,
              vm_class: type[VirtualMachineAPI] | None = None) -> VirtualMachineAPI: ...


@dataclass(frozen=True)
class SimulatedHeader:
    """A block's place in the sequence before it is built."""

    number: int
    timestamp: int
    overrides: BlockOverrides
    sim: SimBlock | None       # None: an empty block filling a gap in the numbers


def plan_blocks(base: BlockHeaderAPI, blocks: Sequence[SimBlock]) -> list[SimulatedHeader]:
    """The blocks to build: numbers and times defaulted and checked, gaps filled (geth's
    sanitizeChain)."""
    planned: list[SimulatedHeader] = []
    number, timestamp = int(base.block_number), int(base.timestamp)
    for sim in blocks:
        wanted = sim.overrides.number if sim.overrides.number is not None else number + 1
        if wanted <= number:
            raise SimulationError(BLOCK_NUMBER_INVALID, f"block numbers must be in order: {wanted} <= {number}")
        if wanted - base.block_number > MAX_SIMULATED_BLOCKS:
            raise SimulationError(CLIENT_LIMIT_EXCEEDED, "too many blocks")
        for gap in range(number + 1, wanted):
            timestamp += TIMESTAMP_INCREMENT
            planned.append(SimulatedHeader(gap, timestamp, BlockOverrides(), None))
        wanted_time = sim.overrides.time if sim.overrides.time is not None else timestamp + TIMESTAMP_INCREMENT
        if wanted_time <= timestamp:
            raise SimulationError(BLOCK_TIMESTAMP_INVALID,
                                  f"block timestamps must be in order: {wanted_time} <= {timestamp}")
        number, timestamp = wanted, wanted_time
        planned.append(SimulatedHeader(number, timestamp, sim.overrides, sim))
    return planned


class Simulator(CallExecutor):
    """Builds the simulated blocks of one request on a batch that is never written."""

    def __init__(self, chain: SimulationSource, scratch_batch: Callable[[], PendingBatchAPI]) -> None:
        """``scratch_batch`` opens a batch of writes readable over the chain's database and
        dropped unwritten (``LevelDB.pending_batch``)."""
        super().__init__(chain)
        self.source = chain
        self.scratch_batch = scratch_batch

    def simulate(self, base: BlockHeaderAPI, request: SimulateRequest,
                 timeout: float = DEFAULT_TRACE_TIMEOUT) -> list[SimulatedBlock]:
        """The request's blocks built on ``base``'s state; raises :class:`SimulationError`."""
        if len(request.blocks) > MAX_SIMULATED_BLOCKS:
            raise SimulationError(CLIENT_LIMIT_EXCEEDED, "too many blocks")
        plan = plan_blocks(base, request.blocks)
        deadline = time.monotonic() + timeout
        scratch = self.scratch_batch()
        try:
            parent, results = base, []
            for planned in plan:
                built = self.build_block(scratch.db, parent, planned, request, deadline)
                # Later blocks' BLOCKHASH reads their ancestors' headers by hash.
                scratch.db[built.block.hash] = rlp.encode(built.block.header)
                results.append(built)
                parent = built.block.header
            return results
        except TraceTimeout:
            raise SimulationError(TIMEOUT, f"execution timeout after {timeout:g}s") from None
        finally:
            scratch.discard()

    def block_header(self, db: AtomicDatabaseAPI, parent: BlockHeaderAPI, planned: SimulatedHeader,
                     validation: bool) -> BlockHeaderAPI:
        overrides = planned.overrides
        vm_class = self.source.vm_class_for(planned.number, planned.timestamp)
        fields: dict[str, Any] = {"timestamp": planned.timestamp,
                                  "gas_limit": overrides.gas_limit or parent.gas_limit,
                                  "coinbase": overrides.fee_recipient or parent.coinbase}
        if overrides.prev_randao is not None:
            fields["mix_hash"] = overrides.prev_randao
        header = vm_class.create_header_from_parent(parent, **fields)
        if getattr(header, "base_fee_per_gas", None) is not None:
            if overrides.base_fee is not None:
                header = header.copy(base_fee_per_gas=overrides.base_fee)
            elif not validation:
                # As eth_call: without validation, calls need no funds for fees.
                header = header.copy(base_fee_per_gas=0)
        return header

    def build_block(self, db: AtomicDatabaseAPI, parent: BlockHeaderAPI, planned: SimulatedHeader,
                    request: SimulateRequest, deadline: float) -> SimulatedBlock:
        header = self.block_header(db, parent, planned, request.validation)
        vm_class = self.source.vm_class_for(header.block_number, header.timestamp)
        vm = self.source.vm_at(header, db, vm_class=tracing_vm_class(vm_class))
        vm.block_preprocessing(vm.get_block())  # type: ignore[attr-defined]
        sim = planned.sim or SimBlock()
        apply_state_overrides(vm.state, sim.state_overrides)
        current = header
        transactions: list[SignedTransactionAPI] = []
        receipts: list[ReceiptAPI] = []
        outcomes: list[CallOutcome] = []
        senders: list[bytes] = []
        for message in sim.calls:
            message = self.complete_call(vm, current, message, request.validation)
            spoof = self._transaction(vm, message, message.gas or 0)
            collector = LogCollector(request.trace_transfers)
            computation = self.run_call(vm, spoof, message, collector, deadline)
            used = gas_used(vm.state, message.gas or 0, computation)
            transaction = zero_signature_transaction(vm, spoof, self.source.chain_id)
            # py-evm's receipt needs a sender it can recover: built here from the same facts.
            status = EIP658_TRANSACTION_STATUS_CODE_FAILURE if computation.is_error else \
                EIP658_TRANSACTION_STATUS_CODE_SUCCESS
            receipt = transaction.make_receipt(status, current.gas_used + used, computation.get_log_entries())
            current = vm.add_receipt_to_header(current, receipt)
            transactions.append(transaction)
            receipts.append(receipt)
            senders.append(message.sender)
            spent = (message.gas or 0) - computation.get_gas_remaining()
            outcomes.append(replace(call_outcome(computation, used, collector.result()), max_used_gas=spent))
        withdrawals = [Withdrawal(w.index, w.validator_index, Address(w.address), w.amount)
                       for w in planned.overrides.withdrawals or ()]
        block = vm.get_block().copy(header=current)
        if getattr(current, "withdrawals_root", None) is not None:
            filled = vm.set_block_transactions_and_withdrawals(block, current, transactions, receipts, withdrawals)
        else:
            filled = vm.set_block_transactions_and_withdrawals(block, current, transactions, receipts)
        final = vm.finalize_block(filled).block
        return SimulatedBlock(final, tuple(senders), tuple(outcomes))

    def complete_call(self, vm: VirtualMachineAPI, header: BlockHeaderAPI, message: CallMessage,
                      validation: bool) -> CallMessage:
        """The spec's defaults: the sender's nonce, the block's remaining gas."""
        remaining = header.gas_limit - header.gas_used
        gas = message.gas if message.gas is not None else remaining
        if gas > remaining:
            raise SimulationError(BLOCK_GAS_LIMIT_REACHED,
                                  f"block gas limit reached: {header.gas_used + gas} >= {header.gas_limit}")
        nonce = vm.state.get_nonce(Address(message.sender))
        if message.nonce is not None and validation:
            if message.nonce < nonce:
                raise SimulationError(NONCE_TOO_LOW, refusal(f"nonce too low: address {checksum(message.sender)}, "
                                                             f"tx: {message.nonce} state: {nonce}", gas))
            if message.nonce > nonce:
                raise SimulationError(NONCE_TOO_HIGH, refusal(f"nonce too high: address {checksum(message.sender)}, "
                                                              f"tx: {message.nonce} state: {nonce}", gas))
        base_fee = getattr(header, "base_fee_per_gas", None)
        if validation and base_fee is not None:
            fee_cap = message.max_fee if message.max_fee is not None else (message.gas_price or 0)
            if fee_cap < base_fee:
                raise SimulationError(BASE_FEE_TOO_LOW, refusal(
                    f"max fee per gas less than block base fee: address {checksum(message.sender)}, "
                    f"maxFeePerGas: {fee_cap}, baseFee: {base_fee}", gas))
        return replace(message, gas=gas, nonce=nonce)

    def run_call(self, vm: VirtualMachineAPI, spoof: SpoofTransaction, message: CallMessage,
                 collector: LogCollector, deadline: float) -> ComputationAPI:
        state = vm.state
        state.lock_changes()
        state.trace_run = TraceRun(collector, deadline)  # type: ignore[attr-defined]
        try:
            return state.apply_transaction(cast(SignedTransactionAPI, spoof))
        except ValidationError as exc:
            code, text = validation_failure(str(exc), message, state.get_balance(Address(message.sender)))
            raise SimulationError(code, refusal(text, message.gas or 0)) from None
        finally:
            state.trace_run = None  # type: ignore[attr-defined]


def checksum(address: bytes) -> str:
    return to_checksum_address(address)


def refusal(text: str, gas: int) -> str:
    """geth's wording of a call it would not run, as the spec's fixtures record it."""
    return f"err: {text} (supplied gas {gas})"


def validation_failure(message: str, call: CallMessage, balance: int) -> tuple[int, str]:
    """py-evm's refusal of a message as the spec's code and geth's words."""
    lowered = message.lower()
    # py-evm says "Insufficient gas", or finds the message's gas negative after intrinsic gas.
    if "intrinsic" in lowered or "insufficient gas" in lowered or "gas cannot be negative" in lowered:
        return INTRINSIC_GAS_TOO_LOW, "intrinsic gas too low"
    if "balance" in lowered or "funds" in lowered:
        price = call.max_fee if call.max_fee is not None else (call.gas_price or 0)
        want = call.value + (call.gas or 0) * price
        return INSUFFICIENT_FUNDS, (f"insufficient funds for gas * price + value: address {checksum(call.sender)} "
                                    f"have {balance} want {want}")
    if "nonce" in lowered:
        return NONCE_TOO_LOW, message
    if "base fee" in lowered or "max fee" in lowered:
        return BASE_FEE_TOO_LOW, message
    return INVALID_PARAMS, message


def call_outcome(computation: ComputationAPI, used: int, logs: tuple[SimLog, ...]) -> CallOutcome:
    if not computation.is_error:
        return CallOutcome(computation.output, used, logs, None)
    if isinstance(computation.error, Revert):
        reason = decode_revert_reason(computation.output)
        failure = CallFailure(REVERTED, "execution reverted" + (f": {reason}" if reason else ""), computation.output)
        return CallOutcome(computation.output, used, (), failure)
    # geth's words ("out of gas"), as the spec's conformance fixtures record them.
    return CallOutcome(b"", used, (), CallFailure(VM_ERROR, error_text(computation.error)))


def zero_signature_transaction(vm: VirtualMachineAPI, spoof: SpoofTransaction, chain_id: int) -> SignedTransactionAPI:
    """The call as the block's transaction: its fields with a zero signature, as geth hashes it."""
    tx: Any = spoof
    builder: Any = vm.get_transaction_builder()
    if hasattr(tx, "max_fee_per_gas") and hasattr(builder, "new_dynamic_fee_transaction"):
        built = builder.new_dynamic_fee_transaction(
            chain_id=chain_id, nonce=tx.nonce, max_priority_fee_per_gas=tx.max_priority_fee_per_gas,
            max_fee_per_gas=tx.max_fee_per_gas, gas=tx.gas, to=tx.to, value=tx.value, data=tx.data,
            access_list=tx.access_list, y_parity=0, r=0, s=0)
        # py-evm's builders make London's typed class whatever the fork; the fork's block
        # only serialises its own, which decoding gives.
        return builder.decode(built.encode())
    return builder.new_transaction(nonce=tx.nonce, gas_price=tx.gas_price, gas=tx.gas, to=tx.to,
                                   value=tx.value, data=tx.data, v=0, r=0, s=0)


__all__: Sequence[str] = (
    "BlockOverrides", "CallFailure", "CallOutcome", "MAX_SIMULATED_BLOCKS", "SimBlock", "SimLog",
    "SimWithdrawal", "SimulateRequest", "SimulatedBlock", "SimulationError", "Simulator", "StateAPI",
)
