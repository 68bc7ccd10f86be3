"""``P2PService``: the node's one networking service (host, gossip, req/resp, scores, bans).

Usage from the node::

    service = P2PService(config, load_or_create_node_key(datadir), handlers)
    service.set_validator(TopicKind.VOTE, validate_vote)     # -> ValidationResult
    service.subscribe(TopicKind.VOTE, on_vote)               # async (GossipMessage) -> None
    await nursery.start(service.run)                         # listening once this returns
    await service.publish(TopicKind.TX, raw_tx)
    status = await service.request_status(peer_id)
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import trio
from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID
from libp2p.tools.anyio_service import background_trio_service

from p2p.config import P2PConfig, TopicKind
from p2p.gossip import Gossip, GossipHandler, Validator
from p2p.host import (
    ConnectionEvents,
    build_host,
    dial,
    disconnect_peer,
    full_multiaddrs,
    keep_connected,
    listen_multiaddr,
    parse_bootnode,
)
from p2p.metrics import P2PMetrics
from p2p.reqresp import BlockAndCommit, ReqResp, ReqRespHandlers, Status, WrongChain
from p2p.scoring import Offence, PeerScoreTable

logger = logging.getLogger(__name__)

BAN_SWEEP_SECONDS = 1.0
EVENT_CHANNEL_SIZE = 4096


@dataclass(frozen=True)
class PeerView:
    """One connected or scored peer, as the node shows it (e.g. in a status table)."""

    peer_id: str
    connected: bool
    score: float
    banned: bool


PeerRef = ID | str


def as_peer_id(peer: PeerRef) -> ID:
    """Accept a libp2p ID or its base58 string."""
    return peer if isinstance(peer, ID) else ID.from_base58(peer)


class ListenError(OSError):
    """The host could not bind its listen address."""


def ensure_port_free(host: str, port: int) -> None:
    """Refuse a port another process listens on, on this address or any it overlaps.

    py-libp2p's listener shares ports (0.0.0.0:P beside another's 127.0.0.1:P), so a second
    node on a taken port would start and hear nothing. A plain socket with SO_REUSEADDR (what a
    restart needs past TIME_WAIT) still cannot bind beside a listening one: that is the probe.
    """
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                              "(another process holds the port?)") from None


class P2PService:
    """Runs one libp2p host with Azora's gossip topics and req/resp protocols.

    Gossip payloads and block/commit bytes are opaque here: the node decodes them in its
    validators and handlers. Peers that send invalid messages or malformed requests lose
    score; below the ban threshold they are disconnected and refused for the ban period.
    """

    def __init__(
        self,
        config: P2PConfig,
        key_pair: KeyPair,
        handlers: ReqRespHandlers | None = None,
    ) -> None:
        self.config = config
        self.metrics = P2PMetrics()
        self.scores = PeerScoreTable(config.scoring)
        self.host = build_host(key_pair)
        self.peer_id: ID = self.host.get_id()
        self.bootnodes = [parse_bootnode(address) for address in config.bootnodes]
        self.direct_peers = [parse_bootnode(address) for address in config.direct_peers]
        self._kept_ids = {info.peer_id for info in self.bootnodes + self.direct_peers}
        self._events_send, self._events_receive = trio.open_memory_channel[tuple[str, ID]](
            EVENT_CHANNEL_SIZE
        )
        self.gossip = Gossip(self.host, config.chain_id, config.gossip, self, self.metrics, self.direct_peers)
        self.reqresp = ReqResp(
            self.host, config.reqresp, handlers or ReqRespHandlers(), self, self.metrics
        )
        self.host.get_network().register_notifee(
            ConnectionEvents(self._events_send, self.metrics)
        )
        self._nursery: trio.Nursery | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def run(
        self,
        # trio-typing's stubs (installed with libp2p) shadow trio's own types and predate TaskStatus.
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,  # type: ignore[name-defined]
    ) -> None:
        """Listen, join the topics, keep bootnodes connected; ``started`` once listening."""
        self.reqresp.install()
        ensure_port_free(self.config.listen_host, self.config.port)
        listen = listen_multiaddr(self.config.listen_host, self.config.port)
        pubsub = self.gossip.pubsub
        try:
            async with self.host.run([listen]):
                if not self.host.get_addrs():
                    # py-libp2p only logs a failed bind and runs on without listening.
                    raise ListenError(f"cannot listen on {self.config.listen_host}:{self.config.port} "
                                      "(address in use or unavailable)")
                async with background_trio_service(pubsub):
                    async with background_trio_service(self.gossip.router):
                        await pubsub.wait_until_ready()
                        await self.gossip.join_topics()
                        async with trio.open_nursery() as nursery:
                            self._nursery = nursery
                            self._start_tasks(nursery)
                            logger.info("p2p listening on %s", ", ".join(self.listen_addrs))
                            task_status.started()
                            await trio.sleep_forever()
        finally:
            self._nursery = None
            pubsub.seen_messages.stop()  # py-libp2p's cache sweeps in a thread of its own

    def _start_tasks(self, nursery: trio.Nursery) -> None:
        nursery.start_soon(self.gossip.run_dispatchers)
        nursery.start_soon(self._handle_events)
        nursery.start_soon(self._expire_bans)
        for info in self.bootnodes:
            nursery.start_soon(
                keep_connected,
                self.host,
                info,
                self.is_banned,
                self.metrics,
                self.config.bootnode_retry_min,
                self.config.bootnode_retry_max,
                self.config.dial_timeout,
            )

    @property
    def listen_addrs(self) -> list[str]:
        """Our multiaddrs with ``/p2p/<peer id>``, usable as other nodes' bootnodes."""
        return full_multiaddrs(self.host)

    # -- gossip ---------------------------------------------------------------------------

    def set_validator(self, kind: TopicKind, validator: Validator) -> None:
        """Install the node's ACCEPT/IGNORE/REJECT validator for a topic."""
        self.gossip.set_validator(kind, validator)

    def subscribe(self, kind: TopicKind, handler: GossipHandler) -> None:
        """Receive every accepted message of a topic (not our own publishes)."""
        self.gossip.subscribe(kind, handler)

    async def publish(self, kind: TopicKind, payload: bytes) -> bool:
        """Gossip ``payload``; False if already seen; raises MessageTooLarge over the cap."""
        return await self.gossip.publish(kind, payload)

    # -- req/resp -------------------------------------------------------------------------

    async def request_status(self, peer: PeerRef) -> Status:
        """Exchange Status with ``peer``; a peer on another chain is disconnected."""
        peer_id = as_peer_id(peer)
        try:
            return await self.reqresp.request_status(peer_id)
        except WrongChain:
            await self.disconnect(peer_id)
            raise

    async def request_blocks_by_range(
        self, peer: PeerRef, start: int, count: int
    ) -> list[BlockAndCommit]:
        """Fetch up to ``count`` (≤ 256) consecutive blocks with their commits from ``peer``."""
        return await self.reqresp.request_blocks_by_range(as_peer_id(peer), start, count)

    async def request_blocks_by_hash(
        self, peer: PeerRef, hashes: Sequence[bytes]
    ) -> list[BlockAndCommit]:
        """Fetch blocks by hash (≤ 256) with their commits from ``peer``."""
        return await self.reqresp.request_blocks_by_hash(as_peer_id(peer), hashes)

    # -- peers ----------------------------------------------------------------------------

    async def connect(self, address: str) -> ID:
        """Dial a ``…/p2p/<peer id>`` multiaddr once; raises ConnectionError on failure."""
        info = parse_bootnode(address)
        if self.is_banned(info.peer_id):
            raise ConnectionError(f"{info.peer_id} is banned")
        if not await dial(self.host, info, self.config.dial_timeout):
            raise ConnectionError(f"could not connect to {address}")
        return info.peer_id

    async def disconnect(self, peer: PeerRef) -> None:
        """Close every connection to ``peer``."""
        await disconnect_peer(self.host, as_peer_id(peer))

    def connected_peers(self) -> list[ID]:
        """Peers with at least one open connection."""
        return list(self.host.get_network().get_connections_map())

    def peers(self) -> list[PeerView]:
        """Connected and recently scored peers with their scores and ban state."""
        now = trio.current_time()
        connected = {str(peer) for peer in self.connected_peers()}
        known = connected | set(self.scores.snapshot(now))
        return [
            PeerView(
                peer_id=peer,
                connected=peer in connected,
                score=self.scores.score(peer, now),
                banned=self.scores.is_banned(peer, now),
            )
            for peer in sorted(known)
        ]

    # -- Reputation (called by gossip and req/resp) --------------------------------------

    def penalise(self, peer: ID, offence: Offence) -> None:
        """Lower ``peer``'s score; a peer falling below the threshold is banned."""
        if peer == self.peer_id:
            return
        if self.scores.penalise(str(peer), offence, trio.current_time()):
            logger.warning("banning peer %s after %s", peer, offence.value)
            self._emit("ban", peer)
        self._bound_scores()

    def reward(self, peer: ID) -> None:
        """Credit ``peer`` for a useful delivery."""
        if peer != self.peer_id:
            self.scores.reward(str(peer), trio.current_time())
            self._bound_scores()

    def is_banned(self, peer: ID) -> bool:
        """True while ``peer`` is banned."""
        return self.scores.is_banned(str(peer), trio.current_time())

    # -- internals ------------------------------------------------------------------------

    def _bound_scores(self) -> None:
        for peer in self.scores.evict_oldest():
            self.gossip.pubsub.remove_from_blacklist(ID.from_base58(peer))

    def _emit(self, kind: str, peer: ID) -> None:
        try:
            self._events_send.send_nowait((kind, peer))
        except trio.WouldBlock:
            logger.warning("p2p event queue full: %s %s dropped", kind, peer)

    async def _handle_events(self) -> None:
        async for kind, peer in self._events_receive:
            if kind == "ban":
                await self._ban(peer)
            elif kind == "connected":
                await self._on_connected(peer)
            elif kind == "disconnected" and not self.host.get_network().get_connections(peer):
                self._forget_peer(peer)

    def _forget_peer(self, peer: ID) -> None:
        """Drop what the host keeps about a peer that has no connection left.

        py-libp2p's peerstore keeps every peer's key, addresses and protocols forever; with
        identities free to mint, that is a table an attacker grows at will. Bootnodes keep
        and direct peers keep theirs (we redial them, or they us); any other peer re-announces
        all of it when it reconnects.
        """
        self.gossip.forget_peer(peer)
        if peer in self._kept_ids:
            return
        try:
            self.host.get_peerstore().clear_peerdata(peer)
        except Exception:  # noqa: BLE001 - PeerStoreError: nothing stored
            pass

    async def _ban(self, peer: ID) -> None:
        self.metrics.peers_banned_total += 1
        self.gossip.pubsub.add_to_blacklist(peer)
        await disconnect_peer(self.host, peer)

    async def _on_connected(self, peer: ID) -> None:
        if self.is_banned(peer):
            # Refuse at the door: py-libp2p's gater is IP-based and every local peer shares one.
            await disconnect_peer(self.host, peer)
            return
        handlers = self.reqresp.handlers
        if self.config.status_on_connect and handlers.status and self._nursery is not None:
            # As Ethereum clients do: learn every new peer's head (the node's on_peer_status
            # decides whether to sync from it) and hang up on other chains early.
            self._nursery.start_soon(self._exchange_status, peer)

    async def _exchange_status(self, peer: ID) -> None:
        try:
            await self.request_status(peer)
        except Exception as error:  # the peer may be gone already; nothing to undo
            logger.debug("status exchange with %s failed: %r", peer, error)

    async def _expire_bans(self) -> None:
        while True:
            await trio.sleep(BAN_SWEEP_SECONDS)
            for peer in self.scores.expire_bans(trio.current_time()):
                logger.info("ban on %s lifted", peer)
                self.gossip.pubsub.remove_from_blacklist(ID.from_base58(peer))
            self.scores.forget_idle(trio.current_time())
