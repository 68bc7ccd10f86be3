"""The consensus rules of an Azora block, one pure function per rule (DESIGN.md, "Chain" and
"Proof-of-Knowledge consensus").

The proposal path (validators checking a proposed block), the sync path (range sync and block
gossip importing committed blocks) and ``azora import`` (a plain RLP chain file) all call these
functions; the node only fetches the values they take (the validator set of a height, the
parent's commit certificate, the local clock). Predicates are ``is_*``; derivations are
``compute_*``; ``verify_*`` return None when a rule holds and otherwise the reason it does not
(the reason is logged or becomes the error of a refused block).

Heights start at 1. Epoch e holds heights ``e * L + 1 .. (e + 1) * L`` for epoch length L. The
set read from ``ValidatorRegistry.activeValidators()`` in the state after the last block of
epoch e is applied from the first block of epoch e + 1, so every node switches at one height.
The first block of epoch e + 1 pays epoch e's validators for the blocks they signed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol

from consensus.commit import verify_commit
from consensus.signing import SigningDomain
from consensus.types import CommitCertificate, ValidatorSet, compute_certificate_hash
from consensus.validator_set import (
    advance_validator_set, compute_proposer, compute_validator_changes, increment_proposer_priority,
)


@dataclass(frozen=True)
class BlockRuleConstants:
    """Protocol constants of the block rules (the same on every Azora network)."""

    max_clock_drift: int = 2           # seconds a proposer's timestamp may run ahead of our clock
    max_bitmap_validators: int = 32 * 8    # extraData holds at most 32 bytes of signer bitmap


BLOCK_RULES = BlockRuleConstants()


class HeaderFields(Protocol):
    """The header fields the rules read (py-evm's ``BlockHeaderAPI`` has them all)."""

    @property
    def parent_hash(self) -> bytes: ...
    @property
    def block_number(self) -> int: ...
    @property
    def coinbase(self) -> bytes: ...
    @property
    def mix_hash(self) -> bytes: ...
    @property
    def extra_data(self) -> bytes: ...
    @property
    def timestamp(self) -> int: ...


# ----- epochs -----------------------------------------------------------------------------


def compute_epoch(height: int, epoch_length: int) -> int:
    """The epoch of block ``height``."""
    return (height - 1) // epoch_length


def compute_epoch_start(epoch: int, epoch_length: int) -> int:
    """The first height of ``epoch``."""
    return epoch * epoch_length + 1


def compute_epoch_end(epoch: int, epoch_length: int) -> int:
    """The last height of ``epoch``."""
    return (epoch + 1) * epoch_length


def is_last_block_of_epoch(height: int, epoch_length: int) -> bool:
    """After executing this block, read the registry: its set starts at ``height + 1``."""
    return height % epoch_length == 0


def is_first_block_of_epoch(height: int, epoch_length: int) -> bool:
    """A block that starts an epoch after the first one (it pays the previous epoch's rewards)."""
    return height > 1 and (height - 1) % epoch_length == 0


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


# ----- signer bitmaps (extraData) ---------------------------------------------------------


def signer_bitmap(validator_set: ValidatorSet, certificate: CommitCertificate | None) -> bytes:
    """The bitmap of ``certificate``'s signers over ``validator_set`` sorted by address (most
    significant bit first); empty without a certificate."""
    if certificate is None:
        return b""
    addresses = sorted(validator_set.addresses)
    if len(addresses) > BLOCK_RULES.max_bitmap_validators:
        raise ValueError(f"a signer bitmap holds at most {BLOCK_RULES.max_bitmap_validators} validators")
    signed = {validator for validator, _ in certificate.signatures}
    bitmap = bytearray((len(addresses) + 7) // 8)
    for index, address in enumerate(addresses):
        if address in signed:
            bitmap[index // 8] |= 0x80 >> (index % 8)
    return bytes(bitmap)


def signers_from_bitmap(validator_set: ValidatorSet, bitmap: bytes) -> list[bytes]:
    """The validators of ``validator_set`` whose bit is set in ``bitmap``, in address order."""
    addresses = sorted(validator_set.addresses)
    return [a for index, a in enumerate(addresses)
            if index // 8 < len(bitmap) and bitmap[index // 8] & (0x80 >> (index % 8))]


def compute_extra_data(parent_height: int, parent_validator_set: ValidatorSet | None,
                       parent_certificate: CommitCertificate | None) -> bytes:
    """``extraData`` of block ``parent_height + 1``: who signed its parent's canonical commit
    (empty for block 1, whose parent is genesis)."""
    if parent_height == 0 or parent_validator_set is None:
        return b""
    return signer_bitmap(parent_validator_set, parent_certificate)


# ----- header rules -----------------------------------------------------------------------


def compute_mix_hash(parent_certificate: CommitCertificate | None) -> bytes:
    """A header's ``mixHash``: keccak(RLP(parent's commit certificate)); zero for block 1."""
    if parent_certificate is None:
        return b"\x00" * 32
    return compute_certificate_hash(parent_certificate)


def is_valid_proposer(validator_set: ValidatorSet, round: int, coinbase: bytes) -> bool:
    """``coinbase`` must be the proposer of a round up to ``round``, the one proposing it now.

    The round that built a block is not always the one that proposes it: Tendermint's proposer
    re-proposes a valid value of an earlier round unchanged, and a certificate may finalise a
    block in a later round than the one it was built in. The block keeps its builder's coinbase
    (the fees go to who built it), so requiring this round's proposer would make every node
    that first sees the block in a later round reject it (CometBFT only asks that the proposer
    address be a validator's; this is stricter: no builder can name a later round's proposer).
    """
    if not validator_set.contains(coinbase):
        return False
    current = validator_set
    for r in range(round + 1):
        if r > 0:
            current = increment_proposer_priority(current, 1)   # the proposer of round r
        if current.proposer == coinbase:
            return True
    return False


def is_valid_timestamp(timestamp: int, parent_timestamp: int, local_time: float) -> bool:
    """Later than the parent's, and at most ``max_clock_drift`` seconds ahead of our clock."""
    return parent_timestamp < timestamp <= local_time + BLOCK_RULES.max_clock_drift


def is_child_of(header: HeaderFields, parent_hash: bytes, parent_number: int) -> bool:
    return header.parent_hash == parent_hash and header.block_number == parent_number + 1


def verify_parent_commit(certificate: CommitCertificate | None, parent_hash: bytes, parent_number: int,
                         parent_validator_set: ValidatorSet | None, domain: SigningDomain) -> str | None:
    """The parent's canonical commit a block carries: for the parent, and signed by > 2/3 of
    the parent's validator set. Genesis has no commit, so block 1 needs none."""
    if parent_number == 0:
        return None
    # Verify that the certificate is there and finalises the parent.
    if certificate is None or certificate.block_hash != parent_hash:
        return "missing or wrong parent commit"
    assert parent_validator_set is not None, "a parent above genesis has a validator set"
    reason = verify_commit(certificate, parent_validator_set, domain)
    return f"invalid parent commit: {reason}" if reason else None


def is_valid_parent_commit(certificate: CommitCertificate | None, parent_hash: bytes, parent_number: int,
                           parent_validator_set: ValidatorSet | None, domain: SigningDomain) -> bool:
    return verify_parent_commit(certificate, parent_hash, parent_number, parent_validator_set, domain) is None


def verify_parent_binding(header: HeaderFields, parent_certificate: CommitCertificate | None,
                          parent_validator_set: ValidatorSet | None) -> str | None:
    """``mixHash`` binds the parent commit and ``extraData`` lists exactly its signers."""
    if header.mix_hash != compute_mix_hash(parent_certificate):
        return "mixHash does not bind the parent commit"
    expected = compute_extra_data(header.block_number - 1, parent_validator_set, parent_certificate)
    if header.extra_data != expected:
        return "extraData does not list the parent commit's signers"
    return None


@dataclass(frozen=True)
class ParentContext:
    """What the rules need to know about a block's parent, read by the node from its chain."""

    hash: bytes
    number: int
    timestamp: int
    validator_set: ValidatorSet | None     # the set that signed the parent (None for genesis)


def verify_proposed_header(header: HeaderFields, round: int, parent: ParentContext,
                           validator_set: ValidatorSet, parent_certificate: CommitCertificate | None,
                           domain: SigningDomain, local_time: float) -> str | None:
    """Every rule a validator checks before executing a block proposed in ``round``."""
    if not is_child_of(header, parent.hash, parent.number):
        return "not a child of the head"
    if not is_valid_proposer(validator_set, round, header.coinbase):
        return f"coinbase 0x{header.coinbase.hex()} is not the proposer of round {round}"
    reason = verify_parent_commit(parent_certificate, parent.hash, parent.number, parent.validator_set, domain)
    if reason is None:
        reason = verify_parent_binding(header, parent_certificate, parent.validator_set)
    if reason is None and not is_valid_timestamp(header.timestamp, parent.timestamp, local_time):
        reason = f"bad timestamp {header.timestamp}"
    return reason


def verify_committed_header(header: HeaderFields, block_hash: bytes, certificate: CommitCertificate,
                            parent: ParentContext, validator_set: ValidatorSet,
                            parent_certificate: CommitCertificate | None, domain: SigningDomain) -> str | None:
    """Every rule a node checks before importing a block finalised elsewhere (range sync,
    block gossip): it extends the head, its own certificate is valid for its height's set, and
    it carries and binds its parent's canonical commit. The proposer and the clock were
    checked by the > 2/3 who signed it."""
    if not is_child_of(header, parent.hash, parent.number):
        return f"block #{header.block_number} does not extend the head #{parent.number}"
    if certificate.block_hash != block_hash or certificate.height != header.block_number:
        return f"the certificate is not for block #{header.block_number}"
    reason = verify_commit(certificate, validator_set, domain)
    if reason:
        return f"invalid commit for block #{header.block_number}: {reason}"
    reason = verify_parent_commit(parent_certificate, parent.hash, parent.number, parent.validator_set, domain)
    if reason is None:
        reason = verify_parent_binding(header, parent_certificate, parent.validator_set)
    return f"block #{header.block_number}: {reason}" if reason else None


# ----- rewards ----------------------------------------------------------------------------


def compute_reward_epoch(height: int, epoch_length: int) -> int | None:
    """The epoch whose validators block ``height`` pays: the previous one at an epoch's first
    block, otherwise none."""
    if not is_first_block_of_epoch(height, epoch_length):
        return None
    return compute_epoch(height - 1, epoch_length)


__all__ = [
    "BLOCK_RULES", "BlockRuleConstants", "HeaderFields", "ParentContext",
    "compute_epoch", "compute_epoch_start", "compute_epoch_end", "is_last_block_of_epoch",
    "is_first_block_of_epoch", "compute_next_validator_set", "compute_proposer", "signer_bitmap",
    "signers_from_bitmap", "compute_extra_data", "compute_mix_hash", "is_valid_proposer", "is_valid_timestamp",
    "is_child_of", "verify_parent_commit", "is_valid_parent_commit", "verify_parent_binding",
    "verify_proposed_header", "verify_committed_header", "compute_reward_epoch",
]
