"""Prometheus metrics, read from the node's parts when scraped (GET /metrics on the RPC port).

A custom collector reads the chain, pool, consensus host and p2p counters at scrape time, so
no service has to push values anywhere; only RPC calls are counted as they happen.
"""
from __future__ import annotations

import threading
from collections import Counter
from typing import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from node.backend import Backend
from node.context import NodeContext
from node.validators import StandingTracker


class RpcCounters:
    """Calls per method and outcome, counted by the dispatcher (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[tuple[str, str]] = Counter()

    def count(self, method: str, outcome: str) -> None:
        with self._lock:
            self.calls[(method, outcome)] += 1


class NodeCollector:
    def __init__(self, backend: Backend, context: NodeContext, rpc: RpcCounters) -> None:
        self.backend = backend
        self.context = context
        self.rpc = rpc

    def collect(self) -> Iterator[Metric]:
        chain, pool = self.backend.chain, self.backend.pool
        head = chain.head
        yield _gauge("azora_head_number", "Number of the head (finalized) block", head.block_number)
        yield _gauge("azora_head_timestamp_seconds", "Timestamp of the head block", head.timestamp)
        yield _gauge("azora_head_gas_used", "Gas used by the head block", head.gas_used)
        yield _gauge("azora_leveldb_memory_bytes", "LevelDB's memtables and block cache (its own estimate)",
                     chain.db.memory_bytes())
        yield _gauge("azora_txpool_pending", "Executable transactions in the pool", pool.pending_count)
        yield _gauge("azora_txpool_queued", "Gapped transactions in the pool", pool.queued_count)
        decoder = self.backend.decoder
        yield _counter("azora_txpool_worker_decoded", "Raw transactions decoded by the decoder worker", decoder.decoded)
        yield _counter("azora_txpool_worker_failures", "Decoder workers that died or hung", decoder.failures)
        yield _counter("azora_sync_worker_senders", "Synced transactions whose senders the decoder worker recovered",
                       decoder.senders_recovered)
        yield _counter("azora_txpool_gateway_decoded", "Raw transactions decoded ahead by the RPC gateway",
                       self.backend.decoded_ahead)
        if self.context.consensus is not None:
            status = self.context.consensus.status()
            yield _gauge("azora_consensus_height", "Height the engine is deciding", status.height)
            yield _gauge("azora_consensus_round", "Round of the current height", status.round)
            yield _gauge("azora_consensus_evidence", "Equivocations seen", status.evidence)
        if self.context.standing is not None:
            yield from _validator_metrics(self.context.standing)
        peers = self.context.peers
        if peers is not None:
            yield _gauge("azora_p2p_peers", "Connected peers", peers.peer_count())
            counters = CounterMetricFamily("azora_p2p_events", "P2P counters", labels=["event"])
            for name, value in peers.counters().items():
                counters.add_metric([name], value)
            yield counters
        calls = CounterMetricFamily("azora_rpc_calls", "JSON-RPC calls", labels=["method", "outcome"])
        with self.rpc._lock:
            for (method, outcome), value in self.rpc.calls.items():
                calls.add_metric([method, outcome], value)
        yield calls
        yield from self.backend.timings.collect()


def _validator_metrics(tracker: StandingTracker) -> Iterator[Metric]:
    """This node's validator key, as CometBFT's validator_* metrics."""
    standing = tracker.read()
    yield _gauge("azora_validator_in_active_set", "1 if the validator key is in the set of the next height",
                 int(standing.in_set))
    yield _gauge("azora_validator_power", "Voting power of the validator key at the next height", standing.power)
    yield _gauge("azora_validator_jailed", "1 while the registry jails the validator key",
                 int(standing.jailed_until is not None))
    yield _gauge("azora_validator_blocks_signed",
                 "Blocks whose canonical commit the validator key signed, since the node started", tracker.signed)
    yield _gauge("azora_validator_missed_blocks",
                 "Blocks the validator key should have signed but whose canonical commit lacks it, since the node "
                 "started", tracker.missed)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def render(backend: Backend, context: NodeContext, rpc: RpcCounters) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(backend, context, rpc))
    return generate_latest(registry)


__all__ = ["NodeCollector", "RpcCounters", "render"]
