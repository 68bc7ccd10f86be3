"""RLP chain files in geth's format: blocks, each RLP-encoded, one after another.

Both directions stream: import reads one block at a time from the file (a chain file may be
far larger than memory) and commits each block in its own atomic batch, so an import that
stops on a bad or truncated block leaves the head at the last good block.
"""
from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

import rlp
from eth.abc import BlockAPI, SignedTransactionAPI
from eth_utils import keccak

from kernel.chain import Chain
from node.txdecode import decode_dynamic_fee, prime_transaction

HEADER_NUMBER_INDEX = 8
HEADER_TIMESTAMP_INDEX = 11
MAX_BLOCK_BYTES = 64 << 20    # far above any real block; a larger length prefix is corruption


class ChainFileError(Exception):
    """A chain file that cannot be read or imported; the message names the block and offset."""


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


def read_rlp_items(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """(byte offset, item) for each top-level RLP item of ``stream``, read one at a time."""
    offset = 0
    while True:
        first = stream.read(1)
        if not first:
            return
        if first[0] < 0xC0:
            raise ChainFileError(f"byte {offset}: not an RLP list (a block), prefix 0x{first.hex()}")
        size_bytes = first[0] - 0xF7 if first[0] > 0xF7 else 0
        prefix = first + stream.read(size_bytes)
        header, payload = _item_length(prefix)
        if len(prefix) < header or payload > MAX_BLOCK_BYTES:
            raise ChainFileError(f"byte {offset}: truncated or corrupt RLP length prefix")
        body = stream.read(payload)
        if len(body) < payload:
            raise ChainFileError(f"byte {offset}: truncated block ({len(body)} of {payload} bytes)")
        yield offset, prefix + body
        offset += header + payload


def count_rlp_items(path: Path) -> int:
    """How many top-level items ``path`` holds, reading only their length prefixes (for a
    progress bar's total: counting a large chain file takes a fraction of importing it)."""
    count = 0
    with open(path, "rb") as stream:
        while True:
            first = stream.read(1)
            if not first:
                return count
            if first[0] < 0xC0:
                return count   # not a block: the import itself names the problem
            prefix = first + stream.read(first[0] - 0xF7 if first[0] > 0xF7 else 0)
            _, payload = _item_length(prefix)
            stream.seek(payload, 1)
            count += 1


def iter_rlp_items(blob: bytes) -> Iterator[bytes]:
    """Top-level RLP items of an in-memory ``blob``, in order."""
    import io
    for _, item in read_rlp_items(io.BytesIO(blob)):
        yield item


def decode_block(chain: Chain, raw: bytes,
                 known: Callable[[bytes], SignedTransactionAPI | None] | None = None) -> BlockAPI:
    """Decode ``raw`` with the block class of the fork its own number and timestamp select.

    ``known`` (a pool's look-up by hash) may hold some of its transactions already decoded,
    with their senders recovered: those objects are taken as they are (the same hash is the
    same signed bytes), and only the others are decoded. A validator's proposals carry what
    its pool admitted moments before: decoding each again, and hashing it to find its sender
    in the pool, took ~50 µs a transfer (an 880-transfer proposal: 34 ms, 5.4 ms now).

    Bytes that are RLP but not a block raise ValueError (bad RLP raises rlp's errors), never
    IndexError or TypeError: range sync and gossip hand peers' bytes here and catch those.
    """
    # rlp.decode with a sedes keeps ``raw`` as the block's encoding: encoding it again (a
    # committed block is gossiped on) costs nothing
    return rlp.decode(raw, sedes=_ForkBlock(chain, known))


class _ForkBlock:
    """An rlp sedes for a block of the fork its header selects (see :func:`decode_block`)."""

    def __init__(self, chain: Chain, known: Callable[[bytes], SignedTransactionAPI | None] | None) -> None:
        self.chain = chain
        self.known = known

    def deserialize(self, fields: Any) -> BlockAPI:
        try:
            header = fields[0]
            number = int.from_bytes(header[HEADER_NUMBER_INDEX], "big")
            timestamp = int.from_bytes(header[HEADER_TIMESTAMP_INDEX], "big")
        except (IndexError, TypeError) as exc:
            raise ValueError(f"not a block: {exc}") from None
        # py-evm's block and builder classes are rlp Serializables (``deserialize``) and
        # typed-transaction builders (their two classes); its ABCs declare neither
        block_class: Any = self.chain.vm_class_for(number, timestamp).get_block_class()
        if self.known is None or not isinstance(fields[1], list):
            return block_class.deserialize(fields)
        builder: Any = block_class.get_transaction_builder()
        own_types = (builder.typed_transaction, builder.legacy_signed)
        transactions = []
        for item in fields[1]:
            # a typed transaction is its encoding (type byte first), a legacy one a list of fields
            tx = self.known(keccak(item if isinstance(item, bytes) else rlp.encode(item)))
            if type(tx) not in own_types:
                tx = decode_dynamic_fee(builder, item) if isinstance(item, bytes) else None
                if tx is None:
                    tx = builder.deserialize(item)
                    if isinstance(item, bytes):
                        prime_transaction(tx, item)   # its sender, recovered faster than py-evm would
            transactions.append(tx)
        return block_class.deserialize([fields[0], [], *fields[2:]]).copy(transactions=transactions)


@contextmanager
def _quiet_rollbacks() -> Iterator[None]:
    """py-evm logs every rolled-back write batch with a traceback at ERROR; a refused block
    is an expected outcome of an import and is reported once, by the caller."""
    batch_logger = logging.getLogger("eth.db.AtomicDBWriteBatch")
    previous = batch_logger.level
    batch_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        batch_logger.setLevel(previous)


def system_calls_for_chain(chain: Chain) -> Callable[[BlockAPI], list[tuple[bytes, bytes]]]:
    """The consensus-decided system calls of each block (Azora's epoch rewards, computed from
    the signer bitmaps the blocks carry), so a chain file alone re-executes exactly."""
    if chain.genesis.azora is None or "ValidatorRegistry" not in chain.system_contracts:
        return lambda block: []
    from node.rewards import reward_system_calls
    from node.validators import ValidatorSetStore
    sets = ValidatorSetStore(chain)
    return lambda block: reward_system_calls(chain, sets, block.number, block.header.extra_data)


def import_chain(chain: Chain, path: Path, progress: Callable[[int], None] | None = None) -> int:
    """Import every block of ``path``; returns how many were new (known blocks are skipped).
    ``progress`` is called with each block's number after it is imported or skipped.

    Raises :class:`ChainFileError` at the first bad block; every block before it stays imported.
    """
    imported = 0
    system_calls_for = system_calls_for_chain(chain)
    with open(path, "rb") as stream, _quiet_rollbacks():
        for offset, raw in read_rlp_items(stream):
            try:
                block = decode_block(chain, raw)
            except (rlp.DecodingError, rlp.DeserializationError, ValueError, IndexError, TypeError) as exc:
                raise ChainFileError(f"byte {offset}: undecodable block: {exc}") from None
            if block.number == 0:
                if block.hash != chain.genesis_hash:
                    raise ChainFileError(
                        f"the chain file's genesis 0x{block.hash.hex()} differs from this "
                        f"chain's 0x{chain.genesis_hash.hex()}: wrong --genesis")
                if progress:
                    progress(0)
                continue
            if chain.chaindb.header_exists(block.hash):
                if progress:
                    progress(block.number)
                continue
            try:
                chain.import_block(block, system_calls=system_calls_for(block))
            except Exception as exc:   # ChainError, or py-evm refusing a malformed block
                raise ChainFileError(f"block #{block.number} (byte {offset}): {exc}") from exc
            imported += 1
            if progress:
                progress(block.number)
    return imported


def export_chain(chain: Chain, path: Path, first: int = 0, last: int | None = None) -> int:
    """Write canonical blocks ``first..last`` to ``path``; returns how many.

    The file appears only when complete (written beside it, then renamed).
    """
    last = chain.head.block_number if last is None else last
    tmp = Path(f"{path}.partial")
    with open(tmp, "wb") as out:
        for number in range(first, last + 1):
            out.write(rlp.encode(chain.block_of(chain.header_by_number(number))))
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
    return last - first + 1
