"""The kernel on real LevelDB: genesis, block building, import, indexes, atomicity."""
from __future__ import annotations

import functools
import operator

import pytest
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_bloom import BloomFilter
from eth_utils import to_checksum_address

from kernel.chain import Chain, ChainError
from kernel.db import LevelDB
from kernel.genesis import Genesis

CHAIN_ID = 1337


def make_genesis(accounts) -> Genesis:
    alloc = {a.address: {"balance": hex(10**24)} for a in accounts}
    return Genesis.from_json({"config": {"chainId": CHAIN_ID}, "alloc": alloc, "timestamp": "0x1",
                              "azora": {"oracles": {"members": [accounts[9].address], "quorum": 1}}})


def transfers(account, count, start_nonce=0):
    out = []
    for nonce in range(start_nonce, start_nonce + count):
        signed = account.sign_transaction({
            "chainId": CHAIN_ID, "nonce": nonce, "to": "0x" + "11" * 20, "value": 1,
            "gas": 21000, "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 1, "type": 2})
        out.append(PragueTransactionBuilder.decode(signed.raw_transaction))
    return out


@pytest.fixture
def chain(tmp_path, dev_accounts):
    db = LevelDB(tmp_path / "db")
    yield Chain(db, make_genesis(dev_accounts))
    db.close()


def test_genesis_allocates_balances(chain, dev_accounts):
    state = chain.state_at(chain.head)
    assert chain.head.block_number == 0
    assert state.get_balance(bytes.fromhex(dev_accounts[0].address[2:])) == 10**24


def test_built_block_imports_identically_on_another_node(chain, tmp_path, dev_accounts):
    result = chain.build_block(transfers(dev_accounts[0], 20), timestamp=chain.head.timestamp + 1)
    assert len(result.block.transactions) == 20 and not result.rejected
    other = Chain(LevelDB(tmp_path / "other"), make_genesis(dev_accounts))
    other.import_block(result.block)
    assert other.head.hash == chain.head.hash
    assert other.transaction_location(result.block.transactions[7].hash) == (1, 7)


def test_invalid_transactions_are_left_out_with_reason(chain, dev_accounts):
    txs = transfers(dev_accounts[0], 2) + transfers(dev_accounts[0], 1, start_nonce=5)
    result = chain.build_block(txs, timestamp=chain.head.timestamp + 1)
    assert len(result.block.transactions) == 2
    assert len(result.rejected) == 1 and "nonce" in result.rejected[0][1].lower()


def test_invalid_block_is_rejected_and_leaves_head_intact(chain, tmp_path, dev_accounts):
    built = chain.build_block(transfers(dev_accounts[0], 3), timestamp=chain.head.timestamp + 1)
    other = Chain(LevelDB(tmp_path / "other"), make_genesis(dev_accounts))
    tampered = built.block.copy(header=built.block.header.copy(state_root=b"\x01" * 32))
    with pytest.raises(ChainError):
        other.import_block(tampered)
    assert other.head.block_number == 0


def test_chain_reopens_with_its_head(tmp_path, dev_accounts):
    db = LevelDB(tmp_path / "db")
    chain = Chain(db, make_genesis(dev_accounts))
    chain.build_block(transfers(dev_accounts[0], 1), timestamp=chain.head.timestamp + 1)
    head = chain.head.hash
    db.close()
    reopened = Chain(LevelDB(tmp_path / "db"), make_genesis(dev_accounts))
    assert reopened.head.hash == head


def test_invalid_genesis_mismatch_is_refused(tmp_path, dev_accounts):
    db = LevelDB(tmp_path / "db")
    Chain(db, make_genesis(dev_accounts))
    db.close()
    other = Genesis.from_json({"config": {"chainId": 7}, "alloc": {}})
    with pytest.raises(ChainError, match="differs"):
        Chain(LevelDB(tmp_path / "db"), other)


def test_log_index_narrows_blocks(chain, dev_accounts):
    assert chain.log_block_candidates(0, 10, [b"\x11" * 20], []) == []
    assert chain.log_block_candidates(0, 10, [], []) is None


def test_executed_block_writes_nothing_until_committed(chain, dev_accounts):
    pending = chain.execute_transactions(transfers(dev_accounts[0], 3), timestamp=chain.head.timestamp + 1)
    assert chain.head.block_number == 0
    assert chain.transaction_location(pending.block.transactions[0].hash) is None
    chain.commit_block(pending, commit=b"certificate")
    assert chain.head.hash == pending.block.hash
    assert chain.commit_of(pending.block.hash) == b"certificate"


def test_a_block_written_but_not_yet_head_is_invisible(chain, dev_accounts):
    # What a concurrent RPC reader sees between commit_block's batch write and the head moving.
    parent = chain.head
    pending = chain.execute_transactions(transfers(dev_accounts[0], 2), timestamp=parent.timestamp + 1)
    chain.commit_block(pending)
    chain._head = parent   # the instant before the head moves
    assert chain.transaction_location(pending.block.transactions[0].hash) is None


def test_invalid_commit_of_a_stale_proposal_is_refused(chain, dev_accounts):
    stale = chain.execute_transactions(transfers(dev_accounts[0], 1), timestamp=chain.head.timestamp + 1)
    chain.build_block(transfers(dev_accounts[1], 1), timestamp=chain.head.timestamp + 2)
    with pytest.raises(ChainError, match="no longer the head"):
        chain.commit_block(stale)
    assert chain.head.block_number == 1


def test_other_nodes_proposal_executes_then_commits(chain, tmp_path, dev_accounts):
    built = chain.build_block(transfers(dev_accounts[0], 2), timestamp=chain.head.timestamp + 1)
    other = Chain(LevelDB(tmp_path / "other"), make_genesis(dev_accounts))
    pending = other.execute_block(built.block)
    assert other.head.block_number == 0 and len(pending.result.receipts) == 2
    other.commit_block(pending)
    assert other.head.hash == built.block.hash


SYSTEM_COUNTER = """
# pragma version 0.4.3
calls: public(uint256)
last_caller: public(address)

@external
def bump():
    self.calls += 1
    self.last_caller = msg.sender
"""


def test_system_calls_run_first_and_importers_must_run_the_same(tmp_path, dev_accounts):
    import vyper
    from eth.constants import SYSTEM_ADDRESS
    from eth_utils import function_signature_to_4byte_selector

    runtime = bytes.fromhex(vyper.compile_code(SYSTEM_COUNTER, output_formats=["bytecode_runtime"])
                            ["bytecode_runtime"][2:])
    counter = b"\x55" * 20
    raw = {"config": {"chainId": CHAIN_ID}, "timestamp": "0x1",
           "alloc": {**{a.address: {"balance": hex(10**24)} for a in dev_accounts},
                     "0x" + counter.hex(): {"code": "0x" + runtime.hex()}},
           "azora": {"oracles": {"members": [dev_accounts[9].address], "quorum": 1}}}
    builder = Chain(LevelDB(tmp_path / "a"), Genesis.from_json(raw))
    calls = [(counter, function_signature_to_4byte_selector("bump()"))]
    built = builder.build_block(transfers(dev_accounts[0], 1), timestamp=2, system_calls=calls)
    state = builder.state_at(builder.head)
    assert state.get_storage(counter, 0) == 1
    assert state.get_storage(counter, 1) == int.from_bytes(SYSTEM_ADDRESS, "big")

    importer = Chain(LevelDB(tmp_path / "b"), Genesis.from_json(raw))
    with pytest.raises(ChainError):
        importer.execute_block(built.block)          # without the call the state root differs
    importer.commit_block(importer.execute_block(built.block, system_calls=calls))
    assert importer.head.hash == builder.head.hash


def test_blob_transaction_counts_its_blob_gas_and_imports_elsewhere(chain, tmp_path, dev_accounts):
    signed = dev_accounts[0].sign_transaction({
        "chainId": CHAIN_ID, "nonce": 0, "to": "0x" + "11" * 20, "value": 1, "gas": 21000,
        "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 1, "type": 3,
        "maxFeePerBlobGas": 10**9, "blobVersionedHashes": [b"\x01" + b"\x22" * 31, b"\x01" + b"\x33" * 31]})
    blob_tx = PragueTransactionBuilder.decode(signed.raw_transaction)
    result = chain.build_block([*transfers(dev_accounts[1], 2), blob_tx], timestamp=chain.head.timestamp + 1)
    assert len(result.block.transactions) == 3
    assert result.block.header.blob_gas_used == 2 * 2**17    # GAS_PER_BLOB each
    other = Chain(LevelDB(tmp_path / "other"), make_genesis(dev_accounts))
    other.import_block(result.block)
    assert other.head.hash == chain.head.hash


def test_azora_state_skips_py_evms_system_contract_step_and_the_state_is_the_same(chain, dev_accounts):
    """py-evm's Prague state rewrites the EIP-4788/2935 code it finds on every state it builds
    (and adds none that is missing); Azora's skips the step. The roots must agree either way."""
    from eth.vm.forks.prague import PragueVM
    from eth.vm.forks.prague.state import PragueState

    from kernel.vm import AzoraPragueState

    genesis = chain.head
    chain.build_block(transfers(dev_accounts[0], 3), timestamp=chain.head.timestamp + 1)
    for header in (genesis, chain.head):
        vm = chain.vm_at(header)
        assert isinstance(vm.state, AzoraPragueState)
        stock = chain.vm_at(header, vm_class=PragueVM).state
        assert isinstance(stock, PragueState) and not isinstance(stock, AzoraPragueState)
        for state in (vm.state, stock):
            state.persist()
        assert vm.state.state_root == stock.state_root == header.state_root



def test_recent_blocks_read_as_the_database_stores_them(chain, dev_accounts, monkeypatch):
    """Blocks just committed are read back without the tries, equal to their stored form;
    older ones (past the bound) come from the database again."""
    from eth.db.chain import ChainDB

    from kernel.chain import _RecentBlocks

    chain._recent = _RecentBlocks(blocks=2, transactions=5)
    built = [chain.build_block(transfers(dev_accounts[0], 3, start_nonce=3 * i), timestamp=10 + i)
             for i in range(3)]
    reads = []
    original = chain.chaindb.get_block_transactions
    monkeypatch.setattr(chain.chaindb, "get_block_transactions",
                        lambda *args: reads.append(args) or original(*args))
    stored_db = ChainDB(chain.db)
    for result in built:
        header = result.block.header
        block, receipts = chain.block_of(header), chain.receipts_of(header)
        stored = type(block).from_header(header, stored_db)
        assert block == stored and block.transactions == stored.transactions
        builder = chain.vm_class_for(header.block_number, header.timestamp).get_receipt_builder()
        assert receipts == tuple(stored_db.get_receipts(header, builder))
    # 3 + 3 transactions exceed 5: only the newest block is kept decoded
    assert len(reads) == 2


def test_an_imported_block_keeps_the_receipts_its_transactions_made_without_reading_them_back(
        chain, tmp_path, dev_accounts, monkeypatch):
    """Importing a block used to decode its receipts back from the receipt trie it had just
    written, twice (py-evm's deposit-request scan, then the kernel's result): a fifth of the
    import of a block of transfers. The receipts are the ones the execution made."""
    from eth.db.chain import ChainDB

    built = chain.build_block(transfers(dev_accounts[0], 12), timestamp=chain.head.timestamp + 1)
    other = Chain(LevelDB(tmp_path / "other"), make_genesis(dev_accounts))
    reads = []
    original = ChainDB.get_receipts
    monkeypatch.setattr(ChainDB, "get_receipts", lambda self, *args: reads.append(1) or original(self, *args))
    pending = other.execute_block(built.block)
    assert reads == []
    other.commit_block(pending)
    stored = other.chaindb.get_receipts(other.head, type(other.vm_at(other.head)).get_receipt_builder())
    assert [r.encode() for r in pending.result.receipts] == [r.encode() for r in stored] == \
        [r.encode() for r in built.receipts]
    assert other.head.hash == built.block.hash


# PREVRANDAO, then BLOCKHASH(1), each stored: slot 0 and slot 1 of the contract
RANDAO_AND_BLOCKHASH = bytes.fromhex("44600055" "600140600155" "00")
PROBE = "0x" + "42" * 20


def call(account, nonce, to):
    signed = account.sign_transaction({
        "chainId": CHAIN_ID, "nonce": nonce, "to": to, "value": 0, "data": "0x",
        "gas": 100_000, "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 1, "type": 2})
    return PragueTransactionBuilder.decode(signed.raw_transaction)


@pytest.fixture
def probe_chain(tmp_path, dev_accounts):
    genesis = make_genesis(dev_accounts)
    genesis = Genesis.from_json({**genesis.raw, "alloc": {**genesis.raw["alloc"],
                                                           PROBE: {"code": "0x" + RANDAO_AND_BLOCKHASH.hex()}}})
    db = LevelDB(tmp_path / "probe")
    yield Chain(db, genesis), genesis
    db.close()


def test_a_block_built_on_an_uncommitted_parent_commits_after_it_restamped(chain, tmp_path, dev_accounts):
    parent = chain.execute_transactions(transfers(dev_accounts[0], 3), timestamp=chain.head.timestamp + 1)
    child = chain.execute_transactions(transfers(dev_accounts[0], 4, start_nonce=3),
                                       timestamp=parent.block.header.timestamp + 1, parent_pending=parent)
    assert len(child.block.transactions) == 4 and not child.result.rejected
    assert child.read_prevrandao is False
    final = chain.restamp(child, mix_hash=b"\x07" * 32, extra_data=b"\x80")
    assert final.block.header.state_root == child.block.header.state_root
    assert final.block.header.mix_hash == b"\x07" * 32 and final.block.hash != child.block.hash
    chain.commit_block(parent)
    chain.commit_block(final)
    assert chain.head.hash == final.block.hash
    other = Chain(LevelDB(tmp_path / "other"), make_genesis(dev_accounts))
    other.import_block(parent.block)
    other.import_block(final.block)      # the same block, executed the usual way
    assert other.head.hash == chain.head.hash


def test_a_block_whose_code_read_prevrandao_is_not_restamped_with_another(probe_chain, dev_accounts):
    chain, _ = probe_chain
    parent = chain.execute_transactions(transfers(dev_accounts[0], 1), timestamp=chain.head.timestamp + 1)
    child = chain.execute_transactions([call(dev_accounts[1], 0, PROBE)], timestamp=parent.block.header.timestamp + 1,
                                       parent_pending=parent, mix_hash=b"\x01" * 32)
    assert child.read_prevrandao is True
    with pytest.raises(ChainError, match="PREVRANDAO"):
        chain.restamp(child, mix_hash=b"\x02" * 32, extra_data=b"")
    same = chain.restamp(child, mix_hash=b"\x01" * 32, extra_data=b"\x80")
    chain.commit_block(parent)
    chain.commit_block(same)
    state = chain.state_at(chain.head)
    probe = bytes.fromhex(PROBE[2:])
    assert state.get_storage(probe, 0) == int.from_bytes(b"\x01" * 32, "big")
    # BLOCKHASH(1) on the parent, still uncommitted while the child ran: its hash
    assert state.get_storage(probe, 1) == int.from_bytes(parent.block.hash, "big")


def test_building_and_importing_a_block_share_its_transactions_never_copy_them(chain, tmp_path, dev_accounts):
    """py-evm deep-copies a block's transactions each time it sets a header field
    (finalize_block's state root, Prague's requests hash): a twentieth of importing a block.
    Azora's VM replaces the header and keeps the transactions, which are immutable."""
    txs = transfers(dev_accounts[0], 3)
    built = chain.build_block(txs, timestamp=chain.head.timestamp + 1)
    assert all(a is b for a, b in zip(built.block.transactions, txs))
    other = Chain(LevelDB(tmp_path / "other"), make_genesis(dev_accounts))
    pending = other.execute_block(built.block)
    assert pending.block.hash == built.block.hash
    assert all(a is b for a, b in zip(pending.block.transactions, built.block.transactions))


def test_a_transaction_the_gas_left_defers_waits_with_its_senders_later_nonces(chain, dev_accounts):
    alice, bob = dev_accounts[:2]
    first = transfers(bob, 1)
    limit = chain.head.gas_limit
    big = PragueTransactionBuilder.decode(alice.sign_transaction({
        "chainId": CHAIN_ID, "nonce": 0, "to": "0x" + "11" * 20, "value": 1, "gas": limit,
        "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 1, "type": 2}).raw_transaction)
    after = transfers(alice, 1, start_nonce=1)
    pending = chain.execute_transactions(first + [big] + after, timestamp=chain.head.timestamp + 1)
    # bob's transfer leaves less than alice's nonce 0 asks: it and her nonce 1 wait, neither
    # is rejected (her nonce 1 alone would fail the nonce check and leave the pool)
    assert list(pending.block.transactions) == first
    assert list(pending.result.deferred) == [big] + after and not pending.result.rejected


def test_until_ends_the_block_and_defers_the_rest(chain, dev_accounts):
    txs = transfers(dev_accounts[0], 5)
    asked = []

    def until() -> bool:
        asked.append(len(asked))
        return len(asked) > 2

    pending = chain.execute_transactions(txs, timestamp=chain.head.timestamp + 1, until=until)
    assert list(pending.block.transactions) == txs[:2]
    assert list(pending.result.deferred) == txs[2:] and not pending.result.rejected
    assert len(asked) == 3   # asked before each transaction, not after the block ended


def test_an_open_block_filled_in_parts_is_the_block_of_all_its_transactions_at_once(chain, tmp_path, dev_accounts):
    """A dev chain fills its next block as transactions arrive and seals it at its tick: the
    block is the one built from all of them in one call, a rejected one reported by the call
    that met it; a sealed block takes no more."""
    alice, bob = dev_accounts[:2]
    txs = transfers(alice, 4) + transfers(bob, 3)
    stale = transfers(alice, 1)[0]       # nonce 0 again, after alice's nonce 0 ran
    timestamp = chain.head.timestamp + 1
    at_once = chain.execute_transactions(txs, timestamp=timestamp)
    at_once.writes.discard()

    block = chain.open_block(timestamp=timestamp)
    assert block.add(txs[:3]) == [] and dict(block.next_nonces) == {bytes.fromhex(alice.address[2:]): 3}
    rejected = block.add([stale, txs[3], *txs[4:]])
    assert [tx for tx, _ in rejected] == [stale] and "nonce" in rejected[0][1].lower()
    assert not block.full and block.gas_left == chain.head.gas_limit - 7 * 21_000
    pending = block.seal()
    assert pending.block.hash == at_once.block.hash
    assert [tx for tx, _ in pending.result.rejected] == [stale]
    with pytest.raises(ChainError, match="sealed"):
        block.add(transfers(bob, 1, start_nonce=3))
    chain.commit_block(pending)
    assert chain.head.hash == at_once.block.hash


def test_an_open_block_is_full_once_a_transaction_did_not_fit(chain, dev_accounts):
    alice, bob = dev_accounts[:2]
    big = PragueTransactionBuilder.decode(alice.sign_transaction({
        "chainId": CHAIN_ID, "nonce": 0, "to": "0x" + "11" * 20, "value": 1, "gas": chain.head.gas_limit,
        "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 1, "type": 2}).raw_transaction)
    block = chain.open_block(timestamp=chain.head.timestamp + 1)
    block.add(transfers(bob, 1))
    assert not block.full
    block.add([big])
    assert block.full and list(block.seal().result.deferred) == [big]


# LOG1 of 32 bytes with the caller as its topic: each sender sets its own bits of the bloom
LOGGER_CODE = bytes.fromhex("602a600052" "33" "6020" "6000" "a1" "00")
LOGGER = to_checksum_address("0x" + "4c" * 20)


def test_an_open_block_keeps_gas_used_and_bloom_as_py_evm_does_after_each_receipt(tmp_path, dev_accounts):
    """``OpenBlock.add`` and the import keep a block's gas used and bloom themselves and copy
    its header once (``kernel.vm.RunningHeader``): the block, filled in parts with logging
    calls and transfers, has the bloom of its receipts' logs and imports elsewhere."""
    alloc = {a.address: {"balance": hex(10**24)} for a in dev_accounts}
    genesis = Genesis.from_json({"config": {"chainId": CHAIN_ID}, "timestamp": "0x1", "alloc": {
        **alloc, LOGGER: {"code": "0x" + LOGGER_CODE.hex(), "balance": "0x0"}}})
    builder = Chain(LevelDB(tmp_path / "builder"), genesis)

    def logging_call(account, nonce):
        return PragueTransactionBuilder.decode(account.sign_transaction({
            "chainId": CHAIN_ID, "nonce": nonce, "to": LOGGER, "value": 0, "gas": 60_000,
            "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 1, "type": 2}).raw_transaction)

    alice, bob = dev_accounts[:2]
    block = builder.open_block(timestamp=builder.head.timestamp + 1)
    assert block.add([logging_call(alice, 0), *transfers(bob, 2)]) == []
    assert block.add([]) == []
    assert block.add([logging_call(bob, 2), logging_call(alice, 1)]) == []
    pending = block.seal()
    header = pending.block.header
    receipts = pending.result.receipts
    assert header.gas_used == receipts[-1].gas_used and header.bloom == functools.reduce(
        operator.or_, (int(BloomFilter.from_iterable(b for log in r.logs for b in log.bloomables)) for r in receipts))
    assert header.bloom != 0
    assert [len(r.logs) for r in pending.result.receipts] == [1, 0, 0, 1, 1]
    builder.commit_block(pending)
    importer = Chain(LevelDB(tmp_path / "importer"), genesis)
    importer.import_block(pending.block)         # py-evm validates gas used, bloom and roots
    assert importer.head.hash == builder.head.hash
