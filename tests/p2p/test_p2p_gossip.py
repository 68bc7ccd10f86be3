"""Gossip among real libp2p hosts on 127.0.0.1."""

from __future__ import annotations

import pytest

from p2p.config import TopicKind
from p2p_harness import Inbox, running_network, trio_test


@pytest.mark.timeout(60)
@trio_test
async def test_two_hosts_exchange_one_gossip_message() -> None:
    async with running_network(2) as (alice, bob):
        inbox = Inbox()
        bob.subscribe(TopicKind.TX, inbox.handler)
        assert await alice.publish(TopicKind.TX, b"\xc3\x01\x02\x03")
        await inbox.wait_for(1)
        assert inbox.messages == [(TopicKind.TX, b"\xc3\x01\x02\x03")]
