"""Message formats: EIP-712 digests, signatures, RLP encodings, commit certificates."""
from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from consensus.commit import build_commit_certificate, is_valid_commit, verify_commit
from consensus.signing import (
    SECP256K1_N, LocalSigner, SigningDomain, compute_proposal_digest, compute_vote_digest, is_canonical_signature,
    is_valid_vote_signature, recover_signer,
)
from consensus.types import (
    CommitCertificate, DecodingError, DuplicateVoteEvidence, Proposal, SignedProposal, SignedVote, Vote, VoteType,
    compute_certificate_hash, make_duplicate_vote_evidence,
)
from consensus.validator_set import new_validator_set

REGISTRY = bytes.fromhex("00000000000000000000000000000000000a2011")
DOMAIN = SigningDomain(1337, REGISTRY)
KEYS = [keccak(b"key" + bytes([i])) for i in range(4)]
SIGNERS = [LocalSigner(k, DOMAIN) for k in KEYS]
BLOCK = keccak(b"block")


def typed_data(primary: str, fields: list[dict[str, str]], message: dict[str, object], chain_id: int = 1337) -> dict:
    return {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
            primary: fields,
        },
        "primaryType": primary,
        "domain": {"name": "Azora Consensus", "version": "1", "chainId": chain_id,
                   "verifyingContract": "0x" + REGISTRY.hex()},
        "message": message,
    }


def eip712_digest(data: dict) -> bytes:
    signable = encode_typed_data(full_message=data)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


VOTE_FIELDS = [{"name": "voteType", "type": "uint8"}, {"name": "height", "type": "uint64"},
               {"name": "round", "type": "uint32"}, {"name": "blockHash", "type": "bytes32"}]
PROPOSAL_FIELDS = [{"name": "height", "type": "uint64"}, {"name": "round", "type": "uint32"},
                   {"name": "blockHash", "type": "bytes32"}, {"name": "polRound", "type": "int32"}]


@pytest.mark.parametrize("vote", [
    Vote(VoteType.PREVOTE, 7, 0, BLOCK),
    Vote(VoteType.PRECOMMIT, 2**40, 3, BLOCK),
    Vote(VoteType.PREVOTE, 1, 9, None),
])
def test_vote_digest_is_the_eip712_digest_wallets_compute(vote: Vote) -> None:
    message = {"voteType": int(vote.vote_type), "height": vote.height, "round": vote.round,
               "blockHash": vote.block_hash or b"\x00" * 32}
    assert compute_vote_digest(DOMAIN, vote) == eip712_digest(typed_data("Vote", VOTE_FIELDS, message))


@pytest.mark.parametrize("pol_round", [-1, 0, 5])
def test_proposal_digest_is_the_eip712_digest_wallets_compute(pol_round: int) -> None:
    proposal = Proposal(9, 6, BLOCK, pol_round)
    message = {"height": 9, "round": 6, "blockHash": BLOCK, "polRound": pol_round}
    assert compute_proposal_digest(DOMAIN, proposal) == eip712_digest(typed_data("Proposal", PROPOSAL_FIELDS, message))


def test_local_signer_signature_matches_eth_account_and_recovers() -> None:
    vote = Vote(VoteType.PRECOMMIT, 3, 1, BLOCK)
    signed = SIGNERS[0].sign_vote(vote)
    expected = Account.unsafe_sign_hash(compute_vote_digest(DOMAIN, vote), KEYS[0]).signature
    assert signed.signature == bytes(expected)
    assert signed.signature[64] in (27, 28)
    assert recover_signer(compute_vote_digest(DOMAIN, vote), signed.signature) == SIGNERS[0].address
    assert is_valid_vote_signature(DOMAIN, signed)


def test_invalid_signature_from_another_chain_or_registry_does_not_verify() -> None:
    signed = SIGNERS[0].sign_vote(Vote(VoteType.PREVOTE, 1, 0, BLOCK))
    assert not is_valid_vote_signature(SigningDomain(1338, REGISTRY), signed)
    assert not is_valid_vote_signature(SigningDomain(1337, b"\x01" * 20), signed)


def test_invalid_high_s_and_raw_v_signatures_are_not_canonical() -> None:
    signed = SIGNERS[0].sign_vote(Vote(VoteType.PREVOTE, 1, 0, BLOCK))
    r, s, v = signed.signature[:32], int.from_bytes(signed.signature[32:64], "big"), signed.signature[64]
    malleable = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # the same point, high s
    assert not is_canonical_signature(malleable)
    assert recover_signer(compute_vote_digest(DOMAIN, signed.vote), malleable) is None
    assert not is_canonical_signature(signed.signature[:64] + bytes([v - 27]))
    assert not is_canonical_signature(signed.signature[:64])


def test_invalid_signature_whose_r_is_no_curve_point_recovers_nobody() -> None:
    field = 2**256 - 2**32 - 977      # secp256k1's prime: r is an x with y^2 = x^3 + 7, or nothing
    r = next(x for x in range(1, 100) if pow(x**3 + 7, (field - 1) // 2, field) != 1)
    signature = r.to_bytes(32, "big") + (1).to_bytes(32, "big") + bytes([27])
    assert is_canonical_signature(signature)
    assert recover_signer(compute_vote_digest(DOMAIN, Vote(VoteType.PREVOTE, 1, 0, BLOCK)), signature) is None


def test_signed_vote_rlp_round_trip_and_nil_encoding() -> None:
    for block_hash in (BLOCK, None):
        signed = SIGNERS[1].sign_vote(Vote(VoteType.PRECOMMIT, 5, 2, block_hash))
        assert SignedVote.decode(signed.encode()) == signed
    nil_vote = SIGNERS[1].sign_vote(Vote(VoteType.PREVOTE, 5, 2, None))
    assert nil_vote.to_rlp_list()[3] == b""


def test_signed_proposal_rlp_shifts_pol_round_by_one() -> None:
    signed = SIGNERS[2].sign_proposal(Proposal(4, 3, BLOCK, -1))
    assert SignedProposal.decode(signed.encode()) == signed
    import rlp
    assert rlp.decode(signed.encode())[3] == b""  # polRound -1 encodes as 0
    with_pol = SIGNERS[2].sign_proposal(Proposal(4, 3, BLOCK, 1))
    assert SignedProposal.decode(with_pol.encode()).proposal.pol_round == 1


@pytest.mark.parametrize("bad", [
    b"\xc0",                                                      # empty list
    bytes.fromhex("c6") + b"\x01\x01\x01\x80\x80\x80",            # wrong field sizes
    b"\x01\x02",                                                  # trailing bytes
])
def test_invalid_encodings_are_rejected(bad: bytes) -> None:
    with pytest.raises(DecodingError):
        SignedVote.decode(bad)


def test_invalid_zero_hash_for_nil_is_rejected() -> None:
    import rlp
    signed = SIGNERS[1].sign_vote(Vote(VoteType.PREVOTE, 5, 2, None))
    items = signed.to_rlp_list()
    items[3] = b"\x00" * 32
    with pytest.raises(DecodingError):
        SignedVote.decode(rlp.encode(items))


def test_evidence_is_canonical_and_round_trips() -> None:
    a = SIGNERS[3].sign_vote(Vote(VoteType.PREVOTE, 8, 1, BLOCK))
    b = SIGNERS[3].sign_vote(Vote(VoteType.PREVOTE, 8, 1, None))
    evidence = make_duplicate_vote_evidence(a, b)
    assert evidence == make_duplicate_vote_evidence(b, a)
    assert DuplicateVoteEvidence.decode(evidence.encode()) == evidence
    assert evidence.validator == SIGNERS[3].address
    swapped = DuplicateVoteEvidence(evidence.vote_b, evidence.vote_a)
    with pytest.raises(DecodingError):
        DuplicateVoteEvidence.decode(swapped.encode())


def test_invalid_evidence_of_votes_that_do_not_conflict_is_rejected() -> None:
    a = SIGNERS[3].sign_vote(Vote(VoteType.PREVOTE, 8, 1, BLOCK))
    other_round = SIGNERS[3].sign_vote(Vote(VoteType.PREVOTE, 8, 2, None))
    other_signer = SIGNERS[2].sign_vote(Vote(VoteType.PREVOTE, 8, 1, None))
    for b in (a, other_round, other_signer):
        with pytest.raises(ValueError):
            make_duplicate_vote_evidence(a, b)
    import rlp
    with pytest.raises(DecodingError):
        DuplicateVoteEvidence.decode(rlp.encode([a.to_rlp_list(), other_round.to_rlp_list()]))


def certificate_from(signers: list[LocalSigner], height: int = 10, round: int = 0) -> CommitCertificate:
    vote = Vote(VoteType.PRECOMMIT, height, round, BLOCK)
    return build_commit_certificate(height, round, BLOCK, [s.sign_vote(vote) for s in signers])


VALIDATORS = new_validator_set([(s.address, p) for s, p in zip(SIGNERS, (1, 1, 1, 1))])


def test_commit_certificate_with_more_than_two_thirds_is_valid_and_round_trips() -> None:
    certificate = certificate_from(SIGNERS[:3])
    assert is_valid_commit(certificate, VALIDATORS, 1337, REGISTRY)
    assert CommitCertificate.decode(certificate.encode()) == certificate
    assert [v for v, _ in certificate.signatures] == sorted(s.address for s in SIGNERS[:3])
    assert compute_certificate_hash(certificate) == keccak(certificate.encode())


def test_invalid_commit_with_exactly_two_thirds_is_rejected() -> None:
    weighted = new_validator_set([(SIGNERS[0].address, 2), (SIGNERS[1].address, 2), (SIGNERS[2].address, 2)])
    assert "insufficient" in verify_commit(certificate_from(SIGNERS[:2]), weighted, DOMAIN)


@pytest.mark.parametrize("tamper, reason", [
    (lambda c: CommitCertificate(c.height + 1, c.round, c.block_hash, c.signatures), "bad signature"),
    (lambda c: CommitCertificate(c.height, c.round + 1, c.block_hash, c.signatures), "bad signature"),
    (lambda c: CommitCertificate(c.height, c.round, keccak(b"x"), c.signatures), "bad signature"),
    (lambda c: CommitCertificate(c.height, c.round, c.block_hash, c.signatures[::-1]), "ascending"),
    (lambda c: CommitCertificate(c.height, c.round, c.block_hash, c.signatures[:1] * 3), "ascending"),
])
def test_invalid_tampered_certificates_are_rejected(tamper, reason: str) -> None:  # type: ignore[no-untyped-def]
    assert reason in verify_commit(tamper(certificate_from(SIGNERS[:3])), VALIDATORS, DOMAIN)


def test_invalid_certificate_signed_by_outsider_is_rejected() -> None:
    outsider = LocalSigner(keccak(b"outsider"), DOMAIN)
    certificate = certificate_from(SIGNERS[:2] + [outsider])
    assert "not a validator" in verify_commit(certificate, VALIDATORS, DOMAIN)
    assert not is_valid_commit(certificate, VALIDATORS, 1338, REGISTRY)


def test_evidence_report_args_are_the_signed_structs() -> None:
    a = SIGNERS[3].sign_vote(Vote(VoteType.PRECOMMIT, 8, 1, BLOCK))
    b = SIGNERS[3].sign_vote(Vote(VoteType.PRECOMMIT, 8, 1, None))
    vote_a, sig_a, vote_b, sig_b = make_duplicate_vote_evidence(a, b).to_report_args()
    assert {vote_a[3], vote_b[3]} == {BLOCK, b"\x00" * 32}
    for struct, signature in ((vote_a, sig_a), (vote_b, sig_b)):
        message = dict(zip(("voteType", "height", "round", "blockHash"), struct))
        digest = eip712_digest(typed_data("Vote", VOTE_FIELDS, message))
        assert recover_signer(digest, signature) == SIGNERS[3].address
