"""The tx gossip message: batches that fit the topic's cap, and what is not one."""
from __future__ import annotations

import pytest
import rlp

from node.txgossip import MAX_TXS_PER_MESSAGE, pack_transactions, unpack_transactions


def test_batches_round_trip_and_respect_count_and_size():
    raws = [bytes([i % 256]) * (100 + i % 50) for i in range(600)]
    messages = list(pack_transactions(raws, 8_000))
    assert all(len(m) <= 8_000 for m in messages)
    assert all(len(unpack_transactions(m)) <= MAX_TXS_PER_MESSAGE for m in messages)
    assert [raw for m in messages for raw in unpack_transactions(m)] == raws
    assert len(list(pack_transactions(raws[:10], 1_000_000))) == 1


def test_a_transaction_larger_than_any_message_is_left_out():
    assert [unpack_transactions(m) for m in pack_transactions([b"a" * 50, b"b" * 5_000, b"c"], 1_000)] \
        == [[b"a" * 50, b"c"]]


@pytest.mark.parametrize("payload", [
    b"", b"\xc0", b"\x82ab", b"\xf8\xffnot rlp", rlp.encode([b"tx"]) + b"\x00",
    rlp.encode([[b"nested"]]), rlp.encode([b""]), rlp.encode([b"x"] * (MAX_TXS_PER_MESSAGE + 1))])
def test_invalid_messages_are_refused(payload):
    with pytest.raises(ValueError):
        unpack_transactions(payload)
