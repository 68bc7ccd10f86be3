"""RLP chain files in geth's format: blocks, each RLP-encoded, one after another."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import rlp
from eth.abc import BlockAPI

from kernel.chain import Chain

HEADER_NUMBER_INDEX = 8
HEADER_TIMESTAMP_INDEX = 11


def _item_length(prefix: bytes) -> tuple[int, int]:
    """(header bytes, payload bytes) of the RLP item starting with ``prefix``."""
    first = prefix[0]
    if first < 0x80:
        return 0, 1
    if first <= 0xB7:
        return 1, first - 0x80
    if first <= 0xBF:
        size = first - 0xB7
        return 1 + size, int.from_bytes(prefix[1:1 + size], "big")
    if first <= 0xF7:
        return 1, first - 0xC0
    size = first - 0xF7
    return 1 + size, int.from_bytes(prefix[1:1 + size], "big")


def iter_rlp_items(blob: bytes) -> Iterator[bytes]:
    """Top-level RLP items of ``blob``, in order."""
    offset = 0
    while offset < len(blob):
        header, payload = _item_length(blob[offset:offset + 9])
        end = offset + header + payload
        if end > len(blob):
            raise ValueError(f"truncated RLP chain file at byte {offset}")
        yield blob[offset:end]
        offset = end


def decode_block(chain: Chain, raw: bytes) -> BlockAPI:
    fields = rlp.decode(raw)
    header = fields[0]
    number = int.from_bytes(header[HEADER_NUMBER_INDEX], "big")
    timestamp = int.from_bytes(header[HEADER_TIMESTAMP_INDEX], "big")
    block_class = chain.vm_class_for(number, timestamp).get_block_class()
    return rlp.decode(raw, sedes=block_class)


def import_chain(chain: Chain, path: Path, progress: Callable[[int], None] | None = None) -> int:
    """Import every block of ``path`` (already-known blocks are skipped); returns how many."""
    imported = 0
    for raw in iter_rlp_items(Path(path).read_bytes()):
        block = decode_block(chain, raw)
        if block.number == 0:
            if block.hash != chain.genesis_hash:
                raise ValueError("the chain file's genesis differs from this genesis")
            continue
        chain.import_block(block)
        imported += 1
        if progress:
            progress(block.number)
    return imported


def export_chain(chain: Chain, path: Path, first: int = 0, last: int | None = None) -> int:
    last = chain.head.block_number if last is None else last
    with open(path, "wb") as out:
        for number in range(first, last + 1):
            out.write(rlp.encode(chain.block_of(chain.header_by_number(number))))
    return last - first + 1
