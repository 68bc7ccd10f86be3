"""A block's transaction, receipt or withdrawal trie, built in one pass and read in one walk.

A block commits to its lists through Merkle-Patricia tries keyed by ``rlp(index)``.
py-evm inserts the items one by one into a ``HexaryTrie``, re-encoding and re-hashing every
node on the path at each insert: for a block of 1,400 transfers the two tries cost more than
executing the transactions. All keys are known up front, so each node can be built once,
bottom-up over the sorted keys (what geth's StackTrie does); the result (root and the nodes
to store) is identical, which the tests check against ``HexaryTrie``.

Reading a block's list back, py-evm looks each index up from the root, decoding the root and
the branches under it again for every item: 90 µs a receipt in a block of 880 transfers, more
than decoding the receipt. :func:`ordered_trie_items` walks the trie once instead, each node
decoded once, and gives the same items.
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import eth.db.chain
import eth.vm.base
import rlp
from eth.abc import DatabaseAPI, ReceiptAPI, ReceiptDecoderAPI
from eth.constants import BLANK_ROOT_HASH
from eth.db.chain import ChainDB
from eth_typing import Hash32
from eth_hash.auto import keccak   # eth_utils' checks its argument's type on every call

from kernel.rlp_items import encode_item, int_bytes

Node = list[Any]


def ordered_trie(items: Sequence[bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    """(root hash, {hash: encoded node}) of the trie mapping ``rlp(i)`` to ``items[i]``."""
    if not items:
        return BLANK_ROOT_HASH, {}
    pairs = sorted((_nibbles(encode_item(int_bytes(index))), item) for index, item in enumerate(items))
    nodes: dict[bytes, bytes] = {}
    encoded = encode_item(_node(pairs, 0, nodes))
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


def ordered_trie_items(db: DatabaseAPI, root: bytes) -> list[bytes]:
    """The items of the trie under ``root`` that maps ``rlp(i)`` to item ``i``, in index order,
    up to the first missing index (as py-evm reads them). Raises ``KeyError`` for a node the
    database lacks."""
    if root == BLANK_ROOT_HASH:
        return []
    found: list[tuple[bytes, bytes]] = []
    _walk(db, rlp.decode(db[root]), b"", found)
    by_index: dict[int, bytes] = {}
    for nibbles, item in found:
        key = bytes(nibbles[i] << 4 | nibbles[i + 1] for i in range(0, len(nibbles) - 1, 2))
        if len(nibbles) % 2 == 0:
            by_index[int.from_bytes(rlp.decode(key), "big")] = item
    items: list[bytes] = []
    while len(items) in by_index:
        items.append(by_index[len(items)])
    return items


def _walk(db: DatabaseAPI, node: Node, path: bytes, found: list[tuple[bytes, bytes]]) -> None:
    """Append (key nibbles, value) of every leaf under ``node``, whose key starts with ``path``."""
    if len(node) == 17:
        for nibble in range(16):
            if node[nibble] != b"":
                _walk(db, _resolve(db, node[nibble]), path + bytes([nibble]), found)
        if node[16] != b"":
            found.append((path, node[16]))
        return
    prefix, child = node
    flag = prefix[0] >> 4
    nibbles = bytes([prefix[0] & 0x0F]) if flag & 1 else b""
    nibbles += bytes(n for byte in prefix[1:] for n in (byte >> 4, byte & 0x0F))
    if flag & 2:   # a leaf
        found.append((path + nibbles, child))
    else:
        _walk(db, _resolve(db, child), path + nibbles, found)


def _resolve(db: DatabaseAPI, reference: Node | bytes) -> Node:
    """A child node: inline (already decoded) or by its hash."""
    return reference if isinstance(reference, list) else rlp.decode(db[reference])


def _block_data_from_root_hash(db: DatabaseAPI, root: bytes) -> list[bytes]:
    try:
        return ordered_trie_items(db, root)
    except KeyError:   # a missing node: py-evm's own reader raises its precise error
        return list(_py_evm_block_data(db, Hash32(root)))


def _get_receipts(self: ChainDB, header: Any, receipt_decoder: type[ReceiptDecoderAPI]) -> list[ReceiptAPI]:
    return [receipt_decoder.decode(item) for item in _block_data_from_root_hash(self.db, header.receipt_root)]


_py_evm_block_data = ChainDB._get_block_data_from_root_hash


def install() -> None:
    """Make py-evm's block building, validation and persistence use :func:`make_trie_root_and_nodes`,
    and its reads of a block's transactions, withdrawals and receipts :func:`ordered_trie_items`."""
    eth.vm.base.make_trie_root_and_nodes = make_trie_root_and_nodes  # type: ignore[assignment]
    eth.db.chain.make_trie_root_and_nodes = make_trie_root_and_nodes  # type: ignore[assignment]
    ChainDB._get_block_data_from_root_hash = staticmethod(_block_data_from_root_hash)  # type: ignore[assignment,method-assign]
    ChainDB.get_receipts = _get_receipts  # type: ignore[assignment,method-assign]


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
    encoded = encode_item(node)
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
