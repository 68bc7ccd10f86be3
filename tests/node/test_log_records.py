"""eth_getLogs from the per-block log records (kernel/block_logs.py) answers exactly what the
receipts and transactions of the block say, and blocks without a record (genesis, datadirs
written before records existed) are still read through their receipts."""
from __future__ import annotations

import pytest
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_utils import keccak

from kernel import schema
from kernel.block_logs import decode_block_logs
from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.view import ChainView
from node.rpc.logs import LogQuery, logs_of_block, query_logs

from tests.kernel.test_chain import CHAIN_ID, make_genesis

TOPIC_A, TOPIC_B = keccak(b"topic a"), keccak(b"topic b")
# Init code that emits LOG2(mem[0:32] = word, TOPIC_B, TOPIC_A) and deploys nothing.
def _emitter(word: int) -> bytes:
    return (bytes([0x60, word, 0x60, 0x00, 0x52, 0x7F]) + TOPIC_A + b"\x7f" + TOPIC_B
            + bytes([0x60, 0x20, 0x60, 0x00, 0xA2, 0x00]))


def _tx(account, nonce: int, data: bytes = b"", to: str | None = None):
    fields = {"chainId": CHAIN_ID, "nonce": nonce, "value": 0, "gas": 200_000, "data": data,
              "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 1, "type": 2}
    if to is not None:
        fields["to"] = to
    return PragueTransactionBuilder.decode(account.sign_transaction(fields).raw_transaction)


@pytest.fixture
def chain(tmp_path, dev_accounts):
    db = LevelDB(tmp_path / "db")
    chain = Chain(db, make_genesis(dev_accounts))
    a, b = dev_accounts[0], dev_accounts[1]
    # Block 1: logs in transactions 0 and 2, none in 1 (its log indexes run on across it).
    chain.build_block([_tx(a, 0, _emitter(1)), _tx(b, 0, to="0x" + "11" * 20), _tx(a, 1, _emitter(2))],
                      timestamp=chain.head.timestamp + 1)
    chain.build_block([_tx(b, 1, to="0x" + "11" * 20)], timestamp=chain.head.timestamp + 1)   # no logs
    chain.build_block([_tx(b, 2, _emitter(3))], timestamp=chain.head.timestamp + 1)
    yield chain
    db.close()


QUERIES = {
    "everything": {},
    "one address": {"addresses": "first"},
    "topic in position 0": {"topics": ((TOPIC_B,),)},
    "topic in position 1 only": {"topics": (None, (TOPIC_A,))},
    "no such topic": {"topics": ((TOPIC_A,),)},
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_records_answer_as_the_receipts_do(chain, name) -> None:
    view = ChainView(chain)
    first_log_address = chain.receipts_of(chain.header_by_number(1))[0].logs[0].address
    spec = QUERIES[name]
    addresses = (first_log_address,) if spec.get("addresses") else ()
    query = LogQuery(0, 3, None, addresses, spec.get("topics", ()))
    from_records = query_logs(view, query)
    from_receipts = [log for n in range(0, 4) for log in logs_of_block(view, chain.header_by_number(n), query)]
    assert from_records == from_receipts
    if name == "everything":
        assert [(int(log["blockNumber"], 16), int(log["transactionIndex"], 16), int(log["logIndex"], 16))
                for log in from_records] == [(1, 0, 0), (1, 2, 1), (3, 0, 0)]
    for n in range(1, 4):   # every block has its record; one without logs holds its timestamp only
        record = chain.block_logs_record(chain.canonical_hash(n))
        assert record is not None and len(list(decode_block_logs(record))) == (0 if n == 2 else
                                                                                  2 if n == 1 else 1)


def test_a_block_without_a_record_is_read_from_its_receipts(chain) -> None:
    view = ChainView(chain)
    query = LogQuery(0, 3, None, (), ())
    expected = query_logs(view, query)
    for n in range(1, 4):   # as a datadir written before records existed
        chain.db.raw.delete(schema.make_block_logs_key(chain.canonical_hash(n)))
    assert query_logs(view, query) == expected
    by_hash = LogQuery(None, None, chain.canonical_hash(1), (), ())
    assert query_logs(view, by_hash) == expected[:2]
