"""A networked node: the consensus host, the chain and the mempool joined to libp2p.

Gossip carries proposals (with their block and parent commit), votes, committed blocks,
transactions and evidence; req/resp serves status and block ranges. A node that is behind
range-syncs — verifying every commit certificate against the validator set of its height and
re-executing every block — then follows gossip.
"""
from __future__ import annotations

import concurrent.futures
import logging
import math
from typing import Any, Awaitable, Callable, Sequence

import rlp
import trio
from eth.abc import BlockAPI, BlockHeaderAPI
from eth.exceptions import HeaderNotFound
from libp2p.peer.id import ID

from consensus.events import ProposalReceived, VoteReceived
from consensus.signing import is_valid_vote_signature
from consensus.types import CommitCertificate, DuplicateVoteEvidence, SignedVote, is_conflicting_pair
from consensus.wire import CommittedBlockMessage, ProposalMessage, decode_commits, encode_commits
from kernel.chain import ChainError
from node.progress import SyncProgress
from node.admission import MIN_BATCH
from node.attestations import AttestationGate
from node.backend import Backend
from node.chainio import decode_block
from node.context import SyncStatus
from node.mempool import TxRejected
from node.services.consensus_host import ConsensusHost
from node.txgossip import (
    MalformedTxMessage, gather_transactions, gather_window, message_verdict, pack_transactions,
    unpack_transactions,
)
from p2p import (
    BlockAndCommit, GossipMessage, P2PService, ReqRespHandlers, Status, TopicKind, ValidationResult,
)

logger = logging.getLogger("azora.network")
SYNC_BATCH = 256
STATUS_POLL_SECONDS = 3.0
SENDER_RECOVERY_TIMEOUT = 30.0   # seconds a synced block waits for the worker recovering its senders
SENDERS_AHEAD = 16               # synced blocks whose senders the worker recovers ahead of execution
# A height that has not moved for this long gets our own votes and proposal published again.
REGOSSIP_SECONDS = 2.0

BatchImporter = Callable[[list[BlockAndCommit]], Awaitable[int]]


class GossipOutbox:
    """The consensus host's outbox, published on the chain's gossip topics."""

    listened = True

    def __init__(self, p2p: P2PService) -> None:
        self.p2p = p2p

    async def _publish(self, kind: TopicKind, payload: bytes) -> None:
        try:
            await self.p2p.publish(kind, payload)
        except Exception as exc:  # a full queue or no peers yet must not stop consensus
            logger.debug("publish on %s failed: %s", kind.value, exc)

    async def proposal(self, message: ProposalMessage) -> None:
        await self._publish(TopicKind.PROPOSAL, message.encode())

    async def vote(self, signed: SignedVote) -> None:
        await self._publish(TopicKind.VOTE, signed.encode())

    async def committed(self, message: CommittedBlockMessage) -> None:
        await self._publish(TopicKind.BLOCK, message.encode())

    async def evidence(self, evidence: DuplicateVoteEvidence) -> None:
        await self._publish(TopicKind.EVIDENCE, evidence.encode())


class NetworkNode:
    """Routes between the P2P service, the consensus host and the chain."""

    def __init__(self, backend: Backend, host: ConsensusHost, p2p: P2PService, sync: RangeSync) -> None:
        self.backend = backend
        self.chain = backend.chain
        self.host = host
        self.p2p = p2p
        self.sync = sync
        self._token: trio.lowlevel.TrioToken | None = None
        self._tx_send, self._tx_receive = trio.open_memory_channel[bytes](math.inf)
        # Admission is CPU under the GIL: more threads would only take turns.
        self._tx_admission = trio.CapacityLimiter(2)
        backend.on_local_tx.append(self._on_local_tx)
        self._install_topics()

    # -- wiring ----------------------------------------------------------------------------

    def _install_topics(self) -> None:
        p2p = self.p2p
        p2p.set_validator(TopicKind.VOTE, self._validate_vote)
        p2p.subscribe(TopicKind.VOTE, self._on_vote)
        p2p.set_validator(TopicKind.PROPOSAL, self._validate_proposal)
        p2p.subscribe(TopicKind.PROPOSAL, self._on_proposal)
        p2p.set_validator(TopicKind.BLOCK, self._validate_committed)
        p2p.subscribe(TopicKind.BLOCK, self._on_committed)
        p2p.set_validator(TopicKind.TX, self._validate_txs)
        p2p.set_validator(TopicKind.EVIDENCE, self._validate_evidence)
        p2p.subscribe(TopicKind.EVIDENCE, self._on_evidence)
        p2p.set_validator(TopicKind.ATTESTATION, AttestationGate(self.chain).validate)

    async def run(
        self, *,
        # trio-typing's stubs (installed with libp2p) shadow trio's own types and predate TaskStatus.
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,  # type: ignore[name-defined]
    ) -> None:
        self._token = trio.lowlevel.current_trio_token()
        # up before the first range sync needs it (starting takes a second or two)
        self.backend.decoder.start()
        async with trio.open_nursery() as nursery:
            await nursery.start(self.p2p.run)
            nursery.start_soon(self._publish_local_txs)
            nursery.start_soon(self._poll_status)
            nursery.start_soon(self.sync.run, self.p2p, self.import_committed)
            nursery.start_soon(self._regossip_loop)
            task_status.started()
            await self.host.run()

    # -- status and range sync ---------------------------------------------------------------

    async def _poll_status(self) -> None:
        while True:
            await trio.sleep(STATUS_POLL_SECONDS)
            for peer in list(self.p2p.connected_peers()):
                try:
                    with trio.move_on_after(5):
                        await self.sync.on_peer_status(peer, await self.p2p.request_status(peer))
                except Exception as exc:
                    logger.debug("status from %s failed: %s", peer, exc)

    async def import_committed(self, batch: list[BlockAndCommit]) -> int:
        """Verify each commit against its height's set, execute and persist; stop at the first bad one.

        The senders of the batch's transactions are recovered in the decoder's worker process
        meanwhile (a tenth of executing a transfer, and the only part of it that needs nothing
        of the chain): each block finds its senders known when its turn comes."""
        imported = 0
        decoded: list[BlockAPI | Exception] = []
        for item in batch:
            try:
                decoded.append(decode_block(self.chain, item.block))
            except (ValueError, rlp.DecodingError, rlp.DeserializationError) as exc:
                decoded.append(exc)
                break
        # by index in the batch: the worker's recovery of that block's senders (None: none asked)
        recovering: dict[int, concurrent.futures.Future[list[bytes | None]] | None] = {}
        try:
            for index, (item, block) in enumerate(zip(batch, decoded)):
                self._recover_senders_ahead(decoded, batch, index, recovering)
                try:
                    if isinstance(block, Exception):
                        raise block
                    certificate, parent_certificate = decode_commits(item.commit)
                    senders = recovering.pop(index, None)
                    if senders is not None:
                        self.backend.decoder.senders_recovered += await _take_senders(block, senders)
                    await self.host.import_committed_block(block, certificate, parent_certificate)
                except (ChainError, ValueError, rlp.DecodingError, rlp.DeserializationError) as exc:
                    logger.warning("rejected synced block: %s", exc)
                    break
                imported += 1
        finally:
            for senders in recovering.values():
                if senders is not None:
                    senders.cancel()
        return imported

    def _recover_senders_ahead(self, decoded: list[BlockAPI | Exception], batch: list[BlockAndCommit], start: int,
                               recovering: dict[int, "concurrent.futures.Future[list[bytes | None]] | None"]) -> None:
        """Have the worker recover the senders of the next SENDERS_AHEAD blocks from ``start``
        that it was not asked for yet (it starts on the first ask: blocks synced before it is
        up recover their own)."""
        for index in range(start, min(start + SENDERS_AHEAD, len(decoded))):
            block = decoded[index]
            if index in recovering or isinstance(block, Exception):
                continue
            if len(block.transactions) < MIN_BATCH:   # a round trip costs more than recovering them here
                recovering[index] = None
                continue
            builder = self.chain.vm_class_for(block.number, block.header.timestamp).get_transaction_builder()
            future = self.backend.decoder.submit_senders(builder, batch[index].block)
            if future is None:   # the worker is not up yet: ask again at the next block
                return
            recovering[index] = future

    # -- re-gossip for liveness -----------------------------------------------------------------

    async def _regossip_loop(self) -> None:
        """Republish our own messages of a height that is stuck.

        Gossip delivers a message once: a validator that was down (or partitioned) when its
        peers voted never sees those votes, and with the others waiting on its votes nobody
        reaches a threshold, not even the +2/3 of any precommits that ends a round (two of
        four validators killed, one restarted, all in round 0: a deadlock). Re-sending what we
        signed at a height that has not moved for a while restores liveness."""
        last_head = -1
        while True:
            await trio.sleep(REGOSSIP_SECONDS)
            head = self.chain.head.block_number
            if head != last_head:
                last_head = head
                continue
            for message in self.host.own_messages():
                kind = TopicKind.PROPOSAL if isinstance(message, ProposalMessage) else TopicKind.VOTE
                await self.p2p.gossip.republish(kind, message.encode())

    # -- gossip validators and handlers ---------------------------------------------------------

    def _validate_vote(self, peer: ID, payload: bytes) -> ValidationResult:
        try:
            signed = SignedVote.decode(payload)
        except ValueError:
            return ValidationResult.REJECT
        if not is_valid_vote_signature(self.host.domain, signed):
            return ValidationResult.REJECT
        height = self.chain.head.block_number + 1
        if signed.vote.height < height - 1 or signed.vote.height > height + 1:
            return ValidationResult.IGNORE
        # the head's and the next height's sets are known (the next one's only once the head is
        # in): a well-signed vote from outside them is a peer relaying forgeries, not news
        if signed.vote.height <= height and \
                not self.host.validator_sets.read(signed.vote.height).contains(signed.validator):
            return ValidationResult.REJECT
        return ValidationResult.ACCEPT

    async def _on_vote(self, message: GossipMessage) -> None:
        await self.host.feed(VoteReceived(SignedVote.decode(message.payload)))

    def _validate_proposal(self, peer: ID, payload: bytes) -> ValidationResult:
        try:
            proposal = ProposalMessage.decode(payload)
        except ValueError:
            return ValidationResult.REJECT
        height = self.chain.head.block_number + 1
        if proposal.signed.proposal.height != height:
            return ValidationResult.IGNORE
        return ValidationResult.ACCEPT

    async def _on_proposal(self, message: GossipMessage) -> None:
        proposal = ProposalMessage.decode(message.payload)
        problem = self.host.receive_proposal_block(proposal)
        if problem:
            logger.info("proposal from %s unusable: %s", message.forwarder, problem)
            return
        await self.host.feed(ProposalReceived(proposal.signed))

    def _validate_committed(self, peer: ID, payload: bytes) -> ValidationResult:
        try:
            message = CommittedBlockMessage.decode(payload)
            CommitCertificate.decode(message.certificate)
        except ValueError:
            return ValidationResult.REJECT
        return ValidationResult.ACCEPT

    async def _on_committed(self, message: GossipMessage) -> None:
        committed = CommittedBlockMessage.decode(message.payload)
        certificate = CommitCertificate.decode(committed.certificate)
        head = self.chain.head.block_number
        if certificate.height <= head:
            return
        if certificate.height > head + 1:
            self.sync.on_peer_head(message.forwarder, certificate.height)
            return
        held = self.host.proposed_block(certificate.block_hash)
        if held is not None:   # a proposal we hold, maybe still validating it: not decoded again
            try:
                parent = CommitCertificate.decode(committed.parent_certificate) if committed.parent_certificate else None
                await self.host.import_committed_block(held, certificate, parent)
            except (ChainError, ValueError, rlp.DecodingError, rlp.DeserializationError) as exc:
                logger.warning("rejected committed block: %s", exc)
            return
        await self.import_committed([BlockAndCommit(
            committed.block, encode_commits(committed.certificate, committed.parent_certificate))])

    async def _validate_txs(self, peer: ID, payload: bytes) -> ValidationResult:
        """A tx message, judged by what our pool makes of it (see :func:`message_verdict`)."""
        try:
            raws = unpack_transactions(payload)
        except MalformedTxMessage:
            return ValidationResult.REJECT
        rejections = await trio.to_thread.run_sync(self._admit_gossiped, raws, limiter=self._tx_admission)
        return message_verdict(rejections)

    def _admit_gossiped(self, raws: list[bytes]) -> list[TxRejected | None]:
        """Each transaction into the pool: None if admitted, else why not. Admitted through
        ``Backend.admit``, not ``submit``: gossipsub forwards these, we do not publish them."""
        self.backend.warm_transactions(raws)
        return [self._admit_one(raw) for raw in raws]

    def _admit_one(self, raw: bytes) -> TxRejected | None:
        try:
            self.backend.admit(self.backend.decode_raw_transaction(raw), len(raw))
        except TxRejected as exc:
            return exc
        return None

    def _validate_evidence(self, peer: ID, payload: bytes) -> ValidationResult:
        try:
            evidence = DuplicateVoteEvidence.decode(payload)
        except ValueError:
            return ValidationResult.REJECT
        domain = self.host.domain
        if not (is_conflicting_pair(evidence.vote_a, evidence.vote_b)
                and is_valid_vote_signature(domain, evidence.vote_a)
                and is_valid_vote_signature(domain, evidence.vote_b)):
            return ValidationResult.REJECT
        return ValidationResult.ACCEPT

    async def _on_evidence(self, message: GossipMessage) -> None:
        await self.host.on_evidence_received(DuplicateVoteEvidence.decode(message.payload))

    # -- local transactions to the network -------------------------------------------------------

    def _on_local_tx(self, tx: Any) -> None:
        if self._token is None:
            return
        # Queued for the loop without waiting for it (called from RPC threads and from the
        # loop itself): admission must not stall on the loop.
        self._token.run_sync_soon(self._tx_send.send_nowait, tx.encode())

    async def _publish_local_txs(self) -> None:
        """Our new transactions to the network, each message carrying all that arrived within
        a window after its first, longer under load (see node/txgossip.py)."""
        limit = self.p2p.config.gossip.topic_limits[TopicKind.TX].max_message_bytes
        previous, sent_at = 0, -math.inf
        async for encoded in self._tx_receive:
            window = gather_window(previous, trio.current_time() - sent_at)
            batch = await gather_transactions(encoded, self._tx_receive, window)
            for message in pack_transactions(batch, limit):
                try:
                    await self.p2p.publish(TopicKind.TX, message)
                except Exception as exc:
                    logger.debug("tx publish failed: %s", exc)
            previous, sent_at = len(batch), trio.current_time()


async def _take_senders(block: BlockAPI, recovering: "concurrent.futures.Future[list[bytes | None]]") -> int:
    """Give ``block``'s transactions the senders a worker recovered (py-evm caches ``sender``
    in the instance); a worker that failed leaves them to execution. Returns how many it gave."""
    try:
        if not recovering.done():
            senders = await trio.to_thread.run_sync(recovering.result, SENDER_RECOVERY_TIMEOUT)
        else:
            senders = recovering.result()
    except Exception as exc:  # noqa: BLE001 - a dead or slow worker: execution recovers them
        logger.debug("sender recovery for block #%d failed: %s", block.number, exc)
        return 0
    if len(senders) != len(block.transactions):
        return 0
    given = 0
    for tx, sender in zip(block.transactions, senders):
        if sender is not None and "sender" not in tx.__dict__:
            tx.__dict__["sender"] = sender
            given += 1
    return given


class RangeSync:
    """Our chain served to peers (status, blocks by range or hash) and range sync from them.

    Built before the p2p host, which takes :meth:`handlers` at construction; the sync loop
    gets the host and the importer when it runs. While a sync is in progress,
    :meth:`sync_status` reports it (eth_syncing).
    """

    def __init__(self, backend: Backend) -> None:
        self.chain = backend.view
        self.peer_heads: dict[ID, int] = {}
        self._sync_wanted = trio.Event()
        self._one_behind_since: tuple[int, float] | None = None   # (our head, since when)
        # (our head when the sync began, the best peer head seen since); None: not syncing.
        # One tuple, replaced whole, so RPC threads read it without a lock.
        self._progress: tuple[int, int] | None = None

    @property
    def sync_wanted(self) -> bool:
        """Whether a peer's head has asked for a range sync that has not run yet."""
        return self._sync_wanted.is_set()

    def handlers(self) -> ReqRespHandlers:
        return ReqRespHandlers(status=self.status, on_peer_status=self.on_peer_status,
                               blocks_by_range=self.blocks_by_range, blocks_by_hash=self.blocks_by_hash)

    def sync_status(self) -> SyncStatus | None:
        progress, head = self._progress, self.chain.head.block_number
        if progress is None or head >= progress[1]:
            return None
        return SyncStatus(starting_block=progress[0], current_block=head, highest_block=progress[1])

    # -- serving ----------------------------------------------------------------------------

    async def status(self) -> Status:
        head = self.chain.head
        return Status(self.chain.chain_id, self.chain.genesis_hash, head.block_number, head.hash,
                      head.block_number, head.hash)

    async def on_peer_status(self, peer: ID, status: Status) -> None:
        self.on_peer_head(peer, status.head_number)
        ours = self.chain.head.block_number
        if status.head_number == ours + 1:
            # One behind is normal for a moment (the block is on its way by gossip). Still one
            # behind at the same head a status poll later means the block was missed (a
            # validator restarted after the others committed the height it had precommitted),
            # and nobody gossips that height again: fetch it.
            if self._one_behind_since is None or self._one_behind_since[0] != ours:
                self._one_behind_since = (ours, trio.current_time())
            elif trio.current_time() - self._one_behind_since[1] >= STATUS_POLL_SECONDS:
                self._sync_wanted.set()

    def on_peer_head(self, peer: ID, height: int) -> None:
        """A peer is at ``height``; sync if that is more than the next block ahead of us."""
        self.peer_heads[peer] = height
        if height > self.chain.head.block_number + 1:
            self._sync_wanted.set()

    async def blocks_by_range(self, peer: ID, start: int, count: int) -> list[BlockAndCommit]:
        return await trio.to_thread.run_sync(self._read_range, start, count)

    def _read_range(self, start: int, count: int) -> list[BlockAndCommit]:
        out = []
        for number in range(max(1, start), min(start + count, self.chain.head.block_number + 1)):
            item = self._sync_item(self.chain.header_by_number(number))
            if item is None:
                break
            out.append(item)
        return out

    def _sync_item(self, header: BlockHeaderAPI) -> BlockAndCommit | None:
        """A block with its certificate and its parent's canonical one (the one it binds)."""
        commit = self.chain.commit_of(header.hash)
        if commit is None:
            return None
        parent = self.chain.commit_of(header.parent_hash) if header.block_number > 1 else b""
        return BlockAndCommit(rlp.encode(self.chain.block_of(header)), encode_commits(commit, parent or b""))

    async def blocks_by_hash(self, peer: ID, hashes: Sequence[bytes]) -> list[BlockAndCommit]:
        def read() -> list[BlockAndCommit]:
            out = []
            for block_hash in hashes:
                try:
                    header = self.chain.header_by_hash(block_hash)
                except HeaderNotFound:
                    continue
                item = self._sync_item(header)
                if item is not None:
                    out.append(item)
            return out
        return await trio.to_thread.run_sync(read)

    # -- syncing ----------------------------------------------------------------------------

    async def run(self, p2p: P2PService, importer: BatchImporter) -> None:
        """Range-sync whenever a peer is ahead, until cancelled."""
        while True:
            await self._sync_wanted.wait()
            self._sync_wanted = trio.Event()
            await self.sync_once(p2p, importer)

    async def sync_once(self, p2p: P2PService, importer: BatchImporter) -> int:
        """Range-sync from the best peer until level with it; returns blocks imported.

        The next range is fetched while the current one imports: the peer reads and encodes
        it on its own CPU meanwhile, rather than both sides taking turns."""
        imported = 0
        starting = self.chain.head.block_number
        progress = SyncProgress(starting)
        try:
            while True:
                ours = self.chain.head.block_number
                peer, their_head = max(self.peer_heads.items(), key=lambda item: item[1], default=(None, 0))
                if peer is None or their_head <= ours:
                    return imported
                highest = max(their_head, self._progress[1] if self._progress else 0)
                self._progress = (starting, highest)
                # capacity 0: a range is handed over when the importer takes it, and the next
                # one is fetched while it imports; at most one waits in memory
                send, receive = trio.open_memory_channel[list[BlockAndCommit] | Exception](0)
                async with receive, trio.open_nursery() as nursery:
                    nursery.start_soon(self._fetch_ranges, p2p, peer, ours + 1, their_head, send)
                    async for batch in receive:
                        if isinstance(batch, Exception):
                            logger.info("range sync from %s failed: %s", peer, batch)
                            self.peer_heads.pop(peer, None)
                            break
                        if not batch:
                            self.peer_heads[peer] = self.chain.head.block_number
                            break
                        count = await importer(batch)
                        imported += count
                        progress.update(self.chain.head.block_number, highest, imported)
                        if count < len(batch):
                            self.peer_heads.pop(peer, None)   # it served something we cannot accept
                            break
                    nursery.cancel_scope.cancel()   # the fetcher, if it is still ahead
        finally:
            progress.close()
            self._progress = None

    @staticmethod
    async def _fetch_ranges(p2p: P2PService, peer: ID, start: int, last: int,
                            send: trio.MemorySendChannel[list[BlockAndCommit] | Exception]) -> None:
        """Ranges of ``peer``'s blocks from ``start`` to ``last``, each sent as it arrives; an
        empty one or the request's failure ends them."""
        async with send:
            while start <= last:
                try:
                    batch = await p2p.request_blocks_by_range(peer, start, min(SYNC_BATCH, last - start + 1))
                except Exception as exc:  # noqa: BLE001 - the importer decides what a failure means
                    await send.send(exc)
                    return
                await send.send(batch)
                if not batch:
                    return
                start += len(batch)
