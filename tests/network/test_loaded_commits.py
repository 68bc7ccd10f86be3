"""A loaded 4-validator testnet: every validator's signature reaches the commits."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness import Testnet, backdate_genesis, prebuild_chain

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# ERC-20 transfers sent at once to validator0's endpoint: at least five loaded heights, since
# a block's 30M gas holds 882 (2,400 once fit in three blocks ended by gas, not time)
LOAD = 3600


def test_under_a_flood_the_commits_still_carry_all_four_signatures(tmp_path: Path, load_bench: Any) -> None:
    """Under load one validator is often still executing a proposal when the others'
    precommits decide it: it never voted, the commit had 3 signatures, and the next proposer
    waited its whole commit timeout for a fourth that never came (half the loaded heights,
    each 1.7-2 s at a 1-s interval). Now it precommits the decided block when it commits it,
    and that late precommit joins the commit the next block binds. (The deterministic test of
    the rule is in tests/node/test_consensus_host.py; this one is the property end to end.)"""
    from eth.vm.forks.prague.transactions import PragueTransactionBuilder

    network, throughput = load_bench("network"), load_bench("throughput")
    net = Testnet.init(tmp_path / "net", validators=4, full_nodes=0, block_interval=1.0,
                       chain_id=throughput.CHAIN_ID)
    accounts = throughput.dev_accounts(throughput.SENDERS + 1)
    deployer, senders = accounts[0], accounts[1:]
    raw_deploy, token = throughput.token_deploy(deployer, 0, senders)
    try:
        backdate_genesis(net, 60)
        prebuild_chain(net, 1, lambda height: [PragueTransactionBuilder.decode(raw_deploy)])
        net.start(*network.VALIDATORS)
        net.wait_for_height(3, network.VALIDATORS, timeout=120)
        watcher = network.BlockWatcher(net.nodes["validator0"].rpc)
        try:
            network.run_load(net, watcher, senders, token, LOAD, None, spread=False)
        finally:
            watcher.stop()
        head = net.height("validator0")
        net.wait_for_height(head + 1, network.VALIDATORS, timeout=60)   # head's commit is final once bound
        loaded = [n for n in range(2, head + 1)
                  if int(net.rpc("validator0", "eth_getBlockTransactionCountByNumber", [hex(n)]), 16)]
        counts = [len(net.rpc("validator0", "azora_getCommit", [hex(n)])["signatures"]) for n in loaded]
        assert len(loaded) >= 4, loaded
        # A precommit can still be later than the next proposer waits (the commit timeout): a
        # cold node's first loaded block, a vote held up on a machine shared with other tests.
        # Without the decided-block precommit, half the loaded heights lacked a signature.
        assert sum(c < 4 for c in counts) <= len(counts) / 3, f"signers per loaded height: {counts}"
    finally:
        net.close()
