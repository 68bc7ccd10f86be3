"""The root of a block's transaction, receipt or withdrawal trie, built in one pass.

A block commits to its lists through Merkle-Patricia tries keyed by ``rlp(index)``.
py-evm inserts the items one by one into a ``HexaryTrie``, re-encoding and re-hashing every
node on the path at each insert: for a block of 1,400 transfers the two tries cost more than
executing the transactions. All keys are known up front, so each node can be built once,
bottom-up over the sorted keys (what geth's StackTrie does); the result (root and the nodes
to store) is identical, which the tests check against ``HexaryTrie``.
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import eth.db.chain
import eth.vm.base
import rlp
from eth.constants import BLANK_ROOT_HASH
from eth_utils import keccak

Node = list[Any]


def ordered_trie(items: Sequence[bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    """(root hash, {hash: encoded node}) of the trie mapping ``rlp(i)`` to ``items[i]``."""
    if not items:
        return BLANK_ROOT_HASH, {}
    pairs = sorted((_nibbles(rlp.encode(index)), item) for index, item in enumerate(items))
    nodes: dict[bytes, bytes] = {}
    encoded = rlp.encode(_node(pairs, 0, nodes))
    root = keccak(encoded)
    nodes[root] = encoded   # the root is stored by hash however short it is
    return root, nodes


@functools.lru_cache(16)
def _cached_ordered_trie(items: tuple[bytes, ...]) -> tuple[bytes, dict[bytes, bytes]]:
    # A built block's roots are computed again when it is validated: keep a few.
    return ordered_trie(items)


def make_trie_root_and_nodes(items: Sequence[Any]) -> tuple[bytes, dict[bytes, bytes]]:
    """Drop-in for ``eth.db.trie.make_trie_root_and_nodes`` (items have ``encode()``)."""
    return _cached_ordered_trie(tuple(item.encode() for item in items))


def install() -> None:
    """Make py-evm's block building, validation and persistence use :func:`make_trie_root_and_nodes`."""
    eth.vm.base.make_trie_root_and_nodes = make_trie_root_and_nodes  # type: ignore[assignment]
    eth.db.chain.make_trie_root_and_nodes = make_trie_root_and_nodes  # type: ignore[assignment]


def _nibbles(key: bytes) -> bytes:
    return bytes(n for byte in key for n in (byte >> 4, byte & 0x0F))


def _node(pairs: list[tuple[bytes, bytes]], depth: int, nodes: dict[bytes, bytes]) -> Node:
    """The node for ``pairs`` (sorted, sharing their first ``depth`` nibbles)."""
    if len(pairs) == 1:
        key, value = pairs[0]
        return [_hex_prefix(key[depth:], leaf=True), value]
    first, last = pairs[0][0], pairs[-1][0]
    shared = depth
    while shared < len(first) and shared < len(last) and first[shared] == last[shared]:
        shared += 1
    if shared > depth:   # every key continues with the same nibbles: an extension
        return [_hex_prefix(first[depth:shared], leaf=False), _reference(_node(pairs, shared, nodes), nodes)]
    branch: Node = [b""] * 17
    start = 0
    if len(first) == depth:   # a key that ends here keeps its value in the branch
        branch[16] = pairs[0][1]
        start = 1
    while start < len(pairs):
        nibble = pairs[start][0][depth]
        end = start + 1
        while end < len(pairs) and pairs[end][0][depth] == nibble:
            end += 1
        branch[nibble] = _reference(_node(pairs[start:end], depth + 1, nodes), nodes)
        start = end
    return branch


def _reference(node: Node, nodes: dict[bytes, bytes]) -> Node | bytes:
    """How a parent points at ``node``: inline when its encoding is under 32 bytes, else by hash."""
    encoded = rlp.encode(node)
    if len(encoded) < 32:
        return node
    digest = keccak(encoded)
    nodes[digest] = encoded
    return digest


def _hex_prefix(nibbles: bytes, *, leaf: bool) -> bytes:
    flag = 2 if leaf else 0
    if len(nibbles) % 2:
        first, rest = bytes([(flag + 1) << 4 | nibbles[0]]), nibbles[1:]
    else:
        first, rest = bytes([flag << 4]), nibbles
    return first + bytes(rest[i] << 4 | rest[i + 1] for i in range(0, len(rest), 2))
