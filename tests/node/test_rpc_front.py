"""The RPC port's front (node/rpc/front.py): plain JSON-RPC POSTs are answered by it, every other
request is relayed to the full app behind, and both answer alike; the client's address reaches
the app behind (rate limits), a client cannot forge it, and broken HTTP ends only its own
connection."""
from __future__ import annotations

import json
import socket

import pytest
import requests
import trio

from node.rpc.front import CLIENT_HEADER, ForwardedClient
from node.rpc.server import MAX_REQUEST_BYTES

# (request body, extra headers) that the front and the app behind must answer alike
CASES = {
    "call": (b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}', {}),
    "batch": (b'[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"nope"}]', {}),
    "notification": (b'{"jsonrpc":"2.0","method":"eth_chainId","params":[]}', {}),
    "malformed": (b'{"jsonrpc":', {}),
    "declared too large": (b"{}", {"Content-Length": str(MAX_REQUEST_BYTES + 1)}),
    "body too large": (b"[" + b" " * MAX_REQUEST_BYTES + b"]", {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_plain_and_relayed_posts_are_answered_alike(dev_node, case):
    body, extra = CASES[case]
    answers = []
    for origin in ({}, {"Origin": "http://localhost"}):   # the second goes to the app behind
        headers = {"Content-Type": "application/json", **extra, **origin}
        try:
            reply = requests.post(dev_node.url, data=body, headers=headers, timeout=30)
        except requests.ConnectionError:   # a server may close on a body it will not read
            answers.append("closed")
            continue
        answers.append((reply.status_code, reply.headers.get("content-type"), reply.content))
    assert answers[0] == answers[1], answers
    if answers[0] != "closed":
        status, content_type, content = answers[0]
        assert status in (200, 413)
        assert (content_type == "application/json") == bool(content)


def test_gets_websockets_and_keep_alive_work_through_the_front(dev_node, w3):
    session = requests.Session()
    for i in range(50):   # one connection, many requests
        assert session.post(dev_node.url, json={"jsonrpc": "2.0", "id": i, "method": "eth_chainId"}).json()["id"] == i
    assert session.get(dev_node.url + "/health", timeout=10).status_code in (200, 503)
    assert "azora_head_number" in session.get(dev_node.url + "/metrics", timeout=10).text
    # after a relayed request the connection belongs to the app behind: posts still answered
    assert session.post(dev_node.url, json={"jsonrpc": "2.0", "id": 7, "method": "eth_chainId"}).json()["id"] == 7
    from websockets.sync.client import connect
    with connect(dev_node.url.replace("http", "ws")) as ws:
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}))
        assert json.loads(ws.recv(timeout=10))["result"].startswith("0x")
        dev_node.rpc("evm_mine", [])
        assert json.loads(ws.recv(timeout=10))["method"] == "eth_subscription"


def test_broken_http_gets_400_and_the_port_keeps_serving(dev_node):
    host, port = dev_node.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 400")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")   # then silence
        raw.shutdown(socket.SHUT_WR)
    assert dev_node.rpc("eth_chainId")["result"] == "0x539"


def test_the_rate_limit_follows_the_client_through_the_front_and_cannot_be_dodged(start_azora, tmp_path):
    node = start_azora("dev", "--datadir", str(tmp_path / "data"), "--http.ratelimit", "2")
    call = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}
    statuses = [requests.post(node.url, json=call, timeout=10).status_code for _ in range(12)]
    assert 429 in statuses and statuses[0] == 200
    # the app behind sees the same client (its bucket is empty too), whatever address it claims
    forged = requests.post(node.url, json=call, timeout=10,
                           headers={"Origin": "http://localhost", CLIENT_HEADER.decode(): "10.9.8.7:1"})
    assert forged.status_code == 429


def test_forwarded_client_puts_the_fronts_address_in_the_scope():
    seen = []

    async def app(scope, receive, send):
        seen.append(scope.get("client"))

    wrapped = ForwardedClient(app)
    trio.run(wrapped, {"type": "http", "headers": [(CLIENT_HEADER, b"192.0.2.1:4242")], "client": ("127.0.0.1", 0)},
             None, None)
    trio.run(wrapped, {"type": "lifespan"}, None, None)
    assert seen == [("192.0.2.1", 4242), None]
