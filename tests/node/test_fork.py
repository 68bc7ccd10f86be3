"""Fork mode's state: a second ``azora dev``'s accounts, code and storage read lazily through
the JSON-RPC client, cached in a real LevelDB, with local writes kept apart from the remote."""
from __future__ import annotations

from pathlib import Path

import pytest
import vyper
from eth.db.account import AccountDB
from eth_utils import to_canonical_address
from web3 import Web3

from kernel.db import LevelDB
from kernel.fork import CachedStateSource, fork_account_db_class
from node.fork import ForkError, JsonRpcStateSource

SOURCE = (Path(__file__).parent / "contracts" / "Store.vy").read_text()


@pytest.fixture
def remote(start_azora, tmp_path):
    """A remote dev chain holding a Store contract with values[7] = 42 (then 43)."""
    node = start_azora("dev", "--datadir", str(tmp_path / "remote"))
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
    out = vyper.compile_code(SOURCE, output_formats=["abi", "bytecode"])
    tx = w3.eth.contract(abi=out["abi"], bytecode=out["bytecode"]).constructor().transact({"from": w3.eth.accounts[0]})
    store = w3.eth.contract(address=w3.eth.wait_for_transaction_receipt(tx, timeout=30).contractAddress,
                            abi=out["abi"])
    w3.eth.wait_for_transaction_receipt(store.functions.store(7, 42).transact({"from": w3.eth.accounts[0]}), timeout=30)
    first = w3.eth.block_number
    w3.eth.wait_for_transaction_receipt(store.functions.store(7, 43).transact({"from": w3.eth.accounts[0]}), timeout=30)
    return node, w3, store, first


def values_slot(key: int) -> int:
    # Vyper 0.4 HashMap at storage slot 0: keccak(slot . key).
    return int.from_bytes(Web3.solidity_keccak(["uint256", "uint256"], [0, key]), "big")


def open_fork_db(tmp_path: Path, url: str, block: int) -> tuple[LevelDB, type[AccountDB]]:
    db = LevelDB(tmp_path / "fork")
    return db, fork_account_db_class(CachedStateSource(JsonRpcStateSource(url), db), block)


def test_fork_reads_remote_balances_code_and_storage(remote, tmp_path):
    node, w3, store, _ = remote
    head = w3.eth.block_number
    db, account_db_class = open_fork_db(tmp_path, node.url, head)
    state = account_db_class(db)
    address = to_canonical_address(store.address)
    sender = to_canonical_address(w3.eth.accounts[0])
    assert state.get_code(address) == bytes(w3.eth.get_code(store.address))
    assert state.get_storage(address, values_slot(7)) == 43
    assert state.get_balance(sender) == w3.eth.get_balance(w3.eth.accounts[0], head)
    assert state.get_nonce(sender) == w3.eth.get_transaction_count(w3.eth.accounts[0], head)
    db.close()


def test_fork_keeps_its_own_writes_and_leaves_the_remote_unchanged(remote, tmp_path):
    node, w3, store, _ = remote
    head = w3.eth.block_number
    db, account_db_class = open_fork_db(tmp_path, node.url, head)
    state = account_db_class(db)
    address = to_canonical_address(store.address)
    sender = to_canonical_address(w3.eth.accounts[0])
    state.set_storage(address, values_slot(7), 0)       # zero written locally stays zero
    state.set_storage(address, values_slot(8), 99)
    state.set_balance(sender, 5)
    state.persist()
    root = state.state_root

    reopened = account_db_class(db, root)
    assert reopened.get_storage(address, values_slot(7)) == 0
    assert reopened.get_storage(address, values_slot(8)) == 99
    assert reopened.get_balance(sender) == 5
    assert reopened.get_code(address) == bytes(w3.eth.get_code(store.address))
    assert store.functions.values(7).call() == 43
    assert store.functions.values(8).call() == 0
    assert w3.eth.get_balance(w3.eth.accounts[0]) > 5
    db.close()


def test_fork_of_a_past_block_reads_that_blocks_state(remote, tmp_path):
    node, w3, store, first = remote
    db, account_db_class = open_fork_db(tmp_path, node.url, first)
    assert account_db_class(db).get_storage(to_canonical_address(store.address), values_slot(7)) == 42
    db.close()


def test_remote_reads_are_cached_in_the_datadir(remote, tmp_path):
    node, w3, store, _ = remote
    head = w3.eth.block_number
    db, account_db_class = open_fork_db(tmp_path, node.url, head)
    address = to_canonical_address(store.address)
    assert account_db_class(db).get_storage(address, values_slot(7)) == 43
    db.close()
    node.stop()
    # The remote is gone: the same reads come from the cache.
    db = LevelDB(tmp_path / "fork")
    offline = fork_account_db_class(
        CachedStateSource(JsonRpcStateSource(node.url, timeout=1, retries=1), db), head)(db)
    assert offline.get_storage(address, values_slot(7)) == 43
    db.close()


def test_invalid_unreachable_fork_url_is_one_clear_error():
    source = JsonRpcStateSource("http://127.0.0.1:9", timeout=1, retries=2)
    with pytest.raises(ForkError) as error:
        source.fork_point(None)
    assert str(error.value) == "cannot reach fork URL http://127.0.0.1:9: connection refused or host unknown"


def test_local_blocks_on_a_fork_continue_after_the_fork_block_with_their_own_state(remote, tmp_path, dev_accounts):
    from eth_account import Account
    from kernel.chain import Chain
    from kernel.fork import fork_genesis, forked_schedule
    from kernel.forks import compute_fork_schedule

    node, w3, store, _ = remote
    head = w3.eth.get_block("latest")
    db = LevelDB(tmp_path / "fork")
    source = CachedStateSource(JsonRpcStateSource(node.url), db)
    schedule = forked_schedule(compute_fork_schedule({"chainId": 1337}), source, head.number)
    sender = dev_accounts[0]
    genesis = fork_genesis(1337, schedule, source, number=head.number, timestamp=head.timestamp,
                           gas_limit=head.gasLimit, base_fee_per_gas=head.baseFeePerGas,
                           balances={to_canonical_address(sender.address): 7 * 10**18})
    chain = Chain(db, genesis)
    assert chain.head.block_number == head.number
    state = chain.state_at(chain.head)
    address = to_canonical_address(store.address)
    assert state.get_balance(to_canonical_address(sender.address)) == 7 * 10**18
    nonce = state.get_nonce(to_canonical_address(sender.address))
    assert nonce == w3.eth.get_transaction_count(sender.address, head.number)

    data = store.functions.store(7, 1000)._encode_transaction_data()
    signed = Account.sign_transaction({"chainId": 1337, "nonce": nonce, "to": store.address, "data": data,
                                       "gas": 200_000, "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 1,
                                       "type": 2}, sender.key)
    vm_class = chain.vm_class_for(head.number + 1, head.timestamp + 1)
    tx = vm_class.get_transaction_builder().decode(bytes(signed.raw_transaction))
    result = chain.build_block([tx], timestamp=head.timestamp + 1)
    assert not result.rejected and result.receipts[0].gas_used > 21000
    assert chain.head.block_number == head.number + 1
    after = chain.state_at(chain.head)
    assert after.get_storage(address, values_slot(7)) == 1000
    assert after.get_storage(address, values_slot(8)) == 0
    assert store.functions.values(7).call() == 43          # the remote is unchanged
    db.close()


def test_azora_dev_fork_serves_the_remotes_state_and_keeps_its_own(remote, start_azora, tmp_path, dev_accounts):
    node, w3, store, first = remote
    head = w3.eth.block_number
    fork = start_azora("dev", "--fork-url", node.url, "--datadir", str(tmp_path / "forked"))
    fw3 = Web3(Web3.HTTPProvider(fork.url, request_kwargs={"timeout": 60}))
    forked = fw3.eth.contract(address=store.address, abi=store.abi)
    assert fw3.eth.chain_id == w3.eth.chain_id
    assert fw3.eth.block_number == head
    assert fw3.eth.get_code(store.address) == w3.eth.get_code(store.address)
    assert forked.functions.values(7).call() == 43
    receipt = fw3.eth.wait_for_transaction_receipt(
        forked.functions.store(7, 5).transact({"from": fw3.eth.accounts[1]}), timeout=60)
    assert receipt.status == 1 and receipt.blockNumber == head + 1
    assert forked.functions.values(7).call() == 5
    assert store.functions.values(7).call() == 43          # the remote keeps its own state
    assert fw3.eth.get_balance(fw3.eth.accounts[2]) == 10_000 * 10**18


def test_azora_dev_fork_of_a_past_block(remote, start_azora, tmp_path):
    node, w3, store, first = remote
    fork = start_azora("dev", "--fork-url", node.url, "--fork-block-number", str(first),
                       "--datadir", str(tmp_path / "forked"))
    fw3 = Web3(Web3.HTTPProvider(fork.url, request_kwargs={"timeout": 60}))
    assert fw3.eth.block_number == first
    assert fw3.eth.contract(address=store.address, abi=store.abi).functions.values(7).call() == 42


def test_invalid_azora_dev_fork_of_an_unreachable_url_exits_1_with_one_line(tmp_path):
    import os
    import subprocess
    import sys
    from tests.helpers import free_port
    # a free port: the check must not depend on 8545 being free on the machine running it
    proc = subprocess.run([sys.executable, "-m", "node.cli", "dev", "--fork-url", "http://127.0.0.1:9",
                           "--datadir", str(tmp_path / "d"), "--http.port", str(free_port())],
                          capture_output=True, text=True, timeout=120, env={**os.environ})
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == \
        "error: cannot reach fork URL http://127.0.0.1:9: connection refused or host unknown"
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_restarted_fork_continues_its_own_chain_at_its_fork_block(remote, start_azora, tmp_path):
    node, w3, store, _ = remote
    head = w3.eth.block_number
    datadir = str(tmp_path / "forked")
    fork = start_azora("dev", "--fork-url", node.url, "--datadir", datadir)
    fw3 = Web3(Web3.HTTPProvider(fork.url, request_kwargs={"timeout": 60}))
    forked = fw3.eth.contract(address=store.address, abi=store.abi)
    fw3.eth.wait_for_transaction_receipt(forked.functions.store(9, 6).transact({"from": fw3.eth.accounts[1]}), timeout=60)
    fork.stop()
    # The remote moves on; the restarted fork stays on its own block N + 1.
    w3.eth.wait_for_transaction_receipt(store.functions.store(9, 1).transact({"from": w3.eth.accounts[0]}), timeout=30)
    again = start_azora("dev", "--fork-url", node.url, "--datadir", datadir)
    aw3 = Web3(Web3.HTTPProvider(again.url, request_kwargs={"timeout": 60}))
    assert aw3.eth.block_number == head + 1
    assert aw3.eth.contract(address=store.address, abi=store.abi).functions.values(9).call() == 6
