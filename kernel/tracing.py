"""geth's transaction tracers on py-evm: the struct logger, callTracer, prestateTracer, 4byteTracer.

A traced run uses a VM whose computation class reports to a tracer: frames as they are entered
and left, each opcode before it runs (with the gas it cost once it has run), and each log. The
tracer is carried by the state (``state.tracer``), so one cached VM class serves every trace
and concurrent traces do not share anything. Results are shaped exactly as geth's JSON.

Replaying a mined transaction runs the block's earlier transactions untraced on its parent's
state first, as geth does. Nothing is persisted: every run happens on a journal that is dropped.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Protocol, Sequence

from eth._utils.address import generate_contract_address, generate_safe_contract_address
from eth.abc import (
    AtomicDatabaseAPI, BlockAPI, BlockHeaderAPI, ComputationAPI, MessageAPI, SignedTransactionAPI, StateAPI,
    TransactionContextAPI, VirtualMachineAPI,
)
from eth.exceptions import Halt, Revert, VMError
from eth.vm.computation import NO_RESULT
from eth.vm.opcode_values import (
    BALANCE, CALL, CALLCODE, CREATE, CREATE2, DELEGATECALL, EXTCODECOPY, EXTCODEHASH,
    EXTCODESIZE, SELFDESTRUCT, SLOAD, SSTORE, STATICCALL,
)
from eth.vm.logic.invalid import InvalidOpcode
from eth_typing import Address
from eth_utils import ValidationError, keccak

from kernel.execution import (
    CallExecutor, CallMessage, InvalidCall, StateOverrides, apply_state_overrides,
    decode_revert_reason, gas_used, geth_validation_message, vm_error_message,
)

DEFAULT_TRACE_TIMEOUT = 5.0     # seconds: geth's defaultTraceTimeout
EMPTY_CODE_HASH = keccak(b"")
CALL_OPS = frozenset({CALL, CALLCODE, DELEGATECALL, STATICCALL})
ACCOUNT_OPS = frozenset({EXTCODECOPY, EXTCODEHASH, EXTCODESIZE, BALANCE, SELFDESTRUCT})
# py-evm's mnemonics where geth's differ.
GETH_OP_NAMES = {"SHA3": "KECCAK256"}


class TraceError(Exception):
    """A trace that cannot be produced; the message is geth's wording."""


class TraceTimeout(TraceError):
    def __init__(self) -> None:
        super().__init__("execution timeout")


# -- what tracers are told ------------------------------------------------------------------

@dataclass(frozen=True)
class TxStart:
    """The transaction about to run, as a tracer's OnTxStart sees it."""

    sender: bytes
    to: bytes               # the recipient, or the address a creation makes
    is_create: bool
    gas: int
    value: int
    data: bytes
    coinbase: bytes


class Tracer:
    """geth's tracing hooks; a subclass overrides the ones it needs."""

    wants_opcodes = False

    def on_tx_start(self, state: StateAPI, tx: TxStart) -> None: ...

    def on_enter(self, depth: int, kind: str, sender: bytes, to: bytes, data: bytes, gas: int,
                 value: int | None) -> None: ...

    def on_exit(self, depth: int, output: bytes, gas_used: int, error: VMError | None) -> None: ...

    def on_opcode(self, computation: ComputationAPI, pc: int, op: int, name: str, gas: int,
                  depth: int) -> Any:
        """Before an opcode runs; what it returns is handed to :meth:`on_opcode_done`."""

    def on_opcode_done(self, step: Any, cost: int, error: VMError | None) -> None: ...

    def on_log(self, address: bytes, topics: Sequence[int], data: bytes) -> None: ...

    def on_tx_end(self, state: StateAPI, gas_used: int, computation: ComputationAPI) -> None: ...

    def result(self) -> Any:
        raise NotImplementedError


def hex_quantity(value: int) -> str:
    return hex(value)


def hex_data(value: bytes) -> str:
    return "0x" + value.hex()


def hex_word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def stack_ints(computation: ComputationAPI) -> list[int]:
    values = computation._stack.values  # type: ignore[attr-defined]
    return [v if isinstance(v, int) else int.from_bytes(v, "big") for v in values]


def to_address(value: int) -> bytes:
    return (value & (2**160 - 1)).to_bytes(20, "big")


def error_text(error: VMError) -> str:
    return "execution reverted" if isinstance(error, Revert) else vm_error_message(error)


# -- the struct logger ----------------------------------------------------------------------

@dataclass(frozen=True)
class StructLoggerConfig:
    """geth's logger.Config: what each step records."""

    enable_memory: bool = False
    disable_stack: bool = False
    disable_storage: bool = False
    enable_return_data: bool = False
    limit: int = 0      # 0: every step


class StructLogger(Tracer):
    """geth's default tracer: one entry per opcode, then gas, failed and returnValue.

    Words are 0x-prefixed and ``refund`` is on every step, as geth 1.15+ and the
    execution-apis spec (OpcodeTransactionTrace) give them.
    """

    wants_opcodes = True

    def __init__(self, config: StructLoggerConfig = StructLoggerConfig()) -> None:
        self.config = config
        self.logs: list[dict[str, Any]] = []
        self.storage: dict[bytes, dict[str, str]] = {}
        self.gas = 0
        self.output = b""
        self.error: VMError | None = None
        self.open_computations: list[ComputationAPI] = []    # the run's open frames, for the refund

    def on_opcode(self, computation: ComputationAPI, pc: int, op: int, name: str, gas: int,
                  depth: int) -> Any:
        if self.config.limit and len(self.logs) >= self.config.limit:
            return None
        step: dict[str, Any] = {"pc": pc, "op": name, "gas": gas, "gasCost": 0, "depth": depth}
        stack = stack_ints(computation)
        if not self.config.disable_stack:
            step["stack"] = [hex(v) for v in stack]
        return_data = computation.return_data
        if self.config.enable_return_data and return_data:
            step["returnData"] = hex_data(bytes(return_data))
        if self.config.enable_memory:
            memory = bytes(computation._memory._bytes)  # type: ignore[attr-defined]
            step["memory"] = ["0x" + memory[i:i + 32].hex() for i in range(0, len(memory), 32)]
        if not self.config.disable_storage and op in (SLOAD, SSTORE) and stack:
            address = computation.msg.storage_address
            seen = self.storage.setdefault(address, {})
            slot = stack[-1]
            if op == SLOAD:
                value = computation.state.get_storage(address, slot)
            elif len(stack) >= 2:
                value = stack[-2]
            else:
                value = None
            if value is not None:
                seen[hex_word(slot)] = hex_word(value)
                step["storage"] = dict(seen)
        step["refund"] = sum(c.get_gas_refund() for c in self.open_computations)
        self.logs.append(step)
        return step

    def on_opcode_done(self, step: Any, cost: int, error: VMError | None) -> None:
        step["gasCost"] = cost
        if error is not None and not isinstance(error, Revert):
            step["error"] = error_text(error)

    def on_exit(self, depth: int, output: bytes, gas_used: int, error: VMError | None) -> None:
        if depth == 0:
            self.output, self.error = output, error

    def on_tx_end(self, state: StateAPI, gas_used: int, computation: ComputationAPI) -> None:
        self.gas = gas_used

    def result(self) -> dict[str, Any]:
        failed = self.error is not None
        # geth: the output when it succeeded or reverted, else nothing.
        value = b"" if failed and not isinstance(self.error, Revert) else self.output
        return {"gas": self.gas, "failed": failed, "returnValue": hex_data(value), "structLogs": self.logs}


# -- callTracer -----------------------------------------------------------------------------

class CallTracer(Tracer):
    """geth's callTracer: the tree of call frames (``onlyTopCall``, ``withLog``)."""

    def __init__(self, only_top_call: bool = False, with_log: bool = False) -> None:
        self.only_top_call = only_top_call
        self.with_log = with_log
        self.stack: list[dict[str, Any]] = []
        self.top: dict[str, Any] | None = None
        self.tx_gas = 0

    def on_tx_start(self, state: StateAPI, tx: TxStart) -> None:
        self.tx_gas = tx.gas

    def on_enter(self, depth: int, kind: str, sender: bytes, to: bytes, data: bytes, gas: int,
                 value: int | None) -> None:
        if depth > 0 and self.only_top_call:
            return
        frame: dict[str, Any] = {"from": hex_data(sender), "gas": hex_quantity(self.tx_gas if depth == 0 else gas),
                                 "gasUsed": "0x0", "to": hex_data(to), "input": hex_data(data)}
        if value is not None:
            frame["value"] = hex_quantity(value)
        frame["type"] = kind
        self.stack.append(frame)

    def on_exit(self, depth: int, output: bytes, gas_used: int, error: VMError | None) -> None:
        if depth > 0 and self.only_top_call:
            return
        frame = self.stack.pop()
        frame["gasUsed"] = hex_quantity(gas_used)
        if error is None:
            if output:
                frame["output"] = hex_data(output)
        else:
            frame["error"] = error_text(error)
            if frame["type"] in ("CREATE", "CREATE2"):
                del frame["to"]
            if isinstance(error, Revert) and output:
                frame["output"] = hex_data(output)
                reason = decode_revert_reason(output)
                if reason is not None:
                    frame["revertReason"] = reason
        if self.stack:
            self.stack[-1].setdefault("calls", []).append(frame)
        else:
            self.top = frame

    def on_log(self, address: bytes, topics: Sequence[int], data: bytes) -> None:
        if not self.with_log or not self.stack:
            return
        frame = self.stack[-1]
        frame.setdefault("logs", []).append({
            "address": hex_data(address), "topics": [hex_word(t) for t in topics], "data": hex_data(data),
            "position": hex_quantity(len(frame.get("calls", ())))})

    def on_tx_end(self, state: StateAPI, gas_used: int, computation: ComputationAPI) -> None:
        if self.top is not None:
            self.top["gasUsed"] = hex_quantity(gas_used)
            clear_failed_logs(self.top, False)

    def result(self) -> dict[str, Any]:
        assert self.top is not None, "the transaction never started"
        return self.top


def clear_failed_logs(frame: dict[str, Any], parent_failed: bool) -> None:
    """Logs of a failed frame, and of everything under it, were never emitted."""
    failed = parent_failed or "error" in frame
    if failed:
        frame.pop("logs", None)
    for child in frame.get("calls", ()):
        clear_failed_logs(child, failed)


# -- prestateTracer -------------------------------------------------------------------------

@dataclass
class AccountState:
    balance: int
    nonce: int
    code: bytes
    storage: dict[int, int] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.nonce > 0 or bool(self.code) or bool(self.storage) or self.balance != 0


def read_account(state: StateAPI, address: bytes) -> AccountState:
    account = Address(address)
    return AccountState(state.get_balance(account), state.get_nonce(account), state.get_code(account))


class PrestateTracer(Tracer):
    """geth's prestateTracer: every account the transaction touched, before it ran
    (``diffMode``: only what changed, before and after)."""

    wants_opcodes = True

    def __init__(self, diff_mode: bool = False, disable_code: bool = False,
                 disable_storage: bool = False) -> None:
        self.diff_mode = diff_mode
        self.disable_code = disable_code
        self.disable_storage = disable_storage
        self.state: StateAPI | None = None
        self.pre: dict[bytes, AccountState] = {}
        self.post: dict[bytes, AccountState] = {}
        self.created: set[bytes] = set()
        self.deleted: set[bytes] = set()
        self.precompiles: set[bytes] = set()
        self.to = b""
        self.is_create = False

    def on_tx_start(self, state: StateAPI, tx: TxStart) -> None:
        self.state = state
        self.precompiles = set(state.computation_class.get_precompiles())
        self.to, self.is_create = tx.to, tx.is_create
        for address in (tx.sender, tx.to, tx.coinbase):
            self.look_up_account(address)
        if tx.is_create:
            self.created.add(tx.to)

    def look_up_account(self, address: bytes) -> None:
        if address in self.pre or self.state is None:
            return
        self.pre[address] = read_account(self.state, address)

    def on_opcode(self, computation: ComputationAPI, pc: int, op: int, name: str, gas: int,
                  depth: int) -> Any:
        stack = stack_ints(computation)
        caller = computation.msg.storage_address
        if op in (SLOAD, SSTORE) and stack:
            self.look_up_account(caller)
            slots = self.pre[caller].storage
            if stack[-1] not in slots:
                slots[stack[-1]] = computation.state.get_storage(caller, stack[-1])
        elif op in ACCOUNT_OPS and stack:
            self.look_up_account(to_address(stack[-1]))
            if op == SELFDESTRUCT:
                self.deleted.add(caller)
        elif op in CALL_OPS and len(stack) >= 5:
            target = to_address(stack[-2])
            if target not in self.precompiles:
                self.look_up_account(target)
        elif op == CREATE:
            created = generate_contract_address(caller, computation.state.get_nonce(caller))
            self.look_up_account(created)
            self.created.add(created)
        elif op == CREATE2 and len(stack) >= 4:
            offset, size, salt = stack[-2], stack[-3], stack[-4]
            init = computation.memory_read_bytes(offset, size) if size else b""
            created = generate_safe_contract_address(caller, salt, init)
            self.look_up_account(created)
            self.created.add(created)
        return None

    def on_tx_end(self, state: StateAPI, gas_used: int, computation: ComputationAPI) -> None:
        if self.diff_mode:
            self.compute_diff(state)
        # Contracts this transaction created were empty before it: they have no prestate.
        for address in self.created:
            account = self.pre.get(address)
            if account is not None and not account.exists:
                del self.pre[address]

    def compute_diff(self, state: StateAPI) -> None:
        for address in list(self.pre):
            if address in self.deleted:
                continue
            before = self.pre[address]
            after = read_account(state, address)
            changed = False
            post = AccountState(balance=-1, nonce=-1, code=b"")
            if after.balance != before.balance:
                changed, post.balance = True, after.balance
            if after.nonce != before.nonce:
                changed, post.nonce = True, after.nonce
            if after.code != before.code:
                changed, post.code = True, after.code
            for slot, value in list(before.storage.items()):
                new = state.get_storage(Address(address), slot)
                if value == 0 or value == new:
                    # geth leaves out unchanged slots and empty ones before the transaction.
                    del before.storage[slot]
                if value != new:
                    changed = True
                    if new != 0:
                        post.storage[slot] = new
            if changed:
                self.post[address] = post
            else:
                del self.pre[address]

    def account_json(self, account: AccountState, diff_post: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if account.balance >= 0 and not (diff_post and account.balance < 0):
            out["balance"] = hex_quantity(account.balance)
        if account.code and not self.disable_code:
            out["code"] = hex_data(account.code)
            out["codeHash"] = hex_data(keccak(account.code))
        if account.nonce > 0:
            out["nonce"] = account.nonce
        if account.storage and not self.disable_storage:
            out["storage"] = {hex_word(k): hex_word(v) for k, v in sorted(account.storage.items())}
        return out

    def result(self) -> dict[str, Any]:
        pre = {hex_data(a): self.account_json(s) for a, s in self.pre.items()}
        if not self.diff_mode:
            return pre
        return {"post": {hex_data(a): self.account_json(s) for a, s in self.post.items()}, "pre": pre}


# -- 4byteTracer ----------------------------------------------------------------------------

class FourByteTracer(Tracer):
    """geth's 4byteTracer: how often each selector was called with each calldata size."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.precompiles: set[bytes] = set()

    def on_tx_start(self, state: StateAPI, tx: TxStart) -> None:
        self.precompiles = set(state.computation_class.get_precompiles())

    def on_enter(self, depth: int, kind: str, sender: bytes, to: bytes, data: bytes, gas: int,
                 value: int | None) -> None:
        if len(data) < 4 or kind not in ("CALL", "CALLCODE", "DELEGATECALL", "STATICCALL"):
            return
        if to in self.precompiles:
            return
        key = f"0x{data[:4].hex()}-{len(data) - 4}"
        self.counts[key] = self.counts.get(key, 0) + 1

    def result(self) -> dict[str, int]:
        return dict(self.counts)


# -- choosing a tracer ----------------------------------------------------------------------

@dataclass(frozen=True)
class TraceConfig:
    """geth's TraceConfig: the tracer by name (None: the struct logger) and its options."""

    tracer: str | None = None
    tracer_config: Mapping[str, Any] = field(default_factory=dict)
    logger: StructLoggerConfig = StructLoggerConfig()
    timeout: float = DEFAULT_TRACE_TIMEOUT


TRACERS: dict[str, Callable[[Mapping[str, Any]], Tracer]] = {
    "callTracer": lambda c: CallTracer(bool(c.get("onlyTopCall")), bool(c.get("withLog"))),
    "prestateTracer": lambda c: PrestateTracer(bool(c.get("diffMode")), bool(c.get("disableCode")),
                                               bool(c.get("disableStorage"))),
    "4byteTracer": lambda c: FourByteTracer(),
}


def make_tracer(config: TraceConfig) -> Tracer:
    if config.tracer is None:
        return StructLogger(config.logger)
    factory = TRACERS.get(config.tracer)
    if factory is None:
        raise TraceError("tracer not found")
    return factory(config.tracer_config)


# -- the computation that reports to a tracer -----------------------------------------------

def frame_kind(message: MessageAPI, parent: ComputationAPI | None) -> str:
    """geth's frame type: the opcode that opened the frame (CALL/CREATE at the top)."""
    if parent is None:
        return "CREATE" if message.is_create else "CALL"
    return getattr(parent, "tracing_op", None) or ("CREATE" if message.is_create else "CALL")


class TracingComputation:
    """A computation mixin that tells ``state.tracer`` about frames, opcodes and logs."""

    @classmethod
    def apply_message(cls, state: StateAPI, message: MessageAPI, transaction_context: TransactionContextAPI,
                      parent_computation: Optional[ComputationAPI] = None) -> ComputationAPI:
        return cls.traced_frame(super().apply_message, state, message,  # type: ignore[misc]
                                transaction_context, parent_computation)

    @classmethod
    def apply_create_message(cls, state: StateAPI, message: MessageAPI,
                             transaction_context: TransactionContextAPI,
                             parent_computation: Optional[ComputationAPI] = None) -> ComputationAPI:
        return cls.traced_frame(super().apply_create_message, state, message,  # type: ignore[misc]
                                transaction_context, parent_computation)

    @classmethod
    def traced_frame(cls, apply: Callable[..., ComputationAPI], state: StateAPI, message: MessageAPI,
                     transaction_context: TransactionContextAPI,
                     parent: Optional[ComputationAPI]) -> ComputationAPI:
        run: TraceRun | None = getattr(state, "trace_run", None)
        # A creation runs its message through apply_message too: it is one frame.
        if run is None or id(message) in run.open_messages:
            return apply(state, message, transaction_context, parent_computation=parent)
        kind = frame_kind(message, parent)
        if parent is not None:
            run.child_started(parent, message)
        sender = parent.msg.storage_address if parent is not None else message.sender
        to = message.code_address if kind in ("DELEGATECALL", "CALLCODE") else message.storage_address
        value = None if kind == "STATICCALL" else message.value
        run.tracer.on_enter(message.depth, kind, sender, to, bytes(message.data_as_bytes), message.gas, value)
        run.open_messages.add(id(message))
        try:
            computation = apply(state, message, transaction_context, parent_computation=parent)
        finally:
            run.open_messages.discard(id(message))
        output = computation.output if not computation.is_error or isinstance(computation.error, Revert) else b""
        error = computation.error if computation.is_error else None
        run.tracer.on_exit(message.depth, output, computation.get_gas_used(), error)
        return computation

    @classmethod
    def apply_computation(cls, state: StateAPI, message: MessageAPI, transaction_context: TransactionContextAPI,
                          parent_computation: Optional[ComputationAPI] = None) -> ComputationAPI:
        run: TraceRun | None = getattr(state, "trace_run", None)
        if run is None:
            return super().apply_computation(  # type: ignore[misc]
                state, message, transaction_context, parent_computation)
        # py-evm's loop (eth.vm.computation.BaseComputation.apply_computation) with the
        # tracer's hooks around each opcode.
        with cls(state, message, transaction_context) as computation:  # type: ignore[call-arg, attr-defined]
            if computation.is_origin_computation:
                computation.contracts_created = []
                if message.is_create:
                    cls.consume_initcode_gas_cost(computation)  # type: ignore[attr-defined]
            if parent_computation is not None:
                computation.contracts_created = parent_computation.contracts_created
            if message.is_create:
                computation.contracts_created.append(message.storage_address)
            precompile = computation.precompiles.get(message.code_address, NO_RESULT)
            if precompile is not NO_RESULT:
                if not message.is_delegation:
                    precompile(computation)
                return computation
            run.run_opcodes(computation)
        return computation

    def add_log_entry(self, account: bytes, topics: tuple[int, ...], data: bytes) -> None:
        super().add_log_entry(account, topics, data)  # type: ignore[misc]
        run: TraceRun | None = getattr(self.state, "trace_run", None)  # type: ignore[attr-defined]
        if run is not None:
            run.tracer.on_log(account, topics, data)


class TraceRun:
    """One traced transaction: its tracer, its deadline and the frames open now."""

    def __init__(self, tracer: Tracer, deadline: float) -> None:
        self.tracer = tracer
        self.deadline = deadline
        self.open_messages: set[int] = set()
        self.open_computations: list[ComputationAPI] = []
        # The parent's gas when its current opcode opened a child frame (the opcode's cost).
        self.child_marks: dict[int, tuple[int, int]] = {}
        if isinstance(tracer, StructLogger):
            tracer.open_computations = self.open_computations

    def child_started(self, parent: ComputationAPI, message: MessageAPI) -> None:
        # geth charges a CALL the gas it forwards; a CREATE's forwarded gas is not its cost.
        forwarded = message.gas if message.is_create else 0
        self.child_marks[id(parent)] = (parent.get_gas_remaining(), forwarded)

    def run_opcodes(self, computation: ComputationAPI) -> None:
        tracer = self.tracer
        lookup = computation.opcodes
        depth = computation.msg.depth + 1
        wants_opcodes = tracer.wants_opcodes
        self.open_computations.append(computation)
        try:
            for opcode in computation.code:
                if time.monotonic() > self.deadline:
                    raise TraceTimeout()
                opcode_fn = lookup.get(opcode) or InvalidOpcode(opcode)
                name = opcode_name(opcode, opcode_fn)
                computation.tracing_op = name  # type: ignore[attr-defined]
                gas = computation.get_gas_remaining()
                step = tracer.on_opcode(computation, computation.code.program_counter - 1, opcode, name,
                                        gas, depth) if wants_opcodes else None
                try:
                    opcode_fn(computation=computation)
                except Halt:
                    self.finish_step(computation, step, gas, None)
                    break
                except VMError as error:
                    self.finish_step(computation, step, gas, error)
                    raise
                self.finish_step(computation, step, gas, None)
        finally:
            self.open_computations.pop()

    def finish_step(self, computation: ComputationAPI, step: Any, gas: int, error: VMError | None) -> None:
        mark = self.child_marks.pop(id(computation), None)
        if step is None:
            return
        if mark is not None:
            cost = gas - mark[0] - mark[1]
        else:
            cost = gas - computation._gas_meter.gas_remaining
        self.tracer.on_opcode_done(step, max(cost, 0), error)


def opcode_name(opcode: int, opcode_fn: Any) -> str:
    mnemonic = getattr(opcode_fn, "mnemonic", None) or getattr(
        getattr(opcode_fn, "__wrapped__", None), "mnemonic", None)
    if isinstance(opcode_fn, InvalidOpcode) or mnemonic is None:
        return "INVALID" if opcode == 0xFE else f"opcode {hex(opcode)} not defined"
    return GETH_OP_NAMES.get(mnemonic, mnemonic)


_tracing_vm_classes: dict[type[VirtualMachineAPI], type[VirtualMachineAPI]] = {}


def tracing_vm_class(vm_class: type[VirtualMachineAPI]) -> type[VirtualMachineAPI]:
    """``vm_class`` whose computations report to ``state.trace_run`` (cached per VM class)."""
    cached = _tracing_vm_classes.get(vm_class)
    if cached is None:
        state_class = vm_class.get_state_class()
        computation_class = state_class.computation_class
        tracing: Any = type(f"Tracing{computation_class.__name__}", (TracingComputation, computation_class), {})
        traced_state = state_class.configure(__name__=f"Tracing{state_class.__name__}",
                                             computation_class=tracing)
        cached = vm_class.configure(__name__=f"Tracing{vm_class.__name__}", _state_class=traced_state)
        _tracing_vm_classes[vm_class] = cached
    return cached


# -- replaying and tracing ------------------------------------------------------------------

class ReplaySource(Protocol):
    """What tracing needs of a chain."""

    chain_id: int

    def vm_class_for(self, number: int, timestamp: int) -> type[VirtualMachineAPI]: ...

    def vm_at(self, header: BlockHeaderAPI, db: AtomicDatabaseAPI | None = None, *,
              vm_class: type[VirtualMachineAPI] | None = None) -> VirtualMachineAPI: ...

    def header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI: ...

    def block_of(self, header: BlockHeaderAPI) -> BlockAPI: ...

    def senders_of(self, header: BlockHeaderAPI) -> list[bytes]: ...


SystemCallsFor = Callable[[BlockAPI], Sequence[tuple[bytes, bytes]]]


@dataclass(frozen=True)
class BlockTrace:
    """One transaction's trace in a block."""

    tx_hash: bytes
    result: Any


class TracingEngine(CallExecutor):
    """debug_traceTransaction, debug_traceBlock* and debug_traceCall, as geth answers them."""

    def __init__(self, chain: ReplaySource, system_calls_for: SystemCallsFor | None = None) -> None:
        """``system_calls_for(block)``: the consensus-decided system calls each block ran
        before its transactions (Azora's epoch rewards), so a replay starts where they left."""
        super().__init__(chain)
        self.replay_source = chain
        self.system_calls_for = system_calls_for

    def trace_transaction(self, header: BlockHeaderAPI, index: int, config: TraceConfig) -> Any:
        """The trace of transaction ``index`` of ``header``'s block."""
        vm, block = self.replay_vm(header)
        for tx in block.transactions[:index]:
            apply_untraced(vm, tx)
        return self.trace_signed(vm, block.transactions[index], config)

    def trace_block(self, header: BlockHeaderAPI, config: TraceConfig) -> list[BlockTrace]:
        """Every transaction of ``header``'s block traced in order, each on the state the
        previous one left."""
        vm, block = self.replay_vm(header)
        # A timeout fails the whole block: no partial results (the execution-apis spec).
        return [BlockTrace(tx.hash, self.trace_signed(vm, tx, config)) for tx in block.transactions]

    def trace_call(self, header: BlockHeaderAPI, message: CallMessage, config: TraceConfig,
                   overrides: StateOverrides | None = None,
                   block_fields: Mapping[str, Any] | None = None) -> Any:
        """``message`` traced on ``header``'s state (as debug_traceCall), nothing persisted;
        ``block_fields`` (header field → value: geth's blockOverrides) change the block context
        it runs in, not the state."""
        if block_fields:
            header = header.copy(**block_fields)
        vm = self._vm(header, message)
        apply_state_overrides(vm.state, overrides or {})
        gas = message.gas if message.gas is not None else header.gas_limit
        tx = self._transaction(vm, message, gas)
        try:
            return self.run_traced(vm, tx, message.sender, config)
        except ValidationError as exc:
            raise InvalidCall(geth_validation_message(str(exc), message)) from None

    # -- internals ---------------------------------------------------------------------------

    def _vm(self, header: BlockHeaderAPI, message: CallMessage, *, tracing: bool = False,
            db: AtomicDatabaseAPI | None = None) -> VirtualMachineAPI:
        if not message.pays_fees and getattr(header, "base_fee_per_gas", None) is not None:
            header = header.copy(base_fee_per_gas=0)
        vm_class = self.replay_source.vm_class_for(header.block_number, header.timestamp)
        return self.replay_source.vm_at(header, db, vm_class=tracing_vm_class(vm_class))

    def replay_vm(self, header: BlockHeaderAPI) -> tuple[VirtualMachineAPI, BlockAPI]:
        """A tracing VM in ``header``'s block context on its parent's state, after the
        block's own system steps (beacon root, block-hash history)."""
        if header.block_number == 0:
            raise TraceError("genesis is not traceable")
        parent = self.replay_source.header_by_hash(header.parent_hash)
        block = self.replay_source.block_of(header)
        for tx, sender in zip(block.transactions, self.replay_source.senders_of(header)):
            # The stored senders, not recovery: a dev chain's impersonated transactions carry
            # no signature of theirs (py-evm caches ``sender`` in the instance).
            tx.__dict__["sender"] = sender
        vm_class = self.replay_source.vm_class_for(header.block_number, header.timestamp)
        vm = self.replay_source.vm_at(header.copy(state_root=parent.state_root),
                                      vm_class=tracing_vm_class(vm_class))
        if self.system_calls_for is not None:
            vm.system_calls = tuple(self.system_calls_for(block))  # type: ignore[attr-defined]
        vm.block_preprocessing(block)  # type: ignore[attr-defined]   # py-evm's VM has it; its ABC does not
        return vm, block

    def trace_signed(self, vm: VirtualMachineAPI, tx: SignedTransactionAPI, config: TraceConfig) -> Any:
        return self.run_traced(vm, tx, tx.sender, config)

    def run_traced(self, vm: VirtualMachineAPI, tx: Any, sender: bytes, config: TraceConfig) -> Any:
        state = vm.state
        # A transaction starts from committed values (EIP-2200's "original" slot values).
        state.lock_changes()
        tracer = make_tracer(config)
        is_create = not tx.to
        to = generate_contract_address(Address(sender), state.get_nonce(Address(sender))) if is_create else tx.to
        tracer.on_tx_start(state, TxStart(sender, to, is_create, tx.gas, tx.value, tx.data,
                                          vm.get_header().coinbase))
        run = TraceRun(tracer, time.monotonic() + config.timeout)
        state.trace_run = run  # type: ignore[attr-defined]
        try:
            computation = state.apply_transaction(tx)
        finally:
            state.trace_run = None  # type: ignore[attr-defined]
        tracer.on_tx_end(state, gas_used(state, tx.gas, computation), computation)
        return tracer.result()


def apply_untraced(vm: VirtualMachineAPI, tx: SignedTransactionAPI) -> None:
    """Run ``tx`` as block execution does (its changes locked in first), without a tracer."""
    vm.state.lock_changes()
    vm.state.apply_transaction(tx)


__all__: Sequence[str] = (
    "BlockTrace", "CallTracer", "DEFAULT_TRACE_TIMEOUT", "FourByteTracer", "PrestateTracer",
    "StructLogger", "StructLoggerConfig", "TraceConfig", "TraceError", "TraceTimeout", "TracingEngine",
    "make_tracer",
)
