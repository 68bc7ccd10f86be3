"""What the host feeds the engine (inputs) and what the engine asks the host to do (outputs).

All are frozen dataclasses. The host loop is::

    for output in driver.apply(some_input):
        carry out output (sign, broadcast, schedule a timer, validate a block, persist a commit),
        feeding any result back with driver.apply(...)

Signing is an output, not a callback: the engine emits ``SignVote`` / ``SignProposal`` with the
unsigned message; the host checks its durable last-sign record, signs, and feeds the result
back as ``VoteSigned`` / ``ProposalSigned``; the engine then counts it and emits the
``Broadcast*`` output. A refused signature is simply never fed back.
"""
from __future__ import annotations

from dataclasses import dataclass

from consensus.config import TimeoutKind
from consensus.types import CommitCertificate, DuplicateVoteEvidence, Proposal, SignedProposal, SignedVote, Vote

# ----- inputs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProposalReceived:
    """A signed proposal from the network (the block travels beside it)."""

    signed: SignedProposal


@dataclass(frozen=True)
class VoteReceived:
    """A signed vote from the network."""

    signed: SignedVote


@dataclass(frozen=True)
class CertificateReceived:
    """A commit certificate for the current height from a peer or from sync (block beside it).

    How a node that missed some precommits (or saw an equivocator's other vote first) still
    decides: the certificate is verified as a whole against the height's validator set.
    """

    certificate: CommitCertificate


@dataclass(frozen=True)
class ProposalSigned:
    """The host's answer to ``SignProposal``."""

    signed: SignedProposal


@dataclass(frozen=True)
class VoteSigned:
    """The host's answer to ``SignVote``."""

    signed: SignedVote


@dataclass(frozen=True)
class ValueProposed:
    """The host's answer to ``RequestBlock``: the hash of the block it built (valid by construction)."""

    height: int
    round: int
    block_hash: bytes


@dataclass(frozen=True)
class BlockValidated:
    """The host's answer to ``ValidateBlock``: the block with this hash is (in)valid."""

    height: int
    block_hash: bytes
    valid: bool


@dataclass(frozen=True)
class TimeoutElapsed:
    """A timer set by ``ScheduleTimeout`` fired."""

    kind: TimeoutKind
    height: int
    round: int


Input = (ProposalReceived | VoteReceived | CertificateReceived | ProposalSigned | VoteSigned | ValueProposed
         | BlockValidated | TimeoutElapsed)

# ----- outputs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SignProposal:
    """Sign this proposal (after the last-sign check) and feed back ``ProposalSigned``."""

    proposal: Proposal


@dataclass(frozen=True)
class SignVote:
    """Sign this vote (after the last-sign check) and feed back ``VoteSigned``."""

    vote: Vote


@dataclass(frozen=True)
class BroadcastProposal:
    """Gossip this signed proposal together with its block."""

    signed: SignedProposal


@dataclass(frozen=True)
class BroadcastVote:
    """Gossip this signed vote."""

    signed: SignedVote


@dataclass(frozen=True)
class ScheduleTimeout:
    """Start a timer of ``TimeoutConfig.duration(kind, round)``; then feed ``TimeoutElapsed``."""

    kind: TimeoutKind
    height: int
    round: int


@dataclass(frozen=True)
class RequestBlock:
    """We propose in (height, round) and hold no valid value: build a block, feed ``ValueProposed``."""

    height: int
    round: int


@dataclass(frozen=True)
class ValidateBlock:
    """Validate (execute) the block with this hash, then feed ``BlockValidated``."""

    height: int
    round: int
    block_hash: bytes


@dataclass(frozen=True)
class Decide:
    """State-machine output (paper L49): ``block_hash`` is decided at (height, round)."""

    height: int
    round: int
    block_hash: bytes


@dataclass(frozen=True)
class Commit:
    """The block is final: persist it with this certificate, then start the next height."""

    certificate: CommitCertificate


@dataclass(frozen=True)
class Evidence:
    """Two conflicting signed votes: keep, gossip and report to ValidatorRegistry."""

    evidence: DuplicateVoteEvidence


Output = (SignProposal | SignVote | BroadcastProposal | BroadcastVote | ScheduleTimeout | RequestBlock
          | ValidateBlock | Decide | Commit | Evidence)
