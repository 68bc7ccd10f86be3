"""A property-based fuzzer of the JSON-RPC surface against one real ``azora dev``.

Requests are generated from ``tests/spec/openrpc.json`` (every method name, each parameter's
schema) and then spoiled: wrong types, oversized quantities and data, nested garbage, missing
and extra arguments, raw bytes instead of JSON. Over HTTP and over WebSocket every answer
must be a well-formed JSON-RPC response, never an HTTP 5xx, never -32603 (a malformed input
is the client's error: -32602, -32600 or -32700 with a message naming it), never a hang;
afterwards the node still mines.

A few hundred examples per transport per run (about a minute); ``AZORA_FUZZ_EXAMPLES`` runs
more.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st

SPEC = json.loads((Path(__file__).resolve().parents[1] / "spec" / "openrpc.json").read_text())
EXAMPLES = int(os.environ.get("AZORA_FUZZ_EXAMPLES", "250"))
ANSWER_TIMEOUT = 15.0        # the EVM timeout is 5 s: anything slower is a hang
# Methods the node serves beyond the spec, with their parameter counts: the signing and
# consensus namespaces take client input too.
EXTRA_METHODS = {"eth_signTypedData_v4": 2, "eth_signTypedData": 2, "personal_sign": 3, "eth_subscribe": 2,
                 "eth_unsubscribe": 1, "azora_getCommit": 1, "azora_validators": 1, "azora_nodeInfo": 0,
                 "txpool_inspect": 0, "web3_sha3": 1, "net_listening": 0, "eth_getUncleByBlockNumberAndIndex": 2,
                 "eth_getRawTransactionByHash": 1, "eth_getHeaderByNumber": 1}
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


# -- values ----------------------------------------------------------------------------------

def hex_of(max_bytes: int) -> st.SearchStrategy[str]:
    return st.binary(max_size=max_bytes).map(lambda b: "0x" + b.hex())


NASTY_SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**300), max_value=2**300),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    hex_of(80),                                                      # data of any length
    st.integers(min_value=0, max_value=2**300).map(hex),             # quantities that overflow
    st.sampled_from(["0x", "0x0", "0x00", "0xg", "0X1", "-0x1", "latest", "pending", "earliest",
                     "safe", "finalized", "0x" + "f" * 64, "0x" + "f" * 65, "0x" + "0" * 66, "1e400",
                     "\x00", "\ud7ff" * 3, "0x" + "1" * 40]),
)
GARBAGE = st.recursive(NASTY_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=12)


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref``s, JSON-pointer style ("#/components/schemas/X/properties/y")."""
    while "$ref" in schema:
        target: Any = SPEC
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def shaped(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """A value of roughly the schema's shape whose leaves are sometimes garbage."""
    schema = resolve(schema)
    if depth > 4:
        return GARBAGE
    alternatives = schema.get("oneOf") or schema.get("anyOf") or schema.get("allOf")
    if alternatives:
        return st.one_of([shaped(s, depth + 1) for s in alternatives])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object" or "properties" in schema:
        properties = {name: st.one_of(shaped(sub, depth + 1), GARBAGE)
                      for name, sub in schema.get("properties", {}).items()}
        required = [name for name in schema.get("required", []) if name in properties]
        return st.fixed_dictionaries({name: properties[name] for name in required},
                                     optional={n: s for n, s in properties.items() if n not in required})
    if kind == "array":
        return st.lists(st.one_of(shaped(schema.get("items", {}), depth + 1), GARBAGE), max_size=3)
    if kind == "string" and "enum" in schema:
        return st.sampled_from(schema["enum"])
    if kind == "string" and "pattern" in schema:
        try:
            return st.from_regex(schema["pattern"], fullmatch=True)
        except Exception:   # a pattern Python's re cannot take
            return NASTY_SCALARS
    if kind == "boolean":
        return st.booleans()
    return NASTY_SCALARS


def params_of(method: dict[str, Any]) -> st.SearchStrategy[list[Any]]:
    per_param = [st.one_of(shaped(p.get("schema", {})), GARBAGE) for p in method.get("params", [])]
    exact = st.tuples(*per_param).map(list) if per_param else st.just([])
    # Missing and extra arguments too.
    return st.one_of(exact, exact.map(lambda ps: ps[:-1]), st.tuples(exact, GARBAGE).map(lambda t: t[0] + [t[1]]))


METHODS = [m["name"] for m in SPEC["methods"]] + sorted(EXTRA_METHODS)
BY_NAME = {m["name"]: m for m in SPEC["methods"]}
BY_NAME.update({name: {"name": name, "params": [{"schema": {}}] * count} for name, count in EXTRA_METHODS.items()})


@st.composite
def requests_(draw: st.DrawFn) -> Any:
    method = draw(st.sampled_from(METHODS))
    request: Any = {"jsonrpc": "2.0", "id": draw(st.integers(0, 2**31)), "method": method,
                    "params": draw(params_of(BY_NAME[method]))}
    shape = draw(st.integers(0, 19))
    if shape == 0:
        request["params"] = draw(GARBAGE)                  # params not an array
    elif shape == 1:
        request = [request, draw(GARBAGE)]                 # in a batch beside garbage
    elif shape == 2:
        request["id"] = draw(st.one_of(GARBAGE, st.text()))
    return request


# -- checks ----------------------------------------------------------------------------------

def check_response(answer: Any) -> None:
    """A JSON-RPC 2.0 response (or a batch of them) without an internal error."""
    for item in answer if isinstance(answer, list) else [answer]:
        assert isinstance(item, dict) and item.get("jsonrpc") == "2.0" and "id" in item, item
        assert ("result" in item) != ("error" in item), item
        if "error" in item:
            error = item["error"]
            assert isinstance(error.get("code"), int) and isinstance(error.get("message"), str), item
            assert error["code"] != -32603, item
            assert error["message"], item


def post(node: Any, body: bytes) -> Any:
    started = time.monotonic()
    response = requests.post(node.url, data=body, headers={"Content-Type": "application/json"},
                             timeout=ANSWER_TIMEOUT)
    assert time.monotonic() - started < ANSWER_TIMEOUT
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code == 413 or not response.content:   # oversized; notifications only
        return None
    return response.json()


def encode(request: Any) -> bytes:
    return json.dumps(request).encode()


# -- the campaign ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def websocket(dev_node):
    from websockets.sync.client import connect

    with connect(dev_node.ws_url, max_size=None) as ws:
        yield ws


@SETTINGS
@given(request=requests_())
def test_every_generated_request_over_http_is_answered_without_an_internal_error(dev_node, request):
    answer = post(dev_node, encode(request))
    if answer is not None:
        check_response(answer)


@SETTINGS
@given(request=requests_())
def test_every_generated_request_over_websocket_is_answered_without_an_internal_error(websocket, request):
    body = encode(request)
    if isinstance(request, dict) and "id" not in request:
        return   # a notification: nothing comes back to wait for
    websocket.send(body.decode())
    while True:
        answer = json.loads(websocket.recv(timeout=ANSWER_TIMEOUT))
        if isinstance(answer, dict) and answer.get("method") == "eth_subscription":
            continue   # a notification of a subscription an earlier example made
        break
    check_response(answer)


@settings(max_examples=max(50, EXAMPLES // 4), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=300), st.text(max_size=200).map(str.encode)))
def test_raw_bytes_are_parse_errors_or_invalid_requests(dev_node, body):
    answer = post(dev_node, body)
    if answer is not None:
        check_response(answer)


def test_the_node_still_mines_after_the_campaign(dev_node, dev_accounts):
    """Runs after the campaigns above (file order): whatever they sent, blocks still come."""
    account = dev_accounts[9]
    nonce = int(dev_node.rpc("eth_getTransactionCount", [account.address, "pending"])["result"], 16)
    signed = account.sign_transaction({"chainId": 1337, "nonce": nonce, "to": "0x" + "22" * 20, "value": 1,
                                       "gas": 21_000, "maxFeePerGas": 100 * 10**9,
                                       "maxPriorityFeePerGas": 10**9, "type": 2})
    reply = dev_node.rpc("eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()])
    assert "result" in reply, reply
    assert dev_node.wait_receipt(reply["result"])["status"] == "0x1"
