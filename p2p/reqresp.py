"""Request/response protocols, one stream per request, modelled on Ethereum's consensus p2p.

Wire format (every integer a uvarint, every payload RLP):

- request:  ``len | payload``, then the requester half-closes its side;
- response: zero or more chunks ``code | len | payload``; code 0 carries a result, any
  other code carries a UTF-8 error message and ends the response. The responder closes
  the stream after the last chunk.

``/azora/req/status/1``: request and response are both a Status (each side learns the
other's). ``/azora/req/blocks_by_range/1``: request ``[start, count]`` (count ≤ 256),
response one chunk ``[blockRLP, commitCertificate]`` per block, in order.
``/azora/req/blocks_by_hash/1``: request ``[hash, …]`` (≤ 256), response as above.

Sizes and times are bounded on both sides: a malformed or oversized request is answered
with INVALID_REQUEST and costs the requester score; a malformed response costs the
responder score and raises ``InvalidResponse`` at the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple, Protocol

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.network.stream.exceptions import StreamEOF, StreamError
from libp2p.peer.id import ID

from p2p.codec import (
    CodecError,
    decode_rlp_list,
    encode_frame,
    encode_rlp,
    expect_bytes,
    expect_list,
    expect_uint,
    read_frame,
)
from p2p.config import ReqRespConfig
from p2p.host import disconnect_peer
from p2p.metrics import P2PMetrics
from p2p.scoring import Offence

logger = logging.getLogger(__name__)

STATUS_PROTOCOL = TProtocol("/azora/req/status/1")
BLOCKS_BY_RANGE_PROTOCOL = TProtocol("/azora/req/blocks_by_range/1")
BLOCKS_BY_HASH_PROTOCOL = TProtocol("/azora/req/blocks_by_hash/1")

MAX_ERROR_MESSAGE_BYTES = 256
WRONG_CHAIN = "wrong chain"
WRONG_CHAIN_GRACE_SECONDS = 1.0
HASH_BYTES = 32


class ResponseCode(IntEnum):
    """The first byte of every response chunk."""

    SUCCESS = 0
    INVALID_REQUEST = 1
    SERVER_ERROR = 2
    RESOURCE_UNAVAILABLE = 3


class ReqRespError(Exception):
    """A request failed."""


class RequestTimeout(ReqRespError):
    """The peer did not answer within the configured time."""


class InvalidResponse(ReqRespError):
    """The peer answered with something that breaks the protocol."""


class RemoteError(ReqRespError):
    """The peer answered with an error code."""

    def __init__(self, code: ResponseCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


class InvalidRequest(ReqRespError):
    """Raised by a node handler to refuse a request it considers malformed (e.g. wrong chain)."""


class ResourceUnavailable(ReqRespError):
    """Raised by a node handler when it does not have what was asked for."""


@dataclass(frozen=True)
class Status:
    """A node's chain summary, exchanged on connect and before syncing."""

    chain_id: int
    genesis_hash: bytes
    head_number: int
    head_hash: bytes
    finalized_number: int
    finalized_hash: bytes

    def encode(self) -> bytes:
        """RLP ``[chainId, genesisHash, headNumber, headHash, finalizedNumber, finalizedHash]``."""
        return encode_rlp(
            [
                self.chain_id,
                self.genesis_hash,
                self.head_number,
                self.head_hash,
                self.finalized_number,
                self.finalized_hash,
            ]
        )

    @classmethod
    def decode(cls, data: bytes) -> Status:
        """Parse and check a Status; raises CodecError on any malformed field."""
        items = decode_rlp_list(data, max_size=1024, length=6)
        return cls(
            chain_id=expect_uint(items[0], "chain_id"),
            genesis_hash=expect_bytes(items[1], "genesis_hash", HASH_BYTES),
            head_number=expect_uint(items[2], "head_number"),
            head_hash=expect_bytes(items[3], "head_hash", HASH_BYTES),
            finalized_number=expect_uint(items[4], "finalized_number"),
            finalized_hash=expect_bytes(items[5], "finalized_hash", HASH_BYTES),
        )


class BlockAndCommit(NamedTuple):
    """A block's RLP and the commit certificate bytes that finalize it (both opaque here)."""

    block: bytes
    commit: bytes


StatusProvider = Callable[[], Awaitable[Status]]
PeerStatusHandler = Callable[[ID, Status], Awaitable[None]]
BlocksByRangeHandler = Callable[[ID, int, int], Awaitable[Sequence[BlockAndCommit]]]
BlocksByHashHandler = Callable[[ID, Sequence[bytes]], Awaitable[Sequence[BlockAndCommit]]]


class Reputation(Protocol):
    """Where req/resp reports peers' faults and asks about bans."""

    def penalise(self, peer: ID, offence: Offence) -> None: ...

    def is_banned(self, peer: ID) -> bool: ...


class WrongChain(ReqRespError):
    """The peer is on another chain (different chain id or genesis)."""


@dataclass
class ReqRespHandlers:
    """The node's callbacks; a protocol whose handler is None answers RESOURCE_UNAVAILABLE.

    ``status`` returns our current Status (used to answer and to ask); ``on_peer_status``
    sees every peer Status received either way, after the chain id and genesis were checked
    (it may raise InvalidRequest to refuse the peer).
    """

    status: StatusProvider | None = None
    on_peer_status: PeerStatusHandler | None = None
    blocks_by_range: BlocksByRangeHandler | None = None
    blocks_by_hash: BlocksByHashHandler | None = None


def check_same_chain(ours: Status, theirs: Status) -> None:
    """Raise WrongChain unless both statuses name the same chain id and genesis."""
    if theirs.chain_id != ours.chain_id:
        raise WrongChain(f"chain id {theirs.chain_id}, expected {ours.chain_id}")
    if theirs.genesis_hash != ours.genesis_hash:
        raise WrongChain(f"genesis {theirs.genesis_hash.hex()}, expected {ours.genesis_hash.hex()}")


class _EOFAsEmpty:
    """Adapts a libp2p stream, whose ``read`` raises StreamEOF, to the codec's reader."""

    def __init__(self, stream: INetStream) -> None:
        self._stream = stream

    async def read(self, n: int | None = None) -> bytes:
        try:
            return await self._stream.read(n)
        except StreamEOF:
            return b""


# -- payload codecs ---------------------------------------------------------------------


def encode_range_request(start: int, count: int) -> bytes:
    """RLP ``[start, count]``."""
    return encode_rlp([start, count])


def decode_range_request(data: bytes, max_size: int, max_count: int) -> tuple[int, int]:
    """Parse ``[start, count]``; count must be 1..max_count."""
    items = decode_rlp_list(data, max_size=max_size, length=2)
    start, count = expect_uint(items[0], "start"), expect_uint(items[1], "count")
    if not 1 <= count <= max_count:
        raise CodecError(f"count must be between 1 and {max_count}, got {count}")
    return start, count


def encode_hash_request(hashes: Sequence[bytes]) -> bytes:
    """RLP ``[hash, …]``."""
    return encode_rlp(list(hashes))


def decode_hash_request(data: bytes, max_size: int, max_count: int) -> list[bytes]:
    """Parse ``[hash, …]``: 1..max_count hashes of 32 bytes."""
    items = expect_list(decode_rlp_list(data, max_size=max_size), "hashes", max_count)
    if not items:
        raise CodecError("no hashes requested")
    return [expect_bytes(item, "hash", HASH_BYTES) for item in items]


def encode_block_and_commit(item: BlockAndCommit) -> bytes:
    """RLP ``[blockRLP, commit]`` with both as byte strings."""
    return encode_rlp([item.block, item.commit])


def decode_block_and_commit(data: bytes, max_size: int) -> BlockAndCommit:
    """Parse ``[blockRLP, commit]``; the block must itself be an RLP list."""
    items = decode_rlp_list(data, max_size=max_size, length=2)
    block = expect_bytes(items[0], "block")
    decode_rlp_list(block, max_size=max_size)
    return BlockAndCommit(block=block, commit=expect_bytes(items[1], "commit"))


# -- chunks -----------------------------------------------------------------------------


def encode_chunk(code: ResponseCode, payload: bytes) -> bytes:
    """One response chunk: code byte, then a length-prefixed payload."""
    return bytes([code]) + encode_frame(payload)


def encode_error_chunk(code: ResponseCode, message: str) -> bytes:
    """An error chunk with a truncated UTF-8 message."""
    return encode_chunk(code, message.encode()[:MAX_ERROR_MESSAGE_BYTES])


async def read_chunk(reader: _EOFAsEmpty, max_size: int) -> tuple[ResponseCode, bytes] | None:
    """Read one response chunk; None at a clean end of stream."""
    first = await reader.read(1)
    if not first:
        return None
    try:
        code = ResponseCode(first[0])
    except ValueError:
        raise CodecError(f"unknown response code {first[0]}") from None
    limit = max_size if code is ResponseCode.SUCCESS else MAX_ERROR_MESSAGE_BYTES
    return code, await read_frame(reader, limit)


# -- the protocol engine ----------------------------------------------------------------


class ReqResp:
    """Serves the node's handlers and issues requests to peers over one host."""

    def __init__(
        self,
        host: IHost,
        config: ReqRespConfig,
        handlers: ReqRespHandlers,
        reputation: Reputation,
        metrics: P2PMetrics,
    ) -> None:
        self.host = host
        self.config = config
        self.handlers = handlers
        self.metrics = metrics
        self._reputation = reputation
        self._inflight: dict[ID, int] = {}

    def install(self) -> None:
        """Register the three protocol handlers on the host."""
        self.host.set_stream_handler(STATUS_PROTOCOL, self._serve_status)
        self.host.set_stream_handler(BLOCKS_BY_RANGE_PROTOCOL, self._serve_blocks_by_range)
        self.host.set_stream_handler(BLOCKS_BY_HASH_PROTOCOL, self._serve_blocks_by_hash)

    # -- client side ----------------------------------------------------------------------

    async def request_status(self, peer: ID) -> Status:
        """Send our Status to ``peer`` and return theirs (raises WrongChain for another chain)."""
        if self.handlers.status is None:
            raise ReqRespError("no local status provider installed")
        ours = await self.handlers.status()
        chunks = await self._request(peer, STATUS_PROTOCOL, ours.encode(), max_chunks=1)
        if len(chunks) != 1:
            raise self._bad_response(peer, "status response without a status")
        try:
            theirs = Status.decode(chunks[0])
        except CodecError as error:
            raise self._bad_response(peer, f"malformed status: {error}") from None
        check_same_chain(ours, theirs)
        if self.handlers.on_peer_status is not None:
            await self.handlers.on_peer_status(peer, theirs)
        return theirs

    async def request_blocks_by_range(
        self, peer: ID, start: int, count: int
    ) -> list[BlockAndCommit]:
        """Ask ``peer`` for up to ``count`` (≤ 256) blocks from ``start``, with commits."""
        if not 1 <= count <= self.config.max_blocks_per_request:
            raise ValueError(f"count must be between 1 and {self.config.max_blocks_per_request}")
        payload = encode_range_request(start, count)
        chunks = await self._request(peer, BLOCKS_BY_RANGE_PROTOCOL, payload, max_chunks=count)
        return self._decode_blocks(peer, chunks)

    async def request_blocks_by_hash(
        self, peer: ID, hashes: Sequence[bytes]
    ) -> list[BlockAndCommit]:
        """Ask ``peer`` for the blocks with these hashes (≤ 256), with commits."""
        if not 1 <= len(hashes) <= self.config.max_blocks_per_request:
            raise ValueError(f"between 1 and {self.config.max_blocks_per_request} hashes")
        payload = encode_hash_request(hashes)
        chunks = await self._request(
            peer, BLOCKS_BY_HASH_PROTOCOL, payload, max_chunks=len(hashes)
        )
        return self._decode_blocks(peer, chunks)

    def _decode_blocks(self, peer: ID, chunks: list[bytes]) -> list[BlockAndCommit]:
        try:
            return [decode_block_and_commit(c, self.config.max_chunk_bytes) for c in chunks]
        except CodecError as error:
            raise self._bad_response(peer, f"malformed block: {error}") from None

    def _bad_response(self, peer: ID, reason: str) -> InvalidResponse:
        self.metrics.reqresp_bad_responses += 1
        self._reputation.penalise(peer, Offence.BAD_RESPONSE)
        return InvalidResponse(reason)

    async def _request(
        self, peer: ID, protocol: TProtocol, payload: bytes, max_chunks: int
    ) -> list[bytes]:
        self.metrics.reqresp_requests_sent += 1
        try:
            with trio.fail_after(self.config.response_timeout):
                return await self._exchange(peer, protocol, payload, max_chunks)
        except trio.TooSlowError:
            self.metrics.reqresp_timeouts += 1
            raise RequestTimeout(f"{protocol} to {peer} timed out") from None
        except (RemoteError, WrongChain):
            self.metrics.reqresp_request_errors += 1
            raise
        except CodecError as error:
            raise self._bad_response(peer, f"{protocol}: {error}") from None
        except (StreamError, OSError) as error:
            self.metrics.reqresp_request_errors += 1
            raise ReqRespError(f"{protocol} to {peer} failed: {error}") from None
        except Exception as error:  # py-libp2p raises many unrelated types on dial/negotiate
            if isinstance(error, ReqRespError):
                raise
            self.metrics.reqresp_request_errors += 1
            raise ReqRespError(f"{protocol} to {peer} failed: {error!r}") from None

    async def _exchange(
        self, peer: ID, protocol: TProtocol, payload: bytes, max_chunks: int
    ) -> list[bytes]:
        stream = await self.host.new_stream(peer, [protocol])
        try:
            await stream.write(encode_frame(payload))
            # Every py-libp2p stream has close_write; its INetStream interface omits it.
            await stream.close_write()  # type: ignore[attr-defined]
            chunks = await self._read_response(stream, max_chunks)
        except BaseException:
            await _reset_quietly(stream)
            raise
        await _close_quietly(stream)
        return chunks

    async def _read_response(self, stream: INetStream, max_chunks: int) -> list[bytes]:
        reader = _EOFAsEmpty(stream)
        chunks: list[bytes] = []
        while True:
            with trio.fail_after(self.config.request_timeout):
                chunk = await read_chunk(reader, self.config.max_chunk_bytes)
            if chunk is None:
                return chunks
            code, body = chunk
            if code is not ResponseCode.SUCCESS:
                message = body.decode(errors="replace")
                if message.startswith(WRONG_CHAIN):
                    raise WrongChain(message)
                raise RemoteError(code, message)
            if len(chunks) == max_chunks:
                raise CodecError(f"more than the {max_chunks} chunks requested")
            chunks.append(body)

    # -- server side ----------------------------------------------------------------------

    async def _serve_status(self, stream: INetStream) -> None:
        async def answer(peer: ID, request: bytes) -> list[bytes]:
            theirs = Status.decode(request)
            if self.handlers.status is None:
                raise ResourceUnavailable("status not served")
            ours = await self.handlers.status()
            check_same_chain(ours, theirs)
            if self.handlers.on_peer_status is not None:
                await self.handlers.on_peer_status(peer, theirs)
            return [ours.encode()]

        await self._serve(stream, answer)

    async def _serve_blocks_by_range(self, stream: INetStream) -> None:
        async def answer(peer: ID, request: bytes) -> list[bytes]:
            start, count = decode_range_request(
                request, self.config.max_request_bytes, self.config.max_blocks_per_request
            )
            if self.handlers.blocks_by_range is None:
                raise ResourceUnavailable("blocks_by_range not served")
            blocks = await self.handlers.blocks_by_range(peer, start, count)
            return [encode_block_and_commit(item) for item in list(blocks)[:count]]

        await self._serve(stream, answer)

    async def _serve_blocks_by_hash(self, stream: INetStream) -> None:
        async def answer(peer: ID, request: bytes) -> list[bytes]:
            hashes = decode_hash_request(
                request, self.config.max_request_bytes, self.config.max_blocks_per_request
            )
            if self.handlers.blocks_by_hash is None:
                raise ResourceUnavailable("blocks_by_hash not served")
            blocks = await self.handlers.blocks_by_hash(peer, hashes)
            return [encode_block_and_commit(item) for item in list(blocks)[: len(hashes)]]

        await self._serve(stream, answer)

    async def _serve(
        self, stream: INetStream, answer: Callable[[ID, bytes], Awaitable[list[bytes]]]
    ) -> None:
        peer = stream.muxed_conn.peer_id
        if self._reputation.is_banned(peer):
            await _reset_quietly(stream)
            return
        if self._inflight.get(peer, 0) >= self.config.max_concurrent_per_peer:
            await self._send_error(stream, ResponseCode.RESOURCE_UNAVAILABLE, "too many requests")
            return
        self._inflight[peer] = self._inflight.get(peer, 0) + 1
        try:
            await self._serve_one(stream, peer, answer)
        finally:
            self._inflight[peer] -= 1
            if not self._inflight[peer]:
                del self._inflight[peer]

    async def _serve_one(
        self,
        stream: INetStream,
        peer: ID,
        answer: Callable[[ID, bytes], Awaitable[list[bytes]]],
    ) -> None:
        self.metrics.reqresp_requests_served += 1
        try:
            with trio.fail_after(self.config.request_timeout):
                request = await read_frame(_EOFAsEmpty(stream), self.config.max_request_bytes)
            with trio.fail_after(self.config.handler_timeout):
                chunks = await answer(peer, request)
        except (CodecError, InvalidRequest) as error:
            self.metrics.reqresp_bad_requests += 1
            self._reputation.penalise(peer, Offence.BAD_REQUEST)
            await self._send_error(stream, ResponseCode.INVALID_REQUEST, str(error))
            return
        except WrongChain as error:
            # Not misbehaviour, just another network: answer, then hang up (as eth's Goodbye).
            await self._send_error(stream, ResponseCode.INVALID_REQUEST, f"{WRONG_CHAIN}: {error}")
            await self._hang_up(peer)
            return
        except ResourceUnavailable as error:
            await self._send_error(stream, ResponseCode.RESOURCE_UNAVAILABLE, str(error))
            return
        except trio.TooSlowError:
            self.metrics.reqresp_timeouts += 1
            await self._send_error(stream, ResponseCode.SERVER_ERROR, "timed out")
            return
        except StreamError:
            await _reset_quietly(stream)
            return
        except Exception:
            logger.exception("req/resp handler failed for %s", peer)
            await self._send_error(stream, ResponseCode.SERVER_ERROR, "internal error")
            return
        await self._send_chunks(stream, chunks)

    async def _hang_up(self, peer: ID) -> None:
        # Give the error chunk a moment to reach the peer (which hangs up itself on reading
        # it) before closing the connection from our side.
        with trio.move_on_after(WRONG_CHAIN_GRACE_SECONDS):
            while self.host.get_network().get_connections(peer):
                await trio.sleep(0.05)
        await disconnect_peer(self.host, peer)

    async def _send_chunks(self, stream: INetStream, chunks: list[bytes]) -> None:
        try:
            with trio.fail_after(self.config.response_timeout):
                for chunk in chunks:
                    await stream.write(encode_chunk(ResponseCode.SUCCESS, chunk))
                await stream.close()
        except (trio.TooSlowError, StreamError, OSError):
            await _reset_quietly(stream)

    async def _send_error(self, stream: INetStream, code: ResponseCode, message: str) -> None:
        try:
            with trio.fail_after(self.config.request_timeout):
                await stream.write(encode_error_chunk(code, message))
                await stream.close()
        except (trio.TooSlowError, StreamError, OSError):
            await _reset_quietly(stream)


async def _reset_quietly(stream: INetStream) -> None:
    # Shielded: this also runs while a timeout is cancelling the request.
    with trio.CancelScope(shield=True), trio.move_on_after(1.0):
        try:
            await stream.reset()
        except Exception:
            pass


async def _close_quietly(stream: INetStream) -> None:
    with trio.move_on_after(1.0):
        try:
            await stream.close()
        except Exception:
            await _reset_quietly(stream)
