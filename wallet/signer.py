"""Who signs: ``--keystore FILE`` or ``--account ADDRESS`` (looked up in ``--keystore-dir``),
unlocked with ``--password-file F`` or a prompt."""
from __future__ import annotations

import argparse
import getpass
from pathlib import Path

from eth_account.signers.local import LocalAccount

from wallet.errors import UsageError, WalletError
from wallet.keydir import address_of_document, find_keyfile, resolve_keystore_dir
from wallet.keystore import load_keystore, read_keystore, read_password_file
from wallet.units import parse_address


def add_signer_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("signer")
    group.add_argument("--keystore", type=Path, help="v3 keystore file of the signing key")
    group.add_argument("--account", help="address of a key in --keystore-dir")
    group.add_argument("--keystore-dir", type=Path, help="keystore directory (default ~/.azora/keystore)")
    group.add_argument("--password-file", type=Path, help="read the password here instead of prompting")


def keystore_path(args: argparse.Namespace) -> Path:
    """The keystore file the flags name; usage error if they name none or both."""
    if args.keystore is not None and args.account is not None:
        raise UsageError("give --keystore FILE or --account ADDRESS, not both")
    if args.keystore is not None:
        return Path(args.keystore)
    if args.account is not None:
        return find_keyfile(resolve_keystore_dir(args.keystore_dir), parse_address(args.account)).path
    raise UsageError("this command signs: give --keystore FILE or --account ADDRESS")


def signer_address(args: argparse.Namespace) -> str:
    """The signer's address without unlocking it (keystores record their address)."""
    path = keystore_path(args)
    address = address_of_document(read_keystore(path))
    if address is None:
        raise WalletError(f"keystore {path} does not record its address")
    return address


def load_signer(args: argparse.Namespace) -> LocalAccount:
    path = keystore_path(args)
    password = read_password_file(args.password_file) if args.password_file else \
        getpass.getpass(f"Password for {path.name}: ")
    return load_keystore(path, password)
