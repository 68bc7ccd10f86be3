"""eth_syncing on a full node that range-syncs: geth's progress object while it syncs, false
once it is level with its peers.

The full node starts first, alone, so its JSON-RPC is up (and answers false) before the
validator it syncs from exists: the polling cannot start after the sync window opens."""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_account import Account

from harness import Testnet, backdate_genesis, prebuild_chain, rpc_call

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SYNC_BLOCKS = 100
TXS_PER_BLOCK = 16
CHAIN_ID = 31337
POLL_SECONDS = 0.05    # the sync takes seconds; polling back to back would only slow it down


def transfer(account: Any, nonce: int, to: str) -> Any:
    signed = account.sign_transaction({"type": 2, "chainId": CHAIN_ID, "nonce": nonce, "to": to, "value": 1,
                                       "gas": 21_000, "maxFeePerGas": 20 * 10**9, "maxPriorityFeePerGas": 10**9})
    return PragueTransactionBuilder.decode(bytes(signed.raw_transaction))


def poll_syncing(url: str, until_height: int, timeout: float) -> list[Any]:
    """Every distinct eth_syncing answer, polled back to back until the node's head reaches
    ``until_height`` and it answers false."""
    answers: list[Any] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        answer = rpc_call(url, "eth_syncing")
        if not answers or answers[-1] != answer:
            answers.append(answer)
        if answer is False and int(rpc_call(url, "eth_blockNumber"), 16) >= until_height:
            return answers
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"no false after reaching #{until_height} within {timeout}s: {answers[-5:]}")


def test_eth_syncing_shows_progress_while_a_full_node_range_syncs_then_false(
        tmp_path: Path, dev_accounts: list[Any]) -> None:
    net = Testnet.init(tmp_path / "net", validators=1, full_nodes=1, block_interval=0.2)
    try:
        backdate_genesis(net, SYNC_BLOCKS + 5)
        recipient = Account.create().address
        # blocks big enough (MIN_BATCH transactions) that their senders are recovered in the
        # decoder's worker while earlier blocks execute
        prebuild_chain(net, SYNC_BLOCKS, lambda height: [transfer(dev_accounts[5], (height - 1) * TXS_PER_BLOCK + i,
                                                                  recipient) for i in range(TXS_PER_BLOCK)])
        net.start("node0")
        assert net.rpc("node0", "eth_syncing") is False            # alone at genesis: nothing to sync
        # The validator dials the full node at once (the full node's own dials back off).
        info = net.rpc("node0", "azora_nodeInfo")
        net.nodes["validator0"].extra_args = ["--bootnodes", f"{info['p2p']['listen'][0]}/p2p/{info['p2p']['peerId']}"]
        net.start("validator0", wait=False)
        answers = poll_syncing(net.nodes["node0"].rpc, SYNC_BLOCKS, timeout=120)
        progress = [a for a in answers if a is not False]
        assert progress, f"eth_syncing never reported the sync: {answers}"
        for status in progress:
            assert set(status) == {"startingBlock", "currentBlock", "highestBlock"}
            starting, current, highest = (int(status[k], 16) for k in ("startingBlock", "currentBlock", "highestBlock"))
            assert starting == 0 and starting <= current < highest and highest >= SYNC_BLOCKS
        assert int(progress[-1]["currentBlock"], 16) > int(progress[0]["currentBlock"], 16)  # it moved
        assert answers[-1] is False
        check_node_context_answers(net)
    finally:
        net.close()


def check_node_context_answers(net: Testnet) -> None:
    """What the namespaces read of the node's services: consensus status, identity, peers."""
    validator = net.nodes["validator0"]
    full, signer = net.rpc("node0", "azora_nodeInfo"), net.rpc("validator0", "azora_nodeInfo")
    assert full["validator"] is None and full["consensus"]["validator"] is None
    assert signer["validator"].lower() == signer["consensus"]["validator"] == validator.address.lower()
    assert int(signer["consensus"]["height"], 16) >= SYNC_BLOCKS
    assert set(full["p2p"]) == {"peerId", "listen"} and full["p2p"]["peerId"] != signer["p2p"]["peerId"]
    assert int(net.rpc("node0", "net_peerCount"), 16) >= 1
    metrics = requests.get(net.nodes["node0"].rpc + "/metrics", timeout=10).text
    assert "azora_p2p_peers 1.0" in metrics and "azora_consensus_round" in metrics
    recovered = re.search(r"^azora_sync_worker_senders_total (\S+)$", metrics, re.M)
    assert recovered and float(recovered.group(1)) > 0, "no synced block's senders came from the worker"

