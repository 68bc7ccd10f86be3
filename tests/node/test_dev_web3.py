"""web3.py against a real ``azora dev`` process: no middleware, as against geth."""
from __future__ import annotations

from pathlib import Path

import pytest
import vyper
from web3.exceptions import ContractLogicError

SOURCE = (Path(__file__).parent / "contracts" / "Store.vy").read_text()


@pytest.fixture(scope="module")
def compiled():
    out = vyper.compile_code(SOURCE, output_formats=["abi", "bytecode"])
    return out["abi"], out["bytecode"]


@pytest.fixture(scope="module")
def store(w3, compiled):
    abi, bytecode = compiled
    account = w3.eth.accounts[0]
    tx_hash = w3.eth.contract(abi=abi, bytecode=bytecode).constructor().transact({"from": account})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt.status == 1
    return w3.eth.contract(address=receipt.contractAddress, abi=abi)


def test_chain_id_and_accounts(w3):
    assert w3.eth.chain_id == 1337
    assert len(w3.eth.accounts) == 10
    assert w3.eth.accounts[0] == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert w3.eth.get_balance(w3.eth.accounts[1]) >= 10_000 * 10**18 - 10**18


def test_transfer_via_managed_account(w3):
    sender, receiver = w3.eth.accounts[1], w3.eth.accounts[2]
    before = w3.eth.get_balance(receiver)
    tx_hash = w3.eth.send_transaction({"from": sender, "to": receiver, "value": 12345})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt.status == 1 and receipt.gasUsed == 21000
    assert w3.eth.get_balance(receiver) == before + 12345
    tx = w3.eth.get_transaction(tx_hash)
    assert tx["from"] == sender and tx.blockNumber == receipt.blockNumber


def test_signed_raw_transaction(w3, dev_accounts):
    account = dev_accounts[3]
    signed = account.sign_transaction({
        "chainId": 1337, "nonce": w3.eth.get_transaction_count(account.address), "to": dev_accounts[4].address,
        "value": 1, "gas": 21000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "type": 2})
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt.status == 1
    assert receipt.effectiveGasPrice <= 10**10


def test_contract_storage_and_events(w3, store):
    account = w3.eth.accounts[0]
    tx_hash = store.functions.store(7, 42).transact({"from": account})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert store.functions.values(7).call() == 42
    events = store.events.Stored().process_receipt(receipt)
    assert events[0].args.key == 7 and events[0].args.value == 42
    logs = w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "address": store.address,
                            "topics": [None, None, "0x" + (7).to_bytes(32, "big").hex()]})
    assert len(logs) == 1 and logs[0]["transactionHash"] == tx_hash


def test_revert_reason_reaches_client(w3, store):
    with pytest.raises(ContractLogicError, match="Store: zero value"):
        store.functions.store(1, 0).call({"from": w3.eth.accounts[0]})
    with pytest.raises(ContractLogicError, match="Store: zero value"):
        store.functions.store(1, 0).estimate_gas({"from": w3.eth.accounts[0]})


def test_estimate_gas_is_enough_and_tight(w3, store):
    account = w3.eth.accounts[0]
    estimate = store.functions.burn_gas(20).estimate_gas({"from": account})
    too_little = store.functions.burn_gas(20).build_transaction({"from": account, "gas": estimate - 1000})
    tx_hash = store.functions.burn_gas(20).transact({"from": account, "gas": estimate})
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30).status == 1
    assert too_little["gas"] < estimate


def test_block_shape_has_post_london_fields(w3):
    block = w3.eth.get_block("latest", full_transactions=True)
    assert block.baseFeePerGas > 0
    assert block.withdrawals == []
    assert len(block.extraData) <= 32
    assert w3.eth.get_block("finalized").number == block.number


def test_deploy_script_works_as_documented(dev_node):
    import json
    import subprocess
    import sys
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "scripts/deploy.py", "tests/node/contracts/Store.vy",
                          "--rpc", dev_node.url], cwd=repo, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    deployed = json.loads(out.stdout)
    assert dev_node.rpc("eth_getCode", [deployed["address"], "latest"])["result"] != "0x"
