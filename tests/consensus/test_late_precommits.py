"""Precommits that arrive after the decision join the commit (CometBFT's commit timeout): the
extended certificate stays canonical (signers ascending) and valid, and a block carrying the
fuller parent commit passes the same header rules as one carrying the first > 2/3."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_utils import keccak

from consensus.block_rules import ParentContext, compute_extra_data, compute_mix_hash, verify_proposed_header
from consensus.commit import build_commit_certificate, extend_commit_certificate, verify_commit
from consensus.signing import LocalSigner, SigningDomain
from consensus.types import Vote, VoteType
from consensus.validator_set import compute_proposer, new_validator_set

DOMAIN = SigningDomain(1337, b"\x11" * 20)
SIGNERS = sorted((LocalSigner(keccak(b"late" + bytes([i])), DOMAIN) for i in range(4)), key=lambda s: s.address)
VSET = new_validator_set([(s.address, 10) for s in SIGNERS])
BLOCK = keccak(b"block")


def precommit(signer: LocalSigner, height: int = 5, round: int = 0, block_hash: bytes | None = BLOCK):
    return signer.sign_vote(Vote(VoteType.PRECOMMIT, height, round, block_hash))


FIRST_THREE = build_commit_certificate(5, 0, BLOCK, [precommit(s) for s in SIGNERS[1:]])


def test_a_late_precommit_completes_the_certificate_in_address_order():
    extended = extend_commit_certificate(FIRST_THREE, precommit(SIGNERS[0]))
    assert extended is not None
    assert [v for v, _ in extended.signatures] == [s.address for s in SIGNERS]
    assert verify_commit(extended, VSET, DOMAIN) is None
    assert extended == build_commit_certificate(5, 0, BLOCK, [precommit(s) for s in SIGNERS])


@pytest.mark.parametrize("description, vote", [
    ("already in", precommit(SIGNERS[1])),
    ("another height", precommit(SIGNERS[0], height=6)),
    ("another round", precommit(SIGNERS[0], round=1)),
    ("another block", precommit(SIGNERS[0], block_hash=keccak(b"other"))),
    ("nil", precommit(SIGNERS[0], block_hash=None)),
    ("a prevote", SIGNERS[0].sign_vote(Vote(VoteType.PREVOTE, 5, 0, BLOCK))),
])
def test_invalid_late_precommits_are_not_added(description, vote):
    assert extend_commit_certificate(FIRST_THREE, vote) is None, description


@dataclass(frozen=True)
class Header:
    parent_hash: bytes
    block_number: int
    coinbase: bytes
    mix_hash: bytes
    extra_data: bytes
    timestamp: int


@pytest.mark.parametrize("parent_commit", ["first three", "all four"])
def test_a_block_may_carry_either_parent_commit(parent_commit):
    certificate = FIRST_THREE if parent_commit == "first three" else \
        extend_commit_certificate(FIRST_THREE, precommit(SIGNERS[0]))
    parent = ParentContext(BLOCK, 5, 1_000, VSET)
    header = Header(BLOCK, 6, compute_proposer(VSET, 0), compute_mix_hash(certificate),
                    compute_extra_data(5, VSET, certificate), 1_001)
    assert verify_proposed_header(header, 0, parent, VSET, certificate, DOMAIN, 1_001) is None
    assert len(header.extra_data) == 1 and bin(header.extra_data[0]).count("1") == len(certificate.signatures)
