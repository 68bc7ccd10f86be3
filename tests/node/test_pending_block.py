"""The "pending" tag answers with the block being built, as geth's does: number head + 1, the
pool's executable transactions, their effects on state; hash, nonce and miner not yet known."""
from __future__ import annotations

import pytest
from eth.vm.forks.prague.transactions import PragueTransactionBuilder

from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from node.backend import Backend
from node.context import NodeContext
from node.rpc.eth import EthAPI

CHAIN_ID = 1337
RECIPIENT = "0x" + "77" * 20


def backend_over(tmp_path, dev_accounts, alloc: dict):
    """A backend over a real chain in a tmp LevelDB with ``alloc`` in its genesis."""
    genesis = Genesis.from_json({"config": {"chainId": CHAIN_ID}, "alloc": alloc, "timestamp": "0x1",
                                 "azora": {"oracles": {"members": [dev_accounts[9].address], "quorum": 1}}})
    db = LevelDB(tmp_path / "db")
    backend = Backend(Chain(db, genesis))
    yield backend
    backend.decoder.close()
    db.close()


@pytest.fixture
def backend(tmp_path, dev_accounts):
    yield from backend_over(tmp_path, dev_accounts, {a.address: {"balance": hex(10**24)} for a in dev_accounts})


def test_the_pending_block_is_the_head_child_with_the_pools_executable_transactions(backend, dev_accounts):
    eth = EthAPI(backend, NodeContext())
    head = backend.view.head
    empty = eth.getBlockByNumber("pending", False)
    assert empty["number"] == hex(head.block_number + 1) and empty["transactions"] == []
    assert empty["parentHash"] == "0x" + head.hash.hex()
    hashes = []
    for nonce in range(2):
        signed = dev_accounts[0].sign_transaction({
            "chainId": CHAIN_ID, "nonce": nonce, "to": RECIPIENT, "value": 5, "gas": 21000,
            "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "type": 2})
        hashes.append("0x" + backend.submit(PragueTransactionBuilder.decode(signed.raw_transaction),
                                            len(signed.raw_transaction)).hex())
    # A gapped transaction (nonce 5) is queued, not executable: it stays out.
    gapped = dev_accounts[0].sign_transaction({
        "chainId": CHAIN_ID, "nonce": 5, "to": RECIPIENT, "value": 5, "gas": 21000,
        "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "type": 2})
    backend.submit(PragueTransactionBuilder.decode(gapped.raw_transaction), len(gapped.raw_transaction))
    pending = eth.getBlockByNumber("pending", True)
    assert pending["number"] == hex(head.block_number + 1)
    assert [tx["hash"] for tx in pending["transactions"]] == hashes
    assert pending["transactions"][0]["from"] == dev_accounts[0].address.lower()
    assert (pending["hash"], pending["nonce"], pending["miner"]) == (None, None, None)
    assert int(pending["gasUsed"], 16) == 2 * 21000
    assert eth.getBlockTransactionCountByNumber("pending") == "0x2"
    assert eth.getBalance(RECIPIENT, "pending") == "0xa"
    # The chain itself is unchanged.
    assert eth.getBalance(RECIPIENT, "latest") == "0x0"
    assert eth.getBlockByNumber("latest", False)["number"] == hex(head.block_number)
    assert backend.view.head == head


# NUMBER, then BALANCE(RECIPIENT): each returned as one word
NUMBER_READER = "0x" + "11" * 20
NUMBER_CODE = "0x4360005260206000f3"
BALANCE_READER = "0x" + "22" * 20
BALANCE_CODE = "0x73" + "77" * 20 + "3160005260206000f3"


@pytest.fixture
def readers_backend(tmp_path, dev_accounts):
    alloc = {a.address: {"balance": hex(10**24)} for a in dev_accounts[:9]}
    alloc.update({NUMBER_READER: {"code": NUMBER_CODE}, BALANCE_READER: {"code": BALANCE_CODE}})
    yield from backend_over(tmp_path, dev_accounts, alloc)


def test_calls_estimates_and_access_lists_on_pending_run_on_the_block_being_built(readers_backend, dev_accounts):
    """geth: eth_call, eth_estimateGas and eth_createAccessList with "pending" execute in the
    pending block's context (number head + 1) on the state its transactions leave."""
    from node.rpc.extra import EthExtraAPI

    backend = readers_backend
    eth, extra = EthAPI(backend, NodeContext()), EthExtraAPI(backend)
    funded_later = dev_accounts[9]          # no balance in genesis: only the pending transfer pays it
    head = backend.view.head.block_number
    word = lambda n: "0x" + n.to_bytes(32, "big").hex()   # noqa: E731
    assert eth.call({"to": NUMBER_READER}, "latest") == word(head)
    assert eth.call({"to": NUMBER_READER}, "pending") == word(head + 1)
    for nonce, (to, value) in enumerate([(RECIPIENT, 7), (funded_later.address, 10**18)]):
        signed = dev_accounts[0].sign_transaction({
            "chainId": CHAIN_ID, "nonce": nonce, "to": to, "value": value, "gas": 21000,
            "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "type": 2})
        backend.submit(PragueTransactionBuilder.decode(signed.raw_transaction), len(signed.raw_transaction))
    assert eth.call({"to": BALANCE_READER}, "pending") == word(7)
    assert eth.call({"to": BALANCE_READER}, "latest") == word(0)
    spend = {"from": funded_later.address, "to": RECIPIENT, "value": hex(10**17), "maxFeePerGas": hex(10**10)}
    assert eth.estimateGas(spend, "pending") == hex(21000)
    with pytest.raises(Exception, match="insufficient funds"):
        eth.estimateGas(spend, "latest")
    listed = extra.createAccessList({"from": funded_later.address, "to": BALANCE_READER}, "pending")
    assert "error" not in listed
    assert backend.view.head.block_number == head     # nothing was committed
