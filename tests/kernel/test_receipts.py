"""Azora's receipts: py-evm's receipt objects, blooms and encodings, made in one step."""
from __future__ import annotations

import itertools
import random

import pytest
import rlp
from eth.vm.forks.prague.transactions import PragueTransactionBuilder as Builder
from eth_bloom import BloomFilter
from eth_keys import keys

from kernel.receipts import log_bloom, make_receipt
from kernel.rlp_items import encode_item, int_bytes

KEY = keys.PrivateKey(b"\x01" * 32)
TO = b"\x22" * 20


def _transactions():
    common = dict(nonce=3, gas=90_000, to=TO, value=5, data=b"\xa9\x05\x9c\xbb")
    fees = dict(max_priority_fee_per_gas=1, max_fee_per_gas=10**9)
    return [
        Builder.create_unsigned_transaction(gas_price=10**9, **common).as_signed_transaction(KEY, chain_id=1337),
        Builder.new_unsigned_access_list_transaction(chain_id=1337, gas_price=10**9, access_list=[(TO, [1])],
                                                     **common).as_signed_transaction(KEY),
        Builder.new_unsigned_dynamic_fee_transaction(chain_id=1337, access_list=[], **fees,
                                                     **common).as_signed_transaction(KEY),
        Builder.new_unsigned_blob_transaction(chain_id=1337, access_list=[], max_fee_per_blob_gas=1,
                                              blob_versioned_hashes=[b"\x01" + b"\x00" * 31], **fees,
                                              **common).as_signed_transaction(KEY),
        Builder.new_unsigned_set_code_transaction(chain_id=1337, access_list=[], authorization_list=[], **fees,
                                                  **common).as_signed_transaction(KEY),
    ]


def _log_sets():
    rng = random.Random(11)
    topic = 0xDDF252AD1BE2C89B69C2B068FC378DAA952BA7F163C4A11628F55A4DF523B3EF
    yield ()
    yield ((TO, (), b""),)
    yield ((TO, (topic, 1, 2**256 - 1), (10**18).to_bytes(32, "big")),)
    yield ((b"\x00" * 20, (0, 0, 0, 0), b"\x00"),)
    for _ in range(20):
        yield tuple((rng.randbytes(20), tuple(rng.randrange(2**256) for _ in range(rng.randrange(5))),
                     rng.randbytes(rng.choice([0, 1, 31, 55, 56, 300, 70_000])))
                    for _ in range(rng.randrange(1, 6)))


@pytest.mark.parametrize("transaction", _transactions(), ids=lambda tx: f"type-{tx.type_id}")
def test_a_receipt_is_the_one_py_evm_makes_with_the_same_encoding(transaction):
    for entries, (status, gas_used) in zip(_log_sets(), itertools.cycle([(b"\x01", 21_000), (b"", 2**40 + 7), (b"\x01", 0)])):
        ours = make_receipt(transaction, status, gas_used, entries)
        theirs = transaction.make_receipt(status, gas_used, entries)
        assert type(ours) is type(theirs)
        assert ours == theirs
        assert (ours.state_root, ours.gas_used, ours.bloom, ours.logs) == \
            (theirs.state_root, theirs.gas_used, theirs.bloom, theirs.logs)
        assert ours.encode() == theirs.encode()
        assert type(theirs).decode(ours.encode()) == theirs


def test_the_bloom_is_eth_blooms():
    for entries in _log_sets():
        bloomables = [item for address, topics, _ in entries
                      for item in (address, *(topic.to_bytes(32, "big") for topic in topics))]
        assert log_bloom(entries) == int(BloomFilter.from_iterable(bloomables))
    assert log_bloom(()) == 0


def test_items_encode_as_rlp_encodes_them():
    rng = random.Random(5)

    def item(depth):
        if depth > 2 or rng.random() < 0.4:
            return rng.randbytes(rng.choice([0, 1, 1, 2, 54, 55, 56, 57, 255, 256, 1_000, 70_000]))
        return [item(depth + 1) for _ in range(rng.choice([0, 1, 3, 17, 20]))]
    for _ in range(300):
        value = item(0)
        assert encode_item(value) == rlp.encode(value)
    for single in (b"\x00", b"\x7f", b"\x80", b""):
        assert encode_item(single) == rlp.encode(single)
    for value in (0, 1, 127, 128, 255, 256, 2**64, 2**256 - 1):
        assert encode_item(int_bytes(value)) == rlp.encode(value)
