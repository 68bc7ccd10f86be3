"""The small namespaces: ``web3_``, ``net_``."""
from __future__ import annotations

from typing import Any

from eth_utils import keccak

from node.backend import Backend
from node.context import NodeContext
from node.rpc.hexcodec import data, parse_data
from node.rpc.server import inline


class Web3API:
    def __init__(self, context: NodeContext) -> None:
        self._node = context

    @inline
    def clientVersion(self) -> str:
        return self._node.client_version

    def sha3(self, value: Any) -> str:
        return data(keccak(parse_data(value, "data")))


class NetAPI:
    def __init__(self, backend: Backend, context: NodeContext) -> None:
        self._b = backend
        self._node = context

    @inline
    def version(self) -> str:
        return str(self._b.view.chain_id)

    @inline
    def listening(self) -> bool:
        return True

    def peerCount(self) -> str:
        peers = self._node.peers
        return hex(peers.peer_count() if peers is not None else 0)
