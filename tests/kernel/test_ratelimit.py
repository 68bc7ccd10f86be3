"""The token buckets behind gossip and JSON-RPC rate limits: pure, time is an argument."""
from __future__ import annotations

from kernel.ratelimit import TokenBuckets


def test_a_bucket_refills_at_its_rate_up_to_its_burst():
    buckets: TokenBuckets[str] = TokenBuckets()
    assert [buckets.take("a", 0.0, rate=2, burst=3) for _ in range(4)] == [True, True, True, False]
    assert buckets.take("a", 0.5, rate=2, burst=3)            # one token back at 2/s
    assert not buckets.take("a", 0.5, rate=2, burst=3)
    assert [buckets.take("a", 100.0, rate=2, burst=3) for _ in range(4)] == [True, True, True, False]


def test_a_cost_above_the_burst_passes_on_a_full_bucket_and_leaves_a_debt():
    buckets: TokenBuckets[str] = TokenBuckets()
    assert buckets.take("a", 0.0, rate=10, burst=20, cost=50)   # 30 in debt
    assert not buckets.take("a", 3.0, rate=10, burst=20)        # back to zero: still nothing
    assert buckets.take("a", 3.1, rate=10, burst=20)


def test_idle_buckets_are_forgotten_once_there_are_too_many():
    buckets: TokenBuckets[str] = TokenBuckets(max_keys=3, idle_seconds=60)
    # A rate slower than idle_seconds (the node's never are) makes the forgetting visible.
    slow = {"rate": 0.01, "burst": 1}          # a token every 100 s
    for index, key in enumerate("abc"):
        assert buckets.take(key, float(index), **slow)
    assert not buckets.take("a", 2.0, **slow)  # empty, and remembered
    assert buckets.take("d", 100.0, **slow)    # a fourth key: the idle three are forgotten
    assert buckets.take("a", 100.0, **slow)    # remembered, it would hold 0.98 tokens


def test_a_forgotten_key_starts_again_with_a_full_bucket():
    buckets: TokenBuckets[tuple[str, int]] = TokenBuckets()
    assert buckets.take(("peer", 1), 0.0, rate=0.1, burst=1)
    assert not buckets.take(("peer", 1), 0.0, rate=0.1, burst=1)
    buckets.forget(("peer", 1))
    assert buckets.take(("peer", 1), 0.0, rate=0.1, burst=1)
