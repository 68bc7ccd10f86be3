"""``azora export`` / ``azora import`` round trips through real processes and RLP files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests
import vyper
from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from node.chainio import export_chain, iter_rlp_items
from eth.vm.forks.prague.transactions import PragueTransactionBuilder

REPO = Path(__file__).resolve().parents[2]
AZORA = [sys.executable, "-m", "node.cli"]
CHAIN_ID = 1337
GWEI = 10**9
STORE = (Path(__file__).parent / "contracts" / "Store.vy").read_text()


def azora(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([*AZORA, *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def result(node, method: str, *params):
    answer = requests.post(node.url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                           "params": list(params)}, timeout=30).json()
    assert "error" not in answer, answer
    return answer["result"]


def sign(account, nonce: int, *, to: str | None = "0x" + "33" * 20, data: bytes = b"",
         value: int = 1, gas: int = 21_000, chain_id: int = CHAIN_ID) -> bytes:
    fields = {"chainId": chain_id, "nonce": nonce, "value": value, "gas": gas, "data": data,
              "maxFeePerGas": 10 * GWEI, "maxPriorityFeePerGas": GWEI, "type": 2}
    if to is not None:
        fields["to"] = to_checksum_address(to)
    return bytes(account.sign_transaction(fields).raw_transaction)


def send_and_wait(node, raw: bytes) -> dict:
    return node.wait_receipt(result(node, "eth_sendRawTransaction", "0x" + raw.hex()))


def build_source(start_azora, datadir: Path, dev_accounts) -> int:
    node = start_azora("dev", "--datadir", str(datadir))
    bytecode = vyper.compile_code(STORE, output_formats=["bytecode"])["bytecode"]
    deployed = send_and_wait(node, sign(dev_accounts[0], 0, to=None, value=0, gas=1_000_000,
                                        data=bytes.fromhex(bytecode[2:])))
    store = deployed["contractAddress"]
    call = keccak(text="store(uint256,uint256)")[:4]
    for nonce in range(4):
        send_and_wait(node, sign(dev_accounts[1], nonce, value=10 + nonce))
        send_and_wait(node, sign(dev_accounts[2], nonce, to=store, value=0, gas=200_000,
                                 data=call + encode(["uint256", "uint256"], [nonce, nonce + 1])))
    head = int(result(node, "eth_blockNumber"), 16)
    assert node.stop() == 0
    return head


def snapshot(node, head: int) -> dict:
    """Everything a client sees of blocks 0..head: blocks, receipts and logs."""
    blocks = [result(node, "eth_getBlockByNumber", hex(n), True) for n in range(head + 1)]
    receipts = [result(node, "eth_getBlockReceipts", hex(n)) for n in range(head + 1)]
    logs = result(node, "eth_getLogs", {"fromBlock": "0x0", "toBlock": hex(head)})
    return {"blocks": blocks, "receipts": receipts, "logs": logs}


def test_export_import_round_trip_serves_the_same_chain(start_azora, tmp_path, dev_accounts):
    a, b, out = tmp_path / "A", tmp_path / "B", tmp_path / "out.rlp"
    head = build_source(start_azora, a, dev_accounts)
    exported = azora("export", "--datadir", a, out)
    assert exported.returncode == 0, exported.stderr
    assert len(list(iter_rlp_items(out.read_bytes()))) == head + 1
    imported = azora("import", "--datadir", b, "--genesis", a / "genesis.json", out)
    assert imported.returncode == 0, imported.stderr
    assert f"imported {head} blocks" in imported.stdout

    original = start_azora("serve", "--datadir", str(a))
    copy = start_azora("serve", "--datadir", str(b))
    assert result(copy, "eth_getBlockByNumber", "latest", False)["hash"] == \
        result(original, "eth_getBlockByNumber", "latest", False)["hash"]
    theirs, ours = snapshot(original, head), snapshot(copy, head)
    assert ours == theirs
    assert len(ours["logs"]) == 4 and sum(len(b["transactions"]) for b in ours["blocks"]) == 9

    # Importing the same file again changes nothing and succeeds.
    copy.stop()
    again = azora("import", "--datadir", b, "--genesis", a / "genesis.json", out)
    assert again.returncode == 0, again.stderr
    assert "imported 0 blocks" in again.stdout and f"head #{head} " in again.stdout

    # A truncated file: every whole block before the cut is imported, then a clear error.
    blocks = list(iter_rlp_items(out.read_bytes()))
    good = 5
    truncated = tmp_path / "truncated.rlp"
    truncated.write_bytes(b"".join(blocks[:good + 1]) + blocks[good + 1][: len(blocks[good + 1]) // 2])
    c = tmp_path / "C"
    cut = azora("import", "--datadir", c, "--genesis", a / "genesis.json", truncated)
    assert cut.returncode == 1
    assert "truncated" in cut.stderr and f"head #{good}" in cut.stderr
    assert "Traceback" not in cut.stderr

    # A corrupted block (one flipped byte in its state root) is refused with its number;
    # the blocks before it stay, and the rest of the file is not applied.
    corrupt_block = bytearray(blocks[good + 1])
    root_at = corrupt_block.index(_header_state_root(blocks[good + 1]))
    corrupt_block[root_at] ^= 0xFF
    corrupted = tmp_path / "corrupted.rlp"
    corrupted.write_bytes(b"".join(blocks[:good + 1]) + bytes(corrupt_block) + b"".join(blocks[good + 2:]))
    d = tmp_path / "D"
    bad = azora("import", "--datadir", d, "--genesis", a / "genesis.json", corrupted)
    assert bad.returncode == 1
    assert f"block #{good + 1}" in bad.stderr and f"head #{good}" in bad.stderr
    assert "Traceback" not in bad.stderr
    # ... and the good file completes that datadir afterwards.
    fixed = azora("import", "--datadir", d, "--genesis", a / "genesis.json", out)
    assert fixed.returncode == 0 and f"imported {head - good} blocks" in fixed.stdout


def _header_state_root(raw_block: bytes) -> bytes:
    import rlp
    return rlp.decode(raw_block)[0][3]


def test_invalid_garbage_file_is_a_clear_error(tmp_path, dev_accounts):
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps({"config": {"chainId": CHAIN_ID}, "alloc": {}}))
    garbage = tmp_path / "garbage.rlp"
    garbage.write_bytes(b"\x01\x02not rlp at all")
    answer = azora("import", "--datadir", tmp_path / "X", "--genesis", genesis, garbage)
    assert answer.returncode == 1
    assert "not an RLP list" in answer.stderr and "head #0" in answer.stderr


GETH_GENESIS = {
    "config": {
        "chainId": 3151908, "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0,
        "eip158Block": 0, "byzantiumBlock": 0, "constantinopleBlock": 0, "petersburgBlock": 0,
        "istanbulBlock": 0, "berlinBlock": 0, "londonBlock": 0, "mergeNetsplitBlock": None,
        "terminalTotalDifficulty": 0, "shanghaiTime": 0, "cancunTime": 0, "pragueTime": 0,
    },
    "nonce": "0x0000000000000000", "timestamp": "0x0", "extraData": "0x", "gasLimit": "0x1c9c380",
    "difficulty": "0x0", "mixHash": "0x" + "00" * 32, "coinbase": "0x" + "00" * 20,
    "baseFeePerGas": "0x3b9aca00",
}


def test_no_seal_check_imports_a_chain_on_a_geth_format_genesis(tmp_path, dev_accounts):
    alice = dev_accounts[0]
    data = json.loads(json.dumps(GETH_GENESIS))
    data["config"].pop("mergeNetsplitBlock")
    data["alloc"] = {alice.address: {"balance": hex(10**21)}}
    genesis_path = tmp_path / "genesis.json"
    genesis_path.write_text(json.dumps(data))
    genesis = Genesis.from_file(genesis_path)
    # A foreign producer: blocks built on this genesis with another coinbase and mixHash.
    db = LevelDB(tmp_path / "producer")
    producer = Chain(db, genesis, check_seal=False)
    for n in range(3):
        raw = sign(alice, n, chain_id=3151908)
        producer.build_block([PragueTransactionBuilder.decode(raw)], timestamp=12 * (n + 1),
                             coinbase=b"\x42" * 20, mix_hash=keccak(n.to_bytes(8, "big")))
    head = producer.head
    export_chain(producer, tmp_path / "geth.rlp")
    db.close()

    answer = azora("import", "--datadir", tmp_path / "N", "--genesis", genesis_path,
                   "--no-seal-check", tmp_path / "geth.rlp")
    assert answer.returncode == 0, answer.stderr
    assert f"head #3 0x{head.hash.hex()}" in answer.stdout
