"""ethers v6 (npm) against a real ``azora dev``: transfers, deploys, events, reverts, fees.

The npm package is pinned in tests/clients/ethers/package.json and installed once into
.cache/clients/ethers (reused by later runs); Node.js and npm come from the machine.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import vyper

REPO = Path(__file__).resolve().parents[2]
CLIENT = Path(__file__).parent / "ethers"
CACHE = REPO / ".cache" / "clients" / "ethers"
DEV_KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


@pytest.fixture(scope="module")
def ethers_client() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "Node.js and npm are needed for the ethers client test"
    CACHE.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "client.mjs"):
        shutil.copy(CLIENT / name, CACHE / name)
    if not (CACHE / "node_modules" / "ethers" / "package.json").exists():
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent"], cwd=CACHE,
                       check=True, timeout=300)
    return CACHE


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
    assert out["blockHasBaseFee"] and int(out["feeData"]["maxFeePerGas"]) > 0
