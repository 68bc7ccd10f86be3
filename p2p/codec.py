"""Generic wire helpers: varint length-prefixed frames and bounded RLP decoding.

Payload codecs for kernel and consensus types belong to the node; this module only knows
frames, byte limits and the shape of RLP lists, so every stream reader in p2p/ bounds what a
remote peer can make it allocate before a single payload byte is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import rlp
from rlp.exceptions import DecodingError

MAX_VARINT_BYTES = 10


class CodecError(ValueError):
    """A frame or payload from a remote peer is malformed or exceeds its limit."""


class FrameTooLarge(CodecError):
    """A length prefix announces more bytes than the reader allows."""


class StreamEnded(CodecError):
    """The stream closed before a complete frame arrived."""


class ByteReader(Protocol):
    """What a frame reader needs from a stream: ``read(n)`` returning up to n bytes."""

    async def read(self, n: int | None = None) -> bytes: ...


class ByteWriter(Protocol):
    """What a frame writer needs from a stream."""

    async def write(self, data: bytes) -> None: ...


def encode_uvarint(value: int) -> bytes:
    """Encode a non-negative integer as an unsigned LEB128 varint."""
    if value < 0:
        raise ValueError("uvarint must be non-negative")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_frame(payload: bytes) -> bytes:
    """Prefix ``payload`` with its length as a uvarint."""
    return encode_uvarint(len(payload)) + payload


async def read_exactly(reader: ByteReader, n: int) -> bytes:
    """Read exactly ``n`` bytes or raise StreamEnded."""
    chunks = bytearray()
    while len(chunks) < n:
        chunk = await reader.read(n - len(chunks))
        if not chunk:
            raise StreamEnded(f"stream ended after {len(chunks)} of {n} bytes")
        chunks += chunk
    return bytes(chunks)


async def read_uvarint(reader: ByteReader) -> int:
    """Read one uvarint, rejecting encodings longer than 10 bytes."""
    value = 0
    for index in range(MAX_VARINT_BYTES):
        byte = await read_exactly(reader, 1)
        value |= (byte[0] & 0x7F) << (7 * index)
        if not byte[0] & 0x80:
            return value
    raise CodecError("uvarint longer than 10 bytes")


async def read_frame(reader: ByteReader, max_size: int) -> bytes:
    """Read one length-prefixed frame, refusing (before reading it) a body over ``max_size``."""
    length = await read_uvarint(reader)
    if length > max_size:
        raise FrameTooLarge(f"frame of {length} bytes exceeds limit of {max_size}")
    return await read_exactly(reader, length)


async def write_frame(writer: ByteWriter, payload: bytes) -> None:
    """Write ``payload`` as one length-prefixed frame."""
    await writer.write(encode_frame(payload))


def encode_rlp(items: object) -> bytes:
    """``items`` (bytes, ints, lists of them) as RLP; typed here because ``rlp`` is not."""
    encoded: bytes = rlp.encode(items)
    return encoded


def decode_rlp_list(data: bytes, max_size: int, length: int | None = None) -> list[object]:
    """Decode ``data`` as an RLP list, checking its size and optionally its item count.

    Raises CodecError for oversized input, invalid RLP, a non-list, or the wrong length, so
    handlers can answer a malformed request with one clear error.
    """
    if len(data) > max_size:
        raise CodecError(f"payload of {len(data)} bytes exceeds limit of {max_size}")
    try:
        decoded = rlp.decode(data, strict=True)
    except DecodingError as error:
        raise CodecError(f"invalid RLP: {error}") from None
    if not isinstance(decoded, list):
        raise CodecError("expected an RLP list")
    if length is not None and len(decoded) != length:
        raise CodecError(f"expected an RLP list of {length} items, got {len(decoded)}")
    return decoded


def expect_bytes(item: object, name: str, size: int | None = None) -> bytes:
    """Check that a decoded RLP item is a byte string (of ``size`` bytes when given)."""
    if not isinstance(item, bytes):
        raise CodecError(f"{name}: expected bytes")
    if size is not None and len(item) != size:
        raise CodecError(f"{name}: expected {size} bytes, got {len(item)}")
    return item


def expect_uint(item: object, name: str, max_bits: int = 64) -> int:
    """Check that a decoded RLP item is a canonical unsigned integer of at most ``max_bits``."""
    raw = expect_bytes(item, name)
    if raw.startswith(b"\x00"):
        raise CodecError(f"{name}: integer with leading zero bytes")
    value = int.from_bytes(raw, "big")
    if value.bit_length() > max_bits:
        raise CodecError(f"{name}: integer wider than {max_bits} bits")
    return value


def expect_list(item: object, name: str, max_items: int) -> Sequence[object]:
    """Check that a decoded RLP item is a list of at most ``max_items`` entries."""
    if not isinstance(item, list):
        raise CodecError(f"{name}: expected a list")
    if len(item) > max_items:
        raise CodecError(f"{name}: {len(item)} items exceeds limit of {max_items}")
    return item
