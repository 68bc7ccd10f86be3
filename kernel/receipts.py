"""A transaction's receipt, made with its bloom and encoding in one step.

py-evm makes a receipt from the transaction's logs through ``eth_bloom`` (about 30 µs for an
ERC-20 transfer's one log of three topics: four Keccak hashes and a generator per bit) and
encodes it later, for the block's receipts root, through rlp's generic encoder (another
30 µs): together a tenth of executing the transfer. Here the bloom's bits are set straight
from the hashes, and the encoding is made from the fields at hand and left in the receipt's
rlp cache, where ``receipt.encode()`` finds it.

The receipt is py-evm's own object (the same class, fields and equality), and its bloom and
encoding are byte for byte py-evm's and rlp's: the tests make receipts of every transaction
type both ways and compare them.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence, cast

from eth.abc import ReceiptAPI, SignedTransactionAPI
from eth.rlp.logs import Log
from eth.rlp.receipts import Receipt
from eth_hash.auto import keccak
from rlp import Serializable

from kernel.rlp_items import encode_item, int_bytes

LogEntry = tuple[bytes, tuple[int, ...], bytes]   # (address, topics, data), as a computation gives them

_BLOOM_BITS = 2047


def log_bloom(log_entries: Iterable[LogEntry]) -> int:
    """The 2048-bit bloom of logs (the yellow paper's M3:2048): for the address and each
    32-byte topic, three bits chosen by the first three pairs of bytes of its Keccak hash."""
    bloom = 0
    for address, topics, _ in log_entries:
        for item in (address, *(topic.to_bytes(32, "big") for topic in topics)):
            h = keccak(item)
            bloom |= (1 << ((h[0] << 8 | h[1]) & _BLOOM_BITS)) | (1 << ((h[2] << 8 | h[3]) & _BLOOM_BITS)) \
                | (1 << ((h[4] << 8 | h[5]) & _BLOOM_BITS))
    return bloom


def make_receipt(transaction: SignedTransactionAPI, status: bytes, gas_used: int,
                 log_entries: Sequence[LogEntry]) -> ReceiptAPI:
    """What ``transaction.make_receipt(status, gas_used, log_entries)`` makes, its encoding
    cached: a legacy transaction's receipt is the rlp list itself, a typed one's wraps it."""
    bloom = log_bloom(log_entries)
    # Receipt's own __init__ only computes the bloom when it is not given and hands its fields
    # to rlp's by keyword (matched against the field names: 2 µs); rlp's, positionally
    inner = cast(Any, Receipt).__new__(Receipt)   # py-evm declares it abstract (ReceiptAPI); it is not
    Serializable.__init__(inner, status, gas_used, bloom, [Log(address, topics, data) for address, topics, data in log_entries])
    inner._cached_rlp = encode_item((
        status, int_bytes(gas_used), bloom.to_bytes(256, "big"),
        [(address, [topic.to_bytes(32, "big") for topic in topics], data) for address, topics, data in log_entries],
    ))
    type_id = getattr(transaction, "type_id", None)
    if type_id is None:
        return inner
    typed = transaction.receipt_builder.typed_receipt_class(type_id, inner)  # type: ignore[attr-defined]
    typed.__dict__["_type_byte"] = bytes((type_id,))   # py-evm's cached property, through eth_utils' to_bytes: 3 µs
    return typed
