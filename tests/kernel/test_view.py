"""The read-only chain view on real LevelDB: blob fees per block, proofs, access-list tracing."""
from __future__ import annotations

import pytest
import rlp
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_utils import keccak
from trie import HexaryTrie

from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.execution import CallMessage, ExecutionReverted
from kernel.forks import GAS_PER_BLOB, BLOB_SCHEDULES
from kernel.genesis import Genesis
from kernel.view import ChainView
from node.backend import Backend
from node.context import NodeContext
from node.rpc.eth import EthAPI

CHAIN_ID = 1337
PRAGUE = BLOB_SCHEDULES["prague"]


@pytest.fixture
def chain(tmp_path, dev_accounts):
    alloc = {a.address: {"balance": hex(10**24)} for a in dev_accounts}
    genesis = Genesis.from_json({"config": {"chainId": CHAIN_ID}, "alloc": alloc, "timestamp": "0x1",
                                 "azora": {"oracles": {"members": [dev_accounts[9].address], "quorum": 1}}})
    db = LevelDB(tmp_path / "db")
    yield Chain(db, genesis)
    db.close()


def blob_tx(account, nonce: int, blobs: int):
    signed = account.sign_transaction({
        "chainId": CHAIN_ID, "nonce": nonce, "to": "0x" + "11" * 20, "value": 1, "gas": 21000,
        "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 1, "type": 3, "maxFeePerBlobGas": 10**9,
        "blobVersionedHashes": [b"\x01" + bytes([i]) * 31 for i in range(blobs)]})
    return PragueTransactionBuilder.decode(signed.raw_transaction)


def build_blob_blocks(chain: Chain, account, blobs_per_block: list[int]) -> None:
    for nonce, blobs in enumerate(blobs_per_block):
        txs = [blob_tx(account, nonce, blobs)] if blobs else []
        result = chain.build_block(txs, timestamp=chain.head.timestamp + 1)
        assert len(result.block.transactions) == len(txs), result.rejected


def test_blob_fees_follow_each_blocks_excess_blob_gas_and_blob_gas_used(chain, dev_accounts):
    # Full blocks (9 blobs, 3 over Prague's target of 6) raise the excess until the fee moves.
    plan = [PRAGUE.max] * 14 + [2, 0]
    build_blob_blocks(chain, dev_accounts[0], plan)
    view = ChainView(chain)
    fees = [view.blob_fees_of(view.header_by_number(n)) for n in range(1, len(plan) + 1)]
    # py-evm's own Prague state computes each block's blob base fee from its header.
    expected = [chain.state_at(view.header_by_number(n)).blob_base_fee for n in range(1, len(plan) + 1)]
    assert [f.base_fee_per_blob_gas for f in fees] == expected
    assert expected[0] == 1 and expected[-1] > 1          # not a constant
    assert [f.blob_gas_used_ratio for f in fees] == [b * GAS_PER_BLOB / (PRAGUE.max * GAS_PER_BLOB) for b in plan]
    child = chain.create_child_header(view.head, timestamp=view.head.timestamp + 1)
    assert view.next_base_fee_per_blob_gas(view.head) == chain.vm_at(child).state.blob_base_fee


def test_fee_history_answers_each_blocks_blob_fields(chain, dev_accounts):
    plan = [PRAGUE.max] * 12 + [3]
    build_blob_blocks(chain, dev_accounts[0], plan)
    backend = Backend(chain)
    try:
        history = EthAPI(backend, NodeContext()).feeHistory("0x4", "latest")
    finally:
        backend.decoder.close()
    numbers = range(len(plan) - 3, len(plan) + 1)
    headers = [chain.header_by_number(n) for n in numbers]
    assert history["oldestBlock"] == hex(numbers[0])
    assert history["blobGasUsedRatio"] == [h.blob_gas_used / (PRAGUE.max * GAS_PER_BLOB) for h in headers]
    assert history["blobGasUsedRatio"][-1] == pytest.approx(3 / 9)
    child = chain.create_child_header(chain.head, timestamp=chain.head.timestamp + 1)
    assert history["baseFeePerBlobGas"] == [hex(chain.state_at(h).blob_base_fee) for h in headers] + [
        hex(chain.vm_at(child).state.blob_base_fee)]
    assert "0x1" not in history["baseFeePerBlobGas"]      # the excess has raised it above the minimum


def test_account_proof_verifies_against_the_state_root(chain, dev_accounts):
    view = ChainView(chain)
    address = bytes.fromhex(dev_accounts[0].address[2:])
    proof = view.account_proof(view.head, address, [b"\0" * 32])
    nodes = {keccak(node): node for node in proof.proof}
    account = HexaryTrie.get_from_proof(view.head.state_root, keccak(address), [rlp.decode(n) for n in proof.proof])
    assert keccak(proof.proof[0]) == view.head.state_root and nodes
    assert rlp.decode(account)[1] == (10**24).to_bytes(10, "big")     # [nonce, balance, ...]
    assert proof.balance == 10**24 and proof.storage[0].value == 0 and proof.storage[0].proof == ()


# Runtime code: SLOAD(7), POP, BALANCE(0x22..22), POP, STOP; and init code returning it.
TOUCHING_RUNTIME = bytes.fromhex("60075450" "73" + "22" * 20 + "315000")
TOUCHING_INIT = bytes.fromhex(f"60{len(TOUCHING_RUNTIME):02x}8060095f395ff3") + TOUCHING_RUNTIME
# Runtime code that reverts with its calldata: CALLDATACOPY(0, 0, size), REVERT(0, size).
REVERT_WITH_CALLDATA = bytes.fromhex("365f5f37365ffd")


def test_access_list_records_the_slots_and_accounts_a_call_touches(chain, dev_accounts):
    deployer = dev_accounts[0]
    signed = deployer.sign_transaction({"chainId": CHAIN_ID, "nonce": 0, "data": TOUCHING_INIT, "value": 0,
                                        "gas": 200_000, "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 1,
                                        "type": 2})
    chain.build_block([PragueTransactionBuilder.decode(signed.raw_transaction)], timestamp=chain.head.timestamp + 1)
    sender = bytes.fromhex(deployer.address[2:])
    contract = keccak(rlp.encode([sender, 0]))[12:]
    view = ChainView(chain)
    assert view.state_at(view.head).get_code(contract) == TOUCHING_RUNTIME
    result = view.create_access_list(view.head, CallMessage(sender=sender, to=contract))
    # The recipient is warm anyway: it appears only to carry its slot.
    assert dict(result.access_list) == {contract: (7,), b"\x22" * 20: ()}
    assert result.error is None and result.gas_used > 21_000 + 2_400


def test_a_reverted_call_carries_its_reason_and_overrides_are_never_persisted(chain, dev_accounts):
    from eth_abi import encode
    from kernel.execution import AccountOverride
    target = b"\x33" * 20
    view = ChainView(chain)
    message = CallMessage(sender=bytes.fromhex(dev_accounts[0].address[2:]), to=target,
                          data=bytes.fromhex("08c379a0") + encode(["string"], ["no"]))
    with pytest.raises(ExecutionReverted) as reverted:
        view.call(view.head, message, {target: AccountOverride(code=REVERT_WITH_CALLDATA)})
    assert reverted.value.reason == "no" and str(reverted.value) == "execution reverted: no"
    assert view.state_at(view.head).get_code(target) == b""
    assert view.call(view.head, message) == b""           # no code there without the override
