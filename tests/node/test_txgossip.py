"""The tx gossip message: batches that fit the topic's cap, what is not one, and the verdict
a message earns from what the pool made of its transactions."""
from __future__ import annotations

import pytest
import rlp
from test_mempool import CHAIN_ID, TO, accounts, chain, sign  # noqa: F401 - fixtures

from node.mempool import (
    MAX_TX_SIZE, InvalidTransaction, MalformedTransaction, PoolLimits, TxPool, TxRejected,
    UnwantedTransaction,
)
from node.txgossip import (
    GATHER_SECONDS, LOADED_BATCH, LOADED_GATHER_SECONDS, MAX_TXS_PER_MESSAGE, MalformedTxMessage,
    gather_transactions, gather_window, message_verdict, pack_transactions,
    transaction_verdict, unpack_transactions,
)
from p2p import ValidationResult

ACCEPT, IGNORE, REJECT = ValidationResult.ACCEPT, ValidationResult.IGNORE, ValidationResult.REJECT


def test_batches_round_trip_and_respect_count_and_size():
    raws = [bytes([i % 256]) * (100 + i % 50) for i in range(600)]
    messages = list(pack_transactions(raws, 8_000))
    assert all(len(m) <= 8_000 for m in messages)
    assert all(len(unpack_transactions(m)) <= MAX_TXS_PER_MESSAGE for m in messages)
    assert [raw for m in messages for raw in unpack_transactions(m)] == raws
    assert len(list(pack_transactions(raws[:10], 1_000_000))) == 1


def test_a_transaction_larger_than_any_message_is_left_out():
    assert [unpack_transactions(m) for m in pack_transactions([b"a" * 50, b"b" * 5_000, b"c"], 1_000)] \
        == [[b"a" * 50, b"c"]]


@pytest.mark.parametrize("payload", [
    b"", b"\xc0", b"\x82ab", b"\xf8\xffnot rlp", rlp.encode([b"tx"]) + b"\x00",
    rlp.encode([[b"nested"]]), rlp.encode([b""]), rlp.encode([b"x"] * (MAX_TXS_PER_MESSAGE + 1))])
def test_invalid_messages_are_refused(payload):
    with pytest.raises(MalformedTxMessage):
        unpack_transactions(payload)


def _rejection(pool: TxPool, accounts, signed) -> TxRejected | None:
    tx, size = signed
    try:
        pool.add(tx, accounts, encoded_size=size)
    except TxRejected as exc:
        return exc
    return None


# (what the peer relayed, the gossip verdict): each a rejection the pool really raises.
VERDICTS = [
    ("a new transaction", lambda alice, bob: sign(bob, 0), ACCEPT),
    ("already known", lambda alice, bob: sign(alice, 0), IGNORE),
    ("a gapped nonce (queued)", lambda alice, bob: sign(alice, 7), ACCEPT),
    ("replacement underpriced", lambda alice, bob: sign(alice, 0, value=2), IGNORE),
    ("insufficient funds at this head", lambda alice, bob: sign(bob, 0, value=10**30), IGNORE),
    ("over the block gas limit", lambda alice, bob: sign(bob, 0, gas=40_000_000), IGNORE),
    ("another chain's", lambda alice, bob: sign(bob, 0, chain_id=CHAIN_ID + 1), REJECT),
    ("intrinsic gas too low", lambda alice, bob: sign(bob, 0, gas=20_000), REJECT),
    ("fee cap below tip", lambda alice, bob: sign(bob, 0, fee=1, tip=2), REJECT),
    ("oversized", lambda alice, bob: (sign(bob, 0)[0], MAX_TX_SIZE + 1), REJECT),
    ("a bad signature", lambda alice, bob: (sign(bob, 0)[0].copy(r=0), 120), REJECT),
]


@pytest.mark.parametrize("relayed, make, verdict", VERDICTS, ids=[v[0] for v in VERDICTS])
def test_each_rejection_kind_earns_its_gossip_verdict(accounts, dev_accounts, relayed, make, verdict):
    alice, bob = dev_accounts[:2]
    pool = TxPool(CHAIN_ID, PoolLimits(block_gas_limit=30_000_000))
    assert _rejection(pool, accounts, sign(alice, 0)) is None
    assert transaction_verdict(_rejection(pool, accounts, make(alice, bob))) is verdict


def test_a_full_pool_is_ignored_not_rejected(accounts, dev_accounts):
    pool = TxPool(CHAIN_ID, PoolLimits(max_per_sender=1))
    assert _rejection(pool, accounts, sign(dev_accounts[0], 0)) is None
    rejection = _rejection(pool, accounts, sign(dev_accounts[0], 1))
    assert str(rejection).startswith("txpool is full") and transaction_verdict(rejection) is IGNORE


def test_undecodable_bytes_are_rejected():
    assert transaction_verdict(MalformedTransaction("rlp: invalid transaction")) is REJECT


@pytest.mark.parametrize("verdicts, expected", [
    ([ACCEPT], ACCEPT), ([IGNORE], IGNORE), ([REJECT], REJECT),
    ([IGNORE, ACCEPT, IGNORE], ACCEPT),     # something new: worth forwarding
    ([ACCEPT, REJECT], REJECT),             # one invalid transaction taints the message
    ([IGNORE, IGNORE], IGNORE),
])
def test_a_message_verdict_combines_its_transactions(verdicts, expected):
    examples = {ACCEPT: None, IGNORE: UnwantedTransaction("already known"),
                REJECT: InvalidTransaction("invalid sender: bad")}
    assert message_verdict(examples[v] for v in verdicts) is expected


def test_a_message_gathers_what_arrives_within_the_window_after_its_first_transaction():
    import trio
    import trio.testing

    async def main() -> list[list[bytes]]:
        send, receive = trio.open_memory_channel[bytes](100)
        batches: list[list[bytes]] = []

        async def feed() -> None:
            for delay, raw in ((0.0, b"b"), (0.0, b"c"), (0.05, b"d"), (0.2, b"e")):
                await trio.sleep(delay)
                await send.send(raw)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(feed)
            async for first in receive:
                batches.append(await gather_transactions(first, receive, seconds=0.1))
                if sum(map(len, batches)) == 4:
                    break
        return batches

    # b, c and d within 0.1 s of b; e 0.25 s after b starts the next message
    assert trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0)) == [[b"b", b"c", b"d"], [b"e"]]


def test_under_load_a_message_waits_longer_and_after_a_quiet_spell_as_briefly_as_before():
    """While messages of LOADED_BATCH or more follow each other, the window is
    LOADED_GATHER_SECONDS: under a flood, py-libp2p's cost per message is what the network
    pays. A lone transaction after a quiet spell still waits only GATHER_SECONDS."""
    import math

    import trio
    import trio.testing

    assert gather_window(LOADED_BATCH, 0.0) == LOADED_GATHER_SECONDS > GATHER_SECONDS
    assert gather_window(LOADED_BATCH - 1, 0.0) == GATHER_SECONDS == gather_window(LOADED_BATCH, GATHER_SECONDS)

    async def main() -> list[tuple[float, int]]:
        send, receive = trio.open_memory_channel[bytes](10_000)
        sent: list[tuple[float, int]] = []

        async def feed() -> None:
            for i in range(400):                   # 200/s for 2 s: a flood
                await send.send(b"%d" % i)
                await trio.sleep(0.005)
            await trio.sleep(5)
            await send.send(b"lone")               # then a quiet network

        async with trio.open_nursery() as nursery:
            nursery.start_soon(feed)
            previous, sent_at = 0, -math.inf
            async for first in receive:
                started = trio.current_time()
                window = gather_window(previous, started - sent_at)
                batch = await gather_transactions(first, receive, window)
                sent.append((round(trio.current_time() - started, 3), len(batch)))
                previous, sent_at = len(batch), trio.current_time()
                if batch[-1] == b"lone":
                    nursery.cancel_scope.cancel()
        return sent

    sent = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert sent[0] == (GATHER_SECONDS, 20)                        # the flood's first message
    assert all(waited == LOADED_GATHER_SECONDS for waited, _ in sent[1:-2])
    assert sum(count for _, count in sent[:-1]) == 400 and len(sent) < 2 + 400 / LOADED_BATCH
    assert sent[-1] == (GATHER_SECONDS, 1)


def test_a_message_gathers_no_more_than_the_most_a_message_carries():
    import trio

    async def main() -> list[bytes]:
        send, receive = trio.open_memory_channel[bytes](1000)
        for i in range(MAX_TXS_PER_MESSAGE + 10):
            send.send_nowait(b"%d" % i)
        return await gather_transactions(await receive.receive(), receive, seconds=10)

    assert len(trio.run(main)) == MAX_TXS_PER_MESSAGE
