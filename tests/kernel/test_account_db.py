"""Azora's account writes: the same accounts, encodings and state roots as py-evm's AccountDB."""
from __future__ import annotations

import random

import pytest
import rlp
from rlp.sedes import big_endian_int
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.rlp.accounts import Account
from eth_utils import ValidationError

from kernel.account_db import AzoraAccountDB, encode_account
from kernel.rlp_items import decode_uint

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


def _storage(db):
    """Slots written, overwritten, zeroed, reverted and read back from the journal and from
    the committed state: (what each read gave, the state root)."""
    bob = b"\x0b" * 20
    reads = []
    values = [1, 0x7F, 0x80, 0xFF, 0x100, 2**255, 2**256 - 1]
    for slot, value in enumerate(values):
        db.set_storage(bob, slot, value)
    db.set_storage(bob, 2**256 - 1, 5)
    checkpoint = db.record()
    db.set_storage(bob, 0, 0)
    db.set_storage(bob, 1, 9)
    db.set_storage(bob, 40, 0)                    # zeroing a slot never set
    reads.append([db.get_storage(bob, slot) for slot in (0, 1, 40)])
    db.discard(checkpoint)
    db.lock_changes()
    db.set_storage(bob, 3, 0)
    reads.append([db.get_storage(bob, slot) for slot in (*range(len(values)), 2**256 - 1, 99)])
    reads.append([db.get_storage(bob, slot, from_journal=False) for slot in range(len(values))])
    db.make_state_root()
    db.persist()
    return reads, db.state_root


def test_storage_reads_and_writes_are_py_evms():
    stock, azora = AccountDB(AtomicDB()), AzoraAccountDB(AtomicDB())
    assert _storage(azora) == _storage(stock)
    assert _storage(AzoraAccountDB(AtomicDB()))[0][1][:3] == [1, 0x7F, 0x80]


def test_an_integer_decodes_as_rlp_decodes_it():
    rng = random.Random(3)
    values = EDGES + [rng.randrange(2**rng.randrange(1, 257)) for _ in range(500)]
    for value in values:
        assert decode_uint(rlp.encode(value)) == value
    # non-canonical or foreign encodings: rlp's answer or rlp's error
    odd = [b"\x00", b"\x81\x05", b"\x82\x00\x01", b"\x81\x80", b"\xa1" + b"\x01" * 33, b"\xc0", b"\x83\x01",
           b"\x05\x05", b"\xb8\x38" + b"\x01" * 56, b""]
    for encoded in odd:
        try:
            expected = rlp.decode(encoded, sedes=big_endian_int)
        except Exception as exc:   # noqa: BLE001 - the type is what is compared
            with pytest.raises(type(exc)):
                decode_uint(encoded)
        else:
            assert decode_uint(encoded) == expected
