"""eth_estimateGas as geth answers it: exact for a plain transfer, within 1.5 % above the
least gas that succeeds otherwise (each further halving of the search is a full execution)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.execution import ESTIMATE_ERROR_RATIO, CallExecutor, CallLimits, CallMessage, ExecutionFailed
from kernel.genesis import Genesis

WRITER = bytes.fromhex("55" * 20)
# five SSTOREs of 1 into fresh slots 0..4: 22,100 gas each, and none with 2,300 or less left
WRITER_CODE = "0x" + "".join(f"600160{slot:02x}55" for slot in range(5))


class CountingExecutor(CallExecutor):
    """The real executor, counting the executions an estimate costs."""

    runs = 0

    def _run(self, vm, message, gas):  # type: ignore[no-untyped-def]
        self.runs += 1
        return super()._run(vm, message, gas)


@pytest.fixture
def chain(tmp_path, dev_accounts):
    genesis = Genesis.from_json({"config": {"chainId": 1337}, "timestamp": "0x1",
                                 "alloc": {dev_accounts[0].address: {"balance": hex(10**24)},
                                           "0x" + WRITER.hex(): {"code": WRITER_CODE}},
                                 "azora": {"oracles": {"members": [dev_accounts[9].address], "quorum": 1}}})
    db = LevelDB(tmp_path / "db")
    yield Chain(db, genesis)
    db.close()


def least_gas(executor: CallExecutor, chain: Chain, message: CallMessage) -> int:
    low, high = 21_000, 1_000_000
    while high - low > 1:
        middle = (low + high) // 2
        try:
            executor.call(chain.head, replace(message, gas=middle))
            high = middle
        except ExecutionFailed:
            low = middle
    return high


def test_an_estimate_succeeds_and_is_within_geths_tolerance_in_fewer_runs(chain, dev_accounts):
    executor = CountingExecutor(chain, CallLimits(timeout=0))
    message = CallMessage(sender=bytes.fromhex(dev_accounts[0].address[2:]), to=WRITER)
    estimate = executor.estimate_gas(chain.head, message)
    runs = executor.runs
    exact = least_gas(CallExecutor(chain, CallLimits(timeout=0)), chain, message)
    assert exact <= estimate <= exact * (1 + ESTIMATE_ERROR_RATIO)
    assert runs <= 6, runs      # the cap run, the optimistic guess, a few halvings (not ~14)


def test_a_plain_transfer_is_exactly_21000_in_one_run(chain, dev_accounts):
    executor = CountingExecutor(chain, CallLimits(timeout=0))
    sender = bytes.fromhex(dev_accounts[0].address[2:])
    assert executor.estimate_gas(chain.head, CallMessage(sender=sender, to=b"\x44" * 20, value=1)) == 21_000
    assert executor.runs == 1
