"""``azora wallet``: create, import and inspect keystores (validators' and learners' keys)."""
from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from eth_account import Account

from wallet.keys import derive_account, new_mnemonic
from wallet.keystore import KeystoreError, load_keystore, read_keystore, read_password_file, save_keystore


def add_wallet_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    wallet = sub.add_parser("wallet", help="keys and v3 keystores").add_subparsers(dest="wallet_command", required=True)
    new = wallet.add_parser("new", help="a new key from a fresh BIP-39 mnemonic, saved as a keystore")
    new.add_argument("--keystore", type=Path, required=True, help="where to write the v3 keystore")
    new.add_argument("--password-file", type=Path, help="read the password here instead of prompting")
    new.add_argument("--words", type=int, default=24, choices=(12, 15, 18, 21, 24))
    imp = wallet.add_parser("import", help="save an existing key (mnemonic or private key) as a keystore")
    imp.add_argument("--keystore", type=Path, required=True)
    imp.add_argument("--password-file", type=Path)
    source = imp.add_mutually_exclusive_group(required=True)
    source.add_argument("--mnemonic-file", type=Path, help="file holding the BIP-39 mnemonic")
    source.add_argument("--private-key-file", type=Path, help="file holding a hex private key")
    imp.add_argument("--index", type=int, default=0, help="account index m/44'/60'/0'/0/INDEX")
    show = wallet.add_parser("address", help="the address of a keystore (no password needed)")
    show.add_argument("keystore", type=Path)
    check = wallet.add_parser("check", help="decrypt a keystore to prove the password opens it")
    check.add_argument("keystore", type=Path)
    check.add_argument("--password-file", type=Path)


def _password(path: Path | None, confirm: bool) -> str:
    if path is not None:
        return read_password_file(path)
    password = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Repeat password: ") != password:
        raise KeystoreError("passwords do not match")
    return password


def cmd_wallet(args: argparse.Namespace) -> int:
    try:
        if args.wallet_command == "new":
            mnemonic = new_mnemonic(args.words)
            account = derive_account(mnemonic)
            save_keystore(args.keystore, account, _password(args.password_file, True))
            print(f"address:  {account.address}\nkeystore: {args.keystore}\n"
                  f"mnemonic (write it down; it is shown once and never stored):\n{mnemonic}")
        elif args.wallet_command == "import":
            if args.mnemonic_file:
                account = derive_account(args.mnemonic_file.read_text().strip(), args.index)
            else:
                account = Account.from_key(args.private_key_file.read_text().strip())
            save_keystore(args.keystore, account, _password(args.password_file, True))
            print(f"address:  {account.address}\nkeystore: {args.keystore}")
        elif args.wallet_command == "address":
            address = read_keystore(args.keystore).get("address")
            if not address:
                raise KeystoreError(f"keystore {args.keystore} does not record its address")
            print("0x" + address.removeprefix("0x"))
        else:
            account = load_keystore(args.keystore, _password(args.password_file, False))
            print(f"ok: {account.address}")
    except (KeystoreError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
