"""A port that cannot be bound stops the service with a clear error (py-libp2p only logs it)."""
from __future__ import annotations

import socket

import pytest
import trio

from p2p import P2PConfig, P2PService, load_or_create_node_key
from p2p.service import ListenError


@pytest.mark.parametrize("listen_host", ["127.0.0.1", "0.0.0.0"])
def test_invalid_listen_port_in_use_is_fatal(tmp_path, listen_host):
    """Also when the node asks for every address and another process holds the port on one
    (a node once printed "p2p listening on 0.0.0.0:31300" while another held 127.0.0.1:31300)."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    service = P2PService(P2PConfig(chain_id=1, listen_host=listen_host, port=port),
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


def test_invalid_second_node_on_a_taken_port_is_fatal_though_libp2p_would_share_it(tmp_path):
    """py-libp2p's listeners share a port: without the probe both of these started."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    first = P2PService(P2PConfig(chain_id=1, listen_host="127.0.0.1", port=port),
                       load_or_create_node_key(tmp_path / "a"))
    second = P2PService(P2PConfig(chain_id=1, listen_host="0.0.0.0", port=port),
                        load_or_create_node_key(tmp_path / "b"))
    failures: list[BaseException] = []

    async def start() -> None:
        async with trio.open_nursery() as nursery:
            with trio.fail_after(20):
                await nursery.start(first.run)
                try:
                    await nursery.start(second.run)
                except BaseException as exc:   # noqa: BLE001 - the ListenError, maybe in a group
                    failures.append(exc)
            nursery.cancel_scope.cancel()

    trio.run(start)
    assert len(failures) == 1
    failure = failures[0]
    assert failure.group_contains(ListenError) if isinstance(failure, BaseExceptionGroup) \
        else isinstance(failure, ListenError)
