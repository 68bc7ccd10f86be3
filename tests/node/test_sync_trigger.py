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


def test_the_next_range_is_fetched_while_the_current_one_imports(tmp_path, dev_accounts):
    """Range sync keeps one request ahead of the importer: the peer reads the next range on its
    own CPU while ours executes the current one (taking turns cost a tenth of the sync rate)."""
    genesis = Genesis.from_json({"config": {"chainId": 1337}, "timestamp": "0x1",
                                 "azora": {"oracles": {"members": [dev_accounts[9].address], "quorum": 1}}})
    backend = Backend(Chain(LevelDB(tmp_path / "db"), genesis))
    sync = RangeSync(backend)
    events: list[tuple[str, int]] = []
    served: set[int] = set()

    class Peer:   # the p2p service's one call range sync makes, answering after a second
        async def request_blocks_by_range(self, peer, start, count):
            events.append(("fetch", start))
            await trio.sleep(1)
            if start in served:   # asked again: nothing new (the head did not move here)
                return []
            served.add(start)
            return [start + i for i in range(count)]

    async def importer(batch):
        events.append(("import", batch[0]))
        await trio.sleep(1)
        events.append(("imported", batch[0]))
        return len(batch)

    async def main() -> float:
        sync.peer_heads[b"peer"] = 600
        started = trio.current_time()
        await sync.sync_once(Peer(), importer)
        return trio.current_time() - started

    try:
        elapsed = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    finally:
        backend.close()
    assert events.index(("fetch", 257)) < events.index(("imported", 1)), events
    assert events.index(("fetch", 513)) < events.index(("imported", 257)), events
    assert [e for e in events if e[0] == "imported"] == [("imported", 1), ("imported", 257), ("imported", 513)]
    # three ranges: 1 s to fetch the first, then three imports back to back (not 3 x 2 s),
    # then the head is asked for again and the peer has nothing new
    assert elapsed < 6, (elapsed, events)
    assert sync.peer_heads[b"peer"] == 0
