"""Azora's computation charges gas as py-evm's gas meter does: the same arithmetic and errors."""
from __future__ import annotations

import pytest
from eth.exceptions import OutOfGas
from eth.vm.gas_meter import GasMeter
from eth_utils import ValidationError

from kernel.vm import AzoraPragueComputation, AzoraPragueState


def _charged(start_gas):
    computation = object.__new__(AzoraPragueComputation)   # its gas meter is all consume_gas reads
    computation._gas_meter = GasMeter(start_gas)
    return computation


def _outcome(charge, amount):
    try:
        charge(amount, "SSTORE")
    except (OutOfGas, ValidationError) as exc:
        return type(exc), str(exc)
    return None


@pytest.mark.parametrize("start_gas, amounts", [(100, [40, 60, 0, 1]), (100, [101]), (5, [-1, 5]), (0, [0, 1])])
def test_consume_gas_leaves_and_refuses_what_py_evms_gas_meter_does(start_gas, amounts):
    ours, meter = _charged(start_gas), GasMeter(start_gas)
    for amount in amounts:
        assert _outcome(ours.consume_gas, amount) == _outcome(meter.consume_gas, amount)
        assert ours.get_gas_remaining() == meter.gas_remaining


def test_azoras_state_executes_with_azoras_computation():
    assert AzoraPragueState.computation_class is AzoraPragueComputation
