"""A JSON-RPC POST from a non-browser client is answered before Starlette's middleware and
routing (node.rpc.server.PlainPosts), with the same status, headers and body as the full stack
gives a browser's request; everything else still goes through the full stack."""
from __future__ import annotations

import json

import pytest
import requests
import trio

from node.rpc.server import MAX_REQUEST_BYTES, Dispatcher, build_app


class Net:
    def version(self) -> str:
        return "1337"


async def asgi_post(app, body: bytes, headers: dict[bytes, bytes], path: str = "/", method: str = "POST"):
    """One HTTP request through an ASGI app: (status, headers, body)."""
    messages = [{"type": "http.request", "body": body[:3], "more_body": True},
                {"type": "http.request", "body": body[3:], "more_body": False}]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": list(headers.items()),
             "client": ("127.0.0.1", 5000), "query_string": b"", "root_path": "", "scheme": "http",
             "http_version": "1.1", "server": ("127.0.0.1", 8545)}
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body_out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body_out


def test_plain_posts_skip_the_middleware_and_browsers_do_not():
    app = build_app(Dispatcher({"net": Net()}), cors_origins=("*",))
    inner_calls = []
    full_stack = app.app

    async def counting(scope, receive, send):
        inner_calls.append(scope["path"])
        await full_stack(scope, receive, send)

    app.app = counting
    body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "net_version", "params": []}).encode()
    plain = {b"host": b"127.0.0.1:8545", b"content-type": b"application/json", b"content-length": str(len(body)).encode()}
    status, headers, answer = trio.run(asgi_post, app, body, plain)
    assert status == 200 and json.loads(answer) == {"jsonrpc": "2.0", "id": 7, "result": "1337"}
    assert headers[b"content-type"] == b"application/json" and int(headers[b"content-length"]) == len(answer)
    assert inner_calls == []
    browser = {**plain, b"origin": b"http://example.org"}
    status, headers, answer_full = trio.run(asgi_post, app, body, browser)
    assert inner_calls == ["/"] and status == 200 and answer_full == answer
    assert headers[b"access-control-allow-origin"] == b"*"
    trio.run(asgi_post, app, b"", plain, "/", "GET")
    assert inner_calls == ["/", "/"]   # GET: the full stack's "use POST"


# (request body, headers beyond Host and Content-Type) that both paths must answer alike
CASES = {
    "call": (b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}', {}),
    "batch": (b'[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"nope"}]', {}),
    "notification": (b'{"jsonrpc":"2.0","method":"eth_chainId","params":[]}', {}),
    "malformed": (b'{"jsonrpc":', {}),
    "declared too large": (b"{}", {"Content-Length": str(MAX_REQUEST_BYTES + 1)}),
    "body too large": (b"[" + b" " * MAX_REQUEST_BYTES + b"]", {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_real_node_answers_plain_and_browser_posts_alike(dev_node, case):
    body, extra = CASES[case]
    answers = []
    for origin in ({}, {"Origin": "http://localhost"}):
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


def test_a_refused_host_is_refused_on_the_plain_path_too(start_azora, tmp_path):
    node = start_azora("dev", "--datadir", str(tmp_path / "data"), "--http.vhosts", "example.org")
    # an IP address in Host is always served (as geth does); a name must be listed
    reply = requests.post(node.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
                          headers={"Host": "evil.example"}, timeout=30)
    assert reply.status_code == 403 and reply.text == "invalid host specified\n"
    served = requests.post(node.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
                           headers={"Host": "example.org"}, timeout=30)
    assert served.status_code == 200 and served.json()["result"] == "0x539"
