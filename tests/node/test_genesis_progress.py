"""Building a large genesis reports its progress: the alloc's trie is updated in chunks (the
state and the database end as with one update) and each chunk advances a bar on a terminal or,
in a log file, a plain line with rate and ETA; a small genesis shows nothing."""
from __future__ import annotations

import io
import logging
from pathlib import Path

from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth_utils import to_canonical_address

from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Account, Genesis, write_alloc
from node.accounts import DEV_MNEMONIC, derive_accounts
from node.progress import GENESIS_PROGRESS_MIN_ACCOUNTS, genesis_progress
from node.service import dev_genesis

VALIDATOR = bytes.fromhex("6D58073AeeB28068c5925D618DA9f4c4F35727b3")


def alloc_of(count: int) -> dict[bytes, Account]:
    return {to_canonical_address(f"0x{index + 1:040x}"):
            Account(balance=index + 1, nonce=index % 3, code=b"\x60\x00" if index % 5 == 0 else b"",
                    storage={1: index} if index % 7 == 0 else {})
            for index in range(count)}


def written(alloc: dict[bytes, Account], chunk: int) -> tuple[bytes, dict[bytes, bytes]]:
    memory = MemoryDB()
    accounts = AccountDB(AtomicDB(memory))
    counts: list[int] = []
    write_alloc(accounts, alloc, counts.append, chunk=chunk)
    accounts.persist()
    assert sum(counts) == len(alloc)
    return accounts.state_root, dict(memory.kv_store)


def test_a_chunked_alloc_leaves_the_same_root_and_database_as_one_update():
    alloc = alloc_of(250)
    chunked_root, chunked = written(alloc, chunk=7)
    root, whole = written(alloc, chunk=10**9)
    assert chunked_root == root
    # every node of the one update, and at most a stale node per chunk the trie did not prune
    assert chunked.items() >= whole.items()
    assert len(chunked) - len(whole) <= len(alloc) // 7 + 1


def big_genesis(accounts: int) -> Genesis:
    data = dev_genesis(derive_accounts(DEV_MNEMONIC, 2), chain_id=1337, balance_wei=10**21,
                       validator=VALIDATOR)
    data["alloc"].update({f"0x{index + 10**6:040x}": {"balance": "0x1"} for index in range(accounts)})
    return Genesis.from_json(data)


def test_a_large_genesis_logs_its_progress_when_not_on_a_terminal(tmp_path: Path, caplog):
    genesis = big_genesis(GENESIS_PROGRESS_MIN_ACCOUNTS)
    total = len(genesis.alloc)
    log_file = io.StringIO()          # not a terminal: log lines, no bar
    with caplog.at_level(logging.INFO, logger="azora.progress"):
        with genesis_progress(total, stream=log_file, every=0) as progress:
            built = Chain(LevelDB(tmp_path / "db"), genesis, genesis_progress=progress)
            head = built.genesis_hash
        built.db.close()
        # only the progress logger's: a test before may have left the chain's INFO lines on
        lines = [r.getMessage() for r in caplog.records if r.name == "azora.progress"]
        assert [line.split(" (")[0] for line in lines] == \
            [f"building genesis: {done}/{total} accounts" for done in (1000, 2000, total)]
        assert all(" accounts/s, ETA " in line for line in lines)
        assert log_file.getvalue() == ""
        # a restart rebuilds the genesis to check it, and shows it again
        caplog.clear()
        with genesis_progress(total, stream=log_file, every=0) as progress:
            reopened = Chain(LevelDB(tmp_path / "db"), genesis, genesis_progress=progress)
        assert reopened.genesis_hash == head
        reopened.db.close()
        assert len([r for r in caplog.records if r.name == "azora.progress"]) == 3


def test_a_small_genesis_shows_nothing():
    with genesis_progress(GENESIS_PROGRESS_MIN_ACCOUNTS - 1) as progress:
        assert progress is None
