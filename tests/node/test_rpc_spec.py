"""Every JSON-RPC method of the execution-apis spec against a real ``azora dev``, shape-checked.

Each result is validated against ``tests/spec/openrpc.json`` (the method's result schema,
its ``$ref``s resolved in the document), and the proofs, raw encodings and access lists are
checked for what they claim: proofs verify against the block's state root, raw objects decode
back to the same hashes, an access list's gas is what the mined transaction used.
"""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import rlp
import vyper
import websockets.sync.client
from eth.constants import BLANK_ROOT_HASH
from eth.rlp.accounts import Account
from eth.vm.forks.prague import PragueVM
from eth_utils import keccak, to_checksum_address
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from trie import HexaryTrie

SPEC_PATH = Path(__file__).parents[1] / "spec/openrpc.json"   # a copy: tests/spec/README.md
SPEC_URI = "urn:execution-apis:openrpc"
STORE_SOURCE = (Path(__file__).parent / "contracts" / "Store.vy").read_text()
FILTER_TIMEOUT = 3.0     # seconds; the node's filters expire this fast in this module
NOT_APPLICABLE = {"eth_getBlockAccessList", "debug_getRawBlockAccessList"}
HTTP_ERROR, SERVER_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND = -32600, -32000, -32602, -32601


# -- the spec -------------------------------------------------------------------------------

class Spec:
    """The OpenRPC document with a validator per method result and per component schema."""

    def __init__(self, path: Path) -> None:
        self.document = json.loads(path.read_text())
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(SPEC_URI, resource)
        self.index = {m["name"]: i for i, m in enumerate(self.document["methods"])}

    def methods(self) -> list[str]:
        return list(self.index)

    def _validator(self, pointer: str) -> Draft202012Validator:
        return Draft202012Validator({"$ref": f"{SPEC_URI}#{pointer}"}, registry=self.registry)

    def check_result(self, method: str, result: Any) -> None:
        self._check(self._validator(f"/methods/{self.index[method]}/result/schema"), result)

    def check_component(self, name: str, value: Any) -> None:
        self._check(self._validator(f"/components/schemas/{name}"), value)

    @staticmethod
    def _check(validator: Draft202012Validator, value: Any) -> None:
        try:
            validator.validate(value)
        except ValidationError as err:
            # FilterResults is a oneOf of two array shapes: an empty array matches both, so a
            # strict oneOf rejects "no changes". Anything else that fails is a real mismatch.
            if value == [] and "is valid under each of" in err.message:
                return
            raise


@pytest.fixture(scope="module")
def spec() -> Spec:
    return Spec(SPEC_PATH)


# -- the node -------------------------------------------------------------------------------

class Client:
    def __init__(self, node: Any) -> None:
        self.node = node
        self.url = node.url
        self.ws_url = node.ws_url

    def call(self, method: str, *params: Any) -> Any:
        reply = self.raw(method, list(params))
        assert "error" not in reply, f"{method}{params}: {reply['error']}"
        return reply["result"]

    def raw(self, method: str, params: list[Any]) -> dict[str, Any]:
        return requests.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                             "params": params}, timeout=30).json()

    def error(self, method: str, *params: Any) -> dict[str, Any]:
        reply = self.raw(method, list(params))
        assert "error" in reply, f"{method}{params} answered {reply.get('result')!r}"
        return reply["error"]

    def mined(self, tx_hash: str, timeout: float = 30) -> dict[str, Any]:
        return self.node.wait_receipt(tx_hash, timeout)

    def send(self, tx: dict[str, Any]) -> dict[str, Any]:
        return self.mined(self.call("eth_sendTransaction", tx))


@pytest.fixture(scope="module", autouse=True)
def short_filter_timeout():
    """Set before conftest's module-scoped ``dev_node`` starts (autouse fixtures come first)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AZORA_FILTER_TIMEOUT", str(FILTER_TIMEOUT))
        yield


@pytest.fixture(scope="module")
def rpc(dev_node) -> Client:
    return Client(dev_node)


@pytest.fixture(scope="module")
def accounts(rpc) -> list[str]:
    return rpc.call("eth_accounts")


def selector(signature: str) -> str:
    return keccak(text=signature)[:4].hex()


def word(value: int) -> str:
    return value.to_bytes(32, "big").hex()


def store_call(key: int, value: int) -> str:
    return "0x" + selector("store(uint256,uint256)") + word(key) + word(value)


def values_call(key: int) -> str:
    return "0x" + selector("values(uint256)") + word(key)


STORED_TOPIC = "0x" + keccak(text="Stored(address,uint256,uint256)").hex()


@pytest.fixture(scope="module")
def store(rpc, accounts) -> str:
    bytecode = vyper.compile_code(STORE_SOURCE, output_formats=["bytecode"])["bytecode"]
    receipt = rpc.send({"from": accounts[0], "data": bytecode})
    assert receipt["status"] == "0x1"
    return to_checksum_address(receipt["contractAddress"])


@pytest.fixture(scope="module")
def stored(rpc, accounts, store) -> dict[str, Any]:
    """A mined transaction that wrote a slot and emitted a log."""
    receipt = rpc.send({"from": accounts[0], "to": store, "data": store_call(7, 42)})
    assert receipt["status"] == "0x1" and len(receipt["logs"]) == 1
    return receipt


# -- every method ---------------------------------------------------------------------------

def test_every_applicable_spec_method_answers_in_the_spec_shape(rpc, spec, accounts, store, stored,
                                                                dev_accounts):
    block_hash, block_number, tx_hash = stored["blockHash"], stored["blockNumber"], stored["transactionHash"]
    sender = accounts[0]
    raw = dev_accounts[5].sign_transaction({
        "chainId": 1337, "nonce": int(rpc.call("eth_getTransactionCount", dev_accounts[5].address, "pending"), 16),
        "to": dev_accounts[6].address, "value": 1, "gas": 21000, "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**9, "type": 2}).raw_transaction.to_0x_hex()
    log_filter = {"fromBlock": "earliest", "toBlock": "latest", "address": store, "topics": [STORED_TOPIC]}
    call = {"from": sender, "to": store, "data": store_call(8, 1)}
    params: dict[str, list[Any]] = {
        "eth_getBlockByHash": [block_hash, True],
        "eth_getBlockByNumber": [block_number, False],
        "eth_getBlockTransactionCountByHash": [block_hash],
        "eth_getBlockTransactionCountByNumber": [block_number],
        "eth_getBlockReceipts": [block_number],
        "eth_capabilities": [], "eth_chainId": [], "eth_syncing": [], "eth_coinbase": [],
        "eth_accounts": [], "eth_blockNumber": [], "eth_config": [], "net_version": [],
        "eth_call": [{"to": store, "data": values_call(7)}, "latest"],
        "eth_estimateGas": [call, "latest"],
        "eth_createAccessList": [call, "latest"],
        "eth_simulateV1": [{"blockStateCalls": [{"calls": [call, {"to": store, "data": values_call(8)}]}],
                            "traceTransfers": True}, "latest"],
        "eth_gasPrice": [], "eth_baseFee": [], "eth_blobBaseFee": [], "eth_maxPriorityFeePerGas": [],
        "eth_feeHistory": ["0x4", "latest", [25, 75]],
        "eth_newFilter": [log_filter], "eth_newBlockFilter": [], "eth_newPendingTransactionFilter": [],
        "eth_uninstallFilter": [rpc.call("eth_newBlockFilter")],
        "eth_getFilterChanges": [rpc.call("eth_newFilter", log_filter)],
        "eth_getFilterLogs": [rpc.call("eth_newFilter", log_filter)],
        "eth_getLogs": [log_filter],
        "eth_sign": [sender, "0xdeadbeef"],
        "eth_signTransaction": [{"from": sender, "to": accounts[1], "value": "0x1", "gas": "0x5208",
                                 "maxFeePerGas": "0x2540be400", "maxPriorityFeePerGas": "0x3b9aca00",
                                 "nonce": "0x100"}],
        "eth_getBalance": [sender, "latest"],
        "eth_getStorageAt": [store, "0x0", "latest"],
        "eth_getStorageValues": [{store: ["0x0", "0x01"]}, "latest"],
        "eth_getTransactionCount": [sender, "latest"],
        "eth_getCode": [store, "latest"],
        "eth_getProof": [store, ["0x0"], "latest"],
        "eth_sendTransaction": [{"from": accounts[2], "to": accounts[3], "value": "0x1"}],
        "eth_sendRawTransaction": [raw],
        "eth_getTransactionByHash": [tx_hash],
        "eth_getTransactionByBlockHashAndIndex": [block_hash, "0x0"],
        "eth_getTransactionByBlockNumberAndIndex": [block_number, "0x0"],
        "eth_getTransactionReceipt": [tx_hash],
        "debug_getRawHeader": [block_number], "debug_getRawBlock": [block_number],
        "debug_getRawTransaction": [tx_hash], "debug_getRawReceipts": [block_number],
        "debug_getBadBlocks": [],
        "debug_traceTransaction": [tx_hash, {"enableMemory": True, "enableReturnData": True}],
        "debug_traceBlockByNumber": [block_number], "debug_traceBlockByHash": [block_hash, {"limit": 10}],
        "txpool_status": [], "txpool_content": [], "txpool_contentFrom": [sender],
    }
    applicable = [m for m in spec.methods()
                  if not m.startswith(("engine_", "testing_")) and m not in NOT_APPLICABLE]
    assert sorted(applicable) == sorted(params), "the table covers every applicable method"
    mismatches = {}
    for method in applicable:
        result = rpc.call(method, *params[method])
        if method == "eth_signTransaction":
            # The spec says bytes; geth answers {raw, tx} and web3.py expects that: check raw.
            assert set(result) == {"raw", "tx"}
            result = result["raw"]
        try:
            spec.check_result(method, result)
        except ValidationError as err:
            cause = best_match(err.context) if err.context else err
            mismatches[method] = f"{cause.message} at {list(cause.absolute_path)}"
    assert mismatches == {}


def test_web3_and_net_extras_answer(rpc):
    assert rpc.call("web3_clientVersion").startswith("Azora/")
    assert rpc.call("web3_sha3", "0x") == "0x" + keccak(b"").hex()
    assert rpc.call("net_listening") is True
    assert rpc.call("net_peerCount") == "0x0"
    assert set(rpc.call("txpool_inspect")) == {"pending", "queued"}


def test_service_hooks_and_parity_tracing_are_not_rpc_methods(rpc):
    # ape copes with a clear "method not found" for Parity's trace_*, which Azora does not provide.
    for method in ("eth_run", "eth_on_disconnect", "trace_transaction"):
        assert rpc.error(method) == {"code": METHOD_NOT_FOUND,
                                     "message": f"the method {method} does not exist/is not available"}


# -- filters --------------------------------------------------------------------------------

def test_filters_report_new_blocks_matching_logs_and_pending_transactions(rpc, spec, accounts, store):
    blocks = rpc.call("eth_newBlockFilter")
    matching = rpc.call("eth_newFilter", {"address": store, "topics": [STORED_TOPIC, None, "0x" + word(21)]})
    other_key = rpc.call("eth_newFilter", {"address": store, "topics": [None, None, "0x" + word(22)]})
    pending = rpc.call("eth_newPendingTransactionFilter")
    pending_full = rpc.call("eth_newPendingTransactionFilter", True)
    for fid in (blocks, matching, other_key, pending, pending_full):
        spec.check_result("eth_newFilter", fid)
        assert rpc.call("eth_getFilterChanges", fid) == []

    tx_hash = rpc.call("eth_sendTransaction", {"from": accounts[0], "to": store, "data": store_call(21, 5)})
    receipt = rpc.mined(tx_hash)

    block_hashes = rpc.call("eth_getFilterChanges", blocks)
    assert receipt["blockHash"] in block_hashes
    logs = rpc.call("eth_getFilterChanges", matching)
    assert [log["transactionHash"] for log in logs] == [tx_hash]
    assert logs[0] == receipt["logs"][0]
    assert rpc.call("eth_getFilterChanges", other_key) == []
    assert rpc.call("eth_getFilterChanges", pending) == [tx_hash]
    full = rpc.call("eth_getFilterChanges", pending_full)
    assert [tx["hash"] for tx in full] == [tx_hash] and full[0]["blockHash"] is None
    spec.check_component("PendingTransactionInfo", full[0])
    for result in (block_hashes, logs, full[:0]):
        spec.check_result("eth_getFilterChanges", result)
    # Changes are handed out once; the full log history stays available.
    assert rpc.call("eth_getFilterChanges", matching) == []
    history = rpc.call("eth_getFilterLogs", matching)
    assert tx_hash in [log["transactionHash"] for log in history]
    spec.check_result("eth_getFilterLogs", history)
    assert rpc.error("eth_getFilterLogs", blocks) == {"code": SERVER_ERROR, "message": "filter not found"}

    assert rpc.call("eth_uninstallFilter", matching) is True
    assert rpc.call("eth_uninstallFilter", matching) is False
    assert rpc.error("eth_getFilterChanges", matching) == {"code": SERVER_ERROR, "message": "filter not found"}


def test_filters_expire_unless_polled(rpc):
    idle = rpc.call("eth_newBlockFilter")
    polled = rpc.call("eth_newBlockFilter")
    for _ in range(3):          # 3 × 0.6 × timeout: past the deadline of the idle one
        time.sleep(FILTER_TIMEOUT * 0.6)
        assert rpc.call("eth_getFilterChanges", polled) is not None
    assert rpc.error("eth_getFilterChanges", idle) == {"code": SERVER_ERROR, "message": "filter not found"}
    assert rpc.call("eth_uninstallFilter", idle) is False     # the reaper removed it
    assert rpc.call("eth_uninstallFilter", polled) is True


# -- subscriptions --------------------------------------------------------------------------

class Socket:
    """A WebSocket client that sends binary frames, as web3.py does."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.notifications: list[dict[str, Any]] = []
        self._next_id = 0

    def call(self, method: str, *params: Any) -> dict[str, Any]:
        self._next_id += 1
        self.ws.send(json.dumps({"jsonrpc": "2.0", "id": self._next_id, "method": method,
                                 "params": list(params)}).encode())
        while True:
            message = json.loads(self.ws.recv(timeout=10))
            if message.get("id") == self._next_id:
                return message
            self.notifications.append(message)

    def subscribe(self, *params: Any) -> str:
        reply = self.call("eth_subscribe", *params)
        assert "result" in reply, reply
        return reply["result"]

    def collect(self, wanted: dict[str, int], timeout: float = 15) -> dict[str, list[Any]]:
        """Notifications per subscription id until each has at least ``wanted[id]``."""
        deadline = time.time() + timeout
        def grouped() -> dict[str, list[Any]]:
            out: dict[str, list[Any]] = {sid: [] for sid in wanted}
            for message in self.notifications:
                assert message["jsonrpc"] == "2.0" and message["method"] == "eth_subscription"
                out.setdefault(message["params"]["subscription"], []).append(message["params"]["result"])
            return out
        while any(len(grouped()[sid]) < n for sid, n in wanted.items()):
            remaining = deadline - time.time()
            assert remaining > 0, f"missing notifications: {grouped()}"
            self.notifications.append(json.loads(self.ws.recv(timeout=remaining)))
        return grouped()



def test_subscriptions_deliver_heads_filtered_logs_and_pending_transactions(rpc, spec, accounts, store):
    with websockets.sync.client.connect(rpc.ws_url) as ws:
        socket = Socket(ws)
        heads = socket.subscribe("newHeads")
        logs = socket.subscribe("logs", {"address": store, "topics": [STORED_TOPIC, None, "0x" + word(31)]})
        other_logs = socket.subscribe("logs", {"address": accounts[0]})
        hashes = socket.subscribe("newPendingTransactions")
        full = socket.subscribe("newPendingTransactions", True)
        for sid in (heads, logs, hashes, full):
            spec.check_component("uint", sid)

        tx_hash = rpc.call("eth_sendTransaction", {"from": accounts[0], "to": store, "data": store_call(31, 9)})
        receipt = rpc.mined(tx_hash)
        got = socket.collect({heads: 1, logs: 1, hashes: 1, full: 1})

        header = next(h for h in got[heads] if h["hash"] == receipt["blockHash"])
        block = rpc.call("eth_getBlockByHash", receipt["blockHash"], False)
        assert header == {k: v for k, v in block.items() if k not in ("size", "transactions", "uncles", "withdrawals")}
        spec.check_component("Log", got[logs][0])
        assert got[logs] == receipt["logs"]
        assert got.get(other_logs, []) == []
        assert got[hashes] == [tx_hash]
        assert got[full][0]["hash"] == tx_hash and got[full][0]["blockNumber"] is None
        spec.check_component("PendingTransactionInfo", got[full][0])

        assert socket.call("eth_unsubscribe", heads)["result"] is True
        assert socket.call("eth_unsubscribe", heads)["error"]["message"] == "subscription not found"
        unknown = socket.call("eth_subscribe", "newBadges")["error"]
        assert unknown == {"code": METHOD_NOT_FOUND, "message": 'no "newBadges" subscription in eth namespace'}
        assert socket.call("eth_subscribe", "newPendingTransactions", "yes")["error"]["code"] == INVALID_PARAMS
        assert socket.call("eth_subscribe", "logs", {"address": "0x12"})["error"]["code"] == INVALID_PARAMS


def test_subscribe_over_http_is_refused_as_geth_does(rpc):
    assert rpc.error("eth_subscribe", "newHeads") == {"code": METHOD_NOT_FOUND,
                                                      "message": "notifications not supported"}


def test_web3_websocket_provider_receives_new_heads(rpc, dev_accounts):
    from web3 import AsyncWeb3, WebSocketProvider

    async def first_head_after_a_transaction() -> dict[str, Any]:
        async with AsyncWeb3(WebSocketProvider(rpc.ws_url)) as w3:
            await w3.eth.subscribe("newHeads")
            await w3.eth.send_transaction({"from": dev_accounts[4].address,
                                          "to": dev_accounts[5].address, "value": 3})
            async for message in w3.socket.process_subscriptions():
                return message["result"]
        raise AssertionError("no notification")

    head = asyncio.run(asyncio.wait_for(first_head_after_a_transaction(), 30))
    assert head["number"] >= 1 and len(head["hash"]) == 32


# -- proofs, access lists -------------------------------------------------------------------

def verify_account_proof(state_root: bytes, address: str, proof: dict[str, Any]) -> None:
    nodes = [rlp.decode(bytes.fromhex(n[2:])) for n in proof["accountProof"]]
    encoded = HexaryTrie.get_from_proof(state_root, keccak(bytes.fromhex(address[2:])), nodes)
    if encoded == b"":
        assert proof["balance"] == "0x0" and proof["nonce"] == "0x0"
        assert proof["storageHash"] == "0x" + BLANK_ROOT_HASH.hex()
        return
    account = rlp.decode(encoded, sedes=Account)
    assert (int(proof["balance"], 16), int(proof["nonce"], 16)) == (account.balance, account.nonce)
    assert proof["storageHash"] == "0x" + account.storage_root.hex()
    assert proof["codeHash"] == "0x" + account.code_hash.hex()
    for entry in proof["storageProof"]:
        slot = int(entry["key"], 16).to_bytes(32, "big")
        nodes = [rlp.decode(bytes.fromhex(n[2:])) for n in entry["proof"]]
        value = HexaryTrie.get_from_proof(account.storage_root, keccak(slot), nodes)
        assert int(entry["value"], 16) == (rlp.decode(value, sedes=rlp.sedes.big_endian_int) if value else 0)


def test_get_proof_verifies_against_the_block_state_root(rpc, spec, store, stored, accounts):
    access = rpc.call("eth_createAccessList", {"to": store, "data": values_call(7)})
    (entry,) = access["accessList"]
    slot = entry["storageKeys"][0]
    block = rpc.call("eth_getBlockByNumber", stored["blockNumber"], False)
    state_root = bytes.fromhex(block["stateRoot"][2:])
    proof = rpc.call("eth_getProof", store, [slot, "0x1"], stored["blockNumber"])
    spec.check_result("eth_getProof", proof)
    assert proof["address"] == store.lower()
    assert proof["storageProof"][0]["key"] == slot and proof["storageProof"][0]["value"] == hex(42)
    assert proof["storageProof"][1]["key"] == "0x1"     # short keys come back as quantities
    assert proof["codeHash"] == "0x" + keccak(bytes.fromhex(rpc.call("eth_getCode", store)[2:])).hex()
    verify_account_proof(state_root, store, proof)

    for address in (accounts[0], "0x" + "ab" * 20):      # an account, and one that does not exist
        other = rpc.call("eth_getProof", address, ["0x" + "00" * 32], "latest")
        spec.check_result("eth_getProof", other)
        latest = rpc.call("eth_getBlockByNumber", "latest", False)
        verify_account_proof(bytes.fromhex(latest["stateRoot"][2:]), address, other)
    assert other["storageProof"] == [{"key": "0x" + "00" * 32, "value": "0x0", "proof": []}]


def test_create_access_list_matches_what_the_transaction_uses(rpc, spec, accounts, store, dev_accounts):
    account = dev_accounts[7]
    call = {"from": account.address, "to": store, "data": store_call(77, 3)}
    result = rpc.call("eth_createAccessList", call)
    spec.check_result("eth_createAccessList", result)
    assert "error" not in result
    (entry,) = result["accessList"]
    assert entry["address"] == store.lower() and len(entry["storageKeys"]) == 1
    nonce = int(rpc.call("eth_getTransactionCount", account.address, "pending"), 16)
    signed = account.sign_transaction({
        "chainId": 1337, "nonce": nonce, "to": store, "data": call["data"], "gas": 200_000,
        "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "type": 2,
        "accessList": [{"address": store, "storageKeys": entry["storageKeys"]}]})
    receipt = rpc.mined(rpc.call("eth_sendRawTransaction", signed.raw_transaction.to_0x_hex()))
    assert receipt["status"] == "0x1" and receipt["gasUsed"] == result["gasUsed"]

    reverting = rpc.call("eth_createAccessList", {"from": account.address, "to": store, "data": store_call(1, 0)})
    spec.check_result("eth_createAccessList", reverting)
    assert reverting["error"] == "execution reverted"
    plain = rpc.call("eth_createAccessList", {"from": accounts[0], "to": accounts[1], "value": "0x1"})
    assert plain == {"accessList": [], "gasUsed": hex(21000)}


# -- txpool ---------------------------------------------------------------------------------

def test_txpool_shows_pending_and_queued_as_geth_does(rpc, spec, dev_accounts):
    stuck, gapped = dev_accounts[8], dev_accounts[9]
    # A fee cap under the base fee is refused by a dev chain (anvil's rule: automine would make
    # empty blocks for it); a nonce gap keeps one queued.
    low = stuck.sign_transaction({"chainId": 1337, "nonce": 0, "to": gapped.address, "value": 1,
                                  "gas": 21000, "maxFeePerGas": 1, "maxPriorityFeePerGas": 1, "type": 2})
    gap = gapped.sign_transaction({"chainId": 1337, "nonce": 5, "to": stuck.address, "value": 2,
                                   "gas": 21000, "gasPrice": 2 * 10**9})
    refused = rpc.error("eth_sendRawTransaction", low.raw_transaction.to_0x_hex())
    assert refused["message"].startswith("max fee per gas less than block base fee")
    gap_hash = rpc.call("eth_sendRawTransaction", gap.raw_transaction.to_0x_hex())

    status = rpc.call("txpool_status")
    spec.check_result("txpool_status", status)
    assert int(status["queued"], 16) >= 1
    content = rpc.call("txpool_content")
    spec.check_result("txpool_content", content)
    assert to_checksum_address(stuck.address) not in content["pending"]
    assert content["queued"][to_checksum_address(gapped.address)]["5"]["hash"] == gap_hash
    mine = rpc.call("txpool_contentFrom", gapped.address)
    spec.check_result("txpool_contentFrom", mine)
    assert mine == {"pending": {}, "queued": {"5": content["queued"][to_checksum_address(gapped.address)]["5"]}}
    inspect = rpc.call("txpool_inspect")
    assert inspect["queued"][to_checksum_address(gapped.address)]["5"] == \
        f"{to_checksum_address(stuck.address)}: 2 wei + 21000 gas × {2 * 10**9} wei"
    assert rpc.call("debug_getRawTransaction", gap_hash) == gap.raw_transaction.to_0x_hex()


# -- debug raw getters ----------------------------------------------------------------------

def test_raw_getters_decode_back_to_the_same_objects(rpc, spec, stored):
    number, block_hash = stored["blockNumber"], stored["blockHash"]
    header_class = dict(PragueVM.get_block_class()._meta.fields)["header"]
    for tag in (number, block_hash):
        raw_header = rpc.call("debug_getRawHeader", tag)
        assert keccak(bytes.fromhex(raw_header[2:])) == bytes.fromhex(block_hash[2:])
        assert rlp.decode(bytes.fromhex(raw_header[2:]), sedes=header_class).hash.hex() == block_hash[2:]
    raw_block = bytes.fromhex(rpc.call("debug_getRawBlock", number)[2:])
    block = rlp.decode(raw_block, sedes=PragueVM.get_block_class())
    assert block.hash == bytes.fromhex(block_hash[2:])
    assert [t.hash.hex() for t in block.transactions] == \
        [h[2:] for h in rpc.call("eth_getBlockByNumber", number, False)["transactions"]]

    raw_receipts = rpc.call("debug_getRawReceipts", number)
    spec.check_result("debug_getRawReceipts", raw_receipts)
    receipts_trie = HexaryTrie({})
    for index, raw in enumerate(raw_receipts):
        receipts_trie[rlp.encode(index)] = bytes.fromhex(raw[2:])
    assert receipts_trie.root_hash == block.header.receipt_root
    receipt = PragueVM.get_receipt_builder().decode(bytes.fromhex(raw_receipts[0][2:]))
    assert receipt.gas_used == int(stored["cumulativeGasUsed"], 16) and len(receipt.logs) == 1

    raw_tx = rpc.call("debug_getRawTransaction", stored["transactionHash"])
    assert "0x" + keccak(bytes.fromhex(raw_tx[2:])).hex() == stored["transactionHash"]
    assert rpc.call("debug_getRawTransaction", "0x" + "11" * 32) is None
    assert rpc.call("debug_getBadBlocks") == []
    assert rpc.error("debug_getRawBlock", "0xffffff") == {"code": SERVER_ERROR, "message": "header #16777215 not found"}


# -- invalid params -------------------------------------------------------------------------

@pytest.mark.parametrize("method, params", [
    ("eth_getProof", ["0x12", [], "latest"]),
    ("eth_getProof", ["0x" + "00" * 20, ["0x" + "00" * 33], "latest"]),
    ("eth_getProof", ["0x" + "00" * 20, ["0xzz"], "latest"]),
    ("eth_getProof", ["0x" + "00" * 20, "0x0", "latest"]),
    ("eth_getProof", ["0x" + "00" * 20, [], "newest"]),
    ("eth_createAccessList", [{"to": "0x1234"}, "latest"]),
    ("eth_createAccessList", [{"to": "0x" + "00" * 20}, "0x01"]),
    ("eth_createAccessList", [{"to": "0x" + "00" * 20}, "safest"]),
    ("eth_getStorageValues", [{"0x" + "00" * 20: ["0x" + "00" * 33]}, "latest"]),
    ("eth_newFilter", [{"address": "0x1234"}]),
    ("eth_newFilter", [{"fromBlock": "newest"}]),
    ("eth_newFilter", [{"topics": ["0x12"]}]),
    ("eth_newPendingTransactionFilter", ["yes"]),
    ("eth_getFilterChanges", [1]),
    ("eth_uninstallFilter", [{"id": 1}]),
    ("txpool_contentFrom", ["0x1234"]),
    ("debug_getRawHeader", ["latestt"]),
    ("debug_getRawBlock", ["0x01"]),
    ("debug_getRawReceipts", [12]),
    ("debug_getRawTransaction", ["0x1234"]),
    ("debug_getRawHeader", []),
    ("eth_config", [1]),
    ("eth_getBalance", ["0x" + "00" * 20, "0x10000000000000000"]),
    ("eth_getBlockByNumber", ["0x8000000000000000", False]),
])
def test_invalid_params_are_answered_with_32602(rpc, method, params):
    assert rpc.error(method, *params)["code"] == INVALID_PARAMS


# -- web3.py reads these shapes without middleware ------------------------------------------

def test_web3_parses_filters_proofs_and_access_lists(w3, dev_accounts, store):
    sender = dev_accounts[2].address
    block_filter = w3.eth.filter("latest")
    tx_hash = w3.eth.send_transaction({"from": sender, "to": store, "data": store_call(55, 1)})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt.blockHash in block_filter.get_new_entries()
    assert w3.eth.uninstall_filter(block_filter.filter_id) is True

    proof = w3.eth.get_proof(store, [0], "latest")
    assert proof.address == store and proof.nonce == 1 and len(proof.storageProof) == 1
    access = w3.eth.create_access_list({"from": sender, "to": store, "data": values_call(55)})
    assert access["accessList"][0]["address"] == store and access["gasUsed"] > 21000


def test_state_methods_take_a_plain_block_hash_as_the_spec_and_geth_do(rpc, accounts, store, stored):
    by_hash, by_number = stored["blockHash"], stored["blockNumber"]
    slot = "0x" + "00" * 32
    for method, params in (("eth_getBalance", [accounts[0]]), ("eth_getTransactionCount", [accounts[0]]),
                           ("eth_getCode", [store]), ("eth_getStorageAt", [store, slot]),
                           ("eth_getProof", [store, [slot]]), ("eth_getStorageValues", [{store: [slot]}]),
                           ("eth_call", [{"to": store, "data": values_call(7)}])):
        assert rpc.call(method, *params, by_hash) == rpc.call(method, *params, by_number), method
    unknown = rpc.error("eth_getBalance", accounts[0], "0x" + "ee" * 32)
    assert unknown["code"] == SERVER_ERROR


def test_eth_call_applies_state_overrides_for_the_call_only(rpc, accounts):
    """geth's third eth_call argument: balance, code, state and stateDiff per account."""
    target, rich = "0x" + "44" * 20, "0x" + "55" * 20
    balance_of_rich = "0x73" + "55" * 20 + "3160005260206000f3"     # BALANCE(rich), return it
    slot_seven = "0x60075460005260206000f3"                          # SLOAD(7), return it
    call = {"from": accounts[0], "to": target}
    assert rpc.call("eth_call", call, "latest", {target: {"code": balance_of_rich},
                                                 rich: {"balance": "0x1234"}}) == "0x" + word(0x1234)
    seven = "0x" + word(7)
    for kind in ("state", "stateDiff"):
        overrides = {target: {"code": slot_seven, kind: {seven: "0x" + word(99)}}}
        assert rpc.call("eth_call", call, "latest", overrides) == "0x" + word(99)
        assert rpc.call("eth_estimateGas", call, "latest", overrides).startswith("0x")
    assert rpc.call("eth_call", call, "latest") == "0x"                # nothing was persisted
    assert rpc.call("eth_getBalance", rich, "latest") == "0x0"
    both = {target: {"code": slot_seven, "state": {}, "stateDiff": {}}}
    assert rpc.error("eth_call", call, "latest", both)["code"] == INVALID_PARAMS
