"""A fresh ``azora dev`` has the whole system deployed and usable from web3.py."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from contracts.build import load_artifact

REPO = Path(__file__).resolve().parents[2]

NAMES = ("AZR", "ATokenFactory", "Credentials", "ProofOfKnowledge", "Escrow", "Governor",
         "Timelock", "ValidatorRegistry", "aZAR", "aNGN", "aKES", "aGHS", "aETB")


def _contract(w3, table, name, artifact=None):
    return w3.eth.contract(address=table[name], abi=load_artifact(artifact or name)["abi"])


def test_node_info_lists_every_system_contract(w3, dev_node):
    info = dev_node.rpc("azora_nodeInfo")["result"]
    assert set(NAMES) <= set(info["contracts"])
    for name in NAMES:
        assert len(w3.eth.get_code(info["contracts"][name])) > 0, name


def test_dev_validator_is_active_and_atokens_answer(w3, dev_node):
    info = dev_node.rpc("azora_nodeInfo")["result"]
    table = info["contracts"]
    validators, powers = _contract(w3, table, "ValidatorRegistry").functions.activeValidators().call()
    assert [v.lower() for v in validators] == [info["consensus"]["validator"]] and powers == [10_000 * 10**18]
    assert validators[0] not in w3.eth.accounts      # the dev validator has its own key
    assert _contract(w3, table, "aKES", "AToken").functions.symbol().call() == "aKES"


def test_wrapping_azr_from_web3(w3, dev_node):
    table = dev_node.rpc("azora_nodeInfo")["result"]["contracts"]
    azr = _contract(w3, table, "AZR")
    account = w3.eth.accounts[5]
    tx = azr.functions.deposit().transact({"from": account, "value": 3 * 10**18})
    assert w3.eth.wait_for_transaction_receipt(tx, timeout=30).status == 1
    assert azr.functions.balanceOf(account).call() == 3 * 10**18


def test_contracts_command_prints_the_table(dev_node):
    out = subprocess.run([sys.executable, "-m", "node.cli", "contracts", "--rpc", dev_node.url],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    table = dev_node.rpc("azora_nodeInfo")["result"]["contracts"]
    for name in NAMES:
        assert name in out.stdout and table[name] in out.stdout
