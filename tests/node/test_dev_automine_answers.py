"""With automine on, ``azora dev`` answers a request that sends transactions once they are
mined, as Hardhat's and anvil's nodes do: the receipt and the new state are there when the
client reads next (web3.py's ``wait_for_transaction_receipt`` finds the receipt on its first
poll instead of sleeping 0.1 s before a second)."""
from __future__ import annotations

import time

import requests
from eth_account import Account
from web3 import Web3

from helpers import DEV_MNEMONIC


def rpc(url: str, method: str, *params: object) -> object:
    answer = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                           timeout=60).json()
    assert "error" not in answer, answer
    return answer["result"]


def signed(account, nonce: int, value: int = 1) -> str:
    raw = account.sign_transaction({"chainId": 1337, "nonce": nonce, "to": "0x" + "22" * 20, "value": value,
                                    "gas": 21_000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1, "type": 2})
    return "0x" + bytes(raw.raw_transaction).hex()


def test_a_sent_transaction_is_mined_when_the_answer_comes_single_batched_and_not_behind_a_gap(dev_node):
    url = dev_node.url
    account = Account.from_mnemonic(DEV_MNEMONIC, account_path="m/44'/60'/0'/0/7")
    nonce = int(rpc(url, "eth_getTransactionCount", account.address, "latest"), 16)
    for _ in range(5):    # each answer: its receipt and its block already there
        before = int(rpc(url, "eth_blockNumber"), 16)
        tx_hash = rpc(url, "eth_sendRawTransaction", signed(account, nonce))
        receipt = rpc(url, "eth_getTransactionReceipt", tx_hash)
        assert receipt is not None and receipt["status"] == "0x1"
        assert int(rpc(url, "eth_blockNumber"), 16) > before
        nonce += 1

    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [signed(account, nonce + i)]}
             for i in range(3)]
    answers = requests.post(url, json=batch, timeout=60).json()
    assert all(rpc(url, "eth_getTransactionReceipt", a["result"]) is not None for a in answers), answers
    nonce += 3

    # behind a nonce gap nothing can be mined: answered at once, left queued
    started = time.monotonic()
    gapped = rpc(url, "eth_sendRawTransaction", signed(account, nonce + 1))
    assert time.monotonic() - started < 5
    assert rpc(url, "eth_getTransactionReceipt", gapped) is None
    filled = rpc(url, "eth_sendRawTransaction", signed(account, nonce))   # fills the gap: both are mined
    assert rpc(url, "eth_getTransactionReceipt", filled) is not None
    deadline = time.monotonic() + 10
    while rpc(url, "eth_getTransactionReceipt", gapped) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rpc(url, "eth_getTransactionReceipt", gapped) is not None


def test_with_automine_off_a_send_is_answered_at_once_and_stays_pending(start_azora, tmp_path):
    node = start_azora("dev", "--datadir", str(tmp_path / "chain"))
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
    rpc(node.url, "evm_setAutomine", False)
    started = time.monotonic()
    tx_hash = w3.eth.send_transaction({"from": w3.eth.accounts[1], "to": w3.eth.accounts[2], "value": 1})
    assert time.monotonic() - started < 5
    assert w3.eth.get_transaction(tx_hash).blockNumber is None
    rpc(node.url, "evm_mine")
    assert w3.eth.get_transaction_receipt(tx_hash).status == 1
