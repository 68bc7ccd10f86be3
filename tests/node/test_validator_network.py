"""A validator on a real 4-validator network (``azora testnet init`` run as ``azora node run``
processes): a second copy of a validator's key refuses to start, each node says where it stands
(log lines and /metrics), and commit certificates carry every healthy validator's signature.

One network serves every test of this module: starting four nodes is most of the cost on two
shared cores.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "network"))
from harness import AZORA, REPO, Testnet, free_port_range  # noqa: E402  (tests/network is not a package)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

VALIDATORS = ["validator0", "validator1", "validator2", "validator3"]
EPOCH_LENGTH = 10


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testnet]:
    net = Testnet.init(tmp_path_factory.mktemp("validators") / "net", validators=4, block_interval=0.5)
    # Short epochs, so the nodes' standing lines at epoch boundaries come within the test.
    genesis_path = Path(net.manifest["genesis"])
    genesis = json.loads(genesis_path.read_text())
    genesis["azora"]["epochLength"] = EPOCH_LENGTH
    genesis_path.write_text(json.dumps(genesis, indent=2))
    try:
        net.start()
        net.wait_for_height(3, VALIDATORS, timeout=120)
        yield net
    finally:
        net.close()


def metrics(net: Testnet, name: str) -> dict[str, float]:
    """The node's /metrics as {sample name with labels: value}."""
    text = requests.get(net.nodes[name].rpc + "/metrics", timeout=10).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def test_a_second_copy_of_a_validator_key_refuses_to_start(network: Testnet, tmp_path: Path) -> None:
    original = network.nodes["validator0"]
    p2p_port, http_port = free_port_range(2), free_port_range(1)
    copy = subprocess.run(
        AZORA + ["node", "run", "--datadir", str(tmp_path / "copy"), "--genesis", network.manifest["genesis"],
                 "--p2p.addr", "127.0.0.1", "--p2p.port", str(p2p_port), "--http.port", str(http_port),
                 "--bootnodes", network.nodes["validator1"].p2p,
                 "--validator-key", str(original.home / "validator.json"),
                 "--password-file", str(original.home / "password.txt"),
                 # deeper than the default 2: a racing 3-of-4 certificate may leave validator0 out
                 "--double-sign-check-height", "4"],
        cwd=REPO, capture_output=True, text=True, timeout=180, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert copy.returncode != 0, copy.stderr[-3000:]
    address = original.address.lower()
    lines = [line for line in copy.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith(f"error: validator {address} signed block #"), copy.stderr[-3000:]
    assert lines[0].endswith("within the last 4 commits: another process is running this key? refusing to sign")
    # The network kept finalizing, and nobody saw validator0 equivocate.
    before = network.height("validator1")
    network.wait_for_height(before + 3, VALIDATORS, timeout=90)
    for name in VALIDATORS:
        assert metrics(network, name)["azora_consensus_evidence"] == 0, name
