"""The host of the consensus engine: it carries out the engine's outputs for one node.

consensus/ decides; this module does what the decisions need — signs through the last-sign
guard, builds and executes blocks with the kernel, runs timers, hands messages to an outbox
(the node routes them to gossip), commits blocks with their certificates and starts the next
height. One trio task owns the engine; py-evm work runs in worker threads.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import rlp
import trio
from eth.abc import BlockAPI

from consensus.config import TimeoutConfig, TimeoutKind
from consensus.driver import Driver
from consensus.epochs import compute_mix_hash, is_valid_proposer, is_valid_timestamp
from consensus.commit import verify_commit
from consensus.events import (
    BlockValidated, BroadcastProposal, BroadcastVote, Commit, Decide, Evidence, Input, Output,
    ProposalSigned, RequestBlock, ScheduleTimeout, SignProposal, SignVote, TimeoutElapsed,
    ValidateBlock, ValueProposed, VoteSigned,
)
from consensus.sign_guard import GuardedSigner, SignRefused
from consensus.signing import SigningDomain
from consensus.types import CommitCertificate, DuplicateVoteEvidence, SignedProposal, SignedVote
from kernel.chain import ChainError, PendingBlock
from node.backend import Backend
from node.context import ConsensusStatus
from node.rewards import block_extra_data, reward_system_calls
from node.validators import ValidatorSets

logger = logging.getLogger("azora.consensus")
MAX_TXS_PER_BLOCK = 5_000
# With other validators, a block must be built, sent and re-executed by each of them within
# the propose timeout, or they prevote nil and the round is lost (measured on a 4-validator
# testnet: an 882-transaction block needed round 5, 35 s). The proposer caps its block at what
# it could execute in this fraction of the propose timeout, from the rate of its past builds.
EXECUTION_SHARE_OF_PROPOSE_TIMEOUT = 0.3
MIN_TXS_PER_BLOCK = 50
INITIAL_TX_RATE = 200.0   # transactions/s before the first measured build


# -- wire formats of the consensus topics ---------------------------------------------------

@dataclass(frozen=True)
class ProposalMessage:
    """A signed proposal with its block and the parent commit the proposer chose (DESIGN:
    the canonical commit of block H-1 is the one block H's proposer carries)."""

    signed: SignedProposal
    block: bytes
    parent_certificate: bytes

    def encode(self) -> bytes:
        return rlp.encode([self.signed.encode(), self.block, self.parent_certificate])

    @classmethod
    def decode(cls, data: bytes) -> "ProposalMessage":
        items = _rlp_items(data, "proposal message")
        if not isinstance(items, list) or len(items) != 3 or not all(isinstance(i, bytes) for i in items):
            raise ValueError("proposal message: expected [proposal, block, parentCommit]")
        return cls(SignedProposal.decode(items[0]), items[1], items[2])


@dataclass(frozen=True)
class CommittedBlockMessage:
    """A committed block, its certificate and the canonical certificate of its parent (the one
    the block's mixHash binds): what full nodes follow on gossip and range sync serves."""

    block: bytes
    certificate: bytes
    parent_certificate: bytes    # empty for block 1

    def encode(self) -> bytes:
        return rlp.encode([self.block, self.certificate, self.parent_certificate])

    @classmethod
    def decode(cls, data: bytes) -> "CommittedBlockMessage":
        items = _rlp_items(data, "block message")
        if not isinstance(items, list) or len(items) != 3 or not all(isinstance(i, bytes) for i in items):
            raise ValueError("block message: expected [block, commit, parentCommit]")
        return cls(items[0], items[1], items[2])


def encode_commits(certificate: bytes, parent_certificate: bytes) -> bytes:
    """The commit field of a range-sync item: the block's certificate and its parent's."""
    return rlp.encode([certificate, parent_certificate])


def decode_commits(data: bytes) -> tuple[CommitCertificate, CommitCertificate | None]:
    items = _rlp_items(data, "commits")
    if not isinstance(items, list) or len(items) != 2 or not all(isinstance(i, bytes) for i in items):
        raise ValueError("commits: expected [commit, parentCommit]")
    return CommitCertificate.decode(items[0]), CommitCertificate.decode(items[1]) if items[1] else None


def _rlp_items(data: bytes, what: str) -> Any:
    """RLP-decode gossip bytes; malformed input is a ValueError like every other decoding fault
    (rlp's own exceptions are not ValueErrors, and a gossip validator that raises cannot
    reject, so the sender would go unpunished)."""
    try:
        return rlp.decode(data)
    except rlp.exceptions.RLPException as exc:
        raise ValueError(f"{what}: {exc}") from None


class Outbox(Protocol):
    """Where the host sends what must reach other validators (the node wires it to gossip)."""

    async def proposal(self, message: ProposalMessage) -> None: ...
    async def vote(self, signed: SignedVote) -> None: ...
    async def committed(self, message: CommittedBlockMessage) -> None: ...
    async def evidence(self, evidence: DuplicateVoteEvidence) -> None: ...


class NullOutbox:
    """A lone validator (``azora dev``) has no one to tell."""

    async def proposal(self, message: ProposalMessage) -> None:
        return None

    async def vote(self, signed: SignedVote) -> None:
        return None

    async def committed(self, message: CommittedBlockMessage) -> None:
        return None

    async def evidence(self, evidence: DuplicateVoteEvidence) -> None:
        return None


class BlockPolicy(Protocol):
    """When the next height starts and which timestamp a proposer puts in its block."""

    async def wait_for_next_height(self, backend: Backend) -> None: ...
    def timestamp(self, parent_timestamp: int) -> int: ...


class IntervalPolicy:
    """Networks: a block every ``interval`` seconds (CometBFT's timeout_commit), empty or not."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = 0.0

    async def wait_for_next_height(self, backend: Backend) -> None:
        # Timestamps are whole seconds and strictly increasing, so a chain cannot outrun the
        # clock: also wait until the head's timestamp is no longer in the future. Otherwise a
        # sub-second interval has proposers stamp parent + 1 ever further ahead until their
        # blocks fail the drift check and every other height needs a second round.
        head_timestamp = backend.chain.head.timestamp
        await trio.sleep(max(0.0, self._last + self.interval - time.time(), head_timestamp - time.time()))
        self._last = time.time()

    def timestamp(self, parent_timestamp: int) -> int:
        return max(parent_timestamp + 1, int(time.time()))


@dataclass
class Candidate:
    """A block proposed at the current height, executed once it is validated or built."""

    block: BlockAPI
    parent_certificate: CommitCertificate | None
    pending: PendingBlock | None = None
    valid: bool | None = None


class ConsensusHost:
    """Runs consensus for one node over ``backend``'s chain."""

    def __init__(self, backend: Backend, *, signer: GuardedSigner | None, domain: SigningDomain,
                 validator_sets: ValidatorSets, timeouts: TimeoutConfig, policy: BlockPolicy,
                 outbox: Outbox | None = None, on_evidence: Callable[[DuplicateVoteEvidence], Any] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.backend = backend
        self.chain = backend.chain
        self.signer = signer
        self.domain = domain
        self.validator_sets = validator_sets
        self.timeouts = timeouts
        self.policy = policy
        self.outbox = outbox or NullOutbox()
        self.on_evidence = on_evidence
        self.clock = clock
        self.address = signer.address if signer else b"\0" * 20
        self.driver = Driver(self.address, domain)
        self.validator_set = None
        self.candidates: dict[bytes, Candidate] = {}
        self.evidence: list[DuplicateVoteEvidence] = []
        self.round = 0
        self._tx_rate = INITIAL_TX_RATE
        self._send, self._receive = trio.open_memory_channel[Input](math.inf)
        self._committed = trio.Condition()
        self._height_lock = trio.Lock()    # held while a height is in progress
        self._write_lock = trio.Lock()     # one block commit at a time (consensus or sync)
        self._nursery: trio.Nursery | None = None
        self._height_scope: trio.CancelScope | None = None

    # -- the loop --------------------------------------------------------------------------

    async def run(
        self, *,
        # trio-typing's stubs (installed with libp2p) shadow trio's own types and predate TaskStatus.
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,  # type: ignore[name-defined]
    ) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            while True:
                await self.policy.wait_for_next_height(self.backend)
                async with self._height_lock:
                    await self._run_height()

    async def _run_height(self) -> None:
        height = self.chain.head.block_number + 1
        self.validator_set = self.validator_sets.for_height(height)
        self.candidates = {}
        restored = self.signer.restored_lock(height) if self.signer else None
        with trio.CancelScope() as scope:
            self._height_scope = scope
            async with trio.open_nursery() as timers:
                self._timers = timers
                await self._carry_out(self.driver.start_height(height, self.validator_set, restored))
                if self.signer:
                    # After a restart: what we already signed at this height counts again.
                    for message in self.signer.restored_messages(height):
                        inp = ProposalSigned(message) if isinstance(message, SignedProposal) else VoteSigned(message)
                        await self._carry_out(self.driver.apply(inp))
                while self.chain.head.block_number < height:
                    inp = await self._receive.receive()
                    if inp is not _HEAD_ADVANCED:
                        await self._carry_out(self.driver.apply(inp))
                timers.cancel_scope.cancel()

    async def feed(self, inp: Input) -> None:
        """Hand the engine an input from the network (proposals, votes, certificates)."""
        await self._send.send(inp)

    async def _carry_out(self, outputs: list[Output]) -> None:
        for output in outputs:
            await self._carry_out_one(output)

    async def _carry_out_one(self, output: Output) -> None:
        if isinstance(output, SignVote):
            signed = self._sign(lambda: self.signer.sign_vote(output.vote))
            if signed is not None:
                await self._carry_out(self.driver.apply(VoteSigned(signed)))
        elif isinstance(output, SignProposal):
            signed = self._sign(lambda: self.signer.sign_proposal(output.proposal))
            if signed is not None:
                await self._carry_out(self.driver.apply(ProposalSigned(signed)))
        elif isinstance(output, BroadcastProposal):
            candidate = self.candidates.get(output.signed.proposal.block_hash)
            if candidate is not None:
                parent = candidate.parent_certificate.encode() if candidate.parent_certificate else b""
                await self.outbox.proposal(ProposalMessage(output.signed, rlp.encode(candidate.block), parent))
        elif isinstance(output, BroadcastVote):
            await self.outbox.vote(output.signed)
        elif isinstance(output, ScheduleTimeout):
            self._timers.start_soon(self._timer, output)
        elif isinstance(output, RequestBlock):
            self._timers.start_soon(self._build, output)
        elif isinstance(output, ValidateBlock):
            self._timers.start_soon(self._validate, output)
        elif isinstance(output, Decide):
            self.round = output.round
        elif isinstance(output, Commit):
            await self._commit(output.certificate)
        elif isinstance(output, Evidence):
            await self._on_evidence(output.evidence)

    def _sign(self, sign: Callable[[], Any]) -> Any:
        if self.signer is None:
            return None
        try:
            return sign()
        except SignRefused as refused:
            logger.warning("refused to sign: %s", refused)
            return None

    async def _timer(self, output: ScheduleTimeout) -> None:
        self.round = max(self.round, output.round)
        await trio.sleep(self.timeouts.duration(output.kind, output.round))
        await self._send.send(TimeoutElapsed(output.kind, output.height, output.round))

    # -- proposing and validating ------------------------------------------------------------

    def parent_certificate(self) -> CommitCertificate | None:
        raw = self.chain.commit_of(self.chain.head.hash)
        return CommitCertificate.decode(raw) if raw else None

    async def _build(self, request: RequestBlock) -> None:
        head = self.chain.head
        parent_certificate = self.parent_certificate()
        pool = self.backend.pool
        base_fee = self.backend.next_base_fee()
        transactions = pool.select(base_fee, self.block_tx_limit())
        extra_data = block_extra_data(self.validator_sets, head.block_number, parent_certificate)
        system_calls = reward_system_calls(self.chain, self.validator_sets, head.block_number + 1, extra_data)
        started = time.perf_counter()
        pending = await trio.to_thread.run_sync(lambda: self.chain.execute_transactions(
            transactions, timestamp=self.policy.timestamp(head.timestamp), coinbase=self.address,
            mix_hash=compute_mix_hash(parent_certificate), extra_data=extra_data,
            system_calls=system_calls))
        elapsed = time.perf_counter() - started
        self._observe_build(len(transactions), elapsed)
        logger.debug("built #%d from %d pool transactions in %.3fs", head.block_number + 1, len(transactions), elapsed)
        block = pending.block
        if pending.result.rejected:
            pool.on_new_head((), self.backend.head_accounts(), [tx for tx, _ in pending.result.rejected])
        self.candidates[block.hash] = Candidate(block, parent_certificate, pending, True)
        await self._send.send(ValueProposed(request.height, request.round, block.hash))

    def block_tx_limit(self) -> int:
        """How many transactions to propose: all that fit for a lone validator, otherwise what
        the others can re-execute well within the propose timeout."""
        if self.validator_set is None or len(self.validator_set.validators) <= 1:
            return MAX_TXS_PER_BLOCK
        budget = self.timeouts.duration(TimeoutKind.PROPOSE, self.round) * EXECUTION_SHARE_OF_PROPOSE_TIMEOUT
        return max(MIN_TXS_PER_BLOCK, min(MAX_TXS_PER_BLOCK, int(self._tx_rate * budget)))

    def _observe_build(self, count: int, seconds: float) -> None:
        if count >= MIN_TXS_PER_BLOCK // 2 and seconds > 0:   # small blocks measure overhead, not rate
            self._tx_rate = 0.7 * self._tx_rate + 0.3 * (count / seconds)

    def receive_proposal_block(self, message: ProposalMessage) -> str | None:
        """Keep a proposed block for validation; returns why it is unusable, or None."""
        height = self.chain.head.block_number + 1
        try:
            block = self._decode_block(message.block)
            certificate = CommitCertificate.decode(message.parent_certificate) if message.parent_certificate else None
        except (ValueError, rlp.DecodingError, rlp.DeserializationError) as exc:
            return f"undecodable proposal: {exc}"
        if block.hash != message.signed.proposal.block_hash:
            return "the proposal signs another block"
        if block.number == height and block.hash not in self.candidates:
            self.candidates[block.hash] = Candidate(block, certificate)
        return None

    def _decode_block(self, raw: bytes) -> BlockAPI:
        from node.chainio import decode_block
        return decode_block(self.chain, raw)

    def check_header(self, candidate: Candidate, round: int) -> str | None:
        """The consensus rules of a header (proposer, parent commit, timestamp), or why not."""
        header, head = candidate.block.header, self.chain.head
        if header.parent_hash != head.hash or header.block_number != head.block_number + 1:
            return "not a child of the head"
        if not is_valid_proposer(self.validator_set, round, header.coinbase):
            return f"coinbase 0x{header.coinbase.hex()} is not the proposer of round {round}"
        certificate = candidate.parent_certificate
        if head.block_number > 0:
            if certificate is None or certificate.block_hash != head.hash:
                return "missing or wrong parent commit"
            reason = verify_commit(certificate, self.validator_sets.for_height(head.block_number), self.domain)
            if reason:
                return f"invalid parent commit: {reason}"
        if header.mix_hash != compute_mix_hash(certificate):
            return "mixHash does not bind the parent commit"
        if header.extra_data != block_extra_data(self.validator_sets, head.block_number, certificate):
            return "extraData does not list the parent commit's signers"
        if not is_valid_timestamp(header.timestamp, head.timestamp, self.clock()):
            return f"bad timestamp {header.timestamp}"
        return None

    async def _validate(self, request: ValidateBlock) -> None:
        candidate = self.candidates.get(request.block_hash)
        if candidate is None:
            return  # the block never arrived; the round will time out
        if candidate.valid is None:
            reason = self.check_header(candidate, request.round)
            if reason is None:
                try:
                    candidate.pending = await self._execute(candidate)
                except ChainError as exc:
                    reason = str(exc)
            candidate.valid = reason is None
            if reason:
                logger.warning("invalid block 0x%s at height %d: %s", request.block_hash.hex()[:12],
                               request.height, reason)
        await self._send.send(BlockValidated(request.height, request.block_hash, bool(candidate.valid)))

    # -- committing ----------------------------------------------------------------------------

    async def _execute(self, candidate: Candidate) -> PendingBlock:
        """Execute a block someone else built, with the system calls its height requires."""
        header = candidate.block.header
        calls = reward_system_calls(self.chain, self.validator_sets, header.block_number, header.extra_data)
        return await trio.to_thread.run_sync(self.chain.execute_block, candidate.block, calls)

    async def _commit(self, certificate: CommitCertificate) -> None:
        candidate = self.candidates.get(certificate.block_hash)
        if candidate is None:
            logger.warning("committed block 0x%s is unknown here; waiting for sync", certificate.block_hash.hex())
            return
        async with self._write_lock:
            if self.chain.head.block_number >= certificate.height:
                return   # sync got there first
            if candidate.pending is None:
                candidate.pending = await self._execute(candidate)
            await trio.to_thread.run_sync(self._persist, candidate, certificate)
        parent = candidate.parent_certificate.encode() if candidate.parent_certificate else b""
        await self.outbox.committed(CommittedBlockMessage(rlp.encode(candidate.block), certificate.encode(), parent))
        async with self._committed:
            self._committed.notify_all()

    async def import_committed_block(self, block: BlockAPI, certificate: CommitCertificate,
                                     parent_certificate: CommitCertificate | None) -> bool:
        """A block finalised elsewhere (range sync, block gossip): verify its certificate
        against the set of its height and the parent certificate it binds, execute it and make
        it the head. False if already had."""
        async with self._write_lock:
            head = self.chain.head
            if block.number <= head.block_number:
                return False
            if block.header.parent_hash != head.hash:
                raise ChainError(f"block #{block.number} does not extend the head #{head.block_number}")
            if certificate.block_hash != block.hash or certificate.height != block.number:
                raise ChainError(f"the certificate is not for block #{block.number}")
            reason = verify_commit(certificate, self.validator_sets.for_height(block.number), self.domain)
            if reason:
                raise ChainError(f"invalid commit for block #{block.number}: {reason}")
            # The parent's canonical commit (our copy may be another >2/3 subset) decides the
            # epoch rewards this block may run: take the one its mixHash binds.
            if block.header.mix_hash != compute_mix_hash(parent_certificate):
                raise ChainError(f"block #{block.number}: parent commit does not match its mixHash")
            if parent_certificate is not None:
                reason = verify_commit(parent_certificate, self.validator_sets.for_height(head.block_number),
                                       self.domain)
                if reason or parent_certificate.block_hash != head.hash:
                    raise ChainError(f"block #{block.number}: invalid parent commit: {reason or 'wrong block'}")
            candidate = Candidate(block, parent_certificate)
            candidate.pending = await self._execute(candidate)
            await trio.to_thread.run_sync(self._persist, candidate, certificate)
        await self._send.send(_HEAD_ADVANCED)
        async with self._committed:
            self._committed.notify_all()
        return True

    def _persist(self, candidate: Candidate, certificate: CommitCertificate) -> None:
        block = candidate.block
        self.chain.commit_block(candidate.pending, commit=certificate.encode())
        if candidate.parent_certificate is not None:
            # The proposer's choice of the parent's commit is the canonical one.
            self.chain.set_commit(block.header.parent_hash, candidate.parent_certificate.encode())
        self.validator_sets.for_height(block.number + 1)
        senders = set(self.chain.senders_of(block.header))
        self.backend.pool.on_new_head(senders, self.backend.head_accounts())
        logger.info("committed #%d 0x%s round=%d txs=%d", block.number, block.hash.hex()[:12],
                    certificate.round, len(block.transactions))
        for hook in self.backend.on_new_block:
            hook(block)

    def own_messages(self) -> list["ProposalMessage | SignedVote"]:
        """What this validator signed at the current height (its proposals with their blocks),
        for re-gossip to peers that were away when it was first published."""
        if self.signer is None:
            return []
        out: list[ProposalMessage | SignedVote] = []
        for message in self.driver.gossip_messages():
            if isinstance(message, SignedVote) and message.validator == self.address:
                out.append(message)
            elif isinstance(message, SignedProposal) and message.proposer == self.address:
                candidate = self.candidates.get(message.proposal.block_hash)
                if candidate is not None:
                    parent = candidate.parent_certificate.encode() if candidate.parent_certificate else b""
                    out.append(ProposalMessage(message, rlp.encode(candidate.block), parent))
        return out

    def status(self) -> ConsensusStatus:
        """What RPC and metrics read of consensus (``node.context.ConsensusStatusSource``)."""
        state = self.driver.state
        return ConsensusStatus(height=max(self.driver.height, 0), round=self.round,
                               step=state.step.name.lower() if state else "propose",
                               validator=self.address if self.signer else None, evidence=len(self.evidence))

    async def wait_for_height(self, height: int) -> None:
        async with self._committed:
            while self.chain.head.block_number < height:
                await self._committed.wait()

    async def _on_evidence(self, evidence: DuplicateVoteEvidence) -> None:
        logger.warning("equivocation by 0x%s at height %d round %d", evidence.validator.hex(),
                       evidence.vote_a.vote.height, evidence.vote_a.vote.round)
        self.evidence.append(evidence)
        await self.outbox.evidence(evidence)
        if self.on_evidence is not None:
            await trio.to_thread.run_sync(self.on_evidence, evidence)

    async def exclusive(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` between heights (dev chains' rewinds)."""
        async with self._height_lock:
            return await trio.to_thread.run_sync(fn)


_HEAD_ADVANCED: Any = object()   # wakes the height loop after a block arrived another way
