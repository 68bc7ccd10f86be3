"""The plyvel LevelDB backend passes py-evm's own database test suites, and its block batches
are all-or-nothing."""
from __future__ import annotations

import pytest
from eth.tools.db.atomic import AtomicDatabaseBatchAPITestSuite
from eth.tools.db.base import DatabaseAPITestSuite

from kernel.db import LevelDB


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
