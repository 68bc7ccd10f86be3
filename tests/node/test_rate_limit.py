"""Per-client rate limits on the RPC port: over the limit a client gets HTTP 429 / -32005 and
nothing runs; within it (and after the bucket refills) it is served as usual.

Time is injected: the buckets, the JSON-RPC app over a real chain (driven in process) and the
refills all run on a clock the test advances, never on real sleeps. One test runs a real
``azora dev`` to show the command-line flag turns the limit on.
"""
from __future__ import annotations

import json
import warnings

import pytest
import requests

with warnings.catch_warnings():   # starlette would rather have httpx2, which is not installed
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from node.backend import Backend
from node.context import NodeContext
from node.rpc.server import Dispatcher, RateLimiter, build_app
from node.service import build_namespaces

CALL = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
LIMITED = {"code": -32005, "message": "limit exceeded: too many requests"}


class Clock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills():
    clock = Clock()
    limiter = RateLimiter(2, burst=3, clock=clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")                 # buckets are per client
    clock.now += 0.5                          # one token back at 2/s
    assert limiter.allow("a") and not limiter.allow("a")


def test_every_call_of_a_batch_counts():
    limiter = RateLimiter(10, burst=20, clock=Clock())
    assert limiter.allow("a", 15)             # 5 left
    assert not limiter.allow("a", 6)
    assert limiter.allow("a", 5) and not limiter.allow("a")


def test_a_batch_larger_than_the_burst_passes_on_a_full_bucket_and_leaves_a_debt():
    clock = Clock()
    limiter = RateLimiter(10, burst=20, clock=clock)
    assert limiter.allow("a", 50)             # 30 in debt
    clock.now += 3.0                          # back to zero: still nothing
    assert not limiter.allow("a")
    clock.now += 0.1
    assert limiter.allow("a")


@pytest.fixture
def rpc(tmp_path):
    """The JSON-RPC app over a real chain, rate-limited on an injected clock: (client, clock)."""
    db = LevelDB(tmp_path / "db")
    backend = Backend(Chain(db, Genesis.from_json({"config": {"chainId": 1337}, "timestamp": "0x1"})))
    clock = Clock()
    app = build_app(Dispatcher(build_namespaces(backend, NodeContext())), rate_limiter=RateLimiter(10, clock=clock))
    with TestClient(app, backend="trio") as client:
        yield client, clock
    backend.close()


def test_invalid_batch_flood_is_limited_per_call(rpc):
    client, clock = rpc
    body = [dict(CALL, id=i) for i in range(15)]
    first = client.post("/", json=body)        # a full bucket: 20 calls
    assert first.status_code == 200 and len(first.json()) == 15
    second = client.post("/", json=body)       # 15 more at the same instant: over the limit
    assert second.status_code == 429 and second.json()["error"] == LIMITED
    clock.now += 2.0
    assert client.post("/", json=body).status_code == 200


def test_invalid_flood_is_limited_and_the_client_recovers(rpc):
    client, clock = rpc
    answers = [client.post("/", json=CALL) for _ in range(30)]
    assert [a.status_code for a in answers] == [200] * 20 + [429] * 10
    assert answers[-1].json()["error"] == LIMITED
    clock.now += 0.1                           # one call's worth at 10/s
    assert client.post("/", json=CALL).json()["result"] == "0x0"
    assert client.post("/", json=CALL).status_code == 429


def test_invalid_websocket_batches_are_limited_per_call(rpc):
    client, clock = rpc
    body = json.dumps([dict(CALL, id=i) for i in range(15)])
    with client.websocket_connect("/") as ws:
        ws.send_text(body)
        assert len(json.loads(ws.receive_text())) == 15
        ws.send_text(body)                     # 15 more at the same instant: over the limit
        assert json.loads(ws.receive_text())["error"] == LIMITED
        clock.now += 2.0
        ws.send_text(body)
        assert len(json.loads(ws.receive_text())) == 15


def test_the_ratelimit_flag_limits_a_running_node(start_azora):
    node = start_azora("dev", "--http.ratelimit", "1")   # bursts of 2: a flood soon runs dry
    answers = [requests.post(node.url, json=CALL, timeout=10) for _ in range(10)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited and limited[0].json()["error"] == LIMITED
