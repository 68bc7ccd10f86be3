"""ethers v6 (npm) against a real ``azora dev``: transfers, deploys, events, reverts (a mined
one's reason too), fees; and docs/dapp.md's ethers steps, run as written.

The npm package is pinned in tests/clients/ethers/package.json and installed once into the
client cache outside the clone (tests/clients/client_venvs.py), reused by later runs; Node.js
and npm come from the machine.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import vyper
from client_venvs import node_modules
from js_docs import doc_section, run_doc_section

REPO = Path(__file__).resolve().parents[2]
CLIENT = Path(__file__).parent / "ethers"
DOC_HEADING = "## 3. ethers (v6)"
DEV_KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


@pytest.fixture(scope="module")
def ethers_client(tmp_path_factory) -> Path:
    """A directory holding client.mjs and the pinned ethers it imports."""
    client = tmp_path_factory.mktemp("ethers-client")
    (client / "node_modules").symlink_to(node_modules("ethers", CLIENT / "package.json"))
    (client / "client.mjs").write_text((CLIENT / "client.mjs").read_text())
    return client


def test_ethers_uses_the_node_as_it_uses_geth(ethers_client, dev_node, tmp_path):
    source = (REPO / "tests/node/contracts/Store.vy").read_text()
    compiled = vyper.compile_code(source, output_formats=["abi", "bytecode"])
    artifact = tmp_path / "Store.json"
    artifact.write_text(json.dumps(compiled))
    run = subprocess.run(["node", "client.mjs", dev_node.url, DEV_KEY_1, str(artifact)],
                         cwd=ethers_client, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["chainId"] == 1337
    assert out["transferStatus"] == 1
    assert out["stored"] == "42"
    assert out["events"] == ["Stored"] and out["queriedEvents"] == 1
    assert out["revert"] == "Store: zero value"
    assert out["estimateRevert"] == "Store: zero value"
    # A transaction mined although it reverts: wait() shows the receipt and no reason (ethers
    # 6 re-runs nothing, against geth neither); re-run as a call on its block's parent state,
    # it gives the reason.
    assert out["minedRevertStatus"] == 0 and out["minedRevertWaitReason"] is None
    assert out["minedRevert"] == "Store: zero value"
    receipt = dev_node.rpc("eth_getTransactionReceipt", [out["minedRevertTx"]])["result"]
    assert receipt["status"] == "0x0" and int(receipt["gasUsed"], 16) < 100_000
    assert out["blockHasBaseFee"] and int(out["feeData"]["maxFeePerGas"]) > 0


def test_the_ethers_steps_of_the_dapp_doc_run_as_written(ethers_client, dev_node, tmp_path):
    pinned = json.loads((CLIENT / "package.json").read_text())["dependencies"]["ethers"]
    assert f"npm install ethers@{pinned}\n" in doc_section(DOC_HEADING)
    out = run_doc_section(DOC_HEADING, dev_node.url, tmp_path)
    assert "chain id 1337n" in out
    assert "stored 42n in block" in out and "event Stored" in out
    assert "rejected before sending: Store: zero value" in out
    assert "mined revert: status 0, reason null" in out
    assert "re-run: Store: zero value" in out
