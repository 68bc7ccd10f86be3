"""A misbehaving peer fuzzes a real 4-validator testnet over gossip and req/resp.

Mallory is a real py-libp2p host on 127.0.0.1. She connects to validator0 (an ``azora node
run`` process) and sends malformed, oversized, forged (bad libp2p envelope signature, bad
consensus signature, another chain's signing domain, a non-validator's key) and replayed
messages on every gossip topic, and malformed, oversized and out-of-range requests on every
req/resp protocol. Each time validator0 bans and drops her, she comes back as a new identity
(a Sybil attacker), so the whole campaign reaches the node. An honest observer stays connected
to validator0 throughout.

Asserted: no node process dies, the validators keep finalizing one chain, every identity that
sent penalised traffic is banned and disconnected, and the observer stays connected and keeps
receiving committed blocks.

CI sends a few hundred messages; ``AZORA_FUZZ_MESSAGES=10000`` runs the campaign.
"""
from __future__ import annotations

import json
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import rlp
import trio
from eth_account import Account
from libp2p.crypto.secp256k1 import create_new_key_pair
from libp2p.pubsub.pb import rpc_pb2

from consensus.signing import LocalSigner, SigningDomain
from consensus.types import Vote, VoteType
from node.txgossip import pack_transactions
from p2p import P2PConfig, P2PService
from p2p.codec import encode_frame, encode_uvarint
from p2p.config import DEFAULT_TOPIC_LIMITS, GossipConfig, KIB, TopicKind, TopicLimits
from p2p.reqresp import (
    BLOCKS_BY_HASH_PROTOCOL, BLOCKS_BY_RANGE_PROTOCOL, STATUS_PROTOCOL, Status, encode_hash_request,
    encode_range_request,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "network"))
from harness import Testnet  # noqa: E402

FUZZ_MESSAGES = int(os.environ.get("AZORA_FUZZ_MESSAGES", "300"))
SEED = int(os.environ.get("AZORA_FUZZ_SEED", "16"))
PROTOCOLS = (STATUS_PROTOCOL, BLOCKS_BY_RANGE_PROTOCOL, BLOCKS_BY_HASH_PROTOCOL)
# Oversized cases stay on the small topics: a 10 MiB block per case would make the campaign
# about bandwidth, and the size check is the same code for every topic.
SMALL_TOPICS = (TopicKind.VOTE, TopicKind.TX, TopicKind.EVIDENCE, TopicKind.ATTESTATION)


@dataclass(frozen=True)
class Case:
    """One hostile message: a gossip payload on a topic, or a raw request on a protocol."""

    label: str
    topic: TopicKind | None = None
    protocol: str | None = None
    payload: bytes = b""
    forge_envelope: bool = False


@dataclass
class Captured:
    """Real traffic the observer heard, for replays and mutations, and the chain's domain."""

    domain: SigningDomain
    genesis_hash: bytes
    validator_key: bytes
    messages: dict[TopicKind, list[bytes]] = field(default_factory=dict)

    def sample(self, rng: random.Random, kind: TopicKind) -> bytes:
        return rng.choice(self.messages[kind])


# -- case generation (pure, seeded) ----------------------------------------------------------


def random_bytes(rng: random.Random, low: int = 0, high: int = 300) -> bytes:
    return rng.randbytes(rng.randint(low, high))


def nested_garbage(rng: random.Random, depth: int = 0) -> object:
    """A random RLP structure: lists of byte strings, ints and lists."""
    if depth > 3 or rng.random() < 0.4:
        return rng.choice([b"", rng.randbytes(rng.randint(1, 40)), rng.randint(0, 2**64)])
    return [nested_garbage(rng, depth + 1) for _ in range(rng.randint(0, 7))]


def flip_byte(rng: random.Random, payload: bytes) -> bytes:
    index = rng.randrange(len(payload))
    return payload[:index] + bytes([payload[index] ^ (1 << rng.randrange(8))]) + payload[index + 1:]


def signed_vote(key: bytes, domain: SigningDomain, height: int) -> bytes:
    return LocalSigner(key, domain).sign_vote(Vote(VoteType.PREVOTE, height, 0, os.urandom(32))).encode()


def gossip_case(rng: random.Random, kind: TopicKind, captured: Captured, height: int) -> Case:
    """A malformed, oversized, forged or replayed message for ``kind``."""
    choices = ["random", "rlp-garbage", "envelope-forged"]
    if kind in captured.messages:
        choices += ["replayed", "bit-flipped", "truncated"]
    if kind in SMALL_TOPICS:
        choices.append("oversized")
    if kind == TopicKind.VOTE:
        choices += ["wrong-chain-id", "bad-signature", "non-validator"]
    if kind == TopicKind.TX:
        choices += ["tx-wrong-chain-id", "tx-garbage-list"]
    label = rng.choice(choices)
    if label == "random":
        payload = random_bytes(rng)
    elif label == "rlp-garbage":
        payload = rlp.encode(nested_garbage(rng))
    elif label == "envelope-forged":
        payload = random_bytes(rng, 1)
    elif label == "replayed":
        payload = captured.sample(rng, kind)
    elif label == "bit-flipped":
        payload = flip_byte(rng, captured.sample(rng, kind))
    elif label == "truncated":
        real = captured.sample(rng, kind)
        payload = real[: rng.randrange(len(real))]
    elif label == "oversized":
        payload = rng.randbytes(DEFAULT_TOPIC_LIMITS[kind].max_message_bytes + rng.randint(1, 1024))
    elif label == "wrong-chain-id":
        other = SigningDomain(captured.domain.chain_id + 1, captured.domain.verifying_contract)
        payload = signed_vote(captured.validator_key, other, height)
    elif label == "bad-signature":
        payload = flip_byte(rng, signed_vote(captured.validator_key, captured.domain, 2**40))
    elif label == "non-validator":
        payload = signed_vote(rng.randbytes(31) + b"\x01", captured.domain, 2**40)
    elif label == "tx-wrong-chain-id":
        tx = Account.create().sign_transaction({
            "to": "0x" + "11" * 20, "value": 1, "gas": 21000, "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 1, "nonce": 0, "chainId": captured.domain.chain_id + 1})
        payload = next(pack_transactions([bytes(tx.raw_transaction)], 256 * KIB))
    else:
        payload = next(pack_transactions([random_bytes(rng, 1, 200) for _ in range(rng.randint(1, 5))],
                                         256 * KIB))
    return Case(f"{kind.value}:{label}", topic=kind, payload=payload,
                forge_envelope=label == "envelope-forged")


def request_case(rng: random.Random, protocol: str, captured: Captured) -> Case:
    """A malformed, oversized or out-of-range request on ``protocol``."""
    label = rng.choice(["random", "rlp-garbage", "frame-too-large", "truncated-frame", "protocol-specific"])
    if label == "random":
        payload = random_bytes(rng)
    elif label == "rlp-garbage":
        payload = encode_frame(rlp.encode(nested_garbage(rng)))
    elif label == "frame-too-large":
        payload = encode_uvarint(rng.randint(64 * KIB, 2**40)) + random_bytes(rng, 0, 64)
    elif label == "truncated-frame":
        body = random_bytes(rng, 10, 200)
        payload = encode_uvarint(len(body) + 50) + body
    elif protocol == STATUS_PROTOCOL:
        label = "status-bad-hash"
        payload = encode_frame(rlp.encode([captured.domain.chain_id, rng.randbytes(31), 1, b"", 0, b"\x00" * 33]))
    elif protocol == BLOCKS_BY_RANGE_PROTOCOL:
        label = "range-count-out-of-bounds"
        payload = encode_frame(encode_range_request(rng.randint(0, 2**63), rng.choice([0, 257, 2**32])))
    else:
        label = "hash-bad-length"
        payload = encode_frame(encode_hash_request([rng.randbytes(rng.choice([0, 31, 33]))]))
    return Case(f"{protocol.split('/')[3]}:{label}", protocol=protocol, payload=payload)


def generate_cases(rng: random.Random, count: int, captured: Captured, height: int) -> list[Case]:
    """``count`` cases, spread evenly over the six topics and three protocols."""
    targets: list[TopicKind | str] = [*TopicKind, *PROTOCOLS]
    cases = []
    for index in range(count):
        target = targets[index % len(targets)]
        if isinstance(target, TopicKind):
            cases.append(gossip_case(rng, target, captured, height))
        else:
            cases.append(request_case(rng, target, captured))
    return cases


# -- the attacker and the observer ----------------------------------------------------------


def attacker_config(chain_id: int) -> P2PConfig:
    """Mallory's own caps are raised so only the receiver enforces its limits."""
    limits = dict(DEFAULT_TOPIC_LIMITS)
    for kind in SMALL_TOPICS:
        limits[kind] = TopicLimits(1024 * KIB, 10**6, 10**6)
    return P2PConfig(chain_id=chain_id, listen_host="127.0.0.1", port=0, status_on_connect=False,
                     gossip=GossipConfig(topic_limits=limits))


async def send_case(mallory: P2PService, target, case: Case) -> None:
    if case.topic is not None:
        if case.forge_envelope:
            forged = rpc_pb2.Message(
                data=case.payload, topicIDs=[mallory.gossip.topic(case.topic)],
                from_id=mallory.peer_id.to_bytes(), seqno=os.urandom(8), signature=os.urandom(64))
            await mallory.gossip.router.publish(mallory.peer_id, forged)
        else:
            await mallory.publish(case.topic, case.payload)
        return
    with trio.move_on_after(3):
        try:
            stream = await mallory.host.new_stream(target, [case.protocol])
            await stream.write(case.payload)
            await stream.close()
            await stream.read(64 * KIB)
        except Exception:  # a reset or refused stream is the node's answer to abuse
            pass


@dataclass
class CampaignResult:
    sent: int = 0
    identities: int = 0
    dropped: int = 0          # identities validator0 disconnected
    refused_reconnects: int = 0
    observer_blocks_after: int = 0   # blocks the observer heard after the last case
    labels: Counter = field(default_factory=Counter)


async def connect_with_retries(mallory: P2PService, address: str, attempts: int = 5):
    """A fresh identity's dial can fail on a loaded machine (a multiselect handshake that
    times out): retry a few times; a node that stays unreachable fails the campaign."""
    for attempt in range(attempts):
        try:
            return await mallory.connect(address)
        except ConnectionError:
            if attempt == attempts - 1:
                raise
            await trio.sleep(0.5)


async def run_identity(chain_id: int, address: str, cases: list[Case], result: CampaignResult) -> None:
    """One Mallory identity: connect, send until dropped (or cases run out)."""
    mallory = P2PService(attacker_config(chain_id), create_new_key_pair())
    async with trio.open_nursery() as nursery:
        await nursery.start(mallory.run)
        target = await connect_with_retries(mallory, address)
        await mallory.gossip.pubsub.wait_for_subscription(target, mallory.gossip.topic(TopicKind.TX), timeout=15)
        result.identities += 1
        while cases and target in mallory.connected_peers():
            case = cases.pop()
            await send_case(mallory, target, case)
            result.sent += 1
            result.labels[case.label] += 1
            await trio.sleep(0.005)
        if cases:
            result.dropped += 1
            # The ban outlives the connection: a redial is accepted by TCP and dropped again.
            try:
                await mallory.connect(address)
            except ConnectionError:
                pass
            with trio.move_on_after(5):
                while target in mallory.connected_peers():
                    await trio.sleep(0.05)
            if target not in mallory.connected_peers():
                result.refused_reconnects += 1
        nursery.cancel_scope.cancel()


class Observer:
    """An honest peer of validator0 that records what it hears."""

    def __init__(self, chain_id: int) -> None:
        self.service = P2PService(P2PConfig(chain_id=chain_id, listen_host="127.0.0.1", port=0,
                                            status_on_connect=False), create_new_key_pair())
        self.messages: dict[TopicKind, list[bytes]] = {kind: [] for kind in TopicKind}
        for kind in (TopicKind.VOTE, TopicKind.PROPOSAL, TopicKind.BLOCK):
            self.service.subscribe(kind, self._record)

    async def _record(self, message) -> None:
        self.messages[message.kind].append(message.payload)


def validator_key(testnet: Testnet, name: str) -> bytes:
    home = testnet.nodes[name].home
    return bytes(Account.decrypt(json.loads((home / "validator.json").read_text()),
                                 (home / "password.txt").read_text().strip()))


async def campaign(testnet: Testnet, count: int, seed: int) -> tuple[CampaignResult, Observer, int]:
    node = testnet.nodes["validator0"]
    info = testnet.rpc("validator0", "azora_nodeInfo")
    chain_id = int(info["chainId"], 16)
    domain = SigningDomain(chain_id, bytes.fromhex(info["contracts"]["ValidatorRegistry"][2:]))
    observer = Observer(chain_id)
    result = CampaignResult()
    async with trio.open_nursery() as nursery:
        await nursery.start(observer.service.run)
        target = await observer.service.connect(node.p2p)
        with trio.fail_after(60):
            while not all(observer.messages[k] for k in (TopicKind.VOTE, TopicKind.PROPOSAL, TopicKind.BLOCK)):
                await trio.sleep(0.1)
        captured = Captured(domain, bytes.fromhex(info["genesisHash"][2:]), validator_key(testnet, "validator1"),
                            {k: list(v) for k, v in observer.messages.items() if v})
        height = testnet.height("validator0") + 1
        cases = generate_cases(random.Random(seed), count, captured, height)
        cases.reverse()   # popped from the end: generation order
        while cases:
            await run_identity(chain_id, node.p2p, cases, result)
        blocks_before = len(observer.messages[TopicKind.BLOCK])
        with trio.move_on_after(60):
            while len(observer.messages[TopicKind.BLOCK]) < blocks_before + 3:
                await trio.sleep(0.1)
        result.observer_blocks_after = len(observer.messages[TopicKind.BLOCK]) - blocks_before
        observer_connected = target in observer.service.connected_peers()
        nursery.cancel_scope.cancel()
    return result, observer, observer_connected


@pytest.fixture(scope="module")
def testnet(tmp_path_factory):
    net = Testnet.init(tmp_path_factory.mktemp("fuzznet") / "net", validators=4, block_interval=0.5)
    try:
        net.start()
        net.wait_for_height(3, timeout=120)
        yield net
    finally:
        net.close()


@pytest.mark.timeout(1800 + FUZZ_MESSAGES)
def test_a_misbehaving_peer_cannot_crash_stall_or_stay_connected(testnet):
    names = list(testnet.nodes)
    start_height = testnet.height("validator0")
    started = time.monotonic()
    result, observer, observer_connected = trio.run(campaign, testnet, FUZZ_MESSAGES, SEED)
    elapsed = time.monotonic() - started
    bans = testnet.nodes["validator0"].log(tail=10**9).count("banning peer")
    print(f"\nfuzz campaign: {result.sent} messages in {elapsed:.0f}s from {result.identities} identities; "
          f"{result.dropped} dropped by validator0, {bans} bans logged, {result.refused_reconnects} "
          f"redials refused")
    for label, count in sorted(result.labels.items()):
        print(f"  {label:40s} {count}")

    assert result.sent == FUZZ_MESSAGES
    for name in names:
        assert testnet.nodes[name].running, f"{name} died:\n{testnet.nodes[name].log()}"
    end_height = testnet.height("validator0")
    print(f"  heights {start_height} -> {end_height} during the campaign; observer heard "
          f"{len(observer.messages[TopicKind.BLOCK])} blocks ({result.observer_blocks_after} after the "
          f"last case), still connected: {observer_connected}; heights now {testnet.heights()}")
    testnet.wait_for_height(end_height + 3, timeout=60)
    assert end_height > start_height
    testnet.assert_same_chain(names, up_to=min(testnet.heights().values()))
    # Every identity but possibly the last (cases ran out) was scored down and dropped.
    assert result.dropped >= result.identities - 1 and result.dropped >= 1
    assert bans >= result.dropped
    assert result.refused_reconnects == result.dropped
    assert observer_connected
    assert result.observer_blocks_after >= 3
    assert "Traceback" not in testnet.nodes["validator0"].log(tail=10**9)


# -- found by the campaign: a pubsub frame that is not protobuf killed the node ---------------


@pytest.mark.timeout(60)
def test_a_pubsub_frame_that_is_not_protobuf_penalises_the_peer_and_the_node_runs_on():
    """The 10,000-message campaign took validator0 down with ``DecodeError: Error parsing
    message with type 'pubsub.pb.RPC'`` raised out of py-libp2p's stream handler, which only
    catches stream and varint errors: any peer could crash a node with one garbage frame."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from p2p_harness import Inbox, running_network, wait_until

    from p2p.gossip import GOSSIPSUB_PROTOCOLS

    async def main() -> None:
        async with running_network(3) as (mallory, bob, carol):
            inbox = Inbox()
            bob.subscribe(TopicKind.TX, inbox.handler)
            stream = await mallory.host.new_stream(bob.peer_id, list(GOSSIPSUB_PROTOCOLS))
            garbage = b"\xff" * 40
            await stream.write(encode_uvarint(len(garbage)) + garbage)
            await wait_until(lambda: bob.scores.score(str(mallory.peer_id), trio.current_time()) < 0)
            await carol.publish(TopicKind.TX, b"honest-tx")
            await inbox.wait_for(1)
            assert inbox.payloads() == [b"honest-tx"]
            assert bob.metrics.gossip_malformed_rpc == 1

    trio.run(main)
