"""Azora networking: a py-libp2p host under trio with gossip topics, req/resp and peer scoring.

The node uses ``P2PService`` (service.py) and the types re-exported here; docs/p2p.md
describes the topics, protocols, limits and scoring.
"""

import p2p.libp2p_costs  # noqa: F401  (before any host exists: see the module)
from p2p.config import (
    GossipConfig,
    P2PConfig,
    ReqRespConfig,
    ScoringConfig,
    TopicKind,
    TopicLimits,
    topic_name,
)
from p2p.gossip import GossipMessage, MessageTooLarge, ValidationResult
from p2p.identity import load_or_create_node_key, peer_id_of
from p2p.metrics import P2PMetrics
from p2p.reqresp import (
    BlockAndCommit,
    InvalidRequest,
    InvalidResponse,
    RemoteError,
    ReqRespError,
    ReqRespHandlers,
    RequestTimeout,
    ResourceUnavailable,
    Status,
    WrongChain,
)
from p2p.service import P2PService, PeerView

__all__ = [
    "BlockAndCommit",
    "GossipConfig",
    "GossipMessage",
    "InvalidRequest",
    "InvalidResponse",
    "MessageTooLarge",
    "P2PConfig",
    "P2PMetrics",
    "P2PService",
    "PeerView",
    "RemoteError",
    "ReqRespConfig",
    "ReqRespError",
    "ReqRespHandlers",
    "RequestTimeout",
    "ResourceUnavailable",
    "ScoringConfig",
    "Status",
    "TopicKind",
    "TopicLimits",
    "ValidationResult",
    "WrongChain",
    "load_or_create_node_key",
    "peer_id_of",
    "topic_name",
]
