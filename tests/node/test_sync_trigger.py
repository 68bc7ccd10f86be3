"""When a node range-syncs: at once when a peer is two or more blocks ahead; when a peer stays
exactly one block ahead of an unchanged head for a status poll (the block was missed and no
one gossips it again — a validator restarted after the others committed its last height)."""
from __future__ import annotations

import json
import time

import trio
import trio.testing
from eth_utils import to_canonical_address

from node.config import NodeConfig
from node.network import STATUS_POLL_SECONDS
from node.service import build_network_node, dev_genesis
from p2p import Status


def test_range_sync_starts_when_a_peer_stays_one_block_ahead(tmp_path, dev_accounts):
    genesis = dev_genesis(dev_accounts, chain_id=1337, balance_wei=10**24,
                          validator=to_canonical_address(dev_accounts[0].address))
    genesis["timestamp"] = hex(int(time.time()) - 100)
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(genesis))
    backend, _, node = build_network_node(NodeConfig(datadir=tmp_path / "node", genesis=path, p2p_port=0))
    chain = backend.chain
    peer = node.p2p.peer_id

    def status(head: int) -> Status:
        return Status(chain.chain_id, chain.genesis_hash, head, b"\x01" * 32, head, b"\x01" * 32)

    wanted = []

    async def main() -> None:
        await node.on_peer_status(peer, status(0))           # level: nothing to do
        wanted.append(node._sync_wanted.is_set())
        await node.on_peer_status(peer, status(1))           # one ahead: wait for gossip
        wanted.append(node._sync_wanted.is_set())
        await trio.sleep(STATUS_POLL_SECONDS)
        await node.on_peer_status(peer, status(1))           # still one ahead, head unchanged
        wanted.append(node._sync_wanted.is_set())
        node._sync_wanted = trio.Event()
        await node.on_peer_status(peer, status(2))           # two ahead: at once
        wanted.append(node._sync_wanted.is_set())

    try:
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    finally:
        backend.close()
    assert wanted == [False, False, True, True]
