"""``azora wallet`` as an operator uses it: new, import, address, check — and clear failures."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_keystore_vectors import PBKDF2_VECTOR

REPO = Path(__file__).resolve().parents[2]
MNEMONIC = "test test test test test test test test test test test junk"


def azora(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "node.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_new_key_round_trip(tmp_path):
    (tmp_path / "pw").write_text("correct horse\n")
    made = azora("wallet", "new", "--keystore", str(tmp_path / "k.json"), "--password-file", str(tmp_path / "pw"))
    assert made.returncode == 0, made.stderr
    address = made.stdout.split()[1]
    mnemonic = made.stderr.strip().splitlines()[-1]                          # shown once, on stderr
    assert len(mnemonic.split()) == 24 and mnemonic not in made.stdout
    assert MNEMONIC not in (tmp_path / "k.json").read_text()
    assert azora("wallet", "address", str(tmp_path / "k.json")).stdout.strip().lower() == address.lower()
    checked = azora("wallet", "check", str(tmp_path / "k.json"), "--password-file", str(tmp_path / "pw"))
    assert checked.returncode == 0 and address in checked.stdout


def test_import_mnemonic_gives_the_standard_account(tmp_path):
    (tmp_path / "pw").write_text("pw")
    (tmp_path / "words").write_text(MNEMONIC)
    made = azora("wallet", "import", "--keystore", str(tmp_path / "k.json"), "--password-file",
                 str(tmp_path / "pw"), "--mnemonic-file", str(tmp_path / "words"), "--index", "1")
    assert made.returncode == 0, made.stderr
    assert "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" in made.stdout
    assert json.loads((tmp_path / "k.json").read_text())["version"] == 3


def test_invalid_password_and_corrupt_keystore_fail_clearly(tmp_path):
    (tmp_path / "pw").write_text("right")
    (tmp_path / "bad").write_text("wrong")
    azora("wallet", "new", "--keystore", str(tmp_path / "k.json"), "--password-file", str(tmp_path / "pw"))
    wrong = azora("wallet", "check", str(tmp_path / "k.json"), "--password-file", str(tmp_path / "bad"))
    assert wrong.returncode == 1 and "wrong password" in wrong.stderr
    (tmp_path / "torn.json").write_text('{"version": 3, "crypto"')
    torn = azora("wallet", "check", str(tmp_path / "torn.json"), "--password-file", str(tmp_path / "pw"))
    assert torn.returncode == 1 and "corrupt" in torn.stderr and "Traceback" not in torn.stderr


def test_keystore_directory_new_import_list_as_json(tmp_path):
    (tmp_path / "pw").write_text("pw\n")
    (tmp_path / "words").write_text(MNEMONIC)
    keys = str(tmp_path / "keys")
    made = azora("wallet", "new", "--keystore-dir", keys, "--password-file", str(tmp_path / "pw"),
                 "--words", "12", "--json")
    assert made.returncode == 0, made.stderr
    new = json.loads(made.stdout)
    assert set(new) == {"address", "keystore"}
    assert Path(new["keystore"]).name.endswith("--" + new["address"][2:].lower())
    assert len(made.stderr.strip().splitlines()[-1].split()) == 12
    assert (Path(new["keystore"]).stat().st_mode & 0o777) == 0o600
    imported = azora("wallet", "import", "--keystore-dir", keys, "--password-file", str(tmp_path / "pw"),
                     "--mnemonic-file", str(tmp_path / "words"), "--json")
    assert json.loads(imported.stdout)["address"] == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    listed = json.loads(azora("wallet", "list", "--keystore-dir", keys, "--json").stdout)
    assert sorted(e["address"] for e in listed) == sorted([new["address"], "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"])
    assert all(set(e) == {"address", "keystore"} for e in listed)


def test_bip39_passphrase_gives_another_account(tmp_path):
    (tmp_path / "pw").write_text("pw")
    (tmp_path / "words").write_text(MNEMONIC)
    (tmp_path / "phrase").write_text("azora")
    out = azora("wallet", "import", "--keystore-dir", str(tmp_path / "keys"), "--password-file", str(tmp_path / "pw"),
                "--mnemonic-file", str(tmp_path / "words"), "--passphrase-file", str(tmp_path / "phrase"), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["address"] != "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_geth_keystore_file_imports_and_a_wrong_password_changes_nothing(tmp_path):
    (tmp_path / "pw").write_text("testpassword")
    (tmp_path / "bad").write_text("nope")
    geth_file = tmp_path / "UTC--geth"
    geth_file.write_text(json.dumps(PBKDF2_VECTOR))
    keys = tmp_path / "keys"
    wrong = azora("wallet", "import", "--keystore-file", str(geth_file), "--keystore-dir", str(keys),
                  "--password-file", str(tmp_path / "bad"), "--json")
    assert wrong.returncode == 1 and "wrong password" in wrong.stderr and wrong.stdout == ""
    assert len(wrong.stderr.strip().splitlines()) == 1 and not keys.exists()
    good = azora("wallet", "import", "--keystore-file", str(geth_file), "--keystore-dir", str(keys),
                 "--password-file", str(tmp_path / "pw"), "--json")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["address"] == "0x008AeEda4D805471dF9b2A5B0f38A0C3bCBA786b"
    again = azora("wallet", "import", "--keystore-file", str(geth_file), "--keystore-dir", str(keys),
                  "--password-file", str(tmp_path / "pw"))
    assert again.returncode == 1 and "already exists" in again.stderr
    assert len(list(keys.iterdir())) == 1


def test_invalid_usage_exits_2(tmp_path):
    out = azora("wallet", "sign-message", "hello")
    assert out.returncode == 2 and "--keystore" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    out = azora("wallet", "send", "--amount", "1")
    assert out.returncode == 2


def test_invalid_account_is_named(tmp_path):
    (tmp_path / "pw").write_text("pw")
    out = azora("wallet", "sign-message", "hello", "--account", "0x" + "11" * 20, "--keystore-dir",
                str(tmp_path / "none"), "--password-file", str(tmp_path / "pw"))
    assert out.returncode == 1 and "unknown account" in out.stderr


def test_sign_and_verify_message_and_typed_data(tmp_path):
    (tmp_path / "pw").write_text("pw")
    (tmp_path / "words").write_text(MNEMONIC)
    key = str(tmp_path / "k.json")
    azora("wallet", "import", "--keystore", key, "--password-file", str(tmp_path / "pw"),
          "--mnemonic-file", str(tmp_path / "words"))
    signed = azora("wallet", "sign-message", "I hold this key", "--keystore", key, "--password-file",
                   str(tmp_path / "pw"), "--json")
    assert signed.returncode == 0, signed.stderr
    result = json.loads(signed.stdout)
    assert result["address"] == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    # the same signature eth-account (MetaMask's personal_sign) makes
    from eth_account import Account
    from eth_account.messages import encode_defunct
    Account.enable_unaudited_hdwallet_features()
    reference = Account.from_mnemonic(MNEMONIC).sign_message(encode_defunct(text="I hold this key"))
    assert result["signature"] == "0x" + bytes(reference.signature).hex()
    ok = azora("wallet", "verify-message", "--address", result["address"], "--signature", result["signature"],
               "--message", "I hold this key")
    assert ok.returncode == 0 and "valid" in ok.stdout
    forged = azora("wallet", "verify-message", "--address", result["address"], "--signature", result["signature"],
                   "--message", "I hold another key")
    assert forged.returncode == 1
    (tmp_path / "typed.json").write_text(json.dumps(TYPED))
    typed = azora("wallet", "sign-typed", str(tmp_path / "typed.json"), "--keystore", key, "--password-file",
                  str(tmp_path / "pw"), "--json")
    assert typed.returncode == 0, typed.stderr
    signature = json.loads(typed.stdout)["signature"]
    assert azora("wallet", "verify-message", "--address", result["address"], "--signature", signature,
                 "--typed", str(tmp_path / "typed.json")).returncode == 0


TYPED = {
    "types": {
        "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                         {"name": "chainId", "type": "uint256"}],
        "Enrolment": [{"name": "learner", "type": "address"}, {"name": "course", "type": "string"}],
    },
    "primaryType": "Enrolment",
    "domain": {"name": "Azora", "version": "1", "chainId": 1337},
    "message": {"learner": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "course": "blockchain-101"},
}


def test_invalid_new_key_over_an_existing_keystore_is_refused(tmp_path):
    """Overwriting a keystore destroys the key it held: refuse, and leave the file as it was."""
    (tmp_path / "pw").write_text("pw")
    key = tmp_path / "k.json"
    first = azora("wallet", "new", "--keystore", str(key), "--password-file", str(tmp_path / "pw"), "--words", "12")
    assert first.returncode == 0, first.stderr
    before = key.read_text()
    second = azora("wallet", "new", "--keystore", str(key), "--password-file", str(tmp_path / "pw"), "--words", "12")
    assert second.returncode == 1 and "already exists" in second.stderr
    assert key.read_text() == before


def test_invalid_mnemonic_is_refused_without_echoing_it(tmp_path):
    (tmp_path / "pw").write_text("pw")
    for words in ("abandon secretive words that are not a mnemonic at all", "test " * 11 + "test"):
        (tmp_path / "words").write_text(words)
        out = azora("wallet", "import", "--keystore-dir", str(tmp_path / "keys"), "--password-file",
                    str(tmp_path / "pw"), "--mnemonic-file", str(tmp_path / "words"))
        assert out.returncode == 1 and "not a valid BIP-39 mnemonic" in out.stderr
        assert "Traceback" not in out.stderr and "secretive" not in out.stderr and "test test" not in out.stderr
        assert not (tmp_path / "keys").exists()
