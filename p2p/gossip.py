"""Gossipsub for Azora: topics, three-way validation, size caps, dedup, rate limits.

py-libp2p 0.8.1 validators return a bool, cache failures for 5 minutes, count an ignored
message as invalid, rate-limit our own publishes at 10 per topic per second, queue 32 RPCs
per peer and hold 32 undelivered messages per subscription — dropping the excess with a log
line. ``AzoraPubsub`` replaces the receive pipeline (``push_msg``) with the one Ethereum's
consensus layer uses: size cap → dedup → per-peer rate limit → validator returning
ACCEPT / IGNORE / REJECT, with only ACCEPTed messages delivered and forwarded and REJECT
penalising the forwarding peer.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol, Sequence

import trio
from google.protobuf.message import DecodeError
from libp2p.abc import IHost, INetStream
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11, GossipSub
from libp2p.pubsub.mcache import CacheEntry, MessageCache
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.pubsub.rpc_queue import RpcQueue
from libp2p.pubsub.validators import PUBSUB_SIGNING_PREFIX, signature_validator

from kernel.ratelimit import TokenBuckets
from p2p.config import GossipConfig, TopicKind, topic_name
from p2p.metrics import P2PMetrics
from p2p.scoring import Offence

logger = logging.getLogger(__name__)

GOSSIPSUB_PROTOCOLS = [PROTOCOL_ID_V11]


class ValidationResult(str, Enum):
    """A topic validator's verdict, with Ethereum gossip semantics.

    ACCEPT: deliver and forward. IGNORE: drop without penalty (e.g. stale or not yet
    checkable). REJECT: drop and penalise the peer that forwarded it.
    """

    ACCEPT = "accept"
    IGNORE = "ignore"
    REJECT = "reject"


Validator = Callable[[ID, bytes], "ValidationResult | Awaitable[ValidationResult]"]


@dataclass(frozen=True)
class GossipMessage:
    """An accepted gossip message as handed to the node."""

    kind: TopicKind
    payload: bytes
    msg_id: bytes
    forwarder: ID
    origin: ID


GossipHandler = Callable[[GossipMessage], Awaitable[None]]


class MessageTooLarge(ValueError):
    """A local publish exceeds its topic's size cap."""


class Reputation(Protocol):
    """Where gossip reports peers' faults and useful deliveries."""

    def penalise(self, peer: ID, offence: Offence) -> None: ...

    def reward(self, peer: ID) -> None: ...


def compute_message_id(msg: rpc_pb2.Message) -> bytes:
    """Content-addressed message id: sha256 of the payload, so copies dedup across senders."""
    return hashlib.sha256(msg.data).digest()


class ContentAddressedMessageCache(MessageCache):
    """Gossipsub's message cache keyed by our message id.

    py-libp2p 0.8.1's MessageCache always keys by ``from_id + seqno`` whatever message-id
    function pubsub uses, so IHAVE advertises ids a receiver's seen-cache never holds and
    every gossiped message is re-requested with IWANT. Keying the cache by the same content
    id makes IHAVE/IWANT recognise what a peer already has.
    """

    def put(self, msg: rpc_pb2.Message) -> None:
        mid = compute_message_id(msg)
        if mid in self.msgs:
            return
        self.msgs[mid] = msg
        self.history[0].append(CacheEntry(mid, msg.topicIDs))


class AzoraGossipSub(GossipSub):
    """GossipSub whose GRAFT-flood check counts only the PRUNEs we sent.

    py-libp2p 0.8.1 records the time of a PRUNE *received* from a peer as if we had pruned it,
    and then treats that peer's GRAFT within 10 s as a flood: it penalises the peer (10 points
    that never decay with the default parameters) and prunes it back. Two honest peers that
    reshuffle their meshes thus score each other down until one graylists the other and drops
    all its gossip: the fuzz campaign's honest observer, whose only peer was validator0, heard
    no block for the last minute of a 10,000-message run. A peer that GRAFTs while we keep it
    in backoff is still refused by ``handle_graft``'s backoff check.
    """

    async def handle_prune(self, prune_msg: rpc_pb2.ControlPrune, sender_peer_id: ID) -> None:
        topic = prune_msg.topicID
        ours = self.graft_flood_tracking.get(sender_peer_id, {}).get(topic)
        await super().handle_prune(prune_msg, sender_peer_id)
        tracking = self.graft_flood_tracking.get(sender_peer_id)
        if tracking is not None:
            if ours is None:
                tracking.pop(topic, None)
            else:
                tracking[topic] = ours


class _SizedQueues(dict[ID, RpcQueue]):
    """``Pubsub.peer_queues`` with Azora's queue bounds applied as each queue is registered.

    Pubsub builds each peer's RpcQueue with the module default (32 RPCs, 1 MiB) inside
    ``_handle_new_peer``; resizing it on insertion avoids copying that method. Drops are
    counted instead of vanishing into a debug log.
    """

    def __init__(self, max_size: int, max_message_size: int, metrics: P2PMetrics) -> None:
        super().__init__()
        self._max_size = max_size
        self._max_message_size = max_message_size
        self._metrics = metrics

    def __setitem__(self, peer: ID, queue: RpcQueue) -> None:
        queue._queue.max_size = self._max_size
        queue.max_message_size = self._max_message_size
        push = queue.push
        metrics = self._metrics

        def counting_push(rpc: rpc_pb2.RPC, priority: bool = False) -> bool:
            accepted = push(rpc, priority)
            if not accepted and not queue.closed:
                metrics.gossip_outbound_dropped += 1
            return accepted

        queue.push = counting_push  # type: ignore[method-assign]
        super().__setitem__(peer, queue)


class AzoraPubsub(Pubsub):
    """Pubsub whose receive pipeline is delegated to a ``Gossip`` gate."""

    def __init__(self, host: IHost, router: GossipSub, gate: Gossip, **kwargs: Any) -> None:
        super().__init__(host, router, **kwargs)
        self.gate = gate
        self.peer_queues = _SizedQueues(
            gate.config.outbound_queue_size, gate.config.max_rpc_bytes, gate.metrics
        )
        # py-libp2p numbers our messages from int(time.time()) and adds one per publish, so a
        # node that publishes several messages a second and restarts reuses sequence numbers
        # of its previous run; gossipsub then drops its new messages as "equivocation" and a
        # restarted validator's votes never arrive. Nanoseconds (as go-libp2p seeds it) stay
        # ahead of any earlier run.
        self.counter = time.time_ns()

    async def _teardown_if_connected(self, peer_id: ID) -> None:
        """Banning a peer must not kill the node.

        py-libp2p 0.8.1's version awaits ``stream.reset()`` and then does
        ``del self.peers[peer]``; the reset lets the dead-peer handler remove the peer first,
        the ``del`` raises KeyError, and the error takes down the pubsub service and the node
        with it: any peer that earned a ban crashed the node banning it."""
        stream = self.peers.get(peer_id)
        if stream is not None:
            try:
                await stream.reset()
            except Exception:  # noqa: BLE001 - the stream may already be gone
                pass
            self.peers.pop(peer_id, None)
        self._forget_all_subscriptions(peer_id)

    async def stream_handler(self, stream: INetStream) -> None:
        """A frame that is not a pubsub protobuf must cost the peer its stream, not us the node.

        py-libp2p 0.8.1's handler catches stream and varint errors only; protobuf's DecodeError
        from ``RPC.ParseFromString`` escaped it and took the pubsub service and the node down:
        one garbage frame from any peer crashed a validator (found by the gossip fuzz campaign).
        """
        peer_id = stream.muxed_conn.peer_id
        try:
            await super().stream_handler(stream)
        except DecodeError as error:
            logger.debug("malformed pubsub frame from %s: %s", peer_id, error)
            self.gate.on_malformed_rpc(peer_id)
            try:
                await stream.reset()
            except Exception:  # noqa: BLE001 - the stream may already be gone
                pass
            self._handle_dead_peer(peer_id)

    async def republish(self, topic: str, payload: bytes) -> None:
        """Send ``payload`` to the topic's peers again as a fresh message (new seqno).

        ``publish`` refuses content already seen (message ids are content hashes), so this
        builds and signs the message as ``Pubsub.publish`` does and hands it straight to the
        router. Peers that have it drop the copy as a duplicate (no penalty); peers that
        missed it validate and deliver it."""
        message = rpc_pb2.Message(data=payload, topicIDs=[topic], from_id=self.my_id.to_bytes(),
                                  seqno=self._next_seqno())
        if self.strict_signing and self.sign_key is not None:
            # Signed over the message without key and signature, as Pubsub.publish does.
            message.signature = self.sign_key.sign(PUBSUB_SIGNING_PREFIX.encode() + message.SerializeToString())
            message.key = self.host.get_public_key().serialize()
        await self.router.publish(self.my_id, message)

    async def push_msg(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        """Validate a received (or locally published) message, then deliver and forward it."""
        origin = ID(msg.from_id)
        if self.is_peer_blacklisted(msg_forwarder) or self.is_peer_blacklisted(origin):
            return
        is_local = msg_forwarder == self.my_id
        if not is_local and origin == self.my_id:
            return  # claims to be ours but we never published it
        if not await self.gate.admit(msg_forwarder, msg, is_local, self._has_valid_signature):
            return
        self._mark_msg_seen(msg)
        if not is_local:
            self.gate.deliver(msg_forwarder, msg)
        await self.router.publish(msg_forwarder, msg)

    def _has_valid_signature(self, msg: rpc_pb2.Message) -> bool:
        if not self.strict_signing:
            return True
        try:
            return signature_validator(msg)
        except Exception:
            return False


BULK_TOPICS = frozenset({TopicKind.TX, TopicKind.ATTESTATION})


class Gossip:
    """Azora's gossip layer over one py-libp2p host: the node's view of topics.

    The node registers one validator per topic kind (``set_validator``) and any number of
    handlers (``subscribe``); ``run`` joins every topic and dispatches accepted messages to the
    handlers in arrival order, one task per topic.
    """

    def __init__(
        self,
        host: IHost,
        chain_id: int,
        config: GossipConfig,
        reputation: Reputation,
        metrics: P2PMetrics,
        direct_peers: Sequence[PeerInfo] = (),
    ) -> None:
        self.chain_id = chain_id
        self.config = config
        self.metrics = metrics
        self._reputation = reputation
        self._topics = {topic_name(chain_id, kind): kind for kind in TopicKind}
        self._validators: dict[TopicKind, Validator] = {}
        self._handlers: dict[TopicKind, list[GossipHandler]] = {kind: [] for kind in TopicKind}
        self._verdicts: OrderedDict[bytes, ValidationResult | None] = OrderedDict()
        self._buckets: TokenBuckets[tuple[ID, TopicKind]] = TokenBuckets()
        # Bulk topics (transactions, oracle attestations: each message a batch, validated in
        # a worker thread) have their own slots: under a flood of them, consensus messages
        # waited for a free slot for seconds and rounds timed out.
        consensus_slots = trio.Semaphore(config.max_concurrent_validations)
        bulk_slots = trio.Semaphore(config.max_concurrent_validations)
        self._validation_slots = {kind: bulk_slots if kind in BULK_TOPICS else consensus_slots
                                  for kind in TopicKind}
        channels = {
            kind: trio.open_memory_channel[GossipMessage](config.subscription_channel_size)
            for kind in TopicKind
        }
        self._send = {kind: pair[0] for kind, pair in channels.items()}
        self._receive = {kind: pair[1] for kind, pair in channels.items()}
        self.router = AzoraGossipSub(
            protocols=GOSSIPSUB_PROTOCOLS,
            degree=config.mesh_degree,
            degree_low=config.mesh_degree_low,
            degree_high=config.mesh_degree_high,
            heartbeat_interval=config.heartbeat_interval,
            gossip_window=config.gossip_window,
            gossip_history=config.gossip_history,
            # Our own token buckets replace this: py-libp2p's also throttles our own
            # publishes and allows 10 messages per topic per second.
            spam_protection_enabled=False,
            # Both assume peers on distinct public IPs and reshape the mesh on their own;
            # validator networks (and every local testnet) share addresses.
            adaptive_gossip_enabled=False,
            eclipse_protection_enabled=False,
            max_pending_messages_per_peer=config.pending_messages_per_peer,
            direct_peers=list(direct_peers),
            # the service keeps them connected (with its backoff and ban checks); py-libp2p's
            # own loop would dial from both ends at once
            direct_connect_initial_delay=math.inf,
        )
        self.router.mcache = ContentAddressedMessageCache(
            config.gossip_window, config.gossip_history
        )
        self.pubsub = AzoraPubsub(
            host,
            self.router,
            self,
            seen_ttl=config.seen_ttl,
            msg_id_constructor=compute_message_id,
            max_inbound_rpc_size=config.max_rpc_bytes,
            allowed_topics=set(self._topics),
        )

    # -- the node's API -------------------------------------------------------------------

    def topic(self, kind: TopicKind) -> str:
        """The topic string of ``kind`` on this chain."""
        return topic_name(self.chain_id, kind)

    def set_validator(self, kind: TopicKind, validator: Validator) -> None:
        """Install the node's validator for ``kind`` (sync or async; returns ValidationResult)."""
        self._validators[kind] = validator

    def subscribe(self, kind: TopicKind, handler: GossipHandler) -> None:
        """Call ``handler`` with every accepted message on ``kind``."""
        self._handlers[kind].append(handler)

    async def publish(self, kind: TopicKind, payload: bytes) -> bool:
        """Publish ``payload`` on ``kind``; False when the same payload was already seen.

        Raises MessageTooLarge when the payload exceeds the topic's cap: a peer would reject it.
        """
        limit = self.config.topic_limits[kind].max_message_bytes
        if len(payload) > limit:
            raise MessageTooLarge(f"{kind.value} message of {len(payload)} bytes > {limit}")
        if hashlib.sha256(payload).digest() in self._verdicts:
            return False
        await self.pubsub.publish(self.topic(kind), payload)
        self.metrics.gossip_published += 1
        return True

    async def republish(self, kind: TopicKind, payload: bytes) -> None:
        """Gossip ``payload`` again to peers that may have missed it (see
        :meth:`AzoraPubsub.republish`); failures (no peers, a closing stream) are logged."""
        try:
            await self.pubsub.republish(self.topic(kind), payload)
        except Exception as exc:  # the caller's next round will try again
            logger.debug("re-gossip on %s failed: %s", kind.value, exc)

    # -- lifecycle --------------------------------------------------------------------------

    async def join_topics(self) -> None:
        """Subscribe to every Azora topic (announces us to peers and joins the meshes)."""
        for topic in self._topics:
            await self.pubsub.subscribe(topic)

    async def run_dispatchers(self) -> None:
        """Hand accepted messages to the node's handlers, one task per topic kind."""
        async with trio.open_nursery() as nursery:
            for kind in TopicKind:
                nursery.start_soon(self._dispatch, kind)

    async def _dispatch(self, kind: TopicKind) -> None:
        async with self._receive[kind] as messages:
            async for message in messages:
                for handler in list(self._handlers[kind]):
                    try:
                        await handler(message)
                    except Exception:
                        self.metrics.gossip_handler_errors += 1
                        logger.exception("gossip handler for %s failed", kind.value)

    def forget_peer(self, peer: ID) -> None:
        """Drop per-peer state when a peer disconnects."""
        for kind in TopicKind:
            self._buckets.forget((peer, kind))

    # -- the receive pipeline (called by AzoraPubsub) ------------------------------------

    def on_malformed_rpc(self, peer: ID) -> None:
        """A peer sent a pubsub frame that does not parse."""
        self.metrics.gossip_malformed_rpc += 1
        self._reputation.penalise(peer, Offence.INVALID_MESSAGE)

    def on_bad_signature(self, forwarder: ID) -> None:
        """A forwarded message failed its libp2p signature check."""
        self.metrics.gossip_bad_signature += 1
        self._reputation.penalise(forwarder, Offence.INVALID_MESSAGE)

    async def admit(
        self,
        forwarder: ID,
        msg: rpc_pb2.Message,
        is_local: bool,
        is_signed: Callable[[rpc_pb2.Message], bool],
    ) -> bool:
        """Decide whether ``msg`` is delivered and forwarded; penalise the forwarder on REJECT.

        Cheap checks run first (topic, dedup, size) so duplicates, which every mesh peer
        sends us, never cost a signature check or a validation.
        """
        kind = self._kind_of(msg)
        if kind is None:
            self._reject(forwarder)
            return False
        msg_id = compute_message_id(msg)
        if not is_local:
            self.metrics.gossip_received += 1
        if msg_id in self._verdicts:
            self._on_duplicate(forwarder, msg_id, is_local)
            return False
        if len(msg.data) > self.config.topic_limits[kind].max_message_bytes:
            self.metrics.gossip_oversized += 1
            self._remember(msg_id, ValidationResult.REJECT)
            self._reject(forwarder)
            return False
        if is_local:
            self._remember(msg_id, ValidationResult.ACCEPT)
            return True
        if not is_signed(msg):
            # Not remembered: the same payload may arrive validly signed from its author.
            self.on_bad_signature(forwarder)
            return False
        if not self._within_rate(forwarder, kind):
            self.metrics.gossip_rate_limited += 1
            self._reputation.penalise(forwarder, Offence.RATE_LIMITED)
            return False  # not remembered: the same message may still come from a peer in budget
        self._remember(msg_id, None)  # in flight: copies arriving meanwhile are duplicates
        verdict = await self._validate(kind, forwarder, msg.data)
        self._remember(msg_id, verdict)
        return self._apply_verdict(kind, forwarder, verdict)

    def _within_rate(self, forwarder: ID, kind: TopicKind) -> bool:
        """Spend a token of the forwarder's bucket for ``kind`` (its topic's rate and burst)."""
        limit = self.config.topic_limits[kind]
        return self._buckets.take((forwarder, kind), trio.current_time(),
                                  rate=limit.rate_per_second, burst=float(limit.burst))

    def deliver(self, forwarder: ID, msg: rpc_pb2.Message) -> None:
        """Queue an accepted message for the node's handlers (never blocks the network)."""
        kind = self._kind_of(msg)
        assert kind is not None  # admit() accepted it
        message = GossipMessage(
            kind=kind,
            payload=msg.data,
            msg_id=compute_message_id(msg),
            forwarder=forwarder,
            origin=ID(msg.from_id),
        )
        try:
            self._send[kind].send_nowait(message)
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            self.metrics.gossip_delivery_dropped += 1
            logger.warning("gossip delivery queue for %s full: message dropped", kind.value)

    def _kind_of(self, msg: rpc_pb2.Message) -> TopicKind | None:
        if len(msg.topicIDs) != 1:
            return None
        return self._topics.get(msg.topicIDs[0])

    def _remember(self, msg_id: bytes, verdict: ValidationResult | None) -> None:
        self._verdicts[msg_id] = verdict
        self._verdicts.move_to_end(msg_id)
        while len(self._verdicts) > self.config.verdict_cache_size:
            self._verdicts.popitem(last=False)

    def _on_duplicate(self, forwarder: ID, msg_id: bytes, is_local: bool) -> None:
        self.metrics.gossip_duplicates += 1
        # An honest peer validates before forwarding, so relaying a message we already
        # rejected is itself a fault.
        if not is_local and self._verdicts.get(msg_id) is ValidationResult.REJECT:
            self._reject(forwarder)

    def _reject(self, forwarder: ID) -> None:
        self.metrics.gossip_rejected += 1
        self._reputation.penalise(forwarder, Offence.INVALID_MESSAGE)

    def _apply_verdict(self, kind: TopicKind, forwarder: ID, verdict: ValidationResult) -> bool:
        if verdict is ValidationResult.ACCEPT:
            self.metrics.gossip_accepted += 1
            self.metrics.count_topic(kind.value)
            self._reputation.reward(forwarder)
            return True
        if verdict is ValidationResult.REJECT:
            self._reject(forwarder)
        else:
            self.metrics.gossip_ignored += 1
        return False

    async def _validate(self, kind: TopicKind, forwarder: ID, payload: bytes) -> ValidationResult:
        validator = self._validators.get(kind)
        if validator is None:
            return ValidationResult.ACCEPT
        async with self._validation_slots[kind]:
            with trio.move_on_after(self.config.validation_timeout):
                try:
                    result = validator(forwarder, payload)
                    if inspect.isawaitable(result):
                        result = await result
                    return ValidationResult(result)
                except Exception:
                    # A crashing validator is the node's bug, not the peer's fault.
                    self.metrics.gossip_validation_errors += 1
                    logger.exception("gossip validator for %s failed", kind.value)
                    return ValidationResult.IGNORE
        self.metrics.gossip_validation_errors += 1
        logger.warning("gossip validator for %s timed out", kind.value)
        return ValidationResult.IGNORE
