"""Limits that keep a node serving whatever its RPC clients ask: the EVM timeout and gas cap
of calls, the lanes that keep cheap reads away from expensive executions, the bounds of
eth_getLogs, filters and subscriptions.

Real ``azora dev`` processes over HTTP and WebSocket; unit tests use the kernel's executor on
a real chain in a tmp LevelDB.
"""
from __future__ import annotations

import concurrent.futures
import time

import pytest
import requests

from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.execution import (
    CallExecutor, CallLimits, CallMessage, ExecutionFailed, ExecutionTimeout, execution_deadline,
    go_duration,
)
from kernel.genesis import Genesis
from node.config import ConfigError, NodeConfig, RpcLimits, parse_duration

LOOP = "0x5b600056"          # JUMPDEST PUSH1 0 JUMP: loops until the gas runs out
LOOP_CALL = {"data": LOOP, "gas": "0x2faf080"}    # 50M gas: minutes of py-evm
GWEI = 10**9
LOOPER = bytes.fromhex("11" * 20)        # genesis code: the loop
# SSTORE(0, 1), then call LOOPER: a write below a loop that never returns.
WRITER = bytes.fromhex("22" * 20)
WRITER_CODE = bytes.fromhex("6001600055" + "6000600060006000600073" + "11" * 20 + "5af1")
# CALL itself, 64 deep, again and again: recursion without a backward jump in any frame.
RECURSE = bytes.fromhex("33" * 20)
RECURSE_CODE = bytes.fromhex(("6000600060006000600030" "5af150") * 200)


def rpc(url: str, method: str, *params, timeout: float = 60) -> dict:
    return requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                    "params": list(params)}, timeout=timeout).json()


def timed(fn, *args) -> tuple[float, object]:
    started = time.monotonic()
    value = fn(*args)
    return time.monotonic() - started, value


def transfer(account, nonce: int, chain_id: int = 1337) -> str:
    signed = account.sign_transaction({"chainId": chain_id, "nonce": nonce, "to": "0x" + "22" * 20,
                                       "value": 1, "gas": 21_000, "maxFeePerGas": 10 * GWEI,
                                       "maxPriorityFeePerGas": GWEI, "type": 2})
    return "0x" + bytes(signed.raw_transaction).hex()


# -- the EVM timeout and the lanes ---------------------------------------------------------

def test_ten_infinite_loop_calls_time_out_while_the_node_keeps_serving(start_azora, dev_accounts):
    """The issue's load: ten concurrent 50M-gas loops. Each ends within its 5 s timeout with
    geth's error; meanwhile eth_blockNumber answers within 1 s and a transfer is mined
    within 3 s."""
    node = start_azora("dev")
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        loops = [pool.submit(timed, rpc, node.url, "eth_call", LOOP_CALL, "latest") for _ in range(10)]
        time.sleep(0.5)   # the loops are running
        reads = []
        for _ in range(5):
            reads.append(timed(rpc, node.url, "eth_blockNumber")[0])
            time.sleep(0.1)
        sent = time.monotonic()
        tx_hash = rpc(node.url, "eth_sendRawTransaction", transfer(dev_accounts[3], 0))["result"]
        receipt = None
        while receipt is None and time.monotonic() - sent < 10:
            receipt = rpc(node.url, "eth_getTransactionReceipt", tx_hash)["result"]
        mined_after = time.monotonic() - sent
        answers = [future.result() for future in loops]
    assert max(reads) < 1.0, reads
    assert receipt is not None and mined_after < 3.0, mined_after
    for elapsed, answer in answers:
        assert answer["error"] == {"code": -32000, "message": "execution aborted (timeout = 5s)"}, answer
        assert elapsed < 5.0 + 3.0, elapsed


# -- the kernel's executor under its limits (a real chain in a tmp LevelDB) ----------------

@pytest.fixture
def chain(tmp_path, dev_accounts):
    alloc = {a.address: {"balance": hex(10**24)} for a in dev_accounts[:2]}
    alloc.update({"0x" + LOOPER.hex(): {"code": LOOP}, "0x" + WRITER.hex(): {"code": "0x" + WRITER_CODE.hex()},
                  "0x" + RECURSE.hex(): {"code": "0x" + RECURSE_CODE.hex()}})
    genesis = Genesis.from_json({"config": {"chainId": 1337}, "alloc": alloc, "timestamp": "0x1",
                                 "azora": {"oracles": {"members": [dev_accounts[9].address], "quorum": 1}}})
    db = LevelDB(tmp_path / "db")
    yield Chain(db, genesis)
    db.close()


def ends_within(seconds: float, fn, *args):
    """fn(*args)'s exception, checking it came within ``seconds``.

    The bounds are loose on purpose (the suite runs two workers on two cores): unbounded, the
    loop runs ~10 s and the recursion ~2 min, so a missing timeout still fails them.
    """
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        fn(*args)
    assert time.monotonic() - started < seconds
    return caught.value


@pytest.mark.parametrize("target", [LOOPER, WRITER, RECURSE], ids=["loop", "loop-below-a-call", "recursion"])
def test_a_call_that_would_run_for_minutes_stops_at_its_timeout(chain, target):
    executor = CallExecutor(chain, CallLimits(timeout=0.3))
    error = ends_within(5.0, executor.call, chain.head, CallMessage(to=target, gas=50_000_000))
    assert isinstance(error, ExecutionTimeout)
    assert str(error) == "execution aborted (timeout = 300ms)"


def test_a_timed_out_call_leaves_the_state_as_it_was_and_the_next_call_runs(chain):
    executor = CallExecutor(chain, CallLimits(timeout=0.2))
    ends_within(5.0, executor.call, chain.head, CallMessage(to=WRITER, gas=50_000_000))
    assert chain.state_at(chain.head).get_storage(WRITER, 0) == 0
    assert executor.call(chain.head, CallMessage(to=b"\x44" * 20)) == b""


def test_estimates_and_access_lists_stop_at_the_timeout_too(chain):
    executor = CallExecutor(chain, CallLimits(timeout=0.3, gas_cap=0))
    message = CallMessage(to=LOOPER)
    assert isinstance(ends_within(5.0, executor.estimate_gas, chain.head, message), ExecutionTimeout)
    assert isinstance(ends_within(5.0, executor.create_access_list, chain.head, message), ExecutionTimeout)


def test_the_earliest_deadline_wins_and_a_call_past_it_does_not_start(chain):
    executor = CallExecutor(chain, CallLimits(timeout=60))
    with execution_deadline(0.2):
        error = ends_within(5.0, executor.call, chain.head, CallMessage(to=LOOPER, gas=50_000_000))
    assert str(error) == "execution aborted (timeout = 200ms)"
    with execution_deadline(0.01, started=time.monotonic() - 1):   # waited out in a queue
        error = ends_within(2.0, executor.call, chain.head, CallMessage(to=b"\x44" * 20))
    assert isinstance(error, ExecutionTimeout)


def test_the_gas_cap_bounds_every_execution(chain):
    executor = CallExecutor(chain, CallLimits(timeout=0, gas_cap=200_000))
    error = ends_within(5, executor.call, chain.head, CallMessage(to=LOOPER, gas=50_000_000))
    assert isinstance(error, ExecutionFailed) and str(error) == "out of gas"
    assert executor.create_access_list(chain.head, CallMessage(to=LOOPER)).gas_used == 200_000
    error = ends_within(5, executor.estimate_gas, chain.head, CallMessage(to=LOOPER))
    assert str(error) == "gas required exceeds allowance (200000)"


def test_straight_line_calls_pay_nothing_for_the_deadline(chain):
    executor = CallExecutor(chain, CallLimits(timeout=5))
    assert executor.estimate_gas(chain.head, CallMessage(to=b"\x44" * 20)) == 21_000


@pytest.mark.parametrize("seconds,text", [(5, "5s"), (0.5, "500ms"), (1.5, "1.5s"), (90, "1m30s"), (0, "0s")])
def test_durations_print_as_geth_prints_them(seconds, text):
    assert go_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5x", "-1", "s", "1.2.3s", ""])
def test_invalid_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_a_config_file_sets_the_rpc_limits(tmp_path):
    path = tmp_path / "node.yaml"
    path.write_text("datadir: data\nrpc:\n  evm_timeout: 2s\n  gas_cap: 1000000\n  logs_max_range: 50\n")
    limits = NodeConfig.load(path).rpc_limits
    assert limits == RpcLimits(evm_timeout=2.0, gas_cap=1_000_000, logs_max_range=50)
    assert NodeConfig.load(path).rpc_limits.call_limits == CallLimits(2.0, 1_000_000)
    path.write_text("datadir: data\nrpc:\n  gas_cap: -1\n")
    with pytest.raises(ConfigError, match="negative"):
        NodeConfig.load(path)
    path.write_text("datadir: data\nrpc:\n  evmtimeout: 2s\n")
    with pytest.raises(ConfigError, match="unknown rpc settings: evmtimeout"):
        NodeConfig.load(path)


def test_the_evmtimeout_and_gascap_flags_set_a_running_node(start_azora):
    node = start_azora("dev", "--rpc.evmtimeout", "700ms", "--rpc.gascap", "100000")
    elapsed, answer = timed(rpc, node.url, "eth_call", {"data": LOOP, "gas": hex(10**15)}, "latest")
    assert answer["error"] == {"code": -32000, "message": "out of gas"}   # 100k gas: over at once
    node_slow = start_azora("dev", "--rpc.evmtimeout", "700ms")
    elapsed, answer = timed(rpc, node_slow.url, "eth_call", LOOP_CALL, "latest")
    assert answer["error"] == {"code": -32000, "message": "execution aborted (timeout = 700ms)"}
    assert elapsed < 2.0


def test_each_call_of_a_batch_has_its_own_evm_timeout(start_azora):
    """geth's rpc.evmtimeout is per call: a batch whose first call runs out its time does not
    time out the calls after it (ethers and multicall-style clients batch their eth_calls)."""
    node = start_azora("dev", "--rpc.evmtimeout", "700ms")
    body = [{"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [LOOP_CALL, "latest"]},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_call", "params": [{"data": "0x600160005260206000f3"}, "latest"]},
            {"jsonrpc": "2.0", "id": 3, "method": "eth_blockNumber", "params": []}]
    elapsed, answers = timed(lambda: requests.post(node.url, json=body, timeout=60).json())
    by_id = {answer["id"]: answer for answer in answers}
    assert by_id[1]["error"] == {"code": -32000, "message": "execution aborted (timeout = 700ms)"}
    assert by_id[2]["result"] == "0x" + "00" * 31 + "01"
    assert by_id[3]["result"].startswith("0x")
    assert elapsed < 3.0


# -- eth_getLogs, filters, subscriptions ---------------------------------------------------

EMIT_ON_CREATE = bytes.fromhex("60006000a0")   # initcode: LOG0 of nothing, deploys no code


def emitting_creation(account, nonce: int) -> str:
    signed = account.sign_transaction({"chainId": 1337, "nonce": nonce, "value": 0, "gas": 60_000,
                                       "data": EMIT_ON_CREATE, "maxFeePerGas": 10 * GWEI,
                                       "maxPriorityFeePerGas": GWEI, "type": 2})
    return "0x" + bytes(signed.raw_transaction).hex()


def test_invalid_log_queries_over_the_limits_name_the_limit(start_azora, dev_accounts):
    node = start_azora("dev", "--rpc.logs.maxrange", "5", "--rpc.logs.maxresults", "3")
    blocks = []
    for nonce in range(4):   # one log per block
        tx_hash = rpc(node.url, "eth_sendRawTransaction", emitting_creation(dev_accounts[4], nonce))["result"]
        blocks.append(int(node.wait_receipt(tx_hash)["blockNumber"], 16))
    assert blocks == list(range(blocks[0], blocks[0] + 4))
    assert "error" not in rpc(node.url, "evm_mine", {"blocks": "0x6"})
    wide = rpc(node.url, "eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest"})
    assert wide["error"] == {"code": -32602, "message": "query exceeds max block range 5"}
    first, last = blocks[0], blocks[-1]
    many = rpc(node.url, "eth_getLogs", {"fromBlock": hex(first), "toBlock": hex(last)})
    assert many["error"] == {"code": -32602, "message": f"query exceeds max results 3, retry with the "
                                                        f"range {first}-{first + 2}"}
    fitting = rpc(node.url, "eth_getLogs", {"fromBlock": hex(first), "toBlock": hex(first + 2)})
    assert len(fitting["result"]) == 3
    block_filter = rpc(node.url, "eth_newFilter", {"fromBlock": hex(first), "toBlock": hex(last)})["result"]
    assert rpc(node.url, "eth_getFilterLogs", block_filter)["error"]["code"] == -32602
    too_many = rpc(node.url, "eth_getLogs", {"address": ["0x" + "11" * 20] * 1001})
    assert too_many["error"] == {"code": -32602, "message": "exceed max addresses or topics per search position"}


def test_invalid_filters_beyond_the_limit_per_client(start_azora):
    node = start_azora("dev", "--rpc.filters.max", "2")
    ids = [rpc(node.url, "eth_newBlockFilter")["result"] for _ in range(2)]
    refused = rpc(node.url, "eth_newPendingTransactionFilter")
    assert refused["error"] == {"code": -32005, "message": "limit exceeded: too many filters (max 2 per client)"}
    assert rpc(node.url, "eth_uninstallFilter", ids[0])["result"] is True
    assert rpc(node.url, "eth_newFilter", {})["result"].startswith("0x")


def test_invalid_subscriptions_beyond_the_limit_per_connection(start_azora):
    import json
    from websockets.sync.client import connect

    node = start_azora("dev", "--rpc.subscriptions.max", "2")

    def subscribe(ws) -> dict:
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}))
        return json.loads(ws.recv(timeout=10))

    with connect(node.ws_url) as first, connect(node.ws_url) as second:
        assert all("result" in subscribe(first) for _ in range(2))
        assert subscribe(first)["error"] == {
            "code": -32005, "message": "limit exceeded: too many subscriptions (max 2 per connection)"}
        assert "result" in subscribe(second)
