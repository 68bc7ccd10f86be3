"""v3 keystores other wallets write open here, ours open there, and a keystore directory is geth's.

The vectors are the Web3 Secret Storage Definition's test vectors (the spec geth, eth-account and
MetaMask follow), as geth's keystore tests carry them: password "testpassword", secret
7a28b5ba…fe9d, address 0x008aeeda…786b, one file per KDF.
"""
from __future__ import annotations

import json
import re
import stat
from datetime import datetime, timezone

import pytest
from eth_account import Account
from eth_keyfile import decode_keyfile_json

from wallet.errors import WalletError
from wallet.keydir import (
    compute_keyfile_name, find_keyfile, import_keyfile, list_keyfiles, new_keyfile_path,
)
from wallet.keys import derive_account
from wallet.keystore import KeystoreError, load_keystore, save_keystore

PASSWORD = "testpassword"
SECRET = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d"
SPEC_ADDRESS = "0x008AeEda4D805471dF9b2A5B0f38A0C3bCBA786b"
PBKDF2_VECTOR = {
    "crypto": {
        "cipher": "aes-128-ctr",
        "cipherparams": {"iv": "6087dab2f9fdbbfaddc31a909735c1e6"},
        "ciphertext": "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
        "kdf": "pbkdf2",
        "kdfparams": {"c": 262144, "dklen": 32, "prf": "hmac-sha256",
                      "salt": "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"},
        "mac": "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2",
    },
    "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
    "version": 3,
}
# geth's accounts/keystore/testdata/v3_test_vector.json "wikipage_test_vector_scrypt" (the spec
# page's first scrypt example; the example on today's ethereum.org page does not verify: its MAC
# matches neither r/p reading of its parameters)
SCRYPT_VECTOR = {
    "crypto": {
        "cipher": "aes-128-ctr",
        "cipherparams": {"iv": "83dbcc02d8ccb40e466191a123791e0e"},
        "ciphertext": "d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c",
        "kdf": "scrypt",
        "kdfparams": {"dklen": 32, "n": 262144, "p": 8, "r": 1,
                      "salt": "ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19"},
        "mac": "2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097",
    },
    "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
    "version": 3,
}
MNEMONIC = "test test test test test test test test test test test junk"


@pytest.fixture(params=["pbkdf2", "scrypt"])
def vector(request, tmp_path):
    path = tmp_path / f"{request.param}.json"
    path.write_text(json.dumps(PBKDF2_VECTOR if request.param == "pbkdf2" else SCRYPT_VECTOR))
    return path


def test_spec_vectors_open_with_their_secret(vector):
    account = load_keystore(vector, PASSWORD)
    assert account.key.hex().removeprefix("0x") == SECRET
    assert account.address == SPEC_ADDRESS


def test_spec_vector_imports_into_a_keystore_directory_unchanged(vector, tmp_path):
    entry = import_keyfile(vector, PASSWORD, tmp_path / "keys")
    assert entry.address == SPEC_ADDRESS
    assert stat.S_IMODE(entry.path.stat().st_mode) == 0o600
    copied = json.loads(entry.path.read_text())
    original = json.loads(vector.read_text())
    # same KDF, salt, ciphertext and MAC: only the address was added so `list` needs no password
    assert copied["crypto"] == original["crypto"] and copied["address"] == SPEC_ADDRESS[2:].lower()
    assert list_keyfiles(tmp_path / "keys") == [entry]
    assert load_keystore(entry.path, PASSWORD).key.hex().removeprefix("0x") == SECRET


def test_invalid_password_on_import_writes_nothing(vector, tmp_path):
    with pytest.raises(KeystoreError, match="wrong password"):
        import_keyfile(vector, "wrong", tmp_path / "keys")
    assert not (tmp_path / "keys").exists() or not list((tmp_path / "keys").iterdir())


def test_invalid_duplicate_import_is_refused(vector, tmp_path):
    import_keyfile(vector, PASSWORD, tmp_path / "keys")
    with pytest.raises(WalletError, match="already exists"):
        import_keyfile(vector, PASSWORD, tmp_path / "keys")
    assert len(list((tmp_path / "keys").iterdir())) == 1


@pytest.mark.parametrize("kdf", ["scrypt", "pbkdf2"])
def test_our_keystores_open_with_the_reference_decoder(kdf, tmp_path):
    """eth-keyfile (what eth-account and web3.py decrypt with) opens what we write."""
    account = derive_account(MNEMONIC, 3)
    path = save_keystore(tmp_path / "k.json", account, "pw", kdf=kdf,
                         iterations=1024 if kdf == "scrypt" else 1000)
    document = json.loads(path.read_text())
    assert document["crypto"]["kdf"] == kdf and document["crypto"]["cipher"] == "aes-128-ctr"
    assert decode_keyfile_json(document, b"pw") == account.key
    assert Account.decrypt(document, "pw") == account.key


def test_keyfile_name_is_geths():
    when = datetime(2026, 12, 1, 21, 5, 9, 123456, tzinfo=timezone.utc)
    name = compute_keyfile_name("0x008AeEda4D805471dF9b2A5B0f38A0C3bCBA786b", when)
    assert name == "UTC--2026-12-01T21-05-09.123456000Z--008aeeda4d805471df9b2a5b0f38a0c3bcba786b"


def test_keystore_directory_lists_and_finds_keys(tmp_path):
    directory = tmp_path / "keys"
    accounts = [derive_account(MNEMONIC, i) for i in range(2)]
    paths = [save_keystore(new_keyfile_path(directory, a.address), a, "pw", kdf="pbkdf2", iterations=1000)
             for a in accounts]
    (directory / ".hidden").write_text("{}")
    (directory / "notes.txt").write_text("not a keystore")
    assert all(re.fullmatch(r"UTC--[0-9T.\-]+Z--[0-9a-f]{40}", p.name) for p in paths)
    assert [e.address for e in list_keyfiles(directory)] == [a.address for a in accounts]
    assert find_keyfile(directory, accounts[1].address).path == paths[1]
    with pytest.raises(WalletError, match="unknown account"):
        find_keyfile(directory, "0x" + "11" * 20)


def test_bip39_passphrase_changes_the_account():
    plain, with_passphrase = derive_account(MNEMONIC, 0), derive_account(MNEMONIC, 0, "azora")
    assert plain.address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert with_passphrase.address != plain.address
    assert derive_account(MNEMONIC, 0, "azora").address == with_passphrase.address
