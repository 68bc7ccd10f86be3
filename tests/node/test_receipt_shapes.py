"""Transactions and receipts of older and newer types, shaped as geth shapes them.

A pre-Byzantium receipt carries ``root`` (the state root after the transaction) and no
``status``; a blob transaction carries ``maxFeePerBlobGas`` and ``blobVersionedHashes``, and
its receipt ``blobGasUsed`` and ``blobGasPrice`` (the block's blob base fee).
"""
from __future__ import annotations

import pytest
from eth.vm.forks.prague.transactions import PragueTransactionBuilder

from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.forks import GAS_PER_BLOB
from kernel.genesis import Genesis
from node.backend import Backend
from node.context import NodeContext
from node.rpc.eth import EthAPI

CHAIN_ID = 1337


def eth_over(chain: Chain) -> tuple[EthAPI, Backend]:
    backend = Backend(chain)
    return EthAPI(backend, NodeContext()), backend


@pytest.fixture
def frontier_chain(tmp_path, dev_accounts):
    genesis = Genesis.from_json({"config": {"chainId": CHAIN_ID, "byzantiumBlock": 100},
                                 "alloc": {dev_accounts[0].address: {"balance": hex(10**24)}},
                                 "timestamp": "0x1", "difficulty": "0x20000"})
    db = LevelDB(tmp_path / "db")
    yield Chain(db, genesis, check_seal=False)
    db.close()


@pytest.fixture
def prague_chain(tmp_path, dev_accounts):
    genesis = Genesis.from_json({"config": {"chainId": CHAIN_ID},
                                 "alloc": {dev_accounts[0].address: {"balance": hex(10**24)}}, "timestamp": "0x1",
                                 "azora": {"oracles": {"members": [dev_accounts[9].address], "quorum": 1}}})
    db = LevelDB(tmp_path / "db")
    yield Chain(db, genesis)
    db.close()


def test_a_pre_byzantium_receipt_carries_the_state_root_and_no_status(frontier_chain, dev_accounts):
    chain = frontier_chain
    signed = dev_accounts[0].sign_transaction({"nonce": 0, "to": "0x" + "11" * 20, "value": 1, "gas": 21000,
                                               "gasPrice": 10**9})
    tx = chain.vm_class_for(1, 11).get_transaction_builder().decode(signed.raw_transaction)
    block = chain.build_block([tx], timestamp=11).block
    eth, backend = eth_over(chain)
    try:
        receipt = eth.getTransactionReceipt("0x" + tx.hash.hex())
    finally:
        backend.decoder.close()
    assert "status" not in receipt
    assert receipt["root"] == "0x" + chain.receipts_of(block.header)[0].state_root.hex()
    assert len(receipt["root"]) == 66


def test_a_blob_transaction_and_its_receipt_carry_the_blob_fields(prague_chain, dev_accounts):
    chain = prague_chain
    hashes = [b"\x01" + bytes([i]) * 31 for i in range(2)]
    signed = dev_accounts[0].sign_transaction({
        "chainId": CHAIN_ID, "nonce": 0, "to": "0x" + "11" * 20, "value": 1, "gas": 21000,
        "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 1, "type": 3, "maxFeePerBlobGas": 10**9,
        "blobVersionedHashes": hashes})
    tx = PragueTransactionBuilder.decode(signed.raw_transaction)
    block = chain.build_block([tx], timestamp=chain.head.timestamp + 1).block
    eth, backend = eth_over(chain)
    try:
        shown = eth.getTransactionByHash("0x" + tx.hash.hex())
        receipt = eth.getTransactionReceipt("0x" + tx.hash.hex())
        full_block = eth.getBlockByNumber(hex(block.number), True)
    finally:
        backend.decoder.close()
    assert shown["type"] == "0x3"
    assert shown["maxFeePerBlobGas"] == hex(10**9)
    assert shown["blobVersionedHashes"] == ["0x" + h.hex() for h in hashes]
    assert full_block["transactions"][0] == shown
    assert receipt["blobGasUsed"] == hex(2 * GAS_PER_BLOB)
    assert receipt["blobGasPrice"] == hex(chain.state_at(block.header).blob_base_fee)


def test_clients_polling_a_new_block_at_once_format_its_receipts_once(prague_chain, dev_accounts):
    """Every client polling for its receipt misses the cache when a big block lands: one
    thread formats the block's receipts, the others take its result."""
    import threading

    chain = prague_chain
    txs = [PragueTransactionBuilder.decode(dev_accounts[0].sign_transaction({
        "chainId": CHAIN_ID, "nonce": n, "to": "0x" + "11" * 20, "value": 1, "gas": 21000,
        "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "type": 2}).raw_transaction) for n in range(50)]
    chain.build_block(txs, timestamp=11)
    eth, backend = eth_over(chain)
    reads, real_receipts_of = [], backend.view.receipts_of

    def counted_receipts_of(header):   # the real read, counted
        reads.append(header.block_number)
        return real_receipts_of(header)

    backend.view.receipts_of = counted_receipts_of   # type: ignore[method-assign]
    start, answers = threading.Barrier(8), []

    def poll(index: int) -> None:
        start.wait()
        answers.append(eth.getTransactionReceipt("0x" + txs[index].hash.hex()))

    threads = [threading.Thread(target=poll, args=(i,)) for i in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        backend.decoder.close()
    assert reads == [1]
    assert sorted(int(a["transactionIndex"], 16) for a in answers) == list(range(8))
