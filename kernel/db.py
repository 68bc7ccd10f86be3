"""LevelDB (plyvel) backend satisfying py-evm's ``BaseAtomicDB`` contract.

py-evm dropped its LevelDB backend; this is the small adapter the node needs. Every
``atomic_batch`` is buffered in memory (py-evm's own diff tracker) and lands in LevelDB as one
plyvel write batch, so a crash at any instant leaves either all of a block's writes or none.
"""
from __future__ import annotations

import atexit
import functools
import threading
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import plyvel
from eth.abc import AtomicWriteBatchAPI
from eth.db.atomic import AtomicDB, AtomicDBWriteBatch
from eth.db.backends.base import BaseAtomicDB, BaseDB


class _PlyvelBatchTarget(BaseDB):
    """Write-only view of a plyvel ``WriteBatch``: the target a diff is applied to."""

    def __init__(self, batch: "plyvel.WriteBatch") -> None:
        self._batch = batch
        self.written_keys: list[bytes] = []

    def __getitem__(self, key: bytes) -> bytes:
        raise NotImplementedError("a write batch target is write-only")

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._batch.put(key, value)
        self.written_keys.append(key)

    def __delitem__(self, key: bytes) -> None:
        self._batch.delete(key)
        self.written_keys.append(key)

    def _exists(self, key: bytes) -> bool:
        raise NotImplementedError("a write batch target is write-only")


class _LevelDBWriteBatch(AtomicDBWriteBatch):
    """An atomic batch whose commit is a single LevelDB write of its own writes; it reads
    through ``reads`` (LevelDB itself, or another batch's writes not yet committed)."""

    def __init__(self, leveldb: "LevelDB", reads: BaseDB | None = None) -> None:
        super().__init__(leveldb if reads is None else reads)
        self._leveldb = leveldb

    def _commit(self) -> None:
        leveldb = self._leveldb
        with leveldb.writing:
            with leveldb.raw.write_batch(transaction=True, sync=leveldb.sync) as wb:
                target = _PlyvelBatchTarget(wb)
                self._diff().apply_to(target, apply_deletes=True)
            leveldb.written(target.written_keys)


class _ClosedDatabase:
    """Where a closed LevelDB's plyvel handle was: every use fails as plyvel's would."""

    closed = True

    def __getattr__(self, name: str) -> None:
        raise RuntimeError("Database is closed")


_CLOSED = _ClosedDatabase()


def _close_at_exit(ref: "weakref.ref[LevelDB]") -> None:
    db = ref()
    if db is not None:
        db.close()


class PendingWrites:
    """A block's writes, readable (``db``) on top of LevelDB, committed at most once.

    ``over``: the writes of the parent block, executed but not committed yet; they are read
    through and never written by this batch, so they must be committed first (a child block
    is only committed on its parent)."""

    def __init__(self, leveldb: "LevelDB", over: "PendingWrites | None" = None) -> None:
        self._batch = _LevelDBWriteBatch(leveldb, over.db if over is not None else None)
        self.db: AtomicDB = AtomicDB(self._batch)
        self.done = False

    def commit(self) -> None:
        if self.done:
            raise RuntimeError("pending writes already committed or discarded")
        self.done = True
        self._batch._commit()

    def discard(self) -> None:
        self.done = True


LEVELDB_BLOCK_CACHE_BYTES = 8 << 20
LEVELDB_WRITE_BUFFER_BYTES = 4 << 20
# Files LevelDB keeps open (its default is 1,000; 74, the least it takes, keeps 64 tables
# open besides its own 10 files). Each open table is memory-mapped and its pages, once read,
# count in the node's RSS until the table is closed: with the default, a node's RSS grew with
# the chain (file-backed 48 MB at 10k blocks, 216 MB at 100k, read by a whole-chain
# eth_getLogs); with 64 tables, 47 MB and 55 MB (bench/scale.py), eth_getLogs as fast.
LEVELDB_MAX_OPEN_FILES = 74
LEVELDB_OPEN_TABLES = LEVELDB_MAX_OPEN_FILES - 10
# Values of 32-byte keys (trie nodes, code, headers: py-evm files them under their hash) kept
# as Python bytes, in two generations of at most this many entries each (a few MB in all: full
# within the first thousand blocks, so the node's memory stays flat as the chain grows).
NODE_CACHE_ENTRIES = 1 << 13


class LevelDB(BaseAtomicDB):
    """A plyvel database directory; single-key writes are immediate, batches are atomic."""

    def __init__(self, path: Path | str, *, sync: bool = False) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        # sync=False survives kill -9 (the OS has the write); only power loss can drop the
        # newest batch, and even then LevelDB's log replays whole batches or none.
        self.sync = sync
        # LevelDB's own defaults: the memtable (write buffer) and the block cache grow until
        # they reach these sizes, and at 32 MiB and 64 MiB they kept a node's RSS climbing
        # ~5 KB per produced block for tens of thousands of blocks (bench/scale.py).
        self.raw = plyvel.DB(str(path), create_if_missing=True, lru_cache_size=LEVELDB_BLOCK_CACHE_BYTES,
                             write_buffer_size=LEVELDB_WRITE_BUFFER_BYTES, max_open_files=LEVELDB_MAX_OPEN_FILES)
        # Close, and free the plyvel handle, before interpreter teardown: py-evm's trie caches
        # (class-level lru_caches of HexaryTrie and ChainDB) keep this object alive to the end,
        # and a plyvel handle freed after its modules are gone makes CPython print "Error in
        # sys.excepthook: ... Original exception was:" on every exit. A weak reference: the
        # hook must not keep the database alive either.
        self._exit_hook = functools.partial(_close_at_exit, weakref.ref(self))
        atexit.register(self._exit_hook)
        # Every state read (a block's execution, each eth_call) builds its tries afresh, so the
        # same trie nodes were fetched from LevelDB, through plyvel, again and again: hot ones
        # are kept here. Writers hold `writing` and count themselves in `_writes`; a reader
        # keeps what it fetched only if no write began meanwhile, so nothing stale is kept
        # even for a key that is not a hash.
        self.writing = threading.Lock()
        self._writes = 0
        self._young: dict[bytes, bytes] = {}
        self._old: dict[bytes, bytes] = {}

    def __getitem__(self, key: bytes) -> bytes:
        if len(key) != 32:
            value = self.raw.get(key)
        else:
            seen = self._writes   # before any look-up: a write from here on voids what we find
            value = self._young.get(key)
            if value is not None:
                return value
            value = self._old.get(key)
            if value is None:
                value = self.raw.get(key)
            if value is not None:
                self._keep(key, value, seen)
        if value is None:
            raise KeyError(key)
        return value

    def _keep(self, key: bytes, value: bytes, seen: int) -> None:
        with self.writing:
            if self._writes != seen:
                return
            self._young[key] = value
            if len(self._young) >= NODE_CACHE_ENTRIES:
                self._old, self._young = self._young, {}

    def written(self, keys: list[bytes]) -> None:
        """After a write of `keys`, under `writing`: no cached value of them is served again."""
        self._writes += 1
        for key in keys:
            if len(key) == 32:
                self._young.pop(key, None)
                self._old.pop(key, None)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        with self.writing:
            self.raw.put(key, value, sync=self.sync)
            self.written([key])

    def __delitem__(self, key: bytes) -> None:
        with self.writing:
            if self.raw.get(key) is None:
                raise KeyError(key)
            self.raw.delete(key, sync=self.sync)
            self.written([key])

    def _exists(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        with _LevelDBWriteBatch._commit_unless_raises(self) as batch:
            yield batch

    @contextmanager
    def block_batch(self) -> Iterator[AtomicDB]:
        """An atomic database for one block's writes, landing in LevelDB as one batch.

        py-evm's state persists through nested ``atomic_batch`` calls, so the batch view is
        itself wrapped as an atomic database.
        """
        with self.atomic_batch() as batch:
            yield AtomicDB(batch)

    def pending_batch(self, over: "PendingWrites | None" = None) -> "PendingWrites":
        """Writes held in memory until :meth:`PendingWrites.commit` lands them as one batch.

        Consensus executes a proposed block before it knows whether the block will commit:
        the execution's writes wait here, readable through ``.db``, and are dropped if not.
        ``over``: on top of a parent block's pending writes (a block built speculatively).
        """
        return PendingWrites(self, over)

    def iterate_prefix(self, prefix: bytes, *, start: bytes | None = None,
                       stop: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """Key/value pairs under ``prefix``, optionally bounded to [start, stop)."""
        if start is None and stop is None:
            yield from self.raw.iterator(prefix=prefix)
        elif stop is not None:
            yield from self.raw.iterator(start=prefix + (start or b""), stop=prefix + stop)
        else:   # from start to the end of the prefix, not of the database
            for key, value in self.raw.iterator(start=prefix + (start or b"")):
                if not key.startswith(prefix):
                    return
                yield key, value

    def memory_bytes(self) -> int:
        """LevelDB's own estimate of the memory it holds: its memtables and block cache (the
        mapped tables are the kernel's page cache, not counted here)."""
        value = self.raw.get_property(b"leveldb.approximate-memory-usage")
        return int(value) if value else 0

    def close(self) -> None:
        """Close the database and drop the plyvel handle (see ``__init__``: it must not be
        freed at interpreter teardown)."""
        raw, self.raw = self.raw, _CLOSED
        if not raw.closed:
            raw.close()
        atexit.unregister(self._exit_hook)
