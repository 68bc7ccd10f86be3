"""The transaction gossip message: an RLP list of raw signed transactions (``tx/2``).

py-libp2p's cost is per message (framing, signing, validation, mesh forwarding), so a node
gossips the transactions it admitted as a batch of what arrived within a short window after the
first (longer under load: :func:`gather_window`), as devp2p's ``Transactions`` message does:
one message at low load, a few hundred transactions per message under load.

A received message's gossip verdict follows from what the pool made of its transactions
(:func:`message_verdict`): the kind of each rejection says whether the peer relayed
something no honest node would.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import rlp
import trio

from node.mempool import Fault, TxRejected
from p2p import ValidationResult

MAX_TXS_PER_MESSAGE = 256
# How long a node collects its new transactions before gossiping them. Under a flood every
# message costs each peer a signature check, mesh bookkeeping and a stream read in py-libp2p:
# without a wait, each message carried the few transactions that arrived while the previous
# one went out. 100 ms (a tenth of a block interval) took a 4-validator testnet's flood on one
# endpoint from 150-155 to 181-188 finalized transfers/s (alternating runs).
GATHER_SECONDS = 0.1
# Under load, messages are what the network pays for, not transactions: with 4,000 transfers
# sent to the four validators of a testnet with blocks held back, each node gossiping what its
# RPC took in batches of 25 cost the four nodes 3.4 CPU-seconds besides decoding, 2.4 with
# waits of 0.3 s. With the senders spread over the four endpoints, four nodes gossip a quarter
# each, in four times the messages: there 0.6 s took the loops' and helpers' cost from 1.39 to
# 1.27 ms per finalized transfer (one endpoint: 1.07 to 0.99) and the spread rate from 0.60 to
# 0.63 of the machine's bound (bench/network.py, alternated runs); 0.5 s is the compromise
# with latency, and geth's wait for announced transactions. A node waits that long while
# messages of LOADED_BATCH or more (160/s arriving) follow each other; after a quiet spell it
# waits GATHER_SECONDS, so a wallet's transaction on a network that is not loaded reaches the
# next proposer as soon as before.
LOADED_GATHER_SECONDS = 0.5
LOADED_BATCH = 16


def gather_window(previous_batch: int, since_previous: float) -> float:
    """How long a message waits for more after its first transaction, given how many the
    previous message carried and how long after it went out that first one came."""
    loaded = previous_batch >= LOADED_BATCH and since_previous < GATHER_SECONDS
    return LOADED_GATHER_SECONDS if loaded else GATHER_SECONDS


async def gather_transactions(first: bytes, receive: trio.MemoryReceiveChannel[bytes],
                              seconds: float = GATHER_SECONDS) -> list[bytes]:
    """``first`` and what ``receive`` brings within ``seconds`` of it, up to MAX_TXS_PER_MESSAGE."""
    batch = [first]
    with trio.move_on_after(seconds):
        while len(batch) < MAX_TXS_PER_MESSAGE:
            batch.append(await receive.receive())
    return batch


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


class MalformedTxMessage(ValueError):
    """A tx gossip message that is not an RLP list of 1 to MAX_TXS_PER_MESSAGE raw transactions."""


def unpack_transactions(payload: bytes) -> list[bytes]:
    """The raw transactions of a tx message; :class:`MalformedTxMessage` if it is not one."""
    try:
        items = rlp.decode(payload, strict=True)
    except rlp.DecodingError as exc:
        raise MalformedTxMessage(f"not RLP: {exc}") from None
    if not isinstance(items, list) or not items:
        raise MalformedTxMessage("not a non-empty list")
    if len(items) > MAX_TXS_PER_MESSAGE:
        raise MalformedTxMessage(f"{len(items)} transactions > {MAX_TXS_PER_MESSAGE}")
    if not all(isinstance(item, bytes) and item for item in items):
        raise MalformedTxMessage("an entry is not a raw transaction")
    return items


def transaction_verdict(rejection: TxRejected | None) -> ValidationResult:
    """One gossiped transaction: ACCEPT if the pool took it (``None``), REJECT if it is
    invalid, IGNORE if the pool merely did not want it (known, stale, full...)."""
    if rejection is None:
        return ValidationResult.ACCEPT
    if rejection.fault is Fault.INVALID:
        return ValidationResult.REJECT
    return ValidationResult.IGNORE


def message_verdict(rejections: Iterable[TxRejected | None]) -> ValidationResult:
    """A tx message: REJECT if it carries a transaction no honest node would relay, ACCEPT
    (forward) if any of its transactions was new to our pool, else IGNORE."""
    verdicts = {transaction_verdict(rejection) for rejection in rejections}
    for verdict in (ValidationResult.REJECT, ValidationResult.ACCEPT):
        if verdict in verdicts:
            return verdict
    return ValidationResult.IGNORE
