"""A geth-format test chain that walks through every fork imports and answers as recorded.

The chain is built with py-evm's own fork classes on a geth genesis whose config names every
key geth's test chains use: Homestead, the DAO fork (supported, with its extra data and the
drain of the DAO's accounts), every block-numbered fork to the merge at
``mergeNetsplitBlock``, then Shanghai, Cancun and Prague by time with a ``blobSchedule`` and
a ``depositContractAddress``. Each block carries transfers of the types its fork allows (blob
transactions from Cancun). ``azora import --no-seal-check`` of its RLP must reach the same
head, and ``azora serve`` must answer the requests recorded on the producer identically.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from eth.vm.forks.homestead.headers import dao_drain_list, dao_refund_contract

from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.forks import INFORMATIONAL_KEYS, FORK_KEYS, compute_fork_schedule
from kernel.genesis import Genesis
from node.backend import Backend
from node.chainio import export_chain
from node.context import NodeContext
from node.rpc.debug import DebugAPI
from node.rpc.eth import EthAPI

REPO = Path(__file__).resolve().parents[2]
CHAIN_ID = 3151908
DAO_BLOCK = 2
DAO_EXTRA = b"dao-hard-fork"
DRAINED = dao_drain_list[0]
REFUND = "0x" + dao_refund_contract.hex()
BLOCK_TIME = 12
CONFIG: dict[str, Any] = {
    "chainId": CHAIN_ID, "homesteadBlock": 1, "daoForkBlock": DAO_BLOCK, "daoForkSupport": True,
    "eip150Block": 3, "eip155Block": 4, "eip158Block": 4, "byzantiumBlock": 5, "constantinopleBlock": 6,
    "petersburgBlock": 6, "istanbulBlock": 7, "muirGlacierBlock": 7, "berlinBlock": 8, "londonBlock": 9,
    "arrowGlacierBlock": 9, "grayGlacierBlock": 10, "mergeNetsplitBlock": 11, "terminalTotalDifficulty": 0,
    "terminalTotalDifficultyPassed": True, "shanghaiTime": 12 * BLOCK_TIME, "cancunTime": 13 * BLOCK_TIME,
    "pragueTime": 14 * BLOCK_TIME, "depositContractAddress": "0x00000000219ab540356cbb839cbe05303d7705fa",
    "blobSchedule": {"cancun": {"target": 3, "max": 6, "baseFeeUpdateFraction": 3338477},
                     "prague": {"target": 6, "max": 9, "baseFeeUpdateFraction": 5007716}},
    "ethash": {},
}
LAST_BLOCK = 15
FORK_AT = {1: "homestead", 3: "tangerine-whistle", 4: "spurious-dragon", 5: "byzantium", 6: "petersburg",
           7: "muir-glacier", 8: "berlin", 9: "arrow-glacier", 10: "gray-glacier", 11: "paris", 12: "shanghai",
           13: "cancun", 14: "prague"}


def genesis_json(alice: str) -> dict[str, Any]:
    return {"config": CONFIG, "alloc": {alice: {"balance": hex(10**24)}, DRAINED: {"balance": "0x3e8"}},
            "nonce": "0x0", "timestamp": "0x0", "extraData": "0x", "gasLimit": "0x1c9c380",
            "difficulty": "0x20000", "mixHash": "0x" + "00" * 32, "coinbase": "0x" + "00" * 20}


def transactions_for(builder: Any, alice: Any, number: int, nonce: int) -> list[Any]:
    """A legacy transfer in every block; a 1559 one from London; a blob one from Cancun."""
    legacy = {"nonce": nonce, "to": "0x" + "11" * 20, "value": number, "gas": 21000, "gasPrice": 10**10}
    if number >= 4:
        legacy["chainId"] = CHAIN_ID          # EIP-155 from Spurious Dragon
    txs = [legacy]
    if number >= 9:
        txs.append({"chainId": CHAIN_ID, "nonce": nonce + 1, "to": "0x" + "22" * 20, "value": 1, "gas": 21000,
                    "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "type": 2})
    if number >= 13:
        txs.append({"chainId": CHAIN_ID, "nonce": nonce + 2, "to": "0x" + "33" * 20, "value": 1, "gas": 21000,
                    "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "type": 3,
                    "maxFeePerBlobGas": 10**9, "blobVersionedHashes": [b"\x01" + bytes([number]) * 31]})
    return [builder.decode(alice.sign_transaction(tx).raw_transaction) for tx in txs]


def recorded_requests(head: int) -> list[tuple[str, list[Any]]]:
    requests_: list[tuple[str, list[Any]]] = []
    for number in range(head + 1):
        requests_ += [("eth_getBlockByNumber", [hex(number), True]), ("eth_getBlockReceipts", [hex(number)])]
    requests_ += [("eth_getBalance", [DRAINED, hex(DAO_BLOCK - 1)]), ("eth_getBalance", [DRAINED, "latest"]),
                  ("eth_getBalance", [REFUND, "latest"]),
                  ("debug_traceBlockByNumber", [hex(DAO_BLOCK + 1), {"tracer": "callTracer"}]),
                  ("debug_traceBlockByNumber", [hex(LAST_BLOCK), {"tracer": "prestateTracer"}])]
    return requests_


def answer_in_process(eth: EthAPI, debug: DebugAPI, method: str, params: list[Any]) -> Any:
    namespace, name = method.split("_", 1)
    return getattr(eth if namespace == "eth" else debug, name)(*params)


def test_every_key_of_the_config_is_understood():
    assert set(CONFIG) <= FORK_KEYS | INFORMATIONAL_KEYS
    schedule = compute_fork_schedule(CONFIG)
    for number, fork in FORK_AT.items():
        vm_class = schedule.vm_class_at(number, number * BLOCK_TIME)
        assert vm_class.fork == fork, (number, vm_class.fork)


def test_invalid_config_naming_a_fork_this_node_cannot_run():
    with pytest.raises(ValueError, match="osakaTime"):
        compute_fork_schedule({**CONFIG, "osakaTime": 15 * BLOCK_TIME})


def test_a_chain_through_every_fork_imports_and_answers_as_recorded(tmp_path, dev_accounts, start_azora):
    alice = dev_accounts[0]
    genesis_path = tmp_path / "genesis.json"
    genesis_path.write_text(json.dumps(genesis_json(alice.address)))
    db = LevelDB(tmp_path / "producer")
    producer = Chain(db, Genesis.from_file(genesis_path), check_seal=False)
    nonce = 0
    for number in range(1, LAST_BLOCK + 1):
        timestamp = number * BLOCK_TIME
        builder = producer.vm_class_for(number, timestamp).get_transaction_builder()
        txs = transactions_for(builder, alice, number, nonce)
        extra = DAO_EXTRA if DAO_BLOCK <= number < DAO_BLOCK + 10 else b""
        # London's first block doubles the gas limit (its target is half the limit), as geth's.
        gas_limit = producer.head.gas_limit * (2 if number == CONFIG["londonBlock"] else 1)
        result = producer.build_block(txs, timestamp=timestamp, coinbase=b"\x42" * 20, extra_data=extra,
                                      gas_limit=gas_limit)
        assert len(result.block.transactions) == len(txs), (number, result.rejected)
        nonce += len(txs)
    backend = Backend(producer)
    eth, debug = EthAPI(backend, NodeContext()), DebugAPI(backend)
    recorded = [(method, params, answer_in_process(eth, debug, method, params))
                for method, params in recorded_requests(LAST_BLOCK)]
    head = producer.head
    export_chain(producer, tmp_path / "chain.rlp")
    backend.decoder.close()
    db.close()

    # What the recording says about the forks it walked through.
    answers = {json.dumps([m, p]): a for m, p, a in recorded}
    assert answers[json.dumps(["eth_getBalance", [DRAINED, hex(DAO_BLOCK - 1)]])] == "0x3e8"
    assert answers[json.dumps(["eth_getBalance", [DRAINED, "latest"]])] == "0x0"
    assert answers[json.dumps(["eth_getBalance", [REFUND, "latest"]])] == "0x3e8"
    pre_byzantium = answers[json.dumps(["eth_getBlockReceipts", ["0x4"]])][0]
    assert "root" in pre_byzantium and "status" not in pre_byzantium
    assert answers[json.dumps(["eth_getBlockReceipts", ["0x5"]])][0]["status"] == "0x1"
    blob_receipt = answers[json.dumps(["eth_getBlockReceipts", [hex(LAST_BLOCK)]])][2]
    assert blob_receipt["blobGasUsed"] == hex(2**17) and "blobGasPrice" in blob_receipt
    paris = answers[json.dumps(["eth_getBlockByNumber", ["0xb", True]])]
    assert paris["difficulty"] == "0x0" and int(answers[json.dumps(["eth_getBlockByNumber", ["0xa", True]])]
                                                ["difficulty"], 16) > 0
    assert "withdrawalsRoot" in answers[json.dumps(["eth_getBlockByNumber", ["0xc", True]])]
    assert "requestsHash" in answers[json.dumps(["eth_getBlockByNumber", [hex(LAST_BLOCK), True]])]

    imported = subprocess.run([sys.executable, "-m", "node.cli", "import", "--datadir", str(tmp_path / "copy"),
                               "--genesis", str(genesis_path), "--no-seal-check", str(tmp_path / "chain.rlp")],
                              cwd=REPO, capture_output=True, text=True, timeout=300)
    assert imported.returncode == 0, imported.stderr
    assert f"head #{LAST_BLOCK} 0x{head.hash.hex()}" in imported.stdout
    node = start_azora("serve", "--datadir", str(tmp_path / "copy"))
    for method, params, answer in recorded:
        reply = requests.post(node.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                              timeout=60).json()
        assert reply.get("result") == answer, (method, params, reply.get("error"))
