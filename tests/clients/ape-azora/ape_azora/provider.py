"""The provider: ape_node's ``Node`` (a running node at a URI) with the dev helpers."""
from __future__ import annotations

from typing import Any

from ape_node.provider import Node
from eth_utils import to_hex


class AzoraDevProvider(Node):
    """``azora dev`` over JSON-RPC: everything ape's node provider does, plus anvil's helpers."""

    def set_balance(self, account: Any, amount: int | str | bytes) -> None:
        if isinstance(amount, str) and " " in amount:         # "1000 AZR"-style values
            amount = self.conversion_manager.convert(amount.replace("AZR", "ETH"), int)
        if isinstance(amount, str) and not amount.startswith("0x"):
            amount = int(amount)
        self.make_request("anvil_setBalance", [account, amount if isinstance(amount, str) else to_hex(amount)])

    def mine(self, num_blocks: int = 1) -> None:
        self.make_request("anvil_mine", [hex(num_blocks)])

    def set_timestamp(self, new_timestamp: int) -> None:
        self.make_request("evm_setNextBlockTimestamp", [hex(new_timestamp)])

    def snapshot(self) -> str:
        return self.make_request("evm_snapshot", [])

    def restore(self, snapshot_id: Any) -> None:
        self.make_request("evm_revert", [to_hex(snapshot_id) if isinstance(snapshot_id, int) else snapshot_id])

    def unlock_account(self, address: Any) -> bool:
        self.make_request("anvil_impersonateAccount", [address])
        return True

    def relock_account(self, address: Any) -> None:
        self.make_request("anvil_stopImpersonatingAccount", [address])

    def set_code(self, address: Any, code: Any) -> bool:
        self.make_request("anvil_setCode", [address, code if isinstance(code, str) else to_hex(code)])
        return True

    def set_storage(self, address: Any, slot: int, value: Any) -> None:
        word = value if isinstance(value, int) else int.from_bytes(bytes(value), "big")
        self.make_request("anvil_setStorageAt", [address, hex(slot), "0x" + word.to_bytes(32, "big").hex()])
