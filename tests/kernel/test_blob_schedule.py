"""A genesis ``blobSchedule`` with non-standard values changes execution as it does in geth.

Per fork, ``target`` sets the excess blob gas of each header, ``max`` the blobs a block may
carry (building, import, pool admission) and ``baseFeeUpdateFraction`` the blob base fee.
The expected numbers below are worked out by hand from geth's formulas (eip4844.go):

    excess(child) = max(0, parent.excessBlobGas + parent.blobGasUsed - target * 2**17)
    blobBaseFee   = fakeExponential(1, excess, baseFeeUpdateFraction)    # ~ e ** (excess / fraction)
"""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import rlp

from kernel.chain import Chain, ChainError
from kernel.db import LevelDB
from kernel.execution import AccountOverride, CallMessage
from kernel.forks import GAS_PER_BLOB
from kernel.genesis import Genesis
from kernel.view import ChainView
from node.backend import Backend
from node.context import NodeContext
from node.mempool import UnwantedTransaction
from node.rpc.eth import EthAPI
from node.rpc.extra import EthExtraAPI

CHAIN_ID = 3151908
MERGED = {key: 0 for key in (
    "homesteadBlock", "eip150Block", "eip155Block", "eip158Block", "byzantiumBlock", "constantinopleBlock",
    "petersburgBlock", "istanbulBlock", "berlinBlock", "londonBlock", "mergeNetsplitBlock",
    "terminalTotalDifficulty", "shanghaiTime")}
CANCUN_CUSTOM = {"target": 2, "max": 4, "baseFeeUpdateFraction": 1112826}
CANCUN_STANDARD = {"target": 3, "max": 6, "baseFeeUpdateFraction": 3338477}
PRAGUE_CUSTOM = {"target": 9, "max": 12, "baseFeeUpdateFraction": 5007716}
PRAGUE_STANDARD = {"target": 6, "max": 9, "baseFeeUpdateFraction": 5007716}

# Cancun {target 2, max 4, fraction 1112826}, every block full (4 blobs = 524288 blob gas):
# block n's excess is (n - 1) * (524288 - 262144) = (n - 1) * 262144.
CUSTOM_EXCESS = [(n - 1) * 262_144 for n in range(1, 12)]
# fakeExponential(1, excess, 1112826) for blocks 9, 10, 11 (excess 2097152, 2359296, 2621440):
# e ** 1.8845 = 6.58, e ** 2.1201 = 8.33, e ** 2.3557 = 10.55, floored by the integer series.
CUSTOM_FEES = {9: 6, 10: 8, 11: 10}
# The same blocks under the standard Cancun schedule (target 3): (n - 1) * 131072, and block
# 11's fee fakeExponential(1, 1310720, 3338477) = e ** 0.3926 -> 1.
STANDARD_EXCESS_11, STANDARD_FEE_11 = 1_310_720, 1


def genesis_json(alice: str, *, cancun: dict | None = None, prague: dict | None = None,
                 **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"chainId": CHAIN_ID, **MERGED, "cancunTime": 0}
    schedule = {}
    if cancun is not None:
        schedule["cancun"] = cancun
    if prague is not None:
        config["pragueTime"] = 0
        schedule["prague"] = prague
    if schedule:
        config["blobSchedule"] = schedule
    return {"config": config, "alloc": {alice: {"balance": hex(10**24)}}, "timestamp": "0x0",
            "gasLimit": "0x1c9c380", "difficulty": "0x0", "baseFeePerGas": "0x3b9aca00", **extra}


def open_chain(path, data: dict[str, Any]) -> Chain:
    return Chain(LevelDB(path), Genesis.from_json(data))


@pytest.fixture
def chains(tmp_path):
    opened: list[Chain] = []

    def make(name: str, data: dict[str, Any]) -> Chain:
        opened.append(open_chain(tmp_path / name, data))
        return opened[-1]
    yield make
    for chain in opened:
        chain.db.close()


def blob_tx(chain: Chain, account: Any, nonce: int, blobs: int) -> Any:
    signed = account.sign_transaction({
        "chainId": CHAIN_ID, "nonce": nonce, "to": "0x" + "11" * 20, "value": 1, "gas": 21000,
        "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1, "type": 3, "maxFeePerBlobGas": 10**9,
        "blobVersionedHashes": [b"\x01" + bytes([i]) * 31 for i in range(blobs)]})
    head = chain.head
    builder = chain.vm_class_for(head.block_number + 1, head.timestamp + 12).get_transaction_builder()
    return builder.decode(bytes(signed.raw_transaction))


def build_full_blocks(chain: Chain, account: Any, count: int, blobs: int) -> None:
    for nonce in range(count):
        result = chain.build_block([blob_tx(chain, account, nonce, blobs)], timestamp=chain.head.timestamp + 12)
        assert len(result.block.transactions) == 1, (result.rejected, result.deferred)


# -- header excess blob gas and blob base fee -------------------------------------------------

def test_custom_cancun_schedule_sets_each_headers_excess_blob_gas_and_the_blob_base_fee(chains, dev_accounts):
    alice = dev_accounts[0]
    chain = chains("custom", genesis_json(alice.address, cancun=CANCUN_CUSTOM))
    build_full_blocks(chain, alice, 10, blobs=4)
    excess = [chain.header_by_number(n).excess_blob_gas for n in range(1, 11)]
    child = chain.create_child_header(chain.head, timestamp=chain.head.timestamp + 12)
    assert excess + [child.excess_blob_gas] == CUSTOM_EXCESS
    # The fee execution charges (the state's, BLOBBASEFEE's) and the one the view reports.
    view = ChainView(chain)
    for number in (9, 10):
        header = chain.header_by_number(number)
        assert chain.vm_at(header).state.blob_base_fee == CUSTOM_FEES[number]
        assert view.blob_fees_of(header).base_fee_per_blob_gas == CUSTOM_FEES[number]
    assert chain.vm_at(child).state.blob_base_fee == CUSTOM_FEES[11]
    assert view.next_base_fee_per_blob_gas(chain.head) == CUSTOM_FEES[11]
    # BLOBBASEFEE in a call at the head (block 10): BLOBBASEFEE PUSH0 MSTORE PUSH1 32 PUSH0 RETURN.
    probe = b"\x42" * 20
    output = view.call(chain.head, CallMessage(to=probe),
                       {probe: AccountOverride(code=bytes.fromhex("4a5f5260205ff3"))})
    assert int.from_bytes(output, "big") == CUSTOM_FEES[10]


def test_the_custom_blob_base_fee_is_what_a_blob_transaction_pays(chains, dev_accounts):
    alice = dev_accounts[0]
    chain = chains("custom", genesis_json(alice.address, cancun=CANCUN_CUSTOM))
    build_full_blocks(chain, alice, 9, blobs=4)
    sender = bytes.fromhex(alice.address[2:])
    before = chain.state_at(chain.head).get_balance(sender)
    block = chain.build_block([blob_tx(chain, alice, 9, 4)], timestamp=chain.head.timestamp + 12).block
    gas_price = block.header.base_fee_per_gas + 1
    paid = before - chain.state_at(block.header).get_balance(sender)
    assert paid == 21000 * gas_price + 1 + 4 * GAS_PER_BLOB * CUSTOM_FEES[10]


def test_standard_schedule_gives_the_same_blocks_as_a_config_without_one(chains, dev_accounts):
    alice = dev_accounts[0]
    named = chains("named", genesis_json(alice.address, cancun=CANCUN_STANDARD))
    unnamed = chains("unnamed", genesis_json(alice.address))
    for chain in (named, unnamed):
        build_full_blocks(chain, alice, 10, blobs=4)
    assert named.head.hash == unnamed.head.hash
    child = named.create_child_header(named.head, timestamp=named.head.timestamp + 12)
    assert child.excess_blob_gas == STANDARD_EXCESS_11
    assert named.vm_at(child).state.blob_base_fee == STANDARD_FEE_11
    assert ChainView(named).next_base_fee_per_blob_gas(named.head) == STANDARD_FEE_11


def test_genesis_excess_blob_gas_starts_the_custom_schedules_fees(chains, dev_accounts):
    alice = dev_accounts[0]
    chain = chains("custom", genesis_json(alice.address, cancun=CANCUN_CUSTOM, excessBlobGas=hex(2_621_440),
                                          blobGasUsed="0x0"))
    genesis = chain.header_by_number(0)
    assert genesis.excess_blob_gas == 2_621_440
    assert ChainView(chain).blob_fees_of(genesis).base_fee_per_blob_gas == CUSTOM_FEES[11]
    # Nothing used: block 1's excess falls by the target, to block 10's above (fee 8).
    child = chain.create_child_header(genesis, timestamp=12)
    assert child.excess_blob_gas == 2_359_296 and chain.vm_at(child).state.blob_base_fee == CUSTOM_FEES[10]


def test_the_first_prague_block_takes_its_excess_from_prague_custom_target(chains, dev_accounts):
    # geth: a header's excess uses the schedule of the header's own fork, not its parent's.
    alice = dev_accounts[0]
    data = genesis_json(alice.address, cancun=CANCUN_CUSTOM, prague={**PRAGUE_CUSTOM, "target": 1})
    data["config"]["pragueTime"] = 24
    chain = chains("custom", data)
    build_full_blocks(chain, alice, 1, blobs=4)                     # Cancun, 4 blobs, at 12
    first_prague = chain.create_child_header(chain.head, timestamp=24)
    # 524288 used - Prague's target 1 * 131072 (Cancun's 2 would give 262144; Prague's standard 6, 0).
    assert first_prague.excess_blob_gas == 393_216


# -- the maximum blobs per block --------------------------------------------------------------

def test_custom_prague_schedule_builds_and_imports_blocks_up_to_its_own_maximum(chains, dev_accounts):
    alice = dev_accounts[0]
    custom = genesis_json(alice.address, cancun=CANCUN_STANDARD, prague=PRAGUE_CUSTOM)
    builder = chains("builder", custom)
    # 12 blobs: over Prague's standard 9, within this chain's 12.
    block = builder.build_block([blob_tx(builder, alice, 0, 12)], timestamp=12).block
    assert block.header.blob_gas_used == 12 * GAS_PER_BLOB
    second = builder.build_block([], timestamp=24).block
    assert second.header.excess_blob_gas == (12 - 9) * GAS_PER_BLOB      # target 9, not 6
    copy = chains("copy", custom)
    copy.import_block(block)
    copy.import_block(second)
    assert copy.head.hash == second.hash
    standard = chains("standard", genesis_json(alice.address, cancun=CANCUN_STANDARD, prague=PRAGUE_STANDARD))
    with pytest.raises(ChainError, match="blob gas used 1572864 exceeds maximum allowance 1179648"):
        standard.import_block(block)


def test_invalid_block_with_more_blobs_than_the_custom_maximum_is_refused_on_import(chains, dev_accounts):
    alice = dev_accounts[0]
    standard = chains("standard", genesis_json(alice.address))
    block = standard.build_block([blob_tx(standard, alice, 0, 5)], timestamp=12).block   # 5 <= 6
    custom = chains("custom", genesis_json(alice.address, cancun=CANCUN_CUSTOM))
    with pytest.raises(ChainError, match="blob gas used 655360 exceeds maximum allowance 524288"):
        custom.import_block(block)
    assert custom.head.block_number == 0


def test_invalid_header_excess_blob_gas_under_the_custom_target_is_refused_on_import(chains, dev_accounts):
    alice = dev_accounts[0]
    standard = chains("standard", genesis_json(alice.address))
    build_full_blocks(standard, alice, 2, blobs=4)
    custom = chains("custom", genesis_json(alice.address, cancun=CANCUN_CUSTOM))
    custom.import_block(standard.block_of(standard.header_by_number(1)))
    # Block 2 carries the standard target's excess (524288 - 393216); target 2 wants 262144.
    with pytest.raises(ChainError, match="invalid excessBlobGas: have 131072, want 262144"):
        custom.import_block(standard.block_of(standard.header_by_number(2)))


def test_a_block_is_never_built_with_more_blobs_than_the_custom_maximum(chains, dev_accounts):
    a, b, c, d = dev_accounts[:4]
    chain = chains("custom", genesis_json(a.address, cancun=CANCUN_CUSTOM,
                                         alloc={acct.address: {"balance": hex(10**24)} for acct in (a, b, c, d)}))
    txs = [blob_tx(chain, a, 0, 5), blob_tx(chain, b, 0, 3), blob_tx(chain, c, 0, 1), blob_tx(chain, d, 0, 1)]
    result = chain.build_block(txs, timestamp=12)
    # As geth's miner: what does not fit the blob space left waits for a later block.
    assert list(result.block.transactions) == [txs[1], txs[2]]
    assert list(result.deferred) == [txs[0], txs[3]] and not result.rejected
    assert result.block.header.blob_gas_used == 4 * GAS_PER_BLOB


def test_the_custom_maximum_refuses_blob_transactions_at_pool_admission(tmp_path, dev_accounts):
    alice = dev_accounts[0]
    backend = Backend(open_chain(tmp_path / "db", genesis_json(alice.address, cancun=CANCUN_CUSTOM)))
    try:
        with pytest.raises(UnwantedTransaction, match="too many blobs in transaction: have 5, permitted 4"):
            backend.admit(blob_tx(backend.chain, alice, 0, 5), encoded_size=300)
        backend.admit(blob_tx(backend.chain, alice, 0, 4), encoded_size=300)
        assert backend.pool.pending_count == 1
    finally:
        backend.close()


# -- JSON-RPC answers ------------------------------------------------------------------------

def test_fee_history_blob_base_fee_and_config_answer_with_the_custom_schedule(tmp_path, dev_accounts):
    alice = dev_accounts[0]
    backend = Backend(open_chain(tmp_path / "db", genesis_json(alice.address, cancun=CANCUN_CUSTOM)))
    try:
        build_full_blocks(backend.chain, alice, 10, blobs=4)
        eth = EthAPI(backend, NodeContext())
        history = eth.feeHistory("0x2", "latest")
        assert history["oldestBlock"] == "0x9"
        assert history["blobGasUsedRatio"] == [1.0, 1.0]           # 4 blobs of a maximum of 4
        assert history["baseFeePerBlobGas"] == [hex(CUSTOM_FEES[n]) for n in (9, 10, 11)]
        assert eth.blobBaseFee() == hex(CUSTOM_FEES[11])
        current = EthExtraAPI(backend).config()["current"]
        assert current["blobSchedule"] == {"baseFeeUpdateFraction": 1112826, "max": 4, "target": 2}
    finally:
        backend.close()


def test_fee_history_on_a_schedule_that_allows_no_blobs_gives_a_ratio_of_zero(tmp_path, dev_accounts):
    """geth accepts ``max: 0`` (a chain without blobs); the used ratio is 0, not a division by zero."""
    alice = dev_accounts[0]
    backend = Backend(open_chain(tmp_path / "db", genesis_json(
        alice.address, cancun={"target": 0, "max": 0, "baseFeeUpdateFraction": 1112826})))
    try:
        backend.chain.build_block([], timestamp=backend.chain.head.timestamp + 12)
        history = EthAPI(backend, NodeContext()).feeHistory("0x1", "latest")
        assert history["blobGasUsedRatio"] == [0.0] and history["baseFeePerBlobGas"] == ["0x1", "0x1"]
    finally:
        backend.close()


# -- genesis ----------------------------------------------------------------------------------

@pytest.mark.parametrize("entry, reason", [
    ({"target": 2, "max": 4}, "update fraction must be defined and non-zero"),
    ({"target": 2, "max": 4, "baseFeeUpdateFraction": 0}, "update fraction must be defined and non-zero"),
    ({"target": -1, "max": 4, "baseFeeUpdateFraction": 1}, "target < 0"),
    ({"target": 2, "max": -4, "baseFeeUpdateFraction": 1}, "max < 0"),
])
def test_invalid_blob_schedule_entry_is_refused_as_geth_refuses_it(dev_accounts, entry, reason):
    with pytest.raises(ValueError, match=f'blobSchedule for fork "cancun": {reason}'):
        Genesis.from_json(genesis_json(dev_accounts[0].address, cancun=entry))


def test_two_chains_with_different_schedules_in_one_process_keep_their_own(chains, dev_accounts):
    alice = dev_accounts[0]
    custom = chains("custom", genesis_json(alice.address, cancun=CANCUN_CUSTOM))
    standard = chains("standard", genesis_json(alice.address, cancun=CANCUN_STANDARD))
    for chain in (custom, standard, custom):
        chain.build_block([blob_tx(chain, alice, chain.head.block_number, 4)], timestamp=chain.head.timestamp + 12)
    assert custom.create_child_header(custom.head).excess_blob_gas == 2 * 262_144     # two full blocks
    assert standard.create_child_header(standard.head).excess_blob_gas == 131_072


# -- azora import ------------------------------------------------------------------------------

def test_azora_import_checks_blocks_against_the_genesis_files_schedule(tmp_path, dev_accounts):
    alice = dev_accounts[0]
    custom = genesis_json(alice.address, cancun=CANCUN_CUSTOM)
    chain = open_chain(tmp_path / "built", custom)
    try:
        build_full_blocks(chain, alice, 3, blobs=4)
        blocks = [chain.block_of(chain.header_by_number(n)) for n in (1, 2, 3)]
    finally:
        chain.db.close()
    (tmp_path / "chain.rlp").write_bytes(b"".join(rlp.encode(block) for block in blocks))
    for name, data in (("custom", custom), ("standard", genesis_json(alice.address, cancun=CANCUN_STANDARD))):
        (tmp_path / f"{name}.json").write_text(json.dumps(data))

    def azora_import(name: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "node.cli", "import", "--datadir", str(tmp_path / name),
                               "--genesis", str(tmp_path / f"{name}.json"), str(tmp_path / "chain.rlp")],
                              capture_output=True, text=True, timeout=300)

    imported = azora_import("custom")
    assert imported.returncode == 0, imported.stderr
    assert f"imported 3 blocks; head #3 0x{blocks[-1].hash.hex()}" in imported.stdout
    refused = azora_import("standard")
    assert refused.returncode == 1
    assert "import stopped at head #1" in refused.stderr and "invalid excessBlobGas" in refused.stderr

