"""Networking constants and configuration as typed tables.

py-libp2p 0.8.1 ships defaults tuned for another load that drop messages quietly (10 messages
per topic per second per peer, 32 queued RPCs per peer, 32 undelivered messages per
subscription). Everything Azora relies on is set explicitly here so the numbers live in one
place and docs/p2p.md can quote them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

KIB = 1024
MIB = 1024 * KIB


class TopicKind(str, Enum):
    """The gossip topics; the value is the path segment in ``/azora/{chainId}/{kind}/{version}``."""

    BLOCK = "block"
    VOTE = "vote"
    PROPOSAL = "proposal"
    TX = "tx"
    EVIDENCE = "evidence"
    ATTESTATION = "attestation"


# A topic's version changes with its message format: tx/2 carries a list of transactions.
TOPIC_VERSIONS: dict[TopicKind, int] = {TopicKind.TX: 2}


def topic_name(chain_id: int, kind: TopicKind) -> str:
    """The gossipsub topic string for ``kind`` on chain ``chain_id``."""
    return f"/azora/{chain_id}/{kind.value}/{TOPIC_VERSIONS.get(kind, 1)}"


@dataclass(frozen=True)
class TopicLimits:
    """Per-topic bounds: a message size cap and a per-forwarding-peer token bucket.

    The bucket refills at ``rate_per_second`` up to ``burst`` tokens; a message arriving
    from a peer with an empty bucket is ignored (not validated, not forwarded).
    """

    max_message_bytes: int
    rate_per_second: float
    burst: int


# Sized for a 4–21 validator network: a block carries up to a 30M-gas block of calldata
# (≈ 7.5 MB of zero bytes at 4 gas each) plus its parent's commit certificate; a vote is
# ≈ 150 bytes; a transaction is capped at geth's 128 KiB, a message of them at twice that. Bursts cover a 200-transaction
# burst relayed by one peer and a vote storm of 7+ validators over several rounds.
DEFAULT_TOPIC_LIMITS: dict[TopicKind, TopicLimits] = {
    TopicKind.BLOCK: TopicLimits(max_message_bytes=10 * MIB, rate_per_second=20, burst=64),
    TopicKind.VOTE: TopicLimits(max_message_bytes=2 * KIB, rate_per_second=500, burst=2000),
    TopicKind.PROPOSAL: TopicLimits(max_message_bytes=10 * MIB, rate_per_second=20, burst=64),
    TopicKind.TX: TopicLimits(max_message_bytes=256 * KIB, rate_per_second=1000, burst=4000),
    TopicKind.EVIDENCE: TopicLimits(max_message_bytes=16 * KIB, rate_per_second=20, burst=100),
    TopicKind.ATTESTATION: TopicLimits(max_message_bytes=256 * KIB, rate_per_second=100, burst=500),
}


@dataclass(frozen=True)
class ScoringConfig:
    """Peer-score weights, thresholds and the ban period (seconds).

    A fresh peer starts at 0; the score decays toward 0 with ``half_life`` so old faults are
    forgiven. Falling below ``ban_threshold`` disconnects the peer and bans it for
    ``ban_seconds``. At most ``max_tracked_peers`` peers are remembered: a Sybil attacker
    mints identities for free, so past the cap the least recently seen record is dropped
    (its ban with it: that identity was thrown away already).
    """

    reject_penalty: float = 10.0
    rate_limit_penalty: float = 1.0
    bad_request_penalty: float = 10.0
    bad_response_penalty: float = 10.0
    accept_reward: float = 0.1
    max_score: float = 10.0
    ban_threshold: float = -50.0
    half_life: float = 300.0
    ban_seconds: float = 600.0
    max_tracked_peers: int = 10_000


@dataclass(frozen=True)
class GossipConfig:
    """Gossipsub router and queue settings (py-libp2p's quiet defaults overridden)."""

    mesh_degree: int = 8
    mesh_degree_low: int = 6
    # Far above gossipsub's usual 12: py-libp2p 0.8.1 puts a pruned peer in a 60 s backoff
    # during which it also gets no IHAVE gossip, and with bootnodes as the only discovery a
    # bootnode is every newcomer's hub. Measured with 16 fully connected in-process nodes:
    # at 12, 4 of 15 receivers got nothing for 10 s; at 64 every receiver got everything.
    mesh_degree_high: int = 64
    heartbeat_interval: int = 1
    gossip_window: int = 3
    gossip_history: int = 5
    seen_ttl: int = 120
    outbound_queue_size: int = 8192
    subscription_channel_size: int = 8192
    pending_messages_per_peer: int = 4096
    max_concurrent_validations: int = 64
    validation_timeout: float = 5.0
    verdict_cache_size: int = 65536
    topic_limits: dict[TopicKind, TopicLimits] = field(
        default_factory=lambda: dict(DEFAULT_TOPIC_LIMITS)
    )

    @property
    def max_rpc_bytes(self) -> int:
        """Largest inbound/outbound pubsub RPC: the biggest topic cap plus envelope room."""
        return max(limit.max_message_bytes for limit in self.topic_limits.values()) + 64 * KIB


@dataclass(frozen=True)
class ReqRespConfig:
    """Request/response bounds (bytes, counts, seconds)."""

    max_request_bytes: int = 16 * KIB
    max_chunk_bytes: int = 12 * MIB
    max_blocks_per_request: int = 256
    request_timeout: float = 10.0
    response_timeout: float = 30.0
    handler_timeout: float = 20.0
    max_concurrent_per_peer: int = 4


@dataclass(frozen=True)
class P2PConfig:
    """Everything the P2P service needs besides the node key and the node's callbacks."""

    chain_id: int
    listen_host: str = "0.0.0.0"
    port: int = 30333
    bootnodes: tuple[str, ...] = ()
    # gossipsub's direct peers (v1.1): every message goes to them whatever the mesh does, and
    # they are never grafted or pruned. Validators list each other: the mesh's churn (a PRUNE,
    # its backoff, a GRAFT refused while it lasts) must not cut a validator off the votes.
    # Both ends must list each other. Dialing is the bootnodes' business: a pair in which one
    # side also lists the other as a bootnode stays connected (both dialing at once would
    # leave two connections).
    direct_peers: tuple[str, ...] = ()
    bootnode_retry_min: float = 1.0
    bootnode_retry_max: float = 30.0
    dial_timeout: float = 10.0
    status_on_connect: bool = True
    gossip: GossipConfig = field(default_factory=GossipConfig)
    reqresp: ReqRespConfig = field(default_factory=ReqRespConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
