"""py-evm's AccountDB with cheaper account writes and storage slots, for Azora's VM.

Every transaction writes four to six accounts (the sender's nonce and balance, the gas refund,
the coinbase's fee, a token contract's touch), and py-evm's AccountDB pays for each write with
``Account.copy`` (about 9 µs: rlp's Serializable re-validates every field) and
``rlp.encode(account, sedes=Account)`` (about 6.5 µs: rlp's generic encoder). Building the
account with its constructor and encoding its four fields directly cost about 1.4 µs each:
a tenth of an ERC-20 transfer's execution, a seventh of an ETH transfer's.

A contract's storage slots are read and written the same way (:class:`AzoraAccountStorageDB`).
Nothing else changes: the same validation, the same journal and cache, byte-for-byte the
same encodings (``encode_account`` and ``decode_uint`` are checked against rlp's in the tests).
"""
from __future__ import annotations

from eth.abc import AccountStorageDatabaseAPI
from eth.db.account import AccountDB
from eth.db.storage import AccountStorageDB
from eth.rlp.accounts import Account
from eth.validation import validate_canonical_address, validate_uint64, validate_uint256
from eth.vm.interrupt import MissingStorageTrieNode
from eth_typing import Address
from eth_utils import int_to_big_endian

from kernel.rlp_items import decode_uint, encode_item, int_bytes


def encode_account(account: Account) -> bytes:
    """``rlp.encode(account, sedes=Account)``: the list [nonce, balance, storage root, code
    hash]."""
    return encode_item((int_bytes(account.nonce), int_bytes(account.balance), account.storage_root, account.code_hash))


class AzoraAccountDB(AccountDB):
    """AccountDB whose writes build and encode accounts directly (see the module's docstring)."""

    def set_balance(self, address: Address, balance: int) -> None:
        validate_canonical_address(address, title="Storage Address")
        validate_uint256(balance, title="Account Balance")
        account = self._get_account(address)
        self._set_account(address, Account(account.nonce, balance, account.storage_root, account.code_hash))

    def set_nonce(self, address: Address, nonce: int) -> None:
        validate_canonical_address(address, title="Storage Address")
        validate_uint64(nonce, title="Nonce")   # py-evm allows 2**64 - 1 here, as does this
        account = self._get_account(address)
        self._set_account(address, Account(nonce, account.balance, account.storage_root, account.code_hash))

    def _set_account(self, address: Address, account: Account) -> None:
        self._account_cache[address] = account
        self._journaltrie[address] = encode_account(account)

    def _get_address_store(self, address: Address) -> AccountStorageDatabaseAPI:
        # py-evm's, with Azora's storage class
        store = self._account_stores.get(address)
        if store is None:
            store = self._account_stores[address] = AzoraAccountStorageDB(
                self._raw_store_db, self._get_storage_root(address), address)
        return store


class AzoraAccountStorageDB(AccountStorageDB):
    """py-evm's storage of one account, each slot's value decoded and encoded directly: rlp's
    decoder and encoder of one integer (its sedes machinery) cost more than the journal look-up
    itself, a third of an SLOAD. The same values, journal and errors (``decode_uint`` is
    checked against rlp's in the tests)."""

    def get(self, slot: int, from_journal: bool = True) -> int:
        self._accessed_slots.add(slot)
        lookup_db = self._journal_storage if from_journal else self._locked_changes
        try:
            encoded = lookup_db[int_to_big_endian(slot)]
        except MissingStorageTrieNode:   # a KeyError, but not an empty slot
            raise
        except KeyError:
            return 0
        return decode_uint(encoded) if encoded else 0

    def set(self, slot: int, value: int) -> None:
        if value:
            self._journal_storage[int_to_big_endian(slot)] = encode_item(int_bytes(value))
        else:
            super().set(slot, value)   # a deletion: py-evm's checks of what is there
