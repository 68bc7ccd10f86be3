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


def placeholder(type_name: str, index: int) -> object:
    """A harmless constructor argument: distinct non-zero addresses, zero hashes, small numbers."""
    if type_name == "address":
        return "0x" + bytes([index + 1]).rjust(20, b"\x00").hex()
    if type_name.startswith("bytes"):
        return b"\x00" * 32
    return 1


@pytest.fixture(scope="module")
def registry():  # type: ignore[no-untyped-def]
    # Only the vote digest matters here, so the constructor's other parameters are placeholders
    # built from its signature (the contract's other parameters may change without breaking this).
    deployer = boa.load_partial(str(REGISTRY_SOURCE))
    arguments = deployer.compiler_data.global_ctx.init_function.arguments
    return deployer.deploy(*(placeholder(str(a.typ), i) for i, a in enumerate(arguments)))


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
