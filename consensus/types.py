"""Consensus message types and their RLP wire formats.

Every type here is a frozen dataclass: the engine passes values, never mutable objects.
RLP layouts (see docs/consensus.md):

* ``Vote``            ``[voteType, height, round, blockHash]``
* ``SignedVote``      ``[voteType, height, round, blockHash, validator, signature]``
* ``Proposal``        ``[height, round, blockHash, polRound + 1]``
* ``SignedProposal``  ``[height, round, blockHash, polRound + 1, proposer, signature]``
* ``CommitCertificate`` ``[height, round, blockHash, [[validator, signature], ...]]``
* ``DuplicateVoteEvidence`` ``[signedVoteA, signedVoteB]`` (SignedVote lists, nil or lower hash first)

A nil block hash is the empty byte string in RLP and 32 zero bytes in the EIP-712 digest.
``polRound`` is stored shifted by one because RLP integers are unsigned (0 = no POL round).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Sequence

import rlp
from rlp.sedes import big_endian_int
from eth_utils import keccak

# The re-export lets callers import every consensus data type from one module.
from consensus.validator_set import Validator, ValidatorSet  # noqa: F401

NIL_HASH = b"\x00" * 32
ADDRESS_LENGTH = 20
SIGNATURE_LENGTH = 65
HASH_LENGTH = 32


class VoteType(IntEnum):
    """EIP-712 ``voteType`` values."""

    PREVOTE = 1
    PRECOMMIT = 2


class Step(IntEnum):
    """Round steps, ordered as the sign guard compares them (propose < prevote < precommit)."""

    PROPOSE = 0
    PREVOTE = 1
    PRECOMMIT = 2
    COMMIT = 3


@dataclass(frozen=True)
class LastSignRecord:
    """The last message a validator signed: its (height, round, step), block hash, digest, the
    lock, and its own signed messages of that height (``sign_guard`` keeps and checks it)."""

    height: int
    round: int
    step: Step
    block_hash: bytes | None
    digest: bytes
    locked_round: int = -1
    locked_value: bytes | None = None
    messages: tuple[bytes, ...] = ()


class DecodingError(ValueError):
    """Raised when bytes are not a canonical RLP encoding of the expected message."""


@dataclass(frozen=True)
class Vote:
    """An unsigned vote; ``block_hash`` None is a nil vote."""

    vote_type: VoteType
    height: int
    round: int
    block_hash: bytes | None

    def to_rlp_list(self) -> list[Any]:
        return [int(self.vote_type), self.height, self.round, self.block_hash or b""]

    @property
    def step(self) -> Step:
        return Step.PREVOTE if self.vote_type == VoteType.PREVOTE else Step.PRECOMMIT


@dataclass(frozen=True)
class Proposal:
    """An unsigned proposal; ``pol_round`` -1 means no proof-of-lock round."""

    height: int
    round: int
    block_hash: bytes
    pol_round: int = -1

    def to_rlp_list(self) -> list[Any]:
        return [self.height, self.round, self.block_hash, self.pol_round + 1]


@dataclass(frozen=True)
class SignedVote:
    """A vote with its signer's address and 65-byte r||s||v signature."""

    vote: Vote
    validator: bytes
    signature: bytes

    def to_rlp_list(self) -> list[Any]:
        return self.vote.to_rlp_list() + [self.validator, self.signature]

    def encode(self) -> bytes:
        return rlp.encode(self.to_rlp_list())

    @classmethod
    def from_rlp_list(cls, items: Sequence[Any]) -> "SignedVote":
        _expect_list(items, 6, "SignedVote")
        vote_type = _decode_int(items[0])
        if vote_type not in (VoteType.PREVOTE, VoteType.PRECOMMIT):
            raise DecodingError(f"SignedVote: unknown vote type {vote_type}")
        vote = Vote(VoteType(vote_type), _decode_int(items[1]), _decode_int(items[2]),
                    _decode_optional_hash(items[3]))
        return cls(vote, _decode_fixed(items[4], ADDRESS_LENGTH), _decode_fixed(items[5], SIGNATURE_LENGTH))

    @classmethod
    def decode(cls, data: bytes) -> "SignedVote":
        return cls.from_rlp_list(_rlp_decode(data))


@dataclass(frozen=True)
class SignedProposal:
    """A proposal with its proposer's address and signature."""

    proposal: Proposal
    proposer: bytes
    signature: bytes

    def encode(self) -> bytes:
        return rlp.encode(self.proposal.to_rlp_list() + [self.proposer, self.signature])

    @classmethod
    def decode(cls, data: bytes) -> "SignedProposal":
        items = _rlp_decode(data)
        _expect_list(items, 6, "SignedProposal")
        proposal = Proposal(_decode_int(items[0]), _decode_int(items[1]),
                            _decode_fixed(items[2], HASH_LENGTH), _decode_int(items[3]) - 1)
        return cls(proposal, _decode_fixed(items[4], ADDRESS_LENGTH), _decode_fixed(items[5], SIGNATURE_LENGTH))


@dataclass(frozen=True)
class CommitCertificate:
    """Proof that a block was committed: > 2/3 of the power precommitted it at (height, round).

    ``signatures`` are ``(validator, signature)`` pairs in strictly ascending address order, so
    one set of signers has exactly one encoding.
    """

    height: int
    round: int
    block_hash: bytes
    signatures: tuple[tuple[bytes, bytes], ...]

    def encode(self) -> bytes:
        return rlp.encode([self.height, self.round, self.block_hash,
                           [[v, s] for v, s in self.signatures]])

    @classmethod
    def decode(cls, data: bytes) -> "CommitCertificate":
        items = _rlp_decode(data)
        _expect_list(items, 4, "CommitCertificate")
        if not isinstance(items[3], list):
            raise DecodingError("CommitCertificate: signatures must be a list")
        signatures = []
        for pair in items[3]:
            _expect_list(pair, 2, "CommitCertificate signature")
            signatures.append((_decode_fixed(pair[0], ADDRESS_LENGTH), _decode_fixed(pair[1], SIGNATURE_LENGTH)))
        return cls(_decode_int(items[0]), _decode_int(items[1]), _decode_fixed(items[2], HASH_LENGTH),
                   tuple(signatures))

    def precommits(self) -> tuple[SignedVote, ...]:
        """The certificate's signatures as the signed precommits they are."""
        vote = Vote(VoteType.PRECOMMIT, self.height, self.round, self.block_hash)
        return tuple(SignedVote(vote, validator, signature) for validator, signature in self.signatures)


def compute_certificate_hash(certificate: CommitCertificate) -> bytes:
    """keccak(RLP(certificate)): what the next block's ``mixHash`` carries."""
    return keccak(certificate.encode())


@dataclass(frozen=True)
class DuplicateVoteEvidence:
    """Two signed votes by one validator for one (type, height, round) with different hashes.

    Build it with ``make_duplicate_vote_evidence`` so the pair is in canonical order.
    """

    vote_a: SignedVote
    vote_b: SignedVote

    @property
    def validator(self) -> bytes:
        return self.vote_a.validator

    def encode(self) -> bytes:
        return rlp.encode([self.vote_a.to_rlp_list(), self.vote_b.to_rlp_list()])

    def to_report_args(self) -> tuple[tuple[int, int, int, bytes], bytes, tuple[int, int, int, bytes], bytes]:
        """Arguments of ``ValidatorRegistry.reportEquivocation(voteA, sigA, voteB, sigB)``.

        Each vote is the ``Vote(uint8 voteType,uint64 height,uint32 round,bytes32 blockHash)``
        struct as a tuple (nil = 32 zero bytes), exactly what was signed.
        """
        def struct(signed: SignedVote) -> tuple[int, int, int, bytes]:
            vote = signed.vote
            return (int(vote.vote_type), vote.height, vote.round, vote.block_hash or NIL_HASH)

        return struct(self.vote_a), self.vote_a.signature, struct(self.vote_b), self.vote_b.signature

    @classmethod
    def decode(cls, data: bytes) -> "DuplicateVoteEvidence":
        items = _rlp_decode(data)
        _expect_list(items, 2, "DuplicateVoteEvidence")
        evidence = cls(SignedVote.from_rlp_list(items[0]), SignedVote.from_rlp_list(items[1]))
        if not is_conflicting_pair(evidence.vote_a, evidence.vote_b):
            raise DecodingError("DuplicateVoteEvidence: votes do not conflict")
        if make_duplicate_vote_evidence(evidence.vote_a, evidence.vote_b) != evidence:
            raise DecodingError("DuplicateVoteEvidence: votes not in canonical order")
        return evidence


def is_conflicting_pair(a: SignedVote, b: SignedVote) -> bool:
    """True when two votes are an equivocation: same signer, type, height, round; other hash."""
    return (a.validator == b.validator and a.vote.vote_type == b.vote.vote_type
            and a.vote.height == b.vote.height and a.vote.round == b.vote.round
            and a.vote.block_hash != b.vote.block_hash)


def make_duplicate_vote_evidence(a: SignedVote, b: SignedVote) -> DuplicateVoteEvidence:
    """Evidence with the votes ordered by block hash (nil first), so every node builds the same bytes."""
    if not is_conflicting_pair(a, b):
        raise ValueError("votes do not conflict")
    first, second = sorted((a, b), key=lambda v: v.vote.block_hash or b"")
    return DuplicateVoteEvidence(first, second)


def _rlp_decode(data: bytes) -> Any:
    try:
        return rlp.decode(data, strict=True)
    except rlp.DecodingError as exc:
        raise DecodingError(str(exc)) from exc


def _expect_list(items: Any, length: int, what: str) -> None:
    if not isinstance(items, list) or len(items) != length:
        raise DecodingError(f"{what}: expected a list of {length} items")


def _decode_int(item: Any) -> int:
    if not isinstance(item, bytes):
        raise DecodingError("expected an integer")
    try:
        return big_endian_int.deserialize(item)
    except rlp.DeserializationError as exc:
        raise DecodingError(str(exc)) from exc


def _decode_fixed(item: Any, length: int) -> bytes:
    if not isinstance(item, bytes) or len(item) != length:
        raise DecodingError(f"expected {length} bytes")
    return item


def _decode_optional_hash(item: Any) -> bytes | None:
    if item == b"":
        return None
    hash_ = _decode_fixed(item, HASH_LENGTH)
    if hash_ == NIL_HASH:
        # One nil has one encoding: the empty string. Zero bytes would sign the same digest.
        raise DecodingError("nil block hash must be encoded as empty bytes")
    return hash_
