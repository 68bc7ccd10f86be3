"""A network node's gossip validators, seen from its peers: real libp2p hosts on loopback
around the node's own P2P service (built as ``azora node run`` builds it)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rlp
import trio
from eth_utils import keccak
from libp2p.crypto.secp256k1 import create_new_key_pair

from node.config import NodeConfig
from node.service import build_network_node, dev_genesis
from p2p import GossipMessage, P2PConfig, P2PService, TopicKind

CHAIN_ID = 1337
GWEI = 10**9


def _peer() -> P2PService:
    return P2PService(P2PConfig(chain_id=CHAIN_ID, listen_host="127.0.0.1", port=0), create_new_key_pair())


async def _linked(left: P2PService, right: P2PService) -> None:
    """``left`` connected to ``right`` and each subscribed, as the other sees it, to every topic."""
    await left.connect(right.listen_addrs[0])
    for me, other in ((left, right), (right, left)):
        await me.gossip.pubsub.wait_for_peer(other.peer_id, timeout=15)
        for kind in TopicKind:
            await me.gossip.pubsub.wait_for_subscription(other.peer_id, me.gossip.topic(kind), timeout=15)


def _transfer(account: Any, **fields: Any) -> bytes:
    return bytes(account.sign_transaction({
        "chainId": CHAIN_ID, "nonce": 0, "to": "0x" + "11" * 20, "value": 1, "gas": 21_000,
        "maxFeePerGas": 2 * GWEI, "maxPriorityFeePerGas": GWEI, "type": 2, **fields}).raw_transaction)


@pytest.fixture
def network_node(tmp_path: Path, dev_accounts: list[Any]) -> Any:
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(dev_genesis(dev_accounts, chain_id=CHAIN_ID, balance_wei=10**21,
                                              validator=bytes.fromhex(dev_accounts[0].address[2:]))))
    backend, _, _, node = build_network_node(NodeConfig(datadir=tmp_path / "node", genesis=genesis,
                                                     p2p_host="127.0.0.1", p2p_port=0))
    yield node
    backend.close()


@pytest.mark.timeout(120)
def test_invalid_attestations_and_transactions_are_rejected_not_forwarded_and_penalised(
        network_node, dev_accounts):
    """Until the oracle defines the attestation message nothing on its topic is valid; a
    transaction for another chain or below its intrinsic gas is invalid too. A valid
    transaction message sent last shows the line mallory - node - carol carries gossip, and
    the node, which only relays it (gossipsub forwards it), does not announce it as its own."""
    node = network_node.p2p
    received: list[tuple[TopicKind, bytes]] = []
    announced: list[Any] = []
    network_node.backend.on_local_tx.append(announced.append)

    async def collect(message: GossipMessage) -> None:
        received.append((message.kind, message.payload))

    async def scenario() -> None:
        mallory, carol = _peer(), _peer()
        carol.subscribe(TopicKind.ATTESTATION, collect)
        carol.subscribe(TopicKind.TX, collect)
        async with trio.open_nursery() as nursery:
            for service in (node, mallory, carol):
                await nursery.start(service.run)
            await _linked(mallory, node)
            await _linked(carol, node)
            await trio.sleep(1.5)   # a heartbeat or two: the meshes form
            await mallory.publish(TopicKind.ATTESTATION, b"an attestation of nothing")
            other_chain = _transfer(dev_accounts[2], chainId=CHAIN_ID + 1)
            below_intrinsic_gas = _transfer(dev_accounts[3], gas=20_000)
            for raw in (other_chain, below_intrinsic_gas):
                await mallory.publish(TopicKind.TX, rlp.encode([raw]))
            valid = _transfer(dev_accounts[1])
            await mallory.publish(TopicKind.TX, rlp.encode([valid]))
            with trio.fail_after(30):
                while not received:
                    await trio.sleep(0.05)
            await trio.sleep(0.5)   # anything else forwarded would be here by now
            assert received == [(TopicKind.TX, rlp.encode([valid]))]
            assert node.metrics.gossip_rejected == 3
            assert node.scores.score(str(mallory.peer_id), trio.current_time()) < 0
            assert network_node.backend.pool.get(keccak(valid)) is not None and announced == []
            nursery.cancel_scope.cancel()

    trio.run(scenario)
