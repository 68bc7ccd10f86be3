"""A deterministic network simulator for the consensus engine.

N validators run real ``Driver``s in one process. Time is simulated: a priority queue of
events ordered by (time, sequence), no sleeping. Everything random comes from one seeded
``random.Random``, so a seed replays exactly.

The network before the global stabilisation time (GST) delays messages up to
``unstable_delay``, drops a fraction of them and may split the validators into two
partitions; at GST it heals: no drops, delays up to ``stable_delay``. Hosts behave like the
node: they flood every new validly signed message to their peers (gossipsub), re-gossip what
they hold for the current height every ``gossip_interval`` (CometBFT's gossip routines) and
hand lagging peers the proposal and certificate of the heights they miss.

Faults: crash and restart (the driver and all in-memory state are lost; the chain and the
last-sign record survive, as on disk), and byzantine validators that ``equivocate`` (sign two
different votes / proposals for every step and split them between peers), propose
``invalid`` blocks, or stay ``silent``.
"""
from __future__ import annotations

import heapq
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from eth_utils import keccak

from consensus.commit import is_valid_commit
from consensus.config import TimeoutConfig
from consensus.driver import Driver
from consensus.events import (
    BlockValidated, BroadcastProposal, BroadcastVote, CertificateReceived, Commit, Evidence, Output, ProposalReceived, ProposalSigned,
    RequestBlock, ScheduleTimeout, SignProposal, SignVote, TimeoutElapsed, ValidateBlock, ValueProposed,
    VoteReceived, VoteSigned,
)
from consensus.sign_guard import GuardedSigner, MemorySignRecordStore, SignRefused
from consensus.signing import (
    LocalSigner, SigningDomain, is_valid_proposal_signature, is_valid_vote_signature,
)
from consensus.types import (
    CommitCertificate, DuplicateVoteEvidence, Proposal, SignedProposal, SignedVote, ValidatorSet, Vote,
)
from consensus.block_rules import compute_next_validator_set
from consensus.validator_set import new_validator_set

CHAIN_ID = 4242
REGISTRY = bytes.fromhex("00000000000000000000000000000000000a2011")
DOMAIN = SigningDomain(CHAIN_ID, REGISTRY)
SIM_TIMEOUTS = TimeoutConfig(propose=0.4, propose_delta=0.2, prevote=0.15, prevote_delta=0.1,
                             precommit=0.15, precommit_delta=0.1, commit=0.0)
Message = SignedProposal | SignedVote | CommitCertificate
COMMIT_PAUSE = 0.01
MESH_DEGREE = 3


def validator_key(index: int) -> bytes:
    """Deterministic test keys: validator i always has the same address."""
    return keccak(b"azora-sim-validator" + index.to_bytes(4, "big"))


_SIGNERS: dict[int, LocalSigner] = {}


def local_signer(index: int) -> LocalSigner:
    if index not in _SIGNERS:
        _SIGNERS[index] = LocalSigner(validator_key(index), DOMAIN)
    return _SIGNERS[index]


@dataclass(frozen=True)
class Scenario:
    """A family of runs; each seed draws the details (GST, partitions, crash times)."""

    name: str
    powers: tuple[int, ...] = (1, 1, 1, 1)
    byzantine: tuple[tuple[int, str], ...] = ()   # (validator index, "equivocate"|"invalid"|"silent")
    heights: int = 3
    drop_rate: float = 0.0
    unstable_delay: float = 0.3
    stable_delay: float = 0.05
    max_gst: float = 3.0
    partition: bool = False
    crashes: int = 0
    crash_window: float = 0.0                     # crashes fall in [0, this]; 0 = until GST + 1 s
    sign_crash_rate: float = 0.0                  # chance to die right after a signature is recorded
    epoch_length: int = 1_000_000
    registry_reads: tuple[tuple[int, tuple[int, ...]], ...] = ()  # (last height of an epoch, powers then)
    gossip_interval: float = 0.5
    time_limit: float = 120.0


@dataclass
class SimNode:
    index: int
    signer: LocalSigner
    behaviour: str = "honest"
    store: MemorySignRecordStore = field(default_factory=MemorySignRecordStore)
    driver: Driver | None = None
    guard: GuardedSigner | None = None
    up: bool = False
    incarnation: int = 0
    chain: list[bytes] = field(default_factory=list)              # decided hash per height (1-based)
    certificates: list[CommitCertificate] = field(default_factory=list)
    decided_messages: dict[int, list[Message]] = field(default_factory=dict)
    seen: set[Message] = field(default_factory=set)
    # Votes handed to the driver for the height it was deciding, by (incarnation, validator,
    # height, round, type): two values under one key are an equivocation this node witnessed.
    current_votes: dict[tuple[int, bytes, int, int, int], set[bytes | None]] = field(default_factory=dict)
    evidence: list[DuplicateVoteEvidence] = field(default_factory=list)
    signed_by_me: list[Message] = field(default_factory=list)
    splits: dict[tuple[int, int], tuple[list["SimNode"], list["SimNode"]]] = field(default_factory=dict)
    twin_values: dict[tuple[int, int], dict[bytes, bytes]] = field(default_factory=dict)

    @property
    def address(self) -> bytes:
        return self.signer.address

    @property
    def honest(self) -> bool:
        return self.behaviour == "honest"

    @property
    def height(self) -> int:
        return len(self.chain) + 1


class Simulation:
    """One seeded run of a scenario. ``run()`` returns a ``SimResult``."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.seed = seed
        self.rng = random.Random(seed)
        self.now = 0.0
        self._queue: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._sequence = 0
        behaviours = dict(scenario.byzantine)
        self.nodes = [SimNode(i, local_signer(i), behaviours.get(i, "honest")) for i in range(len(scenario.powers))]
        self._validator_sets = [new_validator_set((n.address, p) for n, p in zip(self.nodes, scenario.powers))]
        self.invalid_blocks: set[bytes] = set()
        self.gst = self.rng.uniform(0.5, scenario.max_gst)
        self.partition = self._draw_partition() if scenario.partition else None
        self.events_processed = 0
        self._finished = False
        self._sign_crashes_left = 2

    # ----- world ---------------------------------------------------------------------------

    def validator_set(self, height: int) -> ValidatorSet:
        """The set of ``height``: every node derives it the same way from the registry reads."""
        reads = dict(self.scenario.registry_reads)
        while len(self._validator_sets) < height:
            previous = len(self._validator_sets)  # the height of the last set we have
            current = self._validator_sets[-1]
            active = [(v.address, v.power) for v in current.validators]  # registry unchanged
            if previous in reads:
                active = [(n.address, p) for n, p in zip(self.nodes, reads[previous]) if p > 0]
            self._validator_sets.append(compute_next_validator_set(
                self._validator_sets[-1], previous, self.scenario.epoch_length, active))
        return self._validator_sets[height - 1]

    def _draw_partition(self) -> set[int]:
        indices = list(range(len(self.nodes)))
        self.rng.shuffle(indices)
        return set(indices[: self.rng.randint(1, len(indices) - 1)])

    def schedule(self, delay: float, action: Callable[..., None], *args: Any) -> None:
        self._sequence += 1
        heapq.heappush(self._queue, (self.now + delay, self._sequence, action, args))

    def _link_delay(self, sender: int, receiver: int) -> float | None:
        """Delivery delay, or None if the message is lost."""
        if self.now < self.gst:
            if self.partition is not None and ((sender in self.partition) != (receiver in self.partition)):
                return None
            if self.rng.random() < self.scenario.drop_rate:
                return None
            return self.rng.uniform(0.001, self.scenario.unstable_delay)
        return self.rng.uniform(0.001, self.scenario.stable_delay)

    def send(self, sender: SimNode, receiver: SimNode, messages: list[Message]) -> None:
        delay = self._link_delay(sender.index, receiver.index)
        if delay is not None and messages:
            self.schedule(delay, self._deliver, receiver, messages)

    def broadcast(self, sender: SimNode, messages: list[Message], peers: list[SimNode] | None = None) -> None:
        for peer in peers if peers is not None else self.nodes:
            if peer is not sender:
                self.send(sender, peer, messages)

    # ----- host behaviour --------------------------------------------------------------------

    def _deliver(self, node: SimNode, messages: list[Message]) -> None:
        if not node.up or node.driver is None:
            return
        relay: list[Message] = []
        for message in messages:
            if not node.up or node.driver is None:
                return  # died while handling an earlier message of this packet
            if message in node.seen:
                continue
            node.seen.add(message)
            if not self._is_relayable(node, message):
                continue
            relay.append(message)
            if isinstance(message, SignedVote) and message.vote.height == node.height:
                vote = message.vote
                key = (node.incarnation, message.validator, vote.height, vote.round, int(vote.vote_type))
                node.current_votes.setdefault(key, set()).add(vote.block_hash)
            self.handle(node, node.driver.apply(_as_input(message)))
        if relay and node.behaviour != "silent":
            self.broadcast(node, relay, self._mesh_peers(node))

    def _mesh_peers(self, node: SimNode) -> list[SimNode]:
        """Gossipsub forwards to a few mesh peers (degree D), not to everyone."""
        peers = [p for p in self.nodes if p is not node]
        if len(peers) <= MESH_DEGREE:
            return peers
        return self.rng.sample(peers, MESH_DEGREE)

    def _is_relayable(self, node: SimNode, message: Message) -> bool:
        """Gossipsub's validator: forward only validly signed messages of near heights."""
        if isinstance(message, CommitCertificate):
            return message.height == node.height  # the driver verifies it
        if isinstance(message, SignedProposal):
            height = message.proposal.height
            ok = is_valid_proposal_signature(DOMAIN, message)
        else:
            height = message.vote.height
            ok = is_valid_vote_signature(DOMAIN, message)
        return ok and node.height - 1 <= height <= node.height + 1

    def handle(self, node: SimNode, outputs: list[Output]) -> None:
        """Carry out a driver's outputs the way node/ does."""
        pending = deque(outputs)
        while pending and node.up:
            out = pending.popleft()
            assert node.driver is not None
            if isinstance(out, SignVote):
                signed = self._sign(node, out.vote)
                if self._dies_after_signing(node):
                    return
                if signed is not None:
                    pending.extend(node.driver.apply(VoteSigned(signed)))
            elif isinstance(out, SignProposal):
                signed_proposal = self._sign_proposal(node, out.proposal)
                if self._dies_after_signing(node):
                    return
                if signed_proposal is not None:
                    pending.extend(node.driver.apply(ProposalSigned(signed_proposal)))
            elif isinstance(out, (BroadcastVote, BroadcastProposal)):
                self._broadcast_own(node, out.signed)
            elif isinstance(out, ScheduleTimeout):
                duration = SIM_TIMEOUTS.duration(out.kind, out.round)
                self.schedule(duration, self._timeout, node, node.incarnation,
                              TimeoutElapsed(out.kind, out.height, out.round))
            elif isinstance(out, RequestBlock):
                pending.extend(node.driver.apply(ValueProposed(out.height, out.round, self._build_block(node, out))))
            elif isinstance(out, ValidateBlock):
                valid = out.block_hash not in self.invalid_blocks
                pending.extend(node.driver.apply(BlockValidated(out.height, out.block_hash, valid)))
            elif isinstance(out, Commit):
                pending.extend(self._commit(node, out.certificate))
            elif isinstance(out, Evidence):
                node.evidence.append(out.evidence)

    def _dies_after_signing(self, node: SimNode) -> bool:
        """A crash between the durable record and the broadcast: the worst moment to die."""
        if (node.honest and self._sign_crashes_left > 0 and self.now < self.gst
                and self.rng.random() < self.scenario.sign_crash_rate):
            self._sign_crashes_left -= 1
            self.crash(node)
            self.schedule(self.rng.uniform(0.1, 1.0), self.boot, node)
            return True
        return False

    def _sign(self, node: SimNode, vote: Vote) -> SignedVote | None:
        if node.behaviour == "equivocate":
            return node.signer.sign_vote(vote)
        assert node.guard is not None
        try:
            signed = node.guard.sign_vote(vote)
        except SignRefused:
            return None
        node.signed_by_me.append(signed)
        return signed

    def _sign_proposal(self, node: SimNode, proposal: Proposal) -> SignedProposal | None:
        if node.behaviour == "equivocate":
            return node.signer.sign_proposal(proposal)
        assert node.guard is not None
        try:
            signed = node.guard.sign_proposal(proposal)
        except SignRefused:
            return None
        node.signed_by_me.append(signed)
        return signed

    def _broadcast_own(self, node: SimNode, signed: Message) -> None:
        node.seen.add(signed)
        if node.behaviour != "equivocate":
            self.broadcast(node, [signed])
            return
        # Send the real message to one half of the peers and a conflicting twin to the other.
        height, round = _height_round(signed)
        twin = self._conflicting_twin(node, signed, height, round)
        if (height, round) not in node.splits:
            # One split per round: each half sees a consistent story (the strongest attack).
            peers = [p for p in self.nodes if p is not node]
            self.rng.shuffle(peers)
            node.splits[(height, round)] = (peers[: len(peers) // 2], peers[len(peers) // 2:])
        first_half, second_half = node.splits[(height, round)]
        self.broadcast(node, [signed], first_half)
        self.broadcast(node, [twin], second_half)

    def _conflicting_twin(self, node: SimNode, signed: Message, height: int, round: int) -> Message:
        """The message the other half gets: the other proposal's value where there is one."""
        twins = node.twin_values.setdefault((height, round), {})
        if isinstance(signed, SignedProposal):
            other = keccak(b"twin" + signed.encode())
            twins[signed.proposal.block_hash], twins[other] = other, signed.proposal.block_hash
            return node.signer.sign_proposal(Proposal(height, round, other, -1))
        vote = signed.vote
        if vote.block_hash in twins:
            twin_hash = twins[vote.block_hash]
        elif vote.block_hash is None:
            twin_hash = next(iter(twins), keccak(b"twin" + signed.encode()))
        else:
            twin_hash = None
        return node.signer.sign_vote(Vote(vote.vote_type, height, round, twin_hash))

    def _build_block(self, node: SimNode, request: RequestBlock) -> bytes:
        block = keccak(b"block" + self.seed.to_bytes(8, "big") + request.height.to_bytes(8, "big")
                       + request.round.to_bytes(4, "big") + node.index.to_bytes(2, "big")
                       + node.incarnation.to_bytes(2, "big"))
        if node.behaviour == "invalid":
            self.invalid_blocks.add(block)
        return block

    def _timeout(self, node: SimNode, incarnation: int, timeout: TimeoutElapsed) -> None:
        if node.up and node.incarnation == incarnation and node.driver is not None:
            self.handle(node, node.driver.apply(timeout))

    def _commit(self, node: SimNode, certificate: CommitCertificate) -> list[Output]:
        assert node.driver is not None and certificate.height == node.height
        proposals = [p for p in node.driver.proposals(certificate.round)
                     if p.proposal.block_hash == certificate.block_hash]
        node.chain.append(certificate.block_hash)
        node.certificates.append(certificate)
        node.decided_messages[certificate.height] = [*proposals[:1], certificate]
        self._record_commit(node)
        # Like the node's commit timeout: the next height starts from the event loop, not inline.
        self.schedule(COMMIT_PAUSE, self._next_height, node, node.incarnation)
        return []

    def _next_height(self, node: SimNode, incarnation: int) -> None:
        if node.up and node.incarnation == incarnation:
            self.handle(node, self._start_height(node))

    def _start_height(self, node: SimNode) -> list[Output]:
        assert node.driver is not None and node.guard is not None
        height = node.height
        node.seen.clear()  # the seen cache is per height, as gossipsub's expires
        return node.driver.start_height(height, self.validator_set(height), node.guard.restored_lock(height))

    def _gossip(self, node: SimNode, incarnation: int) -> None:
        if not node.up or node.incarnation != incarnation or node.driver is None:
            return
        current = node.driver.gossip_messages()
        for peer in self.nodes:
            if peer is node or not peer.up:
                continue
            if peer.height < node.height and peer.height in node.decided_messages:
                self.send(node, peer, node.decided_messages[peer.height])
            elif peer.height == node.height:
                self.send(node, peer, current)
        self.schedule(self.scenario.gossip_interval, self._gossip, node, incarnation)

    # ----- faults ---------------------------------------------------------------------------------

    def boot(self, node: SimNode) -> None:
        """(Re)start a node from what survives a crash: its chain and its last-sign record."""
        node.up = True
        node.incarnation += 1
        node.driver = Driver(node.address, DOMAIN)
        node.guard = GuardedSigner(node.signer, node.store)
        node.seen = set()
        restored = node.guard.restored_messages(node.height)
        self.handle(node, self._start_height(node))
        for message in restored:
            # Our own signatures from before the crash: they re-enter like gossip, and leave
            # again (a crash may have come between the record and the broadcast).
            if not node.up or node.driver is None:
                return
            self.handle(node, node.driver.apply(_as_input(message)))
        if restored and node.up:
            self.broadcast(node, list(restored))
        if node.up:
            self.schedule(self.rng.uniform(0, self.scenario.gossip_interval), self._gossip, node, node.incarnation)

    def crash(self, node: SimNode) -> None:
        node.up = False
        node.driver = None
        node.guard = None

    def _schedule_crashes(self) -> None:
        honest = [n for n in self.nodes if n.honest]
        for _ in range(self.scenario.crashes):
            node = self.rng.choice(honest)
            at = self.rng.uniform(0.0, self.scenario.crash_window or self.gst + 1.0)
            self.schedule(at, self._crash_and_restart, node, self.rng.uniform(0.1, 1.5))

    def _crash_and_restart(self, node: SimNode, downtime: float) -> None:
        if node.up:
            self.crash(node)
            self.schedule(downtime, self.boot, node)

    # ----- running ----------------------------------------------------------------------------------

    def done(self) -> bool:
        return all(n.height > self.scenario.heights for n in self.nodes if n.honest)

    def _record_commit(self, node: SimNode) -> None:
        if node.honest and node.height > self.scenario.heights:
            self._finished = self.done()

    def run(self) -> "SimResult":
        for node in self.nodes:
            if node.behaviour != "silent":
                self.boot(node)
        self._schedule_crashes()
        while self._queue and not self._finished:
            time, _, action, args = heapq.heappop(self._queue)
            if time > self.scenario.time_limit:
                break
            self.now = time
            self.events_processed += 1
            action(*args)
        return SimResult(self)


def _height_round(message: SignedProposal | SignedVote) -> tuple[int, int]:
    if isinstance(message, SignedProposal):
        return message.proposal.height, message.proposal.round
    return message.vote.height, message.vote.round


def _as_input(message: Message) -> ProposalReceived | VoteReceived | CertificateReceived:
    if isinstance(message, SignedProposal):
        return ProposalReceived(message)
    if isinstance(message, CommitCertificate):
        return CertificateReceived(message)
    return VoteReceived(message)


@dataclass
class SimResult:
    """The end state of a run and the properties checked on it."""

    sim: Simulation

    @property
    def honest(self) -> list[SimNode]:
        return [n for n in self.sim.nodes if n.honest]

    def agreement_violations(self) -> list[str]:
        """Heights where two honest nodes committed different blocks."""
        problems = []
        for height in range(1, max(len(n.chain) for n in self.sim.nodes) + 1):
            decided = {n.chain[height - 1] for n in self.honest if len(n.chain) >= height}
            if len(decided) > 1:
                problems.append(f"height {height}: {sorted(h.hex()[:8] for h in decided)}")
        return problems

    def invalid_commits(self) -> list[str]:
        return [f"node {n.index} committed invalid block at height {h + 1}"
                for n in self.honest for h, b in enumerate(n.chain) if b in self.sim.invalid_blocks]

    def bad_certificates(self) -> list[str]:
        return [f"node {n.index} height {c.height}" for n in self.honest for c in n.certificates
                if not is_valid_commit(c, self.sim.validator_set(c.height), CHAIN_ID, REGISTRY)]

    def lagging(self) -> list[str]:
        want = self.sim.scenario.heights
        return [f"node {n.index} at height {len(n.chain)}" for n in self.honest if len(n.chain) < want]

    def evidence_against(self) -> set[bytes]:
        return {e.validator for n in self.honest for e in n.evidence}

    def witnessed_equivocators(self) -> set[bytes]:
        """Validators some honest node received two different votes from (one height, round
        and type) while deciding that height, within one incarnation: evidence it must report.
        An equivocation whose halves never meet at one node (lost messages, the height decided
        before the other half arrives, a crash in between) cannot be seen by anyone."""
        return {validator for n in self.honest for (_, validator, *_), values in n.current_votes.items()
                if len(values) > 1}

    def double_signs(self) -> list[str]:
        """Honest nodes that signed two different messages for one (height, round, step)."""
        problems = []
        for node in self.honest:
            seen: dict[tuple[int, int, int], Message] = {}
            for message in node.signed_by_me:
                if isinstance(message, SignedVote):
                    key = (message.vote.height, message.vote.round, int(message.vote.vote_type))
                else:
                    key = (message.proposal.height, message.proposal.round, 0)
                if key in seen and seen[key] != message:
                    problems.append(f"node {node.index} at {key}")
                seen[key] = message
        return problems
