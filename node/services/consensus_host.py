"""The host of the consensus engine: it carries out the engine's outputs for one node.

consensus/ decides; the host only dispatches each output to the collaborator that does it —
sign (``ConsensusSigner``), broadcast (``Outbox``), schedule (``Timers``), build
(``BlockBuilder``), validate and commit (``ChainWriter``) — and feeds the results back. One trio
task owns the engine; py-evm work runs in worker threads (``offload``).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import rlp
import trio
from eth.abc import BlockAPI

from consensus.block_rules import compute_next_validator_set, compute_proposer, is_last_block_of_epoch
from consensus.config import TimeoutConfig
from consensus.driver import Driver
from consensus.events import (
    BlockValidated, BroadcastProposal, BroadcastVote, Commit, Evidence, Input, Output, RequestBlock,
    ScheduleTimeout, SignProposal, SignVote, ValidateBlock, ValueProposed, VoteReceived,
)
from consensus.sign_guard import GuardedSigner
from consensus.signing import SigningDomain
from consensus.types import (
    CommitCertificate, DuplicateVoteEvidence, SignedProposal, SignedVote, ValidatorSet, VoteType,
)
from consensus.wire import CommittedBlockMessage, ProposalMessage
from node.backend import Backend
from node.context import ConsensusStatus
from node.services.block_production import BlockBuilder, BlockPolicy
from node.services.chain_writer import Candidate, Candidates, ChainWriter
from node.services.consensus_io import (
    ConsensusSigner, DoubleSignRisk, EvidenceLog, NullOutbox, Offload, Outbox, OwnKeyEquivocated, Timers,
    describe_double_sign_risk, find_foreign_signature,
)
from node.validators import ValidatorSetStore

logger = logging.getLogger("azora.consensus")
SLOW_HEIGHT_REPORT_SECONDS = 5.0   # how often an undecided height says what it waits for
# A validator halting on evidence against its own key lives this long after it stopped signing:
# the evidence it just published waits in libp2p's per-peer send queues, and when it alone saw
# the conflicting vote, exiting at once would leave the equivocation unreported.
HALT_GRACE_SECONDS = 2.0


def build_consensus_host(backend: Backend, *, signer: GuardedSigner | None, domain: SigningDomain,
                         validator_sets: ValidatorSetStore, timeouts: TimeoutConfig, policy: BlockPolicy,
                         outbox: Outbox | None = None,
                         on_evidence: Callable[[DuplicateVoteEvidence], Any] | None = None,
                         clock: Callable[[], float] = time.time,
                         offload: Offload = trio.to_thread.run_sync,
                         offload_aside: Offload | None = None,
                         double_sign_check_height: int = 0,
                         wait_until_synced: Callable[[], Awaitable[None]] | None = None) -> "ConsensusHost":
    """A host with the node's collaborators: the chain writer (proposal and sync path) and
    the block builder share ``validator_sets``; py-evm work goes through ``offload``, and
    validations this node's next step does not wait on through ``offload_aside``.

    ``double_sign_check_height`` > 0: before its first signature the validator waits for
    ``wait_until_synced`` and refuses to start if its key signed one of that many latest
    commits without its last-sign record knowing (CometBFT's ``double_sign_check_height``)."""
    writer = ChainWriter(backend, validator_sets, domain, offload=offload, offload_aside=offload_aside, clock=clock)
    return ConsensusHost(backend, domain=domain, validator_sets=validator_sets, timeouts=timeouts, policy=policy,
                         signing=ConsensusSigner(signer), writer=writer,
                         builder=BlockBuilder(backend, validator_sets, writer, policy, timeouts, offload=offload),
                         outbox=outbox or NullOutbox(), on_evidence=on_evidence, offload=offload,
                         double_sign_check_height=double_sign_check_height, wait_until_synced=wait_until_synced)


class ConsensusHost:
    """Runs consensus for one node over ``backend``'s chain, through its collaborators."""

    def __init__(self, backend: Backend, *, domain: SigningDomain, validator_sets: ValidatorSetStore,
                 timeouts: TimeoutConfig, policy: BlockPolicy, signing: ConsensusSigner, writer: ChainWriter,
                 builder: BlockBuilder, outbox: Outbox,
                 on_evidence: Callable[[DuplicateVoteEvidence], Any] | None = None,
                 offload: Offload = trio.to_thread.run_sync, double_sign_check_height: int = 0,
                 wait_until_synced: Callable[[], Awaitable[None]] | None = None) -> None:
        self.backend = backend
        self.chain = backend.chain
        self.domain = domain
        self.validator_sets = validator_sets
        self.policy = policy
        self.signing = signing
        self.writer = writer
        self.builder = builder
        self.outbox = outbox
        self.on_evidence = on_evidence
        self.offload = offload
        self.address = signing.address
        self.double_sign_check_height = double_sign_check_height
        self.wait_until_synced = wait_until_synced
        # Held back until the double-sign check passes (``_check_before_signing``).
        self._unchecked: GuardedSigner | None = None
        if double_sign_check_height > 0 and signing.guarded is not None:
            self._unchecked, signing.guarded = signing.guarded, None
        self._send, self._receive = trio.open_memory_channel[Input](math.inf)
        self._block_work = 0   # blocks being built or executed for this node's engine
        self.timers = Timers(timeouts, self._send.send, busy=lambda: self._block_work > 0)
        self.driver = Driver(self.address, domain)
        self.validator_set: ValidatorSet | None = None
        self.candidates = Candidates()
        self.evidence = EvidenceLog()
        self.round = 0     # the round the latest block was decided in (never a timer's round)
        self._committed = trio.Condition()
        self._height_lock = trio.Lock()    # held while a height is in progress
        self._waiting: trio.CancelScope | None = None   # the height loop waiting for an input
        self._halt = trio.Event()
        self._committed_at = -math.inf    # trio time of our last commit: late precommits count until + commit
        self._halt_error: OwnKeyEquivocated | None = None
        self._background: trio.Nursery | None = None   # work that outlives a height (``run``)

    @property
    def signer(self) -> GuardedSigner | None:
        return self.signing.guarded

    @signer.setter
    def signer(self, guarded: GuardedSigner | None) -> None:
        self.signing.guarded = guarded

    def status(self) -> ConsensusStatus:
        """What RPC and metrics read of consensus (``node.context.ConsensusStatusSource``)."""
        state = self.driver.state
        return ConsensusStatus(height=max(self.driver.height, 0), round=self.round,
                               step=state.step.name.lower() if state else "propose",
                               validator=self.address if (self.signer or self._unchecked) else None,
                               evidence=len(self.evidence))

    # -- the loop --------------------------------------------------------------------------

    async def run(
        self, *,
        # trio-typing's stubs (installed with libp2p) shadow trio's own types and predate TaskStatus.
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,  # type: ignore[name-defined]
    ) -> None:
        task_status.started()
        async with trio.open_nursery() as nursery:
            self._background = nursery
            nursery.start_soon(self._halt_when_told)
            nursery.start_soon(self._report_slow_heights)
            await self._check_before_signing()
            self.builder.attach(trio.lowlevel.current_trio_token())
            while True:
                await self._wait_for_next_height()
                async with self._height_lock:
                    await self._run_height()

    async def _wait_for_next_height(self) -> None:
        """The policy's wait, while the next height's block fills if this node proposes it
        and its timestamp is known (a dev chain's interval mining; ``BlockBuilder.fill``)."""
        if self.signer is None or self.policy.planned_timestamp(self.chain.head.timestamp) is None:
            await self.policy.wait_for_next_height(self.backend)
            return
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.builder.fill, self.address, self._height_lock)
            await self.policy.wait_for_next_height(self.backend)
            self.builder.stop_filling()
            nursery.cancel_scope.cancel()

    async def _report_slow_heights(self) -> None:
        """Every few seconds a height stays undecided, say what it waits for: which round and
        step, the share of prevotes and precommits seen, who is missing."""
        while True:
            height = self.driver.height
            await trio.sleep(SLOW_HEIGHT_REPORT_SECONDS)
            if self.driver.height == height and self.chain.head.block_number < height:
                report = self.driver.waiting_report()
                if report is not None:
                    logger.warning("waiting: %s", report)

    async def _halt_when_told(self) -> None:
        """Raise the halt (evidence against our own key) in the host's task, wherever it was found."""
        await self._halt.wait()
        assert self._halt_error is not None
        await trio.sleep(HALT_GRACE_SECONDS)     # signing stopped already; let the evidence leave
        raise self._halt_error

    async def _run_height(self) -> None:
        height = self.chain.head.block_number + 1
        self.validator_set = self.validator_sets.for_height(height)
        self.candidates.reset(height)
        restored = self.signer.restored_lock(height) if self.signer else None
        try:
            async with trio.open_nursery() as nursery:
                self.timers.attach(nursery)
                await self._carry_out(self.driver.start_height(height, self.validator_set, restored))
                for restored_input in self.signing.restored_inputs(height):
                    await self._carry_out(self.driver.apply(restored_input))
                while self.chain.head.block_number < height:
                    inp = await self._next_input()
                    if inp is not None and not await self._absorb_late_precommit(inp):
                        await self._carry_out(self.driver.apply(inp))
                nursery.cancel_scope.cancel()    # the height's timers and block work
        finally:
            self.timers.attach(None)
            # The height's blocks are spent (the committed one's execution is in the chain): a
            # dev chain rewound below it builds this height again, maybe the very same block.
            self.candidates.reset(height + 1)

    async def _next_input(self) -> Input | None:
        """The next input, or None when sync imported this height's block meanwhile.

        Only this wait is interrupted (``import_committed_block`` cancels it): cancelling the
        task while it carries out an output could cut a gossip publish in half."""
        with trio.CancelScope() as self._waiting:
            return await self._receive.receive()
        return None

    async def feed(self, inp: Input) -> None:
        """Hand the engine an input from the network (proposals, votes, certificates)."""
        if await self._absorb_late_precommit(inp):
            return
        await self._send.send(inp)

    async def _absorb_late_precommit(self, inp: Input) -> bool:
        """A precommit for the block already committed at our head joins its commit, for the
        next proposer to carry (the engine, on the next height, would drop it)."""
        if not isinstance(inp, VoteReceived) or inp.signed.vote.vote_type != VoteType.PRECOMMIT:
            return False
        if inp.signed.vote.height != self.chain.head.block_number:
            return False
        await self.writer.add_late_precommit(inp.signed)
        return True

    async def _carry_out(self, outputs: list[Output]) -> None:
        for output in outputs:
            await self._carry_out_one(output)

    async def _carry_out_one(self, output: Output) -> None:
        if isinstance(output, (SignVote, SignProposal)):
            signed = self.signing.sign(output)
            if signed is not None:
                await self._carry_out(self.driver.apply(signed))
        elif isinstance(output, BroadcastProposal):
            message = self.candidates.proposal_message(output.signed) if self.outbox.listened else None
            if message is not None:
                await self.outbox.proposal(message)
        elif isinstance(output, BroadcastVote):
            await self.outbox.vote(output.signed)
        elif isinstance(output, ScheduleTimeout):
            self.timers.schedule(output)
        elif isinstance(output, RequestBlock):
            self.timers.start_soon(self._build, output)
        elif isinstance(output, ValidateBlock):
            self.timers.start_soon(self._validate, output)
        elif isinstance(output, Commit):
            await self._commit(output.certificate)
        elif isinstance(output, Evidence):
            await self._on_evidence(output.evidence)
        # Decide never arrives here: the driver turns it into Commit with its certificate.

    # -- outputs that take time ------------------------------------------------------------------

    async def _build(self, request: RequestBlock) -> None:
        assert self.validator_set is not None
        await self._collect_late_precommits()
        self._block_work += 1
        try:
            candidate = await self.builder.build(request.round, self.validator_set, self.address)
            self.candidates.add(candidate)
            await self._send.send(ValueProposed(request.height, request.round, candidate.block.hash))
        finally:
            self._block_work -= 1

    async def _collect_late_precommits(self) -> None:
        """Before building on the head, give the precommits still on their way after its
        commit until the commit timeout (from the commit) to join the commit this block will
        carry: without it the fastest two thirds sign every block, and the epoch rewards
        follow speed, not signing. Returns at once when every validator of the head signed."""
        head = self.chain.head.block_number
        deadline = self._committed_at + self.timers.timeouts.commit
        if head == 0 or trio.current_time() >= deadline:
            return
        size = len(self.validator_sets.read(head).validators)
        with trio.move_on_at(deadline):
            while True:
                grows = self.writer.head_commit_grows()
                certificate = self.writer.head_certificate()
                if certificate is None or len(certificate.signatures) >= size:
                    return
                await grows.wait()

    async def _validate(self, request: ValidateBlock) -> None:
        candidate, validator_set = self.candidates.get(request.block_hash), self.validator_set
        if candidate is None or validator_set is None:
            return  # the block never arrived; the round will time out
        self._block_work += 1
        next_set = self._next_set(candidate, validator_set)
        proposes_next = next_set is not None and compute_proposer(next_set, 0) == self.address
        try:
            valid = await self.writer.validate(candidate, request.round, validator_set,
                                               critical=proposes_next or next_set is None)
            await self._send.send(BlockValidated(request.height, request.block_hash, valid))
        finally:
            self._block_work -= 1
        if valid and proposes_next and self._background is not None:
            # the next height's block, built on `candidate` while it is voted on
            # (BlockBuilder.prepare); in the host's nursery, which outlives the height
            assert next_set is not None
            self._background.start_soon(self.builder.prepare, candidate, next_set, self.address)

    def _next_set(self, candidate: Candidate, validator_set: ValidatorSet) -> ValidatorSet | None:
        """The set of the height after ``candidate``'s if this validator is one of several
        and can know it now; None for a full node, a lone validator (a dev chain: no one else
        executes its blocks meanwhile) or the end of an epoch (the next set is read from the
        state after ``candidate``: known once it commits)."""
        height = candidate.block.number
        if self.signer is None or len(validator_set.validators) < 2:
            return None
        if is_last_block_of_epoch(height, self.validator_sets.epoch_length):
            return None
        return compute_next_validator_set(validator_set, height, self.validator_sets.epoch_length)

    async def _commit(self, certificate: CommitCertificate) -> None:
        candidate = self.candidates.get(certificate.block_hash)
        if candidate is None:
            logger.warning("committed block 0x%s is unknown here; waiting for sync", certificate.block_hash.hex())
            return
        if not await self.writer.commit(candidate, certificate):
            return   # sync got there first
        self.round = certificate.round
        self._committed_at = trio.current_time()
        await self._precommit_decided_block(certificate)
        if self.outbox.listened:
            await self.outbox.committed(CommittedBlockMessage(
                rlp.encode(candidate.block), certificate.encode(), candidate.encoded_parent_certificate()))
        await self._notify_committed()

    async def _precommit_decided_block(self, certificate: CommitCertificate) -> None:
        """A validator still executing a proposal when the others' precommits (or their
        committed block, by gossip) decided it never voted on it: it signs its precommit now,
        a late precommit for the next proposer's commit. Without it the next proposer waited
        its whole commit timeout for a signature that never came (a loaded 4-validator
        testnet: 3 of 4 signers, heights of 1.7-2 s at a 1-s interval), and the slow validator
        lost the height's reward."""
        if self.validator_set is None or not self.validator_set.contains(self.address):
            return
        signed = self.signing.decided_precommit(certificate)
        if signed is None:
            return
        await self.writer.add_late_precommit(signed)
        await self.outbox.vote(signed)

    async def _on_evidence(self, evidence: DuplicateVoteEvidence) -> None:
        logger.warning("equivocation by 0x%s at height %d round %d", evidence.validator.hex(),
                       evidence.vote_a.vote.height, evidence.vote_a.vote.round)
        self.evidence.append(evidence)
        await self.outbox.evidence(evidence)
        await self.on_evidence_received(evidence)

    async def on_evidence_received(self, evidence: DuplicateVoteEvidence) -> None:
        """Evidence seen here or gossiped: reported, unless it is against our own key — then
        another process signs with it, and this one stops signing and halts the node."""
        if evidence.validator == self.address and (self.signer is not None or self._unchecked is not None):
            self.signer, self._unchecked = None, None
            vote = evidence.vote_a.vote
            message = (f"evidence of equivocation against this validator's own key 0x{self.address.hex()} "
                       f"at height {vote.height} round {vote.round}: another process is signing with it; "
                       "stopped signing")
            logger.critical(message)
            self._halt_error = OwnKeyEquivocated(message)
            self._halt.set()
            return
        if self.on_evidence is not None:
            await self.offload(self.on_evidence, evidence)

    # -- double-sign protection at start -------------------------------------------------------

    async def _check_before_signing(self) -> None:
        """Arm the held-back signer once level with the network, or raise ``DoubleSignRisk``."""
        held = self._unchecked
        if held is None:
            return
        if self.wait_until_synced is not None:
            await self.wait_until_synced()
        last_signed = held.last.height if held.last is not None else 0
        depth = self.double_sign_check_height
        found = await self.offload(lambda: find_foreign_signature(held.address, self.recent_commits(depth),
                                                                  last_signed))
        if found is not None:
            message = describe_double_sign_risk(held.address, found, depth)
            logger.critical(message)
            self._unchecked = None
            raise DoubleSignRisk(message)
        logger.info("double-sign check: no signature of 0x%s in the last %d commits; signing from #%d",
                    held.address.hex(), depth, self.chain.head.block_number + 1)
        self.signer, self._unchecked = held, None

    def recent_commits(self, count: int) -> list[CommitCertificate]:
        """The commits of the ``count`` newest blocks, newest first (as this node holds them)."""
        commits = []
        head = self.chain.head.block_number
        for number in range(head, max(0, head - count), -1):
            raw = self.chain.commit_of(self.chain.header_by_number(number).hash)
            if raw:
                commits.append(CommitCertificate.decode(raw))
        return commits

    # -- the network's entry points ------------------------------------------------------------

    def receive_proposal_block(self, message: ProposalMessage) -> str | None:
        """Keep a proposed block for validation; returns why it is unusable, or None."""
        return self.candidates.receive(message, self.chain.head.block_number + 1, self.writer.decode_block)

    def proposed_block(self, block_hash: bytes) -> BlockAPI | None:
        """The block of a proposal held at the height in progress, by hash."""
        candidate = self.candidates.get(block_hash)
        return candidate.block if candidate is not None else None

    async def import_committed_block(self, block: BlockAPI, certificate: CommitCertificate,
                                     parent_certificate: CommitCertificate | None) -> bool:
        """A block finalised elsewhere (range sync, block gossip): see ``ChainWriter``. It
        completes the height in progress. False if already had."""
        if not await self.writer.import_committed(block, certificate, parent_certificate,
                                                  self.candidates.get(block.hash)):
            return False
        self.round = certificate.round
        if certificate.height == self.driver.height:   # the height in progress, decided without our vote
            self._committed_at = trio.current_time()
            await self._precommit_decided_block(certificate)
        if self._waiting is not None:
            self._waiting.cancel()    # a no-op unless the height loop is waiting right now
        await self._notify_committed()
        return True

    def own_messages(self) -> list[ProposalMessage | SignedVote]:
        """What this validator signed at the current height (its proposals with their blocks),
        for re-gossip to peers that were away when it was first published."""
        if self.signer is None:
            return []
        out: list[ProposalMessage | SignedVote] = []
        for message in self.driver.gossip_messages():
            if isinstance(message, SignedVote) and message.validator == self.address:
                out.append(message)
            elif isinstance(message, SignedProposal) and message.proposer == self.address:
                proposal = self.candidates.proposal_message(message)
                if proposal is not None:
                    out.append(proposal)
        return out

    # -- waiting and exclusion -------------------------------------------------------------------

    async def _notify_committed(self) -> None:
        async with self._committed:
            self._committed.notify_all()

    async def wait_for_height(self, height: int) -> None:
        async with self._committed:
            while self.chain.head.block_number < height:
                await self._committed.wait()

    async def exclusive(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` between heights (dev chains' rewinds)."""
        async with self._height_lock:
            return await self.offload(fn)
