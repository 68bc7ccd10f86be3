"""Fork mode's state: accounts and slots never written locally are read from a remote chain.

The kernel does no networking: a :class:`RemoteStateSource` (the node's JSON-RPC client) is
handed in. Every remote read is pinned to one block (the fork block), so it answers the same
thing every time, and :class:`CachedStateSource` keeps each answer in the datadir's LevelDB so a
restart or a replay reads the same values without asking again.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, MutableMapping, Protocol

import rlp
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth.rlp.accounts import Account
from eth_typing import Address
from eth_utils import keccak

from kernel.account_db import AzoraAccountDB
from kernel.forks import ForkSchedule
from kernel.genesis import Account as GenesisAccount, Genesis

CACHE_PREFIX = b"azora-fork:cache:"
# Marks a slot written on the fork (kept in the state's journal, so a reverted frame drops it):
# from then on the local value, zero included, is the slot's value.
LOCAL_SLOT_PREFIX = b"azora-fork:slot:"


@dataclass(frozen=True)
class RemoteAccount:
    nonce: int
    balance: int
    code: bytes

    @property
    def is_empty(self) -> bool:
        return self.nonce == 0 and self.balance == 0 and not self.code


class RemoteStateSource(Protocol):
    """Reads of another chain's state at a given block (e.g. JSON-RPC ``eth_get*``)."""

    def account(self, address: bytes, block: int) -> RemoteAccount:
        """Nonce, balance and code of ``address`` after block ``block``."""
        ...

    def storage(self, address: bytes, slot: int, block: int) -> int:
        """The value of storage ``slot`` of ``address`` after block ``block``."""
        ...


class CachedStateSource:
    """A source whose answers are kept in ``db`` (keyed by block, address and slot)."""

    def __init__(self, source: RemoteStateSource, db: MutableMapping[bytes, bytes]) -> None:
        self._source = source
        self._db = db

    def account(self, address: bytes, block: int) -> RemoteAccount:
        key = CACHE_PREFIX + b"a" + block.to_bytes(8, "big") + address
        cached = self._get(key)
        if cached is not None:
            nonce, balance, code = rlp.decode(cached)
            return RemoteAccount(_int(nonce), _int(balance), code)
        account = self._source.account(address, block)
        self._db[key] = rlp.encode([account.nonce, account.balance, account.code])
        return account

    def storage(self, address: bytes, slot: int, block: int) -> int:
        key = CACHE_PREFIX + b"s" + block.to_bytes(8, "big") + address + slot.to_bytes(32, "big")
        cached = self._get(key)
        if cached is not None:
            return _int(cached)
        value = self._source.storage(address, slot, block)
        self._db[key] = value.to_bytes(32, "big").lstrip(b"\0")
        return value

    def _get(self, key: bytes) -> bytes | None:
        try:
            return self._db[key]
        except KeyError:
            return None


def _int(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


class ForkAccountDB(AzoraAccountDB):
    """py-evm's AccountDB (with Azora's cheaper writes) over a local state that falls back to the
    fork's remote state.

    An account missing from the local trie is the remote's account at the fork block (its code
    is stored locally under its hash, its storage read slot by slot); a slot never written
    locally is the remote's slot. Known limit: an account deleted locally (EIP-158 touch of an
    empty account, SELFDESTRUCT in its creating transaction) reads as the remote's again.
    """

    source: ClassVar[RemoteStateSource]
    fork_block: ClassVar[int]

    def _get_encoded_account(self, address: Address, from_journal: bool = True) -> bytes:
        encoded = super()._get_encoded_account(address, from_journal)
        if encoded:
            return encoded
        remote = self.source.account(address, self.fork_block)
        if remote.is_empty:
            return b""
        code_hash = keccak(remote.code) if remote.code else EMPTY_SHA3
        if remote.code:
            self._journaldb[code_hash] = remote.code   # content-addressed: safe to keep
        return rlp.encode(Account(remote.nonce, remote.balance, BLANK_ROOT_HASH, code_hash), sedes=Account)

    def get_storage(self, address: Address, slot: int, from_journal: bool = True) -> int:
        value = super().get_storage(address, slot, from_journal)
        if value or self._is_local_slot(address, slot):
            return value
        if not self.source.account(address, self.fork_block).code:
            return 0   # only contracts hold storage; spares a remote read per fresh address
        return self.source.storage(address, slot, self.fork_block)

    def set_storage(self, address: Address, slot: int, value: int) -> None:
        super().set_storage(address, slot, value)
        self._journaldb[_local_slot_key(address, slot)] = b"\x01"

    def _is_local_slot(self, address: Address, slot: int) -> bool:
        return self._journaldb.exists(_local_slot_key(address, slot))


def _local_slot_key(address: bytes, slot: int) -> bytes:
    return LOCAL_SLOT_PREFIX + address + slot.to_bytes(32, "big")


def fork_account_db_class(source: RemoteStateSource, fork_block: int) -> type[ForkAccountDB]:
    """An AccountDB class bound to ``source`` at ``fork_block`` (py-evm builds the AccountDB
    from the class alone, so the binding lives on the class)."""
    return type("BoundForkAccountDB", (ForkAccountDB,), {"source": source, "fork_block": fork_block})


def forked_vm_class(vm_class: Any, account_db_class: type[ForkAccountDB]) -> Any:
    """``vm_class`` whose state reads through ``account_db_class``."""
    state_class = type(f"Forked{vm_class._state_class.__name__}", (vm_class._state_class,),
                       {"account_db_class": account_db_class})
    return type(f"Forked{vm_class.__name__}", (vm_class,), {"_state_class": state_class})


def forked_schedule(schedule: ForkSchedule, source: RemoteStateSource, fork_block: int) -> ForkSchedule:
    """``schedule`` with every VM's state reading through the remote at ``fork_block``."""
    account_db_class = fork_account_db_class(source, fork_block)

    def wrap(pairs: tuple[tuple[int, Any], ...]) -> tuple[tuple[int, Any], ...]:
        return tuple((activation, forked_vm_class(vm, account_db_class)) for activation, vm in pairs)
    return ForkSchedule(wrap(schedule.by_number), wrap(schedule.by_time))


def fork_genesis(chain_id: int, schedule: ForkSchedule, source: RemoteStateSource, *, number: int,
                 timestamp: int, gas_limit: int, base_fee_per_gas: int,
                 balances: Mapping[bytes, int]) -> Genesis:
    """The local base of a fork: block ``number`` with the remote's header fields, its state the
    remote's with ``balances`` (the dev accounts') written locally over the remote's, nonces kept.

    Its parent hash is zero: py-evm persists a header without a stored parent only as a
    genesis, so BLOCKHASH of blocks at or below the fork reads zero on the fork.
    """
    header = {"block_number": number, "timestamp": timestamp, "gas_limit": gas_limit,
              "base_fee_per_gas": base_fee_per_gas, "extra_data": b"", "difficulty": 0,
              "nonce": b"\0" * 8, "mix_hash": b"\0" * 32, "coinbase": b"\0" * 20}
    alloc = {Address(address): GenesisAccount(balance=balance, nonce=source.account(address, number).nonce)
             for address, balance in balances.items()}
    raw = {"config": {"chainId": chain_id}, "fork": {"number": number}}
    return Genesis(chain_id, schedule, alloc, header, None, raw)
