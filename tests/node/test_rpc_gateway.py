"""The RPC gateway (node/rpc/gateway.py): the port's HTTP served from a process beside the node,
answers exactly as the node answers them itself, a gateway that dies is started again, one
whose node dies goes with it, the transactions it decodes ahead are the node's own, and the
receipt polls it answers itself are answered as the node answers them, never after a rewind."""
from __future__ import annotations

import functools
import json
import pickle
import re
import socket
import time
from contextvars import copy_context

import psutil
import pytest
import requests
import trio
import trio.testing
from eth.vm.forks.cancun.transactions import CancunTransactionBuilder
from eth.vm.forks.prague.transactions import PragueTransactionBuilder

from node.admission import builder_path, decoded_ahead, take_decoded_ahead
from node.rpc.gateway import Link, NodeSide, Receipts, RewindCounter, _Decoder, serve_link

CHAIN_ID = 1337


def gateways(node) -> list[psutil.Process]:
    return [child for child in psutil.Process(node.proc.pid).children()
            if "node.rpc.gateway" in " ".join(child.cmdline())]


def signed(account, nonce: int, chain_id: int = CHAIN_ID) -> str:
    return "0x" + bytes(account.sign_transaction({
        "chainId": chain_id, "nonce": nonce, "to": "0x" + "33" * 20, "value": 1, "gas": 21_000,
        "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "type": 2}).raw_transaction).hex()


def post(url: str, method: str, *params, timeout: float = 30) -> dict:
    return requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                         timeout=timeout).json()


def test_sent_transactions_are_answered_alike_with_and_without_the_gateway(start_azora, tmp_path, dev_accounts):
    with_gateway = start_azora("dev", "--datadir", str(tmp_path / "a"))
    without = start_azora("dev", "--datadir", str(tmp_path / "b"), "--rpc.gateway", "off")
    assert len(gateways(with_gateway)) == 1 and gateways(without) == []
    sender = dev_accounts[1]
    replies = []
    for node in (with_gateway, without):
        sent = post(node.url, "eth_sendRawTransaction", signed(sender, 0))
        receipt = node.wait_receipt(sent["result"])
        replies.append([
            sent, receipt["status"], receipt["from"],
            post(node.url, "eth_sendRawTransaction", signed(sender, 0)),              # nonce too low
            post(node.url, "eth_sendRawTransaction", signed(sender, 1, chain_id=5)),  # wrong chain
            post(node.url, "eth_sendRawTransaction", "0x02c0"),                        # not a transaction
            post(node.url, "eth_sendRawTransaction", "0xzz"),                          # not hex
            requests.post(node.url, json=[{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction",
                                           "params": [signed(sender, n)]} for i, n in ((1, 1), (2, 1))],
                          timeout=30).json(),                                           # a batch, one replaced
        ])
    assert replies[0] == replies[1]
    assert replies[0][1] == "0x1" and replies[0][2] == sender.address.lower()
    assert [r.get("error", {}).get("code") for r in replies[0][3:7]] == [-32000, -32000, -32602, -32602]
    # and the node took the gateway's decoding (py-evm loads in the gateway on the first send)
    deadline = time.time() + 60
    while gateway_decoded(with_gateway) == 0:
        assert time.time() < deadline, "the node never took a transaction the gateway decoded"
        post(with_gateway.url, "eth_sendRawTransaction", signed(sender, 0))
        time.sleep(0.2)
    assert gateway_decoded(without) == 0


def gateway_decoded(node) -> float:
    metrics = requests.get(node.url + "/metrics", timeout=10).text
    return float(re.search(r"^azora_txpool_gateway_decoded(?:_total)? (\S+)$", metrics, re.M).group(1))


def test_a_gateway_that_dies_is_started_again_and_the_port_kept(start_azora, tmp_path):
    node = start_azora("dev", "--datadir", str(tmp_path / "data"))
    first = gateways(node)[0]
    first.kill()
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if post(node.url, "eth_chainId")["result"] == hex(CHAIN_ID):
                break
        except requests.RequestException:
            time.sleep(0.2)
    else:
        raise AssertionError(f"the RPC port did not answer again:\n{node.log()}")
    assert [g.pid for g in gateways(node)] != [first.pid]
    assert "the RPC gateway exited" in node.log()


def test_a_gateway_goes_with_its_node_and_frees_the_port(start_azora, tmp_path):
    node = start_azora("dev", "--datadir", str(tmp_path / "data"))
    gateway = gateways(node)[0]
    node.kill()   # SIGKILL: the node cannot stop it
    gateway.wait(10)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", node.port))   # nothing holds the port any more


def test_link_frames_arrive_whole_whatever_the_reads(tmp_path):
    messages = [(i, "x" * (i * 997 % 70_000), bytes(range(i % 256))) for i in range(60)]

    async def main() -> list:
        ours, theirs = trio.testing.memory_stream_pair()
        sender = Link(ours)
        received = []

        async def read() -> None:
            async for message in Link(theirs).frames():
                received.append(message)
                if len(received) == len(messages):
                    return

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender.write_loop)
            nursery.start_soon(read)
            for message in messages:
                await sender.send(message)
                await trio.sleep(0)
            with trio.fail_after(10):
                while len(received) < len(messages):
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
        return received

    assert trio.run(main) == messages


def test_transactions_decoded_ahead_are_taken_for_their_builder_only(dev_accounts):
    raw_hex = signed(dev_accounts[2], 0)
    raw = bytes.fromhex(raw_hex[2:])
    body = [{"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [raw_hex]},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_sendRawTransaction", "params": ["0x02c0"]},
            {"jsonrpc": "2.0", "id": 3, "method": "eth_chainId", "params": []}]   # parsed by the gateway
    decoder = _Decoder()
    path = builder_path(PragueTransactionBuilder)
    assert decoder.prepare(path, body) is None   # py-evm not imported yet: the node decodes
    deadline = time.time() + 60
    while (ahead := decoder.prepare(path, body)) is None:
        assert time.time() < deadline, "py-evm never loaded"
        time.sleep(0.05)
    assert ahead[0] == path and list(ahead[1]) == [raw]   # what does not decode is left to the node
    assert decoder.prepare(path, {"method": "eth_chainId"}) is None and decoder.prepare(path, None) is None

    def take(builder: type, prepared: tuple) -> object:
        decoded_ahead.set(prepared)
        return take_decoded_ahead(builder, raw)

    tx = copy_context().run(take, PragueTransactionBuilder, (ahead[0], dict(ahead[1])))
    expected = PragueTransactionBuilder.decode(raw)
    assert tx == expected and tx.__dict__["sender"] == expected.sender   # recovered by the gateway
    # another fork's builder (the head moved on): the node decodes it itself
    assert copy_context().run(take, CancunTransactionBuilder, (ahead[0], dict(ahead[1]))) is None
    assert take_decoded_ahead(PragueTransactionBuilder, raw) is None   # only in that request's context
    assert pickle.loads(ahead[1][raw]) == expected


def test_the_gateway_imports_py_evm_when_it_starts_so_a_first_send_is_decoded_ahead(dev_accounts):
    """Started with the gateway, not by the first send: that import held the gateway's GIL for
    a second or more just as a load began."""
    raw_hex = signed(dev_accounts[2], 0)
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [raw_hex]}
    decoder = _Decoder()
    decoder.start()
    deadline = time.time() + 60
    while not decoder.ready:
        assert time.time() < deadline, "py-evm never loaded"
        time.sleep(0.05)
    ahead = decoder.prepare(builder_path(PragueTransactionBuilder), body)   # the first send
    assert ahead is not None and list(ahead[1]) == [bytes.fromhex(raw_hex[2:])]


def receipt_calls(node) -> float:
    metrics = requests.get(node.url + "/metrics", timeout=10).text
    found = re.search(r'^azora_rpc_calls(?:_total)?\{method="eth_getTransactionReceipt",outcome="ok"\} (\S+)$',
                      metrics, re.M)
    return float(found.group(1)) if found else 0.0


def sent_in_one_block(node, sender, count: int) -> list[str]:
    post(node.url, "evm_setAutomine", False)
    hashes = [post(node.url, "eth_sendRawTransaction", signed(sender, n))["result"] for n in range(count)]
    post(node.url, "evm_mine")
    return hashes


def test_receipt_polls_of_a_block_the_node_showed_are_answered_by_the_gateway_as_the_node_answers(
        start_azora, tmp_path, dev_accounts):
    node = start_azora("dev", "--datadir", str(tmp_path / "data"))
    hashes = sent_in_one_block(node, dev_accounts[1], 3)
    assert post(node.url, "eth_getTransactionReceipt", hashes[0])["result"]["status"] == "0x1"   # the node's
    batch = requests.post(node.url, json=[{"jsonrpc": "2.0", "id": i, "method": "eth_getTransactionReceipt",
                                           "params": [h]} for i, h in enumerate(hashes)], timeout=30).json()
    node_process = psutil.Process(node.proc.pid)
    node_process.suspend()   # from here on only the gateway can answer
    try:
        for request_id, tx_hash in ((7, hashes[1]), ("poll-2", hashes[2].upper().replace("0X", "0x"))):
            answer = requests.post(node.url, json={"jsonrpc": "2.0", "id": request_id, "method":
                                                   "eth_getTransactionReceipt", "params": [tx_hash]}, timeout=5)
            position = hashes.index(tx_hash.lower())
            # byte for byte what the node sends: the same object, encoded by the same json.dumps
            assert answer.content == json.dumps({"jsonrpc": "2.0", "id": request_id,
                                                 "result": batch[position]["result"]}).encode()
            assert answer.headers["content-type"] == "application/json"
        # a transaction the node did not show (here: none) is still the node's to answer
        with pytest.raises(requests.Timeout):
            post(node.url, "eth_getTransactionReceipt", "0x" + "ab" * 32, timeout=1)
    finally:
        node_process.resume()
    # the node counts the polls the gateway answered: 1 alone, 3 in the batch, 2 by the gateway, 1 unknown
    deadline = time.time() + 30
    while receipt_calls(node) < 7:
        assert time.time() < deadline, receipt_calls(node)
        time.sleep(0.2)


# init code that logs one topic over 32 bytes of memory and deploys nothing
LOGGING_INIT_CODE = "0x602a600052" + "7f" + "ab" * 32 + "60206000a100"


def test_while_clients_poll_the_receipts_of_new_blocks_reach_the_gateway_unasked(
        start_azora, tmp_path, dev_accounts):
    """Pushed unshaped (node.rpc.format.ReceiptFacts), shaped and encoded by the gateway when
    polled: byte for byte what the node answers, for a transfer and for a contract creation
    that logs (contractAddress, a log's fields and its index in the block)."""
    node = start_azora("dev", "--datadir", str(tmp_path / "data"))
    sender = dev_accounts[1]
    first = sent_in_one_block(node, sender, 1)[0]
    assert post(node.url, "eth_getTransactionReceipt", first)["result"]["status"] == "0x1"   # a client polls
    post(node.url, "evm_setAutomine", False)
    creation = "0x" + bytes(sender.sign_transaction({
        "chainId": CHAIN_ID, "nonce": 3, "data": LOGGING_INIT_CODE, "value": 0, "gas": 100_000,
        "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "type": 2}).raw_transaction).hex()
    hashes = [post(node.url, "eth_sendRawTransaction", raw)["result"] for raw in (signed(sender, 1), signed(sender, 2),
                                                                                  creation)]
    # evm_mine's answer comes over the gateway's link after the push the commit queued on it
    post(node.url, "evm_mine")
    node_process = psutil.Process(node.proc.pid)
    node_process.suspend()    # only the gateway can answer now; without the push it would wait for the node
    try:
        answers = [requests.post(node.url, json={"jsonrpc": "2.0", "id": 5, "method": "eth_getTransactionReceipt",
                                                 "params": [tx_hash]}, timeout=5) for tx_hash in hashes[1:]]
    finally:
        node_process.resume()
    number = answers[0].json()["result"]["blockNumber"]
    by_node = post(node.url, "eth_getBlockReceipts", number)["result"]
    assert by_node[2]["contractAddress"] is not None and len(by_node[2]["logs"]) == 1
    for answer, receipt in zip(answers, by_node[1:]):
        assert answer.content == json.dumps({"jsonrpc": "2.0", "id": 5, "result": receipt}).encode()


def test_a_rewind_asked_over_websocket_stops_the_gateway_answering_the_rewound_receipts(
        start_azora, tmp_path, dev_accounts):
    from websockets.sync.client import connect

    node = start_azora("dev", "--datadir", str(tmp_path / "data"))
    snapshot = post(node.url, "evm_snapshot")["result"]
    hashes = sent_in_one_block(node, dev_accounts[1], 2)
    assert post(node.url, "eth_getTransactionReceipt", hashes[0])["result"] is not None   # shown to the gateway
    with connect(node.ws_url) as ws:   # not through the gateway's link: the shared count must tell it
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "evm_revert", "params": [snapshot]}))
        assert json.loads(ws.recv(timeout=30))["result"] is True
    assert post(node.url, "eth_getTransactionReceipt", hashes[1]) == {"jsonrpc": "2.0", "id": 1, "result": None}
    # mined again, in a new block: the new receipt, shown and answered again
    mined_again = sent_in_one_block(node, dev_accounts[1], 2)
    assert mined_again == hashes
    first = post(node.url, "eth_getTransactionReceipt", hashes[0])["result"]
    second = post(node.url, "eth_getTransactionReceipt", hashes[1])["result"]
    assert second["blockHash"] == first["blockHash"] and second["transactionIndex"] == "0x1"


def test_the_gateway_answers_lone_receipt_polls_with_an_id_only(tmp_path):
    rewinds = RewindCounter()
    receipts = Receipts(RewindCounter(rewinds.fd))   # the gateway's view of the node's counter
    tx_hash = "0x" + "cd" * 32
    held = json.dumps({"transactionHash": tx_hash, "status": "0x1"}).encode()
    receipts.add(0, [(tx_hash, held)])

    def ask(call) -> bytes | None:
        return receipts.answer(json.loads(json.dumps(call)))

    call = {"jsonrpc": "2.0", "id": 3, "method": "eth_getTransactionReceipt", "params": [tx_hash]}
    assert ask(call) == b'{"jsonrpc": "2.0", "id": 3, "result": ' + held + b"}"
    for other in ({**call, "id": True}, {**call, "id": None}, {**call, "id": 1.5}, {**call, "jsonrpc": "1.0"},
                  {k: v for k, v in call.items() if k != "id"}, {**call, "extra": 1}, [call],
                  {**call, "params": [tx_hash, "latest"]}, {**call, "params": ["0x" + "ef" * 32]},
                  {**call, "params": [tx_hash[2:]]}, {**call, "method": "eth_getTransactionByHash"}):
        assert ask(other) is None, other
    rewinds.bump()      # the node rewound: what is held was formatted before
    assert ask(call) is None
    receipts.add(0, [(tx_hash, held)])   # formatted before the rewind, arriving after it
    assert ask(call) is None
    receipts.add(1, [(tx_hash, held)])
    assert ask(call) is not None


def test_receipts_are_read_for_the_gateway_only_while_clients_poll():
    formatted = []

    class Block:
        transactions, hash, number, header = ("tx",), b"\x01" * 32, 1, "header"

    node = NodeSide(lambda: ("", ""), RewindCounter(), facts_of=lambda header: formatted.append(header) or ((b"", 0, 0, None), []))

    async def main() -> None:
        ours, _theirs = trio.testing.memory_stream_pair()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(functools.partial(serve_link, ours, None, node, None, answer_parsed=None))
            await trio.sleep(0.1)
            await trio.to_thread.run_sync(node.on_new_block, Block())   # nobody polled: no work
            assert formatted == []
            node.polled_at = time.monotonic()
            await trio.to_thread.run_sync(node.on_new_block, Block())
            assert formatted == ["header"]
            nursery.cancel_scope.cancel()

    trio.run(main)


def test_a_parsed_call_comes_back_as_its_response_object_or_as_json_if_pickle_cannot_carry_it():
    """The gateway sends one call object parsed and encodes the node's response object; a
    value pickle cannot carry (a local class json encodes as its base type) is encoded by the
    node instead, the same bytes either way, and the link goes on."""
    class Local(dict):
        pass

    async def answer_parsed(client: str, call: dict) -> tuple[int, object]:
        result = Local(a=1) if call["id"] == 2 else [1, "0x2"]
        return 200, {"jsonrpc": "2.0", "id": call["id"], "result": result}

    node = NodeSide(lambda: ("m", "B"), RewindCounter())
    answers: dict[int, object] = {}

    async def main() -> None:
        ours, theirs = trio.testing.memory_stream_pair()
        gateway = Link(theirs)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(functools.partial(serve_link, ours, None, node, None, push_receipts=False,
                                                 answer_parsed=answer_parsed))
            nursery.start_soon(gateway.write_loop)
            for request_id in (1, 2, 3):
                call = {"jsonrpc": "2.0", "id": request_id, "method": "x_y", "params": []}
                await gateway.send((request_id, "127.0.0.1", 60, call, None))
            async for frame in gateway.frames():
                answers[frame[0]] = frame[2]
                if len(answers) == 3:
                    break
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert [answers[1], answers[3]] == [{"jsonrpc": "2.0", "id": n, "result": [1, "0x2"]} for n in (1, 3)]
    assert answers[2] == b'{"jsonrpc": "2.0", "id": 2, "result": {"a": 1}}'
