"""Azora's interpreter does what py-evm's does: code run side by side in both at every gas
limit around each opcode's ends with the same gas left, errors and messages, output, logs and
storage; its stack pops and its shared jump destinations give py-evm's answers."""
from __future__ import annotations

import random

import pytest
from eth.constants import BLANK_ROOT_HASH
from eth.db.atomic import AtomicDB
from eth.exceptions import OutOfGas
from eth.vm.execution_context import ExecutionContext
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.prague.state import PragueState
from eth.vm.gas_meter import GasMeter
from eth.vm.message import Message
from eth.vm.stack import Stack
from eth.vm.opcode import _FastOpcode
from eth_utils import ValidationError

from kernel.interpreter import AzoraPragueComputation, AzoraStack
from kernel.vm import AzoraPragueState

CONTRACT, CALLER = b"\xc0" * 20, b"\xca" * 20

# PUSH1 1 PUSH1 2 ADD PUSH1 0 MSTORE; PUSH1 32 PUSH1 0 SHA3; PUSH1 7 SSTORE; PUSH1 7 SLOAD POP;
# PUSH1 0 CALLDATALOAD POP; GAS POP; PUSH1 30 JUMP; INVALID; JUMPDEST; PUSH1 9 PUSH1 32 PUSH1 0
# LOG1; PUSH1 32 PUSH1 0 RETURN
CODE = bytes.fromhex("6001600201600052" "60206000" "20" "600755" "60075450" "60003550" "5a50"
                     "601e56" "fe" "5b" "6009" "60206000" "a1" "60206000f3")
# memory paid for, grown by a word across its end, read past it, an empty range far out:
# PUSH1 1 PUSH1 0 MSTORE; PUSH1 2 PUSH1 16 MSTORE; PUSH1 64 MLOAD POP; MSIZE PUSH1 0 MSTORE;
# PUSH1 0 PUSH32 2**256-1 SHA3 POP; PUSH1 96 PUSH1 0 RETURN
MEMORY = bytes.fromhex("600160005260026010526040515059600052" "60007f" + "ff" * 32 + "2050" "60606000f3")
# a loop: PUSH1 3; JUMPDEST; PUSH1 1 SWAP1 SUB DUP1 PUSH1 2 JUMPI; POP; PUSH1 0x5b; STOP
LOOP = bytes.fromhex("6003" "5b" "600190038060025" "7" "50" "605b" "00")
REVERTING = bytes.fromhex("60006000fd")          # PUSH1 0 PUSH1 0 REVERT
BAD_JUMP = bytes.fromhex("600356")                # PUSH1 3 JUMP (no JUMPDEST)


def _run(computation_class, state_class, code, gas, data=b"\x01" * 32):
    context = ExecutionContext(coinbase=b"\x00" * 20, timestamp=1, block_number=1, difficulty=0, mix_hash=b"\x00" * 32,
                               gas_limit=30_000_000, prev_hashes=[], chain_id=1337, base_fee_per_gas=1, excess_blob_gas=0)
    state = state_class(AtomicDB(), context, BLANK_ROOT_HASH)
    state.set_code(CONTRACT, code)
    message = Message(gas=gas, to=CONTRACT, sender=CALLER, value=0, data=data, code=code)
    transaction_context = state.get_transaction_context_class()(gas_price=1, origin=CALLER)
    computation = computation_class.apply_message(state, message, transaction_context)
    error = computation.error if computation.is_error else None
    return (computation.get_gas_remaining(), type(error), str(error), computation.output,
            computation.get_log_entries(), state.get_storage(CONTRACT, 7))


@pytest.mark.parametrize("code", [CODE, MEMORY, LOOP, REVERTING, BAD_JUMP],
                         ids=["straight-line", "memory", "loop", "revert", "bad-jump"])
def test_every_gas_limit_ends_as_in_py_evm(code):
    needed = 30_000
    for gas in [*range(0, 200), *range(200, needed, 97), needed]:
        assert _run(AzoraPragueComputation, AzoraPragueState, code, gas) == \
            _run(PragueComputation, PragueState, code, gas), gas
    completed = _run(AzoraPragueComputation, AzoraPragueState, code, needed)
    assert completed[1] is type(None) if code in (CODE, MEMORY, LOOP) else completed[1] is not type(None)


def test_jump_destinations_known_from_earlier_runs_of_the_same_code_are_still_checked():
    """Computations of the same code share what they found about its positions: a jump to
    a JUMPDEST, then to a 0x5b inside a PUSH's data, then to a plain opcode, in any order."""
    # PUSH1 0 CALLDATALOAD JUMP; JUMPDEST STOP; PUSH1 0x5b STOP  (the target comes in the call data)
    code = bytes.fromhex("60003556" "5b00" "605b00")
    for target in [4, 7, 4, 5, 7, 8, 2, 4]:
        data = target.to_bytes(32, "big")
        ours = _run(AzoraPragueComputation, AzoraPragueState, code, 100_000, data)
        assert ours == _run(PragueComputation, PragueState, code, 100_000, data), target
        assert (ours[1] is type(None)) == (target == 4), target


def test_fixed_cost_opcodes_keep_their_names_and_costs():
    ours, theirs = AzoraPragueComputation.opcodes, PragueComputation.opcodes
    assert ours.keys() == theirs.keys()
    for code, opcode in theirs.items():
        if isinstance(opcode, _FastOpcode):
            assert (ours[code].mnemonic, ours[code].gas_cost) == (opcode.mnemonic, opcode.gas_cost)
        else:   # a call, a create (and what a test tool wrapped): py-evm's own
            assert ours[code] is opcode


def _outcome(charge, amount):
    try:
        charge(amount, "SSTORE")
    except (OutOfGas, ValidationError) as exc:
        return type(exc), str(exc)
    return None


@pytest.mark.parametrize("start_gas, amounts", [(100, [40, 60, 0, 1]), (100, [101]), (5, [-1, 5]), (0, [0, 1])])
def test_consume_gas_leaves_and_refuses_what_py_evms_gas_meter_does(start_gas, amounts):
    ours = object.__new__(AzoraPragueComputation)   # its gas meter is all consume_gas reads
    ours._gas_meter, meter = GasMeter(start_gas), GasMeter(start_gas)
    for amount in amounts:
        assert _outcome(ours.consume_gas, amount) == _outcome(meter.consume_gas, amount)
        assert ours.get_gas_remaining() == meter.gas_remaining


def test_azoras_state_executes_with_azoras_computation():
    assert AzoraPragueState.computation_class is AzoraPragueComputation


def _stack_run(stack, operations):
    out = []
    for name, *args in operations:
        try:
            out.append(getattr(stack, name)(*args))
        except Exception as exc:  # noqa: BLE001 - the type and message are what is compared
            out.append((type(exc), str(exc)))
    return out, list(stack.values)


def test_the_stack_pops_push_and_refuses_what_py_evms_does():
    rng = random.Random(9)
    pushes = [0, 1, 2**255, 2**256 - 1, b"", b"\x00", b"\x00\x01", b"\xff" * 32, b"\x05"]
    operations = []
    for _ in range(3000):
        kind = rng.random()
        if kind < 0.45:
            value = rng.choice(pushes)
            operations.append(("push_bytes" if isinstance(value, bytes) else "push_int", value))
        else:
            operations.append(rng.choice([("pop1_int",), ("pop1_bytes",), ("pop1_any",), ("pop_ints", rng.randrange(1, 5)),
                                          ("pop_bytes", rng.randrange(1, 4)), ("pop_any", rng.randrange(1, 4)),
                                          ("dup", rng.randrange(1, 5)), ("swap", rng.randrange(1, 5))]))
    operations += [("push_int", 2**256), ("push_int", -1), ("push_bytes", b"\x01" * 33)]
    operations += [("pop_ints", 2000), ("pop1_int",)] + [("pop1_int",)] * 50
    assert _stack_run(AzoraStack(), operations) == _stack_run(Stack(), operations)
