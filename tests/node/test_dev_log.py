"""``azora dev`` prints each mined transaction as anvil does: hash, contract created, gas used,
status and the failure's reason (Error(string), a custom error's selector, a panic code)."""
from __future__ import annotations

import time

from eth_abi import encode
from web3 import Web3

# Reverts with its calldata as the revert data: CALLDATACOPY(0, 0, size) REVERT(0, size).
RUNTIME = "366000600037366000fd"
INIT = "0x600a600c600039600a6000f3" + RUNTIME


def wait_for_log(node, text: str, timeout: float = 20) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        log = node.log_path.read_text(errors="replace")
        if text in log:
            return log
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in the log:\n{node.log()}")


def test_each_mined_transaction_is_printed_with_its_outcome(start_azora, tmp_path):
    node = start_azora("dev", "--datadir", str(tmp_path / "chain"))
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
    sender = w3.eth.accounts[1]
    deploy = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": sender, "data": INIT}), timeout=30)
    log = wait_for_log(node, f"Transaction: {deploy.transactionHash.to_0x_hex()}")
    block = log[log.index(deploy.transactionHash.to_0x_hex()):]
    assert f"Contract created: {deploy.contractAddress}" in block
    assert f"Gas used: {deploy.gasUsed}\n    Status: success" in block
    assert f"Block Number: {deploy.blockNumber}" in block

    reverter = deploy.contractAddress
    error_string = "0x08c379a0" + encode(["string"], ["not enough AZR"]).hex()
    custom = "0xdeadbeef" + encode(["uint256"], [7]).hex()
    panic = "0x4e487b71" + encode(["uint256"], [0x11]).hex()
    expected = {error_string: "Error: reverted with: not enough AZR",
                custom: "Error: reverted with custom error 0xdeadbeef",
                panic: "Error: reverted with panic code 0x11 (arithmetic overflow or underflow)",
                "0x": "Error: reverted without a reason"}
    for payload, line in expected.items():
        tx = w3.eth.send_transaction({"from": sender, "to": reverter, "data": payload, "gas": 100_000})
        receipt = w3.eth.wait_for_transaction_receipt(tx, timeout=30)
        assert receipt.status == 0
        log = wait_for_log(node, f"Transaction: {tx.to_0x_hex()}")
        block = log[log.index(tx.to_0x_hex()):]
        assert f"Gas used: {receipt.gasUsed}\n    Status: failed\n    {line}" in block, block[:400]
        assert "Contract created" not in block.split("Block Number")[0]


# STATICCALLs Hardhat's console address with its calldata: CALLDATACOPY(0, 0, size),
# STATICCALL(gas, console, 0, size, 0, 0), POP, STOP.
CONSOLE_RUNTIME = "3660006000376000600036600073000000000000000000636f6e736f6c652e6c6f675afa5000"
CONSOLE_INIT = "0x6026600c60003960266000f3" + CONSOLE_RUNTIME


def test_console_log_calls_are_printed_before_their_transaction(start_azora, tmp_path):
    from eth_utils import keccak

    node = start_azora("dev", "--datadir", str(tmp_path / "chain"))
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
    sender = w3.eth.accounts[1]
    logger = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": sender, "data": CONSOLE_INIT}), timeout=30).contractAddress
    calls = {  # Vyper's print(..., hardhat_compat=True) and Solidity's console.log encode alike
        "0x" + (keccak(b"log(string,uint256)")[:4] + encode(["string", "uint256"], ["total is", 42])).hex():
            "console.log: total is 42",
        "0x" + (keccak(b"log(string,address,bool)")[:4] + encode(["string", "address", "bool"],
                                                                  ["owner", sender, True])).hex():
            f"console.log: owner {sender} true",
        "0x" + (keccak(b"log(uint)")[:4] + encode(["uint256"], [7])).hex(): "console.log: 7",
    }
    for payload, line in calls.items():
        tx = w3.eth.send_transaction({"from": sender, "to": logger, "data": payload, "gas": 100_000})
        assert w3.eth.wait_for_transaction_receipt(tx, timeout=30).status == 1
        log = wait_for_log(node, f"Transaction: {tx.to_0x_hex()}")
        assert f"{line}\n    Transaction: {tx.to_0x_hex()}" in log, log[-1500:]


PRINTING = '''# pragma version 0.4.3
total: public(uint256)

@external
def add(amount: uint256):
    self.total += amount
    print("total is", self.total, hardhat_compat=True)
'''


def test_vyper_print_with_hardhat_compat_is_printed(start_azora, tmp_path):
    import warnings

    import vyper

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # vyper: "print should only be used for debugging"
        out = vyper.compile_code(PRINTING, output_formats=["abi", "bytecode"])
    node = start_azora("dev", "--datadir", str(tmp_path / "chain"))
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
    factory = w3.eth.contract(abi=out["abi"], bytecode=out["bytecode"])
    sender = w3.eth.accounts[1]
    address = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": sender}),
                                                  timeout=30).contractAddress
    tx = w3.eth.contract(address=address, abi=out["abi"]).functions.add(42).transact({"from": sender})
    w3.eth.wait_for_transaction_receipt(tx, timeout=30)
    log = wait_for_log(node, f"Transaction: {tx.to_0x_hex()}")
    assert f"console.log: total is 42\n    Transaction: {tx.to_0x_hex()}" in log
