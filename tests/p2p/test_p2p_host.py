"""Transport choices: Noise only, yamux preferred, mplex accepted as a fallback."""

from __future__ import annotations

import multiaddr
import pytest
import trio
from libp2p import new_host
from libp2p.crypto.secp256k1 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519
from libp2p.custom_types import TProtocol
from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID, Mplex

from p2p.host import dial, parse_bootnode
from p2p.reqresp import ReqRespHandlers
from p2p.service import P2PService
from p2p_harness import make_config, trio_test, wait_until

LOOPBACK = [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]


async def ours() -> P2PService:
    return P2PService(make_config(), create_new_key_pair(), ReqRespHandlers())


@pytest.mark.timeout(60)
@trio_test
async def test_a_peer_speaking_only_mplex_still_connects() -> None:
    service = await ours()
    key_pair = create_new_key_pair()
    noise = NoiseTransport(key_pair, noise_privkey=create_x25519().private_key)
    mplex_only = new_host(
        key_pair=key_pair,
        sec_opt={NOISE_PROTOCOL_ID: noise},
        muxer_opt={TProtocol(MPLEX_PROTOCOL_ID): Mplex},
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        async with mplex_only.run(LOOPBACK):
            assert await dial(mplex_only, parse_bootnode(service.listen_addrs[0]), timeout=10)
            await wait_until(lambda: mplex_only.get_id() in service.connected_peers())
        nursery.cancel_scope.cancel()


@pytest.mark.timeout(60)
@trio_test
async def test_invalid_plaintext_peer_cannot_connect() -> None:
    service = await ours()
    key_pair = create_new_key_pair()
    plaintext_only = new_host(
        key_pair=key_pair,
        sec_opt={TProtocol(PLAINTEXT_PROTOCOL_ID): InsecureTransport(key_pair)},
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        async with plaintext_only.run(LOOPBACK):
            target = parse_bootnode(service.listen_addrs[0])
            assert not await dial(plaintext_only, target, timeout=5)
            assert service.connected_peers() == []
        nursery.cancel_scope.cancel()
