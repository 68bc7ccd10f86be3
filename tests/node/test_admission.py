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

from node.admission import MIN_BATCH, TxDecoder, decode_dynamic_fee, decode_signed, prime_transaction
from node.mempool import SECP256K1_N

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


# -- one transaction: hash and sender from its own encoding ---------------------------------

def signed_kinds(account) -> dict[str, bytes]:
    """A transaction of each typed kind, with payloads under and over RLP's 56-byte list header."""
    base = {"chainId": CHAIN_ID, "nonce": 7, "to": "0x" + "44" * 20, "value": 3, "gas": 500_000}
    fees = {"maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1}
    access = [{"address": "0x" + "55" * 20, "storageKeys": ["0x" + "66" * 32] * 10}]
    authorization = account.sign_authorization({"chainId": CHAIN_ID, "address": "0x" + "77" * 20, "nonce": 8})
    kinds = {
        "short 1559": {**base, **fees, "data": "0x", "type": 2},
        "1559 with data": {**base, **fees, "data": "0x" + "ab" * 300, "type": 2},
        "2930": {**base, "gasPrice": 10**10, "accessList": access, "type": 1},
        "1559 with an access list": {**base, **fees, "accessList": access, "type": 2},
        "7702": {**base, **fees, "authorizationList": [authorization], "type": 4},
    }
    return {name: bytes(account.sign_transaction(fields).raw_transaction) for name, fields in kinds.items()}


def test_a_typed_transaction_gets_the_hash_sender_and_encoding_py_evm_finds(dev_accounts):
    from node.admission import decode_transaction

    for name, raw in signed_kinds(dev_accounts[4]).items():
        tx = PragueTransactionBuilder.decode(raw)
        prime_transaction(tx, raw)
        assert "sender" in tx.__dict__ and "hash" in tx.__dict__, name   # not left to py-evm
        reference = PragueTransactionBuilder.decode(raw)
        assert tx.sender == reference.sender == bytes.fromhex(dev_accounts[4].address[2:]), name
        assert tx.hash == reference.hash, name
        assert "_type_byte" in tx.__dict__ and tx.encode() == reference.encode() == raw, name
        assert decode_transaction(PragueTransactionBuilder, raw).sender == reference.sender, name


def test_signatures_out_of_range_are_left_to_py_evm_and_its_error(dev_accounts):
    raw = signed_kinds(dev_accounts[4])["1559 with data"]
    good = PragueTransactionBuilder.decode(raw)
    for changes in ({"y_parity": 2}, {"r": SECP256K1_N}, {"s": SECP256K1_N + 1}, {"r": 0}):
        bad_raw = good.copy(**changes).encode()
        tx = PragueTransactionBuilder.decode(bad_raw)
        prime_transaction(tx, bad_raw)
        assert "sender" not in tx.__dict__, changes
        with pytest.raises(Exception) as raised:
            tx.sender
        with pytest.raises(type(raised.value)):
            PragueTransactionBuilder.decode(bad_raw).sender


def test_a_tampered_transaction_recovers_another_sender_as_in_py_evm(dev_accounts):
    raw = signed_kinds(dev_accounts[4])["short 1559"]
    tampered = PragueTransactionBuilder.decode(raw).copy(value=4).encode()
    tx = PragueTransactionBuilder.decode(tampered)
    prime_transaction(tx, tampered)
    assert tx.sender == PragueTransactionBuilder.decode(tampered).sender
    assert tx.sender != bytes.fromhex(dev_accounts[4].address[2:])


def test_a_legacy_transaction_is_left_to_py_evm(dev_accounts):
    raw = bytes(dev_accounts[4].sign_transaction({
        "chainId": CHAIN_ID, "nonce": 0, "to": "0x" + "33" * 20, "value": 1, "gas": 21_000,
        "gasPrice": 10**10}).raw_transaction)
    tx = PragueTransactionBuilder.decode(raw)
    prime_transaction(tx, raw)
    assert "sender" not in tx.__dict__
    assert tx.sender == bytes.fromhex(dev_accounts[4].address[2:])


# -- the wallet's transaction decoded without py-evm's RLP layers ---------------------------

def same_transaction(tx, reference) -> None:
    """Field for field the object py-evm decodes, caches aside."""
    assert type(tx) is type(reference) and type(tx._inner) is type(reference._inner)
    inner = {key: value for key, value in tx._inner.__dict__.items() if key != "_hash_cache"}
    assert inner == {key: value for key, value in reference._inner.__dict__.items() if key != "_hash_cache"}
    assert tx == reference and tx.type_id == reference.type_id
    assert tx.encode() == reference.encode() and tx.hash == reference.hash and tx.sender == reference.sender


def test_a_wallets_1559_transaction_decodes_to_py_evms_object(dev_accounts):
    account = dev_accounts[4]
    creation = bytes(account.sign_transaction({
        "chainId": CHAIN_ID, "nonce": 0, "value": 0, "gas": 100_000, "data": "0x6000",
        "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1, "type": 2}).raw_transaction)
    large = bytes(account.sign_transaction({
        "chainId": CHAIN_ID, "nonce": 2**64 - 2, "to": "0x" + "00" * 20, "value": 2**255, "gas": 2**63,
        "data": "0x" + "00" * 70_000, "maxFeePerGas": 2**200, "maxPriorityFeePerGas": 0, "type": 2}).raw_transaction)
    kinds = {**signed_kinds(account), "creation": creation, "large values": large,
             "transfer": raw_transfers(account, 1)[0]}
    fast = {"short 1559", "1559 with data", "creation", "large values", "transfer"}
    for name, raw in kinds.items():
        assert (decode_dynamic_fee(PragueTransactionBuilder, raw) is not None) == (name in fast), name
        tx = decode_signed(PragueTransactionBuilder, raw)
        assert "sender" in tx.__dict__ and "hash" in tx.__dict__, name
        same_transaction(tx, PragueTransactionBuilder.decode(raw))
        assert tx.sender == bytes.fromhex(account.address[2:]), name


def _long_string(value: bytes) -> bytes:
    return bytes((0xB8,)) + bytes((len(value),)) + value


def test_what_strict_rlp_refuses_is_left_to_py_evm(dev_accounts):
    """Each encoding here is one py-evm refuses or decodes otherwise: the fast path takes
    none of them, and py-evm's error stands."""
    import rlp

    raw = raw_transfers(dev_accounts[4], 1)[0]
    items = rlp.decode(raw[1:])
    encode = lambda fields, header=None: bytes((2,)) + rlp.encode(fields) if header is None else (  # noqa: E731
        bytes((2,)) + header + b"".join(rlp.encode(field) for field in fields))
    payload = b"".join(rlp.encode(field) for field in items)
    bad = {
        "a leading zero": encode([b"\x00" + items[0], *items[1:]]),
        "a zero byte for zero": encode([items[0], b"\x00", *items[2:]]),
        "a short address": encode([*items[:5], b"\x33" * 19, *items[6:]]),
        "a list for a number": encode([[items[0]], *items[1:]]),
        "an empty list for the address": encode([*items[:5], [], *items[6:]]),
        "an empty list for the data": encode([*items[:7], [], *items[8:]]),
        "a long list header for a short list": bytes((2, 0xF8, len(payload))) + payload if len(payload) < 56 else None,
        "a list header with a leading zero": bytes((2, 0xF9, 0, len(payload))) + payload,
        "trailing bytes": raw + b"\x00",
        "cut short": raw[:-1],
        "too few fields": encode(items[:11]),
        "too many fields": encode([*items, b"\x01"]),
        "no payload": bytes((2,)),
        "a header past the end": bytes((2, 0xFB, 0xFF)),
    }
    header = rlp.encode(items)[:2] if rlp.encode(items)[0] == 0xF8 else None
    single = b"".join(rlp.encode(field) for field in items[:9]) + bytes((0x81, items[9][0] if items[9] else 0)) \
        + b"".join(rlp.encode(field) for field in items[10:])
    bad["a single byte in a string header"] = bytes((2,)) + (bytes((0xF8, len(single))) if len(single) >= 56
                                                           else bytes((0xC0 + len(single),))) + single
    long_data = b"".join(rlp.encode(field) for field in items[:7]) + _long_string(b"\xab" * 3) \
        + b"".join(rlp.encode(field) for field in items[8:])
    bad["a long string header for a short string"] = bytes((2, 0xF8, len(long_data))) + long_data
    assert header is not None or bad["a long list header for a short list"] is not None
    for name, encoded in bad.items():
        if encoded is None:
            continue
        assert decode_dynamic_fee(PragueTransactionBuilder, encoded) is None, name
        with pytest.raises(Exception):
            PragueTransactionBuilder.decode(encoded).sender


def test_mangled_transactions_decode_as_py_evm_decodes_them_or_not_at_all(dev_accounts):
    """Random byte changes to wallets' transactions: whatever the fast path decodes, py-evm
    decodes to the same object; the rest it leaves to py-evm."""
    import random

    rng = random.Random(1559)
    account = dev_accounts[4]
    originals = [raw_transfers(account, 1)[0], signed_kinds(account)["1559 with data"]]
    taken = 0
    for _ in range(3000):
        raw = bytearray(rng.choice(originals))
        for _ in range(rng.randint(1, 3)):
            if len(raw) < 3:
                break
            where = rng.randrange(1, len(raw))
            change = rng.random()
            if change < 0.5:
                raw[where] = rng.randrange(256)
            elif change < 0.7:
                del raw[where]
            elif change < 0.9:
                raw.insert(where, rng.randrange(256))
            else:
                del raw[where:]
        raw = bytes(raw)
        tx = decode_dynamic_fee(PragueTransactionBuilder, raw) if len(raw) > 1 else None
        if tx is None:
            continue
        taken += 1
        reference = PragueTransactionBuilder.decode(raw)
        assert type(tx._inner) is type(reference._inner)
        assert tx._inner.__dict__ == reference._inner.__dict__
        assert tx.hash == reference.hash
        try:
            expected = reference.sender
        except Exception:  # noqa: BLE001 - not recoverable: neither may cache one
            assert "sender" not in tx.__dict__
        else:
            assert tx.sender == expected
    assert taken > 100   # most single-byte changes to a value still decode


def test_a_decoder_worker_hashes_with_the_c_keccak():
    """A spawned worker imports node.admission and py-evm, never kernel by itself: eth-hash's
    keccak there was pycryptodome's, 5 µs a call against safe-pysha3's 1."""
    import subprocess
    import sys

    script = ("import node.admission; from node.admission import _decode_chunk; _decode_chunk(None, []); "
              "from eth_hash.auto import keccak; print(keccak.hasher.__module__)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "eth_hash.backends.pysha3"


def test_an_empty_list_read_as_zero_recovers_py_evms_sender(dev_accounts):
    """pyrlp reads an empty list where a number belongs as 0 (geth refuses it), and py-evm
    recovers the sender over 0's canonical encoding. Priming hashed the encoding as sent, and
    cached another sender than py-evm's: a node importing the block without priming (range
    sync's fallback) would have executed it from another account."""
    import rlp

    account = dev_accounts[4]
    canonical = bytes(account.sign_transaction({
        "chainId": CHAIN_ID, "nonce": 0, "to": "0x" + "33" * 20, "value": 1, "gas": 21_000,
        "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1, "type": 2}).raw_transaction)
    items = rlp.decode(canonical[1:])
    assert items[1] == b""   # the nonce, 0
    quirky = bytes((2,)) + rlp.encode([items[0], [], *items[2:]])
    reference = PragueTransactionBuilder.decode(quirky)
    assert reference.nonce == 0 and reference.sender == bytes.fromhex(account.address[2:])
    assert decode_dynamic_fee(PragueTransactionBuilder, quirky) is None
    with pytest.raises(ValueError, match="empty list"):   # sent to a node: refused, as geth does
        decode_signed(PragueTransactionBuilder, quirky)
    primed = PragueTransactionBuilder.decode(quirky)   # in a block (py-evm's rules accept it)
    prime_transaction(primed, quirky)
    assert primed.sender == reference.sender


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


def test_a_fork_without_eip_1559_decodes_as_py_evm_does(dev_accounts):
    """Before London (a fork mode's or an old genesis's blocks) the builder has no such type:
    py-evm's answer stands."""
    from eth.vm.forks.berlin import BerlinVM
    from eth.vm.forks.istanbul import IstanbulVM

    raw = raw_transfers(dev_accounts[4], 1)[0]
    for vm in (IstanbulVM, BerlinVM):
        builder = vm.get_transaction_builder()
        assert decode_dynamic_fee(builder, raw) is None, vm
        with pytest.raises(Exception) as raised:
            builder.decode(raw)
        with pytest.raises(type(raised.value)):
            decode_signed(builder, raw)
