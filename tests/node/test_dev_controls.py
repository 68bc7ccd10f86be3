"""The dev-only evm_* methods on the BFT engine, as hardhat and anvil users rely on them."""
from __future__ import annotations

import time


def test_snapshot_and_revert_rewind_the_chain_and_its_state(w3, dev_node):
    sender, receiver = w3.eth.accounts[3], w3.eth.accounts[4]
    snapshot = dev_node.rpc("evm_snapshot")["result"]
    head, balance = w3.eth.block_number, w3.eth.get_balance(receiver)
    tx = w3.eth.send_transaction({"from": sender, "to": receiver, "value": 10**18})
    w3.eth.wait_for_transaction_receipt(tx, timeout=30)
    assert w3.eth.get_balance(receiver) == balance + 10**18

    assert dev_node.rpc("evm_revert", [snapshot])["result"] is True
    assert w3.eth.block_number == head
    assert w3.eth.get_balance(receiver) == balance
    assert dev_node.rpc("eth_getTransactionReceipt", [tx.to_0x_hex()])["result"] is None
    assert dev_node.rpc("eth_getBlockByNumber", [hex(head + 1), False])["result"] is None
    assert dev_node.rpc("evm_revert", [snapshot])["result"] is False      # consumed

    # The chain goes on from the reverted head, with valid commits.
    tx = w3.eth.send_transaction({"from": sender, "to": receiver, "value": 1})
    receipt = w3.eth.wait_for_transaction_receipt(tx, timeout=30)
    assert receipt.blockNumber == head + 1
    assert dev_node.rpc("azora_getCommit", [hex(head + 1)])["result"]["blockHash"] == receipt.blockHash.to_0x_hex()


def test_mine_and_time_controls(w3, dev_node):
    head = w3.eth.block_number
    assert dev_node.rpc("evm_mine", [{"blocks": "0x3"}])["result"] == "0x0"
    assert w3.eth.block_number == head + 3          # empty blocks on demand

    latest = w3.eth.get_block("latest").timestamp
    dev_node.rpc("evm_setNextBlockTimestamp", [hex(latest + 1000)])
    dev_node.rpc("evm_mine")
    assert w3.eth.get_block("latest").timestamp == latest + 1000

    before = int(time.time())
    dev_node.rpc("evm_increaseTime", [3600])
    dev_node.rpc("evm_mine")
    assert w3.eth.get_block("latest").timestamp >= before + 3600   # the clock, moved forward

    error = dev_node.rpc("evm_setNextBlockTimestamp", [hex(latest)])["error"]
    assert error["code"] == -32000 and "not after" in error["message"]


def test_time_goes_on_from_a_chosen_timestamp(w3, dev_node):
    """As Hardhat and anvil: after evm_setNextBlockTimestamp the clock continues from the chosen
    time, so evm_increaseTime moves blocks forward from there (a DAO test jumps to a Timelock
    eta, then past a 60 s challenge window)."""
    chosen = w3.eth.get_block("latest").timestamp + 100_000
    dev_node.rpc("evm_setNextBlockTimestamp", [hex(chosen)])
    dev_node.rpc("evm_mine")
    dev_node.rpc("evm_increaseTime", [61])
    dev_node.rpc("evm_mine")
    assert w3.eth.get_block("latest").timestamp >= chosen + 61


def test_concurrent_snapshots_and_reverts_from_many_rpc_threads(w3, dev_node):
    """RPC calls run on worker threads: a snapshot is consumed by exactly one of several
    concurrent reverts, and concurrent snapshots never share an id."""
    from concurrent.futures import ThreadPoolExecutor

    head = w3.eth.block_number
    snapshot = dev_node.rpc("evm_snapshot")["result"]
    dev_node.rpc("evm_mine", [{"blocks": "0x2"}])
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: dev_node.rpc("evm_revert", [snapshot])["result"], range(4)))
    assert sorted(results) == [False, False, False, True]
    assert w3.eth.block_number == head

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda _: dev_node.rpc("evm_snapshot")["result"], range(40)))
    assert len(set(ids)) == 40
    assert dev_node.rpc("evm_revert", [min(ids, key=lambda i: int(i, 16))])["result"] is True
    assert all(dev_node.rpc("evm_revert", [i])["result"] is False for i in ids)   # all consumed


def test_times_that_cannot_be_block_timestamps_are_invalid_params(w3, dev_node):
    """evm_increaseTime(2**256-1) once wedged the producer at the next epoch and, after a
    restart, the datadir: a dev clock must stay within a header's uint64 timestamp."""
    head = w3.eth.block_number
    cases = [("evm_increaseTime", [2**256 - 1], "seconds"), ("evm_increaseTime", [hex(2**64)], "seconds"),
             ("evm_increaseTime", [2**64 - 10], "largest block timestamp"),
             ("evm_setNextBlockTimestamp", [hex(2**64)], "timestamp"), ("evm_mine", [hex(2**70)], "timestamp"),
             ("evm_mine", [{"blocks": hex(2**40)}], "blocks"), ("evm_increaseTime", [[1]], "seconds")]
    for method, params, names in cases:
        error = dev_node.rpc(method, params)["error"]
        assert error["code"] == -32602 and names in error["message"], (method, params, error)
    assert w3.eth.block_number == head
    dev_node.rpc("evm_mine")
    assert w3.eth.block_number == head + 1      # still producing


def test_a_block_built_again_after_a_revert_is_committed_again(w3, dev_node, dev_accounts):
    """Snapshot, send, revert, send the same transaction at the same timestamp: the block built
    again is the reverted block itself (same hash). The consensus host once kept the reverted
    height's candidate and its spent execution, and this second block never committed."""
    sender = dev_accounts[6]
    raw = sender.sign_transaction({
        "chainId": w3.eth.chain_id, "nonce": w3.eth.get_transaction_count(sender.address), "to": "0x" + "66" * 20,
        "value": 1, "gas": 21_000, "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "type": 2}).raw_transaction
    timestamp = w3.eth.get_block("latest").timestamp + 100
    snapshot = dev_node.rpc("evm_snapshot")["result"]
    blocks = []
    for attempt in range(2):
        dev_node.rpc("evm_setNextBlockTimestamp", [hex(timestamp)])
        receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw), timeout=30)
        blocks.append(receipt.blockHash)
        if attempt == 0:
            assert dev_node.rpc("evm_revert", [snapshot])["result"] is True
    assert blocks[0] == blocks[1]
    assert w3.eth.get_block("latest").hash == blocks[1]
