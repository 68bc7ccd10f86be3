"""A Sybil attacker who gets banned again and again must not use up the node's connection slots.

The 10,000-message gossip fuzz campaign (tests/p2p/test_gossip_fuzz.py) stalled after about
120 banned identities: validator0 closed every new inbound connection, honest peers included.
py-libp2p 0.8.1 gives each accepted connection one of 250 inbound slots and frees it only when
the swarm stops (see ``p2p.host.release_inbound_slots_on_close``); each identity connected and
redialled once after its ban. Here throwaway identities (bare libp2p hosts, as cheap as an
attacker's) each connect to one real node, send malformed requests until banned and
disconnected, and redial; afterwards an honest peer must still connect and get a Status.
"""

from __future__ import annotations

import pytest
import trio
from libp2p.crypto.secp256k1 import create_new_key_pair
from p2p_harness import CHAIN_ID, make_config

from p2p.codec import encode_frame
from p2p.host import build_host, listen_multiaddr, parse_bootnode
from p2p.reqresp import STATUS_PROTOCOL, ReqRespHandlers, Status
from p2p.service import P2PService

IDENTITIES = 140           # x 2 connections each: past py-libp2p's 250 inbound slots
CONCURRENT_IDENTITIES = 10
STATUS = Status(CHAIN_ID, b"\x11" * 32, 5, b"\x22" * 32, 5, b"\x22" * 32)


async def current_status() -> Status:
    return STATUS


async def get_banned_and_redial(address: str) -> bool:
    """One throwaway identity: connect, send malformed requests until dropped, redial once.

    True when the node did drop it; False when it refused the first connection or never
    dropped it."""
    host = build_host(create_new_key_pair())
    target = parse_bootnode(address)
    dropped = False
    async with host.run([listen_multiaddr("127.0.0.1", 0)]):
        with trio.move_on_after(20):
            try:
                await host.connect(target)
            except Exception:  # the node no longer takes connections: what this test catches
                await host.close()
                return False
            while host.get_network().get_connections(target.peer_id):
                try:
                    stream = await host.new_stream(target.peer_id, [STATUS_PROTOCOL])
                    await stream.write(encode_frame(b"\xff not a status"))
                    await stream.close()
                except Exception:  # reset or refused: the node is hanging up on us
                    await trio.sleep(0.05)
            dropped = True
            try:
                await host.connect(target)  # banned: accepted by TCP, then closed again
            except Exception:
                pass
        await host.close()
    return dropped


@pytest.mark.timeout(300)
def test_banned_sybil_identities_do_not_use_up_the_slots_honest_peers_connect_through() -> None:
    async def main() -> None:
        node = P2PService(make_config(), create_new_key_pair(), ReqRespHandlers(status=current_status))
        honest = P2PService(make_config(status_on_connect=False), create_new_key_pair(),
                            ReqRespHandlers(status=current_status))
        dropped: list[bool] = []
        async with trio.open_nursery() as nursery:
            await nursery.start(node.run)
            await nursery.start(honest.run)
            address = node.listen_addrs[0]

            async def sybils(count: int) -> None:
                for _ in range(count):
                    dropped.append(await get_banned_and_redial(address))

            async with trio.open_nursery() as attackers:
                for _ in range(CONCURRENT_IDENTITIES):
                    attackers.start_soon(sybils, IDENTITIES // CONCURRENT_IDENTITIES)
            with trio.fail_after(30):
                peer = await honest.connect(address)
                assert await honest.request_status(peer) == STATUS
            assert dropped.count(True) == IDENTITIES
            # (A loaded machine may drop an identity's connection before its ban.)
            assert node.metrics.peers_banned_total >= IDENTITIES * 0.9
            assert node.connected_peers() == [honest.peer_id]
            # The host keeps nothing about the identities that are gone (their bans live on
            # in the bounded score table).
            assert set(node.host.get_peerstore().peer_ids()) <= {honest.peer_id, node.peer_id}
            nursery.cancel_scope.cancel()

    trio.run(main)
