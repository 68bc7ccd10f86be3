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
    assert samples[("azora_consensus_height", ())] >= w3.eth.block_number
    assert samples[("azora_rpc_calls_total", (("method", "eth_sendTransaction"), ("outcome", "ok")))] >= 1
    assert samples[("azora_rpc_calls_total", (("method", "unknown"), ("outcome", "-32601")))] >= 1
