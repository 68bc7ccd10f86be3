"""The one-pass ordered trie against py-trie's HexaryTrie, node for node."""
from __future__ import annotations

import eth.db.trie
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.ordered_trie import ordered_trie

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
