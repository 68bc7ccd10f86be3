"""CometBFT's proposer-priority rotation, checked against CometBFT's own test vectors."""
from __future__ import annotations

import pytest

from consensus.validator_set import (
    INT64_MAX, Validator, ValidatorSet, advance_validator_set, compute_proposer, compute_validator_changes,
    increment_proposer_priority, new_validator_set, update_validator_set,
)


def addr(name: bytes) -> bytes:
    # Right-padding keeps the byte order of CometBFT's short test addresses.
    return name.ljust(20, b"\x00")


def proposer_sequence(validator_set: ValidatorSet, count: int) -> list[bytes]:
    sequence = []
    for _ in range(count):
        sequence.append(validator_set.proposer)
        validator_set = increment_proposer_priority(validator_set, 1)
    return sequence


def test_proposer_sequence_matches_cometbft_test_proposer_selection_1() -> None:
    vset = new_validator_set([(addr(b"foo"), 1000), (addr(b"bar"), 300), (addr(b"baz"), 330)])
    names = {addr(n): n.decode() for n in (b"foo", b"bar", b"baz")}
    expected = ("foo baz foo bar foo foo baz foo bar foo foo baz foo foo bar foo baz foo foo bar foo foo baz foo bar "
                "foo foo baz foo bar foo foo baz foo foo bar foo baz foo foo bar foo baz foo foo bar foo baz foo foo "
                "bar foo baz foo foo foo baz bar foo foo foo baz foo bar foo foo baz foo bar foo foo baz foo bar foo "
                "foo baz foo bar foo foo baz foo foo bar foo baz foo foo bar foo baz foo foo bar foo baz foo foo")
    assert " ".join(names[a] for a in proposer_sequence(vset, 99)) == expected


def test_equal_power_rotates_in_address_order() -> None:
    addresses = [bytes(19) + bytes([i]) for i in range(3)]
    vset = new_validator_set([(a, 100) for a in addresses])
    assert proposer_sequence(vset, 15) == addresses * 5


@pytest.mark.parametrize("power, expected", [
    (400, [2, 0]),      # more power, but not enough to propose twice in a row
    (401, [2, 2, 0]),   # enough to propose twice in a row
])
def test_heavier_validator_proposes_first_as_in_cometbft(power: int, expected: list[int]) -> None:
    addresses = [bytes(19) + bytes([i]) for i in range(3)]
    vset = new_validator_set([(addresses[0], 100), (addresses[1], 100), (addresses[2], power)])
    assert proposer_sequence(vset, len(expected)) == [addresses[i] for i in expected]


def test_proposer_frequency_is_proportional_to_power() -> None:
    addresses = [bytes(19) + bytes([i]) for i in range(3)]
    vset = new_validator_set([(addresses[0], 4), (addresses[1], 5), (addresses[2], 3)])
    sequence = proposer_sequence(vset, 120)
    assert [sequence.count(a) for a in addresses] == [40, 50, 30]


VP0, VP1, VP2, TOTAL = 10, 1, 1, 12


@pytest.mark.parametrize("times, priorities, proposer", [
    (1, [VP0 - TOTAL, VP1, VP2], 0),
    (2, [2 * (VP0 - TOTAL), 2 * VP1, 2 * VP2], 0),
    (4, [4 * (VP0 - TOTAL), 4 * VP1, 4 * VP2], 0),
    (5, [4 * (VP0 - TOTAL) + VP0, 5 * VP1 - TOTAL, 5 * VP2], 1),
    (8, [8 * VP0 - 7 * TOTAL, 8 * VP1 - TOTAL, 8 * VP2], 0),
    (9, [9 * VP0 - 7 * TOTAL, 9 * VP1 - TOTAL, 9 * VP2 - TOTAL], 2),
    (11, [11 * VP0 - 9 * TOTAL, 11 * VP1 - TOTAL, 11 * VP2 - TOTAL], 0),
])
def test_priorities_match_cometbft_averaging_vectors(times: int, priorities: list[int], proposer: int) -> None:
    # CometBFT TestAveragingInIncrementProposerPriorityWithVotingPower: raw set, priorities 0.
    validators = tuple(Validator(bytes([i]), p, 0) for i, p in enumerate((VP0, VP1, VP2)))
    result = increment_proposer_priority(ValidatorSet(validators, bytes([0])), times)
    assert [v.priority for v in result.validators] == priorities
    assert result.proposer == bytes([proposer])


def test_averaging_uses_go_truncating_division() -> None:
    # CometBFT TestAveragingInIncrementProposerPriority case 2: avg of (100, -10, 1) is 91/3 = 30.
    validators = tuple(Validator(bytes([i]), 0, p) for i, p in enumerate((100, -10, 1)))
    # Zero power cannot be built through update_validator_set; the raw set tests the arithmetic.
    result = increment_proposer_priority(ValidatorSet(validators, bytes([0])), 1)
    assert sorted(v.priority for v in result.validators) == sorted(p - 30 for p in (100, -10, 1))


def test_round_r_proposer_is_the_set_incremented_r_times() -> None:
    vset = new_validator_set([(addr(b"foo"), 1000), (addr(b"bar"), 300), (addr(b"baz"), 330)])
    assert compute_proposer(vset, 0) == vset.proposer
    assert compute_proposer(vset, 3) == increment_proposer_priority(vset, 3).proposer


def test_new_validator_joins_with_negative_priority_so_it_cannot_jump_the_queue() -> None:
    a, b, c = (bytes(19) + bytes([i]) for i in range(3))
    vset = new_validator_set([(a, 10), (b, 10)])
    updated = update_validator_set(vset, [(c, 10)])
    joined = next(v for v in updated.validators if v.address == c)
    assert joined.priority == min(v.priority for v in updated.validators)
    assert advance_validator_set(vset, [(c, 10)]).proposer != c


def test_changes_remove_with_power_zero_and_sort_by_power() -> None:
    a, b, c = (bytes(19) + bytes([i]) for i in range(3))
    vset = new_validator_set([(a, 10), (b, 20)])
    changes = compute_validator_changes(vset, [(b, 20), (c, 30)])
    assert changes == [(a, 0), (c, 30)]
    updated = update_validator_set(vset, changes)
    assert updated.addresses == (c, b)
    assert updated.total_power == 50 and updated.power_of(a) == 0


@pytest.mark.parametrize("entries", [
    [(addr(b"a"), -1)],
    [(addr(b"a"), INT64_MAX)],
    [(addr(b"a"), 1), (addr(b"a"), 2)],
    [(b"short", 1)],
])
def test_invalid_validator_entries_are_rejected(entries: list[tuple[bytes, int]]) -> None:
    with pytest.raises(ValueError):
        new_validator_set(entries)


def test_invalid_removal_of_unknown_validator_is_rejected() -> None:
    vset = new_validator_set([(addr(b"a"), 1)])
    with pytest.raises(ValueError):
        update_validator_set(vset, [(addr(b"b"), 0)])
    with pytest.raises(ValueError):
        update_validator_set(vset, [(addr(b"a"), 0)])  # would leave the set empty


from hypothesis import given, settings, strategies as st  # noqa: E402

powers_strategy = st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(powers=powers_strategy, steps=st.lists(st.integers(min_value=1, max_value=5), max_size=20),
       new_powers=powers_strategy)
def test_priorities_stay_centred_and_within_the_window(powers: list[int], steps: list[int],
                                                         new_powers: list[int]) -> None:
    # CometBFT's verifyValidatorSet invariants, after increments and after a change set.
    addresses = [bytes(19) + bytes([i]) for i in range(len(powers))]
    vset = new_validator_set(zip(addresses, powers))
    for times in steps:
        vset = increment_proposer_priority(vset, times)
    priorities = [v.priority for v in vset.validators]
    assert -len(priorities) < sum(priorities) < len(priorities)       # increments keep the centre
    others = [bytes(18) + bytes([1, i]) for i in range(len(new_powers))]
    updated = update_validator_set(vset, list(zip(others, new_powers)))
    priorities = [v.priority for v in updated.validators]
    assert -len(priorities) < sum(priorities) < len(priorities)       # centred
    assert max(priorities) - min(priorities) <= 2 * updated.total_power  # rescaled into the window


@settings(max_examples=40, deadline=None)
@given(powers=powers_strategy)
def test_every_validator_proposes_within_one_cycle_of_total_power(powers: list[int]) -> None:
    # Fairness: over T = total power increments, validator i proposes about power_i times.
    scaled = [1 + p % 20 for p in powers]
    addresses = [bytes(19) + bytes([i]) for i in range(len(scaled))]
    vset = new_validator_set(zip(addresses, scaled))
    total = sum(scaled)
    counts = dict.fromkeys(addresses, 0)
    for _ in range(total):
        counts[vset.proposer] += 1
        vset = increment_proposer_priority(vset, 1)
    for address, power in zip(addresses, scaled):
        assert abs(counts[address] - power) <= 2
