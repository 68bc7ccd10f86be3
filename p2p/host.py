"""The libp2p host: TCP + Noise + yamux (mplex fallback), bootnodes and connection events.

py-libp2p's ``new_host`` also offers TLS, SECIO and *plaintext* security by default; Azora
offers Noise only, so no connection is ever unauthenticated or unencrypted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import multiaddr
import trio
from libp2p import create_yamux_muxer_option, new_host
from libp2p.abc import IHost, IMuxedConn, INetConn, INetStream, INetwork, INotifee
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.io.abc import ReadWriteCloser
from libp2p.network.connection.raw_connection import RawConnection
from libp2p.network.connection.swarm_connection import SwarmConn
from libp2p.network.swarm import Swarm
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport

from p2p.metrics import P2PMetrics

logger = logging.getLogger(__name__)


class BootnodeError(ValueError):
    """A bootnode string is not a dialable multiaddr ending in /p2p/<peer id>."""


# How often a connection's inbound slot re-checks the connection in case its close event was missed.
CLOSE_POLL_SECONDS = 1.0


def build_host(key_pair: KeyPair) -> IHost:
    """A host with the node's identity, TCP transport, Noise security and yamux/mplex."""
    noise = NoiseTransport(key_pair, noise_privkey=create_new_x25519_key_pair().private_key)
    host = new_host(
        key_pair=key_pair,
        sec_opt={NOISE_PROTOCOL_ID: noise},
        muxer_opt=create_yamux_muxer_option(),
    )
    network = host.get_network()
    if isinstance(network, Swarm):
        release_inbound_slots_on_close(network)
    return host


def release_inbound_slots_on_close(swarm: Swarm) -> None:
    """Make an inbound connection hold its inbound slot only while it is open.

    py-libp2p 0.8.1 (``Swarm._handle_inbound_connection``) takes one of
    ``max_connections - min_connections`` (250) inbound slots per accepted connection and
    releases it when ``_do_handle_inbound_connection`` returns; that handler, after the
    upgrade, awaits ``self.manager.wait_finished()`` -- the end of the whole swarm. So every
    inbound connection ever accepted keeps its slot (and its handler task) after it closes:
    after 250 of them (about 120 banned Sybil identities that each connected and redialled
    once) the node closed every new inbound connection before the handshake, honest peers
    included. This handler upgrades the same way and returns once the connection is closed.
    """

    async def handle_inbound(
        read_write_closer: ReadWriteCloser, maddr: multiaddr.Multiaddr, failure_event: object
    ) -> None:
        remote = swarm._build_remote_multiaddr(read_write_closer)
        if remote is not None and not await swarm.connection_gate.is_allowed(remote):
            await _close_quietly(read_write_closer)
            return
        raw_conn = RawConnection(read_write_closer, False)
        try:
            muxed_conn = await swarm.upgrade_inbound_raw_conn(raw_conn, maddr)
        except Exception as error:  # a failed handshake: py-libp2p logs it the same way
            logger.debug("inbound connection from %s failed: %r", remote, error)
            await _close_quietly(raw_conn)
            return
        await wait_until_closed(swarm, muxed_conn)

    swarm._do_handle_inbound_connection = handle_inbound  # type: ignore[method-assign]


async def wait_until_closed(swarm: Swarm, muxed_conn: IMuxedConn) -> None:
    """Return once ``muxed_conn`` and the swarm's connection wrapping it are closed."""
    while True:
        wrapper = next((conn for conn in swarm.connections.get(muxed_conn.peer_id, [])
                        if isinstance(conn, SwarmConn) and conn.muxed_conn is muxed_conn), None)
        if wrapper is None or wrapper.is_closed or muxed_conn.is_closed:
            return
        with trio.move_on_after(CLOSE_POLL_SECONDS):
            await wrapper.event_closed.wait()


async def _close_quietly(closer: ReadWriteCloser) -> None:
    try:
        await closer.close()
    except Exception:  # noqa: BLE001 - the socket may already be gone
        pass


def listen_multiaddr(listen_host: str, port: int) -> multiaddr.Multiaddr:
    """``/ip4/<host>/tcp/<port>`` (port 0 picks an ephemeral port)."""
    return multiaddr.Multiaddr(f"/ip4/{listen_host}/tcp/{port}")


def parse_bootnode(address: str) -> PeerInfo:
    """Parse ``/ip4/…/tcp/…/p2p/<peer id>`` into a PeerInfo, with a clear error otherwise."""
    try:
        info = info_from_p2p_addr(multiaddr.Multiaddr(address.strip()))
    except Exception as error:
        raise BootnodeError(f"bad bootnode {address!r}: {error}") from None
    if not info.addrs:
        raise BootnodeError(f"bootnode {address!r} has no transport address")
    return info


def full_multiaddrs(host: IHost) -> list[str]:
    """The host's listen addresses with its ``/p2p/<peer id>`` suffix, as bootnode strings."""
    suffix = f"/p2p/{host.get_id().to_base58()}"
    return [str(addr) if "/p2p/" in str(addr) else str(addr) + suffix for addr in host.get_addrs()]


class ConnectionEvents(INotifee):
    """Forwards connect/disconnect events to the service over a channel (never blocks)."""

    def __init__(self, send: trio.MemorySendChannel[tuple[str, ID]], metrics: P2PMetrics) -> None:
        self._send = send
        self._metrics = metrics

    def _emit(self, kind: str, conn: INetConn) -> None:
        try:
            self._send.send_nowait((kind, conn.muxed_conn.peer_id))
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            logger.debug("connection event %s dropped", kind)

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        self._metrics.peers_connected_total += 1
        self._emit("connected", conn)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        self._metrics.peers_disconnected_total += 1
        self._emit("disconnected", conn)

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        await trio.lowlevel.checkpoint()

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        await trio.lowlevel.checkpoint()

    async def listen(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        await trio.lowlevel.checkpoint()

    async def listen_close(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        await trio.lowlevel.checkpoint()


async def disconnect_peer(host: IHost, peer: ID, rounds: int = 3) -> None:
    """Close every connection to ``peer``, one connection at a time.

    py-libp2p 0.8.1's ``Swarm.close_peer`` (behind ``host.disconnect``) awaits each close and
    then pops the peer's whole entry from ``Swarm.connections``: a connection the peer opened
    meanwhile (a quick redial) is dropped from the table but left open, so the other side
    believes it is connected while we no longer see it. Closing ``SwarmConn`` objects one by
    one lets each remove only itself; the rounds catch connections that arrive meanwhile.
    """
    for _ in range(rounds):
        connections = host.get_network().get_connections(peer)
        if not connections:
            return
        for connection in connections:
            try:
                await connection.close()
            except Exception as error:
                logger.debug("closing connection to %s failed: %r", peer, error)


async def dial(host: IHost, info: PeerInfo, timeout: float) -> bool:
    """Connect to ``info``; False (logged) on any failure or timeout."""
    with trio.move_on_after(timeout):
        try:
            await host.connect(info)
            return True
        except Exception as error:  # py-libp2p raises a zoo of types on dial failure
            logger.debug("dial %s failed: %r", info.peer_id, error)
            return False
    logger.debug("dial %s timed out", info.peer_id)
    return False


async def keep_connected(
    host: IHost,
    info: PeerInfo,
    is_banned: Callable[[ID], bool],
    metrics: P2PMetrics,
    retry_min: float,
    retry_max: float,
    dial_timeout: float,
) -> None:
    """Stay connected to one bootnode: redial with exponential backoff whenever it drops."""
    backoff = retry_min
    while True:
        if host.get_network().get_connections(info.peer_id) or is_banned(info.peer_id):
            backoff = retry_min
            await trio.sleep(retry_min)
            continue
        metrics.bootnode_dials += 1
        if await dial(host, info, dial_timeout):
            logger.info("connected to bootnode %s", info.peer_id)
            backoff = retry_min
            continue
        metrics.bootnode_dial_failures += 1
        await trio.sleep(backoff)
        backoff = min(retry_max, backoff * 2)
