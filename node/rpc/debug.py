"""The ``debug_`` raw getters: consensus (RLP / EIP-2718) encodings of chain objects.

Tracing (debug_traceTransaction, trace_transaction) is deliberately absent: clients such as
ape fall back cleanly on "method not found".
"""
from __future__ import annotations

from typing import Any

import rlp
from eth.abc import BlockHeaderAPI

from node.backend import Backend
from node.rpc.errors import server_error
from node.rpc.hexcodec import data, parse_hash


class DebugAPI:
    """debug_getRawHeader/Block/Receipts/Transaction and debug_getBadBlocks."""

    def __init__(self, backend: Backend) -> None:
        self._b = backend

    def getRawHeader(self, block: Any) -> str:
        return data(rlp.encode(self._header(block)))

    def getRawBlock(self, block: Any) -> str:
        return data(rlp.encode(self._b.view.block_of(self._header(block))))

    def getRawReceipts(self, block: Any) -> list[str]:
        """Each receipt as in the receipts trie: RLP, or type byte + RLP for typed receipts."""
        return [data(receipt.encode()) for receipt in self._b.view.receipts_of(self._header(block))]

    def getRawTransaction(self, tx_hash: Any) -> str | None:
        raw_hash = parse_hash(tx_hash, "transaction hash")
        chain = self._b.view
        location = chain.transaction_location(raw_hash)
        if location is None:
            pending = self._b.pool.get(raw_hash)
            return None if pending is None else data(pending.encode())
        number, index = location
        return data(chain.block_of(chain.header_by_number(number)).transactions[index].encode())

    def getBadBlocks(self) -> list[Any]:
        # Blocks that fail validation are rejected before they are kept: there are none to list.
        return []

    def _header(self, block: Any) -> BlockHeaderAPI:
        """geth takes a block number, tag or hash here; unknown blocks are an error."""
        if isinstance(block, str) and len(block) == 66:
            header = self._b.header_by_hash(parse_hash(block, "block hash"))
            if header is None:
                raise server_error(f"header {block} not found")
            return header
        header = self._b.resolve_header(block, allow_missing=True)
        if header is None:
            raise server_error(f"header #{int(block, 16)} not found")
        return header
