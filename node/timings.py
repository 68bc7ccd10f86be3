"""Latencies the node observes as they happen, kept as Prometheus histograms for /metrics.

Gauges and counters are read from the node's parts at scrape time (node/metrics.py); a
latency cannot be, so the places that time something observe it here: the dispatcher (each
JSON-RPC call by method), the chain writer (each block's execution, validating or importing)
and the producer (building), and every commit (finality).
"""
from __future__ import annotations

from typing import Any, Iterator

from prometheus_client import Histogram
from prometheus_client.core import Metric

# From a cached read (~1 ms) to an execution at the EVM timeout (5 s) and beyond.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class NodeTimings:
    """One node's latency histograms (not in prometheus_client's global registry: a test may
    run several nodes in one process)."""

    def __init__(self) -> None:
        self.rpc = Histogram("azora_rpc_duration_seconds", "JSON-RPC call latency by method", ["method"],
                             registry=None, buckets=LATENCY_BUCKETS)
        self.block_execution = Histogram(
            "azora_block_execution_seconds", "Time to execute a block's transactions (building, validating a "
            "proposal or importing)", ["path"], registry=None, buckets=LATENCY_BUCKETS)
        self.finality = Histogram(
            "azora_block_finality_seconds", "Seconds from a block's timestamp to its commit on this node",
            registry=None, buckets=LATENCY_BUCKETS)
        # method -> its histogram child; methods are the dispatcher's (and "unknown"): bounded
        self._rpc_children: dict[str, Any] = {}

    def observe_rpc(self, method: str, seconds: float) -> None:
        """One JSON-RPC call's latency. Each method's child is looked up once: ``labels()``
        validates and locks on every call, a twentieth of answering a sent transaction."""
        child = self._rpc_children.get(method)
        if child is None:
            child = self._rpc_children[method] = self.rpc.labels(method)
        child.observe(seconds)

    def collect(self) -> Iterator[Metric]:
        for histogram in (self.rpc, self.block_execution, self.finality):
            yield from histogram.collect()
