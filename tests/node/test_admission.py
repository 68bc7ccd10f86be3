"""Raw transactions decoded in a worker process: same objects, same errors, and a worker that
dies, hangs or loses its node never costs a transaction."""
from __future__ import annotations

import signal
import time

import psutil
import pytest
import requests
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_utils import keccak

from node.admission import MIN_BATCH, TxDecoder

CHAIN_ID = 1337


def raw_transfers(account, count: int, start: int = 0) -> list[bytes]:
    return [bytes(account.sign_transaction({
        "chainId": CHAIN_ID, "nonce": nonce, "to": "0x" + "33" * 20, "value": 1, "gas": 21_000,
        "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1, "type": 2}).raw_transaction)
        for nonce in range(start, start + count)]


def decoded_once_up(decoder: TxDecoder, raws: list[bytes], timeout: float = 60) -> list:
    """decode_many once the worker has started (until then it answers None for everything)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = decoder.decode_many(PragueTransactionBuilder, raws)
        if any(tx is not None for tx in out):
            return out
        time.sleep(0.1)
    raise AssertionError("the decoder worker did not start")


def forged(raw: bytes) -> bytes:
    return PragueTransactionBuilder.decode(raw).copy(r=0).encode()   # no sender recoverable


@pytest.fixture
def decoder():
    decoder = TxDecoder(workers=1, retry_after=0.5)
    yield decoder
    decoder.close()


def test_worker_decodes_like_the_node_with_sender_and_hash_cached(decoder, dev_accounts):
    raws = raw_transfers(dev_accounts[1], 40)
    out = decoded_once_up(decoder, raws)
    for raw, tx in zip(raws, out):
        expected = PragueTransactionBuilder.decode(raw)
        assert tx == expected
        assert tx.__dict__["sender"] == expected.sender   # computed by the worker, not here
        assert tx.hash == keccak(raw)


def test_undecodable_entries_are_left_to_the_node(decoder, dev_accounts):
    raws = raw_transfers(dev_accounts[2], MIN_BATCH)
    mixed = [b"\x02garbage", forged(raws[0]), *raws[1:], b""]
    out = decoded_once_up(decoder, mixed)
    assert out[0] is None and out[1] is None and out[-1] is None
    assert all(tx is not None for tx in out[2:-1])


def test_a_worker_recovers_the_senders_of_an_encoded_blocks_transactions(decoder, dev_accounts):
    import rlp

    typed = raw_transfers(dev_accounts[1], 3)
    legacy = bytes(dev_accounts[2].sign_transaction({
        "chainId": CHAIN_ID, "nonce": 0, "to": "0x" + "33" * 20, "value": 1, "gas": 21_000,
        "gasPrice": 10**10}).raw_transaction)
    # a block's transactions as they travel: a typed one as its encoding, a legacy one as its fields
    transactions = [typed[0], rlp.decode(legacy), forged(typed[1]), typed[2]]
    raw_block = rlp.encode([[b"header fields"], transactions, [], []])
    decoded_once_up(decoder, raw_transfers(dev_accounts[3], MIN_BATCH))   # the worker is up
    senders = decoder.submit_senders(PragueTransactionBuilder, raw_block).result(30)
    address = [bytes.fromhex(a.address[2:]) for a in dev_accounts[:3]]
    assert senders == [address[1], address[2], None, address[1]]


def test_small_batches_and_a_closed_decoder_decode_nothing(decoder, dev_accounts):
    raws = raw_transfers(dev_accounts[3], MIN_BATCH)
    assert decoder.decode_many(PragueTransactionBuilder, raws[:MIN_BATCH - 1]) == [None] * (MIN_BATCH - 1)
    decoded_once_up(decoder, raws)
    decoder.close()
    assert decoder.decode_many(PragueTransactionBuilder, raws) == [None] * MIN_BATCH


def test_a_killed_worker_is_replaced(decoder, dev_accounts):
    raws = raw_transfers(dev_accounts[4], MIN_BATCH)
    decoded_once_up(decoder, raws)
    for worker in psutil.Process().children():
        if "spawn_main" in " ".join(worker.cmdline()):
            worker.kill()
    time.sleep(0.5)
    # The batch in flight is answered (by the node), then a new worker takes over.
    assert decoder.decode_many(PragueTransactionBuilder, raws) == [None] * MIN_BATCH
    assert all(tx is not None for tx in decoded_once_up(decoder, raws))


# -- in a real node --------------------------------------------------------------------------

def send_batch(node, raws: list[bytes]) -> list[dict]:
    body = [{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": ["0x" + raw.hex()]}
            for i, raw in enumerate(raws)]
    return sorted(requests.post(node.url, json=body, timeout=60).json(), key=lambda a: a["id"])


def worker_decoded(node) -> float:
    text = requests.get(node.url + "/metrics", timeout=10).text
    return next(float(line.split()[-1]) for line in text.splitlines()
                if line.startswith("azora_txpool_worker_decoded_total"))


def decoder_workers(pid: int) -> list[psutil.Process]:
    return [p for p in psutil.Process(pid).children(recursive=True)
            if "spawn_main" in " ".join(p.cmdline())]


def test_node_batches_answer_each_transaction_as_alone_and_the_worker_dies_with_the_node(
        start_azora, dev_accounts):
    # without the RPC gateway, which decodes a POSTed batch itself (WebSocket batches and
    # --rpc.gateway off are what the worker decodes)
    node = start_azora("dev", "--rpc.gateway", "off")
    account = dev_accounts[5]
    nonce = 0
    deadline = time.time() + 60
    while worker_decoded(node) == 0:   # the first big batches start the worker
        assert time.time() < deadline, "no decoder worker"
        answers = send_batch(node, raw_transfers(account, MIN_BATCH, nonce))
        assert all("result" in a for a in answers), answers[:2]
        nonce += MIN_BATCH
        time.sleep(0.2)
    before = worker_decoded(node)
    good = raw_transfers(account, MIN_BATCH, nonce + 100)   # queued: a nonce gap
    bad = [b"\x02\xc0", forged(good[0]), raw_transfers(account, 1, 0)[0]]
    answers = send_batch(node, bad + good)
    messages = [a["error"]["message"] for a in answers[:3]]
    assert answers[0]["error"]["code"] == -32602 and messages[0].startswith("rlp: invalid transaction")
    assert messages[1].startswith("invalid sender")
    assert messages[2].startswith("nonce too low") or messages[2] == "already known"
    assert [a["result"] for a in answers[3:]] == ["0x" + keccak(raw).hex() for raw in good]
    assert worker_decoded(node) == before + len(good) + 1   # the valid ones (and the stale nonce)
    again = send_batch(node, good + good[:1])
    assert {a["error"]["message"] for a in again} == {"already known"}

    workers = decoder_workers(node.proc.pid)
    node.proc.send_signal(signal.SIGKILL)
    node.proc.wait(10)
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"decoder workers outlived their node: {[p.pid for p in alive]}"


def test_a_synced_blocks_transactions_take_the_senders_a_worker_recovered(dev_accounts):
    import concurrent.futures
    from types import SimpleNamespace

    import trio

    from node.network import _take_senders

    def block() -> SimpleNamespace:
        return SimpleNamespace(number=7, transactions=[PragueTransactionBuilder.decode(raw)
                                                        for raw in raw_transfers(dev_accounts[1], 2)])

    recovered: concurrent.futures.Future = concurrent.futures.Future()
    recovered.set_result([b"\x11" * 20, None])   # not the real sender: shows whose value is used
    synced = block()
    assert trio.run(_take_senders, synced, recovered) == 1
    assert synced.transactions[0].sender == b"\x11" * 20 and "sender" not in synced.transactions[1].__dict__
    failed: concurrent.futures.Future = concurrent.futures.Future()
    failed.set_exception(RuntimeError("worker died"))
    synced = block()
    assert trio.run(_take_senders, synced, failed) == 0   # execution recovers them as before
    assert all("sender" not in tx.__dict__ for tx in synced.transactions)


def test_a_decoder_worker_hashes_with_the_c_keccak():
    """A spawned worker imports node.admission and py-evm, never kernel by itself: eth-hash's
    keccak there was pycryptodome's, 5 µs a call against safe-pysha3's 1."""
    import subprocess
    import sys

    script = ("import node.admission; from node.admission import _decode_chunk; _decode_chunk(None, []); "
              "from eth_hash.auto import keccak; print(keccak.hasher.__module__)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "eth_hash.backends.pysha3"


def test_a_node_refuses_a_number_sent_as_an_empty_list_alone_and_in_a_batch(start_azora, dev_accounts):
    """geth refuses it (rlp: expected input string or byte); so does the node, whichever
    process decodes it: the gateway ahead of a request, or the node itself."""
    import rlp

    node = start_azora("dev")
    account = dev_accounts[6]
    canonical = raw_transfers(account, 1)[0]
    items = rlp.decode(canonical[1:])
    quirky = bytes((2,)) + rlp.encode([items[0], [], *items[2:]])
    alone = requests.post(node.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
                                          "params": ["0x" + quirky.hex()]}, timeout=30).json()
    assert alone["error"]["code"] == -32602
    assert alone["error"]["message"].startswith("rlp: invalid transaction: expected input string or bytes")
    answers = send_batch(node, [quirky] + raw_transfers(account, MIN_BATCH))
    assert answers[0]["error"]["code"] == -32602 and "empty list" in answers[0]["error"]["message"]
    assert all("result" in answer for answer in answers[1:])
