"""When a node range-syncs: at once when a peer is two or more blocks ahead; when a peer stays
exactly one block ahead of an unchanged head for a status poll (the block was missed and no
one gossips it again — a validator restarted after the others committed its last height)."""
from __future__ import annotations

import trio
import trio.testing

from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from node.backend import Backend
from node.network import STATUS_POLL_SECONDS, RangeSync
from p2p import Status


def test_range_sync_starts_when_a_peer_stays_one_block_ahead(tmp_path, dev_accounts):
    genesis = Genesis.from_json({"config": {"chainId": 1337}, "timestamp": "0x1",
                                 "alloc": {dev_accounts[0].address: {"balance": hex(10**24)}},
                                 "azora": {"oracles": {"members": [dev_accounts[9].address], "quorum": 1}}})
    db = LevelDB(tmp_path / "db")
    backend = Backend(Chain(db, genesis))
    sync = RangeSync(backend)
    chain = backend.chain
    peer = b"peer"   # peer ids are opaque keys here

    def status(head: int) -> Status:
        return Status(chain.chain_id, chain.genesis_hash, head, b"\x01" * 32, head, b"\x01" * 32)

    wanted = []

    async def main() -> None:
        await sync.on_peer_status(peer, status(0))           # level: nothing to do
        wanted.append(sync.sync_wanted)
        await sync.on_peer_status(peer, status(1))           # one ahead: wait for gossip
        wanted.append(sync.sync_wanted)
        await trio.sleep(STATUS_POLL_SECONDS / 2)
        await sync.on_peer_status(peer, status(1))           # still one ahead, but not a poll later
        wanted.append(sync.sync_wanted)
        await trio.sleep(STATUS_POLL_SECONDS / 2)
        await sync.on_peer_status(peer, status(1))           # still one ahead a poll later: fetch it
        wanted.append(sync.sync_wanted)

    try:
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    finally:
        backend.close()
    assert wanted == [False, False, False, True]


def test_two_ahead_syncs_at_once(tmp_path, dev_accounts):
    genesis = Genesis.from_json({"config": {"chainId": 1337}, "timestamp": "0x1",
                                 "azora": {"oracles": {"members": [dev_accounts[9].address], "quorum": 1}}})
    backend = Backend(Chain(LevelDB(tmp_path / "db"), genesis))
    sync = RangeSync(backend)

    async def main() -> bool:
        await sync.on_peer_status(b"peer", Status(1337, backend.chain.genesis_hash, 2, b"\x01" * 32, 2, b"\x01" * 32))
        return sync.sync_wanted

    try:
        assert trio.run(main) is True
    finally:
        backend.close()
