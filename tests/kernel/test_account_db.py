"""Azora's account writes: the same accounts, encodings and state roots as py-evm's AccountDB."""
from __future__ import annotations

import random

import pytest
import rlp
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.rlp.accounts import Account
from eth_utils import ValidationError

from kernel.account_db import AzoraAccountDB, encode_account

EDGES = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 2**64 - 1, 2**255, 2**256 - 1]


def test_an_account_encodes_as_rlp_encodes_it():
    rng = random.Random(7)
    roots = [BLANK_ROOT_HASH, EMPTY_SHA3, bytes(32), rng.randbytes(32)]
    accounts = [Account(nonce, balance, root, code) for nonce in EDGES[:7] for balance in EDGES
                for root in roots[:2] for code in roots[1:3]]
    accounts += [Account(rng.randrange(2**64), rng.randrange(2**rng.randrange(1, 257)), rng.randbytes(32),
                         rng.randbytes(32)) for _ in range(500)]
    for account in accounts:
        assert encode_account(account) == rlp.encode(account, sedes=Account), account


def _writes(db):
    alice, bob = b"\x0a" * 20, b"\x0b" * 20
    db.set_balance(alice, 10**24)
    db.set_nonce(alice, 1)
    db.increment_nonce(alice)
    db.set_balance(alice, db.get_balance(alice) - 21_000 * 10**9)
    db.set_balance(bob, 1)
    db.set_code(bob, b"\x60\x00")
    db.set_storage(bob, 1, 2)
    db.touch_account(bob)
    db.set_nonce(bob, 2**64 - 1)
    db.make_state_root()
    db.persist()
    return db.state_root


def test_writes_leave_the_state_root_py_evm_leaves():
    stock, azora = AccountDB(AtomicDB()), AzoraAccountDB(AtomicDB())
    assert _writes(azora) == _writes(stock) != BLANK_ROOT_HASH
    alice = b"\x0a" * 20
    assert (azora.get_nonce(alice), azora.get_balance(alice)) == (2, 10**24 - 21_000 * 10**9)


@pytest.mark.parametrize("write", [
    lambda db: db.set_balance(b"\x0a" * 20, -1),
    lambda db: db.set_balance(b"\x0a" * 20, 2**256),
    lambda db: db.set_nonce(b"\x0a" * 20, 2**64),
    lambda db: db.set_balance(b"\x0a" * 19, 1),
])
def test_out_of_range_writes_are_refused_as_py_evm_refuses_them(write):
    for db in (AccountDB(AtomicDB()), AzoraAccountDB(AtomicDB())):
        with pytest.raises(ValidationError):
            write(db)
