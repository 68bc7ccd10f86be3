"""Where a validator key stands: the verdict from the set and the registry (a scenario table),
and the tracker over a real chain counting the blocks the key signed and missed."""
from __future__ import annotations

import logging
import time

import pytest
import trio
import trio.testing
from eth_utils import to_canonical_address

from consensus.config import DEV_TIMEOUTS
from consensus.sign_guard import GuardedSigner, MemorySignRecordStore
from consensus.signing import LocalSigner
from consensus.validator_set import new_validator_set
from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from node.backend import Backend
from node.context import NodeContext
from node.dev import DevPolicy
from node.metrics import RpcCounters, render
from node.rpc.azora import AzoraAPI
from node.service import consensus_domain, dev_genesis
from node.services.consensus_host import build_consensus_host
from node.services.consensus_io import run_in_loop
from node.validators import StandingTracker, ValidatorSetStore, compute_standing

ME, OTHER = b"\x01" * 20, b"\x02" * 20
NOW = 1_000_000
SET = new_validator_set([(ME, 10_000), (OTHER, 10_000)])
WITHOUT_ME = new_validator_set([(OTHER, 10_000)])


@pytest.mark.parametrize("description, validator_set, candidate, state, text", [
    ("in the set", SET, (True, 1, 10_000, 0, 0, 0), "active", "in the active set (power 10000)"),
    ("in the set, jailed this epoch", SET, (True, 1, 10_000, 0, 0, NOW + 60), "active",
     "in the active set (power 10000), jailed until 1970-01-12 13:47:40 UTC: leaves the set at the next epoch"),
    ("bonded, outside the set", WITHOUT_ME, (True, 1, 10_000, 0, 0, 0), "inactive", "not in the active set"),
    ("never registered", WITHOUT_ME, None, "inactive", "not in the active set"),
    ("jailed, out of the set", WITHOUT_ME, (True, 1, 9_000, 0, 0, NOW + 60), "jailed",
     "jailed until 1970-01-12 13:47:40 UTC"),
    ("a jail that is over", WITHOUT_ME, (True, 1, 10_000, 0, 0, NOW - 1), "inactive", "not in the active set"),
    ("whole bond unbonding", WITHOUT_ME, (True, 1, 0, 10_000, NOW + 600, 0), "unbonding", "unbonding"),
    ("left, still unbonding", WITHOUT_ME, (False, 0, 0, 10_000, NOW + 600, 0), "unbonding", "unbonding"),
])
def test_standing(description, validator_set, candidate, state, text):
    standing = compute_standing(ME, 21, 2, validator_set, candidate, NOW)
    assert (standing.state, standing.describe()) == (state, text), description
    assert standing.in_set == (state == "active")
    assert standing.power == (10_000 if state == "active" else 0)


@pytest.fixture
def chain(tmp_path, dev_accounts):
    genesis = dev_genesis(dev_accounts, chain_id=1337, balance_wei=10**24,
                          validator=to_canonical_address(dev_accounts[0].address))
    genesis["timestamp"] = hex(int(time.time()) - 100)
    genesis["azora"]["epochLength"] = 4
    chain = Chain(LevelDB(tmp_path / "db"), Genesis.from_json(genesis))
    yield chain
    chain.db.close()


def test_the_tracker_counts_signed_blocks_logs_each_epoch_and_feeds_metrics_and_node_info(
        chain, dev_accounts, caplog):
    caplog.set_level(logging.INFO, logger="azora.validator")
    backend = Backend(chain)
    sets = ValidatorSetStore(chain)
    me = to_canonical_address(dev_accounts[0].address)
    tracker = StandingTracker(sets, me)
    outsider = StandingTracker(sets, to_canonical_address(dev_accounts[1].address))
    backend.on_new_block += [tracker.on_block, outsider.on_block]
    tracker.log_standing()
    policy = DevPolicy(None)
    host = build_consensus_host(backend, signer=GuardedSigner(LocalSigner(bytes(dev_accounts[0].key),
                                                                          consensus_domain(chain)),
                                                              MemorySignRecordStore()),
                                domain=consensus_domain(chain), validator_sets=sets, timeouts=DEV_TIMEOUTS,
                                policy=policy, offload=run_in_loop)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.run)
            policy.forced.extend([None] * 9)
            policy.wake()
            await host.wait_for_height(9)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    # Blocks 2..9 each name their parent's signers: blocks 1..8 were signed, none missed.
    assert (tracker.signed, tracker.missed) == (8, 0)
    assert (outsider.signed, outsider.missed) == (0, 0)
    address = "0x" + me.hex()
    lines = [r.getMessage() for r in caplog.records if r.name == "azora.validator" and address in r.getMessage()]
    assert lines == [f"validator {address} at #{h} (epoch {e}): in the active set (power 10000)"
                     for h, e in ((1, 0), (5, 1), (9, 2))]
    assert outsider.read().describe() == "not in the active set"
    assert any(r.getMessage().endswith("at #9 (epoch 2): not in the active set") for r in caplog.records)

    text = render(backend, NodeContext(consensus=host, standing=tracker), RpcCounters()).decode()
    for sample in ("azora_validator_in_active_set 1.0", "azora_validator_power 10000.0",
                   "azora_validator_jailed 0.0", "azora_validator_blocks_signed 8.0",
                   "azora_validator_missed_blocks 0.0"):
        assert sample in text.splitlines()
    consensus = AzoraAPI(backend, NodeContext(consensus=host, standing=outsider, validator_sets=sets)).nodeInfo()["consensus"]
    assert (consensus["inActiveSet"], consensus["standing"], consensus["power"]) == (False, "inactive", "0x0")
