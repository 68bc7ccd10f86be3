"""Message calls on any block's state, persisting nothing: call, gas estimate, access lists.

What eth_call, eth_estimateGas and eth_createAccessList compute, as geth computes it, with
failures as typed exceptions (the RPC layer turns them into its error codes). Every run
happens on a state that is reverted afterwards and never persisted.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Mapping, Protocol, Sequence, cast

import rlp
from eth.abc import (
    AtomicDatabaseAPI, BlockHeaderAPI, ComputationAPI, MessageAPI, OpcodeAPI, SignedTransactionAPI, StateAPI,
    TransactionContextAPI, VirtualMachineAPI,
)
from eth.exceptions import Revert
from eth.vm.forks.frontier.state import FrontierTransactionExecutor
from eth.vm.spoof import SpoofTransaction
from eth_typing import Address
from eth_utils import ValidationError, keccak
from kernel.limits import CALL_GAS_CAP, EVM_TIMEOUT, CallLimits
from kernel.vm import with_state_mixin

MAX_ACCESS_LIST_ROUNDS = 16     # geth iterates until the list stops changing
ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")   # Error(string)
ZERO_ADDRESS = Address(b"\0" * 20)

AccessList = tuple[tuple[bytes, tuple[int, ...]], ...]


# -- errors ---------------------------------------------------------------------------------

class CallError(Exception):
    """A call that produced no result; the message is geth's wording."""


class InvalidCall(CallError):
    """The message cannot run at all (funds, nonce, intrinsic gas)."""


class ExecutionReverted(CallError):
    """The call reverted; ``output`` is the revert data."""

    def __init__(self, output: bytes) -> None:
        reason = decode_revert_reason(output)
        super().__init__("execution reverted" + (f": {reason}" if reason else ""))
        self.output = output
        self.reason = reason


class ExecutionFailed(CallError):
    """The EVM stopped with an error other than REVERT (out of gas, invalid opcode...)."""


class GasAllowanceExceeded(CallError):
    """No gas limit up to the cap lets the call succeed."""


class ExecutionTimeout(CallError):
    """The execution outlived its deadline and was stopped (geth's --rpc.evmtimeout)."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"execution aborted (timeout = {go_duration(timeout)})")
        self.timeout = timeout


def go_duration(seconds: float) -> str:
    """A duration as Go prints it (geth's messages quote them): 5s, 1.5s, 500ms, 1m30s."""
    if seconds >= 60:
        minutes, rest = divmod(seconds, 60)
        return f"{int(minutes)}m{go_duration(rest) if rest else '0s'}"
    if seconds >= 1 or seconds == 0:
        return f"{seconds:g}s"
    return f"{seconds * 1000:g}ms"


def decode_revert_reason(output: bytes) -> str | None:
    """The string of an ``Error(string)`` revert (selector 0x08c379a0), if that is what it is."""
    if len(output) < 68 or output[:4] != ERROR_STRING_SELECTOR:
        return None
    try:
        from eth_abi import decode
        (reason,) = decode(["string"], output[4:])
        return str(reason)
    except Exception:  # malformed payload: the raw data is all there is
        return None


def vm_error_message(error: Exception) -> str:
    """geth's text for an EVM error."""
    name = type(error).__name__
    messages = {"OutOfGas": "out of gas", "InvalidInstruction": "invalid opcode",
                "InvalidJumpDestination": "invalid jump destination",
                "StackDepthLimit": "max call depth exceeded", "WriteProtection": "write protection",
                "InsufficientStack": "stack underflow", "FullStack": "stack limit reached",
                "InsufficientFunds": "insufficient balance for transfer",
                "ContractCreationCollision": "contract address collision"}
    return messages.get(name, str(error) or name)


# -- the EVM timeout: each execution's deadline (the bounds themselves: kernel.limits) ---------

# (instant, timeout) by which the executions of this context must end. A context variable, so
# the RPC dispatcher can start the clock when a request arrives (trio copies the context into
# the worker thread) and a call that waited its whole timeout for a thread never runs.
_deadline: ContextVar[tuple[float, float] | None] = ContextVar("azora_execution_deadline", default=None)


@contextmanager
def execution_deadline(timeout: float, *, started: float | None = None) -> Iterator[None]:
    """Executions inside raise :class:`ExecutionTimeout` once ``timeout`` seconds have passed
    since ``started`` (a ``time.monotonic()`` instant, now by default). Nested deadlines keep
    the earliest; a timeout of 0 adds none."""
    current = _deadline.get()
    if timeout > 0:
        at = (time.monotonic() if started is None else started) + timeout
        if current is None or at < current[0]:
            current = (at, timeout)
    token = _deadline.set(current)
    try:
        yield
    finally:
        _deadline.reset(token)


def check_deadline() -> None:
    """Raise :class:`ExecutionTimeout` if this context's deadline has passed."""
    current = _deadline.get()
    if current is not None and time.monotonic() >= current[0]:
        raise ExecutionTimeout(current[1])


# Every unbounded execution passes one of these: a loop needs a jump, recursion a call or
# create. Checking the clock there (and on entering any message) stops it within a few
# opcodes of its deadline, at no cost to straight-line code.
DEADLINE_OPCODES = frozenset({
    0x56, 0x57,                          # JUMP, JUMPI
    0xF0, 0xF1, 0xF2, 0xF4, 0xF5, 0xFA,  # CREATE, CALL, CALLCODE, DELEGATECALL, CREATE2, STATICCALL
})


class DeadlineOpcode(OpcodeAPI):
    """An opcode that first checks the execution deadline (py-evm holds the GIL while it
    runs: only the computation itself can stop itself)."""

    __slots__ = ("inner", "mnemonic", "gas_cost")

    def __init__(self, inner: OpcodeAPI) -> None:
        self.inner = inner
        self.mnemonic = inner.mnemonic
        # every py-evm opcode has its static cost; OpcodeAPI does not declare it
        self.gas_cost = cast(Any, inner).gas_cost

    def __call__(self, computation: ComputationAPI) -> None:
        # check_deadline() inlined: this runs on every jump of every RPC execution.
        current = _deadline.get()
        if current is not None and time.monotonic() >= current[0]:
            raise ExecutionTimeout(current[1])
        self.inner(computation)

    @classmethod
    def as_opcode(cls, logic_fn: Any, mnemonic: str, gas_cost: int) -> OpcodeAPI:
        raise NotImplementedError("wraps an existing opcode")


_deadline_vm_classes: dict[type[VirtualMachineAPI], type[VirtualMachineAPI]] = {}


def deadline_vm_class(vm_class: type[VirtualMachineAPI]) -> type[VirtualMachineAPI]:
    """``vm_class`` whose executions stop at the context's deadline (see
    :func:`execution_deadline`); one class per VM class, cached. Tracers and simulators
    build their VMs from it so they obey the RPC timeout too."""
    cached = _deadline_vm_classes.get(vm_class)
    if cached is None:
        state_class = vm_class.get_state_class()
        base: Any = state_class.computation_class
        opcodes = {code: DeadlineOpcode(fn) if code in DEADLINE_OPCODES else fn
                   for code, fn in base.opcodes.items()}

        def apply_computation(cls: Any, state: StateAPI, message: MessageAPI,
                              transaction_context: TransactionContextAPI,
                              parent_computation: ComputationAPI | None = None) -> ComputationAPI:
            check_deadline()
            return base.apply_computation.__func__(cls, state, message, transaction_context,
                                                   parent_computation)

        computation = type(f"Deadline{base.__name__}", (base,),
                           {"opcodes": opcodes, "apply_computation": classmethod(apply_computation)})
        timed_state = state_class.configure(__name__=f"Deadline{state_class.__name__}",
                                            computation_class=computation)
        cached = vm_class.configure(__name__=f"Deadline{vm_class.__name__}", _state_class=timed_state)
        _deadline_vm_classes[vm_class] = cached
    return cached


# -- inputs ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class CallMessage:
    """A message to run: geth's call object with its fields decoded."""

    sender: Address = ZERO_ADDRESS
    to: Address | None = None
    gas: int | None = None
    gas_price: int | None = None
    max_fee: int | None = None
    max_priority_fee: int | None = None
    value: int = 0
    data: bytes = b""
    nonce: int | None = None
    access_list: AccessList = ()

    @property
    def pays_fees(self) -> bool:
        return bool(self.gas_price or self.max_fee)


@dataclass(frozen=True)
class AccountOverride:
    """geth's state override of one account for one call (nothing is persisted)."""

    balance: int | None = None
    nonce: int | None = None
    code: bytes | None = None
    state: Mapping[int, int] | None = None        # replaces the whole storage
    state_diff: Mapping[int, int] = field(default_factory=dict)


StateOverrides = Mapping[Address, AccountOverride]


@dataclass(frozen=True)
class AccessListResult:
    access_list: AccessList
    gas_used: int
    error: str | None     # the call's failure, if it failed with this list


class VMSource(Protocol):
    """What execution needs of a chain: its id and a VM on any header's state."""

    chain_id: int

    def vm_class_for(self, number: int, timestamp: int) -> type[VirtualMachineAPI]: ...

    def vm_at(self, header: BlockHeaderAPI, db: AtomicDatabaseAPI | None = None, *,
              vm_class: type[VirtualMachineAPI] | None = None) -> VirtualMachineAPI: ...


# -- the executor ---------------------------------------------------------------------------

ESTIMATE_ERROR_RATIO = 0.015   # geth's eth_estimateGas tolerance (an estimate may be this much high)


class CallExecutor:
    """Runs message calls against a block's post-state without persisting anything.

    Each public method is one execution under ``limits``: it ends with
    :class:`ExecutionTimeout` at its deadline (or the caller's, if earlier) and never gets
    more gas than the cap.
    """

    def __init__(self, chain: VMSource, limits: CallLimits = CallLimits()) -> None:
        self.chain = chain
        self.limits = limits

    def call(self, header: BlockHeaderAPI, message: CallMessage,
             overrides: StateOverrides | None = None, *, db: AtomicDatabaseAPI | None = None) -> bytes:
        """The call's output; raises :class:`CallError` if it fails. ``db``: where ``header``'s
        state lives when it is not the chain's (the pending block's overlay)."""
        with execution_deadline(self.limits.timeout):
            vm = self._vm(header, message, db=db)
            apply_state_overrides(vm.state, overrides or {})
            # geth: no gas given is the cap's worth (without a cap, its "infinite" 2**63/2).
            gas = self.limits.cap(message.gas or self.limits.gas_cap or 2**62)
            computation = self._run(vm, message, gas)
        if computation.is_error:
            raise computation_error(computation)
        return computation.output

    def estimate_gas(self, header: BlockHeaderAPI, message: CallMessage,
                     overrides: StateOverrides | None = None, *, db: AtomicDatabaseAPI | None = None) -> int:
        """The least gas limit with which the message succeeds (geth's binary search)."""
        with execution_deadline(self.limits.timeout):
            return self._estimate_gas(header, message, overrides, db)

    def _estimate_gas(self, header: BlockHeaderAPI, message: CallMessage,
                      overrides: StateOverrides | None, db: AtomicDatabaseAPI | None) -> int:
        vm = self._vm(header, message, db=db)
        apply_state_overrides(vm.state, overrides or {})
        cap = self.limits.cap(min(message.gas or header.gas_limit, header.gas_limit))
        if message.pays_fees:
            price = message.max_fee or message.gas_price or 0
            affordable = (vm.state.get_balance(message.sender) - message.value) // max(price, 1)
            cap = max(0, min(cap, affordable))
        computation = self._run(vm, message, cap)
        if computation.is_error:
            if isinstance(computation.error, Revert):
                raise ExecutionReverted(computation.output)
            raise GasAllowanceExceeded(f"gas required exceeds allowance ({cap})")
        # Search between what the run used and the cap; most calls succeed at the first guess
        # (used plus the 1/64 that CALLs withhold), so this costs one or two more runs.
        intrinsic = self._transaction(vm, message, cap).intrinsic_gas
        used = intrinsic + computation.get_gas_used()   # the message's gas excludes intrinsic
        if used == intrinsic:
            return intrinsic   # no code ran (a plain transfer): nothing more can be needed
        low, high = used - 1, cap
        guess = min(cap, (used + computation.get_gas_refund() + 2300) * 64 // 63)
        if guess < high and not self._run(vm, message, guess).is_error:
            high = guess
        # geth stops within 1.5 % above the least gas: wallets add 20-25 % anyway, and each
        # further halving is one more full execution
        while high - low > 1 and (high - low) / high >= ESTIMATE_ERROR_RATIO:
            middle = (low + high) // 2
            if self._run(vm, message, middle).is_error:
                low = middle
            else:
                high = middle
        return high

    def create_access_list(self, header: BlockHeaderAPI, message: CallMessage, *,
                           db: AtomicDatabaseAPI | None = None) -> AccessListResult:
        """geth's eth_createAccessList: run until the accounts and slots touched stop changing.

        The sender, the recipient and the precompiles are left out unless they carry slots.
        """
        with execution_deadline(self.limits.timeout):
            return self._create_access_list(header, message, db)

    def _create_access_list(self, header: BlockHeaderAPI, message: CallMessage,
                            db: AtomicDatabaseAPI | None) -> AccessListResult:
        gas = self.limits.cap(message.gas if message.gas is not None else header.gas_limit)
        vm = self._vm(header, message, tracing=True, db=db)
        state = vm.state
        assert isinstance(state, AccessRecordingState)
        nonce = message.nonce if message.nonce is not None else state.get_nonce(message.sender)
        message = replace(message, gas=gas, nonce=nonce)
        recipient = message.to if message.to is not None else keccak(rlp.encode([message.sender, nonce]))[12:]
        excluded = {message.sender, recipient} | set(state.computation_class.get_precompiles())
        access_list = message.access_list
        used, error = 0, None
        for _ in range(MAX_ACCESS_LIST_ROUNDS):
            message = replace(message, access_list=access_list)
            state.forget_accesses()
            computation = self._run(vm, message, gas)
            used, error = gas_used(state, gas, computation), _failure(computation)
            found = merge_access_list(access_list, state.touched_addresses, state.touched_slots, excluded)
            if found == access_list:
                break
            access_list = found
        return AccessListResult(access_list, used, error)

    # -- one run ------------------------------------------------------------------------

    def _vm(self, header: BlockHeaderAPI, message: CallMessage, *, tracing: bool = False,
            db: AtomicDatabaseAPI | None = None) -> VirtualMachineAPI:
        # geth runs a call without fees with a zero base fee, so callers need no funds.
        if not message.pays_fees and getattr(header, "base_fee_per_gas", None) is not None:
            header = header.copy(base_fee_per_gas=0)
        vm_class = deadline_vm_class(self.chain.vm_class_for(header.block_number, header.timestamp))
        if tracing:
            vm_class = access_recording_vm_class(vm_class)
        return self.chain.vm_at(header, db, vm_class=vm_class)

    def _transaction(self, vm: VirtualMachineAPI, message: CallMessage, gas: int) -> SpoofTransaction:
        # geth skips nonce checks in calls and estimates: the call object's nonce (ethers sends
        # one, often stale) never refuses a run; the account's own nonce is the one used.
        nonce = vm.state.get_nonce(message.sender)
        builder = vm.get_transaction_builder()
        to = message.to or Address(b"")   # py-evm spells a creation as an empty address
        base_fee = getattr(vm.get_header(), "base_fee_per_gas", None)
        if base_fee is not None and hasattr(builder, "new_unsigned_dynamic_fee_transaction"):
            max_fee = message.max_fee if message.max_fee is not None else (message.gas_price or 0)
            tip = message.max_priority_fee if message.max_priority_fee is not None else max_fee - base_fee
            tx = builder.new_unsigned_dynamic_fee_transaction(
                chain_id=self.chain.chain_id, nonce=nonce, max_priority_fee_per_gas=max(0, min(tip, max_fee)),
                max_fee_per_gas=max_fee, gas=gas, to=to, value=message.value, data=message.data,
                access_list=message.access_list)
        else:
            tx = vm.create_unsigned_transaction(nonce=nonce, gas_price=message.gas_price or 0,
                                                gas=gas, to=to, value=message.value, data=message.data)
        return SpoofTransaction(tx, from_=message.sender)

    def _run(self, vm: VirtualMachineAPI, message: CallMessage, gas: int) -> ComputationAPI:
        check_deadline()   # a run that waited out its deadline (in a queue) does not start
        tx = self._transaction(vm, message, gas)
        snapshot = vm.state.snapshot()
        try:
            # py-evm runs a SpoofTransaction (an unsigned one with a chosen sender) as signed
            return vm.state.apply_transaction(cast(SignedTransactionAPI, tx))
        except ValidationError as exc:
            raise InvalidCall(geth_validation_message(str(exc), message)) from None
        finally:
            vm.state.revert(snapshot)


def computation_error(computation: ComputationAPI) -> CallError:
    if isinstance(computation.error, Revert):
        return ExecutionReverted(computation.output)
    return ExecutionFailed(vm_error_message(computation.error))


def _failure(computation: ComputationAPI) -> str | None:
    if not computation.is_error:
        return None
    return "execution reverted" if isinstance(computation.error, Revert) else \
        vm_error_message(computation.error)


def geth_validation_message(message: str, call: CallMessage) -> str:
    lowered = message.lower()
    if "balance" in lowered or "funds" in lowered:
        return f"insufficient funds for gas * price + value: address 0x{call.sender.hex()}"
    if "nonce" in lowered:
        return f"nonce too low: {message}" if "expected" in lowered else message
    if "intrinsic" in lowered:
        return "intrinsic gas too low"
    return message


def apply_state_overrides(state: StateAPI, overrides: StateOverrides) -> None:
    """geth's third eth_call argument, applied to a state that is never persisted."""
    for address, override in overrides.items():
        if override.balance is not None:
            state.set_balance(address, override.balance)
        if override.nonce is not None:
            state.set_nonce(address, override.nonce)
        if override.code is not None:
            state.set_code(address, override.code)
        if override.state is not None:
            state.delete_storage(address)
        for slot, value in {**(override.state or {}), **override.state_diff}.items():
            state.set_storage(address, slot, value)


def gas_used(state: StateAPI, gas: int, computation: ComputationAPI) -> int:
    """What the receipt would say, computed as py-evm's finalize_computation does.

    Gas spent minus the capped refund, plus what EIP-7623's calldata floor adds.
    """
    spent = gas - computation.get_gas_remaining()
    # every fork's executor derives from Frontier's, which has it; the API class does not
    executor = cast(type[FrontierTransactionExecutor], state.transaction_executor_class)
    refund = executor.calculate_gas_refund(computation, spent)
    return spent - refund + (getattr(computation, "data_floor_gas", 0) or 0)


# -- access-list tracing --------------------------------------------------------------------

class AccessRecordingState:
    """A state mixin that records every account and slot an opcode asked about.

    EVM opcodes ask the state whether an account or slot is warm before each access
    (EIP-2929); the transaction's own pre-warming marks without asking, so asking is the
    opcode's trace.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.forget_accesses()

    def forget_accesses(self) -> None:
        self.touched_addresses: set[bytes] = set()
        self.touched_slots: set[tuple[bytes, int]] = set()

    def is_address_warm(self, address: bytes) -> bool:
        self.touched_addresses.add(address)
        return super().is_address_warm(address)  # type: ignore[misc]

    def is_storage_warm(self, address: bytes, slot: int) -> bool:
        self.touched_slots.add((address, slot))
        return super().is_storage_warm(address, slot)  # type: ignore[misc]


def access_recording_vm_class(vm_class: type[VirtualMachineAPI]) -> type[VirtualMachineAPI]:
    """``vm_class`` with a state that records accesses (one class per VM class, cached)."""
    return with_state_mixin(vm_class, AccessRecordingState, "AccessRecording")


def merge_access_list(base: AccessList, addresses: set[bytes], slots: set[tuple[bytes, int]],
                      excluded: set[bytes]) -> AccessList:
    """geth's accessList: the given entries, then touched accounts; slots kept for every account.

    Excluded accounts (sender, recipient, precompiles) appear only to carry their slots.
    """
    merged: dict[bytes, list[int]] = {}
    for address, keys in base:
        entry = merged.setdefault(address, [])
        entry.extend(k for k in keys if k not in entry)
    for address, slot in sorted(slots):
        entry = merged.setdefault(address, [])
        if slot not in entry:
            entry.append(slot)
    for address in sorted(addresses - excluded):
        merged.setdefault(address, [])
    # Sorted, as geth sorts, so the list is stable from one round to the next.
    return tuple((address, tuple(sorted(keys))) for address, keys in sorted(merged.items()))


__all__: Sequence[str] = (
    "AccessListResult", "AccountOverride", "CALL_GAS_CAP", "CallError", "CallExecutor", "CallLimits",
    "CallMessage", "EVM_TIMEOUT", "ExecutionFailed", "ExecutionReverted", "ExecutionTimeout",
    "GasAllowanceExceeded", "InvalidCall", "check_deadline", "deadline_vm_class", "decode_revert_reason",
    "execution_deadline", "vm_error_message",
)
