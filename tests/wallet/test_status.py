"""``azora status --rpc URL [--json]`` against a running ``azora dev``: head, finality, sync,
peers, validator state, pool and health as the node reports them."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def azora_status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli", "status", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_status_reports_head_finality_validator_pool_and_health(w3, dev_node, dev_accounts) -> None:
    sender = dev_accounts[7]
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": sender.address, "to": w3.eth.accounts[8], "value": 1}), timeout=30)
    # A transaction past a nonce gap waits in the pool's queue.
    gap = sender.sign_transaction({"chainId": w3.eth.chain_id, "nonce": w3.eth.get_transaction_count(sender.address) + 3,
                                   "to": w3.eth.accounts[8], "value": 1, "gas": 21_000,
                                   "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9})
    w3.eth.send_raw_transaction(gap.raw_transaction)
    run = azora_status("--rpc", dev_node.url, "--json")
    assert run.returncode == 0, run.stderr
    status = json.loads(run.stdout)
    head = w3.eth.get_block("latest")
    assert status["head"]["number"] == head["number"] and status["head"]["hash"] == head["hash"].to_0x_hex()
    assert status["finalized"]["number"] == head["number"]          # every block is final when committed
    assert status["syncing"] is False and status["peers"] == 0 and status["dev"] is True
    assert status["pool"] == {"pending": 0, "queued": 1}
    signer = dev_node.rpc("azora_nodeInfo")["result"]["consensus"]["validator"]
    assert status["validator"] == {"address": signer, "active": True, "power": status["validator"]["power"],
                                   "share": 1.0, "signedHead": True, "setSize": 1}
    assert status["health"]["status"] == "ok"

    text = azora_status("--rpc", dev_node.url)
    assert text.returncode == 0, text.stderr
    lines = dict(line.split(None, 1) for line in text.stdout.splitlines())
    assert lines["head"].startswith(f"#{head['number']} {head['hash'].to_0x_hex()}")
    assert lines["sync"] == "in sync" and lines["health"] == "ok" and lines["pool"] == "0 pending, 1 queued"
    assert lines["validator"].startswith(f"{signer} active, power ") and "signed the head's commit" in lines["validator"]


def test_status_of_an_unreachable_node_is_one_line(tmp_path: Path) -> None:
    run = azora_status("--rpc", "http://127.0.0.1:9")
    assert run.returncode == 1 and run.stderr.strip() == "error: cannot reach the node at http://127.0.0.1:9 (ConnectionError)"
