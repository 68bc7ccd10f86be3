"""Decoding raw transactions and recovering their senders in a worker process.

Under load, turning a raw transaction into a py-evm object and recovering its sender cost
about 150 µs (65 µs now for a wallet's EIP-1559 transaction, :func:`decode_dynamic_fee`),
nearly all of it Python under the GIL, the same GIL block building needs: on a busy chain,
admission took a third of the node's time away from execution. Batches of raw
transactions (a JSON-RPC batch of ``eth_sendRawTransaction``) are therefore decoded by a
worker process, which sends each transaction back pickled with its sender and hash already
computed: unpickling costs the node about 7 µs.

The worker only warms objects up. Anything it cannot decode comes back as None and the
caller decodes it itself, so every error is raised, worded and counted exactly as before;
a worker that dies or hangs is replaced and its batch decoded in the node.

The RPC gateway (node/rpc/gateway.py) decodes the transactions of the requests it passes on
the same way, and the node finds them in :data:`decoded_ahead` while it answers the request.
"""
from __future__ import annotations

import concurrent.futures
import functools
import importlib
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from contextvars import ContextVar
from typing import Any, NamedTuple, Sequence

import coincurve
from eth_hash.auto import keccak
from rlp.codec import consume_length_prefix

import kernel  # noqa: F401  (eth-hash's keccak made the C one, in the decoder workers too)
from consensus.signing import address_of
from node.mempool import SECP256K1_N

logger = logging.getLogger("azora.admission")

MIN_BATCH = 16            # fewer raw transactions decode faster in the node than a round trip
RESULT_TIMEOUT = 30.0     # seconds; a worker slower than this is presumed stuck
RETRY_AFTER = 60.0        # seconds before starting workers again after they failed

# (builder path, {raw transaction: pickled decoded transaction}): what the RPC gateway decoded
# of the request being answered, in that request's context.
decoded_ahead: ContextVar[tuple[tuple[str, str], dict[bytes, bytes]] | None] = ContextVar("decoded_ahead", default=None)


def builder_path(builder: type) -> tuple[str, str]:
    """How a worker or the gateway names a transaction builder class to import it."""
    return builder.__module__, builder.__qualname__


def take_decoded_ahead(builder: type, raw: bytes) -> Any | None:
    """``raw`` as the gateway decoded it with ``builder`` for the current request, if it did."""
    ahead = decoded_ahead.get()
    if ahead is None or ahead[0] != builder_path(builder):
        return None
    pickled = ahead[1].pop(raw, None)
    return pickle.loads(pickled) if pickled is not None else None


class TxDecoder:
    """Decodes raw transactions in ``workers`` processes, started (in the background) by the
    first batch large enough to need them."""

    def __init__(self, workers: int | None = None, *, retry_after: float = RETRY_AFTER) -> None:
        self.workers = workers or max(1, min(4, (os.cpu_count() or 2) - 1))
        self.retry_after = retry_after
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._ready: concurrent.futures.Future[list[bytes | None]] | None = None   # the workers have started
        self._retry_at = 0.0
        self._lock = threading.Lock()
        self._closed = False
        self.decoded = 0          # transactions the workers decoded (a metric)
        self.senders_recovered = 0   # synced transactions whose senders the workers recovered (a metric)
        self.failures = 0         # workers that died or hung (a metric)

    def decode_many(self, builder: type, raws: Sequence[bytes]) -> list[Any | None]:
        """Per raw transaction, decoded by ``builder`` (a py-evm transaction builder class)
        with its sender and hash cached, or None where the caller must decode it itself
        (small batches, undecodable input, workers not up)."""
        if len(raws) < MIN_BATCH or self._closed:
            return [None] * len(raws)
        pool = self._executor()
        if pool is None:
            return [None] * len(raws)   # not started yet (a second or so): the node decodes
        path = builder_path(builder)
        size = -(-len(raws) // self.workers)
        chunks = [list(raws[i:i + size]) for i in range(0, len(raws), size)]
        try:
            futures = [pool.submit(_decode_chunk, path, chunk) for chunk in chunks]
            pickled = [item for future in futures for item in future.result(RESULT_TIMEOUT)]
        except (BrokenProcessPool, concurrent.futures.TimeoutError, RuntimeError, OSError) as exc:
            logger.warning("transaction decoder worker failed (%s); decoding in the node", exc or type(exc).__name__)
            self._reset(pool)
            return [None] * len(raws)
        out = [pickle.loads(item) if item is not None else None for item in pickled]
        self.decoded += sum(tx is not None for tx in out)
        return out

    def start(self) -> None:
        """Start the workers now (in the background), rather than on the first batch."""
        self._executor()

    def submit_senders(self, builder: type, raw_block: bytes) -> "concurrent.futures.Future[list[bytes | None]] | None":
        """Start recovering the senders of an encoded block's transactions (``builder``
        decodes them) in a worker: a future of one sender (or None) per transaction, or None
        when the workers are not up. Range sync recovers the next blocks' senders while the
        current one executes."""
        if self._closed:
            return None
        pool = self._executor()
        if pool is None:
            return None
        try:
            return pool.submit(_block_senders, builder_path(builder), raw_block)
        except (BrokenProcessPool, RuntimeError, OSError) as exc:
            logger.warning("transaction decoder worker failed (%s)", exc or type(exc).__name__)
            self._reset(pool)
            return None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor | None:
        """The worker pool once it is up; starts it (without waiting) on first use."""
        with self._lock:
            if self._pool is None and not self._closed and time.monotonic() >= self._retry_at:
                try:
                    # spawn, not fork: the node's process runs threads and a trio loop.
                    self._pool = concurrent.futures.ProcessPoolExecutor(
                        self.workers, mp_context=multiprocessing.get_context("spawn"),
                        initializer=_worker_init, initargs=(os.getpid(),))
                    self._ready = self._pool.submit(_decode_chunk, None, [])
                except (OSError, RuntimeError) as exc:
                    logger.warning("cannot start a transaction decoder worker: %s", exc)
                    return None
            if self._ready is None or not self._ready.done():
                return None
            return self._pool

    def _reset(self, broken: concurrent.futures.ProcessPoolExecutor) -> None:
        with self._lock:
            self.failures += 1
            if self._pool is broken:
                self._pool, self._ready = None, None
                self._retry_at = time.monotonic() + self.retry_after
        # A stuck worker would outlive shutdown(): kill them (3.11 has no public way).
        processes = getattr(broken, "_processes", None) or {}
        for process in list(processes.values()):
            process.kill()
        broken.shutdown(wait=False, cancel_futures=True)


# -- decoding one transaction ----------------------------------------------------------------

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


# -- in the worker process ------------------------------------------------------------------

def _worker_init(parent_pid: int) -> None:
    from node.runtime import use_helper_cpus

    use_helper_cpus()       # off the core of a node that pinned itself (--cpu.pin)
    # Ctrl-C reaches the whole process group: the node shuts its workers down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A node killed with -9 cannot: a worker whose parent is gone exits on its own.
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()


def _exit_with_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(0)


_builders: dict[tuple[str, str], Any] = {}


def _builder(path: tuple[str, str]) -> Any:
    builder = _builders.get(path)
    if builder is None:
        builder = importlib.import_module(path[0])
        for name in path[1].split("."):
            builder = getattr(builder, name)
        _builders[path] = builder
    return builder


def _block_senders(path: tuple[str, str], raw_block: bytes) -> list[bytes | None]:
    """The sender of each transaction of an encoded block, None where it cannot be recovered
    (the node's own execution then fails the block as it would have)."""
    import rlp

    out: list[bytes | None] = []
    builder = _builder(path)
    for item in rlp.decode(raw_block)[1]:   # [header, transactions, ...]
        try:
            if isinstance(item, bytes):   # typed: its encoding
                out.append(bytes(decode_transaction(builder, item).sender))
            else:                         # legacy: its fields
                out.append(bytes(builder.deserialize(item).sender))
        except Exception:  # noqa: BLE001
            out.append(None)
    return out


def _decode_chunk(path: tuple[str, str] | None, raws: list[bytes]) -> list[bytes | None]:
    if path is None:   # the warm-up call: once py-evm is imported, the worker is ready
        importlib.import_module("eth.vm.forks")
        return []
    builder = _builder(path)
    out: list[bytes | None] = []
    for raw in raws:
        try:
            tx = decode_transaction(builder, raw)   # hash and sender cached: the pool reads them, the block builder too
        except Exception:  # the node decodes it again and reports the error itself
            out.append(None)
            continue
        out.append(pickle.dumps(tx, protocol=pickle.HIGHEST_PROTOCOL))
    return out
