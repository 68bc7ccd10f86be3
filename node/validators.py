"""Validator sets per height, derived from ValidatorRegistry and kept beside the blocks.

The set of height h+1 follows from the set of height h and, when h ends an epoch, from the
registry's ``activeValidators()`` in the state after block h (consensus.block_rules). Every node
derives the same set for every height, so any commit certificate can be verified with the set
of its height alone. Derived sets are cached beside the chain; a missing one (a crash right
after a commit) is derived again.
"""
from __future__ import annotations

import threading
from typing import Protocol

import rlp
from eth.abc import BlockHeaderAPI
from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector, to_canonical_address

from consensus.block_rules import compute_next_validator_set, is_last_block_of_epoch
from consensus.types import ValidatorSet
from consensus.validator_set import Validator, new_validator_set
from kernel.chain import Chain
from kernel.schema import make_validator_set_key
from node.execution import CallArgs, Executor

ACTIVE_VALIDATORS = "0x" + function_signature_to_4byte_selector("activeValidators()").hex()
# Voting power is the bond in whole AZR: the bond in wei (1e22 for a 10,000 AZR bond) would
# overflow the int64 arithmetic of CometBFT's proposer priorities, which the engine follows.
POWER_UNIT = 10**18
PRIORITY_OFFSET = 1 << 255     # priorities are signed; RLP integers are not


def encode_validator_set(validator_set: ValidatorSet) -> bytes:
    return rlp.encode([[[v.address, v.power, v.priority + PRIORITY_OFFSET] for v in validator_set.validators],
                       validator_set.proposer])


def decode_validator_set(data: bytes) -> ValidatorSet:
    entries, proposer = rlp.decode(data)
    return ValidatorSet(tuple(Validator(address, int.from_bytes(power, "big"),
                                        int.from_bytes(priority, "big") - PRIORITY_OFFSET)
                              for address, power, priority in entries), proposer)


class ValidatorSetReader(Protocol):
    """What RPC may ask of the store: read, never write."""

    def read(self, height: int) -> ValidatorSet:
        """The set that signs block ``height`` (its parent must be on the chain)."""
        ...


class ValidatorSetStore:
    """The validator set of any height of ``chain`` (the registry is a genesis system contract).

    One store per node process, created by the node wiring and shared: consensus, sync and
    import derive and record sets (``for_height``); RPC only reads (``read``). The epoch length
    is the chain's, from its genesis.
    """

    def __init__(self, chain: Chain, *, epoch_length: int | None = None) -> None:
        """``epoch_length`` overrides the genesis's (a forked dev chain, whose genesis is the
        remote's block, fixes one validator for its life)."""
        if epoch_length is None:
            if chain.genesis.azora is None:
                raise RuntimeError("this chain has no azora section: it has no validator sets")
            epoch_length = chain.genesis.azora.epoch_length
        self.chain = chain
        self.epoch_length = epoch_length
        self.registry = chain.system_contracts.get("ValidatorRegistry")
        self._executor = Executor(chain)
        # Consensus (a worker thread), sync and RPC threads may derive at once: one at a time.
        self._lock = threading.RLock()

    def active_at(self, header: BlockHeaderAPI) -> list[tuple[bytes, int]]:
        """``activeValidators()`` in the state after ``header``'s block."""
        if self.registry is None:
            raise RuntimeError("this chain has no ValidatorRegistry: it cannot run BFT consensus")
        output = self._executor.call(header, CallArgs.parse({"to": self.registry, "data": ACTIVE_VALIDATORS}))
        addresses, powers = decode(["address[]", "uint256[]"], output)
        return [(to_canonical_address(a), int(p) // POWER_UNIT) for a, p in zip(addresses, powers)
                if int(p) >= POWER_UNIT]

    def for_height(self, height: int) -> ValidatorSet:
        """The set that signs block ``height``, derived and recorded beside the chain if needed."""
        with self._lock:
            return self._derive(height, record=True)

    def read(self, height: int) -> ValidatorSet:
        """The same set, without writing: derived in memory when it is not recorded yet."""
        with self._lock:
            return self._derive(height, record=False)

    def forget_above(self, head: int) -> None:
        """Drop the sets recorded for heights after ``head + 1`` (dev chains' rewinds): a
        regrown chain may read another registry state at its next epoch boundary."""
        with self._lock:
            height = head + 2
            while self.chain.get_aux(make_validator_set_key(height)) is not None:
                del self.chain.db[make_validator_set_key(height)]
                height += 1

    def _stored(self, height: int) -> ValidatorSet | None:
        stored = self.chain.get_aux(make_validator_set_key(height))
        return decode_validator_set(stored) if stored is not None else None

    def _derive(self, height: int, *, record: bool) -> ValidatorSet:
        stored = self._stored(height)
        if stored is not None:
            return stored
        # Walk back to the newest recorded set, then derive forward (iteratively: a fresh
        # node may derive thousands of heights).
        start = height
        while start > 1 and self.chain.get_aux(make_validator_set_key(start)) is None:
            start -= 1
        current = self._stored(start)
        if current is None:
            current = new_validator_set(self.active_at(self.chain.header_by_number(0)))
            if record:
                self.chain.set_aux(make_validator_set_key(1), encode_validator_set(current))
        for h in range(start, height):
            header = self.chain.header_by_number(h)
            active = self.active_at(header) if is_last_block_of_epoch(h, self.epoch_length) else None
            current = compute_next_validator_set(current, h, self.epoch_length, active)
            if record:
                self.chain.set_aux(make_validator_set_key(h + 1), encode_validator_set(current))
        return current
