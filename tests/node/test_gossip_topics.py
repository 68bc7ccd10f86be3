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


def _attestation(signer: Any, named_signer: str, domain: Any, *, version: int = 1) -> bytes:
    """A member's attestation of a statement, signed by ``signer`` over ``domain``."""
    from oracle.attestation import Attestation, completion_for, encode_attestation
    from oracle.completion import compute_digest, sign_digest

    body = {"id": "38888674-6e45-4074-8385-ac98128f77e6",
            "actor": {"account": {"homePage": "https://learn.example.org", "name": "0x" + "22" * 20}},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
            "object": {"id": "https://learn.example.org/courses/blockchain-101"},
            "result": {"success": True, "score": {"scaled": 0.92}}, "timestamp": "2026-12-01T10:00:00Z"}
    completion = completion_for(body, oracle_set_version=version, deadline=2**40)
    signature = sign_digest(bytes(signer.key), compute_digest(completion, domain))
    return encode_attestation(Attestation(domain.chain_id, domain.contract, body, completion, named_signer, signature))


@pytest.mark.timeout(120)
def test_attestations_a_member_would_reject_and_invalid_transactions_are_not_forwarded_and_penalised(
        network_node, dev_accounts):
    """The node judges attestations as the oracle members do, against the committee recorded
    on chain (dev genesis: the last three dev accounts, version 1): a member's attestation is
    relayed; garbage, a stranger's, a forged one and one for another chain are REJECTed; one
    for another committee version is IGNOREd (dropped, the sender keeps its score). A
    transaction for another chain or below its intrinsic gas is invalid too. A valid
    transaction message sent last shows the line mallory - node - carol carries gossip, and
    the node, which only relays it (gossipsub forwards it), does not announce it as its own."""
    from eth_account import Account
    from oracle.completion import Domain

    node = network_node.p2p
    member, stranger = dev_accounts[-1], Account.from_key(b"\x42" * 32)
    domain = Domain(CHAIN_ID, network_node.chain.system_contracts["ProofOfKnowledge"])
    member_attestation = _attestation(member, member.address, domain)
    bad_attestations = [
        b"an attestation of nothing",
        _attestation(stranger, stranger.address, domain),                      # not a member
        _attestation(stranger, member.address, domain),                        # forged
        _attestation(member, member.address, Domain(CHAIN_ID + 1, domain.contract)),  # another chain
    ]
    stale = _attestation(member, member.address, domain, version=7)
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
            # what must be relayed first: six rejections ban the sender, and a ban drops the rest
            await mallory.publish(TopicKind.ATTESTATION, member_attestation)
            valid = _transfer(dev_accounts[1])
            await mallory.publish(TopicKind.TX, rlp.encode([valid]))
            relayed = sorted([(TopicKind.ATTESTATION, member_attestation), (TopicKind.TX, rlp.encode([valid]))])
            with trio.fail_after(30):
                while len(received) < 2:
                    await trio.sleep(0.05)
            for payload in [stale, *bad_attestations]:
                await mallory.publish(TopicKind.ATTESTATION, payload)
            other_chain = _transfer(dev_accounts[2], chainId=CHAIN_ID + 1)
            below_intrinsic_gas = _transfer(dev_accounts[3], gas=20_000)
            for raw in (other_chain, below_intrinsic_gas):
                await mallory.publish(TopicKind.TX, rlp.encode([raw]))
            with trio.fail_after(30):
                while node.metrics.gossip_rejected < len(bad_attestations) + 2:
                    await trio.sleep(0.05)
            await trio.sleep(0.5)   # anything else forwarded would be here by now
            assert sorted(received) == relayed
            assert node.metrics.gossip_rejected == len(bad_attestations) + 2
            assert node.metrics.gossip_ignored == 1   # the stale committee version
            assert node.scores.score(str(mallory.peer_id), trio.current_time()) < 0
            assert network_node.backend.pool.get(keccak(valid)) is not None and announced == []
            nursery.cancel_scope.cancel()

    trio.run(scenario)
