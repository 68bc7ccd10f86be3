"""HD keys: BIP-39 mnemonics and BIP-44 Ethereum paths (m/44'/60'/0'/0/i)."""
from __future__ import annotations

from eth_account import Account
from eth_account.hdaccount import generate_mnemonic
from eth_account.signers.local import LocalAccount
from eth_account.types import Language
from eth_utils.exceptions import ValidationError

Account.enable_unaudited_hdwallet_features()

DEFAULT_PATH = "m/44'/60'/0'/0/{index}"


def new_mnemonic(words: int = 24) -> str:
    """A fresh English BIP-39 mnemonic of ``words`` words (12, 15, 18, 21 or 24)."""
    return generate_mnemonic(num_words=words, lang=Language.ENGLISH)


def derive_account(mnemonic: str, index: int = 0, passphrase: str = "") -> LocalAccount:
    """The account at ``m/44'/60'/0'/0/index`` of ``mnemonic``; ValueError if it is invalid."""
    try:
        account: LocalAccount = Account.from_mnemonic(mnemonic, passphrase=passphrase,
                                                      account_path=DEFAULT_PATH.format(index=index))
        return account
    except (ValidationError, ValueError):
        # eth-account's message quotes the words: a secret must never reach a terminal or a log
        raise ValueError("not a valid BIP-39 mnemonic (check the words and their order)") from None
