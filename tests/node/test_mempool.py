"""The transaction pool in process: real signed transactions over a real chain's head state."""
from __future__ import annotations

import pytest
from eth.vm.forks.prague.transactions import PragueTransactionBuilder

from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from node.mempool import (
    MAX_TX_SIZE, InvalidTransaction, PoolLimits, TxPool, TxRejected, UnwantedTransaction,
)

CHAIN_ID = 1337
GWEI = 10**9
BALANCE = 10**21
TO = "0x" + "11" * 20


class HeadAccounts:
    """Nonces and balances at the chain's head: what the node's pool reads."""

    def __init__(self, chain: Chain) -> None:
        self._state = chain.state_at(chain.head)

    def get_nonce(self, address: bytes) -> int:
        return self._state.get_nonce(address)

    def get_balance(self, address: bytes) -> int:
        return self._state.get_balance(address)


@pytest.fixture
def chain(tmp_path, dev_accounts):
    genesis = Genesis.from_json({
        "config": {"chainId": CHAIN_ID}, "timestamp": "0x1",   # no azora section: no system contracts
        "alloc": {a.address: {"balance": hex(BALANCE)} for a in dev_accounts[:6]}})
    db = LevelDB(tmp_path / "db")
    yield Chain(db, genesis)
    db.close()


@pytest.fixture
def accounts(chain):
    return HeadAccounts(chain)


def sign(account, nonce: int, *, fee: int = 2 * GWEI, tip: int = GWEI, value: int = 1,
         gas: int = 21_000, data: bytes = b"", chain_id: int = CHAIN_ID, **extra):
    fields = {"chainId": chain_id, "nonce": nonce, "to": TO, "value": value, "gas": gas,
              "maxFeePerGas": fee, "maxPriorityFeePerGas": tip, "type": 2, "data": data, **extra}
    raw = bytes(account.sign_transaction(fields).raw_transaction)
    return PragueTransactionBuilder.decode(raw), len(raw)


def add(pool: TxPool, accounts, signed) -> bytes:
    tx, size = signed
    return pool.add(tx, accounts, encoded_size=size)


def addr(account) -> bytes:
    return bytes.fromhex(account.address[2:])


def test_gapped_nonce_is_queued_then_promoted_when_the_gap_fills(accounts, dev_accounts):
    pool, alice = TxPool(CHAIN_ID), dev_accounts[0]
    add(pool, accounts, sign(alice, 0))
    add(pool, accounts, sign(alice, 2))
    add(pool, accounts, sign(alice, 3))
    assert (pool.pending_count, pool.queued_count) == (1, 2)
    assert [tx.nonce for tx in pool.select(GWEI)] == [0]
    add(pool, accounts, sign(alice, 1))
    assert (pool.pending_count, pool.queued_count) == (4, 0)
    assert [tx.nonce for tx in pool.select(GWEI)] == [0, 1, 2, 3]
    assert pool.pending_nonce(addr(alice), 0) == 4


def test_selection_orders_senders_by_tip_and_keeps_nonce_order(accounts, dev_accounts):
    pool, alice, bob = TxPool(CHAIN_ID), dev_accounts[0], dev_accounts[1]
    add(pool, accounts, sign(alice, 0, tip=GWEI))
    add(pool, accounts, sign(alice, 1, fee=10 * GWEI, tip=9 * GWEI))
    add(pool, accounts, sign(bob, 0, fee=3 * GWEI, tip=2 * GWEI))
    chosen = [(tx.sender, tx.nonce) for tx in pool.select(GWEI)]
    assert chosen == [(addr(bob), 0), (addr(alice), 0), (addr(alice), 1)]


def test_selection_after_a_block_not_yet_committed_starts_at_its_senders_next_nonces(accounts, dev_accounts):
    """``next_nonces``: what a block being built (or the one before it) already holds is left
    out; a sender it does not hold starts at its first pending nonce, one whose next nonce
    the pool lacks gives nothing."""
    pool, alice, bob, carol = TxPool(CHAIN_ID), dev_accounts[0], dev_accounts[1], dev_accounts[2]
    for nonce in range(5):
        add(pool, accounts, sign(alice, nonce))
    for nonce in range(2):
        add(pool, accounts, sign(bob, nonce))
    add(pool, accounts, sign(carol, 0))
    chosen = pool.select(GWEI, next_nonces={addr(alice): 3, addr(carol): 1})
    assert sorted((tx.sender, tx.nonce) for tx in chosen) == \
        sorted([(addr(alice), 3), (addr(alice), 4), (addr(bob), 0), (addr(bob), 1)])
    assert [tx.nonce for tx in pool.select(GWEI, 5, {addr(alice): 4, addr(bob): 2, addr(carol): 1})] == [4]


def test_new_head_drops_mined_transactions_and_promotes_the_rest(chain, accounts, dev_accounts):
    pool, alice = TxPool(CHAIN_ID), dev_accounts[0]
    for nonce in (0, 1, 3):
        add(pool, accounts, sign(alice, nonce))
    result = chain.build_block(pool.select(GWEI), timestamp=chain.head.timestamp + 1)
    assert len(result.block.transactions) == 2
    pool.on_new_head([addr(alice)], HeadAccounts(chain))
    assert (pool.pending_count, pool.queued_count) == (0, 1)
    add(pool, HeadAccounts(chain), sign(alice, 2))
    assert [tx.nonce for tx in pool.select(GWEI)] == [2, 3]


def test_rejected_transaction_demotes_its_successors_to_queued(accounts, dev_accounts):
    pool, alice = TxPool(CHAIN_ID), dev_accounts[0]
    txs = [sign(alice, nonce)[0] for nonce in range(4)]
    for tx in txs:
        pool.add(tx, accounts, encoded_size=120)
    pool.on_new_head([addr(alice)], accounts, rejected=[txs[1]])
    assert [tx.nonce for tx in pool.select(GWEI)] == [0]
    assert pool.queued_count == 2


@pytest.mark.parametrize("queued", [False, True])
def test_replacement_needs_ten_percent_higher_fee_cap_and_tip(accounts, dev_accounts, queued):
    pool, alice = TxPool(CHAIN_ID), dev_accounts[0]
    nonce = 5 if queued else 0
    original = add(pool, accounts, sign(alice, nonce, fee=10 * GWEI, tip=2 * GWEI))
    for fee, tip in ((11 * GWEI - 1, 3 * GWEI), (20 * GWEI, 2 * GWEI + 2 * GWEI // 10 - 1),
                     (10 * GWEI, 2 * GWEI)):
        with pytest.raises(UnwantedTransaction, match="^replacement transaction underpriced$"):
            add(pool, accounts, sign(alice, nonce, fee=fee, tip=tip, value=2))
    replacement = add(pool, accounts, sign(alice, nonce, fee=11 * GWEI, tip=2 * GWEI + 2 * GWEI // 10, value=3))
    assert pool.get(original) is None and pool.get(replacement) is not None
    assert pool.pending_count + pool.queued_count == 1
    assert (pool.queued_count == 1) is queued


def test_invalid_per_sender_limit_rejects_more_transactions(accounts, dev_accounts):
    pool, alice = TxPool(CHAIN_ID, PoolLimits(max_per_sender=3)), dev_accounts[0]
    for nonce in range(3):
        add(pool, accounts, sign(alice, nonce))
    with pytest.raises(UnwantedTransaction, match="txpool is full"):
        add(pool, accounts, sign(alice, 3))
    add(pool, accounts, sign(dev_accounts[1], 0))   # other senders are unaffected


def test_global_limit_evicts_the_cheapest_without_opening_gaps(accounts, dev_accounts):
    pool = TxPool(CHAIN_ID, PoolLimits(max_pending=3, max_queued=0))
    alice, bob, carol = dev_accounts[:3]
    add(pool, accounts, sign(alice, 0, fee=5 * GWEI))
    cheap_tail = add(pool, accounts, sign(alice, 1, fee=2 * GWEI))
    kept = add(pool, accounts, sign(bob, 0, fee=3 * GWEI))
    rich = add(pool, accounts, sign(carol, 0, fee=4 * GWEI))
    assert pool.get(cheap_tail) is None
    assert pool.get(kept) is not None and pool.get(rich) is not None
    assert pool.pending_count == 3
    # A newcomer no richer than the cheapest is refused rather than evicting anything.
    with pytest.raises(UnwantedTransaction, match="txpool is full"):
        add(pool, accounts, sign(dev_accounts[3], 0, fee=3 * GWEI))
    # Eviction takes a sender's highest nonce, never one a kept transaction depends on.
    add(pool, accounts, sign(dev_accounts[4], 0, fee=9 * GWEI))
    assert pool.get(kept) is None
    assert [tx.nonce for tx in pool.select(GWEI) if tx.sender == addr(alice)] == [0]


def test_invalid_already_known(accounts, dev_accounts):
    pool = TxPool(CHAIN_ID)
    signed = sign(dev_accounts[0], 0)
    add(pool, accounts, signed)
    with pytest.raises(UnwantedTransaction, match="^already known$"):
        add(pool, accounts, signed)


def test_invalid_nonce_too_low(chain, dev_accounts):
    alice = dev_accounts[0]
    tx, _ = sign(alice, 0)
    chain.build_block([tx], timestamp=chain.head.timestamp + 1)
    with pytest.raises(UnwantedTransaction, match="^nonce too low: .* tx: 0 state: 1"):
        add(TxPool(CHAIN_ID), HeadAccounts(chain), sign(alice, 0, value=2))


def test_invalid_insufficient_funds(accounts, dev_accounts):
    with pytest.raises(UnwantedTransaction, match=r"^insufficient funds for gas \* price \+ value"):
        add(TxPool(CHAIN_ID), accounts, sign(dev_accounts[0], 0, value=BALANCE))
    with pytest.raises(UnwantedTransaction, match=r"^insufficient funds for gas \* price \+ value"):
        add(TxPool(CHAIN_ID), accounts, sign(dev_accounts[9], 0))   # never funded


def test_invalid_intrinsic_gas_too_low(accounts, dev_accounts):
    with pytest.raises(InvalidTransaction, match="^intrinsic gas too low"):
        add(TxPool(CHAIN_ID), accounts, sign(dev_accounts[0], 0, gas=20_999))
    with pytest.raises(InvalidTransaction, match="^intrinsic gas too low"):
        add(TxPool(CHAIN_ID), accounts, sign(dev_accounts[0], 0, gas=21_000, data=b"\1" * 100))


def test_invalid_sender_from_a_bad_signature(accounts, dev_accounts):
    tx, size = sign(dev_accounts[0], 0)
    forged = tx.copy(r=0)   # no point on the curve: recovery fails
    with pytest.raises(InvalidTransaction, match="^invalid sender"):
        TxPool(CHAIN_ID).add(forged, accounts, encoded_size=size)
    high_s = tx.copy(s=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 - tx.s)
    with pytest.raises(InvalidTransaction, match="^invalid sender"):
        TxPool(CHAIN_ID).add(high_s, accounts, encoded_size=size)


def test_invalid_chain_id_for_signer(accounts, dev_accounts):
    with pytest.raises(InvalidTransaction, match="^invalid chain id for signer"):
        add(TxPool(CHAIN_ID), accounts, sign(dev_accounts[0], 0, chain_id=1))
    legacy = dev_accounts[0].sign_transaction({"chainId": 5, "nonce": 0, "to": TO, "value": 1,
                                               "gas": 21_000, "gasPrice": 2 * GWEI})
    raw = bytes(legacy.raw_transaction)
    with pytest.raises(InvalidTransaction, match="^invalid chain id for signer"):
        TxPool(CHAIN_ID).add(PragueTransactionBuilder.decode(raw), accounts, encoded_size=len(raw))


def test_invalid_oversized_data(accounts, dev_accounts):
    data = b"\1" * (MAX_TX_SIZE + 1)
    with pytest.raises(InvalidTransaction, match="^oversized data"):
        add(TxPool(CHAIN_ID), accounts, sign(dev_accounts[0], 0, gas=29_000_000, data=data))


def test_invalid_blob_transaction_type(accounts, dev_accounts):
    raw = bytes(dev_accounts[0].sign_transaction({
        "chainId": CHAIN_ID, "nonce": 0, "to": TO, "value": 0, "gas": 21_000,
        "maxFeePerGas": 2 * GWEI, "maxPriorityFeePerGas": GWEI, "maxFeePerBlobGas": GWEI,
        "blobVersionedHashes": [b"\1" + b"\0" * 31], "type": 3}).raw_transaction)
    tx = PragueTransactionBuilder.decode(raw)
    with pytest.raises(UnwantedTransaction, match="^transaction type not supported"):
        TxPool(CHAIN_ID).add(tx, accounts, encoded_size=len(raw))


def test_invalid_fee_cap_below_tip(accounts, dev_accounts):
    with pytest.raises(InvalidTransaction, match="^max priority fee per gas higher than max fee per gas"):
        add(TxPool(CHAIN_ID), accounts, sign(dev_accounts[0], 0, fee=GWEI, tip=2 * GWEI))


def test_rejection_leaves_the_pool_unchanged(accounts, dev_accounts):
    pool = TxPool(CHAIN_ID)
    add(pool, accounts, sign(dev_accounts[0], 0))
    with pytest.raises(TxRejected):
        add(pool, accounts, sign(dev_accounts[0], 0, fee=2 * GWEI, tip=GWEI, value=9))
    assert (pool.pending_count, pool.queued_count) == (1, 0)


def test_head_moving_before_the_pool_hears_of_it_still_keeps_queues_right(chain, dev_accounts):
    pool, alice = TxPool(CHAIN_ID), dev_accounts[0]
    txs = [sign(alice, nonce) for nonce in range(3)]
    for signed in txs:
        add(pool, HeadAccounts(chain), signed)
    chain.build_block([txs[0][0]], timestamp=chain.head.timestamp + 1)   # no on_new_head yet
    replacement = add(pool, HeadAccounts(chain), sign(alice, 1, fee=4 * GWEI, tip=2 * GWEI))
    add(pool, HeadAccounts(chain), sign(alice, 3))
    assert [(tx.nonce, tx.hash) for tx in pool.select(GWEI)][:1] == [(1, replacement)]
    assert [tx.nonce for tx in pool.select(GWEI)] == [1, 2, 3]
    pool.on_new_head([addr(alice)], HeadAccounts(chain))
    assert (pool.pending_count, pool.queued_count) == (3, 0)


def test_a_reader_older_than_the_pools_head_cannot_strand_transactions(chain, dev_accounts):
    # RPC threads read state outside the pool's lock: a block may land in between.
    pool, alice = TxPool(CHAIN_ID), dev_accounts[0]
    stale = HeadAccounts(chain)
    txs = [sign(alice, nonce) for nonce in range(4)]
    for signed in txs:
        add(pool, stale, signed)
    chain.build_block([tx for tx, _ in txs[:2]], timestamp=chain.head.timestamp + 1)
    pool.on_new_head([addr(alice)], HeadAccounts(chain))
    add(pool, stale, sign(alice, 4))            # admitted with the pre-block reader
    assert [tx.nonce for tx in pool.select(GWEI)] == [2, 3, 4]
    with pytest.raises(UnwantedTransaction, match="^nonce too low"):
        add(pool, stale, sign(alice, 1, value=5))
