"""``azora dev`` without surprises: a coinbase that is no dev account, a datadir that never
silently ignores --chain-id, --balance or --gas-limit, one line (no traceback) for a busy port or a locked
datadir, and no temporary datadir left behind."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path

from web3 import Web3

from helpers import AZORA, REPO, free_port


def run_azora(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(AZORA + list(args), cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def assert_one_line_error(done: subprocess.CompletedProcess[str], wanted: str) -> None:
    assert done.returncode != 0, done
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and wanted in lines[0], done.stderr


def test_account_0_pays_exactly_value_and_gas_the_coinbase_is_no_dev_account(start_azora, tmp_path):
    node = start_azora("dev", "--datadir", str(tmp_path / "chain"))
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
    first, receiver = w3.eth.accounts[0], w3.eth.accounts[1]
    coinbase = Web3.to_checksum_address(node.rpc("eth_coinbase")["result"])
    assert coinbase not in w3.eth.accounts
    assert coinbase == "0x6D58073AeeB28068c5925D618DA9f4c4F35727b3"     # index 1000 of the mnemonic
    start = w3.eth.get_balance(first)
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": first, "to": receiver, "value": 12345}), timeout=30)
    assert w3.eth.get_block(receipt.blockNumber).miner == coinbase
    assert w3.eth.get_balance(first) == start - 12345 - receipt.gasUsed * receipt.effectiveGasPrice
    assert node.rpc("azora_nodeInfo")["result"]["consensus"]["validator"] == coinbase.lower()


def test_a_datadir_refuses_another_chain_id_or_balance(start_azora, tmp_path):
    datadir = str(tmp_path / "chain")
    node = start_azora("dev", "--datadir", datadir, "--chain-id", "4242", "--balance", "77")
    assert node.stop() == 0
    assert_one_line_error(run_azora("dev", "--datadir", datadir, "--chain-id", "1337", "--http.port", str(free_port())),
                          "holds chain id 4242, not --chain-id 1337")
    assert_one_line_error(run_azora("dev", "--datadir", datadir, "--balance", "10000", "--http.port", str(free_port())),
                          "started with 77 AZR, not --balance 10000")
    # The same flags, or none, start the stored chain.
    node = start_azora("dev", "--datadir", datadir, "--chain-id", "4242", "--balance", "77")
    assert node.rpc("eth_chainId")["result"] == hex(4242)
    assert node.stop() == 0
    node = start_azora("dev", "--datadir", datadir)
    w3 = Web3(Web3.HTTPProvider(node.url))
    assert w3.eth.chain_id == 4242 and w3.eth.get_balance(w3.eth.accounts[3]) == 77 * 10**18


def test_gas_limit_sets_a_new_chains_blocks_and_a_datadir_keeps_its_own(start_azora, tmp_path, dev_accounts):
    datadir = str(tmp_path / "chain")
    node = start_azora("dev", "--datadir", datadir, "--gas-limit", "60000000")
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
    assert w3.eth.get_block("latest").gasLimit == 60_000_000
    # a transaction above the default 30M block gas limit now fits in a block
    signed = w3.eth.account.sign_transaction({
        "to": w3.eth.accounts[1], "value": 1, "gas": 40_000_000, "nonce": 0, "chainId": w3.eth.chain_id,
        "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}, dev_accounts[0].key)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction), timeout=30)
    assert receipt.status == 1 and w3.eth.get_block(receipt.blockNumber).gasLimit == 60_000_000
    assert node.stop() == 0
    assert_one_line_error(run_azora("dev", "--datadir", datadir, "--gas-limit", "30000000", "--http.port", str(free_port())),
                          "block gas limit is 60000000, not --gas-limit 30000000")
    done = run_azora("dev", "--gas-limit", "12", "--http.port", str(free_port()))
    assert done.returncode == 2 and "is not between 5000" in done.stderr


def test_a_busy_port_is_one_line_of_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_azora("dev", "--datadir", str(tmp_path / "chain"), "--http.port", str(port))
    assert_one_line_error(done, f"cannot listen on 127.0.0.1:{port}: address already in use")


def test_a_datadir_in_use_is_one_line_of_error(start_azora, tmp_path):
    datadir = str(tmp_path / "chain")
    start_azora("dev", "--datadir", datadir)
    done = run_azora("dev", "--datadir", datadir, "--http.port", str(free_port()))
    assert_one_line_error(done, "is in use by another azora process")


def test_a_temporary_datadir_is_removed_at_exit(start_azora):
    node = start_azora("dev")
    deadline = time.time() + 20
    while "Datadir:" not in node.log() and time.time() < deadline:
        time.sleep(0.1)
    datadir = Path(re.search(r"Datadir:\s+(\S+)", node.log()).group(1))
    assert datadir.exists()
    assert node.stop() == 0
    assert not datadir.exists()


def test_a_fork_made_when_account_0_signed_goes_on_signing_as_account_0(start_azora, tmp_path, dev_accounts):
    """A fork's datadir has no genesis file: the validator-set records say who signs."""
    from eth_utils import to_canonical_address

    from consensus.validator_set import new_validator_set
    from kernel.db import LevelDB
    from kernel.schema import make_validator_set_key
    from node.validators import encode_validator_set

    remote = start_azora("dev", "--datadir", str(tmp_path / "remote"))
    datadir = tmp_path / "fork"
    fork = start_azora("dev", "--fork-url", remote.url, "--datadir", str(datadir))
    fork.rpc("evm_mine", [{"blocks": "0x2"}])
    head = int(fork.rpc("eth_blockNumber")["result"], 16)
    assert fork.stop() == 0
    # What the fork's records held when the dev validator was account 0.
    db = LevelDB(datadir / "chaindata")
    old_set = encode_validator_set(new_validator_set([(to_canonical_address(dev_accounts[0].address), 1)]))
    for height in range(head - 2, head + 2):
        db[make_validator_set_key(height)] = old_set
    db.close()

    fork = start_azora("dev", "--fork-url", remote.url, "--datadir", str(datadir))
    assert fork.rpc("eth_coinbase")["result"] == dev_accounts[0].address.lower()
    fork.rpc("evm_mine")
    assert int(fork.rpc("eth_blockNumber")["result"], 16) == head + 1
