"""From the simulator to the chain: the evidence an honest simulated validator collects
against an equivocator, reported as a transaction, slashes and jails it on a real chain.

The simulation runs with the chain's own signing domain (its chain id and ValidatorRegistry
address) and the simulated validators are the chain's genesis validators.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from eth_abi import decode
from eth_keys import keys
from eth_utils import function_signature_to_4byte_selector, to_canonical_address, to_checksum_address

from consensus.signing import SigningDomain
from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from node.backend import Backend
from node.evidence import EvidenceReporter
from node.execution import CallArgs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "consensus"))
import sim  # noqa: E402  (the consensus simulator, tests/consensus/sim.py)

STAKE = 20_000 * 10**18


def _active(backend: Backend) -> list[str]:
    registry = backend.chain.system_contracts["ValidatorRegistry"]
    data = "0x" + function_signature_to_4byte_selector("activeValidators()").hex()
    output = backend.executor.call(backend.chain.head, CallArgs.parse({"to": registry, "data": data}))
    return [a.lower() for a in decode(["address[]", "uint256[]"], output)[0]]


def test_equivocator_found_by_the_simulation_is_slashed_on_chain(tmp_path, monkeypatch, dev_accounts):
    addresses = [to_checksum_address(keys.PrivateKey(sim.validator_key(i)).public_key.to_canonical_address())
                 for i in range(4)]
    genesis = Genesis.from_json({
        "config": {"chainId": sim.CHAIN_ID}, "timestamp": hex(int(time.time()) - 100),
        "alloc": {dev_accounts[0].address: {"balance": hex(10**24)}},
        "azora": {"validators": [{"address": a, "stake": hex(STAKE)} for a in addresses],
                  "oracles": {"members": [dev_accounts[9].address], "quorum": 1}}})
    backend = Backend(Chain(LevelDB(tmp_path / "db"), genesis))
    registry = to_canonical_address(backend.chain.system_contracts["ValidatorRegistry"])
    monkeypatch.setattr(sim, "REGISTRY", registry)
    monkeypatch.setattr(sim, "DOMAIN", SigningDomain(sim.CHAIN_ID, registry))
    monkeypatch.setattr(sim, "_SIGNERS", {})

    scenario = sim.Scenario("equivocator", byzantine=((1, "equivocate"),), heights=3)
    evidence = None
    for seed in range(20):
        result = sim.Simulation(scenario, seed).run()
        found = [e for node in result.honest for e in node.evidence]
        if found:
            evidence = found[0]
            break
    assert evidence is not None, "no seed produced evidence"
    assert evidence.validator == to_canonical_address(addresses[1])
    assert addresses[1].lower() in _active(backend)

    assert EvidenceReporter(backend, dev_accounts[0]).report(evidence) is not None
    chain = backend.chain
    built = chain.build_block(backend.pool.select(backend.next_base_fee()), timestamp=chain.head.timestamp + 1)
    assert [r.state_root for r in built.receipts] == [b"\x01"]
    assert addresses[1].lower() not in _active(backend)
