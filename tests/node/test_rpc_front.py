"""The RPC port's front (node/rpc/front.py): plain JSON-RPC POSTs are answered by it, every other
request is relayed to the full app behind, and both answer alike; the client's address reaches
the app behind (rate limits), a client cannot forge it, and broken HTTP ends only its own
connection."""
from __future__ import annotations

import json
import socket
import time

import pytest
import requests
import trio

from node.rpc.front import CLIENT_HEADER, ForwardedClient, plain_post_head
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
        reply = requests.post(dev_node.url, data=body, headers=headers, timeout=30)
        answers.append((reply.status_code, reply.headers.get("content-type"), reply.content))
    assert answers[0] == answers[1], answers
    status, content_type, content = answers[0]
    assert status in (200, 413)
    assert (content_type == "application/json") == bool(content)


@pytest.mark.parametrize("gateway", ["on", "off"])
def test_a_refused_body_still_gets_its_413_on_either_path(dev_node, start_azora, tmp_path, gateway):
    """A server that refuses a body unread and closes while the client is still sending it
    resets the connection, and the client loses the 413 it was sent (Go's server, geth's,
    half-closes and waits for the same reason)."""
    node = dev_node if gateway == "on" else start_azora(
        "dev", "--datadir", str(tmp_path / "data"), "--rpc.gateway", "off")
    host, port = node.url.removeprefix("http://").split(":")
    for origin in (b"", b"Origin: http://localhost\r\n"):   # the front's path, the app's behind
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            raw.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + origin
                        + b"Content-Length: %d\r\n\r\n" % (MAX_REQUEST_BYTES + 1) + b" " * 65536)
            time.sleep(0.5)   # the 413 is sent, and the server is done with the connection
            try:
                raw.sendall(b" " * 65536)   # the client goes on with its body
                time.sleep(0.2)
                received = b""
                while chunk := raw.recv(65536):
                    received += chunk
            except ConnectionError as exc:
                pytest.fail(f"{origin!r}: the connection was reset: {exc}")
        assert received.startswith(b"HTTP/1.1 413 "), received[:100]
        assert b"content length too large" in received


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
    # A Host the app refuses is answered before the body is read; a client that then closes
    # mid-body had hypercorn, behind the front, fail on its own socket and stop the node's RPC
    # (it took a few tries to hit).
    for _ in range(40):
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


# -- the plain posts' own reader (plain_post_head) and h11's path for everything else --------

CHAIN_ID_CALL = b'{"jsonrpc":"2.0","id":7,"method":"eth_chainId","params":[]}'


def _post(body: bytes = CHAIN_ID_CALL, *headers: bytes) -> bytes:
    return (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + b"".join(h + b"\r\n" for h in headers) + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def _responses(node, data: bytes, count: int, *, chunk: int | None = None) -> list[bytes]:
    """``count`` whole responses to ``data`` sent on one connection (in ``chunk``-byte writes)."""
    host, port = node.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        for start in range(0, len(data), chunk or len(data)):
            raw.sendall(data[start:start + (chunk or len(data))])
        received, responses = b"", []
        while len(responses) < count:
            head_end = received.find(b"\r\n\r\n")
            if head_end >= 0:
                length = int(received[:head_end].lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                if len(received) >= head_end + 4 + length:
                    responses.append(received[:head_end + 4 + length])
                    received = received[head_end + 4 + length:]
                    continue
            more = raw.recv(65536)
            assert more, f"closed after {len(responses)} responses"
            received += more
    return responses


def test_plain_posts_and_h11s_path_write_the_same_bytes(dev_node):
    plain = _responses(dev_node, _post(), 1)[0]
    # a Connection header with more than keep-alive is not plain: h11 reads and answers it
    via_h11 = _responses(dev_node, _post(CHAIN_ID_CALL, b"Connection: keep-alive, x-other"), 1)[0]
    body = b'{"jsonrpc": "2.0", "id": 7, "result": "0x539"}'
    assert plain == via_h11 == (b"HTTP/1.1 200 \r\ncontent-length: %d\r\ncontent-type: application/json\r\n\r\n"
                                % len(body) + body)


def test_pipelined_and_trickled_plain_posts_are_each_answered(dev_node):
    calls = [CHAIN_ID_CALL.replace(b'"id":7', b'"id":%d' % i) for i in range(3)]
    pipelined = _responses(dev_node, b"".join(_post(call) for call in calls), 3)
    assert [json.loads(r.split(b"\r\n\r\n")[1])["id"] for r in pipelined] == [0, 1, 2]
    trickled = _responses(dev_node, _post(calls[1]) + _post(calls[2]), 2, chunk=1)   # a byte per write
    assert [json.loads(r.split(b"\r\n\r\n")[1])["id"] for r in trickled] == [1, 2]


def test_after_plain_posts_the_connection_can_still_be_relayed_or_closed(dev_node):
    health = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    first, relayed = _responses(dev_node, _post() + health, 2)
    assert first.startswith(b"HTTP/1.1 200 ") and relayed.split(b" ")[1] in (b"200", b"503")
    # a request asking to close is answered by h11, which closes after it
    host, port = dev_node.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(_post() + _post(CHAIN_ID_CALL, b"Connection: close"))
        received = b""
        while more := raw.recv(65536):
            received += more
    assert received.count(b"HTTP/1.1 200 ") == 2 and b"connection: close" in received.lower()


@pytest.mark.parametrize("head, expected", [
    (b"POST / HTTP/1.1\r\nHost: localhost:8545\r\nContent-Length: 2\r\nConnection: Keep-Alive\r\n\r\n{}", (84, 2)),
    (b"POST / HTTP/1.1\r\nHost: localhost:8545\r\nContent-Len", True),           # more to come
    (b"POST / HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 2\r\n\r\n", False),   # a host not served
    (b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nConnection: close\r\n\r\n", False),
    (b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n", False),
    (b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n", False),
    (b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: +2\r\n\r\n", False),
    (b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nBad Name: 1\r\n\r\n", False),
    (b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nX: a\x00b\r\n\r\n", False),
    (b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nX: a\r\n folded\r\n\r\n", False),
    (b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n", False),                   # no Host: h11's 400
    (b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nOrigin: http://a\r\n\r\n", False),
    (b"POST / HTTP/1.0\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n", False),
    (b"POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n", False),
    (b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 9999999\r\n\r\n", False),   # h11's 413 path
])
def test_which_heads_are_read_as_plain_posts(head, expected):
    assert plain_post_head(head, ("localhost",)) == expected
