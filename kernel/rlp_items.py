"""RLP encoding of byte strings and nested lists of them, for the kernel's hot paths.

``rlp.encode`` infers a serializer for every item and ``rlp.encode_raw`` asks an abstract
base class of each (``isinstance(item, Atomic)``, ``Sequence``), which is most of what
encoding an account, a receipt or a trie node costs. Where the kernel already holds the
items as bytes it encodes them here: byte for byte rlp's encoding (the tests check it).
"""
from __future__ import annotations

from typing import Sequence, Union

import rlp
from rlp.sedes import big_endian_int

Item = Union[bytes, Sequence["Item"]]


def int_bytes(value: int) -> bytes:
    """An RLP integer's bytes: big-endian, no leading zeros, empty for 0."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _prefix(length: int, offset: int) -> bytes:
    if length <= 55:
        return bytes((offset + length,))
    size = int_bytes(length)
    return bytes((offset + 55 + len(size),)) + size


def encode_item(item: Item) -> bytes:
    """``rlp.encode_raw(item)`` for bytes and (nested) lists or tuples of them."""
    if isinstance(item, bytes):
        return _string(item)
    payload = b"".join([_string(child) if isinstance(child, bytes) else encode_item(child) for child in item])
    if len(payload) <= 55:
        return bytes((0xC0 + len(payload),)) + payload
    return _prefix(len(payload), 0xC0) + payload


def _string(item: bytes) -> bytes:
    if len(item) == 1 and item[0] < 0x80:
        return item
    if len(item) <= 55:
        return bytes((0x80 + len(item),)) + item
    return _prefix(len(item), 0x80) + item


def decode_uint(encoded: bytes) -> int:
    """``rlp.decode(encoded, sedes=big_endian_int)``: an integer's canonical encoding (a single
    byte under 0x80, or a string of up to 32 bytes without leading zeros that is not such a
    byte) read directly; anything else through rlp, which decodes it or raises its error."""
    first = encoded[0] if encoded else 0
    if len(encoded) == 1 and 0 < first < 0x80:
        return first
    length = first - 0x80
    if 0 <= length <= 32 and len(encoded) == 1 + length and (
            length == 0 or encoded[1] != 0 and (length > 1 or encoded[1] >= 0x80)):
        return int.from_bytes(encoded[1:], "big")
    return rlp.decode(encoded, sedes=big_endian_int)
