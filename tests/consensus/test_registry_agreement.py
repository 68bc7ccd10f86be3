"""Consensus and the ValidatorRegistry contract agree on the vote digest.

``reportEquivocation`` verifies votes on chain; evidence from nodes is only worth something if
the contract hashes a vote exactly as ``consensus.signing`` does.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from eth_utils import keccak, to_canonical_address

from consensus.signing import LocalSigner, SigningDomain, compute_vote_digest, recover_signer
from consensus.types import Vote, VoteType

boa = pytest.importorskip("boa")

REGISTRY_SOURCE = Path(__file__).resolve().parents[2] / "contracts" / "ValidatorRegistry.vy"
DUMMY = ["0x" + bytes([i]).rjust(20, b"\x00").hex() for i in (1, 2, 3)]


@pytest.fixture(scope="module")
def registry():  # type: ignore[no-untyped-def]
    return boa.load(str(REGISTRY_SOURCE), *DUMMY, b"\x00" * 32, 10**18, 10, 3600, 500, 1000, 3600)


@pytest.mark.parametrize("vote", [
    Vote(VoteType.PREVOTE, 1, 0, keccak(b"block")),
    Vote(VoteType.PRECOMMIT, 2**63, 2**31, keccak(b"other")),
    Vote(VoteType.PRECOMMIT, 42, 3, None),
])
def test_registry_hash_vote_equals_the_consensus_digest(registry, vote: Vote) -> None:  # type: ignore[no-untyped-def]
    chain_id = registry.eip712Domain()[3]
    domain = SigningDomain(chain_id, to_canonical_address(registry.address))
    struct = (int(vote.vote_type), vote.height, vote.round, vote.block_hash or b"\x00" * 32)
    assert registry.hashVote(struct) == compute_vote_digest(domain, vote)
    signer = LocalSigner(keccak(b"validator"), domain)
    assert recover_signer(registry.hashVote(struct), signer.sign_vote(vote).signature) == signer.address
