"""Deploy a Vyper contract to an Azora node with web3.py, no middleware.

    python scripts/deploy.py CONTRACT.vy [--rpc http://127.0.0.1:8545] [--args JSON]
                                         [--keystore FILE --password-file F]

Without a keystore it sends from the node's first managed account (azora dev); with one it
signs locally and sends the raw transaction, as against any public node.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import vyper
from web3 import Web3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--rpc", default="http://127.0.0.1:8545")
    parser.add_argument("--args", default="[]", help="constructor arguments as a JSON array")
    parser.add_argument("--keystore", type=Path)
    parser.add_argument("--password-file", type=Path)
    args = parser.parse_args(argv)

    compiled = vyper.compile_code(args.source.read_text(), output_formats=["abi", "bytecode"])
    w3 = Web3(Web3.HTTPProvider(args.rpc))
    factory = w3.eth.contract(abi=compiled["abi"], bytecode=compiled["bytecode"])
    constructor = factory.constructor(*json.loads(args.args))
    if args.keystore:
        from wallet.keystore import load_keystore, read_password_file
        account = load_keystore(args.keystore, read_password_file(args.password_file))
        tx = constructor.build_transaction({"from": account.address,
                                            "nonce": w3.eth.get_transaction_count(account.address)})
        tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    else:
        tx_hash = constructor.transact({"from": w3.eth.accounts[0]})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    if receipt.status != 1:
        print(f"deployment reverted in block {receipt.blockNumber}", file=sys.stderr)
        return 1
    print(json.dumps({"address": receipt.contractAddress, "block": receipt.blockNumber,
                      "transaction": tx_hash.to_0x_hex(), "gasUsed": receipt.gasUsed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
