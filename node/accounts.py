"""Accounts the node signs for (dev chains): keys derived from a BIP-39 mnemonic."""
from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount

DEV_MNEMONIC = "test test test test test test test test test test test junk"
Account.enable_unaudited_hdwallet_features()


def derive_accounts(mnemonic: str, count: int) -> list[LocalAccount]:
    return [Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)]


class ManagedAccounts:
    """Unlocked accounts the node signs with; lookups by lower-case hex address."""

    def __init__(self, accounts: list[LocalAccount]) -> None:
        self._by_address = {bytes.fromhex(a.address[2:]): a for a in accounts}
        self._ordered = list(accounts)

    def all(self) -> list[LocalAccount]:
        return list(self._ordered)

    def get(self, address: bytes) -> LocalAccount | None:
        return self._by_address.get(address)

    @staticmethod
    def sign_message(account: LocalAccount, message: bytes) -> bytes:
        return account.sign_message(encode_defunct(primitive=message)).signature

    @staticmethod
    def sign_typed_data(account: LocalAccount, typed: dict[str, Any]) -> bytes:
        return account.sign_message(encode_typed_data(full_message=typed)).signature
