"""The one-pass ordered trie against py-trie's HexaryTrie, node for node."""
from __future__ import annotations

import eth.db.trie
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kernel.vm  # noqa: F401 - installs the readers into py-evm's ChainDB
from kernel.ordered_trie import ordered_trie, ordered_trie_items

reference = eth.db.trie._make_trie_root_and_nodes.__wrapped__   # py-evm's, without its cache


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=80), max_size=300))
def test_root_and_nodes_match_hexary_trie(items):
    assert ordered_trie(items) == reference(tuple(items))


def test_large_lists_of_short_and_long_items_match():
    # Sizes across the rlp(index) key widths (1, 2 and 3 bytes) with inline (< 32 bytes) and
    # hashed leaves mixed.
    for size in (1, 2, 16, 17, 127, 128, 129, 255, 256, 257, 1500):
        items = [bytes([i % 251]) * (1 + i % 40) for i in range(size)]
        assert ordered_trie(items) == reference(tuple(items)), size


def test_empty_list_has_the_blank_root():
    assert ordered_trie([]) == reference(())


def _stored(items):
    """A trie py-trie's HexaryTrie built by inserting ``items`` one by one, in a dict."""
    import rlp
    from trie import HexaryTrie

    db: dict[bytes, bytes] = {}
    trie = HexaryTrie(db)
    for index, item in enumerate(items):
        trie[rlp.encode(index)] = item
    return db, trie.root_hash


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=80), max_size=300))
def test_items_read_back_in_one_walk_are_the_inserted_ones(items):
    db, root = _stored(items)
    assert ordered_trie_items(db, root) == items


def test_large_lists_read_back():
    for size in (0, 1, 2, 16, 17, 127, 128, 129, 255, 256, 257, 1500):
        items = [bytes([i % 251]) * (1 + i % 40) for i in range(size)]
        db, root = _stored(items)
        assert ordered_trie_items(db, root) == items, size


def test_reading_stops_at_the_first_missing_index():
    # py-evm's reader stops at the first index not in the trie: so does the walk
    import rlp
    from trie import HexaryTrie

    db: dict[bytes, bytes] = {}
    trie = HexaryTrie(db)
    for index in (0, 1, 3):
        trie[rlp.encode(index)] = b"item %d" % index
    assert ordered_trie_items(db, trie.root_hash) == [b"item 0", b"item 1"]


def test_a_missing_node_falls_back_to_py_evms_error():
    from eth.db.chain import ChainDB
    from trie.exceptions import MissingTrieNode

    items = [bytes([i]) * 40 for i in range(40)]
    root, db = ordered_trie(items)   # exactly the trie's nodes, none left over from inserts
    del db[next(key for key in db if key != root)]
    with pytest.raises(KeyError):
        ordered_trie_items(db, root)
    with pytest.raises(MissingTrieNode):
        ChainDB._get_block_data_from_root_hash(db, root)
