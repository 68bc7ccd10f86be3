"""``azora dev`` under abuse: restarts, kill -9 mid-load, nonce games, bad input, signals.

Every test drives real processes over HTTP JSON-RPC.
"""
from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import pytest
import requests
import vyper
from eth_abi import encode
from eth_utils import keccak, to_checksum_address

CHAIN_ID = 1337
GWEI = 10**9
STORE = (Path(__file__).parent / "contracts" / "Store.vy").read_text()
STORE_SELECTOR = keccak(text="store(uint256,uint256)")[:4]


def rpc(node, method: str, *params):
    """One call; returns the whole response object (result or error)."""
    return requests.post(node.url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                         "params": list(params)}, timeout=60).json()


def result(node, method: str, *params):
    response = rpc(node, method, *params)
    assert "error" not in response, response
    return response["result"]


def batch(node, calls: list[tuple[str, list]]) -> list[dict]:
    body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    answers = requests.post(node.url, json=body, timeout=120).json()
    assert isinstance(answers, list), answers   # a batch refused whole answers one error object
    return sorted(answers, key=lambda a: a["id"])


def sign(account, nonce: int, *, to: str | None = "0x" + "22" * 20, data: bytes = b"",
         value: int = 1, gas: int = 21_000, fee: int = 10 * GWEI, tip: int = GWEI,
         chain_id: int = CHAIN_ID) -> str:
    fields = {"chainId": chain_id, "nonce": nonce, "value": value, "gas": gas, "data": data,
              "maxFeePerGas": fee, "maxPriorityFeePerGas": tip, "type": 2}
    if to is not None:
        fields["to"] = to_checksum_address(to)
    return "0x" + bytes(account.sign_transaction(fields).raw_transaction).hex()


def nonce_of(node, account, tag: str = "latest") -> int:
    return int(result(node, "eth_getTransactionCount", account.address, tag), 16)


def deploy_store(node, account) -> str:
    bytecode = vyper.compile_code(STORE, output_formats=["bytecode"])["bytecode"]
    raw = sign(account, nonce_of(node, account), to=None, data=bytes.fromhex(bytecode[2:]),
               gas=1_000_000, value=0)
    receipt = node.wait_receipt(result(node, "eth_sendRawTransaction", raw))
    assert receipt["status"] == "0x1"
    return receipt["contractAddress"]


def store_call(key: int, value: int) -> bytes:
    return STORE_SELECTOR + encode(["uint256", "uint256"], [key, value])


def check_chain_consistent(node) -> int:
    """Every block 1..head has its receipts and tx index entries; logs agree with receipts.

    Returns the number of transactions found.
    """
    head = int(result(node, "eth_blockNumber"), 16)
    found, receipt_logs = 0, []
    for number in range(1, head + 1):
        block = result(node, "eth_getBlockByNumber", hex(number), False)
        assert block is not None and int(block["number"], 16) == number
        receipts = result(node, "eth_getBlockReceipts", hex(number))
        assert [r["transactionHash"] for r in receipts] == block["transactions"]
        calls = [("eth_getTransactionByHash", [h]) for h in block["transactions"]]
        calls += [("eth_getTransactionReceipt", [h]) for h in block["transactions"]]
        # a loaded producer may put 500+ transactions in a block: stay under the 1,000-call batch limit
        answers = [answer for start in range(0, len(calls), 500) for answer in batch(node, calls[start:start + 500])]
        for answer in answers:
            assert answer.get("result") is not None, answer
            assert answer["result"]["blockHash"] == block["hash"]
            assert int(answer["result"]["blockNumber"], 16) == number
        for receipt in receipts:
            receipt_logs += [(log["transactionHash"], log["logIndex"]) for log in receipt["logs"]]
        found += len(block["transactions"])
    logs = result(node, "eth_getLogs", {"fromBlock": "0x0", "toBlock": hex(head)})
    assert [(log["transactionHash"], log["logIndex"]) for log in logs] == receipt_logs
    return found


# -- persistence ---------------------------------------------------------------------------

def test_chain_persists_across_a_clean_restart(start_azora, tmp_path, dev_accounts):
    datadir = str(tmp_path / "data")
    node = start_azora("dev", "--datadir", datadir)
    store = deploy_store(node, dev_accounts[0])
    hashes = [result(node, "eth_sendRawTransaction", sign(dev_accounts[1], n, value=1000 + n))
              for n in range(5)]
    hashes.append(result(node, "eth_sendRawTransaction", sign(
        dev_accounts[2], 0, to=store, data=store_call(1, 99), gas=200_000, value=0)))
    receipts = [node.wait_receipt(h) for h in hashes]
    head = result(node, "eth_getBlockByNumber", "latest", False)
    balances = [result(node, "eth_getBalance", a.address, "latest") for a in dev_accounts[:3]]
    assert node.stop() == 0

    again = start_azora("dev", "--datadir", datadir)
    assert result(again, "eth_getBlockByNumber", "latest", False)["hash"] == head["hash"]
    assert [result(again, "eth_getBalance", a.address, "latest") for a in dev_accounts[:3]] == balances
    assert [result(again, "eth_getTransactionReceipt", h) for h in hashes] == receipts
    assert result(again, "eth_getCode", store, "latest") != "0x"
    # ... and it keeps building on the same chain.
    receipt = again.wait_receipt(result(again, "eth_sendRawTransaction", sign(dev_accounts[1], 5)))
    assert int(receipt["blockNumber"], 16) == int(head["number"], 16) + 1
    assert result(again, "eth_getBlockByNumber", receipt["blockNumber"], False)["parentHash"] == head["hash"]


@pytest.mark.slow
def test_kill_9_during_a_1000_transaction_load_leaves_a_consistent_chain(start_azora, tmp_path,
                                                                        dev_accounts):
    datadir = str(tmp_path / "data")
    node = start_azora("dev", "--datadir", datadir)
    store = deploy_store(node, dev_accounts[0])
    senders = dev_accounts[1:9]
    raws = []
    for n in range(125):   # 8 senders x 125 = 1,000: transfers and log-emitting calls
        for i, account in enumerate(senders):
            if i % 2:
                raws.append(sign(account, n, to=store, data=store_call(n, i + 1), gas=100_000, value=0))
            else:
                raws.append(sign(account, n))
    errors: list[BaseException] = []
    sent = [0]

    def send_all() -> None:
        try:
            for start in range(0, len(raws), 40):
                chunk = raws[start:start + 40]
                batch(node, [("eth_sendRawTransaction", [raw]) for raw in chunk])
                sent[0] += len(chunk)
        except (requests.RequestException, ValueError) as exc:   # the node died under us
            errors.append(exc)

    sender = threading.Thread(target=send_all, daemon=True)
    sender.start()
    deadline, seen_head, mined_before = time.time() + 60, 0, 0
    # Kill mid-load: half sent, blocks being written, over a quarter already mined.
    while (sent[0] < len(raws) // 2 or seen_head < 4 or mined_before <= len(raws) // 4) \
            and time.time() < deadline:
        seen_head = int(result(node, "eth_blockNumber"), 16)
        mined_before = sum(nonce_of(node, a) for a in senders)
        time.sleep(0.01)
    node.kill()   # SIGKILL while the producer keeps writing blocks from the incoming load
    sender.join(30)

    again = start_azora("dev", "--datadir", datadir)
    head = int(result(again, "eth_blockNumber"), 16)
    assert head >= max(seen_head, 4)
    mined = check_chain_consistent(again)
    assert len(raws) // 4 < mined <= 1 + len(raws)
    # Nonces on chain match the mined transactions: no half-written block.
    on_chain = sum(nonce_of(again, a) for a in senders) + nonce_of(again, dev_accounts[0])
    assert on_chain == mined
    # The survivor accepts the rest of the load and mines it.
    rest = [raw for raw in raws if result(again, "eth_getTransactionByHash",
                                          "0x" + keccak(hexstr=raw).hex()) is None]
    answers = batch(again, [("eth_sendRawTransaction", [raw]) for raw in rest]) if rest else []
    assert all("result" in a for a in answers), [a for a in answers if "error" in a][:3]
    if rest:
        again.wait_receipt(answers[-1]["result"], timeout=60)
        again.wait_receipt(answers[0]["result"], timeout=60)


# -- nonce gaps and replacement ------------------------------------------------------------

def test_nonce_gap_waits_and_replacement_needs_a_fee_bump(dev_node, dev_accounts):
    account = dev_accounts[5]
    nonce = nonce_of(dev_node, account)
    gapped = result(dev_node, "eth_sendRawTransaction", sign(account, nonce + 1, fee=10 * GWEI, tip=GWEI))
    time.sleep(0.3)
    assert result(dev_node, "eth_getTransactionReceipt", gapped) is None
    too_cheap = rpc(dev_node, "eth_sendRawTransaction", sign(account, nonce + 1, fee=10 * GWEI,
                                                            tip=GWEI, value=2))
    assert too_cheap["error"] == {"code": -32000, "message": "replacement transaction underpriced"}
    bumped = result(dev_node, "eth_sendRawTransaction", sign(account, nonce + 1, fee=11 * GWEI,
                                                            tip=GWEI * 11 // 10, value=3))
    filler = result(dev_node, "eth_sendRawTransaction", sign(account, nonce))
    assert dev_node.wait_receipt(filler)["status"] == "0x1"
    receipt = dev_node.wait_receipt(bumped)
    assert receipt["status"] == "0x1"
    assert result(dev_node, "eth_getTransactionByHash", gapped) is None
    assert nonce_of(dev_node, account) == nonce + 2
    known = rpc(dev_node, "eth_sendRawTransaction", sign(account, nonce))
    assert known["error"]["code"] == -32000 and known["error"]["message"].startswith("nonce too low")


# -- bad input -----------------------------------------------------------------------------

def post_raw(node, body: bytes | str) -> requests.Response:
    return requests.post(node.url, data=body, headers={"Content-Type": "application/json"},
                         timeout=30)


def still_up(node) -> None:
    assert result(node, "eth_chainId") == hex(CHAIN_ID)


@pytest.mark.parametrize("body", [b"{", b'{"jsonrpc": "2.0", "method": ', b"\xff\xfe", b"[1,"])
def test_invalid_malformed_json_is_a_parse_error(dev_node, body):
    answer = post_raw(dev_node, body).json()
    assert answer["error"]["code"] == -32700 and answer["id"] is None
    still_up(dev_node)


@pytest.mark.parametrize("call", [
    {"jsonrpc": "2.0", "id": 7, "params": []},                      # no method
    {"jsonrpc": "1.0", "id": 7, "method": "eth_chainId"},           # wrong version
    {"jsonrpc": "2.0", "id": 7, "method": 5},                       # method not a string
    42, "eth_chainId", None,
])
def test_invalid_request_objects(dev_node, call):
    answer = post_raw(dev_node, json.dumps(call)).json()
    assert answer["error"]["code"] == -32600
    still_up(dev_node)


def test_invalid_unknown_method(dev_node):
    answer = rpc(dev_node, "eth_noSuchMethod")
    assert answer["error"] == {"code": -32601,
                               "message": "the method eth_noSuchMethod does not exist/is not available"}


@pytest.mark.parametrize("method,params", [
    ("eth_getBalance", ["0x1234", "latest"]),                              # short address
    ("eth_getBalance", ["0x" + "zz" * 20, "latest"]),                      # bad hex
    ("eth_getBalance", ["0x" + "11" * 20, "latest", "extra"]),             # too many args
    ("eth_getBalance", ["0x" + "11" * 20, "newest"]),                      # unknown block tag
    ("eth_getBlockByNumber", ["0xzz", False]),
    ("eth_getBlockByHash", ["0x1234", False]),                             # short hash
    ("eth_getTransactionByHash", ["0x" + "ab" * 33]),                      # long hash
    ("eth_getStorageAt", ["0x" + "11" * 20, "0x01", "pending", 1]),
    ("eth_call", [{"to": "0xnothex"}, "latest"]),
    ("eth_getLogs", [{"fromBlock": "earliestest"}]),
    ("eth_getBalance", []),                                                # missing argument
    ("eth_sendRawTransaction", ["0xzz"]),
    ("eth_sendRawTransaction", ["0xc0ffee"]),                              # not a transaction
])
def test_invalid_params(dev_node, method, params):
    answer = rpc(dev_node, method, *params)
    assert answer["error"]["code"] == -32602, answer
    still_up(dev_node)


def test_invalid_oversized_request(dev_node):
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":["' + b"a" * (6 << 20) + b'"]}'
    response = post_raw(dev_node, body)
    assert response.status_code == 413
    still_up(dev_node)


def test_invalid_oversized_transaction(dev_node, dev_accounts):
    raw = sign(dev_accounts[6], 0, data=b"\1" * (129 * 1024), gas=29_000_000)
    answer = rpc(dev_node, "eth_sendRawTransaction", raw)
    assert answer["error"]["code"] == -32000
    assert answer["error"]["message"].startswith("oversized data")


def test_invalid_signature_is_invalid_sender(dev_node, dev_accounts):
    from eth.vm.forks.prague.transactions import PragueTransactionBuilder
    import rlp
    tx = PragueTransactionBuilder.decode(bytes.fromhex(sign(dev_accounts[6], 0)[2:]))
    forged = "0x" + tx.copy(r=0).encode().hex()
    answer = rpc(dev_node, "eth_sendRawTransaction", forged)
    assert answer["error"]["code"] == -32000
    assert answer["error"]["message"].startswith("invalid sender")
    assert rlp is not None
    still_up(dev_node)


def test_invalid_chain_id(dev_node, dev_accounts):
    answer = rpc(dev_node, "eth_sendRawTransaction", sign(dev_accounts[6], 0, chain_id=1))
    assert answer["error"]["code"] == -32000
    assert answer["error"]["message"].startswith("invalid chain id for signer")


def test_invalid_empty_batch(dev_node):
    answer = post_raw(dev_node, b"[]").json()
    assert answer["error"]["code"] == -32600 and answer["id"] is None


def test_batch_of_good_and_bad_calls_answers_each(dev_node):
    body = [{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_nope", "params": []},
            {"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": ["0x12", "latest"]},
            42,
            {"jsonrpc": "2.0", "method": "eth_chainId", "params": []},      # notification
            {"jsonrpc": "2.0", "id": 4, "method": "eth_blockNumber", "params": []}]
    answers = requests.post(dev_node.url, json=body, timeout=30).json()
    assert len(answers) == 5
    by_id = {a["id"]: a for a in answers if a["id"] is not None}
    assert by_id[1]["result"] == hex(CHAIN_ID)
    assert by_id[2]["error"]["code"] == -32601
    assert by_id[3]["error"]["code"] == -32602
    assert int(by_id[4]["result"], 16) >= 0
    assert [a["error"]["code"] for a in answers if a["id"] is None] == [-32600]


def test_invalid_entry_in_a_batch_of_raw_transactions_is_answered_alone(dev_node):
    body = [{"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": ["0x00"]}, 42]
    answers = requests.post(dev_node.url, json=body, timeout=30).json()
    assert answers[0]["id"] == 1 and answers[0]["error"]["code"] in (-32000, -32602)
    assert answers[1] == {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "invalid request"}}
    still_up(dev_node)


def test_invalid_method_that_is_not_a_string_in_a_batch_is_answered_alone(dev_node):
    """A method name that cannot key the method table (a list) made the batch an HTTP 500."""
    body = [{"jsonrpc": "2.0", "id": 1, "method": ["eth_chainId"], "params": []},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_chainId", "params": []}]
    answers = requests.post(dev_node.url, json=body, timeout=30).json()
    assert answers == [{"jsonrpc": "2.0", "id": 1, "error": {"code": -32600, "message": "invalid request"}},
                       {"jsonrpc": "2.0", "id": 2, "result": hex(CHAIN_ID)}]
    still_up(dev_node)


# -- signals -------------------------------------------------------------------------------

@pytest.mark.parametrize("signum,codes", [(signal.SIGINT, (0, 130)), (signal.SIGTERM, (0,))])
def test_signal_shuts_down_cleanly_and_the_datadir_reopens(start_azora, tmp_path, dev_accounts,
                                                           signum, codes):
    datadir = str(tmp_path / "data")
    node = start_azora("dev", "--datadir", datadir)
    node.wait_receipt(result(node, "eth_sendRawTransaction", sign(dev_accounts[7], 0)))
    head = result(node, "eth_getBlockByNumber", "latest", False)["hash"]
    node.proc.send_signal(signum)
    assert node.proc.wait(20) in codes
    assert "Traceback" not in node.log()
    again = start_azora("dev", "--datadir", datadir)
    assert result(again, "eth_getBlockByNumber", "latest", False)["hash"] == head


# -- fee caps below the base fee -----------------------------------------------------------

def test_invalid_fee_cap_below_the_base_fee_is_refused_by_dev_and_mines_nothing(start_azora, dev_accounts):
    """It was accepted, and automine then made ~200 empty blocks a second waiting for it."""
    node = start_azora("dev")
    head = int(result(node, "eth_blockNumber"), 16)
    answer = rpc(node, "eth_sendRawTransaction", sign(dev_accounts[8], 0, fee=1, tip=1))
    assert answer["error"]["code"] == -32000
    assert answer["error"]["message"].startswith("max fee per gas less than block base fee: ")
    assert "maxFeePerGas: 1, baseFee: " in answer["error"]["message"]
    time.sleep(1.0)
    assert int(result(node, "eth_blockNumber"), 16) == head
    assert result(node, "txpool_status") == {"pending": "0x0", "queued": "0x0"}
    # The sender's next transaction at a payable fee goes through as usual.
    assert node.wait_receipt(result(node, "eth_sendRawTransaction", sign(dev_accounts[8], 0)))["status"] == "0x1"


def test_a_network_node_keeps_a_fee_cap_below_the_base_fee_and_never_selects_it(tmp_path, dev_accounts):
    """geth's rule away from dev: kept (it may become payable), but no block takes it."""
    from eth.vm.forks.prague.transactions import PragueTransactionBuilder
    from kernel.chain import Chain
    from kernel.db import LevelDB
    from kernel.genesis import Genesis
    from node.backend import Backend

    genesis = Genesis.from_json({"config": {"chainId": CHAIN_ID}, "timestamp": "0x1", "baseFeePerGas": hex(GWEI),
                                 "alloc": {dev_accounts[8].address: {"balance": hex(10**21)}}})
    db = LevelDB(tmp_path / "db")
    backend = Backend(Chain(db, genesis))
    try:
        raw = bytes.fromhex(sign(dev_accounts[8], 0, fee=1, tip=1)[2:])
        tx = PragueTransactionBuilder.decode(raw)
        backend.submit(tx, len(raw))
        assert backend.pool.get(tx.hash) is not None
        assert backend.pool.select(backend.next_base_fee()) == []
    finally:
        backend.close()


DEV0 = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
TO = "0x" + "11" * 20
U64, U256 = "0x1" + "0" * 16, "0x1" + "0" * 64     # one past uint64, one past an EVM word


@pytest.mark.parametrize("method,params,names", [
    # These were -32603 internal errors (and tracebacks in the log).
    ("eth_signTypedData_v4", [DEV0, "{not json"], "typed data is not JSON"),
    ("eth_signTypedData_v4", [DEV0, {"types": {}, "primaryType": "X", "domain": {}, "message": {}}], "primary type"),
    ("eth_signTypedData_v4", [DEV0, ["x"]], "typed data must be an object"),
    ("eth_call", [{"to": TO, "accessList": "x"}, "latest"], "accessList must be an array"),
    ("eth_call", [{"to": TO}, "latest", {TO: "x"}], "must be an object"),
    ("eth_call", [{"to": TO}, "latest", {TO: {"state": [1]}}], "slot"),
    ("eth_call", [{"to": TO}, "latest", {TO: {"balance": U256}}], "balance: hex number > 256 bits"),
    ("eth_call", [{"to": TO}, "latest", {TO: {"nonce": U64}}], "nonce: hex number > 64 bits"),
    ("eth_sendTransaction", [{"from": DEV0, "to": TO, "gas": "0x5208", "accessList": "zz"}], "accessList"),
    # Quantities that cannot fit their field: -32602, as geth's decoder answers.
    ("eth_call", [{"to": TO, "value": U256}, "latest"], "value: hex number > 256 bits"),
    ("eth_call", [{"to": TO, "gas": U64}, "latest"], "gas: hex number > 64 bits"),
    ("eth_estimateGas", [{"to": TO, "nonce": U64}], "nonce: hex number > 64 bits"),
    ("eth_sendTransaction", [{"from": DEV0, "to": TO, "maxFeePerGas": U256}], "hex number > 256 bits"),
    ("eth_getTransactionByBlockNumberAndIndex", ["latest", U64], "index: hex number > 64 bits"),
    ("eth_feeHistory", [U64, "latest", []], "blockCount: hex number > 64 bits"),
    # A quantity given as a list.
    ("eth_feeHistory", [["0x1"], "latest", []], "blockCount must be a hex quantity"),
    ("eth_getBlockByNumber", [["0x1"], False], "unknown block tag"),
])
def test_invalid_inputs_are_invalid_params_naming_the_problem(dev_node, method, params, names):
    answer = rpc(dev_node, method, *params)
    assert answer["error"]["code"] == -32602, answer
    assert names in answer["error"]["message"], answer
    still_up(dev_node)


# -- exits without interpreter noise -------------------------------------------------------

def test_sigterm_leaves_no_interpreter_noise_on_stderr(start_azora, dev_accounts):
    """'Error in sys.excepthook: ... Original exception was:' came on every SIGTERM: a
    LevelDB handle that py-evm's trie caches kept alive was freed during interpreter
    teardown, when plyvel can no longer run its destructor."""
    node = start_azora("dev")
    node.wait_receipt(result(node, "eth_sendRawTransaction", sign(dev_accounts[7], 0)))
    assert "error" in rpc(node, "eth_call", {"data": "0x5b600056", "gas": "0x10000"})   # runs code
    assert node.stop() == 0
    log = node.log_path.read_text(errors="replace")
    assert "sys.excepthook" not in log and "Original exception was" not in log, log[-2000:]


def test_a_failed_import_prints_one_clear_line(tmp_path, dev_accounts):
    """Three good blocks (executed: py-evm's trie caches fill), then a truncated one."""
    import subprocess
    import sys

    from eth.vm.forks.prague.transactions import PragueTransactionBuilder
    from kernel.chain import Chain
    from kernel.db import LevelDB
    from kernel.genesis import Genesis
    from node.chainio import export_chain

    document = {"config": {"chainId": CHAIN_ID}, "timestamp": "0x1",
                "alloc": {dev_accounts[1].address: {"balance": hex(10**21)}}}
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(document))
    db = LevelDB(tmp_path / "source")
    source = Chain(db, Genesis.from_json(document), check_seal=False)
    for nonce in range(3):
        tx = PragueTransactionBuilder.decode(bytes.fromhex(sign(dev_accounts[1], nonce)[2:]))
        source.build_block([tx], timestamp=source.head.timestamp + 1)
    chain_file = tmp_path / "chain.rlp"
    export_chain(source, chain_file, first=1)
    db.close()
    chain_file.write_bytes(chain_file.read_bytes() + b"\xf9\x01\x00" + b"\x00" * 10)
    done = subprocess.run([sys.executable, "-m", "node.cli", "import", "--no-seal-check", "--datadir",
                           str(tmp_path / "data"), "--genesis", str(genesis), str(chain_file)],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip() and " INFO " not in line]
    assert lines == ["error: import stopped at head #3: byte " + lines[0].split("byte ", 1)[-1]], done.stderr
    assert "truncated block" in lines[0]


def test_output_piped_into_a_reader_that_leaves_early_is_no_traceback(dev_node):
    """`azora courses --json | head` printed a BrokenPipeError traceback (here the reader is
    gone before azora writes, so every run hits the closed pipe)."""
    import subprocess
    import sys

    run = subprocess.run(["bash", "-o", "pipefail", "-c",
                          f'"{sys.executable}" -m node.cli courses --rpc {dev_node.url} --json | true'],
                         capture_output=True, text=True, timeout=120)
    assert "Traceback" not in run.stderr and run.stderr == "", run.stderr
