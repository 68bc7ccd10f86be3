"""``azora wallet``: create, import and inspect keystores (validators' and learners' keys)."""
from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from eth_account import Account

from wallet.commands import LEARNER_COMMANDS, add_learner_commands
from wallet.credentials import WALLET_CREDENTIAL_COMMANDS, add_wallet_credential_commands
from wallet.errors import UsageError, WalletError, run_reporting_errors
from wallet.keydir import import_keyfile, new_keyfile_path, refuse_duplicate, resolve_keystore_dir
from wallet.keys import derive_account, new_mnemonic
from wallet.keystore import KeystoreError, load_keystore, read_keystore, read_password_file, save_keystore


def add_wallet_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    wallet = sub.add_parser("wallet", help="keys and v3 keystores").add_subparsers(dest="wallet_command", required=True)
    new = wallet.add_parser("new", help="a new key from a fresh BIP-39 mnemonic, saved as a keystore")
    new.add_argument("--keystore", type=Path, help="write the v3 keystore to this file (default: into --keystore-dir)")
    new.add_argument("--keystore-dir", type=Path, help="keystore directory (default ~/.azora/keystore)")
    new.add_argument("--password-file", type=Path, help="read the password here instead of prompting")
    new.add_argument("--passphrase-file", type=Path, help="optional BIP-39 passphrase (the \"25th word\")")
    new.add_argument("--words", type=int, default=24, choices=(12, 15, 18, 21, 24))
    new.add_argument("--json", action="store_true", help='print {"address", "keystore"}; the mnemonic goes to stderr')
    imp = wallet.add_parser("import", help="save an existing key (mnemonic, private key, geth/MetaMask keystore)")
    imp.add_argument("--keystore", type=Path, help="write the v3 keystore to this file (default: into --keystore-dir)")
    imp.add_argument("--keystore-dir", type=Path, help="keystore directory (default ~/.azora/keystore)")
    imp.add_argument("--password-file", type=Path, help="password of the new keystore (of --keystore-file: its own)")
    source = imp.add_mutually_exclusive_group(required=True)
    source.add_argument("--mnemonic-file", type=Path, help="file holding the BIP-39 mnemonic")
    source.add_argument("--private-key-file", type=Path, help="file holding a hex private key")
    source.add_argument("--keystore-file", type=Path, help="a v3 keystore exported by geth or MetaMask")
    imp.add_argument("--passphrase-file", type=Path, help="BIP-39 passphrase of the mnemonic, if it has one")
    imp.add_argument("--index", type=int, default=0, help="account index m/44'/60'/0'/0/INDEX")
    imp.add_argument("--json", action="store_true", help='print {"address", "keystore"}')
    show = wallet.add_parser("address", help="the address of a keystore (no password needed)")
    show.add_argument("keystore", type=Path)
    check = wallet.add_parser("check", help="decrypt a keystore to prove the password opens it")
    check.add_argument("keystore", type=Path)
    check.add_argument("--password-file", type=Path)
    add_learner_commands(wallet)
    add_wallet_credential_commands(wallet)


def _password(path: Path | None, confirm: bool) -> str:
    if path is not None:
        return read_password_file(path)
    password = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Repeat password: ") != password:
        raise KeystoreError("passwords do not match")
    return password


def _passphrase(path: Path | None) -> str:
    return read_password_file(path) if path is not None else ""


def _destination(args: argparse.Namespace, address: str) -> Path:
    """``--keystore FILE`` as before, or a geth-named file in the keystore directory."""
    if args.keystore is not None:
        if Path(args.keystore).exists():
            raise WalletError(f"keystore {args.keystore} already exists; refusing to overwrite the key it holds")
        return Path(args.keystore)
    directory = resolve_keystore_dir(args.keystore_dir)
    refuse_duplicate(directory, address)
    return new_keyfile_path(directory, address)


def _print_key(args: argparse.Namespace, address: str, keystore: Path) -> None:
    if args.json:
        print(json.dumps({"address": address, "keystore": str(keystore)}))
    else:
        print(f"address:  {address}\nkeystore: {keystore}")


def cmd_wallet(args: argparse.Namespace) -> int:
    handler = {**LEARNER_COMMANDS, **WALLET_CREDENTIAL_COMMANDS}.get(args.wallet_command)
    if handler is not None:
        return run_reporting_errors(handler, args)
    try:
        if args.wallet_command == "new":
            mnemonic = new_mnemonic(args.words)
            account = derive_account(mnemonic, passphrase=_passphrase(args.passphrase_file))
            path = save_keystore(_destination(args, account.address), account, _password(args.password_file, True))
            _print_key(args, account.address, path)
            # the terminal only, once: stdout may be a script's pipe or a log
            print(f"mnemonic (write it down; it is shown once and never stored):\n{mnemonic}", file=sys.stderr)
        elif args.wallet_command == "import":
            if args.keystore_file:
                if args.keystore is not None:
                    raise UsageError("--keystore-file imports into --keystore-dir; --keystore is for new keys")
                entry = import_keyfile(args.keystore_file, _password(args.password_file, False),
                                       resolve_keystore_dir(args.keystore_dir))
                _print_key(args, entry.address, entry.path)
                return 0
            if args.mnemonic_file:
                account = derive_account(args.mnemonic_file.read_text().strip(), args.index,
                                         _passphrase(args.passphrase_file))
            else:
                account = Account.from_key(args.private_key_file.read_text().strip())
            path = save_keystore(_destination(args, account.address), account, _password(args.password_file, True))
            _print_key(args, account.address, path)
        elif args.wallet_command == "address":
            address = read_keystore(args.keystore).get("address")
            if not address:
                raise KeystoreError(f"keystore {args.keystore} does not record its address")
            print("0x" + address.removeprefix("0x"))
        else:
            account = load_keystore(args.keystore, _password(args.password_file, False))
            print(f"ok: {account.address}")
    except WalletError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (KeystoreError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
