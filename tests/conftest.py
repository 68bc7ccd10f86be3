"""Shared fixtures: the standard dev mnemonic and its accounts."""
from __future__ import annotations

import pytest
from eth_account import Account

DEV_MNEMONIC = "test test test test test test test test test test test junk"
Account.enable_unaudited_hdwallet_features()


@pytest.fixture(scope="session")
def dev_accounts() -> list:
    return [Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
            for i in range(10)]
