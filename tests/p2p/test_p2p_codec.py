"""Frames and bounded RLP decoding."""

from __future__ import annotations

import pytest
import rlp
import trio

from p2p.codec import (
    CodecError,
    FrameTooLarge,
    StreamEnded,
    decode_rlp_list,
    encode_frame,
    encode_uvarint,
    expect_uint,
    read_frame,
)


class BytesReader:
    def __init__(self, data: bytes, step: int = 3) -> None:
        self.data, self.step = data, step

    async def read(self, n: int | None = None) -> bytes:
        size = min(n or self.step, self.step)
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk


def read(data: bytes, max_size: int = 1024) -> bytes:
    return trio.run(read_frame, BytesReader(data), max_size)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("size", [0, 1, 127, 128, 300, 70000])
def test_frames_round_trip_across_varint_widths(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert read(encode_frame(payload), max_size=100000) == payload


@pytest.mark.timeout(10)
def test_invalid_frames_are_refused_before_reading_the_body() -> None:
    with pytest.raises(FrameTooLarge):
        read(encode_uvarint(2**40))
    with pytest.raises(StreamEnded):
        read(b"\x05ab")
    with pytest.raises(CodecError):
        read(b"\xff" * 11)


@pytest.mark.timeout(10)
def test_rlp_lists_are_checked_for_size_shape_and_canonical_integers() -> None:
    assert decode_rlp_list(rlp.encode([1, b"x"]), max_size=100, length=2) == [b"\x01", b"x"]
    with pytest.raises(CodecError, match="exceeds"):
        decode_rlp_list(rlp.encode([b"x" * 200]), max_size=100)
    with pytest.raises(CodecError, match="list"):
        decode_rlp_list(rlp.encode(b"x"), max_size=100)
    with pytest.raises(CodecError, match="2 items"):
        decode_rlp_list(rlp.encode([1]), max_size=100, length=2)
    with pytest.raises(CodecError, match="invalid RLP"):
        decode_rlp_list(rlp.encode([1]) + b"trailing", max_size=100)
    with pytest.raises(CodecError, match="leading zero"):
        expect_uint(b"\x00\x01", "n")
    with pytest.raises(CodecError, match="wider"):
        expect_uint(b"\x01" * 9, "n")
