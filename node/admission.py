"""Decoding raw transactions and recovering their senders in a worker process.

Under load, turning a raw transaction into a py-evm object and recovering its sender cost
about 150 µs (65 µs now for a wallet's EIP-1559 transaction, node/txdecode.py), nearly all
of it Python under the GIL, the same GIL block building needs: on a busy chain,
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
from typing import Any, Sequence

from node.txdecode import decode_transaction

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
