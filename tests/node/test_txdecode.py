"""One transaction decoded as py-evm decodes it: the same object, hash and sender, faster;
anything py-evm refuses, or reads otherwise than strict RLP, left to py-evm."""
from __future__ import annotations

import pytest
from eth.vm.forks.prague.transactions import PragueTransactionBuilder

from node.mempool import SECP256K1_N
from node.txdecode import _flat_list, decode_dynamic_fee, decode_signed, decode_transaction, prime_transaction
from tests.node.test_admission import CHAIN_ID, raw_transfers


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
    encode = lambda fields: bytes((2,)) + rlp.encode(fields)  # noqa: E731
    payload = b"".join(rlp.encode(field) for field in items)
    bad = {
        "a leading zero": encode([b"\x00" + items[0], *items[1:]]),
        "a zero byte for zero": encode([items[0], b"\x00", *items[2:]]),
        "a short address": encode([*items[:5], b"\x33" * 19, *items[6:]]),
        "a list for a number": encode([[items[0]], *items[1:]]),
        "an empty list for the address": encode([*items[:5], [], *items[6:]]),
        "an empty list for the data": encode([*items[:7], [], *items[8:]]),
        "a list header with a leading zero": bytes((2, 0xF9, 0, len(payload))) + payload,
        "trailing bytes": raw + b"\x00",
        "cut short": raw[:-1],
        "too few fields": encode(items[:11]),
        "too many fields": encode([*items, b"\x01"]),
        "no payload": bytes((2,)),
        "a header past the end": bytes((2, 0xFB, 0xFF)),
    }
    single = b"".join(rlp.encode(field) for field in items[:9]) + bytes((0x81, items[9][0] if items[9] else 0)) \
        + b"".join(rlp.encode(field) for field in items[10:])
    bad["a single byte in a string header"] = bytes((2,)) + (bytes((0xF8, len(single))) if len(single) >= 56
                                                           else bytes((0xC0 + len(single),))) + single
    long_data = b"".join(rlp.encode(field) for field in items[:7]) + _long_string(b"\xab" * 3) \
        + b"".join(rlp.encode(field) for field in items[8:])
    bad["a long string header for a short string"] = bytes((2, 0xF8, len(long_data))) + long_data
    for name, encoded in bad.items():
        assert decode_dynamic_fee(PragueTransactionBuilder, encoded) is None, name
        with pytest.raises(Exception):
            PragueTransactionBuilder.decode(encoded).sender


def test_a_short_list_under_a_long_header_is_not_read():
    """A whole transaction's fields never fit under 56 bytes (r and s alone take 66), so the
    list rule is checked on the reader itself: strict RLP refuses a long header for a short list."""
    import rlp

    fields = [b"\x01", b"", b"\x33" * 20]
    payload = b"".join(rlp.encode(field) for field in fields)
    assert _flat_list(bytes((2,)) + rlp.encode(fields), 1) == (fields, [2, 3, 4, 25])
    assert _flat_list(bytes((2, 0xF8, len(payload))) + payload, 1) is None
    with pytest.raises(rlp.DecodingError):
        rlp.decode(bytes((0xF8, len(payload))) + payload)


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
