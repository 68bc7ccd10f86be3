"""GET /metrics on the RPC port: Prometheus text with chain, pool, consensus and RPC figures."""
from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families


def _samples(url: str) -> dict[tuple[str, tuple], float]:
    text = requests.get(url + "/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_follow_the_chain_and_count_rpc_calls(w3, dev_node):
    tx = w3.eth.send_transaction({"from": w3.eth.accounts[8], "to": w3.eth.accounts[9], "value": 1})
    w3.eth.wait_for_transaction_receipt(tx, timeout=30)
    dev_node.rpc("eth_noSuchMethod")
    samples = _samples(dev_node.url)
    assert samples[("azora_head_number", ())] == w3.eth.block_number
    assert samples[("azora_txpool_pending", ())] == 0
    # LevelDB's memtables and block cache: something, and within their configured sizes
    assert 0 < samples[("azora_leveldb_memory_bytes", ())] < 3 * (4 << 20) + (8 << 20)
    assert samples[("azora_consensus_height", ())] >= w3.eth.block_number
    assert samples[("azora_rpc_calls_total", (("method", "eth_sendTransaction"), ("outcome", "ok")))] >= 1
    assert samples[("azora_rpc_calls_total", (("method", "unknown"), ("outcome", "-32601")))] >= 1


def test_latencies_of_rpc_calls_block_execution_and_finality(w3, dev_node):
    before = _samples(dev_node.url)
    calls_before = before.get(("azora_rpc_duration_seconds_count", (("method", "eth_chainId"),)), 0)
    for _ in range(3):
        w3.eth.chain_id  # noqa: B018 - one eth_chainId call each
    tx = w3.eth.send_transaction({"from": w3.eth.accounts[7], "to": w3.eth.accounts[9], "value": 1})
    w3.eth.wait_for_transaction_receipt(tx, timeout=30)
    samples = _samples(dev_node.url)
    assert samples[("azora_rpc_duration_seconds_count", (("method", "eth_chainId"),))] >= calls_before + 3
    slowest = samples[("azora_rpc_duration_seconds_bucket", (("le", "+Inf"), ("method", "eth_chainId")))]
    assert slowest == samples[("azora_rpc_duration_seconds_count", (("method", "eth_chainId"),))]
    assert samples[("azora_rpc_duration_seconds_sum", (("method", "eth_chainId"),))] > 0
    built = samples[("azora_block_execution_seconds_count", (("path", "build"),))]
    assert built > before.get(("azora_block_execution_seconds_count", (("path", "build"),)), 0)
    assert samples[("azora_block_finality_seconds_count", ())] >= w3.eth.block_number >= 1
    # a dev block commits within the second of its timestamp (plus the machine's load)
    assert samples[("azora_block_finality_seconds_sum", ())] < 30 * samples[("azora_block_finality_seconds_count", ())]
