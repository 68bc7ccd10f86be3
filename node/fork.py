"""Fork mode's remote: the JSON-RPC client that reads another node's state for the kernel.

Any Ethereum JSON-RPC node serves (``eth_getBalance``, ``eth_getTransactionCount``,
``eth_getCode``, ``eth_getStorageAt`` at the fork block); ``eth_getProof`` is not needed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

from kernel.fork import RemoteAccount

TIMEOUT_S = 10.0
RETRIES = 3


class ForkError(Exception):
    """The remote cannot serve the fork; the message is one line for the user."""


@dataclass(frozen=True)
class ForkPoint:
    """What the fork continues from: the remote's chain id and its block ``number``'s header."""

    url: str
    chain_id: int
    number: int
    block_hash: bytes
    timestamp: int
    gas_limit: int
    base_fee_per_gas: int
    system_contracts: dict[str, str]


class JsonRpcStateSource:
    """:class:`kernel.fork.RemoteStateSource` over HTTP JSON-RPC, with timeouts and retries."""

    def __init__(self, url: str, *, timeout: float = TIMEOUT_S, retries: int = RETRIES) -> None:
        self.url = url
        self._timeout = timeout
        self._retries = retries
        self._session = requests.Session()
        self._ids = 0

    def request(self, method: str, *params: Any) -> Any:
        """The result of one call; transport failures are retried, then raise ForkError."""
        self._ids += 1
        body = {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": list(params)}
        last: Exception | None = None
        for attempt in range(self._retries):
            try:
                reply = self._session.post(self.url, json=body, timeout=self._timeout).json()
                break
            except (requests.RequestException, ValueError) as exc:
                last = exc
                time.sleep(0.2 * 2 ** attempt)
        else:
            raise ForkError(f"cannot reach fork URL {self.url}: {_reason(last)}")
        if "error" in reply:
            raise ForkError(f"fork URL {self.url}: {method} failed: {reply['error'].get('message')}")
        return reply["result"]

    def account(self, address: bytes, block: int) -> RemoteAccount:
        where = ("0x" + address.hex(), hex(block))
        return RemoteAccount(nonce=int(self.request("eth_getTransactionCount", *where), 16),
                             balance=int(self.request("eth_getBalance", *where), 16),
                             code=bytes.fromhex(self.request("eth_getCode", *where)[2:]))

    def storage(self, address: bytes, slot: int, block: int) -> int:
        return int(self.request("eth_getStorageAt", "0x" + address.hex(), hex(slot), hex(block)), 16)

    def block_hash(self, number: int) -> bytes:
        block = self.request("eth_getBlockByNumber", hex(number), False)
        if block is None:
            raise ForkError(f"fork URL {self.url} has no block #{number}")
        return bytes.fromhex(block["hash"][2:])

    def fork_point(self, number: int | None) -> ForkPoint:
        """The remote's block ``number`` (default: its head) and chain facts; ForkError if the
        remote is unreachable or lacks that block."""
        chain_id = int(self.request("eth_chainId"), 16)
        block = self.request("eth_getBlockByNumber", hex(number) if number is not None else "latest", False)
        if block is None:
            raise ForkError(f"fork URL {self.url} has no block #{number}")
        return ForkPoint(self.url, chain_id, int(block["number"], 16), bytes.fromhex(block["hash"][2:]),
                         int(block["timestamp"], 16), int(block["gasLimit"], 16),
                         int(block.get("baseFeePerGas") or "0x0", 16), self._system_contracts())

    def _system_contracts(self) -> dict[str, str]:
        """An Azora remote's system contracts (azora_nodeInfo); none for another chain."""
        try:
            return dict(self.request("azora_nodeInfo").get("contracts", {}))
        except ForkError:
            return {}


def _reason(exc: Exception | None) -> str:
    if isinstance(exc, requests.ConnectionError):
        return "connection refused or host unknown"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return str(exc)
