"""The transaction gossip message: an RLP list of raw signed transactions (``tx/2``).

py-libp2p's cost is per message (framing, signing, validation, mesh forwarding), so a node
gossips the transactions it admitted as a batch of whatever queued up meanwhile, as devp2p's
``Transactions`` message does: one message at low load, a few hundred transactions per
message under load.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import rlp

MAX_TXS_PER_MESSAGE = 256


def pack_transactions(raws: Sequence[bytes], max_bytes: int) -> Iterator[bytes]:
    """``raws`` as tx messages of at most MAX_TXS_PER_MESSAGE transactions and ``max_bytes``
    bytes each (a transaction too large for any message is left out: no peer would take it)."""
    batch: list[bytes] = []
    size = 0
    for raw in raws:
        item = len(rlp.encode(raw))
        if item + 9 > max_bytes:   # 9: the largest list header
            continue
        if batch and (len(batch) == MAX_TXS_PER_MESSAGE or size + item + 9 > max_bytes):
            yield rlp.encode(batch)
            batch, size = [], 0
        batch.append(raw)
        size += item
    if batch:
        yield rlp.encode(batch)


def unpack_transactions(payload: bytes) -> list[bytes]:
    """The raw transactions of a tx message; ValueError if it is not one."""
    try:
        items = rlp.decode(payload, strict=True)
    except rlp.DecodingError as exc:
        raise ValueError(f"not RLP: {exc}") from None
    if not isinstance(items, list) or not items:
        raise ValueError("not a non-empty list")
    if len(items) > MAX_TXS_PER_MESSAGE:
        raise ValueError(f"{len(items)} transactions > {MAX_TXS_PER_MESSAGE}")
    if not all(isinstance(item, bytes) and item for item in items):
        raise ValueError("an entry is not a raw transaction")
    return items
