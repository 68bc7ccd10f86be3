"""Commit certificates: building them from precommits and verifying them.

``is_valid_commit`` needs nothing but the validator set of the certificate's height, so range
sync, block import and light clients can all check finality the same way.
"""
from __future__ import annotations

from typing import Iterable

from consensus.signing import SigningDomain, compute_vote_digest, recover_signer
from consensus.types import CommitCertificate, SignedVote, ValidatorSet, Vote, VoteType


def has_two_thirds(power: int, total: int) -> bool:
    """More than two thirds of ``total`` (integer-exact: 3 * power > 2 * total)."""
    return 3 * power > 2 * total


def has_one_third(power: int, total: int) -> bool:
    """More than one third of ``total``: at least one honest validator is among them."""
    return 3 * power > total


def build_commit_certificate(height: int, round: int, block_hash: bytes,
                             precommits: Iterable[SignedVote]) -> CommitCertificate:
    """A certificate from precommits for ``block_hash`` at (height, round), sorted by address."""
    pairs = {}
    for signed in precommits:
        vote = signed.vote
        wanted = (VoteType.PRECOMMIT, height, round, block_hash)
        if (vote.vote_type, vote.height, vote.round, vote.block_hash) == wanted:
            pairs[signed.validator] = signed.signature
    return CommitCertificate(height, round, block_hash, tuple(sorted(pairs.items())))


def extend_commit_certificate(certificate: CommitCertificate, signed: SignedVote) -> CommitCertificate | None:
    """``certificate`` with one more precommit for its block (CometBFT collects the precommits
    that arrive during the commit timeout, so a healthy network's commits carry every signer,
    not the fastest two thirds); None if ``signed`` is not such a precommit or is already in.
    The caller verifies the signature and that the signer is in the height's set."""
    vote = signed.vote
    wanted = (VoteType.PRECOMMIT, certificate.height, certificate.round, certificate.block_hash)
    if (vote.vote_type, vote.height, vote.round, vote.block_hash) != wanted:
        return None
    if any(validator == signed.validator for validator, _ in certificate.signatures):
        return None
    signatures = tuple(sorted(certificate.signatures + ((signed.validator, signed.signature),)))
    return CommitCertificate(certificate.height, certificate.round, certificate.block_hash, signatures)


def verify_commit(certificate: CommitCertificate, validator_set: ValidatorSet,
                  domain: SigningDomain) -> str | None:
    """None when the certificate is valid, otherwise the reason it is not."""
    # Verify that the signers are strictly ascending: no duplicates, one canonical encoding.
    signers = [validator for validator, _ in certificate.signatures]
    if any(a >= b for a, b in zip(signers, signers[1:])):
        return "signers not strictly ascending"
    digest = compute_vote_digest(domain, Vote(VoteType.PRECOMMIT, certificate.height, certificate.round,
                                              certificate.block_hash))
    power = 0
    for validator, signature in certificate.signatures:
        # Verify that every signer is in the set and really signed this precommit.
        if not validator_set.contains(validator):
            return f"signer {validator.hex()} is not a validator"
        if recover_signer(digest, signature) != validator:
            return f"bad signature from {validator.hex()}"
        power += validator_set.power_of(validator)
    # Verify that the signers hold more than two thirds of the voting power.
    if not has_two_thirds(power, validator_set.total_power):
        return f"insufficient voting power {power} of {validator_set.total_power}"
    return None


def is_valid_commit(certificate: CommitCertificate, validator_set: ValidatorSet, chain_id: int,
                    verifying_contract: bytes) -> bool:
    """True iff > 2/3 of ``validator_set``'s power validly precommitted the certificate's block."""
    return verify_commit(certificate, validator_set, SigningDomain(chain_id, verifying_contract)) is None
