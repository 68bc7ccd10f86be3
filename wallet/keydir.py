"""A keystore directory as geth keeps one: ``UTC--<ISO time>--<address>`` files, one key each.

The default is ``~/.azora/keystore``. Files are written by :func:`wallet.keystore.save_keystore`
(atomic, mode 0600); a file geth or MetaMask exported is copied in unchanged once its password
is proven to open it, so its KDF and parameters stay what the other wallet chose.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from wallet.errors import WalletError
from wallet.keystore import KeystoreError, load_keystore, read_keystore

DEFAULT_KEYSTORE_DIR = "~/.azora/keystore"


@dataclass(frozen=True)
class KeyFile:
    """One keystore in a directory: its checksummed address and where it lives."""

    address: str
    path: Path

    def to_json(self) -> dict[str, str]:
        return {"address": self.address, "keystore": str(self.path)}


def resolve_keystore_dir(directory: Path | str | None) -> Path:
    return Path(directory or DEFAULT_KEYSTORE_DIR).expanduser()


def compute_keyfile_name(address: str, now: datetime) -> str:
    """geth's name: ``UTC--2006-01-02T15-04-05.999999999Z--<40 lower-case hex digits>``."""
    now = now.astimezone(timezone.utc)
    stamp = now.strftime("%Y-%m-%dT%H-%M-%S") + f".{now.microsecond * 1000:09d}Z"
    return f"UTC--{stamp}--{address.lower().removeprefix('0x')}"


def address_of_document(document: dict[str, Any]) -> str | None:
    """The address a v3 keystore records (geth and eth-account write it; it is optional)."""
    raw = document.get("address")
    if not isinstance(raw, str) or len(raw.removeprefix("0x")) != 40:
        return None
    try:
        return to_checksum_address("0x" + raw.removeprefix("0x"))
    except ValueError:
        return None


def list_keyfiles(directory: Path) -> list[KeyFile]:
    """Every readable v3 keystore that names its address, in file-name (creation) order.

    As geth does, hidden files, temporary files and anything that is not a keystore are skipped.
    """
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or path.name.endswith((".tmp", "~")) or not path.is_file():
            continue
        try:
            address = address_of_document(read_keystore(path))
        except KeystoreError:
            continue
        if address is not None:
            found.append(KeyFile(address, path))
    return found


def find_keyfile(directory: Path, address: str) -> KeyFile:
    """The keystore of ``address`` in ``directory``; WalletError naming the directory otherwise."""
    for entry in list_keyfiles(directory):
        if entry.address.lower() == address.lower():
            return entry
    raise WalletError(f"unknown account {address}: no keystore for it in {directory}")


def refuse_duplicate(directory: Path, address: str) -> None:
    """geth refuses to import an account twice; so do we (two files, one key, is a trap)."""
    for entry in list_keyfiles(directory):
        if entry.address.lower() == address.lower():
            raise WalletError(f"account {entry.address} already exists in {entry.path}")


def new_keyfile_path(directory: Path, address: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory / compute_keyfile_name(address, datetime.now(timezone.utc))


def import_keyfile(source: Path, password: str, directory: Path) -> KeyFile:
    """Copy a geth/MetaMask v3 keystore into ``directory`` after proving ``password`` opens it.

    The document is kept as it is (same KDF, same ciphertext); only a missing ``address`` is
    filled in from the decrypted key so the directory can be listed without a password.
    """
    document = read_keystore(source)
    account = load_keystore(source, password)
    recorded = address_of_document(document)
    if recorded is not None and recorded != account.address:
        raise KeystoreError(f"keystore {source} records address {recorded} but holds the key of {account.address}")
    refuse_duplicate(directory, account.address)
    document["address"] = account.address.lower().removeprefix("0x")
    path = new_keyfile_path(directory, account.address)
    write_private_json(path, document)
    return KeyFile(account.address, path)


def write_private_json(path: Path, document: dict[str, Any]) -> None:
    """Atomic write, owner-only (0600) from the first byte."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(document, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
