"""Wire formats of the proposal and block topics and of range-sync items."""
from __future__ import annotations

import pytest
import rlp
from eth_utils import keccak

from consensus.commit import build_commit_certificate
from consensus.signing import LocalSigner, SigningDomain
from consensus.types import Proposal, Vote, VoteType
from consensus.wire import CommittedBlockMessage, ProposalMessage, decode_commits, encode_commits

DOMAIN = SigningDomain(1337, b"\x11" * 20)
SIGNER = LocalSigner(keccak(b"wire"), DOMAIN)
BLOCK = keccak(b"block")
CERTIFICATE = build_commit_certificate(4, 0, BLOCK, [SIGNER.sign_vote(Vote(VoteType.PRECOMMIT, 4, 0, BLOCK))])


def test_proposal_message_round_trips_with_its_block_and_parent_commit() -> None:
    message = ProposalMessage(SIGNER.sign_proposal(Proposal(5, 1, BLOCK, -1)), b"\xc0", CERTIFICATE.encode())
    assert ProposalMessage.decode(message.encode()) == message
    assert message.encode() == rlp.encode([message.signed.encode(), b"\xc0", CERTIFICATE.encode()])


def test_committed_block_message_round_trips() -> None:
    message = CommittedBlockMessage(b"\xc0", CERTIFICATE.encode(), b"")
    assert CommittedBlockMessage.decode(message.encode()) == message


def test_commits_of_a_sync_item_round_trip() -> None:
    assert decode_commits(encode_commits(CERTIFICATE.encode(), b"")) == (CERTIFICATE, None)
    assert decode_commits(encode_commits(CERTIFICATE.encode(), CERTIFICATE.encode())) == (CERTIFICATE, CERTIFICATE)


@pytest.mark.parametrize("decode", [ProposalMessage.decode, CommittedBlockMessage.decode, decode_commits])
@pytest.mark.parametrize("data", [b"\xff\x00", rlp.encode([b"a"]), rlp.encode(b"flat"), rlp.encode([[b"x"], b"y", b"z"])])
def test_invalid_wire_bytes_are_value_errors(decode: object, data: bytes) -> None:
    with pytest.raises(ValueError):
        decode(data)  # type: ignore[operator]
