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


def node_info(net: Testnet, name: str) -> dict:
    return net.rpc(name, "azora_nodeInfo")["consensus"]


def start_outsider(net: Testnet, home: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """A node with a fresh validator key that is in no set: (process, rpc url, address)."""
    from eth_account import Account

    from node.testnet import write_secret
    from wallet.keystore import save_keystore

    home.mkdir(parents=True)
    account = Account.create()
    write_secret(home / "password.txt", "outsider-password\n")
    save_keystore(home / "validator.json", account, "outsider-password", kdf="pbkdf2", iterations=1_000)
    p2p_port, http_port = free_port_range(1), free_port_range(1)
    log = open(home / "node.log", "ab")
    proc = subprocess.Popen(
        AZORA + ["node", "run", "--datadir", str(home / "data"), "--genesis", net.manifest["genesis"],
                 "--p2p.addr", "127.0.0.1", "--p2p.port", str(p2p_port), "--http.port", str(http_port),
                 "--bootnodes", net.nodes["validator1"].p2p, "--validator-key", str(home / "validator.json"),
                 "--password-file", str(home / "password.txt")],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log.close()
    return proc, f"http://127.0.0.1:{http_port}", account.address.lower()


def test_each_node_says_where_it_stands_in_its_log_metrics_and_node_info(network: Testnet, tmp_path: Path) -> None:
    network.wait_for_height(EPOCH_LENGTH + 2, VALIDATORS, timeout=120)
    for name in VALIDATORS:
        node = network.nodes[name]
        log = node.log(2_000_000)
        address = node.address.lower()
        assert f"validator {address} at #1 (epoch 0): in the active set (power 10000)" in log, name
        assert f"validator {address} at #{EPOCH_LENGTH + 1} (epoch 1): in the active set (power 10000)" in log, name
        sample = metrics(network, name)
        assert sample["azora_validator_in_active_set"] == 1 and sample["azora_validator_power"] == 10_000, name
        assert sample["azora_validator_jailed"] == 0, name
        assert sample["azora_validator_blocks_signed"] > 0, name
        assert "azora_validator_missed_blocks" in sample, name
        info = node_info(network, name)
        assert (info["inActiveSet"], info["standing"], int(info["power"], 16)) == (True, "active", 10_000), name

    proc, rpc, address = start_outsider(network, tmp_path / "outsider")
    try:
        network.wait_until(lambda: node_info_at(rpc)["inActiveSet"] is False, 90, "the outsider's RPC")
        info = node_info_at(rpc)
        assert (info["validator"], info["standing"], info["power"]) == (address, "inactive", "0x0")
        text = requests.get(rpc + "/metrics", timeout=10).text.splitlines()
        assert "azora_validator_in_active_set 0.0" in text and "azora_validator_power 0.0" in text
        log = (tmp_path / "outsider" / "node.log").read_text()
        assert f"validator {address} at #" in log and "): not in the active set" in log
    finally:
        proc.terminate()
        proc.wait(30)


def node_info_at(rpc: str) -> dict:
    from harness import rpc_call
    return rpc_call(rpc, "azora_nodeInfo")["consensus"]


def signer_counts(net: Testnet, name: str, first: int, last: int) -> list[int]:
    """Signers of the canonical commit of each block first..last (fixed by the next block)."""
    return [len(net.rpc(name, "azora_getCommit", [hex(n)])["signatures"]) for n in range(first, last + 1)]


def test_a_healthy_network_certificates_carry_all_four_signatures(network: Testnet) -> None:
    start = network.height("validator0")
    network.wait_for_height(start + 12, VALIDATORS, timeout=120)
    counts = signer_counts(network, "validator0", start + 1, start + 11)
    full = sum(1 for c in counts if c == 4)
    assert full >= 0.8 * len(counts), f"signers per certificate: {counts}"
    # Every node agrees on the canonical commits (block h+1's extraData binds h's).
    assert signer_counts(network, "validator2", start + 1, start + 11) == counts


def test_a_copy_started_without_the_check_equivocates_and_the_key_stops_and_is_jailed(
        network: Testnet, tmp_path: Path, dev_accounts: list) -> None:
    """The issue's scenario, with the start check turned off: the two copies equivocate within
    seconds; each sees evidence against its own key and halts instead of signing on; the others
    report it and the registry jails the key. Restarted alone, the node says it is jailed.
    (Last in this module: the network goes on with three validators.)"""
    original = network.nodes["validator0"]
    p2p_port, http_port = free_port_range(1), free_port_range(1)
    log_path = tmp_path / "copy.log"
    with open(log_path, "ab") as log:
        copy = subprocess.Popen(
            AZORA + ["node", "run", "--datadir", str(tmp_path / "copy"), "--genesis", network.manifest["genesis"],
                     "--p2p.addr", "127.0.0.1", "--p2p.port", str(p2p_port), "--http.port", str(http_port),
                     "--bootnodes", network.nodes["validator1"].p2p,
                     "--validator-key", str(original.home / "validator.json"),
                     "--password-file", str(original.home / "password.txt"), "--double-sign-check-height", "0"],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    copy_rpc, sender = f"http://127.0.0.1:{http_port}", dev_accounts[6]
    try:
        assert original.proc is not None
        # Empty blocks of one proposer at one second are identical whoever builds them: keep
        # transactions arriving at the copy first, so the two copies' blocks (and votes) differ.
        network.wait_until(lambda: requests.post(copy_rpc, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId",
                                                                 "params": []}, timeout=2).ok, 90, "the copy's RPC")
        nonce = int(network.rpc("validator1", "eth_getTransactionCount", [sender.address, "pending"]), 16)
        deadline = time.time() + 300
        while original.proc.poll() is None and time.time() < deadline:
            signed = sender.sign_transaction({"type": 2, "chainId": 31337, "nonce": nonce, "to": sender.address,
                                              "value": 1, "gas": 21_000, "maxFeePerGas": 20 * 10**9,
                                              "maxPriorityFeePerGas": 10**9})
            try:
                requests.post(copy_rpc, json={"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
                                              "params": ["0x" + bytes(signed.raw_transaction).hex()]}, timeout=5)
            except requests.RequestException:
                pass      # the copy halted first
            nonce += 1
            time.sleep(0.3)
        code = original.proc.wait(10)
        assert code != 0
        log = original.log(2_000_000)
        assert "CRITICAL" in log and "evidence of equivocation against this validator's own key" in log
        assert "self-report" not in log
        copy.wait(120)
        assert "evidence of equivocation against this validator's own key" in log_path.read_text()
    finally:
        if copy.poll() is None:
            copy.kill()
            copy.wait(10)
    original.proc = None
    address = original.address.lower()
    others = VALIDATORS[1:]

    def jailed() -> bool:
        return metrics_jailed(network, others[0], address)
    network.wait_until(jailed, 120, "the registry to jail validator0")
    before = network.height("validator1")
    network.wait_for_height(before + 3, others, timeout=90)          # three of four finalize on

    network.start("validator0")
    network.wait_until(lambda: metrics(network, "validator0")["azora_validator_jailed"] == 1, 60,
                       "validator0's jailed metric")
    # At the next epoch's first block it says so in its log, and has left the set.
    network.wait_until(lambda: "jailed until" in network.nodes["validator0"].log(400_000), 90,
                       "validator0's standing line")
    line = next(line for line in network.nodes["validator0"].log(400_000).splitlines() if "jailed until" in line)
    assert f"validator {address} at #" in line and "): jailed until " in line


def metrics_jailed(net: Testnet, name: str, address: str) -> bool:
    """The registry's candidates(address).jailedUntil is in the future (an eth_call through ``name``)."""
    from eth_abi import decode, encode
    from eth_utils import function_signature_to_4byte_selector

    registry = net.rpc(name, "azora_nodeInfo")["contracts"]["ValidatorRegistry"]
    data = function_signature_to_4byte_selector("candidates(address)") + encode(["address"], [address])
    out = bytes.fromhex(net.rpc(name, "eth_call", [{"to": registry, "data": "0x" + data.hex()}, "latest"])[2:])
    jailed_until = decode(["bool", "uint256", "uint256", "uint256", "uint256", "uint256"], out[:192])[5]
    head = net.rpc(name, "eth_getBlockByNumber", ["latest", False])
    return jailed_until > int(head["timestamp"], 16)
