"""The driver: joins the vote keeper and the state machine for one validator (or observer).

It checks every message (height, membership, proposer, signature), deduplicates, counts votes,
keeps proposals and block validity, turns evidence of equivocation into ``Evidence`` outputs,
and after every input feeds the state machine each "upon" input whose message condition now
holds, until none changes the state. It performs no I/O: ``apply`` returns outputs for the
host. It is not thread-safe; one host task owns it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from consensus import state_machine as sm
from consensus.commit import build_commit_certificate, verify_commit
from consensus.config import TimeoutKind
from consensus.events import (
    BlockValidated, BroadcastProposal, BroadcastVote, CertificateReceived, Commit, Decide, Evidence, Input, Output,
    ProposalReceived, ProposalSigned, RequestBlock, SignProposal, SignVote, TimeoutElapsed, ValidateBlock,
    ValueProposed, VoteReceived, VoteSigned,
)
from consensus.signing import SigningDomain, is_valid_proposal_signature, is_valid_vote_signature
from consensus.types import CommitCertificate, SignedProposal, SignedVote, ValidatorSet, VoteType
from consensus.validator_set import compute_proposer
from consensus.vote_keeper import VoteKeeper

# Bounds on what a byzantine proposer or a fast peer can make us hold.
MAX_PROPOSALS_PER_ROUND = 4
MAX_FUTURE_MESSAGES = 4096


@dataclass(frozen=True)
class RestoredLock:
    """What a restarted validator reloads from its last-sign record for the height it resumes."""

    round: int = 0
    locked_round: int = -1
    locked_value: bytes | None = None


class Driver:
    """Tendermint for one node. ``start_height`` then ``apply`` inputs; carry out the outputs.

    A full node runs it too, with an address outside the validator set: it then follows the
    rounds and commits but never asks to sign or to build a block.
    """

    def __init__(self, address: bytes, domain: SigningDomain) -> None:
        self.address = address
        self.domain = domain
        self.state: sm.State | None = None
        self.keeper: VoteKeeper | None = None
        self._proposals: dict[int, list[SignedProposal]] = {}
        self._validity: dict[bytes, bool] = {}
        self._validation_requested: set[bytes] = set()
        self._evidence_seen: set[tuple[bytes, int, int]] = set()
        self._future: list[Input] = []
        self._certificate: CommitCertificate | None = None

    # ----- public API --------------------------------------------------------------------

    @property
    def height(self) -> int:
        return self.state.height if self.state else -1

    def waiting_report(self) -> str | None:
        """What the height being decided waits for (None before the first height)."""
        if self.state is None or self.keeper is None:
            return None
        return self.keeper.waiting_report(self.state.round, self.state.step.name.lower())

    def start_height(self, height: int, validator_set: ValidatorSet,
                     restored: RestoredLock | None = None) -> list[Output]:
        """Begin ``height`` with its validator set; replays buffered messages for it."""
        restored = restored or RestoredLock()
        self.state = sm.initial_state(height, validator_set, self.address, restored.locked_value,
                                      restored.locked_round)
        self.keeper = VoteKeeper(height, validator_set)
        self._proposals, self._validity = {}, {}
        self._validation_requested, self._evidence_seen = set(), set()
        self._certificate = None
        outputs = self._transition(sm.StartRound(restored.round))
        buffered, self._future = self._future, []
        for inp in buffered:
            if _input_height(inp) == height:
                outputs += self._accept(inp) or []
        return outputs + self._drive()

    def apply(self, inp: Input) -> list[Output]:
        """Process one input and return what the host must do."""
        if self.state is None:
            return []
        outputs = self._accept(inp)
        return outputs + self._drive() if outputs is not None else []

    def proposals(self, round: int) -> list[SignedProposal]:
        return list(self._proposals.get(round, ()))

    def gossip_messages(self) -> list[SignedProposal | SignedVote]:
        """Everything this node holds for its height, for re-gossip to peers that lack it."""
        if self.keeper is None:
            return []
        messages: list[SignedProposal | SignedVote] = []
        for round in sorted(set(self.keeper.rounds()) | set(self._proposals)):
            messages += self._proposals.get(round, [])
            messages += self.keeper.votes(round, VoteType.PREVOTE) + self.keeper.votes(round, VoteType.PRECOMMIT)
        return messages

    # ----- input handling ----------------------------------------------------------------

    def _accept(self, inp: Input) -> list[Output] | None:
        """Record one input; returns immediate outputs, or None when it was ignored."""
        assert self.state is not None
        height = _input_height(inp)
        if height == self.state.height + 1 and isinstance(inp, (ProposalReceived, VoteReceived, CertificateReceived)):
            if len(self._future) < MAX_FUTURE_MESSAGES:
                self._future.append(inp)
            return None
        if height != self.state.height:
            return None
        if isinstance(inp, (VoteReceived, VoteSigned)):
            return self._on_vote(inp.signed, own=isinstance(inp, VoteSigned))
        if isinstance(inp, (ProposalReceived, ProposalSigned)):
            return self._on_proposal(inp.signed, own=isinstance(inp, ProposalSigned))
        if isinstance(inp, CertificateReceived):
            return self._on_certificate(inp.certificate)
        if isinstance(inp, ValueProposed):
            self._validity[inp.block_hash] = True
            return self._transition(sm.ValueReady(inp.round, inp.block_hash))
        if isinstance(inp, BlockValidated):
            self._validity.setdefault(inp.block_hash, inp.valid)
            return []
        if isinstance(inp, TimeoutElapsed):
            return self._transition(_timeout_input(inp))
        raise TypeError(f"unknown input {inp!r}")

    def _on_vote(self, signed: SignedVote, own: bool) -> list[Output] | None:
        assert self.state is not None and self.keeper is not None
        vote = signed.vote
        # Verify that this is not a copy of a vote we already hold (cheap, before crypto).
        if self.keeper.has_vote(signed):
            return None
        # Verify that the signer is a validator of this height and really signed it.
        if not self.state.validator_set.contains(signed.validator):
            return None
        if not is_valid_vote_signature(self.domain, signed):
            return None
        result = self.keeper.add_vote(signed)
        outputs: list[Output] = []
        if result.evidence is not None:
            key = (signed.validator, int(vote.vote_type), vote.round)
            if key not in self._evidence_seen:
                self._evidence_seen.add(key)
                outputs.append(Evidence(result.evidence))
        if own and result.counted:
            outputs.append(BroadcastVote(signed))
        return outputs if (outputs or result.counted) else None

    def _on_certificate(self, certificate: CommitCertificate) -> list[Output] | None:
        assert self.state is not None
        # Verify that it is the first certificate we hold and is signed by > 2/3 of this height.
        if self._certificate is not None or sm.is_decided(self.state):
            return None
        if verify_commit(certificate, self.state.validator_set, self.domain) is not None:
            return None
        self._certificate = certificate
        outputs: list[Output] = []
        block_hash = certificate.block_hash
        if block_hash not in self._validity and block_hash not in self._validation_requested:
            self._validation_requested.add(block_hash)
            outputs.append(ValidateBlock(certificate.height, certificate.round, block_hash))
        return outputs

    def _on_proposal(self, signed: SignedProposal, own: bool) -> list[Output] | None:
        assert self.state is not None
        proposal = signed.proposal
        held = self._proposals.get(proposal.round, [])
        # Verify that it is new, from this round's proposer, well-formed and validly signed.
        if signed in held or len(held) >= MAX_PROPOSALS_PER_ROUND:
            return None
        if signed.proposer != compute_proposer(self.state.validator_set, proposal.round):
            return None
        if not -1 <= proposal.pol_round < proposal.round:
            return None
        if not is_valid_proposal_signature(self.domain, signed):
            return None
        self._proposals.setdefault(proposal.round, []).append(signed)
        outputs: list[Output] = [BroadcastProposal(signed)] if own else []
        block_hash = proposal.block_hash
        if block_hash not in self._validity and block_hash not in self._validation_requested:
            self._validation_requested.add(block_hash)
            outputs.append(ValidateBlock(proposal.height, proposal.round, block_hash))
        return outputs

    # ----- joining keeper and state machine ----------------------------------------------

    def _transition(self, inp: sm.MachineInput) -> list[Output]:
        assert self.state is not None
        self.state, outputs = sm.apply(self.state, inp)
        if not self.state.validator_set.contains(self.address):
            # A full node (or a validator outside this height's set) follows but never signs.
            outputs = tuple(o for o in outputs if not isinstance(o, (SignVote, SignProposal, RequestBlock)))
        return [self._finish(o) for o in outputs]

    def _finish(self, output: Output) -> Output:
        """Turn the state machine's Decide into a Commit carrying its certificate."""
        if isinstance(output, Decide):
            assert self.keeper is not None
            certificate = self._certificate
            decided = (output.round, output.block_hash)
            if certificate is not None and (certificate.round, certificate.block_hash) == decided:
                return Commit(certificate)
            precommits = self.keeper.votes_for(output.round, VoteType.PRECOMMIT, output.block_hash)
            return Commit(build_commit_certificate(output.height, output.round, output.block_hash, precommits))
        return output

    def _drive(self) -> list[Output]:
        """Feed every enabled rule until none changes the state (a fixpoint)."""
        outputs: list[Output] = []
        progressed = True
        while progressed:
            progressed = False
            for inp in self._enabled_inputs():
                before = self.state
                new_outputs = self._transition(inp)
                if self.state is not before:
                    outputs += new_outputs
                    progressed = True
                    break
        return outputs

    def _enabled_inputs(self) -> Iterator[sm.MachineInput]:
        """Inputs whose message conditions hold now, in the order the rules should be tried."""
        assert self.state is not None and self.keeper is not None
        keeper, round = self.keeper, self.state.round
        yield from self._decisions()
        skip = keeper.highest_skip_round(round)
        if skip is not None:
            yield sm.SkipRound(skip)
        yield from self._proposal_inputs(round)
        # L36 and L44 before L34: when a polka is decisive there is no prevote timeout to wait for.
        polka = keeper.polka_value(round)
        if polka is not None and self._validity.get(polka) and self._has_proposal(round, polka):
            yield sm.ProposalAndPolka(round, polka)
        if keeper.has_polka_nil(round):
            yield sm.PolkaNil(round)
        if keeper.has_polka_any(round):
            yield sm.PolkaAny(round)
        if keeper.has_precommit_any(round):
            yield sm.PrecommitAny(round)

    def _decisions(self) -> Iterator[sm.MachineInput]:
        """L49 for every round: a proposal for v plus 2f+1 precommits for v, validity known."""
        assert self.keeper is not None
        certificate = self._certificate
        if certificate is not None and certificate.block_hash in self._validity:
            # The certificate stands in for 2f+1 precommits; the block came with it.
            valid = self._validity[certificate.block_hash]
            yield sm.ProposalAndCommit(certificate.round, certificate.block_hash, valid)
        for round in self.keeper.rounds():
            value = self.keeper.precommit_value(round)
            if value is not None and value in self._validity and self._has_proposal(round, value):
                yield sm.ProposalAndCommit(round, value, self._validity[value])

    def _proposal_inputs(self, round: int) -> Iterator[sm.MachineInput]:
        """L22 / L28 for the first proposal received in this round, once its validity is known."""
        assert self.keeper is not None
        held = self._proposals.get(round)
        if not held:
            return
        proposal = held[0].proposal
        valid = self._validity.get(proposal.block_hash)
        if valid is None:
            return
        if proposal.pol_round == -1:
            yield sm.ProposalWithoutPol(round, proposal.block_hash, valid)
        elif self.keeper.has_polka_for(proposal.pol_round, proposal.block_hash):
            yield sm.ProposalWithPol(round, proposal.block_hash, proposal.pol_round, valid)

    def _has_proposal(self, round: int, block_hash: bytes) -> bool:
        return any(p.proposal.block_hash == block_hash for p in self._proposals.get(round, ()))


def _input_height(inp: Input) -> int:
    if isinstance(inp, (ProposalReceived, ProposalSigned)):
        return inp.signed.proposal.height
    if isinstance(inp, (VoteReceived, VoteSigned)):
        return inp.signed.vote.height
    if isinstance(inp, CertificateReceived):
        return inp.certificate.height
    return inp.height


def _timeout_input(inp: TimeoutElapsed) -> sm.MachineInput:
    if inp.kind == TimeoutKind.PROPOSE:
        return sm.TimeoutPropose(inp.height, inp.round)
    if inp.kind == TimeoutKind.PREVOTE:
        return sm.TimeoutPrevote(inp.height, inp.round)
    return sm.TimeoutPrecommit(inp.height, inp.round)
