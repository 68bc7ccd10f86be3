"""The driver: message checks, deduplication, evidence, rule multiplexing, certificates."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from eth_utils import keccak

from consensus.commit import build_commit_certificate, is_valid_commit
from consensus.config import TimeoutKind
from consensus.driver import Driver
from consensus.events import (
    BlockValidated, BroadcastProposal, BroadcastVote, CertificateReceived, Commit, Evidence, Output, ProposalReceived,
    ProposalSigned, RequestBlock, ScheduleTimeout, SignProposal, SignVote, TimeoutElapsed, ValidateBlock,
    ValueProposed, VoteReceived, VoteSigned,
)
from consensus.signing import LocalSigner, SigningDomain
from consensus.types import Proposal, SignedVote, Step, Vote, VoteType
from consensus.validator_set import compute_proposer, new_validator_set

DOMAIN = SigningDomain(7, b"\x22" * 20)
SIGNERS = [LocalSigner(keccak(b"drv" + bytes([i])), DOMAIN) for i in range(4)]
BY_ADDRESS = {s.address: s for s in SIGNERS}
VSET = new_validator_set([(s.address, 1) for s in SIGNERS])
H = 1
V, W = keccak(b"v"), keccak(b"w")


@dataclass
class Host:
    """Carries out a driver's outputs like node/ does, recording what leaves."""

    driver: Driver
    signer: LocalSigner
    invalid: set[bytes] = field(default_factory=set)
    block: bytes = V
    sent: list[Output] = field(default_factory=list)

    def run(self, outputs: list[Output]) -> list[Output]:
        pending, seen = deque(outputs), []
        while pending:
            out = pending.popleft()
            seen.append(out)
            if isinstance(out, SignVote):
                pending.extend(self.driver.apply(VoteSigned(self.signer.sign_vote(out.vote))))
            elif isinstance(out, SignProposal):
                pending.extend(self.driver.apply(ProposalSigned(self.signer.sign_proposal(out.proposal))))
            elif isinstance(out, RequestBlock):
                pending.extend(self.driver.apply(ValueProposed(out.height, out.round, self.block)))
            elif isinstance(out, ValidateBlock):
                pending.extend(self.driver.apply(BlockValidated(out.height, out.block_hash, out.block_hash not in self.invalid)))
        self.sent += seen
        return seen

    def feed(self, *inputs: object) -> list[Output]:
        outputs: list[Output] = []
        for inp in inputs:
            outputs += self.run(self.driver.apply(inp))  # type: ignore[arg-type]
        return outputs


def host_for(index: int, validator_set=VSET) -> Host:  # type: ignore[no-untyped-def]
    signer = SIGNERS[index]
    host = Host(Driver(signer.address, DOMAIN), signer)
    host.run(host.driver.start_height(H, validator_set))
    return host


def non_proposer(round: int = 0) -> int:
    return next(i for i, s in enumerate(SIGNERS) if s.address != compute_proposer(VSET, round))


def proposer_signer(round: int = 0) -> LocalSigner:
    return BY_ADDRESS[compute_proposer(VSET, round)]


def votes(vote_type: VoteType, block_hash: bytes | None, signers: list[LocalSigner], round: int = 0) -> list[VoteReceived]:
    return [VoteReceived(s.sign_vote(Vote(vote_type, H, round, block_hash))) for s in signers]


def others(index: int) -> list[LocalSigner]:
    return [s for i, s in enumerate(SIGNERS) if i != index]


def of_type(outputs: list[Output], kind: type) -> list[Output]:
    return [o for o in outputs if isinstance(o, kind)]


def test_single_validator_commits_without_waiting_for_any_timeout() -> None:
    signer = SIGNERS[0]
    driver = Driver(signer.address, DOMAIN)
    host = Host(driver, signer)
    outputs = host.run(driver.start_height(H, new_validator_set([(signer.address, 1)])))
    commits = of_type(outputs, Commit)
    assert len(commits) == 1 and commits[0].certificate.block_hash == V
    assert of_type(outputs, ScheduleTimeout) == [ScheduleTimeout(TimeoutKind.PROPOSE, H, 0)]
    assert [type(o) for o in outputs if isinstance(o, (BroadcastProposal, BroadcastVote))] == [
        BroadcastProposal, BroadcastVote, BroadcastVote]


def test_happy_path_prevote_precommit_commit_with_valid_certificate() -> None:
    me = non_proposer()
    host = host_for(me)
    proposal = proposer_signer().sign_proposal(Proposal(H, 0, V, -1))
    out = host.feed(ProposalReceived(proposal))
    assert of_type(out, ValidateBlock) == [ValidateBlock(H, 0, V)]
    assert of_type(out, SignVote) == [SignVote(Vote(VoteType.PREVOTE, H, 0, V))]
    out = host.feed(*votes(VoteType.PREVOTE, V, others(me)[:2]))
    assert of_type(out, SignVote) == [SignVote(Vote(VoteType.PRECOMMIT, H, 0, V))]
    assert host.driver.state.locked_value == V
    assert of_type(host.feed(*votes(VoteType.PRECOMMIT, V, others(me)[:1])), Commit) == []  # 2 of 4
    out = host.feed(*votes(VoteType.PRECOMMIT, V, others(me)[1:2]))
    commit = of_type(out, Commit)[0].certificate
    assert commit.block_hash == V and len(commit.signatures) == 3
    assert is_valid_commit(commit, VSET, DOMAIN.chain_id, DOMAIN.verifying_contract)


def test_invalid_block_is_prevoted_nil() -> None:
    me = non_proposer()
    host = host_for(me)
    host.invalid.add(V)
    out = host.feed(ProposalReceived(proposer_signer().sign_proposal(Proposal(H, 0, V, -1))))
    assert of_type(out, SignVote) == [SignVote(Vote(VoteType.PREVOTE, H, 0, None))]


def test_invalid_proposal_from_a_non_proposer_is_ignored() -> None:
    me = non_proposer()
    host = host_for(me)
    intruder = next(s for s in others(me) if s.address != compute_proposer(VSET, 0))
    assert host.feed(ProposalReceived(intruder.sign_proposal(Proposal(H, 0, V, -1)))) == []
    assert host.driver.proposals(0) == []


def test_invalid_signatures_and_outsiders_are_ignored() -> None:
    me = non_proposer()
    host = host_for(me)
    good = others(me)[0].sign_vote(Vote(VoteType.PREVOTE, H, 0, V))
    forged = SignedVote(good.vote, others(me)[1].address, good.signature)
    outsider = LocalSigner(keccak(b"outsider"), DOMAIN).sign_vote(Vote(VoteType.PREVOTE, H, 0, V))
    other_chain = LocalSigner(keccak(b"drv" + bytes([0])), SigningDomain(8, DOMAIN.verifying_contract))
    wrong_domain = other_chain.sign_vote(Vote(VoteType.PREVOTE, H, 0, V))
    for signed in (forged, outsider, wrong_domain):
        host.feed(VoteReceived(signed))
    assert host.driver.keeper.votes(0, VoteType.PREVOTE) == []


def test_duplicate_messages_cause_nothing() -> None:
    me = non_proposer()
    host = host_for(me)
    message = votes(VoteType.PREVOTE, V, others(me)[:1])[0]
    host.feed(message)
    assert host.driver.apply(message) == []


def test_conflicting_votes_produce_evidence_once() -> None:
    me = non_proposer()
    host = host_for(me)
    liar = others(me)[0]
    out = host.feed(*votes(VoteType.PREVOTE, V, [liar]), *votes(VoteType.PREVOTE, W, [liar]),
                    *votes(VoteType.PREVOTE, None, [liar]))
    evidence = of_type(out, Evidence)
    assert len(evidence) == 1 and evidence[0].evidence.validator == liar.address


def test_f_plus_one_votes_from_a_higher_round_skip_to_it() -> None:
    me = non_proposer()
    host = host_for(me)
    host.feed(*votes(VoteType.PREVOTE, None, others(me)[:1], round=3))
    assert host.driver.state.round == 0
    host.feed(*votes(VoteType.PRECOMMIT, None, others(me)[1:2], round=3))
    assert host.driver.state.round == 3


def test_proposal_with_pol_is_accepted_by_a_validator_locked_earlier() -> None:
    me = non_proposer(0)
    host = host_for(me)
    # Round 0: lock on V.
    host.feed(ProposalReceived(proposer_signer(0).sign_proposal(Proposal(H, 0, V, -1))))
    host.feed(*votes(VoteType.PREVOTE, V, others(me)[:2]))
    assert (host.driver.state.locked_value, host.driver.state.locked_round) == (V, 0)
    # Round 1: W gets a polka we see; round 2 re-proposes W with polRound 1.
    host.feed(*votes(VoteType.PRECOMMIT, None, others(me)[:2]))
    host.feed(TimeoutElapsed(TimeoutKind.PRECOMMIT, H, 0))
    assert host.driver.state.round == 1
    host.feed(*votes(VoteType.PREVOTE, W, others(me), round=1))
    host.feed(TimeoutElapsed(TimeoutKind.PROPOSE, H, 1))  # our own prevote in round 1 is nil (no proposal)
    host.feed(*votes(VoteType.PRECOMMIT, None, others(me)[:2], round=1), TimeoutElapsed(TimeoutKind.PRECOMMIT, H, 1))
    assert host.driver.state.round == 2 and host.driver.state.step == Step.PROPOSE
    proposer2 = proposer_signer(2)
    out = host.feed(ProposalReceived(proposer2.sign_proposal(Proposal(H, 2, W, 1))))
    assert SignVote(Vote(VoteType.PREVOTE, H, 2, W)) in out


def test_future_height_messages_are_buffered_and_replayed() -> None:
    me = non_proposer()
    host = host_for(me)
    early = [VoteReceived(s.sign_vote(Vote(VoteType.PRECOMMIT, H + 1, 0, W))) for s in others(me)]
    forged = SignedVote(early[0].signed.vote, early[1].signed.validator, early[0].signed.signature)
    assert host.feed(*early, *early, VoteReceived(forged)) == []   # duplicates and a forgery wait too
    host.driver.start_height(H + 1, VSET)
    assert len(host.driver.keeper.votes(0, VoteType.PRECOMMIT)) == 3


def test_commit_certificate_input_decides_even_without_the_votes() -> None:
    me = non_proposer()
    host = host_for(me)
    precommits = [s.sign_vote(Vote(VoteType.PRECOMMIT, H, 2, W)) for s in others(me)]
    certificate = build_commit_certificate(H, 2, W, precommits)
    out = host.feed(CertificateReceived(certificate))
    assert of_type(out, Commit) == [Commit(certificate)]


def test_invalid_commit_certificate_input_is_ignored() -> None:
    me = non_proposer()
    host = host_for(me)
    precommits = [s.sign_vote(Vote(VoteType.PRECOMMIT, H, 0, W)) for s in others(me)[:2]]
    assert host.feed(CertificateReceived(build_commit_certificate(H, 0, W, precommits))) == []
    assert host.driver.state.step != Step.COMMIT


def test_certificate_for_an_invalid_block_is_never_committed() -> None:
    me = non_proposer()
    host = host_for(me)
    host.invalid.add(W)
    precommits = [s.sign_vote(Vote(VoteType.PRECOMMIT, H, 0, W)) for s in others(me)]
    assert of_type(host.feed(CertificateReceived(build_commit_certificate(H, 0, W, precommits))), Commit) == []


def test_gossip_messages_hold_the_height_s_proposals_and_votes() -> None:
    me = non_proposer()
    host = host_for(me)
    proposal = proposer_signer().sign_proposal(Proposal(H, 0, V, -1))
    host.feed(ProposalReceived(proposal), *votes(VoteType.PREVOTE, V, others(me)[:1]))
    held = host.driver.gossip_messages()
    assert proposal in held and len(held) == 3  # the proposal, their prevote, our prevote


def test_full_node_outside_the_set_follows_and_commits_but_never_signs() -> None:
    observer = LocalSigner(keccak(b"full node"), DOMAIN)
    host = Host(Driver(observer.address, DOMAIN), observer)
    host.run(host.driver.start_height(H, VSET))
    proposal = proposer_signer().sign_proposal(Proposal(H, 0, V, -1))
    out = host.feed(ProposalReceived(proposal), *votes(VoteType.PREVOTE, V, SIGNERS[:3]),
                    *votes(VoteType.PRECOMMIT, V, SIGNERS[:3]), TimeoutElapsed(TimeoutKind.PROPOSE, H, 0))
    assert of_type(out, Commit) and not of_type(host.sent, SignVote) and not of_type(host.sent, SignProposal)


def test_restarted_validator_keeps_its_lock_and_does_not_vote_against_it() -> None:
    from consensus.sign_guard import GuardedSigner, MemorySignRecordStore

    proposers = {compute_proposer(VSET, 0), compute_proposer(VSET, 1)}
    me = next(i for i, s in enumerate(SIGNERS) if s.address not in proposers)
    store = MemorySignRecordStore()
    guard = GuardedSigner(SIGNERS[me], store)
    driver = Driver(SIGNERS[me].address, DOMAIN)
    host = Host(driver, SIGNERS[me])
    host.signer = guard  # type: ignore[assignment]  # sign through the durable record
    host.run(driver.start_height(H, VSET))
    host.feed(ProposalReceived(proposer_signer(0).sign_proposal(Proposal(H, 0, V, -1))),
              *votes(VoteType.PREVOTE, V, others(me)[:2]))
    assert store.load().locked_value == V  # precommitted V at round 0: locked
    # Crash. The restarted driver resumes round 0 locked on V; in round 1 another block W is
    # proposed without a proof-of-lock: the validator must prevote nil, not W.
    restarted = Driver(SIGNERS[me].address, DOMAIN)
    again = Host(restarted, SIGNERS[me])
    again.signer = GuardedSigner(SIGNERS[me], store)  # type: ignore[assignment]
    again.run(restarted.start_height(H, VSET, again.signer.restored_lock(H)))  # type: ignore[attr-defined]
    again.feed(*votes(VoteType.PRECOMMIT, None, others(me)), TimeoutElapsed(TimeoutKind.PRECOMMIT, H, 0))
    out = again.feed(ProposalReceived(proposer_signer(1).sign_proposal(Proposal(H, 1, W, -1))))
    assert SignVote(Vote(VoteType.PREVOTE, H, 1, None)) in out
    # Without the restored lock the same validator would have prevoted W (the amnesia attack).
    amnesic = Host(Driver(SIGNERS[me].address, DOMAIN), SIGNERS[me])
    amnesic.run(amnesic.driver.start_height(H, VSET))
    amnesic.feed(*votes(VoteType.PRECOMMIT, None, others(me)), TimeoutElapsed(TimeoutKind.PRECOMMIT, H, 0))
    out = amnesic.feed(ProposalReceived(proposer_signer(1).sign_proposal(Proposal(H, 1, W, -1))))
    assert SignVote(Vote(VoteType.PREVOTE, H, 1, W)) in out
