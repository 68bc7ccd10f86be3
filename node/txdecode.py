"""One signed transaction decoded into py-evm's object, its hash and sender cached on it.

Every node decodes every transaction it is sent or gossiped and recovers its sender once: the
RPC gateway for its clients', decoder worker processes for batches and gossip
(node/admission.py), the node itself for the rest and for a proposal's transactions it does
not hold (node/chainio.py). py-evm's own path costs ~115 µs a transfer; a wallet's EIP-1559
transaction takes ~65 µs here (:func:`decode_dynamic_fee`), every other kind py-evm's decoding
with the hash and sender found from the encoding (:func:`prime_transaction`). Whatever is
decoded here is the object py-evm would have built, with the sender py-evm would recover;
what py-evm refuses is left to py-evm, to refuse with its own error.
"""
from __future__ import annotations

import functools
from typing import Any, NamedTuple

import coincurve
from eth_hash.auto import keccak
from rlp.codec import consume_length_prefix

import kernel  # noqa: F401  (eth-hash's keccak made the C one, in the decoder workers too)
from consensus.signing import address_of
from node.mempool import SECP256K1_N


def decode_transaction(builder: Any, raw: bytes) -> Any:
    """``raw`` decoded by ``builder`` (a py-evm transaction builder class), its hash and sender
    computed and cached on the object; raises what py-evm raises for either."""
    tx = decode_signed(builder, raw)
    tx.hash
    tx.sender
    return tx


def decode_signed(builder: Any, raw: bytes) -> Any:
    """``builder.decode(raw)``, with the hash and sender cached where :func:`prime_transaction`
    can; raises what py-evm raises, and ValueError for a typed transaction with an empty list
    where a number belongs, which py-evm reads as 0 and geth refuses (a block may hold one:
    py-evm's rules accept it; what a node is sent it refuses, as geth does)."""
    tx = decode_dynamic_fee(builder, raw)
    if tx is None:
        tx = builder.decode(raw)
        fields = _typed_fields(tx, raw)
        if fields is not None and fields.empty_list_for_a_number:
            raise ValueError("expected input string or bytes for a number, got an empty list")
        _prime_fields(tx, raw, fields)
    return tx


def prime_transaction(tx: Any, raw: bytes) -> None:
    """Cache ``tx.hash`` and ``tx.sender`` (and its type byte) where they can be had from
    ``raw``, the encoding ``tx`` was decoded from, faster than py-evm finds them; never raises.

    For a typed transaction both come from ``raw`` itself: py-evm encodes the object again
    to hash it (15-20 µs), and builds an unsigned copy and encodes that (25-35 µs) to find
    the message its sender signed, which is ``raw``'s own fields but the last three (y, r,
    s) under a new list header. RLP decoding is strict, so ``raw`` is the canonical encoding
    and the hash is the same, with one exception: pyrlp reads an empty list (0xC0) where a
    number belongs as 0, and py-evm signs over 0's own encoding (0x80), so such a
    transaction is left to py-evm (priming it recovered another sender than py-evm's). The
    sender is recovered by coincurve, as eth-keys does with that backend, after the same
    range checks. Anything else (a legacy transaction, a signature out of range, one
    coincurve refuses) is left to py-evm, which raises its own errors when the property is
    read.
    """
    _prime_fields(tx, raw, _typed_fields(tx, raw))


def _prime_fields(tx: Any, raw: bytes, fields: "_Fields | None") -> None:
    if fields is not None and not fields.empty_list_for_a_number and len(fields.ends) >= 4:
        _prime(tx, raw, fields.start, fields.ends[-4], tx.y_parity, tx.r, tx.s)


class _Fields(NamedTuple):
    start: int              # where the first field of the payload starts
    ends: list[int]         # where each field ends
    empty_list_for_a_number: bool   # one is 0xC0 where the transaction has a number (pyrlp: 0)


def _typed_fields(tx: Any, raw: bytes) -> _Fields | None:
    """Where the fields of ``raw``, the encoding of ``tx`` (a typed transaction py-evm
    decoded), start and end; None for a legacy transaction."""
    if not raw or raw[0] >= 0x7F:
        return None
    try:
        _, kind, length, start = consume_length_prefix(raw, 1)
        if kind is not list or start + length != len(raw):
            return None
        ends: list[int] = []
        quirk = False
        position = start
        while position < len(raw):
            quirk = quirk or (raw[position] == 0xC0 and not isinstance(tx._inner[len(ends)], tuple))
            _, _, length, first = consume_length_prefix(raw, position)
            position = first + length
            ends.append(position)
    except Exception:  # noqa: BLE001  (py-evm decides, and words the error)
        return None
    return _Fields(start, ends, quirk)


def _prime(tx: Any, raw: bytes, start: int, signed_end: int, y_parity: int, r: int, s: int) -> None:
    """Cache the hash and (if the signature is in range and recovers) the sender of ``tx``,
    decoded from ``raw``, a typed transaction whose fields start at ``start`` and whose
    signed fields end at ``signed_end``."""
    tx.__dict__["_type_byte"] = raw[:1]   # py-evm's goes through eth_utils' to_bytes (3 µs), at every encode
    tx.__dict__["hash"] = keccak(raw)
    if y_parity not in (0, 1) or not 0 <= r < SECP256K1_N or not 0 <= s < SECP256K1_N:
        return
    size = signed_end - start
    if size < 56:
        header = bytes((0xC0 + size,))
    else:
        size_bytes = size.to_bytes((size.bit_length() + 7) // 8, "big")
        header = bytes((0xF7 + len(size_bytes),)) + size_bytes
    message_hash = keccak(raw[:1] + header + raw[start:signed_end])
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((y_parity,))
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(signature, message_hash, hasher=None)
    except Exception:  # noqa: BLE001  (py-evm decides, and words the error)
        return
    tx.__dict__["sender"] = address_of(public_key)


DYNAMIC_FEE_TRANSACTION_TYPE = 2   # EIP-1559's
# An EIP-1559 transaction's fields (its payload's items, in order) that are integers; the
# others are ``to`` (5), ``data`` (7) and the access list (8).
_DYNAMIC_FEE_INTEGERS = (0, 1, 2, 3, 4, 6, 9, 10, 11)


@functools.cache
def _dynamic_fee_classes() -> tuple[Any, Any, tuple[str, ...]]:
    """py-evm's EIP-1559 payload decoder and class, and the class's field attributes
    (imported on first use: the RPC gateway imports py-evm's forks in a thread)."""
    from eth.vm.forks.london.transactions import DynamicFeePayloadDecoder, DynamicFeeTransaction

    return DynamicFeePayloadDecoder, DynamicFeeTransaction, tuple(DynamicFeeTransaction._meta.field_attrs)


def decode_dynamic_fee(builder: Any, raw: bytes) -> Any | None:
    """``builder.decode(raw)`` for the transaction wallets send, EIP-1559 with no access list,
    primed; None for any other (py-evm decodes it, and refuses what is malformed).

    py-evm's RLP decoding and its objects' field checks cost ~32 µs of a transfer's ~100 µs
    decoding and sender recovery, and every node of a network decodes every transaction it
    is gossiped. Here the payload is read in one pass under RLP's canonical rules (strict
    decoding refuses anything else, and so does this path, by leaving it to py-evm) and the
    object is built with the values py-evm's sedes would give it: the same object, field
    for field, its encoding cached as py-evm caches it."""
    if len(raw) < 2 or raw[0] != DYNAMIC_FEE_TRANSACTION_TYPE:
        return None
    typed = getattr(builder, "typed_transaction", None)   # none before Berlin
    decoder, inner_class, attrs = _dynamic_fee_classes()
    if typed is None or typed.decoders.get(DYNAMIC_FEE_TRANSACTION_TYPE) is not decoder:
        return None
    items = _flat_list(raw, 1)
    if items is None or len(items[0]) != 12:
        return None
    values, starts = items
    # the access list empty; ``to`` 20 bytes or none (a creation); ``data`` a string
    if values[8] != () or not isinstance(values[5], bytes) or len(values[5]) not in (0, 20) \
            or not isinstance(values[7], bytes):
        return None
    fields: list[Any] = list(values)
    for index in _DYNAMIC_FEE_INTEGERS:
        value = values[index]
        if not isinstance(value, bytes) or value[:1] == b"\x00":   # a list, or not minimal: py-evm refuses it
            return None
        fields[index] = int.from_bytes(value, "big")
    inner = inner_class.__new__(inner_class)
    inner.__dict__.update(zip(attrs, fields))
    inner._cached_rlp = raw[1:]
    tx = typed(DYNAMIC_FEE_TRANSACTION_TYPE, inner)
    _prime(tx, raw, starts[0], starts[9], fields[9], fields[10], fields[11])
    return tx


def _flat_list(raw: bytes, offset: int) -> tuple[list[Any], list[int]] | None:
    """The items of the RLP list that is all of ``raw[offset:]``, each a byte string or ``()``
    for an empty list (callers check which they got), with where each starts; None if an item
    is a list with items, or the encoding is not canonical or not whole (what strict RLP
    decoding refuses)."""
    end = len(raw)
    first = raw[offset]
    if first < 0xC0:
        return None
    if first <= 0xF7:
        position, length = offset + 1, first - 0xC0
    else:
        size = first - 0xF7
        position = offset + 1 + size
        if position > end or raw[offset + 1] == 0:
            return None
        length = int.from_bytes(raw[offset + 1:position], "big")
        if length < 56:
            return None
    if position + length != end:
        return None
    values: list[Any] = []
    starts: list[int] = []
    while position < end:
        starts.append(position)
        first = raw[position]
        if first < 0x80:
            values.append(raw[position:position + 1])
            position += 1
            continue
        if first == 0xC0:
            values.append(())
            position += 1
            continue
        if first <= 0xB7:
            start, length = position + 1, first - 0x80
        elif first <= 0xBF:
            start = position + 1 + first - 0xB7
            if start > end or raw[position + 1] == 0:
                return None
            length = int.from_bytes(raw[position + 1:start], "big")
            if length < 56:
                return None
        else:
            return None
        position = start + length
        if position > end or (length == 1 and raw[start] < 0x80):
            return None
        values.append(raw[start:position])
    starts.append(end)
    return values, starts
