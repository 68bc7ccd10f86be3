"""Validator-set changes at epoch boundaries and the consensus rules of headers."""
from __future__ import annotations

import pytest
from eth_utils import keccak

from consensus.epochs import (
    compute_epoch, compute_mix_hash, compute_next_validator_set, is_last_block_of_epoch, is_valid_proposer,
    is_valid_timestamp,
)
from consensus.types import CommitCertificate
from consensus.validator_set import advance_validator_set, compute_proposer, new_validator_set

A, B, C = (bytes(19) + bytes([i]) for i in (1, 2, 3))
GENESIS_SET = new_validator_set([(A, 10), (B, 10)])


def test_epochs_number_heights_from_one() -> None:
    assert [compute_epoch(h, 4) for h in (1, 4, 5, 8, 9)] == [0, 0, 1, 1, 2]
    assert [h for h in range(1, 13) if is_last_block_of_epoch(h, 4)] == [4, 8, 12]


def test_set_changes_only_after_the_last_block_of_an_epoch() -> None:
    registry = [(A, 10), (B, 5), (C, 20)]
    inside = compute_next_validator_set(GENESIS_SET, 3, 4, registry)
    assert inside == advance_validator_set(GENESIS_SET)          # the registry is ignored mid-epoch
    at_boundary = compute_next_validator_set(GENESIS_SET, 4, 4, registry)
    assert {v.address: v.power for v in at_boundary.validators} == {A: 10, B: 5, C: 20}


def test_every_node_derives_the_same_sets_from_the_same_registry_reads() -> None:
    reads = {4: [(A, 10), (C, 10)], 8: [(C, 30)]}

    def chain_of_sets() -> list:  # type: ignore[type-arg]
        sets = [GENESIS_SET]
        for height in range(1, 12):
            sets.append(compute_next_validator_set(sets[-1], height, 4, reads.get(height)))
        return sets

    first, second = chain_of_sets(), chain_of_sets()
    assert first == second
    assert [compute_proposer(s, 0) for s in first] == [compute_proposer(s, 0) for s in second]
    # sets[i] is the set of height i + 1: reads after heights 4 and 8 apply from 5 and 9.
    assert first[3].addresses == (A, B) and first[4].addresses == (A, C) and first[8].addresses == (C,)


def test_invalid_missing_registry_read_at_a_boundary_is_an_error() -> None:
    with pytest.raises(ValueError):
        compute_next_validator_set(GENESIS_SET, 4, 4, None)


def test_mix_hash_binds_the_parent_certificate() -> None:
    certificate = CommitCertificate(3, 0, keccak(b"b"), ((A, b"\x01" * 65),))
    assert compute_mix_hash(certificate) == keccak(certificate.encode())
    assert compute_mix_hash(None) == b"\x00" * 32


def test_proposer_and_timestamp_rules() -> None:
    assert is_valid_proposer(GENESIS_SET, 0, compute_proposer(GENESIS_SET, 0))
    assert not is_valid_proposer(GENESIS_SET, 1, compute_proposer(GENESIS_SET, 0))
    assert is_valid_timestamp(101, 100, 100.0)
    assert is_valid_timestamp(102, 100, 100.0)
    assert not is_valid_timestamp(100, 100, 100.0)    # not after the parent
    assert not is_valid_timestamp(103, 100, 100.0)    # more than 2 s ahead of our clock
