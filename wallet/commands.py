"""The learner's everyday ``azora wallet`` commands: list, balance, send, wrap, unwrap, delegate,
sign-message, sign-typed, verify-message.

Each prints a human summary, or with ``--json`` the shape scripts rely on (amounts as decimal
strings in whole units). Every failure is a :class:`WalletError`: one line on stderr, exit 1.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from wallet.errors import WalletError
from wallet.keydir import list_keyfiles, resolve_keystore_dir
from wallet.cli_common import add_fee_flags, add_rpc_flags, emit, transact
from wallet.rpc import Node
from wallet.signer import add_signer_flags, load_signer
from wallet.tokens import Token, get_atokens, get_azr_token, resolve_token
from wallet.tx import encode_call
from wallet.units import format_amount, parse_address, parse_amount

ZERO_ADDRESS = "0x" + "00" * 20


def add_learner_commands(wallet: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lst = wallet.add_parser("list", help="the keys in the keystore directory")
    lst.add_argument("--keystore-dir", type=Path, help="default ~/.azora/keystore")
    lst.add_argument("--json", action="store_true")

    bal = wallet.add_parser("balance", help="native AZR, the AZR token, votes, delegate and every a-token")
    bal.add_argument("address")
    add_rpc_flags(bal)

    send = wallet.add_parser("send", help="pay native AZR, AZR tokens or an a-token")
    send.add_argument("--to", required=True)
    send.add_argument("--amount", required=True, help="in whole units, e.g. 1.5")
    send.add_argument("--token", help="AZR, an a-token symbol such as aZAR, or a 0x token address (default: native AZR)")
    add_fee_flags(send)
    add_signer_flags(send)
    add_rpc_flags(send)

    for name, text in (("wrap", "native AZR -> AZR token (votes, escrow, bonds)"),
                       ("unwrap", "AZR token -> native AZR")):
        sub = wallet.add_parser(name, help=text)
        sub.add_argument("--amount", required=True)
        add_fee_flags(sub)
        add_signer_flags(sub)
        add_rpc_flags(sub)

    dlg = wallet.add_parser("delegate", help="delegate the votes of your AZR tokens (to yourself by default)")
    dlg.add_argument("delegatee", nargs="?")
    add_fee_flags(dlg)
    add_signer_flags(dlg)
    add_rpc_flags(dlg)

    msg = wallet.add_parser("sign-message", help="EIP-191 personal_sign of a text message")
    msg.add_argument("message")
    msg.add_argument("--json", action="store_true")
    add_signer_flags(msg)

    typed = wallet.add_parser("sign-typed", help="EIP-712 signature of a typed-data JSON file (eth_signTypedData_v4)")
    typed.add_argument("file", type=Path)
    typed.add_argument("--json", action="store_true")
    add_signer_flags(typed)

    ver = wallet.add_parser("verify-message", help="check an EIP-191 or EIP-712 signature (exit 0 only if ADDRESS signed)")
    ver.add_argument("--address", required=True)
    ver.add_argument("--signature", required=True)
    source = ver.add_mutually_exclusive_group(required=True)
    source.add_argument("--message", help="the signed text (EIP-191)")
    source.add_argument("--typed", type=Path, help="the signed typed-data JSON file (EIP-712)")
    ver.add_argument("--json", action="store_true")


# -- keys ------------------------------------------------------------------------------------------

def cmd_list(args: argparse.Namespace) -> int:
    directory = resolve_keystore_dir(args.keystore_dir)
    entries = list_keyfiles(directory)
    text = "\n".join(f"{e.address}  {e.path}" for e in entries) or f"no keys in {directory}"
    emit(args, [e.to_json() for e in entries], text)
    return 0


# -- balances --------------------------------------------------------------------------------------

def get_balances(node: Node, address: str) -> dict[str, Any]:
    azr = get_azr_token(node)
    delegate = azr.contract.functions.delegates(address).call()
    return {
        "address": address,
        "native": format_amount(node.w3.eth.get_balance(address)),       # type: ignore[arg-type]
        "AZR": format_amount(azr.contract.functions.balanceOf(address).call(), azr.decimals),
        "votes": format_amount(azr.contract.functions.getVotes(address).call(), azr.decimals),
        "delegate": None if delegate == ZERO_ADDRESS else to_checksum_address(delegate),
        "tokens": {t.symbol: format_amount(t.contract.functions.balanceOf(address).call(), t.decimals)
                   for t in get_atokens(node)},
    }


def cmd_balance(args: argparse.Namespace) -> int:
    balances = get_balances(Node(args.rpc), parse_address(args.address))
    lines = [f"address   {balances['address']}", f"native    {balances['native']} AZR",
             f"AZR token {balances['AZR']} AZR", f"votes     {balances['votes']}",
             f"delegate  {balances['delegate'] or '(none)'}"]
    lines += [f"{symbol:<9} {amount}" for symbol, amount in balances["tokens"].items()]
    emit(args, balances, "\n".join(lines))
    return 0


# -- transactions ----------------------------------------------------------------------------------

def require_token_balance(token: Token, owner: str, amount: int) -> None:
    have = token.contract.functions.balanceOf(owner).call()
    if have < amount:
        raise WalletError(f"insufficient funds: {owner} holds {format_amount(have, token.decimals)} "
                          f"{token.symbol}, needs {format_amount(amount, token.decimals)}")


def cmd_send(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    to = parse_address(args.to)
    token = resolve_token(node, args.token) if args.token is not None else None
    amount = parse_amount(args.amount, token.decimals if token else 18)
    account = load_signer(args)
    if token is None:
        return transact(args, node, account, to, amount, b"", f"send {format_amount(amount)} AZR (native) to {to}")
    require_token_balance(token, account.address, amount)
    return transact(args, node, account, token.address, 0, encode_call(token.contract, "transfer", to, amount),
                    f"send {format_amount(amount, token.decimals)} {token.symbol} to {to}")


def cmd_wrap(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    azr = get_azr_token(node)
    value = parse_amount(args.amount)
    return transact(args, node, load_signer(args), azr.address, value, encode_call(azr.contract, "deposit"),
                    f"wrap {format_amount(value)} native AZR into AZR tokens")


def cmd_unwrap(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    azr = get_azr_token(node)
    amount = parse_amount(args.amount, azr.decimals)
    account = load_signer(args)
    require_token_balance(azr, account.address, amount)
    return transact(args, node, account, azr.address, 0, encode_call(azr.contract, "withdraw", amount),
                    f"unwrap {format_amount(amount)} AZR tokens into native AZR")


def cmd_delegate(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    azr = get_azr_token(node)
    delegatee = parse_address(args.delegatee) if args.delegatee else None
    account = load_signer(args)
    delegatee = delegatee or account.address
    return transact(args, node, account, azr.address, 0, encode_call(azr.contract, "delegate", delegatee),
                    f"delegate AZR votes to {delegatee}")


# -- signatures ------------------------------------------------------------------------------------

def read_typed_data(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise WalletError(f"typed-data file {path} not found") from None
    except ValueError:
        raise WalletError(f"typed-data file {path} is not JSON") from None
    if not isinstance(document, dict) or not {"types", "primaryType", "domain", "message"} <= set(document):
        raise WalletError(f"typed-data file {path} needs types, primaryType, domain and message (EIP-712)")
    return document


def encode_typed_file(path: Path) -> Any:
    try:
        return encode_typed_data(full_message=read_typed_data(path))
    except (ValueError, TypeError, KeyError) as exc:
        raise WalletError(f"typed-data file {path} is not valid EIP-712: {exc}") from None


def cmd_sign_message(args: argparse.Namespace) -> int:
    account = load_signer(args)
    signature = "0x" + bytes(account.sign_message(encode_defunct(text=args.message)).signature).hex()
    emit(args, {"address": account.address, "signature": signature}, signature)
    return 0


def cmd_sign_typed(args: argparse.Namespace) -> int:
    signable = encode_typed_file(args.file)
    account = load_signer(args)
    signature = "0x" + bytes(account.sign_message(signable).signature).hex()
    emit(args, {"address": account.address, "signature": signature}, signature)
    return 0


def cmd_verify_message(args: argparse.Namespace) -> int:
    expected = parse_address(args.address)
    signable = encode_defunct(text=args.message) if args.message is not None else encode_typed_file(args.typed)
    try:
        signer = Account.recover_message(signable, signature=bytes.fromhex(args.signature.removeprefix("0x")))
    except ValueError as exc:
        raise WalletError(f"signature is malformed: {exc}") from None
    valid = signer == expected
    emit(args, {"valid": valid, "signer": signer, "address": expected},
         f"valid: signed by {signer}" if valid else f"invalid: signed by {signer}, not {expected}")
    return 0 if valid else 1


LEARNER_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {

    "list": cmd_list, "balance": cmd_balance, "send": cmd_send, "wrap": cmd_wrap, "unwrap": cmd_unwrap,
    "delegate": cmd_delegate, "sign-message": cmd_sign_message, "sign-typed": cmd_sign_typed,
    "verify-message": cmd_verify_message,
}
