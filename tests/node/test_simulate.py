"""eth_simulateV1 as the execution-apis spec defines it, on a real LevelDB chain.

Answers are validated against the spec's EthSimulateResult schema (tests/spec/openrpc.json)
and checked for what the spec says they mean: blocks chained on the base block with default
numbers and times (gaps filled), state carried from block to block and call to call, block
and state overrides, reverts as results with code 3, ETH transfers as logs with
``traceTransfers``, and the spec's error codes for requests that cannot run.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rlp
import vyper
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_utils import keccak, to_checksum_address
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from web3 import Web3

from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from node.backend import Backend
from node.context import NodeContext
from node.rpc.errors import RpcError
from node.rpc.eth import EthAPI

CHAIN_ID = 1337
SPEC = json.loads((Path(__file__).parents[1] / "spec/openrpc.json").read_text())
STORE = vyper.compile_code((Path(__file__).parent / "contracts/Store.vy").read_text(),
                           output_formats=["abi", "bytecode"])
STORE_CONTRACT = Web3().eth.contract(abi=STORE["abi"])
TRANSFER_TOPIC = "0x" + keccak(b"Transfer(address,address,uint256)").hex()
FRESH = "0x" + "42" * 20


def word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def check_spec_shape(result: Any) -> None:
    registry = Registry().with_resource("urn:spec", Resource.from_contents(SPEC, default_specification=DRAFT202012))
    validator = Draft202012Validator({"$ref": "urn:spec#/components/schemas/EthSimulateResult"}, registry=registry)
    validator.validate(result)


@pytest.fixture(scope="module")
def node(tmp_path_factory, dev_accounts):
    alloc = {a.address: {"balance": hex(10**24)} for a in dev_accounts}
    genesis = Genesis.from_json({"config": {"chainId": CHAIN_ID}, "alloc": alloc, "timestamp": "0x1",
                                 "azora": {"oracles": {"members": [dev_accounts[9].address], "quorum": 1}}})
    db = LevelDB(tmp_path_factory.mktemp("simulate") / "db")
    chain = Chain(db, genesis)
    signed = dev_accounts[0].sign_transaction({
        "chainId": CHAIN_ID, "nonce": 0, "data": STORE["bytecode"], "gas": 1_000_000, "value": 0,
        "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1, "type": 2})
    chain.build_block([PragueTransactionBuilder.decode(signed.raw_transaction)], timestamp=chain.head.timestamp + 1)
    backend = Backend(chain)
    yield chain, EthAPI(backend, NodeContext())
    backend.decoder.close()
    db.close()


@pytest.fixture(scope="module")
def store(dev_accounts) -> str:
    sender = bytes.fromhex(dev_accounts[0].address[2:])
    return "0x" + keccak(rlp.encode([sender, 0]))[12:].hex()


def store_call(sender: str, store: str, key: int, value: int, **fields: Any) -> dict[str, Any]:
    return {"from": sender, "to": store, "input": STORE_CONTRACT.encode_abi("store", [key, value]), **fields}


def values_call(store: str, key: int) -> dict[str, Any]:
    return {"to": store, "input": STORE_CONTRACT.encode_abi("values", [key])}


def eth_gas_limit(eth: EthAPI) -> int:
    return int(eth.getBlockByNumber("latest", False)["gasLimit"], 16)


def simulate_error(eth: EthAPI, payload: dict[str, Any]) -> tuple[int, str]:
    with pytest.raises(RpcError) as error:
        eth.simulateV1(payload, "latest")
    return error.value.code, error.value.message


def test_calls_run_in_chained_blocks_that_carry_state_and_leave_the_chain_untouched(node, store, dev_accounts):
    chain, eth = node
    head = chain.head
    sender = dev_accounts[1].address.lower()
    result = eth.simulateV1({"blockStateCalls": [
        {"calls": [store_call(sender, store, 3, 11)]},
        {"calls": [values_call(store, 3), store_call(sender, store, 3, 12), values_call(store, 3)]},
    ]}, "latest")
    check_spec_shape(result)
    first, second = result
    assert [int(b["number"], 16) for b in result] == [head.block_number + 1, head.block_number + 2]
    assert [int(b["timestamp"], 16) for b in result] == [head.timestamp + 12, head.timestamp + 24]
    assert first["parentHash"] == "0x" + head.hash.hex() and second["parentHash"] == first["hash"]
    assert [c["returnData"] for c in second["calls"]] == [word(11), "0x", word(12)]
    [stored] = first["calls"]
    assert stored["status"] == "0x1" and int(stored["gasUsed"], 16) > 21_000
    assert int(stored["maxUsedGas"], 16) >= int(stored["gasUsed"], 16)
    [log] = stored["logs"]
    assert log["address"] == store and log["blockHash"] == first["hash"] and log["logIndex"] == "0x0"
    assert log["transactionHash"] == first["transactions"][0]
    assert int(first["gasUsed"], 16) == int(stored["gasUsed"], 16)
    # Nothing was written: the head and its state are as before.
    assert chain.head == head
    assert chain.state_at(head).get_storage(bytes.fromhex(store[2:]), 0) == 0


def test_block_number_gaps_are_filled_with_empty_blocks(node, store):
    chain, eth = node
    head = chain.head.block_number
    result = eth.simulateV1({"blockStateCalls": [
        {"blockOverrides": {"number": hex(head + 3), "time": hex(chain.head.timestamp + 100)},
         "calls": [values_call(store, 1)]}]}, "latest")
    check_spec_shape(result)
    assert [int(b["number"], 16) for b in result] == [head + 1, head + 2, head + 3]
    assert [len(b["calls"]) for b in result] == [0, 0, 1]
    assert int(result[-1]["timestamp"], 16) == chain.head.timestamp + 100


def test_block_overrides_set_the_blocks_context(node, store):
    _, eth = node
    coinbase = "0x" + "c0" * 20
    [block] = eth.simulateV1({"blockStateCalls": [{"blockOverrides": {
        "feeRecipient": coinbase, "gasLimit": hex(5_000_000), "baseFeePerGas": "0x7",
        "withdrawals": [{"index": "0x0", "validatorIndex": "0x1", "address": FRESH, "amount": "0x3"}]},
        "calls": []}]}, "latest")
    assert (block["miner"], block["gasLimit"], block["baseFeePerGas"]) == (coinbase, hex(5_000_000), "0x7")
    assert block["withdrawals"] == [{"index": "0x0", "validatorIndex": "0x1", "address": FRESH, "amount": "0x3"}]


def test_state_overrides_and_trace_transfers_show_eth_moving_as_transfer_logs(node, store):
    _, eth = node
    [block] = eth.simulateV1({"traceTransfers": True, "blockStateCalls": [{
        "stateOverrides": {FRESH: {"balance": hex(10**18)}},
        "calls": [{"from": FRESH, "to": store.replace("0x", "0x"), "value": "0x0", "input": "0x"},
                  {"from": FRESH, "to": "0x" + "77" * 20, "value": hex(5)}]}]}, "latest")
    check_spec_shape([block])
    assert block["calls"][0]["status"] == "0x0"      # Store has no fallback: a revert, as a result
    assert block["calls"][1]["gasUsed"] == block["calls"][1]["maxUsedGas"] == "0x5208"   # as the spec's fixture
    assert block["baseFeePerGas"] == "0x0"        # without validation, as the spec's fixture
    [transfer] = block["calls"][1]["logs"]
    assert transfer["address"] == "0x" + "ee" * 20
    assert transfer["topics"] == [TRANSFER_TOPIC, "0x" + "00" * 12 + "42" * 20, "0x" + "00" * 12 + "77" * 20]
    assert transfer["data"] == word(5)


def test_a_reverting_call_is_a_result_with_code_3_and_its_revert_data(node, store, dev_accounts):
    _, eth = node
    [block] = eth.simulateV1({"blockStateCalls": [{"calls": [
        store_call(dev_accounts[1].address, store, 1, 0), values_call(store, 1)]}]}, "latest")
    check_spec_shape([block])
    failed, after = block["calls"]
    assert failed["status"] == "0x0" and failed["logs"] == []
    assert failed["error"]["code"] == 3 and failed["error"]["message"] == "execution reverted: Store: zero value"
    assert failed["error"]["data"] == failed["returnData"] and failed["returnData"].startswith("0x08c379a0")
    assert after["status"] == "0x1"


def test_return_full_transactions_gives_transaction_objects_with_their_senders(node, store, dev_accounts):
    _, eth = node
    sender = dev_accounts[2].address.lower()
    [block] = eth.simulateV1({"returnFullTransactions": True, "blockStateCalls": [
        {"calls": [store_call(sender, store, 2, 2)]}]}, "latest")
    [tx] = block["transactions"]
    assert tx["from"] == sender and tx["to"] == store and tx["blockHash"] == block["hash"]
    assert tx["nonce"] == "0x0" and tx["transactionIndex"] == "0x0"


@pytest.mark.parametrize("payload, code", [
    ({"blockStateCalls": [{"blockOverrides": {"number": "0x1"}}]}, -38020),
    ({"blockStateCalls": [{}, {"blockOverrides": {"time": "0x1"}}]}, -38021),
    ({"blockStateCalls": [{}] * 257}, -38026),
    ({"blockStateCalls": [{"blockOverrides": {"number": hex(10_000)}}]}, -38026),
    ({"blockStateCalls": "nope"}, -32602),
])
def test_invalid_block_sequences_get_the_specs_codes(node, payload, code):
    _, eth = node
    assert simulate_error(eth, payload)[0] == code


def test_validation_refuses_calls_a_block_would_refuse(node, store, dev_accounts):
    _, eth = node
    sender = dev_accounts[3].address
    fees = {"maxFeePerGas": hex(10**10), "maxPriorityFeePerGas": "0x1"}

    def validated(call: dict[str, Any]) -> tuple[int, str]:
        return simulate_error(eth, {"validation": True, "blockStateCalls": [{"calls": [call]}]})

    assert validated(store_call(sender, store, 1, 1, nonce="0x5", **fees))[0] == -38011
    assert validated(store_call(sender, store, 1, 1))[0] == -38012                # no fee: below base fee
    assert validated({"from": FRESH, "to": store, "value": "0x1", **fees})[0] == -38014
    # The spec's ethSimulate-gas-fees-and-value-error-38014 fixture, without validation.
    assert simulate_error(eth, {"blockStateCalls": [{"calls": [{"from": FRESH, "to": store, "value": "0x3e8"}]}]}) == (
        -38014, f"err: insufficient funds for gas * price + value: address {to_checksum_address(FRESH)} "
                f"have 0 want 1000 (supplied gas {eth_gas_limit(eth)})")
    assert validated(store_call(sender, store, 1, 1, gas=hex(10**9), **fees))[0] == -38015
    assert validated(store_call(sender, store, 1, 1, gas="0x5000", **fees))[0] == -38013
    [block] = eth.simulateV1({"validation": True, "blockStateCalls": [{"calls": [
        store_call(sender, store, 1, 1, **fees)]}]}, "latest")
    assert block["calls"][0]["status"] == "0x1" and int(block["baseFeePerGas"], 16) > 0


def test_calls_default_to_the_blocks_remaining_gas_and_run_out_of_it_as_a_result(node, store):
    """The spec's ethSimulate-run-out-of-gas-in-block-38015 fixture: the second call's gas is
    what the first left of the block, and running out is a call result (-32015), not an error."""
    _, eth = node
    burn = STORE_CONTRACT.encode_abi("burn_gas", [60])   # ~1.37M: the second call runs short
    [block] = eth.simulateV1({"blockStateCalls": [{
        "blockOverrides": {"gasLimit": hex(1_500_000)},
        "calls": [{"to": store, "input": burn}, {"to": store, "input": burn}]}]}, "latest")
    first, second = block["calls"]
    assert first["status"] == "0x1"
    assert second["status"] == "0x0" and second["error"] == {"code": -32015, "message": "out of gas"}
    assert int(first["gasUsed"], 16) + int(second["gasUsed"], 16) == int(block["gasUsed"], 16) == 1_500_000
