"""Memory that does not grow with the chain: what a produced block leaves behind is freed, and
``bench/scale.py`` (RSS at chain-length checkpoints) runs."""
from __future__ import annotations

from trie.hexary import HexaryTrie

from consensus.signing import compute_proposal_digest, compute_vote_digest, recover_signer
from consensus.validator_set import compute_proposer
from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from node.backend import Backend


def test_a_new_block_frees_the_trie_caches_that_pin_each_blocks_database(tmp_path, dev_accounts):
    """py-trie's class-wide lru_cache kept the trie (and the batch, journal and caches under
    it) of up to 4,096 node writes: ~8 KB per produced block on azora dev."""
    genesis = Genesis.from_json({"config": {"chainId": 1337}, "timestamp": "0x1",
                                 "alloc": {dev_accounts[0].address: {"balance": hex(10**21)}}})
    db = LevelDB(tmp_path / "db")
    backend = Backend(Chain(db, genesis))
    try:
        cache = HexaryTrie._cached_create_node_to_db_mapping
        built = backend.chain.build_block([], timestamp=backend.chain.head.timestamp + 1)
        assert cache.cache_info().currsize > 0
        for hook in backend.on_new_block:   # what the producer calls for each new block
            hook(built.block)
        assert cache.cache_info().currsize == 0
    finally:
        backend.close()


def test_the_consensus_memo_caches_hold_a_few_heights_not_a_long_stretch_of_the_chain():
    """They serve copies of one message arriving from several peers within seconds. At 16K and
    64K entries they took ~20,000 blocks of azora dev to fill (~30 MB), so RSS still grew from
    10k to 100k blocks (bench/scale.py)."""
    for cached in (compute_vote_digest, compute_proposal_digest, recover_signer, compute_proposer):
        assert cached.cache_info().maxsize <= 4096, cached.__name__


def test_the_scale_benchmark_prints_rss_per_checkpoint(load_bench):
    lines: list[str] = []
    rows = load_bench("scale").main(["--checkpoints", "20,60", "--chunk", "20"], out=lines.append)
    assert [row.blocks for row in rows] == [20, 60]
    assert all(row.rss_bytes > 10 * 2**20 for row in rows)
    assert all(0 < row.leveldb_bytes < row.anon_bytes for row in rows)   # read from /metrics
    assert lines[-1].startswith("RSS from 20 to 60 blocks: ")
    # the token's transfers are found over the whole chain; a restarted node answers at its height
    assert rows[-1].logs >= 2 * 5 and rows[-1].logs_seconds > 0 and rows[-1].block_seconds > 0
    assert any(line.startswith("restart: JSON-RPC ready at block ") for line in lines)
