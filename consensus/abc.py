"""Interfaces of the consensus engine and of what its host provides, with their contracts.

The engine itself (``driver.Driver`` over ``state_machine`` and ``vote_keeper``) does no I/O:
the host (node/, or the simulator in tests/consensus/sim.py) owns the clock, the network, the
keys, the last-sign record and the chain, and carries out the engine's outputs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from consensus.driver import RestoredLock
    from consensus.events import Input, Output
    from consensus.signing import SigningDomain
    from consensus.types import LastSignRecord, Proposal, SignedProposal, SignedVote, ValidatorSet, Vote


@runtime_checkable
class SignerAPI(Protocol):
    """Holds a validator key and signs consensus messages in ``domain``. Lives in the host."""

    address: bytes
    domain: "SigningDomain"

    def sign_vote(self, vote: "Vote") -> "SignedVote":
        """Sign the EIP-712 ``Vote`` digest of ``vote``."""
        ...

    def sign_proposal(self, proposal: "Proposal") -> "SignedProposal":
        """Sign the EIP-712 ``Proposal`` digest of ``proposal``."""
        ...


@runtime_checkable
class SignRecordStoreAPI(Protocol):
    """Durable storage of the last-sign record.

    ``save`` must be durable when it returns (the node's store fsyncs a temp file and renames
    it), because the signature is released right after.
    """

    def load(self) -> "LastSignRecord | None":
        """The last saved record, or None if this validator never signed."""
        ...

    def save(self, record: "LastSignRecord") -> None:
        """Atomically and durably replace the record."""
        ...


@runtime_checkable
class ConsensusEngineAPI(Protocol):
    """Tendermint for one node: feed inputs, carry out outputs (see consensus/events.py).

    Host contract:
    * call ``start_height(h, set_h, restored)`` at start and after each ``Commit`` for h-1,
      with the validator set of height h and, after a restart, the lock from the last-sign
      record (``sign_guard.restored_lock``); then feed the validator's own messages of that
      height back as ``ProposalReceived`` / ``VoteReceived`` (``restored_messages``) and gossip
      them again (a crash may have come between the record and the broadcast), keeping the
      blocks they name available for ``ValidateBlock``;
    * ``SignVote`` / ``SignProposal``: sign through the last-sign guard, feed back
      ``VoteSigned`` / ``ProposalSigned``; never feed back a refused signature;
    * ``Broadcast*``: gossip; ``ScheduleTimeout``: feed ``TimeoutElapsed`` after
      ``TimeoutConfig.duration(kind, round)``; ``RequestBlock``: build a block, feed
      ``ValueProposed``; ``ValidateBlock``: execute it, feed ``BlockValidated``;
    * ``Commit``: persist the block with its certificate, then start the next height;
    * ``Evidence``: keep, gossip, submit to ``ValidatorRegistry.reportEquivocation``.
    """

    height: int

    def start_height(self, height: int, validator_set: "ValidatorSet",
                     restored: "RestoredLock | None" = None) -> "list[Output]":
        """Begin a height; returns the first outputs (timeouts, a proposal request)."""
        ...

    def apply(self, inp: "Input") -> "list[Output]":
        """Process one input and return the outputs it causes."""
        ...

    def gossip_messages(self) -> "list[SignedProposal | SignedVote]":
        """Everything held for the current height, for re-gossip to peers that lack it."""
        ...
