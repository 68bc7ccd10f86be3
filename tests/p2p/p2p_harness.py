"""Helpers for p2p tests: real libp2p hosts on 127.0.0.1 (ephemeral ports) in one trio run."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import trio
from libp2p.crypto.secp256k1 import create_new_key_pair

from p2p.config import GossipConfig, P2PConfig, ScoringConfig, TopicKind
from p2p.reqresp import ReqRespHandlers
from p2p.service import P2PService

CHAIN_ID = 1337
MESH_TIMEOUT = 15.0


def trio_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test function under trio.run (no pytest-trio in the environment)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        trio.run(functools.partial(fn, *args, **kwargs))

    return wrapper


def make_config(**overrides: Any) -> P2PConfig:
    """A config for loopback tests: ephemeral port and a short ban."""
    base = P2PConfig(
        chain_id=CHAIN_ID,
        listen_host="127.0.0.1",
        port=0,
        scoring=ScoringConfig(ban_seconds=30.0),
        gossip=GossipConfig(),
    )
    return replace(base, **overrides)


async def wait_for_mesh(services: list[P2PService], timeout: float = MESH_TIMEOUT) -> None:
    """Wait until every service sees every other subscribed to every topic."""
    with trio.fail_after(timeout):
        for service in services:
            pubsub = service.gossip.pubsub
            for other in services:
                if other is service:
                    continue
                await pubsub.wait_for_peer(other.peer_id, timeout=timeout)
                for kind in TopicKind:
                    await pubsub.wait_for_subscription(
                        other.peer_id, service.gossip.topic(kind), timeout=timeout
                    )


@asynccontextmanager
async def running_network(
    count: int,
    config: P2PConfig | None = None,
    handlers: Callable[[int], ReqRespHandlers] | None = None,
    connect: bool = True,
    configs: list[P2PConfig] | None = None,
) -> AsyncIterator[list[P2PService]]:
    """Start ``count`` services, fully connect them and wait for the gossip meshes."""
    services = [
        P2PService(
            configs[index] if configs else (config or make_config()),
            create_new_key_pair(),
            handlers(index) if handlers else None,
        )
        for index in range(count)
    ]
    async with trio.open_nursery() as nursery:
        for service in services:
            await nursery.start(service.run)
        if connect:
            for index, service in enumerate(services):
                for other in services[:index]:
                    await service.connect(other.listen_addrs[0])
            await wait_for_mesh(services)
        yield services
        nursery.cancel_scope.cancel()


class Inbox:
    """Collects accepted gossip messages per service and lets a test wait for a count."""

    def __init__(self) -> None:
        self.messages: list[tuple[TopicKind, bytes]] = []
        self._changed = trio.Event()

    async def handler(self, message: Any) -> None:
        self.messages.append((message.kind, message.payload))
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        with trio.fail_after(timeout):
            while len(self.messages) < count:
                await self._changed.wait()

    def payloads(self, kind: TopicKind | None = None) -> list[bytes]:
        return [payload for k, payload in self.messages if kind is None or k == kind]


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``predicate`` every 20 ms until it holds."""
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.02)
