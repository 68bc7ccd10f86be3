"""The ``azora_`` namespace: node facts and consensus data."""
from __future__ import annotations

from typing import Any

from node.backend import Backend
from node.rpc.hexcodec import data, quantity


class AzoraAPI:
    def __init__(self, backend: Backend) -> None:
        self._b = backend

    def nodeInfo(self) -> dict[str, Any]:
        chain = self._b.chain
        head = chain.head
        return {
            "client": self._b.info.client_version,
            "chainId": quantity(chain.chain_id),
            "genesisHash": data(chain.genesis_hash),
            "head": {"number": quantity(head.block_number), "hash": data(head.hash)},
            "dev": self._b.info.dev,
            "contracts": chain.system_contracts,
            **self._b.info.extra.get("node_info", {}),
        }
