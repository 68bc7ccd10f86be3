"""GET /health beside /metrics: 200 when the node is synced and, for a validator, signing;
503 with the reasons otherwise."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import requests

from node.context import ConsensusStatus, SyncStatus
from node.health import get_peers_reason, get_signing_reason, get_sync_reason

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "network"))
from harness import Testnet  # noqa: E402  (tests/network is not a package)

VALIDATOR = bytes.fromhex("f39fd6e51aad88f6f4ce6ab8827279cfffb92266")
OTHER = bytes.fromhex("70997970c51812dc3a010c7d01b50e0d17dc79c8")


def consensus(validator: bytes | None) -> ConsensusStatus:
    return ConsensusStatus(height=8, round=0, step="propose", validator=validator, evidence=0)


@pytest.mark.parametrize("description, sync, expected", [
    ("level with its peers", None, None),
    ("in range sync", SyncStatus(starting_block=0, current_block=40, highest_block=100), "syncing: head 40 of 100"),
])
def test_sync_reason(description: str, sync: SyncStatus | None, expected: str | None) -> None:
    assert get_sync_reason(sync) == expected, description


@pytest.mark.parametrize("description, peers, is_validator, expected", [
    ("dev chain: no p2p", None, False, None),
    ("full node with peers", 3, False, None),
    ("full node alone", 0, False, "no peers: cannot tell whether the head is current"),
    ("lone validator", 0, True, None),
])
def test_peers_reason(description: str, peers: int | None, is_validator: bool, expected: str | None) -> None:
    assert get_peers_reason(peers, is_validator) == expected, description


@pytest.mark.parametrize("description, status, active, expected", [
    ("full node", consensus(None), None, None),
    ("validator in the active set", consensus(VALIDATOR), {VALIDATOR, OTHER}, None),
    ("validator outside the active set", consensus(VALIDATOR), {OTHER},
     f"validator 0x{VALIDATOR.hex()} is not in the active set of height 8"),
])
def test_signing_reason(description: str, status: ConsensusStatus, active: set[bytes] | None,
                        expected: str | None) -> None:
    assert get_signing_reason(status, active) == expected, description


def test_health_is_200_on_a_dev_chain_that_signs_its_blocks(w3, dev_node) -> None:
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[1], "to": w3.eth.accounts[2], "value": 1}), timeout=30)
    reply = requests.get(dev_node.url + "/health", timeout=10)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["status"] == "ok" and body["reasons"] == [] and body["syncing"] is False
    signer = dev_node.rpc("azora_nodeInfo")["result"]["consensus"]["validator"]
    assert body["head"] == w3.eth.block_number and body["validator"] == signer is not None


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_health_is_503_on_a_full_node_without_peers_and_200_on_its_validator(tmp_path: Path) -> None:
    net = Testnet.init(tmp_path / "net", validators=1, full_nodes=1, block_interval=0.5)
    try:
        net.start("node0")
        reply = requests.get(net.nodes["node0"].rpc + "/health", timeout=10)
        assert reply.status_code == 503, reply.text
        assert reply.json()["reasons"] == ["no peers: cannot tell whether the head is current"]
        net.start("validator0")
        net.wait_for_height(2, ["validator0"], timeout=60)
        reply = requests.get(net.nodes["validator0"].rpc + "/health", timeout=10)
        assert reply.status_code == 200, reply.text
        assert reply.json()["validator"] == net.nodes["validator0"].address.lower()
    finally:
        net.close()
