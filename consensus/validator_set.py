"""Validator sets and CometBFT's weighted proposer-priority rotation.

This mirrors CometBFT ``types/validator_set.go`` exactly (integer arithmetic, Go's truncating
division, int64 clipping, tie-break by lower address), so any implementation of the same
algorithm picks the same proposer. The set at height h+1 is ``advance_validator_set`` of the
set at height h (one priority increment per block); the proposer of round r at height h is the
proposer of the set at h incremented r more times.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Iterable

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
MAX_TOTAL_VOTING_POWER = INT64_MAX // 8
PRIORITY_WINDOW_SIZE_FACTOR = 2


@dataclass(frozen=True)
class Validator:
    """One validator: 20-byte address, voting power, and proposer priority."""

    address: bytes
    power: int
    priority: int = 0


@dataclass(frozen=True)
class ValidatorSet:
    """An immutable validator set, sorted by power (descending) then address (ascending).

    ``proposer`` is the proposer of round 0 at the height this set belongs to.
    """

    validators: tuple[Validator, ...]
    proposer: bytes

    def __post_init__(self) -> None:
        # Derived lookups, computed once: the engine asks for powers on every vote.
        object.__setattr__(self, "_powers", {v.address: v.power for v in self.validators})
        object.__setattr__(self, "_total", sum(v.power for v in self.validators))
        object.__setattr__(self, "_hash", hash((self.validators, self.proposer)))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined]

    @property
    def total_power(self) -> int:
        return self._total  # type: ignore[attr-defined]

    def power_of(self, address: bytes) -> int:
        """Voting power of ``address``; 0 when it is not in the set."""
        return self._powers.get(address, 0)  # type: ignore[attr-defined]

    def contains(self, address: bytes) -> bool:
        return address in self._powers  # type: ignore[attr-defined]

    @property
    def addresses(self) -> tuple[bytes, ...]:
        return tuple(v.address for v in self.validators)


def _clip(value: int) -> int:
    return max(INT64_MIN, min(INT64_MAX, value))


def _go_div(a: int, b: int) -> int:
    """Go's integer division: truncates toward zero (Python's // floors)."""
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b > 0) else -quotient


def _sorted_by_power(validators: Iterable[Validator]) -> tuple[Validator, ...]:
    return tuple(sorted(validators, key=lambda v: (-v.power, v.address)))


def _rescale_priorities(priorities: list[int], diff_max: int) -> list[int]:
    """Divide all priorities so max - min stays within ``diff_max`` (CometBFT RescalePriorities)."""
    if diff_max <= 0:
        return priorities
    diff = max(priorities) - min(priorities)
    ratio = (diff + diff_max - 1) // diff_max
    if diff > diff_max:
        return [_go_div(p, ratio) for p in priorities]
    return priorities


def _shift_by_average(priorities: list[int]) -> list[int]:
    average = _go_div(sum(priorities), len(priorities))
    return [_clip(p - average) for p in priorities]


def _most_priority_index(addresses: list[bytes], priorities: list[int]) -> int:
    """Index of the highest priority; ties go to the lower address."""
    best = 0
    for i in range(1, len(priorities)):
        if priorities[i] > priorities[best] or (
                priorities[i] == priorities[best] and addresses[i] < addresses[best]):
            best = i
    return best


def increment_proposer_priority(validator_set: ValidatorSet, times: int) -> ValidatorSet:
    """CometBFT ``IncrementProposerPriority(times)`` on a copy."""
    if times <= 0:
        raise ValueError("times must be positive")
    validators = validator_set.validators
    total = validator_set.total_power
    addresses = [v.address for v in validators]
    powers = [v.power for v in validators]
    priorities = _rescale_priorities([v.priority for v in validators], PRIORITY_WINDOW_SIZE_FACTOR * total)
    priorities = _shift_by_average(priorities)
    proposer = 0
    for _ in range(times):
        priorities = [_clip(p + w) for p, w in zip(priorities, powers)]
        proposer = _most_priority_index(addresses, priorities)
        priorities[proposer] = _clip(priorities[proposer] - total)
    updated = tuple(replace(v, priority=p) for v, p in zip(validators, priorities))
    return ValidatorSet(updated, addresses[proposer])


def _validate_powers(entries: list[tuple[bytes, int]]) -> None:
    addresses = [a for a, _ in entries]
    if len(set(addresses)) != len(addresses):
        raise ValueError("duplicate validator address")
    for address, power in entries:
        if len(address) != 20:
            raise ValueError("validator address must be 20 bytes")
        if power < 0 or power > MAX_TOTAL_VOTING_POWER:
            raise ValueError(f"voting power out of range: {power}")


def update_validator_set(validator_set: ValidatorSet | None, changes: Iterable[tuple[bytes, int]]) -> ValidatorSet:
    """CometBFT ``updateWithChangeSet``: power 0 removes, new validators start at -1.125 * total.

    The result is rescaled and centred but not incremented; callers increment it (as
    ``new_validator_set`` and ``advance_validator_set`` do).
    """
    change_list = sorted(changes)
    _validate_powers(change_list)
    existing = {v.address: v for v in (validator_set.validators if validator_set else ())}
    removals = {a for a, p in change_list if p == 0}
    updates = [(a, p) for a, p in change_list if p > 0]
    if any(a not in existing for a in removals):
        raise ValueError("cannot remove a validator that is not in the set")
    # CometBFT's tvpAfterUpdatesBeforeRemovals: the total with updates applied, removals not yet.
    total_before_removals = sum(v.power for v in existing.values()) + sum(
        p - (existing[a].power if a in existing else 0) for a, p in updates)
    merged = dict(existing)
    for address, power in updates:
        priority = existing[address].priority if address in existing else -(
            total_before_removals + (total_before_removals >> 3))
        merged[address] = Validator(address, power, priority)
    for address in removals:
        del merged[address]
    if not merged:
        raise ValueError("validator set would be empty")
    total = sum(v.power for v in merged.values())
    if total > MAX_TOTAL_VOTING_POWER:
        raise ValueError("total voting power exceeds the maximum")
    by_address = sorted(merged.values(), key=lambda v: v.address)
    priorities = _rescale_priorities([v.priority for v in by_address], PRIORITY_WINDOW_SIZE_FACTOR * total)
    priorities = _shift_by_average(priorities)
    centred = _sorted_by_power(replace(v, priority=p) for v, p in zip(by_address, priorities))
    proposer = validator_set.proposer if validator_set and validator_set.proposer in merged else centred[0].address
    return ValidatorSet(centred, proposer)


def new_validator_set(entries: Iterable[tuple[bytes, int]]) -> ValidatorSet:
    """CometBFT ``NewValidatorSet``: the genesis set, incremented once."""
    return increment_proposer_priority(update_validator_set(None, entries), 1)


def advance_validator_set(validator_set: ValidatorSet,
                          changes: Iterable[tuple[bytes, int]] = ()) -> ValidatorSet:
    """The set for the next height: apply ``changes`` (at an epoch boundary), then increment once."""
    changes = list(changes)
    updated = update_validator_set(validator_set, changes) if changes else validator_set
    return increment_proposer_priority(updated, 1)


def compute_validator_changes(validator_set: ValidatorSet,
                              active: Iterable[tuple[bytes, int]]) -> list[tuple[bytes, int]]:
    """The change set turning ``validator_set`` into ``active`` (removed validators get power 0)."""
    wanted = dict(active)
    current = {v.address: v.power for v in validator_set.validators}
    changes = [(a, p) for a, p in wanted.items() if current.get(a) != p]
    changes += [(a, 0) for a in current if a not in wanted]
    return sorted(changes)


@lru_cache(maxsize=256)   # the current heights' sets; 4096 grew with the chain for 4K blocks
def compute_proposer(validator_set: ValidatorSet, round: int) -> bytes:
    """The proposer of ``round`` for the height whose set is ``validator_set``."""
    if round == 0:
        return validator_set.proposer
    return increment_proposer_priority(validator_set, round).proposer
