"""Request/response protocols between real libp2p hosts on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import rlp
import trio
from libp2p.peer.id import ID

from p2p.codec import encode_frame, encode_uvarint
from p2p.config import ReqRespConfig, ScoringConfig
from p2p.reqresp import (
    BLOCKS_BY_RANGE_PROTOCOL,
    STATUS_PROTOCOL,
    BlockAndCommit,
    InvalidResponse,
    RemoteError,
    ReqRespHandlers,
    RequestTimeout,
    ResponseCode,
    Status,
    WrongChain,
    encode_chunk,
)
from p2p_harness import CHAIN_ID, make_config, running_network, trio_test, wait_until

GENESIS = b"\x11" * 32
CHAIN_LENGTH = 300


def block_at(number: int) -> BlockAndCommit:
    return BlockAndCommit(block=rlp.encode([number, b"header", []]), commit=b"commit-%d" % number)


def block_hash(number: int) -> bytes:
    return number.to_bytes(32, "big")


class FakeChain:
    """A node's side of req/resp over a chain of CHAIN_LENGTH opaque blocks."""

    def __init__(self, chain_id: int = CHAIN_ID, stall: float = 0.0) -> None:
        self.chain_id = chain_id
        self.stall = stall
        self.peer_statuses: list[tuple[ID, Status]] = []

    async def status(self) -> Status:
        head = CHAIN_LENGTH - 1
        return Status(self.chain_id, GENESIS, head, block_hash(head), head, block_hash(head))

    async def on_peer_status(self, peer: ID, status: Status) -> None:
        self.peer_statuses.append((peer, status))

    async def blocks_by_range(self, peer: ID, start: int, count: int) -> list[BlockAndCommit]:
        await trio.sleep(self.stall)
        return [block_at(n) for n in range(start, min(start + count, CHAIN_LENGTH))]

    async def blocks_by_hash(self, peer: ID, hashes: Sequence[bytes]) -> list[BlockAndCommit]:
        numbers = [int.from_bytes(h, "big") for h in hashes]
        return [block_at(n) for n in numbers if n < CHAIN_LENGTH]

    def handlers(self) -> ReqRespHandlers:
        return ReqRespHandlers(
            status=self.status,
            on_peer_status=self.on_peer_status,
            blocks_by_range=self.blocks_by_range,
            blocks_by_hash=self.blocks_by_hash,
        )


async def raw_request(client, server, protocol, data: bytes) -> bytes:
    """Send arbitrary bytes on a req/resp stream and return everything the server answers."""
    stream = await client.host.new_stream(server.peer_id, [protocol])
    await stream.write(data)
    await stream.close_write()
    answer = b""
    with trio.fail_after(10):
        while True:
            try:
                chunk = await stream.read(65536)
            except Exception:
                break
            if not chunk:
                break
            answer += chunk
    return answer


@pytest.mark.timeout(60)
@trio_test
async def test_status_is_exchanged_both_ways() -> None:
    chains = [FakeChain(), FakeChain()]
    quiet = make_config(status_on_connect=False)
    async with running_network(
        2, config=quiet, handlers=lambda i: chains[i].handlers()
    ) as (alice, bob):
        status = await alice.request_status(bob.peer_id)
        assert status == await chains[1].status()
        assert chains[0].peer_statuses == [(bob.peer_id, status)]
        assert [peer for peer, _ in chains[1].peer_statuses] == [alice.peer_id]


@pytest.mark.timeout(60)
@trio_test
async def test_status_is_exchanged_when_peers_connect() -> None:
    chains = [FakeChain(), FakeChain()]
    async with running_network(2, handlers=lambda i: chains[i].handlers()) as (alice, bob):
        await wait_until(lambda: chains[0].peer_statuses and chains[1].peer_statuses)
        assert {peer for peer, _ in chains[0].peer_statuses} == {bob.peer_id}
        assert {peer for peer, _ in chains[1].peer_statuses} == {alice.peer_id}


@pytest.mark.timeout(60)
@trio_test
async def test_invalid_status_from_another_chain_disconnects() -> None:
    chains = [FakeChain(), FakeChain(chain_id=CHAIN_ID + 1)]
    quiet = make_config(status_on_connect=False)
    async with running_network(
        2, config=quiet, handlers=lambda i: chains[i].handlers()
    ) as (alice, bob):
        with pytest.raises(WrongChain):
            await alice.request_status(bob.peer_id)
        await wait_until(lambda: bob.peer_id not in alice.connected_peers())


@pytest.mark.timeout(60)
@trio_test
async def test_invalid_peers_from_another_chain_are_dropped_on_connect() -> None:
    chains = [FakeChain(), FakeChain(chain_id=CHAIN_ID + 1)]
    async with running_network(
        2, connect=False, handlers=lambda i: chains[i].handlers()
    ) as (alice, bob):
        await alice.connect(bob.listen_addrs[0])
        await wait_until(lambda: not alice.connected_peers() and not bob.connected_peers())
        assert chains[0].peer_statuses == [] and chains[1].peer_statuses == []


@pytest.mark.timeout(60)
@trio_test
async def test_blocks_by_range_returns_blocks_in_order_with_commits() -> None:
    chain = FakeChain()
    async with running_network(2, handlers=lambda i: chain.handlers()) as (alice, bob):
        blocks = await alice.request_blocks_by_range(bob.peer_id, 10, 5)
        assert blocks == [block_at(n) for n in range(10, 15)]
        full = await alice.request_blocks_by_range(str(bob.peer_id), 0, 256)
        assert len(full) == 256 and full[255] == block_at(255)
        tail = await alice.request_blocks_by_range(bob.peer_id, 290, 50)
        assert [b.commit for b in tail] == [b"commit-%d" % n for n in range(290, 300)]


@pytest.mark.timeout(60)
@trio_test
async def test_blocks_by_hash_returns_the_known_blocks() -> None:
    chain = FakeChain()
    async with running_network(2, handlers=lambda i: chain.handlers()) as (alice, bob):
        blocks = await alice.request_blocks_by_hash(bob.peer_id, [block_hash(7), block_hash(999)])
        assert blocks == [block_at(7)]


@pytest.mark.timeout(60)
@trio_test
async def test_invalid_range_over_256_is_refused_on_both_sides() -> None:
    chain = FakeChain()
    async with running_network(2, handlers=lambda i: chain.handlers()) as (alice, bob):
        with pytest.raises(ValueError):
            await alice.request_blocks_by_range(bob.peer_id, 0, 257)
        answer = await raw_request(
            alice, bob, BLOCKS_BY_RANGE_PROTOCOL, encode_frame(rlp.encode([0, 257]))
        )
        assert answer[0] == ResponseCode.INVALID_REQUEST
        assert b"count must be between 1 and 256" in answer
        assert bob.scores.score(str(alice.peer_id), trio.current_time()) < 0


@pytest.mark.timeout(60)
@trio_test
async def test_invalid_requests_get_errors_and_the_host_keeps_serving() -> None:
    chain = FakeChain()
    lenient = make_config(scoring=ScoringConfig(bad_request_penalty=1.0))
    async with running_network(
        2, configs=[lenient, lenient], handlers=lambda i: chain.handlers()
    ) as (alice, bob):
        cases = [
            encode_frame(b"\xff\xff"),  # not RLP
            encode_frame(rlp.encode(b"not a list")),
            encode_frame(rlp.encode([1])),  # wrong arity
            encode_frame(rlp.encode([b"\x00\x01", 1])),  # non-canonical integer
            encode_uvarint(10 * 1024 * 1024) + b"x",  # announces a 10 MiB request
            b"\x05ab",  # frame shorter than announced
        ]
        for data in cases:
            answer = await raw_request(alice, bob, BLOCKS_BY_RANGE_PROTOCOL, data)
            assert answer[:1] == bytes([ResponseCode.INVALID_REQUEST]), data
        garbage_status = await raw_request(alice, bob, STATUS_PROTOCOL, encode_frame(b"\xc0"))
        assert garbage_status[0] == ResponseCode.INVALID_REQUEST
        assert bob.metrics.reqresp_bad_requests == len(cases) + 1
        # Still serving (alice's score is low but above the ban threshold).
        assert await alice.request_blocks_by_range(bob.peer_id, 0, 2) == [block_at(0), block_at(1)]


@pytest.mark.timeout(60)
@trio_test
async def test_invalid_requester_is_banned_and_disconnected() -> None:
    chain = FakeChain()
    config = make_config(scoring=ScoringConfig(bad_request_penalty=30.0, ban_seconds=30.0))
    async with running_network(
        2, configs=[config, config], handlers=lambda i: chain.handlers()
    ) as (alice, bob):
        for _ in range(2):
            await raw_request(alice, bob, BLOCKS_BY_RANGE_PROTOCOL, encode_frame(b"\xff"))
        await wait_until(lambda: bob.is_banned(alice.peer_id))
        await wait_until(lambda: alice.peer_id not in bob.connected_peers())
        assert bob.metrics.peers_banned_total == 1


@pytest.mark.timeout(60)
@trio_test
async def test_request_to_a_stalling_peer_times_out() -> None:
    # The timeout leaves room for the Status both sides exchange on connect: at 0.5 s that
    # exchange itself timed out on a loaded CI machine and the count read 2.
    chains = [FakeChain(), FakeChain(stall=30.0)]
    fast = make_config(reqresp=ReqRespConfig(request_timeout=2.0, response_timeout=3.0))
    slow = make_config()
    async with running_network(
        2, configs=[fast, slow], handlers=lambda i: chains[i].handlers()
    ) as (alice, bob):
        before = alice.metrics.reqresp_timeouts
        with pytest.raises(RequestTimeout):
            await alice.request_blocks_by_range(bob.peer_id, 0, 5)
        assert alice.metrics.reqresp_timeouts == before + 1
        # The connection survives a timeout.
        assert (await alice.request_status(bob.peer_id)).chain_id == CHAIN_ID


@pytest.mark.timeout(60)
@trio_test
async def test_server_handler_timeout_answers_server_error() -> None:
    chains = [FakeChain(), FakeChain(stall=30.0)]
    server = make_config(reqresp=ReqRespConfig(handler_timeout=0.3))
    async with running_network(
        2, configs=[make_config(), server], handlers=lambda i: chains[i].handlers()
    ) as (alice, bob):
        with pytest.raises(RemoteError) as error:
            await alice.request_blocks_by_range(bob.peer_id, 0, 5)
        assert error.value.code == ResponseCode.SERVER_ERROR


@pytest.mark.timeout(60)
@trio_test
async def test_invalid_response_is_detected_and_the_responder_penalised() -> None:
    chain = FakeChain()
    async with running_network(2, handlers=lambda i: chain.handlers()) as (alice, mallory):

        async def evil(stream) -> None:
            await stream.read(64)
            await stream.write(encode_chunk(ResponseCode.SUCCESS, b"\xff not rlp"))
            await stream.close()

        mallory.host.set_stream_handler(BLOCKS_BY_RANGE_PROTOCOL, evil)
        with pytest.raises(InvalidResponse):
            await alice.request_blocks_by_range(mallory.peer_id, 0, 1)
        assert alice.scores.score(str(mallory.peer_id), trio.current_time()) < 0
        assert alice.metrics.reqresp_bad_responses == 1


@pytest.mark.timeout(60)
@trio_test
async def test_invalid_response_with_too_many_blocks_is_refused() -> None:
    chain = FakeChain()
    async with running_network(2, handlers=lambda i: chain.handlers()) as (alice, mallory):

        async def flood(stream) -> None:
            await stream.read(64)
            for number in range(5):
                chunk = rlp.encode(list(block_at(number)))
                await stream.write(encode_chunk(ResponseCode.SUCCESS, chunk))
            await stream.close()

        mallory.host.set_stream_handler(BLOCKS_BY_RANGE_PROTOCOL, flood)
        with pytest.raises(InvalidResponse):
            await alice.request_blocks_by_range(mallory.peer_id, 0, 2)


@pytest.mark.timeout(60)
@trio_test
async def test_concurrent_requests_beyond_the_per_peer_limit_are_refused() -> None:
    chains = [FakeChain(), FakeChain(stall=1.0)]
    async with running_network(2, handlers=lambda i: chains[i].handlers()) as (alice, bob):
        limit = bob.config.reqresp.max_concurrent_per_peer
        outcomes: list[object] = []

        async def fetch() -> None:
            try:
                await alice.request_blocks_by_range(bob.peer_id, 0, 3)
                outcomes.append("served")
            except RemoteError as error:
                outcomes.append(error.code.name)

        async with trio.open_nursery() as nursery:
            for _ in range(limit + 2):
                nursery.start_soon(fetch)
        assert outcomes.count("served") == limit
        assert outcomes.count("RESOURCE_UNAVAILABLE") == 2
