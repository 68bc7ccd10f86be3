"""``azora wallet`` as an operator uses it: new, import, address, check — and clear failures."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
    assert len(made.stdout.strip().splitlines()[-1].split()) == 24          # the mnemonic, shown once
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
