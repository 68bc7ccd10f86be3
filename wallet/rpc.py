"""The node as the wallet sees it: a web3.py connection plus the system contracts it serves.

System contract addresses come from the node's ``azora_nodeInfo`` (as ``azora contracts``
prints them) and their ABIs from the committed artifacts in ``contracts/build``.
"""
from __future__ import annotations

from functools import cached_property
from typing import Any

import requests
from web3 import Web3
from web3.contract import Contract

from contracts.build import load_artifact
from wallet.errors import WalletError

DEFAULT_RPC = "http://127.0.0.1:8545"


class Node:
    """One JSON-RPC endpoint; every failure to reach it becomes a one-line WalletError."""

    def __init__(self, url: str, timeout: float = 60) -> None:
        self.url = url
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))

    def request(self, method: str, params: list[Any] | None = None) -> Any:
        try:
            reply = self.w3.provider.make_request(method, params or [])  # type: ignore[arg-type]
        except requests.RequestException as exc:
            raise WalletError(f"cannot reach the node at {self.url} ({exc.__class__.__name__})") from None
        if "error" in reply:
            raise WalletError(f"{method}: {reply['error'].get('message')}")
        return reply["result"]

    @cached_property
    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = self.request("azora_nodeInfo")
        return info

    @cached_property
    def chain_id(self) -> int:
        return int(self.request("eth_chainId"), 16)

    def contract_address(self, name: str) -> str:
        address = (self.info.get("contracts") or {}).get(name)
        if address is None:
            raise WalletError(f"the node at {self.url} has no {name} system contract")
        return Web3.to_checksum_address(address)

    def system_contract(self, name: str, artifact: str | None = None) -> Contract:
        """A system contract by its ``azora_nodeInfo`` name, with the ABI of ``artifact`` (default: name)."""
        return self.contract_at(self.contract_address(name), artifact or name)

    def contract_at(self, address: str, artifact: str) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(artifact)["abi"])
