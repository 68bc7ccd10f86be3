"""The small namespaces: ``web3_``, ``net_``."""
from __future__ import annotations

from typing import Any

from eth_utils import keccak

from node.backend import Backend
from node.rpc.hexcodec import data, parse_data


class Web3API:
    def __init__(self, backend: Backend) -> None:
        self._b = backend

    def clientVersion(self) -> str:
        return self._b.info.client_version

    def sha3(self, value: Any) -> str:
        return data(keccak(parse_data(value, "data")))


class NetAPI:
    def __init__(self, backend: Backend, peer_count: Any = lambda: 0) -> None:
        self._b = backend
        self._peer_count = peer_count

    def version(self) -> str:
        return str(self._b.view.chain_id)

    def listening(self) -> bool:
        return True

    def peerCount(self) -> str:
        return hex(self._peer_count())
