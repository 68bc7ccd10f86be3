"""debug_trace* with geth's tracers, on a real LevelDB chain, answered by the debug namespace.

A Forwarder contract calls a Store (CALL then STATICCALL), logs, and has a call that reverts
inside a frame that survives it; a direct call reverts at the top. Every tracer's answer is
compared with the shape geth documents (and geth's tracer tests fix): the callTracer's frame
tree with ``revertReason`` and ``position``-tagged logs, the prestateTracer's accounts before
(and after, in ``diffMode``), the 4byteTracer's ``selector-size`` counts, and the struct
logger's steps, whose gas agrees with the receipts and the call frames.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import rlp
import vyper
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from node.backend import Backend
from node.rpc.debug import DebugAPI, parse_duration
from node.rpc.errors import RpcError

CHAIN_ID = 1337
CONTRACTS = Path(__file__).parent / "contracts"
STORED = "0x" + keccak(b"Stored(address,uint256,uint256)").hex()
FORWARDED = "0x" + keccak(b"Forwarded(address,uint256)").hex()
REVERT_OUTPUT = "0x08c379a0" + (32).to_bytes(32, "big").hex() + (17).to_bytes(32, "big").hex() + \
    b"Store: zero value".ljust(32, b"\0").hex()


def compile_contract(name: str) -> tuple[list[Any], str]:
    out = vyper.compile_code((CONTRACTS / name).read_text(), output_formats=["abi", "bytecode"])
    return out["abi"], out["bytecode"]


def word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def slot_of(key: int) -> int:
    """Vyper's slot of ``values[key]`` (HashMap at slot 0)."""
    return int.from_bytes(keccak(b"\0" * 32 + key.to_bytes(32, "big")), "big")


class Scenario:
    """The chain and what was mined on it: block numbers and addresses."""

    def __init__(self, chain: Chain, account: Any) -> None:
        self.chain, self.account, self.nonce = chain, account, 0
        w3 = Web3()
        store_abi, store_code = compile_contract("Store.vy")
        forwarder_abi, forwarder_code = compile_contract("Forwarder.vy")
        self.sender = account.address.lower()
        self.store = self.created_address(0)
        self.forwarder = self.created_address(1)
        self.mine(None, store_code)
        self.mine(None, forwarder_code)
        forwarder = w3.eth.contract(abi=forwarder_abi)
        store = w3.eth.contract(abi=store_abi)
        target = to_checksum_address(self.store)
        self.forward_input = forwarder.encode_abi("forward", [target, 7, 42])
        self.try_input = forwarder.encode_abi("try_forward", [target, 8, 0])
        self.revert_input = store.encode_abi("store", [1, 0])
        self.values_input = store.encode_abi("values", [7])
        self.forward_block = self.mine(self.forwarder, self.forward_input)          # calls, logs
        self.try_block = self.mine(self.forwarder, self.try_input)                  # inner revert
        self.revert_block = self.mine(self.store, self.revert_input, gas=100_000)   # reverts
        # Two transactions in one block, the second reading what the first wrote.
        self.pair_block = self.mine_all([(self.store, store.encode_abi("store", [9, 5]), 100_000),
                                         (self.forwarder, forwarder.encode_abi("forward", [target, 9, 6]), 500_000)])

    def created_address(self, nonce: int) -> str:
        return "0x" + keccak(rlp.encode([bytes.fromhex(self.sender[2:]), nonce]))[12:].hex()

    def mine(self, to: str | None, data: str, gas: int = 500_000) -> int:
        return self.mine_all([(to, data, gas)])

    def mine_all(self, calls: list[tuple[str | None, str, int]]) -> int:
        txs = []
        for to, data, gas in calls:
            tx = {"chainId": CHAIN_ID, "nonce": self.nonce, "data": data, "gas": gas, "value": 0,
                  "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1, "type": 2}
            if to is not None:
                tx["to"] = to_checksum_address(to)
            txs.append(PragueTransactionBuilder.decode(self.account.sign_transaction(tx).raw_transaction))
            self.nonce += 1
        result = self.chain.build_block(txs, timestamp=self.chain.head.timestamp + 1)
        assert len(result.block.transactions) == len(txs), result.rejected
        return result.block.number

    def tx_hash(self, number: int) -> str:
        return "0x" + self.chain.block_of(self.chain.header_by_number(number)).transactions[0].hash.hex()

    def gas_used(self, number: int) -> int:
        return self.chain.receipts_of(self.chain.header_by_number(number))[0].gas_used


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, dev_accounts):
    alloc = {a.address: {"balance": hex(10**24)} for a in dev_accounts}
    genesis = Genesis.from_json({"config": {"chainId": CHAIN_ID}, "alloc": alloc, "timestamp": "0x1",
                                 "azora": {"oracles": {"members": [dev_accounts[9].address], "quorum": 1}}})
    db = LevelDB(tmp_path_factory.mktemp("tracing") / "db")
    yield Scenario(Chain(db, genesis), dev_accounts[0])
    db.close()


@pytest.fixture(scope="module")
def debug(scenario):
    backend = Backend(scenario.chain)
    yield DebugAPI(backend)
    backend.decoder.close()


# -- callTracer -----------------------------------------------------------------------------

def test_call_tracer_gives_the_frame_tree_with_logs_at_their_positions(scenario, debug):
    trace = debug.traceTransaction(scenario.tx_hash(scenario.forward_block),
                                   {"tracer": "callTracer", "tracerConfig": {"withLog": True}})
    store, forwarder, sender = scenario.store, scenario.forwarder, scenario.sender
    returned = word(42)
    assert trace == {
        "type": "CALL", "from": sender, "to": forwarder, "value": "0x0", "gas": hex(500_000),
        "gasUsed": hex(scenario.gas_used(scenario.forward_block)), "input": scenario.forward_input,
        "output": returned,
        "logs": [{"address": forwarder, "topics": [FORWARDED, word(int(store, 16))], "data": word(7),
                  "position": "0x0"}],
        "calls": [
            {"type": "CALL", "from": forwarder, "to": store, "value": "0x0",
             "gas": trace["calls"][0]["gas"], "gasUsed": trace["calls"][0]["gasUsed"],
             "input": "0x6ed28ed0" + word(7)[2:] + word(42)[2:],
             "logs": [{"address": store, "topics": [STORED, word(int(forwarder, 16)), word(7)],
                       "data": word(42), "position": "0x0"}]},
            {"type": "STATICCALL", "from": forwarder, "to": store,
             "gas": trace["calls"][1]["gas"], "gasUsed": trace["calls"][1]["gasUsed"],
             "input": scenario.values_input, "output": returned},
        ],
    }
    # A STATICCALL carries no value (geth leaves it out); a CALL's gas is what it was given.
    assert int(trace["calls"][0]["gas"], 16) > int(trace["calls"][0]["gasUsed"], 16) > 20_000


def test_call_tracer_reports_a_reverted_inner_call_with_its_reason_and_drops_its_logs(scenario, debug):
    trace = debug.traceTransaction(scenario.tx_hash(scenario.try_block),
                                   {"tracer": "callTracer", "tracerConfig": {"withLog": True}})
    assert "error" not in trace and trace["output"] == word(0)     # try_forward returned False
    [inner] = trace["calls"]
    assert inner["error"] == "execution reverted"
    assert inner["revertReason"] == "Store: zero value"
    assert inner["output"] == REVERT_OUTPUT
    assert "logs" not in inner
    assert [log["topics"][0] for log in trace["logs"]] == [FORWARDED]


def test_call_tracer_reports_a_reverted_transaction_at_the_top(scenario, debug):
    trace = debug.traceTransaction(scenario.tx_hash(scenario.revert_block), {"tracer": "callTracer"})
    assert trace == {"type": "CALL", "from": scenario.sender, "to": scenario.store, "value": "0x0",
                     "gas": hex(100_000), "gasUsed": hex(scenario.gas_used(scenario.revert_block)),
                     "input": scenario.revert_input, "output": REVERT_OUTPUT,
                     "error": "execution reverted", "revertReason": "Store: zero value"}


def test_call_tracer_only_top_call_leaves_out_the_inner_frames(scenario, debug):
    trace = debug.traceTransaction(scenario.tx_hash(scenario.forward_block),
                                   {"tracer": "callTracer", "tracerConfig": {"onlyTopCall": True}})
    assert "calls" not in trace and "logs" not in trace
    assert trace["output"] == word(42)


# -- prestateTracer -------------------------------------------------------------------------

def test_prestate_tracer_gives_every_touched_account_before_the_transaction(scenario, debug):
    number = scenario.forward_block
    trace = debug.traceTransaction(scenario.tx_hash(number), {"tracer": "prestateTracer"})
    parent = scenario.chain.state_at(scenario.chain.header_by_number(number - 1))
    coinbase = "0x" + scenario.chain.header_by_number(number).coinbase.hex()
    assert set(trace) == {scenario.sender, scenario.forwarder, scenario.store, coinbase}
    sender = bytes.fromhex(scenario.sender[2:])
    assert trace[scenario.sender] == {"balance": hex(parent.get_balance(sender)), "nonce": parent.get_nonce(sender)}
    code = parent.get_code(bytes.fromhex(scenario.store[2:]))
    # The slot was empty before: geth lists the slots the transaction read or wrote, as they were.
    assert trace[scenario.store] == {"balance": "0x0", "code": "0x" + code.hex(), "codeHash": "0x" + keccak(code).hex(),
                                     "nonce": 1, "storage": {word(slot_of(7)): word(0)}}


def test_prestate_tracer_diff_mode_gives_what_changed_before_and_after(scenario, debug):
    number = scenario.forward_block
    trace = debug.traceTransaction(scenario.tx_hash(number),
                                   {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}})
    assert set(trace) == {"pre", "post"}
    post, pre = trace["post"], trace["pre"]
    assert post[scenario.store] == {"storage": {word(slot_of(7)): word(42)}}
    assert "storage" not in pre[scenario.store]      # geth leaves out slots that were empty
    assert post[scenario.sender]["nonce"] == pre[scenario.sender]["nonce"] + 1
    assert int(post[scenario.sender]["balance"], 16) < int(pre[scenario.sender]["balance"], 16)
    assert scenario.forwarder not in pre and scenario.forwarder not in post   # unchanged


# -- 4byteTracer ----------------------------------------------------------------------------

def test_four_byte_tracer_counts_each_selector_and_calldata_size(scenario, debug):
    trace = debug.traceTransaction(scenario.tx_hash(scenario.forward_block), {"tracer": "4byteTracer"})
    assert trace == {scenario.forward_input[:10] + "-96": 1, "0x6ed28ed0-64": 1, "0x5e383d21-32": 1}


# -- the struct logger ----------------------------------------------------------------------

def test_struct_logger_steps_agree_with_the_receipt_and_the_call_frames(scenario, debug):
    number = scenario.forward_block
    trace = debug.traceTransaction(scenario.tx_hash(number))
    assert trace["gas"] == scenario.gas_used(number) and trace["failed"] is False
    assert trace["returnValue"] == word(42)
    logs = trace["structLogs"]
    assert logs[0] == {"pc": 0, "op": logs[0]["op"], "gas": logs[0]["gas"], "gasCost": logs[0]["gasCost"],
                       "depth": 1, "stack": [], "refund": 0}
    for step, after in zip(logs, logs[1:]):
        if step["depth"] == after["depth"] and step["op"] not in ("CALL", "STATICCALL"):
            assert after["gas"] == step["gas"] - step["gasCost"], step      # costs add up
    frames = debug.traceTransaction(scenario.tx_hash(number), {"tracer": "callTracer"})["calls"]
    calls = [i for i, step in enumerate(logs) if step["op"] in ("CALL", "STATICCALL")]
    assert [logs[i]["op"] for i in calls] == ["CALL", "STATICCALL"]
    for i, frame in zip(calls, frames):
        # The child starts with the gas the frame was given; the CALL's cost includes it.
        assert logs[i + 1]["depth"] == 2 and logs[i + 1]["gas"] == int(frame["gas"], 16)
        assert logs[i]["gasCost"] >= int(frame["gas"], 16)
    sstore = next(step for step in logs if step["op"] == "SSTORE")
    assert sstore["storage"] == {word(slot_of(7)): word(42)}
    assert all("memory" not in step and "returnData" not in step for step in logs)
    assert {"KECCAK256", "LOG2", "LOG3", "RETURN"} <= {step["op"] for step in logs}


def test_struct_logger_options_add_memory_and_return_data_and_drop_stack_and_storage(scenario, debug):
    tx_hash = scenario.tx_hash(scenario.forward_block)
    full = debug.traceTransaction(tx_hash, {"enableMemory": True, "enableReturnData": True})["structLogs"]
    assert all(len(chunk) == 66 for step in full for chunk in step["memory"])
    assert any(step.get("returnData") == word(42) for step in full)      # after the STATICCALL
    bare = debug.traceTransaction(tx_hash, {"disableStack": True, "disableStorage": True})["structLogs"]
    assert all("stack" not in step and "storage" not in step for step in bare)
    assert len(bare) == len(full)
    assert debug.traceTransaction(tx_hash, {"limit": 5})["structLogs"] == \
        debug.traceTransaction(tx_hash)["structLogs"][:5]


def test_struct_logger_gives_the_revert_data_of_a_reverted_transaction(scenario, debug):
    trace = debug.traceTransaction(scenario.tx_hash(scenario.revert_block))
    assert trace["failed"] is True and trace["returnValue"] == REVERT_OUTPUT
    assert trace["structLogs"][-1]["op"] == "REVERT" and "error" not in trace["structLogs"][-1]


# -- blocks, calls, errors ------------------------------------------------------------------

def test_trace_block_by_number_and_hash_give_each_transaction_with_its_hash(scenario, debug):
    number = scenario.forward_block
    header = scenario.chain.header_by_number(number)
    config = {"tracer": "callTracer"}
    by_number = debug.traceBlockByNumber(hex(number), config)
    assert by_number == debug.traceBlockByHash("0x" + header.hash.hex(), config)
    assert by_number == [{"txHash": scenario.tx_hash(number),
                          "result": debug.traceTransaction(scenario.tx_hash(number), config)}]


def test_a_blocks_later_transaction_is_traced_on_what_the_earlier_ones_left(scenario, debug):
    number = scenario.pair_block
    header = scenario.chain.header_by_number(number)
    hashes = ["0x" + tx.hash.hex() for tx in scenario.chain.block_of(header).transactions]
    prestate = debug.traceTransaction(hashes[1], {"tracer": "prestateTracer"})
    assert prestate[scenario.store]["storage"] == {word(slot_of(9)): word(5)}
    traces = debug.traceBlockByNumber(hex(number))
    receipts = scenario.chain.receipts_of(header)
    assert [t["txHash"] for t in traces] == hashes
    assert [t["result"]["gas"] for t in traces] == [receipts[0].gas_used, receipts[1].gas_used - receipts[0].gas_used]
    assert traces[1]["result"] == debug.traceTransaction(hashes[1])


def test_trace_call_runs_on_the_blocks_state_with_state_overrides(scenario, debug):
    call = {"from": scenario.sender, "to": scenario.store, "data": scenario.values_input}
    trace = debug.traceCall(call, "latest", {"tracer": "callTracer"})
    assert trace["output"] == word(42) and trace["type"] == "CALL"
    before = debug.traceCall(call, hex(scenario.forward_block - 1), {"tracer": "callTracer"})
    assert before["output"] == word(0)
    overridden = debug.traceCall(call, "latest", {"tracer": "callTracer", "stateOverrides": {
        scenario.store: {"stateDiff": {word(slot_of(7)): word(5)}}}})
    assert overridden["output"] == word(5)
    assert debug.traceCall(call, "latest")["returnValue"] == word(42)


def test_trace_call_block_overrides_change_the_block_context(scenario, debug):
    # NUMBER (0x43) and TIMESTAMP (0x42) push the block context: read them off the stack.
    code = "0x" + bytes([0x43, 0x42, 0x00]).hex()
    contract = "0x" + "ab" * 20
    trace = debug.traceCall({"to": contract}, "latest", {
        "stateOverrides": {contract: {"code": code}},
        "blockOverrides": {"number": "0x1234", "time": "0x5678"}})
    assert trace["structLogs"][-1]["op"] == "STOP"
    assert trace["structLogs"][-1]["stack"] == ["0x1234", "0x5678"]


@pytest.mark.parametrize("method, params, message", [
    ("traceTransaction", ["0x" + "ab" * 32], "transaction not found"),
    ("traceBlockByNumber", ["0x0"], "genesis is not traceable"),
    ("traceBlockByNumber", ["0x999"], "block #2457 not found"),
    ("traceBlockByHash", ["0x" + "ab" * 32], f"block 0x{'ab' * 32} not found"),
])
def test_invalid_trace_targets_get_geths_errors(debug, method, params, message):
    with pytest.raises(RpcError) as error:
        getattr(debug, method)(*params)
    assert (error.value.code, error.value.message) == (-32000, message)


def test_invalid_tracer_name_and_timeout_get_geths_errors(scenario, debug):
    tx_hash = scenario.tx_hash(scenario.forward_block)
    with pytest.raises(RpcError, match="tracer not found"):
        debug.traceTransaction(tx_hash, {"tracer": "noSuchTracer"})
    with pytest.raises(RpcError, match='time: invalid duration "soon"'):
        debug.traceTransaction(tx_hash, {"timeout": "soon"})
    with pytest.raises(RpcError) as error:
        debug.traceTransaction(tx_hash, {"timeout": "1ns"})
    assert (error.value.code, error.value.message) == (-32000, "execution timeout")
    assert debug.traceTransaction(tx_hash, {"timeout": "30s", "tracer": "4byteTracer"})


@pytest.mark.parametrize("text, seconds", [("5s", 5.0), ("300ms", 0.3), ("1m30s", 90.0), ("1.5h", 5400.0),
                                           ("0", 0.0)])
def test_timeouts_parse_as_go_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)
