"""A port that cannot be bound stops the service with a clear error (py-libp2p only logs it)."""
from __future__ import annotations

import socket

import pytest
import trio

from p2p import P2PConfig, P2PService, load_or_create_node_key
from p2p.service import ListenError


def test_invalid_listen_port_in_use_is_fatal(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    service = P2PService(P2PConfig(chain_id=1, listen_host="127.0.0.1", port=port),
                         load_or_create_node_key(tmp_path))

    async def start() -> None:
        async with trio.open_nursery() as nursery:
            with trio.fail_after(20):
                await nursery.start(service.run)

    with pytest.raises(BaseException) as raised:
        trio.run(start)
    assert raised.group_contains(ListenError) if isinstance(raised.value, BaseExceptionGroup) \
        else isinstance(raised.value, ListenError)
    taken.close()
