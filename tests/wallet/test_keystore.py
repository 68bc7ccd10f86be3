"""Keys and keystores: derivation matches the standard test vectors; bad files fail clearly."""
from __future__ import annotations

import json
import stat

import pytest

from wallet.keys import derive_account, new_mnemonic
from wallet.keystore import KeystoreError, load_keystore, read_password_file, save_keystore

TEST_MNEMONIC = "test test test test test test test test test test test junk"


def test_derivation_matches_the_standard_dev_accounts():
    assert derive_account(TEST_MNEMONIC, 0).address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert derive_account(TEST_MNEMONIC, 1).address == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_new_mnemonic_derives_distinct_keys():
    first, second = new_mnemonic(), new_mnemonic()
    assert len(first.split()) == 24 and first != second
    assert derive_account(first).address != derive_account(second).address


def test_invalid_mnemonic_is_refused():
    with pytest.raises(Exception):
        derive_account("test test test test test test test test test test test test")


def test_keystore_round_trip_is_private_and_encrypted(tmp_path):
    account = derive_account(TEST_MNEMONIC, 2)
    path = save_keystore(tmp_path / "key.json", account, "hunter2", kdf="pbkdf2", iterations=1000)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert account.key.hex().removeprefix("0x") not in path.read_text()
    assert load_keystore(path, "hunter2").address == account.address


def test_invalid_password_is_named(tmp_path):
    path = save_keystore(tmp_path / "key.json", derive_account(TEST_MNEMONIC), "right",
                         kdf="pbkdf2", iterations=1000)
    with pytest.raises(KeystoreError, match="wrong password"):
        load_keystore(path, "wrong")


@pytest.mark.parametrize("content,message", [
    ("{not json", "not JSON"),
    (json.dumps({"version": 1}), "not a version-3"),
    (json.dumps({"version": 3, "crypto": {"cipher": "aes-128-ctr"}}), "corrupt"),
])
def test_invalid_keystore_files_are_named(tmp_path, content, message):
    path = tmp_path / "key.json"
    path.write_text(content)
    with pytest.raises(KeystoreError, match=message):
        load_keystore(path, "pw")


def test_password_file_first_line(tmp_path):
    (tmp_path / "pw").write_text("secret\nignored\n")
    assert read_password_file(tmp_path / "pw") == "secret"
    with pytest.raises(KeystoreError):
        read_password_file(tmp_path / "missing")
