"""Blocks into the chain: the rules of ``consensus.block_rules`` applied to the chain's values,
execution, and the one atomic commit of a block with its certificate.

The proposal path (``validate``: a block proposed at the current height) and the sync path
(``import_committed``: a block finalised elsewhere) both end in ``_persist``, one block at a
time under one lock.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

import rlp
import trio
from eth_typing import Address
from eth.abc import BlockAPI, BlockHeaderAPI

from consensus.block_rules import ParentContext, verify_committed_header, verify_proposed_header
from consensus.commit import extend_commit_certificate
from consensus.signing import SigningDomain, is_valid_vote_signature
from consensus.types import CommitCertificate, SignedProposal, SignedVote, ValidatorSet, VoteType
from consensus.wire import ProposalMessage
from kernel.chain import ChainError, PendingBlock
from node.backend import Backend
from node.chainio import decode_block
from node.rewards import reward_system_calls
from node.services.consensus_io import Offload
from node.validators import ValidatorSetStore

logger = logging.getLogger("azora.consensus")


@dataclass
class Candidate:
    """A block proposed at the current height, executed once it is validated or built."""

    block: BlockAPI
    parent_certificate: CommitCertificate | None
    pending: PendingBlock | None = None
    valid: bool | None = None
    # set once the one execution of the block (``ChainWriter.executed``) has ended
    execution: trio.Event | None = None
    failure: ChainError | None = None

    def encoded_parent_certificate(self) -> bytes:
        return self.parent_certificate.encode() if self.parent_certificate else b""


class Candidates:
    """The blocks proposed at the height in progress (built here or received), by hash."""

    def __init__(self) -> None:
        self._by_hash: dict[bytes, Candidate] = {}

    def reset(self, height: int) -> None:
        """Forget every block but those of ``height``, the height about to start: a proposer
        whose interval ended first may have sent its block while this node still waited."""
        self._by_hash = {h: c for h, c in self._by_hash.items() if c.block.number == height}

    def add(self, candidate: Candidate) -> None:
        self._by_hash.setdefault(candidate.block.hash, candidate)

    def get(self, block_hash: bytes) -> Candidate | None:
        return self._by_hash.get(block_hash)

    def receive(self, message: ProposalMessage, height: int, decode: Callable[[bytes], BlockAPI]) -> str | None:
        """Keep a proposed block of ``height`` for validation; returns why it is unusable, or None."""
        try:
            block = decode(message.block)
            certificate = CommitCertificate.decode(message.parent_certificate) if message.parent_certificate else None
        except (ValueError, IndexError, TypeError, rlp.DecodingError, rlp.DeserializationError) as exc:
            # A block whose RLP is a list but not a header (IndexError, TypeError) is as
            # undecodable as bad RLP: report it, do not fail the gossip handler.
            return f"undecodable proposal: {exc!r}"
        if block.hash != message.signed.proposal.block_hash:
            return "the proposal signs another block"
        if block.number == height:
            self.add(Candidate(block, certificate))
        return None

    def proposal_message(self, signed: SignedProposal) -> ProposalMessage | None:
        """``signed`` with its block and parent commit, as the proposal topic carries it."""
        candidate = self.get(signed.proposal.block_hash)
        if candidate is None:
            return None
        return ProposalMessage(signed, rlp.encode(candidate.block), candidate.encoded_parent_certificate())


# Transactions/s assumed before this node has timed an execution (a slow machine's rate: the
# first block it proposes is then small, never one the others cannot re-execute in time).
INITIAL_TX_RATE = 200.0
MIN_TIMED_TXS = 25   # smaller blocks time their overhead, not the rate


class ExecutionRate:
    """How many transactions per second this node executes, and how much gas they use, from
    every block it executes: the ones it builds and the proposals and synced blocks it checks
    (the same work). The first timing replaces the assumed rate; later ones are smoothed."""

    def __init__(self, initial: float = INITIAL_TX_RATE) -> None:
        self.per_second = initial
        self.gas_per_tx: float | None = None   # None: no block timed yet
        self.timed = False

    def observe(self, count: int, seconds: float, gas_used: int = 0) -> None:
        if count < MIN_TIMED_TXS or seconds <= 0:
            return
        rate, gas = count / seconds, gas_used / count
        self.per_second = 0.7 * self.per_second + 0.3 * rate if self.timed else rate
        if gas:
            self.gas_per_tx = gas if self.gas_per_tx is None else 0.7 * self.gas_per_tx + 0.3 * gas
        self.timed = True


class ChainWriter:
    """Checks, executes and persists blocks of ``backend``'s chain."""

    def __init__(self, backend: Backend, validator_sets: ValidatorSetStore, domain: SigningDomain, *,
                 offload: Offload = trio.to_thread.run_sync, offload_aside: Offload | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.backend = backend
        self.chain = backend.chain
        self.validator_sets = validator_sets
        self.domain = domain
        self.offload = offload
        self.offload_aside = offload_aside or offload   # executions off the critical path
        self.clock = clock
        self._lock = trio.Lock()     # one block commit at a time (consensus or sync)
        self._head_commit_grew = trio.Event()
        self.execution_rate = ExecutionRate()

    # -- reads -----------------------------------------------------------------------------

    def head_certificate(self) -> CommitCertificate | None:
        """The commit this node holds for its head: the parent commit of the next block."""
        raw = self.chain.commit_of(self.chain.head.hash)
        return CommitCertificate.decode(raw) if raw else None

    def parent_context(self, parent: BlockHeaderAPI) -> ParentContext:
        parent_set = self.validator_sets.for_height(parent.block_number) if parent.block_number > 0 else None
        return ParentContext(parent.hash, parent.block_number, parent.timestamp, parent_set)

    def decode_block(self, raw: bytes) -> BlockAPI:
        return decode_block(self.chain, raw, self.backend.pool.get)

    # -- the proposal path -----------------------------------------------------------------

    def check_proposed(self, candidate: Candidate, round: int, validator_set: ValidatorSet) -> str | None:
        """The consensus rules of a block proposed in ``round`` on our head, or why it fails."""
        return verify_proposed_header(candidate.block.header, round, self.parent_context(self.chain.head),
                                      validator_set, candidate.parent_certificate, self.domain, self.clock())

    async def validate(self, candidate: Candidate, round: int, validator_set: ValidatorSet, *,
                       critical: bool = True) -> bool:
        """Check and execute a proposed block once; later calls answer from the first.
        ``critical``: this node's next step waits on it (it proposes the next height), rather
        than only its vote, one of several the commit needs (``offload_aside`` then)."""
        if candidate.valid is None:
            reason = self.check_proposed(candidate, round, validator_set)
            if reason is None:
                try:
                    await self.executed(candidate, critical=critical)
                except ChainError as exc:
                    reason = str(exc)
            candidate.valid = reason is None
            if reason:
                logger.warning("invalid block 0x%s at height %d: %s", candidate.block.hash.hex()[:12],
                               candidate.block.number, reason)
        return bool(candidate.valid)

    async def executed(self, candidate: Candidate, *, critical: bool = True) -> PendingBlock:
        """A block someone else built, executed with the system calls its height requires,
        once: a caller that finds its execution under way waits for it. Under load a slow
        validator was still validating a proposal when the others' committed block arrived
        by gossip, and executed the same block a second time beside the first."""
        if candidate.pending is not None:
            return candidate.pending
        if candidate.execution is None:
            candidate.execution = trio.Event()
            try:
                offload = self.offload if critical else self.offload_aside
                started = time.perf_counter()
                candidate.pending = await offload(self._execute, candidate, self._system_calls(candidate))
                logger.debug("validate #%d: %d transactions in %.3fs%s", candidate.block.number,
                             len(candidate.block.transactions), time.perf_counter() - started,
                             "" if critical else " (aside)")
            except ChainError as exc:
                candidate.failure = exc
                raise
            finally:
                candidate.execution.set()
        await candidate.execution.wait()
        if candidate.pending is None:
            raise candidate.failure or ChainError(f"block 0x{candidate.block.hash.hex()} failed to execute")
        return candidate.pending

    def _system_calls(self, candidate: Candidate) -> list[tuple[bytes, bytes]]:
        header = candidate.block.header
        return reward_system_calls(self.chain, self.validator_sets, header.block_number, header.extra_data)

    def _execute(self, candidate: Candidate, calls: list[tuple[bytes, bytes]]) -> PendingBlock:
        started = time.perf_counter()
        self._senders_from_pool(candidate.block)
        pending = self.chain.execute_block(candidate.block, calls)
        elapsed = time.perf_counter() - started
        self.backend.timings.block_execution.labels("validate").observe(elapsed)
        self.execution_rate.observe(len(candidate.block.transactions), elapsed, candidate.block.header.gas_used)
        return pending

    def _senders_from_pool(self, block: BlockAPI) -> None:
        """Give a proposal's transactions the senders our pool recovered when it admitted them:
        a block decoded from the wire knows none, and execution would recover each again
        (a tenth of executing an ERC-20 transfer). The same hash is the same signed bytes."""
        pool = self.backend.pool
        for tx in block.transactions:
            if "sender" not in tx.__dict__:   # py-evm caches ``sender`` in the instance
                pooled = pool.get(tx.hash)
                if pooled is not None:
                    tx.__dict__["sender"] = pooled.sender

    def _execute_and_persist(self, candidate: Candidate, calls: list[tuple[bytes, bytes]],
                             certificate: CommitCertificate) -> None:
        # One trip to a worker thread for both: a synced block is executed and persisted back
        # to back, and each return to the event loop waits for the GIL behind the network.
        candidate.pending = self._execute(candidate, calls)
        self._persist(candidate, certificate)

    async def commit(self, candidate: Candidate, certificate: CommitCertificate) -> bool:
        """Persist a block consensus decided; False if sync got there first."""
        async with self._lock:
            if self.chain.head.block_number >= certificate.height:
                return False
            if candidate.pending is None and candidate.execution is None:
                await self.offload(self._execute_and_persist, candidate, self._system_calls(candidate), certificate)
            else:   # executed, or being executed by its validation
                await self.executed(candidate)
                await self.offload(self._persist, candidate, certificate)
        return True

    async def add_late_precommit(self, signed: SignedVote) -> bool:
        """Add a precommit for the head that arrived after it was committed to the head's
        commit, which the next proposer carries as the canonical one; False if it is not one
        (another height, round or block, already in, not a validator, a bad signature)."""
        async with self._lock:
            head = self.chain.head
            raw = self.chain.commit_of(head.hash) if signed.vote.height == head.block_number else None
            if raw is None:
                return False
            extended = extend_commit_certificate(CommitCertificate.decode(raw), signed)
            if extended is None or not self.validator_sets.read(head.block_number).contains(signed.validator):
                return False
            if not is_valid_vote_signature(self.domain, signed):
                return False
            self.chain.set_commit(head.hash, extended.encode())
        self._head_commit_grew.set()
        self._head_commit_grew = trio.Event()
        return True

    def head_commit_grows(self) -> trio.Event:
        """Set when a late precommit next joins the head's commit."""
        return self._head_commit_grew

    # -- the sync path ---------------------------------------------------------------------

    async def import_committed(self, block: BlockAPI, certificate: CommitCertificate,
                               parent_certificate: CommitCertificate | None,
                               proposed: Candidate | None = None) -> bool:
        """A block finalised elsewhere (range sync, block gossip): verify its certificate
        against the set of its height and the parent certificate it binds, execute it and make
        it the head. False if already had; ChainError if it breaks a rule. ``proposed``: the
        same block as a proposal this node holds, whose execution (done or under way) serves."""
        async with self._lock:
            head = self.chain.head
            if block.number <= head.block_number:
                return False
            # The parent's canonical commit (our copy may be another >2/3 subset) decides the
            # epoch rewards this block may run: take the one its mixHash binds.
            reason = verify_committed_header(block.header, block.hash, certificate, self.parent_context(head),
                                             self.validator_sets.for_height(block.number), parent_certificate,
                                             self.domain)
            if reason:
                raise ChainError(reason)
            if proposed is not None and proposed.block.hash == block.hash and \
                    proposed.encoded_parent_certificate() == (parent_certificate.encode() if parent_certificate else b""):
                await self.executed(proposed)
                await self.offload(self._persist, proposed, certificate)
            else:
                candidate = Candidate(block, parent_certificate)
                await self.offload(self._execute_and_persist, candidate, self._system_calls(candidate), certificate)
        return True

    def _persist(self, candidate: Candidate, certificate: CommitCertificate) -> None:
        block = candidate.block
        assert candidate.pending is not None
        self.chain.commit_block(candidate.pending, commit=certificate.encode())
        if candidate.parent_certificate is not None:
            # The proposer's choice of the parent's commit is the canonical one.
            self.chain.set_commit(block.header.parent_hash, candidate.parent_certificate.encode())
        self.validator_sets.for_height(block.number + 1)
        senders = {Address(sender) for sender in self.chain.senders_of(block.header)}
        self.backend.pool.on_new_head(senders, self.backend.head_accounts())
        self.backend.timings.finality.observe(max(0.0, self.clock() - block.header.timestamp))
        logger.info("committed #%d 0x%s round=%d txs=%d", block.number, block.hash.hex()[:12],
                    certificate.round, len(block.transactions))
        for hook in self.backend.on_new_block:
            hook(block)
