"""Azora's EVM interpreter: py-evm's Prague computation without py-evm's detours around it.

py-spy of a block of ERC-20 transfers, beside the EVM's own work, showed the interpreter
paying for its own plumbing on every opcode:

- gas: a fixed-cost opcode charged its gas through two calls (``computation.consume_gas``,
  then the gas meter's, which also asks its logger whether gas tracing is on);
- memory: every access priced the memory before and after it, even inside memory already
  paid for (4% of a transfer);
- the stack: popping integers went through a generator and two conversion calls per item,
  ``eth_utils``' ``big_endian_to_int`` for values pushed as bytes (9% with the pops);
- jumps: each computation worked out again which positions of its code are jump
  destinations (not inside a PUSH's data), for code it ran moments before (2.4%).

The same checks, results, errors and messages: the tests run code side by side in py-evm's
computation and this one at every gas limit around each opcode's.
"""
from __future__ import annotations

import functools
from typing import Any, cast

from eth.abc import ComputationAPI, MessageAPI, OpcodeAPI, StateAPI, TransactionContextAPI
from eth.exceptions import InsufficientStack, OutOfGas
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.opcode import _FastOpcode
from eth.vm.stack import Stack, to_int
from eth_utils import ValidationError

# Contracts whose jump destinations found so far are kept (with their code: at most 24 KB each)
JUMP_CACHE_CODES = 256


def _charging(opcode: _FastOpcode) -> OpcodeAPI:
    """``opcode`` (a fixed-cost opcode of py-evm's) as one function that charges its gas and
    runs it. It keeps the opcode's ``mnemonic`` and ``gas_cost``, which tracing and the RPC
    deadline read."""
    logic_fn, gas_cost, mnemonic = opcode.logic_fn, opcode.gas_cost, opcode.mnemonic

    def charged(computation: ComputationAPI) -> Any:
        meter = computation._gas_meter
        if gas_cost > meter.gas_remaining:
            raise OutOfGas(f"Out of gas: Needed {gas_cost} - Remaining {meter.gas_remaining} - Reason: {mnemonic}")
        meter.gas_remaining -= gas_cost
        return logic_fn(computation)

    charged.mnemonic = mnemonic  # type: ignore[attr-defined]
    charged.gas_cost = gas_cost  # type: ignore[attr-defined]
    return cast(OpcodeAPI, charged)


def _as_int(item: Any) -> int:
    return int.from_bytes(item, "big") if item.__class__ is bytes else to_int(item)


class AzoraStack(Stack):
    """py-evm's stack (values kept as pushed, int or bytes), its integer pops converting
    only the bytes among them, in place."""

    __slots__ = ()

    def pop1_int(self) -> int:
        try:
            item = self._pop()
        except IndexError:
            raise InsufficientStack("Wanted 1 stack item, had none") from None
        return item if item.__class__ is int else _as_int(item)

    def pop_ints(self, num_items: int) -> tuple[int, ...]:
        values = self.values
        if num_items > len(values):
            raise InsufficientStack(f"Wanted {num_items} stack items, only had {len(values)}")
        popped = values[-num_items:]
        del values[-num_items:]
        popped.reverse()
        return tuple([item if item.__class__ is int else _as_int(item) for item in popped])


@functools.lru_cache(JUMP_CACHE_CODES)
def _jump_positions(code: bytes) -> tuple[set[int], set[int]]:
    """The positions of ``code`` found to be (and not to be) opcodes, shared by every
    computation running it: whether a position is one depends on the code alone."""
    return set(), set()


class AzoraPragueComputation(PragueComputation):
    """Prague's computation with the shortcuts of the module's docstring."""

    opcodes = {code: _charging(fn) if type(fn) is _FastOpcode else fn for code, fn in PragueComputation.opcodes.items()}

    def __init__(self, state: StateAPI, message: MessageAPI, transaction_context: TransactionContextAPI) -> None:
        super().__init__(state, message, transaction_context)
        if message.code:   # a plain transfer runs no opcode but STOP
            self._stack = AzoraStack()
            self.code.valid_positions, self.code.invalid_positions = _jump_positions(bytes(message.code))  # type: ignore[attr-defined]

    def extend_memory(self, start_position: int, size: int) -> None:
        """py-evm's, after a check that the access lies within the memory already paid for:
        then it costs nothing and changes nothing."""
        if size > 0 and start_position >= 0 and start_position + size <= len(self._memory):
            return
        super().extend_memory(start_position, size)

    def consume_gas(self, amount: int, reason: str) -> None:
        """The gas meter's checks, in place."""
        meter = self._gas_meter
        if amount < 0:
            raise ValidationError("Gas consumption amount must be positive")
        if amount > meter.gas_remaining:
            raise OutOfGas(f"Out of gas: Needed {amount} - Remaining {meter.gas_remaining} - Reason: {reason}")
        meter.gas_remaining -= amount
