"""Token buckets: the one rate limiter behind gossip (per peer and topic) and JSON-RPC (per client).

Here, in the lowest layer, because both p2p/ and node/ use it and neither may import the
other's modules (node/ imports of p2p/ would also load libp2p into a dev node). Pure: time is
an argument, so tests drive it with any clock (trio's MockClock, a counter).
"""
from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class TokenBuckets(Generic[K]):
    """One bucket per key, refilled at ``rate`` tokens a second up to ``burst``.

    The rate and burst are given with each call (gossip's follow its topic's limits, which a
    node may change while running). A cost above the burst passes on a full bucket and leaves
    the key in debt until it refills: a JSON-RPC batch larger than the burst is then served
    once, not never. Keys idle for ``idle_seconds`` are forgotten once there are more than
    ``max_keys``, so the table stays bounded whoever connects; with ``idle_seconds`` longer
    than any bucket takes to refill, a forgotten key was full anyway.
    """

    def __init__(self, max_keys: int = 10_000, idle_seconds: float = 60.0) -> None:
        self.max_keys = max_keys
        self.idle_seconds = idle_seconds
        self._buckets: dict[K, tuple[float, float]] = {}   # key -> (tokens, as of)

    def take(self, key: K, now: float, *, rate: float, burst: float, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens of ``key``'s bucket; False (nothing spent) when too few are left."""
        tokens, last = self._buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - last) * rate)
        if tokens < min(cost, burst):
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - cost, now)
        if len(self._buckets) > self.max_keys:
            self._forget_idle(now)
        return True

    def forget(self, key: K) -> None:
        """Drop ``key``'s bucket (a peer that disconnected)."""
        self._buckets.pop(key, None)

    def _forget_idle(self, now: float) -> None:
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < self.idle_seconds}
