"""Version-3 keystores (scrypt, as geth writes them): keys encrypted at rest.

Files are written atomically with owner-only permissions; a wrong password, a corrupt file or
a missing file each raises :class:`KeystoreError` with a message that names the cause and
never the key.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from eth_account import Account
from eth_account.signers.local import LocalAccount


class KeystoreError(Exception):
    """A keystore that cannot be read or decrypted."""


Kdf = Literal["scrypt", "pbkdf2"]   # the key derivations a v3 keystore may use


def save_keystore(path: Path, account: LocalAccount, password: str, *, kdf: Kdf = "scrypt",
                  iterations: int | None = None) -> Path:
    """Encrypt ``account`` with ``password`` into ``path`` (atomic, mode 0600)."""
    if not password:
        raise KeystoreError("refusing to write a keystore with an empty password")
    document = Account.encrypt(account.key, password, kdf=kdf, iterations=iterations)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(document, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return path


def read_keystore(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise KeystoreError(f"keystore {path} not found") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise KeystoreError(f"keystore {path} is corrupt: not JSON ({exc.__class__.__name__})") from None
    if not isinstance(document, dict) or document.get("version") != 3 or \
            not isinstance(document.get("crypto") or document.get("Crypto"), dict):
        raise KeystoreError(f"keystore {path} is not a version-3 keystore")
    return document


def load_keystore(path: Path, password: str) -> LocalAccount:
    """Decrypt the keystore at ``path``."""
    document = read_keystore(path)
    try:
        key = Account.decrypt(document, password)
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise KeystoreError(f"wrong password for keystore {path}") from None
        raise KeystoreError(f"keystore {path} is corrupt: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise KeystoreError(f"keystore {path} is corrupt: missing {exc}") from None
    account: LocalAccount = Account.from_key(key)
    return account


def read_password_file(path: Path) -> str:
    """The first line of a password file (trailing newline stripped, as geth does)."""
    try:
        return Path(path).read_text().splitlines()[0] if Path(path).read_text() else ""
    except FileNotFoundError:
        raise KeystoreError(f"password file {path} not found") from None
