"""The plyvel LevelDB backend passes py-evm's own database test suites, and its block batches
are all-or-nothing."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from eth.tools.db.atomic import AtomicDatabaseBatchAPITestSuite
from eth.tools.db.base import DatabaseAPITestSuite

from kernel import db as db_module
from kernel.db import LEVELDB_OPEN_TABLES, LevelDB


@pytest.fixture
def leveldb(tmp_path):
    db = LevelDB(tmp_path / "db")
    yield db
    db.close()


@pytest.fixture
def db(leveldb):
    return leveldb


@pytest.fixture
def atomic_db(leveldb):
    return leveldb


class TestLevelDBDatabaseAPI(DatabaseAPITestSuite):
    """py-evm's DatabaseAPI contract on LevelDB."""


class TestLevelDBAtomicBatches(AtomicDatabaseBatchAPITestSuite):
    """py-evm's atomic-batch contract on LevelDB."""


def test_block_batch_writes_everything_on_success(leveldb):
    leveldb[b"old"] = b"1"
    with leveldb.block_batch() as batch:
        batch[b"a"] = b"A"
        with batch.atomic_batch() as nested:   # py-evm state persists through nested batches
            nested[b"b"] = b"B"
        del batch[b"old"]
    assert leveldb[b"a"] == b"A" and leveldb[b"b"] == b"B"
    assert b"old" not in leveldb


def test_invalid_block_batch_raising_writes_nothing(leveldb):
    leveldb[b"kept"] = b"1"

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with leveldb.block_batch() as batch:
            batch[b"a"] = b"A"
            with batch.atomic_batch() as nested:
                nested[b"b"] = b"B"
            del batch[b"kept"]
            raise Boom()
    assert b"a" not in leveldb and b"b" not in leveldb
    assert leveldb[b"kept"] == b"1"


def test_batch_survives_reopen(tmp_path):
    db = LevelDB(tmp_path / "db")
    with db.block_batch() as batch:
        for i in range(100):
            batch[i.to_bytes(2, "big")] = b"v%d" % i
    db.close()
    reopened = LevelDB(tmp_path / "db")
    try:
        assert all(reopened[i.to_bytes(2, "big")] == b"v%d" % i for i in range(100))
    finally:
        reopened.close()


def test_iterate_prefix_bounds(leveldb):
    for i in range(5):
        leveldb[b"p" + bytes([i])] = bytes([i])
    leveldb[b"q\0"] = b"x"
    assert [v for _, v in leveldb.iterate_prefix(b"p")] == [bytes([i]) for i in range(5)]
    assert [v for _, v in leveldb.iterate_prefix(b"p", start=b"\1", stop=b"\3")] == [b"\1", b"\2"]


def test_iterate_prefix_from_start_stays_inside_the_prefix(leveldb):
    for i in range(3):
        leveldb[b"p" + bytes([i])] = bytes([i])
    leveldb[b"q\0"] = b"x"
    assert [v for _, v in leveldb.iterate_prefix(b"p", start=b"\1")] == [b"\1", b"\2"]


# -- the read cache of 32-byte keys -------------------------------------------------------------

KEY = bytes(range(32))


def test_cached_value_is_replaced_by_every_kind_of_write(leveldb):
    leveldb[KEY] = b"one"
    assert leveldb[KEY] == b"one"                      # now cached
    leveldb[KEY] = b"two"                              # single put
    assert leveldb[KEY] == b"two"
    with leveldb.atomic_batch() as batch:              # a block's batch
        batch[KEY] = b"three"
    assert leveldb[KEY] == b"three"
    pending = leveldb.pending_batch()                  # consensus: executed, committed later
    pending.db[KEY] = b"four"
    assert leveldb[KEY] == b"three"
    pending.commit()
    assert leveldb[KEY] == b"four"
    del leveldb[KEY]
    assert KEY not in leveldb
    with pytest.raises(KeyError):
        leveldb[KEY]


def test_cache_serves_hot_keys_without_leveldb(leveldb):
    leveldb[KEY] = b"node"
    assert leveldb[KEY] == b"node"
    leveldb.raw.put(KEY, b"behind the cache's back")   # only to observe where reads come from
    assert leveldb[KEY] == b"node"
    other = b"k" * 31                                   # not a hash-sized key: never cached
    leveldb[other] = b"a"
    leveldb.raw.put(other, b"b")
    assert leveldb[other] == b"b"


def test_a_read_that_raced_a_write_is_not_kept(leveldb):
    leveldb[KEY] = b"old"
    seen = leveldb._writes            # a reader looked up the key and missed ...
    leveldb[KEY] = b"new"             # ... a writer went first ...
    leveldb._keep(KEY, b"old", seen)  # ... and the reader's stale value arrives late
    assert leveldb[KEY] == b"new"


def test_cache_is_bounded(leveldb, monkeypatch):
    monkeypatch.setattr(db_module, "NODE_CACHE_ENTRIES", 8)
    for i in range(40):
        key = i.to_bytes(32, "big")
        leveldb[key] = b"v%d" % i
        assert leveldb[key] == b"v%d" % i
    assert len(leveldb._young) + len(leveldb._old) <= 16
    assert all(leveldb[i.to_bytes(32, "big")] == b"v%d" % i for i in range(40))


def mapped_tables(directory: Path) -> int:
    """How many of the database's table files this process has memory-mapped."""
    return len({line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines()
                if line.split()[-1].startswith(str(directory)) and line.endswith(".ldb")})


def test_the_tables_kept_open_and_mapped_are_bounded(tmp_path):
    """LevelDB maps every table it keeps open, and the pages read stay in the node's RSS: with
    its default of 1,000 open tables, RSS grew with the chain (bench/scale.py). A database of
    more tables (2 MB each) than the bound, read across, keeps at most the bound mapped."""
    directory = (tmp_path / "db").resolve()
    db = LevelDB(directory)
    keys = [os.urandom(32) for _ in range(190_000)]
    for start in range(0, len(keys), 5_000):
        with db.atomic_batch() as batch:
            for key in keys[start:start + 5_000]:
                batch[key] = os.urandom(1_000) + key[:8]
    tables = len(list(directory.glob("*.ldb")))
    assert tables > LEVELDB_OPEN_TABLES + 10
    for key in keys[::5]:
        assert db[key][-8:] == key[:8]
    assert 0 < mapped_tables(directory) <= LEVELDB_OPEN_TABLES
    db.close()
