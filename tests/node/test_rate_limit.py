"""Per-client rate limits on the RPC port: over the limit a client gets HTTP 429 / -32005 and
nothing runs; within it (and after the bucket refills) it is served as usual."""
from __future__ import annotations

import json
import time

import requests
import websockets.sync.client

from node.rpc.server import RateLimiter

CALL = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}


def test_token_bucket_refills():
    now = [0.0]
    limiter = RateLimiter(2, burst=3, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")                 # buckets are per client
    now[0] += 0.5                             # one token back at 2/s
    assert limiter.allow("a") and not limiter.allow("a")


def test_every_call_of_a_batch_counts():
    now = [0.0]
    limiter = RateLimiter(10, burst=20, clock=lambda: now[0])
    assert limiter.allow("a", 15)             # 5 left
    assert not limiter.allow("a", 6)
    assert limiter.allow("a", 5) and not limiter.allow("a")


def test_a_batch_larger_than_the_burst_passes_on_a_full_bucket_and_leaves_a_debt():
    now = [0.0]
    limiter = RateLimiter(10, burst=20, clock=lambda: now[0])
    assert limiter.allow("a", 50)             # 30 in debt
    now[0] += 3.0                             # back to zero: still nothing
    assert not limiter.allow("a")
    now[0] += 0.1
    assert limiter.allow("a")


def test_invalid_batch_flood_is_limited_per_call(start_azora):
    node = start_azora("dev", "--http.ratelimit", "10")
    time.sleep(2.5)                           # a full bucket: 20 calls
    body = [dict(CALL, id=i) for i in range(15)]
    first = requests.post(node.url, json=body, timeout=10)
    assert first.status_code == 200 and len(first.json()) == 15
    second = requests.post(node.url, json=body, timeout=10)   # 15 more: over the limit
    assert second.status_code == 429
    assert second.json()["error"] == {"code": -32005, "message": "limit exceeded: too many requests"}
    time.sleep(2.0)
    assert requests.post(node.url, json=body, timeout=10).status_code == 200


def test_invalid_flood_is_limited_and_the_node_recovers(start_azora, tmp_path):
    node = start_azora("dev", "--http.ratelimit", "5")
    time.sleep(2.5)                           # the readiness probe spent some of the burst
    answers = [requests.post(node.url, json=CALL, timeout=10) for _ in range(30)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited and limited[0].json()["error"] == {"code": -32005, "message": "limit exceeded: too many requests"}
    assert answers[0].status_code == 200
    time.sleep(1.5)
    assert requests.post(node.url, json=CALL, timeout=10).json()["result"].startswith("0x")


def test_invalid_websocket_batches_are_limited_per_call(start_azora):
    node = start_azora("dev", "--http.ratelimit", "10")
    time.sleep(2.5)
    body = json.dumps([dict(CALL, id=i) for i in range(15)])
    with websockets.sync.client.connect(node.ws_url) as ws:
        ws.send(body)
        assert len(json.loads(ws.recv(timeout=10))) == 15
        ws.send(body)                             # 15 more within the second: over the limit
        assert json.loads(ws.recv(timeout=10))["error"]["code"] == -32005
        time.sleep(2.0)
        ws.send(body)
        assert len(json.loads(ws.recv(timeout=10))) == 15
