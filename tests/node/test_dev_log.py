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


def test_what_a_block_printed_comes_from_its_execution_not_a_replay_and_a_large_block_has_it_too(
        tmp_path, dev_accounts, caplog):
    """The log's console messages and failure reasons are read from each transaction's
    computation as the block is built (TransactionLog.observe): the block is not executed a
    second time (a replay here fails the test), and a block of over 256 transactions, which the
    replay skipped, gets them too."""
    import logging

    from eth.vm.forks.prague.transactions import PragueTransactionBuilder
    from eth_utils import keccak, to_checksum_address

    from kernel.chain import Chain
    from kernel.db import LevelDB
    from kernel.genesis import Genesis
    from kernel.view import ChainView
    from node.dev_log import MAX_REPLAYED_TRANSACTIONS, TransactionLog
    from node.rpc.format import contract_address

    sender, other = dev_accounts[1], dev_accounts[2]
    genesis = Genesis.from_json({"config": {"chainId": 1337}, "timestamp": "0x1",
                                 "alloc": {a.address: {"balance": hex(10**24)} for a in dev_accounts}})
    db = LevelDB(tmp_path / "db")
    try:
        chain = Chain(db, genesis)

        def signed(account, nonce: int, to: str | None, data: str, gas: int = 200_000):
            tx = {"chainId": 1337, "nonce": nonce, "value": 0, "gas": gas, "data": data, "type": 2,
                  "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1}
            if to is not None:
                tx["to"] = to
            return PragueTransactionBuilder.decode(account.sign_transaction(tx).raw_transaction)

        deployed = chain.build_block([signed(sender, 0, None, CONSOLE_INIT), signed(sender, 1, None, INIT)],
                                     timestamp=2)
        logger_address, reverter = (to_checksum_address(contract_address(bytes.fromhex(sender.address[2:]), n))
                                    for n in (0, 1))
        assert all(r.state_root == b"\x01" for r in deployed.receipts)
        console_call = "0x" + (keccak(b"log(string,uint256)")[:4] + encode(["string", "uint256"], ["total is", 42])).hex()
        revert_call = "0x08c379a0" + encode(["string"], ["not enough AZR"]).hex()
        transfers = [signed(other, n, "0x" + "11" * 20, "0x", gas=21_000) for n in range(MAX_REPLAYED_TRANSACTIONS)]
        txs = [*transfers, signed(sender, 2, logger_address, console_call), signed(sender, 3, reverter, revert_call)]

        log = TransactionLog(ChainView(chain))
        caplog.set_level(logging.INFO, logger="azora.dev")
        pending = chain.execute_transactions(txs, timestamp=3, observe=log.observe)
        chain.commit_block(pending)

        def replay(*args, **kwargs):
            raise AssertionError("the block was executed again")
        log.view.trace_block = replay   # type: ignore[method-assign]
        log(pending.block)
    finally:
        db.close()
    printed = caplog.text
    console_hash, revert_hash = (tx.hash.hex() for tx in txs[-2:])
    assert f"console.log: total is 42\n    Transaction: 0x{console_hash}" in printed
    assert f"Transaction: 0x{revert_hash}" in printed
    after_revert = printed[printed.index(revert_hash):]
    assert "Status: failed\n    Error: reverted with: not enough AZR" in after_revert
    assert printed.count("Status: success") == len(txs) - 1
