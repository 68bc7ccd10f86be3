"""Plain integer counters the node exports (e.g. as Prometheus counters)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class P2PMetrics:
    """Monotonic counters; gauges (peers, bans) are read from the service directly."""

    gossip_published: int = 0
    gossip_received: int = 0
    gossip_accepted: int = 0
    gossip_ignored: int = 0
    gossip_rejected: int = 0
    gossip_duplicates: int = 0
    gossip_oversized: int = 0
    gossip_rate_limited: int = 0
    gossip_bad_signature: int = 0
    gossip_malformed_rpc: int = 0
    gossip_validation_errors: int = 0
    gossip_delivery_dropped: int = 0
    gossip_outbound_dropped: int = 0
    gossip_handler_errors: int = 0
    reqresp_requests_sent: int = 0
    reqresp_requests_served: int = 0
    reqresp_request_errors: int = 0
    reqresp_timeouts: int = 0
    reqresp_bad_requests: int = 0
    reqresp_bad_responses: int = 0
    peers_connected_total: int = 0
    peers_disconnected_total: int = 0
    peers_banned_total: int = 0
    bootnode_dials: int = 0
    bootnode_dial_failures: int = 0
    per_topic_accepted: dict[str, int] = field(default_factory=dict)

    def count_topic(self, kind: str) -> None:
        """Count one accepted message on topic kind ``kind``."""
        self.per_topic_accepted[kind] = self.per_topic_accepted.get(kind, 0) + 1

    def as_dict(self) -> dict[str, object]:
        """A copy of every counter, for export."""
        return asdict(self)
