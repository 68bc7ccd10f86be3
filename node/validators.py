"""Validator sets per height, derived from ValidatorRegistry and kept beside the blocks.

The set of height h+1 follows from the set of height h and, when h ends an epoch, from the
registry's ``activeValidators()`` in the state after block h (consensus.block_rules). Every node
derives the same set for every height, so any commit certificate can be verified with the set
of its height alone. Derived sets are cached beside the chain; a missing one (a crash right
after a commit) is derived again.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

import rlp
from eth.abc import BlockAPI, BlockHeaderAPI
from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector, to_canonical_address

from consensus.block_rules import (
    compute_epoch, compute_next_validator_set, is_last_block_of_epoch, signers_from_bitmap,
)
from consensus.types import ValidatorSet
from consensus.validator_set import Validator, new_validator_set
from kernel.chain import Chain
from kernel.schema import make_validator_set_key
from node.execution import CallArgs, Executor

logger = logging.getLogger("azora.validator")
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


# -- where this node's validator key stands ------------------------------------------------------

CANDIDATES = function_signature_to_4byte_selector("candidates(address)")
# registered, credentialId, bond, unbonding, unbondingReleaseAt, jailedUntil (then punishedUntil)
CANDIDATE_TYPES = ["bool", "uint256", "uint256", "uint256", "uint256", "uint256"]
STANDINGS = ("active", "inactive", "jailed", "unbonding")


@dataclass(frozen=True)
class ValidatorStanding:
    """Where a validator key stands for block ``height``: in the set that signs it or not, and
    why not (the registry's jail or unbonding, read in the state of the block before)."""

    address: bytes
    height: int
    epoch: int
    state: str                 # one of STANDINGS
    power: int                 # voting power at ``height`` (0 outside the set)
    jailed_until: int | None   # a timestamp, while jailed (even if still in this epoch's set)

    @property
    def in_set(self) -> bool:
        return self.state == "active"

    def describe(self) -> str:
        """The log line's verdict: "in the active set (power P)", "not in the active set",
        "jailed until ...", or "unbonding"."""
        if self.state == "active":
            where = f"in the active set (power {self.power})"
            if self.jailed_until is not None:
                where += f", jailed until {format_utc(self.jailed_until)}: leaves the set at the next epoch"
            return where
        if self.state == "jailed":
            assert self.jailed_until is not None
            return f"jailed until {format_utc(self.jailed_until)}"
        return "unbonding" if self.state == "unbonding" else "not in the active set"


def format_utc(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def compute_standing(address: bytes, height: int, epoch: int, validator_set: ValidatorSet,
                     candidate: tuple[Any, ...] | None, now: int) -> ValidatorStanding:
    """The standing from the set of ``height`` and the registry's candidate record (None:
    no registry); ``now`` is the head's timestamp. In the set wins: it signs this epoch."""
    registered, _credential, bond, unbonding, _release, jailed_until = candidate or (False, 0, 0, 0, 0, 0)
    jailed = int(jailed_until) if int(jailed_until) > now else None
    if validator_set.contains(address):
        return ValidatorStanding(address, height, epoch, "active", validator_set.power_of(address), jailed)
    if jailed is not None:
        state = "jailed"
    elif int(unbonding) > 0 and (not registered or int(bond) == 0):
        state = "unbonding"
    else:
        state = "inactive"
    return ValidatorStanding(address, height, epoch, state, 0, jailed)


class StandingTracker:
    """This node's validator key: its standing (logged at start and at every epoch, read fresh
    for metrics and RPC) and the blocks it signed and missed since the node started, counted
    from each new block's signer bitmap (extraData lists who signed its parent's commit)."""

    def __init__(self, sets: ValidatorSetStore, address: bytes) -> None:
        self.sets = sets
        self.chain = sets.chain
        self.address = address
        self.signed = 0
        self.missed = 0
        self._lock = threading.Lock()
        self._cached: ValidatorStanding | None = None

    def read(self) -> ValidatorStanding:
        """The standing for the next height (cached until the head moves)."""
        head = self.chain.head
        with self._lock:
            if self._cached is None or self._cached.height != head.block_number + 1:
                self._cached = self._read(head)
            return self._cached

    def _read(self, head: BlockHeaderAPI) -> ValidatorStanding:
        height = head.block_number + 1
        candidate = None
        if self.sets.registry is not None:
            output = self.sets._executor.call(head, CallArgs.parse({
                "to": self.sets.registry, "data": "0x" + (CANDIDATES + encode(["address"], [self.address])).hex()}))
            candidate = decode(CANDIDATE_TYPES, output[:32 * len(CANDIDATE_TYPES)])
        return compute_standing(self.address, height, compute_epoch(height, self.sets.epoch_length),
                                self.sets.read(height), candidate, head.timestamp)

    def log_standing(self) -> ValidatorStanding:
        standing = self.read()
        logger.info("validator 0x%s at #%d (epoch %d): %s", self.address.hex(), standing.height, standing.epoch,
                    standing.describe())
        return standing

    def on_block(self, block: BlockAPI) -> None:
        """A new head: count our signature of its parent, and say where we stand when it ends an epoch."""
        number = block.header.block_number
        if number >= 2:
            parent_set = self.sets.read(number - 1)
            if parent_set.contains(self.address):
                if self.address in signers_from_bitmap(parent_set, block.header.extra_data):
                    self.signed += 1
                else:
                    self.missed += 1
        if is_last_block_of_epoch(number, self.sets.epoch_length):
            self.log_standing()
