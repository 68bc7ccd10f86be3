"""What every ``azora wallet`` command that talks to a node shares: the --rpc/--json and fee
flags, and the one path a transaction takes (fees, funds check, summary, confirmation, receipt)."""
from __future__ import annotations

import argparse
import json
from typing import Any

from eth_account.signers.local import LocalAccount

from wallet.lastchain import check_chain, record_chain
from wallet.rpc import DEFAULT_RPC, Node
from wallet.signer import keystore_path
from wallet.tx import Outcome, build_transaction, check_native_funds, check_nonce_gap, confirm, describe, send_and_wait, suggest_fees
from wallet.units import format_amount


def add_rpc_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rpc", default=DEFAULT_RPC, help=f"the node's JSON-RPC URL (default {DEFAULT_RPC})")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def add_fee_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-fee", help="max fee per gas in gwei (default: 2 x base fee + tip)")
    parser.add_argument("--priority-fee", help="priority fee (tip) per gas in gwei (default: the node's suggestion)")
    parser.add_argument("--yes", action="store_true", help="send without asking for confirmation")
    parser.add_argument("--fill-gap", action="store_true",
                        help="send even if it fills a nonce gap and releases the queued transactions behind it")
    parser.add_argument("--chain-id", type=int, help="confirm the node's chain when the key last signed on another")


def emit(args: argparse.Namespace, value: Any, text: str) -> None:
    print(json.dumps(value) if args.json else text)


def send_transaction(args: argparse.Namespace, node: Node, account: LocalAccount, to: str, value: int,
                     data: bytes, what: str) -> Outcome:
    """The one path every state-changing command takes: chain check, fees, funds check, summary,
    confirmation, send, receipt."""
    keystore = keystore_path(args)
    check_chain(keystore, node.chain_id, args.chain_id)
    tx = build_transaction(node, account.address, to, value, data,
                           suggest_fees(node, args.max_fee, args.priority_fee))
    check_native_funds(node, tx)
    check_nonce_gap(node, tx, args.fill_gap)
    confirm(describe(tx, what), args.yes)
    outcome = send_and_wait(node, account, tx)
    record_chain(keystore, node.chain_id)
    return outcome


def transact(args: argparse.Namespace, node: Node, account: LocalAccount, to: str, value: int, data: bytes,
             what: str) -> int:
    outcome = send_transaction(args, node, account, to, value, data, what)
    emit(args, outcome.to_json(), format_outcome(outcome))
    return 0


def format_outcome(outcome: Outcome) -> str:
    return (f"mined in block {outcome.block_number}: {outcome.hash}\n"
            f"status {'success' if outcome.status == 1 else 'reverted'}, fee {format_amount(outcome.fee)} AZR")
