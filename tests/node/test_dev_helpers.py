"""anvil's and Hardhat's dev-chain helpers on ``azora dev``, over JSON-RPC with web3.py; a
network node answers them -32601 as geth does."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "network"))
from harness import Testnet, rpc_call  # noqa: E402  (tests/network is not a package)

AZR = 10**18


def error_of(reply: dict) -> dict:
    assert "error" in reply, reply
    return reply["error"]


def test_an_impersonated_address_sends_without_its_key(w3, dev_node):
    stranger = Account.create().address          # no key on the node
    receiver = w3.eth.accounts[5]
    refused = error_of(dev_node.rpc("eth_sendTransaction", [{"from": stranger, "to": receiver, "value": "0x1"}]))
    assert refused["message"] == "unknown account"

    assert dev_node.rpc("anvil_setBalance", [stranger, hex(5 * AZR)])["result"] is None
    assert dev_node.rpc("anvil_impersonateAccount", [stranger])["result"] is None
    before = w3.eth.get_balance(receiver)
    tx = w3.eth.send_transaction({"from": stranger, "to": receiver, "value": 10**18})
    receipt = w3.eth.wait_for_transaction_receipt(tx, timeout=30)
    assert receipt.status == 1 and receipt["from"] == stranger
    assert w3.eth.get_transaction(tx)["from"] == stranger
    assert w3.eth.get_balance(receiver) == before + 10**18
    assert w3.eth.get_transaction_count(stranger) == 1
    # Traces replay it with its stored sender (its placeholder signature recovers nobody).
    trace = dev_node.rpc("debug_traceTransaction", [tx.to_0x_hex(), {"tracer": "callTracer"}])["result"]
    assert trace["from"] == stranger.lower() and trace["value"] == hex(10**18)

    assert dev_node.rpc("hardhat_stopImpersonatingAccount", [stranger])["result"] is True
    refused = error_of(dev_node.rpc("eth_sendTransaction", [{"from": stranger, "to": receiver, "value": "0x1"}]))
    assert refused["message"] == "unknown account"
    assert dev_node.rpc("hardhat_impersonateAccount", [stranger])["result"] is True
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": stranger, "to": receiver, "value": 1}))
    legacy = w3.eth.send_transaction({"from": stranger, "to": receiver, "value": 1, "gasPrice": 3 * 10**9})
    assert w3.eth.wait_for_transaction_receipt(legacy).effectiveGasPrice == 3 * 10**9   # a gas price pays as set

    # anvil_autoImpersonateAccount: any address, until switched off.
    other = Account.create().address
    dev_node.rpc("anvil_setBalance", [other, hex(AZR)])
    assert dev_node.rpc("anvil_autoImpersonateAccount", [True])["result"] is None
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": other, "to": receiver, "value": 1}))
    dev_node.rpc("anvil_autoImpersonateAccount", [False])
    refused = error_of(dev_node.rpc("eth_sendTransaction", [{"from": other, "to": receiver, "value": "0x1"}]))
    assert refused["message"] == "unknown account"


def test_state_edits_are_visible_at_latest_at_once(w3, dev_node):
    target = Account.create().address
    assert dev_node.rpc("hardhat_setBalance", [target, "0x0100"])["result"] is True    # anvil reads leading zeros
    assert w3.eth.get_balance(target, "latest") == 256
    dev_node.rpc("anvil_setNonce", [target, hex(7)])
    assert w3.eth.get_transaction_count(target, "latest") == 7
    # A contract that returns storage slot 0: PUSH1 0 SLOAD PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
    code = "0x60005460005260206000f3"
    assert dev_node.rpc("anvil_setCode", [target, code])["result"] is None
    assert w3.eth.get_code(target).to_0x_hex() == code
    assert dev_node.rpc("anvil_setStorageAt", [target, "0x0", "0x" + "00" * 31 + "2a"])["result"] is True
    assert w3.eth.get_storage_at(target, 0) == (42).to_bytes(32, "big")
    assert int.from_bytes(w3.eth.call({"to": target}), "big") == 42
    assert dev_node.rpc("hardhat_setStorageAt", [target, hex(1), hex(9)])["result"] is True
    assert w3.eth.get_storage_at(target, 1) == (9).to_bytes(32, "big")

    # A lower nonce than the pool saw is taken: the sender sends from it again.
    sender = Account.create()
    dev_node.rpc("anvil_setBalance", [sender.address, hex(AZR)])
    signed = sender.sign_transaction({"to": target, "value": 0, "gas": 50_000, "nonce": 0, "chainId": 1337,
                                      "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9})
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction), timeout=30)
    dev_node.rpc("anvil_setNonce", [sender.address, "0x0"])
    signed = sender.sign_transaction({"to": target, "value": 0, "gas": 50_000, "nonce": 0, "chainId": 1337,
                                      "maxFeePerGas": 10**10 + 1, "maxPriorityFeePerGas": 10**9})
    assert w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction)).status == 1


@pytest.mark.parametrize("method, params, wanted", [
    ("anvil_setBalance", ["0x1234", "0x1"], "address"),
    ("anvil_setBalance", ["0x" + "11" * 20, "ten"], "balance"),
    ("anvil_setBalance", ["0x" + "11" * 20, "0x1" + "0" * 64], "balance"),
    ("anvil_setNonce", ["0x" + "11" * 20, "0x1" + "0" * 16], "nonce"),
    ("anvil_setCode", ["0x" + "11" * 20, "0xzz"], "code"),
    ("anvil_setStorageAt", ["0x" + "11" * 20, "0x0", "0x" + "00" * 33], "value"),
    ("anvil_mine", ["0xz"], "number of blocks"),
    ("evm_setAutomine", ["yes"], "automine"),
    ("anvil_dropTransaction", ["0x12"], "transaction hash"),
    ("anvil_setMinGasPrice", ["0x1"], "EIP-1559"),
    ("anvil_setBalance", ["0x" + "11" * 20, 1.5], "balance"),
    ("anvil_setBalance", ["0x" + "11" * 20, True], "balance"),
    ("anvil_setNonce", ["0x" + "11" * 20, -1], "nonce"),
    ("hardhat_impersonateAccount", [None], "address"),
    ("anvil_setCoinbase", [{"a": 1}], "address"),
    ("anvil_reset", ["now"], "reset options"),
    ("anvil_reset", [{"forking": {"jsonRpcUrl": "http://127.0.0.1:1"}}], "--fork-url"),
    ("anvil_mine", ["0x" + "f" * 8], "at most"),
    ("evm_setIntervalMining", [1.5], "milliseconds"),
    ("anvil_autoImpersonateAccount", ["yes"], "enabled"),
    ("anvil_setStorageAt", ["0x" + "11" * 20, [], "0x1"], "slot"),
    ("anvil_nodeInfo", [1], "too many arguments"),
    ("anvil_setBalance", ["0x" + "11" * 20], "missing value"),
])
def test_invalid_helper_params_are_minus_32602(dev_node, method, params, wanted):
    error = error_of(dev_node.rpc(method, params))
    assert error["code"] == -32602 and wanted in error["message"], error


def test_mine_counts_and_spaces_blocks(w3, dev_node):
    head = w3.eth.block_number
    assert dev_node.rpc("anvil_mine", ["0x3", "0x3c"])["result"] is None
    assert w3.eth.block_number == head + 3
    stamps = [w3.eth.get_block(head + i).timestamp for i in (1, 2, 3)]
    assert stamps[1] - stamps[0] == stamps[2] - stamps[1] == 60
    assert dev_node.rpc("hardhat_mine", ["0x2"])["result"] is True
    assert w3.eth.block_number == head + 5
    dev_node.rpc("anvil_mine")
    assert w3.eth.block_number == head + 6


def test_automine_off_keeps_transactions_until_mined_and_drop_removes_one(w3, dev_node):
    sender, receiver = w3.eth.accounts[6], w3.eth.accounts[7]
    assert dev_node.rpc("evm_setAutomine", [False])["result"] is None
    try:
        assert dev_node.rpc("anvil_getAutomine")["result"] is False
        head = w3.eth.block_number
        kept = w3.eth.send_transaction({"from": sender, "to": receiver, "value": 1})
        dropped = w3.eth.send_transaction({"from": w3.eth.accounts[8], "to": receiver, "value": 1})
        time.sleep(1.5)
        assert w3.eth.block_number == head
        assert dev_node.rpc("anvil_dropTransaction", [dropped.to_0x_hex()])["result"] == dropped.to_0x_hex()
        assert dev_node.rpc("anvil_dropTransaction", [dropped.to_0x_hex()])["result"] is None
        dev_node.rpc("evm_mine")
        assert w3.eth.block_number == head + 1
        assert w3.eth.get_transaction_receipt(kept).blockNumber == head + 1
        assert dev_node.rpc("eth_getTransactionReceipt", [dropped.to_0x_hex()])["result"] is None
    finally:
        dev_node.rpc("evm_setAutomine", [True])
    assert dev_node.rpc("hardhat_getAutomine")["result"] is True
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": sender, "to": receiver, "value": 1}),
                                        timeout=30)


def test_interval_mining_makes_empty_blocks_until_stopped(w3, dev_node):
    head = w3.eth.block_number
    assert dev_node.rpc("anvil_setIntervalMining", ["0x1"])["result"] is None
    try:
        deadline = time.time() + 15
        while w3.eth.block_number < head + 2 and time.time() < deadline:
            time.sleep(0.2)
        assert w3.eth.block_number >= head + 2
    finally:
        dev_node.rpc("evm_setIntervalMining", [0])
    time.sleep(1.5)
    stopped = w3.eth.block_number
    time.sleep(2.5)
    assert w3.eth.block_number == stopped
    w3.eth.wait_for_transaction_receipt(         # automine again
        w3.eth.send_transaction({"from": w3.eth.accounts[6], "to": w3.eth.accounts[7], "value": 1}), timeout=30)


def test_next_base_fee_coinbase_and_node_info(w3, dev_node):
    assert dev_node.rpc("anvil_setNextBlockBaseFeePerGas", [hex(7)])["result"] is None
    coinbase = Account.create().address
    assert dev_node.rpc("hardhat_setCoinbase", [coinbase])["result"] is True
    sender, receiver = w3.eth.accounts[6], w3.eth.accounts[7]
    # A fee cap below the usual base fee is taken: the next block's base fee is 7 wei.
    tx = w3.eth.send_transaction({"from": sender, "to": receiver, "value": 1, "gas": 21_000,
                                  "maxFeePerGas": 7, "maxPriorityFeePerGas": 0})
    receipt = w3.eth.wait_for_transaction_receipt(tx, timeout=30)
    block = w3.eth.get_block(receipt.blockNumber)
    assert block.baseFeePerGas == 7 and block.miner == coinbase and receipt.effectiveGasPrice == 7
    dev_node.rpc("anvil_setNextBlockBaseFeePerGas", [hex(8 * 10**9)])
    dev_node.rpc("anvil_mine", ["0x2"])
    assert w3.eth.get_block("latest").baseFeePerGas == 7 * 10**9        # one block only, then EIP-1559's rule
    info = dev_node.rpc("anvil_nodeInfo")["result"]
    assert info["currentBlockNumber"] == hex(w3.eth.block_number)
    assert info["currentBlockHash"] == w3.eth.get_block("latest").hash.to_0x_hex()
    assert info["environment"]["chainId"] == 1337 and info["forkConfig"]["forkUrl"] is None
    dev_node.rpc("anvil_setCoinbase", [info["currentBlockHash"][:42]])    # any address


def test_reset_goes_back_to_genesis_and_state_edits_survive_a_restart(start_azora, tmp_path):
    datadir = str(tmp_path / "chain")
    node = start_azora("dev", "--datadir", datadir)
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
    start = w3.eth.get_balance(w3.eth.accounts[1])
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[1], "to": w3.eth.accounts[2], "value": AZR}), timeout=30)
    node.rpc("anvil_mine", ["0x2"])
    assert w3.eth.block_number == 3
    assert node.rpc("anvil_reset")["result"] is None
    assert w3.eth.block_number == 0 and w3.eth.get_balance(w3.eth.accounts[1]) == start
    assert error_of(node.rpc("hardhat_reset", [{"forking": {"jsonRpcUrl": "http://127.0.0.1:1"}}]))["code"] == -32602
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[1], "to": w3.eth.accounts[2], "value": 1}), timeout=30)

    target = Account.create().address
    node.rpc("anvil_setBalance", [target, hex(123)])
    node.rpc("anvil_setCode", [target, "0x6001"])
    assert node.stop() == 0
    node = start_azora("dev", "--datadir", datadir)
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
    assert w3.eth.get_balance(target) == 123 and w3.eth.get_code(target).to_0x_hex() == "0x6001"


@pytest.mark.timeout(180)
def test_a_network_node_has_no_dev_helpers(tmp_path):
    net = Testnet.init(tmp_path / "net", validators=1, block_interval=0.5)
    try:
        net.start("validator0")
        url = net.nodes["validator0"].rpc
        for method, params in [("anvil_setBalance", ["0x" + "11" * 20, "0x1"]), ("hardhat_mine", []),
                               ("anvil_impersonateAccount", ["0x" + "11" * 20]), ("evm_setAutomine", [False])]:
            with pytest.raises(RuntimeError) as refused:
                rpc_call(url, method, params)
            assert "-32601" in str(refused.value)
            assert f"the method {method} does not exist/is not available" in str(refused.value)
    finally:
        net.close()


def test_reset_on_a_fork_goes_back_to_the_fork_block(start_azora, tmp_path):
    remote = start_azora("dev", "--datadir", str(tmp_path / "remote"))
    remote_w3 = Web3(Web3.HTTPProvider(remote.url))
    remote_w3.eth.wait_for_transaction_receipt(remote_w3.eth.send_transaction(
        {"from": remote_w3.eth.accounts[1], "to": remote_w3.eth.accounts[2], "value": 1}), timeout=30)
    base = remote_w3.eth.block_number
    fork = start_azora("dev", "--fork-url", remote.url, "--datadir", str(tmp_path / "fork"))
    w3 = Web3(Web3.HTTPProvider(fork.url, request_kwargs={"timeout": 60}))
    target = Account.create().address
    fork.rpc("anvil_setBalance", [target, hex(99)])
    fork.rpc("anvil_mine", ["0x2"])
    assert w3.eth.block_number == base + 3 and w3.eth.get_balance(target) == 99
    info = fork.rpc("anvil_nodeInfo")["result"]
    assert info["forkConfig"] == {"forkUrl": remote.url, "forkBlockNumber": base, "forkRetryBackoff": None}

    assert fork.rpc("anvil_reset", [{"forking": {"jsonRpcUrl": remote.url, "blockNumber": base}}])["result"] is None
    assert w3.eth.block_number == base and w3.eth.get_balance(target) == 0
    refused = error_of(fork.rpc("anvil_reset", [{"forking": {"jsonRpcUrl": remote.url, "blockNumber": base - 1}}]))
    assert refused["code"] == -32602 and "restart it with another --fork-url" in refused["message"]
    # The fork goes on from its base.
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[1], "to": target, "value": 1}), timeout=30)
    assert receipt.blockNumber == base + 1 and w3.eth.get_balance(target) == 1
