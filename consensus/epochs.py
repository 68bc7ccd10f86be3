"""Validator sets across heights and epochs, and the consensus rules of a block header.

Pure functions the node calls while importing and building blocks (DESIGN.md, "Chain" and
"Proof-of-Knowledge consensus"); they take plain values so consensus/ stays free of kernel types.

Heights start at 1. Epoch e holds heights ``e * L + 1 .. (e + 1) * L`` for epoch length L. The
set read from ``ValidatorRegistry.activeValidators()`` in the state after the last block of
epoch e is applied from the first block of epoch e + 1, so every node switches at one height.
"""
from __future__ import annotations

from typing import Iterable

from consensus.types import CommitCertificate, ValidatorSet, compute_certificate_hash
from consensus.validator_set import advance_validator_set, compute_proposer, compute_validator_changes

MAX_CLOCK_DRIFT = 2  # seconds a proposer's timestamp may run ahead of a validator's clock


def compute_epoch(height: int, epoch_length: int) -> int:
    return (height - 1) // epoch_length


def is_last_block_of_epoch(height: int, epoch_length: int) -> bool:
    """After executing this block, read the registry: its set starts at ``height + 1``."""
    return height % epoch_length == 0


def compute_next_validator_set(validator_set: ValidatorSet, height: int, epoch_length: int,
                               active_after_height: Iterable[tuple[bytes, int]] | None = None) -> ValidatorSet:
    """The set of height ``height + 1`` from the set of ``height``.

    ``active_after_height`` is ``activeValidators()`` as (address, power) read in the state after
    block ``height``; it is only used (and required) when ``height`` ends an epoch.
    """
    if not is_last_block_of_epoch(height, epoch_length):
        return advance_validator_set(validator_set)
    if active_after_height is None:
        raise ValueError(f"height {height} ends an epoch: the registry's active set is required")
    return advance_validator_set(validator_set, compute_validator_changes(validator_set, active_after_height))


def compute_mix_hash(parent_certificate: CommitCertificate | None) -> bytes:
    """A header's ``mixHash``: keccak(RLP(parent's commit certificate)); zero for block 1."""
    if parent_certificate is None:
        return b"\x00" * 32
    return compute_certificate_hash(parent_certificate)


def is_valid_proposer(validator_set: ValidatorSet, round: int, coinbase: bytes) -> bool:
    """``coinbase`` must be the proposer of the round the block was committed in."""
    return compute_proposer(validator_set, round) == coinbase


def is_valid_timestamp(timestamp: int, parent_timestamp: int, local_time: float) -> bool:
    """Later than the parent's, and at most ``MAX_CLOCK_DRIFT`` seconds ahead of our clock."""
    return parent_timestamp < timestamp <= local_time + MAX_CLOCK_DRIFT
