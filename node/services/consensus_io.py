"""The consensus host's small collaborators for signing, broadcasting and timers."""
from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
from collections import deque
from typing import Any, Awaitable, Callable, Iterable, Iterator, Protocol

import trio

from consensus.config import TimeoutConfig, TimeoutKind
from consensus.events import (
    Input, ProposalSigned, ScheduleTimeout, SignProposal, SignVote, TimeoutElapsed, VoteSigned,
)
from consensus.sign_guard import GuardedSigner, SignRefused, may_sign_decided_precommit
from consensus.types import (
    CommitCertificate, DuplicateVoteEvidence, SignedProposal, SignedVote, Vote, VoteType,
)
from consensus.wire import CommittedBlockMessage, ProposalMessage

logger = logging.getLogger("azora.consensus")

# Runs blocking work (py-evm execution, LevelDB writes) off the event loop; tests on a
# MockClock pass ``run_in_loop`` so virtual time cannot jump while a worker thread computes.
Offload = Callable[..., Awaitable[Any]]


async def run_in_loop(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


# How much less CPU the OS gives work off the critical path when the machine is busy (nice
# +10: about a tenth of a nice-0 thread's share, the kernel's 1.25x per step).
ASIDE_NICENESS = 10


class AsideThread:
    """An ``Offload`` onto one worker thread at a lower OS priority, for executions nothing
    waits on first: when validators share a machine (``azora testnet``), the next proposer's
    validation and the block it then prepares are the height's critical path, and the other
    validators' validations took two thirds of the cores from them. On a machine of its own,
    it yields only to the node's own gateway and decoder processes. Where threads have no
    priority of their own (not Linux), an ordinary thread."""

    def __init__(self, niceness: int = ASIDE_NICENESS) -> None:
        self.niceness = niceness
        self._executor = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="azora-aside", initializer=self._lower_priority)

    def _lower_priority(self) -> None:
        try:   # Linux: a thread is a task with a nice value of its own (setpriority(2))
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.niceness)
        except (OSError, AttributeError) as exc:
            logger.debug("execution thread keeps its priority: %s", exc)

    async def run_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the thread; like ``trio.to_thread.run_sync``, it runs to its end
        even if the caller is cancelled (the state it writes is only handed back)."""
        future = self._executor.submit(fn, *args)
        token = trio.lowlevel.current_trio_token()
        done = trio.Event()

        def wake(_: concurrent.futures.Future[Any]) -> None:
            try:
                token.run_sync_soon(done.set)
            except trio.RunFinishedError:
                pass

        future.add_done_callback(wake)
        with trio.CancelScope(shield=True):
            await done.wait()
        return future.result()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class Outbox(Protocol):
    """Where the host sends what must reach other validators (the node wires it to gossip)."""

    # False when no one can hear: the host then skips encoding whole blocks into messages
    # (a lone dev validator spent ~5 ms of its GIL a 1,000-transaction block on it).
    listened: bool

    async def proposal(self, message: ProposalMessage) -> None: ...
    async def vote(self, signed: SignedVote) -> None: ...
    async def committed(self, message: CommittedBlockMessage) -> None: ...
    async def evidence(self, evidence: DuplicateVoteEvidence) -> None: ...


class NullOutbox:
    """A lone validator (``azora dev``) has no one to tell."""

    listened = False

    async def proposal(self, message: ProposalMessage) -> None:
        return None

    async def vote(self, signed: SignedVote) -> None:
        return None

    async def committed(self, message: CommittedBlockMessage) -> None:
        return None

    async def evidence(self, evidence: DuplicateVoteEvidence) -> None:
        return None


class ConsensusSigner:
    """Signs what the engine asks through the last-sign guard; a full node signs nothing."""

    def __init__(self, guarded: GuardedSigner | None) -> None:
        self.guarded = guarded

    @property
    def address(self) -> bytes:
        return self.guarded.address if self.guarded else b"\0" * 20

    def sign(self, request: SignVote | SignProposal) -> VoteSigned | ProposalSigned | None:
        """The input to feed back, or None when there is no key or the guard refuses."""
        if self.guarded is None:
            return None
        try:
            if isinstance(request, SignVote):
                return VoteSigned(self.guarded.sign_vote(request.vote))
            return ProposalSigned(self.guarded.sign_proposal(request.proposal))
        except SignRefused as refused:
            logger.warning("refused to sign: %s", refused)
            return None

    def decided_precommit(self, certificate: CommitCertificate) -> SignedVote | None:
        """Our precommit for a block decided before we precommitted at its round (see
        :func:`may_sign_decided_precommit`; a precommit of ours in the certificate is in the
        record too), or None: no key, or the record rules it out."""
        if self.guarded is None or not may_sign_decided_precommit(
                self.guarded.last, certificate.height, certificate.round):
            return None
        signed = self.sign(SignVote(Vote(VoteType.PRECOMMIT, certificate.height, certificate.round,
                                         certificate.block_hash)))
        return signed.signed if isinstance(signed, VoteSigned) else None

    def restored_inputs(self, height: int) -> list[Input]:
        """After a restart: what we already signed at ``height``, as inputs that count again."""
        if self.guarded is None:
            return []
        return [ProposalSigned(m) if isinstance(m, SignedProposal) else VoteSigned(m)
                for m in self.guarded.restored_messages(height)]


BUSY_POLL_SECONDS = 0.02


class Timers:
    """The engine's timeouts of one height: each ``ScheduleTimeout`` sleeps its duration and
    then sends ``TimeoutElapsed`` to the engine's input channel.

    A propose timeout bounds the wait for a proposal to *arrive*. While ``busy()`` (the host is
    building our proposal or executing one it received) it is held until the work is done, so
    the block's validity reaches the engine first: as in CometBFT, whose state machine executes
    a proposal before it handles the next timeout. Vote timeouts are never held.
    """

    def __init__(self, timeouts: TimeoutConfig, send: Callable[[Input], Awaitable[None]],
                 busy: Callable[[], bool] = lambda: False) -> None:
        self.timeouts = timeouts
        self._send = send
        self._busy = busy
        self._nursery: trio.Nursery | None = None

    def attach(self, nursery: trio.Nursery | None) -> None:
        """Timers (and block work) of the current height run in ``nursery``; None between heights."""
        self._nursery = nursery

    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        if self._nursery is None:
            raise RuntimeError("no height in progress")
        self._nursery.start_soon(fn, *args)

    def schedule(self, output: ScheduleTimeout) -> None:
        self.start_soon(self._fire, output)

    async def _fire(self, output: ScheduleTimeout) -> None:
        await trio.sleep(self.timeouts.duration(output.kind, output.round))
        while output.kind == TimeoutKind.PROPOSE and self._busy():
            await trio.sleep(BUSY_POLL_SECONDS)
        await self._send(TimeoutElapsed(output.kind, output.height, output.round))


# Equivocations are rare, but a byzantine peer can produce many; keep the newest only.
MAX_KEPT_EVIDENCE = 256


class EvidenceLog:
    """Evidence this node has seen: ``len`` counts every piece, only the newest are kept."""

    def __init__(self, keep: int = MAX_KEPT_EVIDENCE) -> None:
        self.seen = 0
        self.recent: deque[DuplicateVoteEvidence] = deque(maxlen=keep)

    def append(self, evidence: DuplicateVoteEvidence) -> None:
        self.seen += 1
        self.recent.append(evidence)

    def __len__(self) -> int:
        return self.seen

    def __iter__(self) -> Iterator[DuplicateVoteEvidence]:
        return iter(self.recent)


# -- a validator that must stop -------------------------------------------------------------------

class ValidatorHalted(Exception):
    """A validator must not sign any more: the process exits with this message (a non-zero code)."""


class DoubleSignRisk(ValidatorHalted):
    """At start, this key's signature is in a recent commit this datadir did not make."""


class OwnKeyEquivocated(ValidatorHalted):
    """Evidence against this validator's own key: another process signs with it."""


def find_foreign_signature(address: bytes, commits: Iterable[CommitCertificate],
                           last_signed_height: int) -> int | None:
    """The height of a commit ``address`` signed above ``last_signed_height`` (the height of
    this datadir's last-sign record: what it signed itself, e.g. before a restart), or None.

    CometBFT's ``double_sign_check_height`` refuses any own signature in the last N commits,
    which also stops a validator restarted within N blocks; the last-sign record tells a
    restart (it signed up to there itself) from a second process with the same key."""
    for certificate in commits:
        if certificate.height > last_signed_height and any(v == address for v, _ in certificate.signatures):
            return certificate.height
    return None


def describe_double_sign_risk(address: bytes, height: int, depth: int) -> str:
    return (f"validator 0x{address.hex()} signed block #{height} within the last {depth} commits: "
            "another process is running this key? refusing to sign")


async def wait_until_level(peer_heads: Callable[[], Iterable[int]], head: Callable[[], int], *,
                           grace: float, poll: float = 0.2) -> None:
    """Until our head reaches the best head a peer announced (at least one must have), or
    ``grace`` seconds pass without any peer (a network of one): the double-sign check reads
    recent commits, so it must see the network's, not a stale local head's."""
    waited = 0.0
    while True:
        heads = list(peer_heads())
        if heads and head() >= max(heads):
            return
        if not heads and waited >= grace:
            return
        await trio.sleep(poll)
        waited += poll
