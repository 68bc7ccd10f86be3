"""A block's consensus system calls (Azora's epoch rewards) ran before its transactions: a
trace replays them first, or the traced transaction would see a state it never ran on."""
from __future__ import annotations

from pathlib import Path

import rlp
import vyper
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_utils import keccak
from web3 import Web3

from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from kernel.tracing import TraceConfig
from kernel.view import ChainView

CHAIN_ID = 1337
STORE = vyper.compile_code((Path(__file__).parent / "contracts/Store.vy").read_text(),
                           output_formats=["abi", "bytecode"])


def word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def test_a_trace_replays_the_blocks_system_calls_before_its_transactions(tmp_path, dev_accounts):
    account = dev_accounts[0]
    genesis = Genesis.from_json({"config": {"chainId": CHAIN_ID}, "alloc": {account.address: {"balance": hex(10**24)}},
                                 "timestamp": "0x1", "azora": {"oracles": {"members": [account.address], "quorum": 1}}})
    db = LevelDB(tmp_path / "db")
    chain = Chain(db, genesis)
    store_contract = Web3().eth.contract(abi=STORE["abi"])

    def signed(nonce: int, to: bytes | None, data: str) -> object:
        tx = {"chainId": CHAIN_ID, "nonce": nonce, "data": data, "gas": 500_000, "value": 0,
              "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1, "type": 2}
        if to is not None:
            tx["to"] = Web3.to_checksum_address(to)
        return PragueTransactionBuilder.decode(account.sign_transaction(tx).raw_transaction)

    chain.build_block([signed(0, None, STORE["bytecode"])], timestamp=2)
    store = keccak(rlp.encode([bytes.fromhex(account.address[2:]), 0]))[12:]
    # Block 2's rules call store(5, 99) from the system address before its transaction.
    rule = (store, bytes.fromhex(store_contract.encode_abi("store", [5, 99])[2:]))
    chain.build_block([signed(1, store, store_contract.encode_abi("store", [5, 100]))], timestamp=3,
                      system_calls=[rule])
    slot_number = int.from_bytes(keccak(b"\0" * 32 + (5).to_bytes(32, "big")), "big")   # values[5]
    assert chain.state_at(chain.head).get_storage(store, slot_number) == 100
    slot = word(slot_number)
    config = TraceConfig(tracer="prestateTracer")
    with_rules = ChainView(chain, system_calls_for=lambda block: [rule] if block.number == 2 else [])
    prestate = with_rules.trace_transaction(chain.head, 0, config)
    assert prestate["0x" + store.hex()]["storage"] == {slot: word(99)}
    struct = with_rules.trace_transaction(chain.head, 0, TraceConfig())
    assert struct["gas"] == chain.receipts_of(chain.head)[0].gas_used
    # Without the rules the replay starts from a state the transaction never saw.
    assert ChainView(chain).trace_transaction(chain.head, 0, config)["0x" + store.hex()]["storage"] == {slot: word(0)}
    db.close()
