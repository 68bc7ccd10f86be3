"""The RPC gateway: a process beside the node that speaks HTTP to the RPC port's clients.

What dApps, bots and wallets send is one request per transaction and one per receipt poll.
Answered in the node's process, each sent transaction cost its GIL about 1.2 ms (py-spy,
``bench/throughput.py --send single``): HTTP parsing, the transaction's decoding and the
recovery of its sender, more than half of it work that needs nothing of the chain, and all of
it time block execution waits for, since the node's Python runs on one core at a time.

The gateway takes that work to another core. It owns the port's listening sockets (the node
binds them and passes them on, so the port outlives a gateway restart), parses HTTP with the
same front as the in-process server (node/rpc/front.py), and hands every plain JSON-RPC POST
to the node over a private Unix socket, one frame per request. Before it does, it decodes the
raw transactions of ``eth_sendRawTransaction`` calls with the node's transaction builder and
recovers their senders, and sends them along pickled, as the node's decoder workers do
(node/admission.py): the node answers the request exactly as before (its dispatcher, rate
limits, error codes and messages) and finds those transactions already decoded. Every other
request (GET, WebSocket, a browser's, /metrics, /health) is relayed to the node's full app,
as the in-process front relays it.

Receipt polls, one or more per transaction sent, are answered here once their block's receipts
are known: when the node formats a block's receipts for a poll, it sends them along with that
answer (:func:`show_receipts`), and the gateway answers later polls of the block's other
transactions itself, byte for byte as the node would. What a rewind of a dev chain
(``evm_revert``) makes stale is told by a counter both processes map (:class:`RewindCounter`):
the node bumps it before the chain moves, and the gateway drops what it holds whenever the
count differs from the one its receipts were formatted under. A poll the gateway cannot answer
(a pending transaction, an old block, a rate-limited port) goes to the node as before, and the
node counts the ones answered here in its metrics.

The node supervises the gateway: it waits for it to connect before reporting the port open,
restarts it if it exits, serves the port in process if it cannot start, and stops it on
shutdown. The gateway exits when the node goes (its link closes), even after a kill -9.

A frame is a 4-byte big-endian length and a pickle: the two processes are one program, and
the socket is in a directory only the node's user can open. The gateway never unpickles
anything a client sent.
"""
from __future__ import annotations

import functools
import itertools
import json
import logging
import math
import mmap
import pickle
import socket
import struct
import sys
import tempfile
import threading
import time
from collections import OrderedDict, deque
from contextvars import ContextVar
from typing import Any, AsyncIterator, Awaitable, Callable, Sequence

import trio

from node.admission import _decode_chunk, decoded_ahead
from node.rpc.format import BlockFacts, ReceiptFacts, shape_receipt
from node.rpc.front import MAX_REQUEST_BYTES, encode_answer, serve_connection
from node.rpc.hexcodec import data

logger = logging.getLogger("azora.rpc.gateway")

READY_TIMEOUT = 30.0       # seconds for a started gateway to connect (imports on a loaded machine)
RESTART_DELAY = 1.0        # seconds before a gateway that exited is started again
STOP_TIMEOUT = 5.0         # seconds a stopping gateway is given before it is killed
RECEIPT_METHOD = "eth_getTransactionReceipt"
RECEIPT_BLOCKS = 64        # blocks whose receipts the gateway keeps (the node keeps as many formatted)
SERVED_REPORT_SECONDS = 1.0   # how often the gateway tells the node what it answered itself
PUSH_AFTER_POLL_SECONDS = 30.0   # new blocks' receipts are pushed this long after a receipt poll

Answer = Callable[[str, int, Any], Awaitable[tuple[int, bytes]]]
# (client, a call object the gateway parsed) -> (status, the body or the response object)
AnswerParsed = Callable[[str, dict[str, Any]], Awaitable[tuple[int, Any]]]
Record = Callable[[str, str, "float | None"], None]   # node.rpc.server.Dispatcher.record
# (the rewind count before the request, ((block hash, [formatted receipts]), ...)): the blocks
# whose receipts the calls of the request being answered formatted or read, in its context.
_shown_receipts: ContextVar[tuple[int, list[tuple[bytes, list[dict[str, Any]]]]] | None] = ContextVar(
    "shown_receipts", default=None)


def show_receipts(block_hash: bytes, receipts: list[dict[str, Any]]) -> None:
    """Offer a block's formatted receipts to the gateway that passed on the current request
    (eth_getTransactionReceipt calls this; outside a gateway's request it does nothing)."""
    shown = _shown_receipts.get()
    if shown is not None:
        shown[1].append((block_hash, receipts))


class RewindCounter:
    """How many times the chain was rewound, in 8 bytes of a file both processes map.

    The node bumps it before a rewind moves the head; the gateway reads it before answering a
    receipt poll itself. A frame would arrive too late: a rewind asked over WebSocket, or
    through the gateway while polls are in flight, must stop the gateway's answers at once."""

    def __init__(self, fd: int | None = None) -> None:
        if fd is None:
            self._file = tempfile.TemporaryFile()   # unlinked: only the node and its gateway hold it
            self._file.write(bytes(8))
            self._file.flush()
            fd = self._file.fileno()
        self.fd = fd
        self._map = mmap.mmap(fd, 8)

    def value(self) -> int:
        return int(struct.unpack_from("<Q", self._map)[0])

    def bump(self) -> None:
        struct.pack_into("<Q", self._map, 0, self.value() + 1)


class NodeSide:
    """What the links need of the node beyond its RPC app: the transaction builder's path as it
    is now, the rewind counter, and the receipts of new blocks, pushed to the gateways.

    The first poll for a block's transactions used to wait while the node read the block back
    and formatted all its receipts (70 ms for 1,400 transfers), every polling client stalled
    behind it. While a gateway's clients poll receipts, the node sends each new block's
    receipts unasked as it commits it, unshaped (node.rpc.format.ReceiptFacts, read from the
    objects it executed): the gateway shapes and encodes each when it is polled. Formatting
    them here cost the node's one GIL ~25 ms a 1,000-transfer block, 2.5% of a loaded dev
    node's second; the facts cost a third of that."""

    def __init__(self, builder: Callable[[], tuple[str, str]], rewinds: RewindCounter,
                 facts_of: "Callable[[Any], tuple[BlockFacts, list[ReceiptFacts]]] | None" = None) -> None:
        """``facts_of(header)``: a block's receipts, unshaped (node.rpc.eth.EthAPI.receipt_facts);
        None pushes none."""
        self.builder, self.rewinds, self.facts_of = builder, rewinds, facts_of
        self.polled_at = -math.inf    # when a gateway last passed on or answered a receipt poll
        # the links to push to, each with the (rewind count, block hash) of the blocks it was sent
        self._links: dict[Link, OrderedDict[tuple[int, bytes], None]] = {}
        self._token: trio.lowlevel.TrioToken | None = None

    def attach(self, link: "Link", sent_blocks: OrderedDict[tuple[int, bytes], None]) -> None:
        """Push new blocks' receipts to ``link`` too (called on the event loop), remembering
        in ``sent_blocks`` what it was sent."""
        self._token = trio.lowlevel.current_trio_token()
        self._links[link] = sent_blocks

    def detach(self, link: "Link") -> None:
        self._links.pop(link, None)

    def on_new_block(self, block: Any) -> None:
        """A ``Backend.on_new_block`` hook, on the thread that committed ``block``: while clients
        poll receipts, push its receipts to the gateways. Rewinds cannot run between the commit
        and this hook, so the count read here is the one the block was committed under."""
        if (self.facts_of is None or self._token is None or not self._links or not block.transactions
                or time.monotonic() - self.polled_at > PUSH_AFTER_POLL_SECONDS):
            return
        count = self.rewinds.value()
        try:
            shared, facts = self.facts_of(block.header)
            # plain tuples: a third of the named tuples' pickling cost
            message = ("facts", count, tuple(shared), [tuple(one) for one in facts])
            self._token.run_sync_soon(self._push, count, block.hash, message)
        except trio.RunFinishedError:
            pass
        except Exception:  # noqa: BLE001 - the block is committed; the polls will ask for it
            logger.exception("reading the receipts of block #%d for the RPC gateway failed", block.number)

    def _push(self, count: int, block_hash: bytes, message: tuple) -> None:
        for link, sent_blocks in self._links.items():
            if _first_time(sent_blocks, count, block_hash):
                link.send_nowait(message)


# -- the link: frames both ways --------------------------------------------------------------

class Link:
    """Length-prefixed pickles over a stream; concurrent senders' frames leave in one write."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self._outgoing, self._queued = trio.open_memory_channel[bytes](1024)

    async def send(self, message: Any) -> None:
        await self._outgoing.send(self._frame(message))

    def send_nowait(self, message: Any) -> None:
        """Queue ``message`` unless the link is full or closing (then it is dropped)."""
        try:
            self._outgoing.send_nowait(self._frame(message))
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    @staticmethod
    def _frame(message: Any) -> bytes:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        return len(data).to_bytes(4, "big") + data

    async def write_loop(self) -> None:
        async for frame in self._queued:
            frames = [frame]
            while True:
                try:
                    frames.append(self._queued.receive_nowait())
                except trio.WouldBlock:
                    break
            await self.stream.send_all(b"".join(frames))

    async def frames(self) -> AsyncIterator[Any]:
        """Each message received, until the other side closes."""
        buffer = bytearray()
        while True:
            try:
                data = await self.stream.receive_some(1 << 20)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not data:
                return
            buffer += data
            start = 0
            while len(buffer) - start >= 4:
                end = start + 4 + int.from_bytes(buffer[start:start + 4], "big")
                if len(buffer) < end:
                    break
                yield pickle.loads(buffer[start + 4:end])
                start = end
            del buffer[:start]


# -- in the node: answering the gateway's frames, and the gateway's process -------------------

async def serve_link(stream: trio.abc.Stream, answer: Answer, node: NodeSide, record: Record, *,
                     answer_parsed: AnswerParsed, push_receipts: bool = True) -> None:
    """Answer the requests one gateway sends, each in its own task, until it closes; count the
    calls it reports having answered itself with ``record(method, "ok", seconds)``; push it new
    blocks' receipts (:class:`NodeSide`) if ``push_receipts``. A request is a body to
    ``answer``, or one call object the gateway parsed, to ``answer_parsed``."""
    link = Link(stream)
    # (rewind count, block hash) of the blocks whose receipts went to this gateway
    sent_blocks: OrderedDict[tuple[int, bytes], None] = OrderedDict()
    if push_receipts:
        node.attach(link, sent_blocks)
    try:
        async with stream, trio.open_nursery() as nursery:
            nursery.start_soon(link.write_loop)
            async for frame in link.frames():
                if frame[0] == "served":
                    node.polled_at = time.monotonic()
                    for seconds in frame[2]:
                        record(frame[1], "ok", seconds)
                    continue
                nursery.start_soon(_answer_frame, link, answer, answer_parsed, node, sent_blocks, frame)
            nursery.cancel_scope.cancel()
    finally:
        node.detach(link)


async def _answer_frame(link: Link, answer: Answer, answer_parsed: AnswerParsed, node: NodeSide,
                        sent_blocks: OrderedDict[tuple[int, bytes], None], frame: tuple) -> None:
    request_id, client, declared, body, ahead = frame
    if ahead:
        decoded_ahead.set(ahead)   # in this task's context: the calls of this request see it
    shown: tuple[int, list[tuple[bytes, list[dict[str, Any]]]]] = (node.rewinds.value(), [])
    _shown_receipts.set(shown)

    async def chunks() -> AsyncIterator[bytes]:
        yield body

    try:
        if isinstance(body, dict):
            status, out = await answer_parsed(client, body)
        else:
            status, out = await answer(client, declared, chunks())
    except Exception:  # noqa: BLE001 - one request's bug must not end the link
        logger.exception("RPC request from the gateway failed")
        status, out = 500, b""
    receipts = None
    if shown[1] and status == 200:
        node.polled_at = time.monotonic()
        receipts = (shown[0], [item for block_hash, formatted in shown[1]
                               if _first_time(sent_blocks, shown[0], block_hash) for item in _encoded(formatted)])
    try:
        await link.send((request_id, status, out, node.builder(), receipts))
    except (pickle.PicklingError, TypeError, AttributeError):
        # a response object pickle cannot carry (what json can encode, it can, but a
        # handler's value of a local class...): encoded here, as without the gateway
        await link.send((request_id, status, encode_answer(out), node.builder(), receipts))


def _first_time(sent_blocks: OrderedDict[tuple[int, bytes], None], count: int, block_hash: bytes) -> bool:
    """Whether a gateway was not sent this block's receipts yet under rewind count ``count``
    (a rewound dev chain can build a block with the same hash again, after the gateway
    dropped it); it has been now."""
    if (count, block_hash) in sent_blocks:
        return False
    sent_blocks[(count, block_hash)] = None
    if len(sent_blocks) > RECEIPT_BLOCKS:
        sent_blocks.popitem(last=False)
    return True


def _encoded(receipts: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    """(transaction hash, its receipt as the node's answer encodes it: json.dumps, as
    node.rpc.server.answer_post encodes the whole answer)."""
    return [(receipt["transactionHash"], json.dumps(receipt).encode()) for receipt in receipts]


class Gateway:
    """The gateway process of one RPC port, as the node runs it."""

    def __init__(self, listeners: Sequence[trio.SocketListener], link_path: str, app_path: str,
                 vhosts: Sequence[str], answer: Answer, node: NodeSide, *,
                 record: Record, answers_receipts: bool, answer_parsed: AnswerParsed) -> None:
        """``record(method, outcome, seconds)`` counts a call the gateway answered itself;
        ``answers_receipts`` False keeps every receipt poll for the node (its rate limits)."""
        self.listeners, self.link_path, self.app_path = listeners, link_path, app_path
        self.vhosts, self.answer, self.node = tuple(vhosts), answer, node
        self.record, self.answers_receipts, self.answer_parsed = record, answers_receipts, answer_parsed
        self._connected = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[bool] = trio.TASK_STATUS_IGNORED  # type: ignore[name-defined]
                  ) -> None:
        """Serve the link and keep a gateway process running; reports True once one is
        connected, False (and returns) if none connected in time."""
        link_socket = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        await link_socket.bind(self.link_path)
        link_socket.listen(16)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, self._on_link, [trio.SocketListener(link_socket)])
            process = await self._start()
            with trio.move_on_after(READY_TIMEOUT):
                await self._connected.wait()
            if not self._connected.is_set():
                logger.warning("the RPC gateway did not start within %.0fs: serving RPC in the node", READY_TIMEOUT)
                await self._stop(process)
                nursery.cancel_scope.cancel()
                task_status.started(False)
                return
            task_status.started(True)
            while True:
                try:
                    code = await process.wait()
                finally:
                    with trio.CancelScope(shield=True):
                        await self._stop(process)
                logger.error("the RPC gateway exited (code %s); starting it again", code)
                await trio.sleep(RESTART_DELAY)
                process = await self._start()

    async def _on_link(self, stream: trio.SocketStream) -> None:
        self._connected.set()
        await serve_link(stream, self.answer, self.node, self.record, push_receipts=self.answers_receipts,
                         answer_parsed=self.answer_parsed)

    async def _start(self) -> trio.Process:
        root = logging.getLogger()
        formats = [type(handler.formatter).__name__ for handler in root.handlers]
        fds = [listener.socket.fileno() for listener in self.listeners]
        config = {"link": self.link_path, "app": self.app_path, "vhosts": list(self.vhosts), "fds": fds,
                  "rewinds": self.node.rewinds.fd, "answers_receipts": self.answers_receipts,
                  "log_level": logging.getLevelName(root.level),
                  "log_format": "json" if "JsonFormatter" in formats else "text"}
        return await trio.lowlevel.open_process(
            [sys.executable, "-m", "node.rpc.gateway", json.dumps(config)], pass_fds=[*fds, self.node.rewinds.fd])

    @staticmethod
    async def _stop(process: trio.Process) -> None:
        if process.returncode is not None:
            return
        process.terminate()
        with trio.move_on_after(STOP_TIMEOUT):
            await process.wait()
            return
        process.kill()
        await process.wait()


# -- in the gateway's process ----------------------------------------------------------------

class NodeLink:
    """The gateway's side of the link: a request out, its answer back."""

    def __init__(self, stream: trio.abc.Stream, receipts: "Receipts | None" = None) -> None:
        self.link = Link(stream)
        self._ids = itertools.count()
        self._waiting: dict[int, list[Any]] = {}
        self.builder: tuple[str, str] | None = None   # the node's transaction builder, as it last said
        self._decoder = _Decoder()
        self.receipts = receipts       # None: every poll goes to the node
        self._served: list[float] = []   # seconds each poll answered here took, not yet reported

    async def run(self) -> None:
        """Deliver answers until the node closes the link."""
        self._decoder.start()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.link.write_loop)
            nursery.start_soon(self._report_served)
            async for frame in self.link.frames():
                if frame[0] == "facts":   # a new block's receipts, pushed unasked
                    if self.receipts is not None:
                        self.receipts.add_facts(frame[1], BlockFacts(*frame[2]), [ReceiptFacts(*one) for one in frame[3]])
                    continue
                request_id, status, body, builder, receipts = frame
                self.builder = builder
                if receipts is not None and self.receipts is not None:
                    self.receipts.add(*receipts)
                slot = self._waiting.pop(request_id, None)
                if slot is not None:
                    slot[1:] = [status, body]
                    slot[0].set()
            nursery.cancel_scope.cancel()

    async def answer(self, client: str, declared: int, chunks: AsyncIterator[bytes]) -> tuple[int, bytes]:
        started = time.perf_counter()
        body = b""
        if declared <= MAX_REQUEST_BYTES:   # the node refuses a larger one unread, and says so
            async for chunk in chunks:
                body += chunk
                if len(body) > MAX_REQUEST_BYTES:
                    break
        payload = _parsed(body) if declared <= MAX_REQUEST_BYTES and len(body) <= MAX_REQUEST_BYTES else None
        if self.receipts is not None:
            held = self.receipts.answer(payload)
            if held is not None:
                self._served.append(time.perf_counter() - started)
                return 200, held
        ahead = self._decoder.prepare(self.builder, payload)
        request_id = next(self._ids)
        slot: list[Any] = [trio.Event(), 502, b""]
        self._waiting[request_id] = slot
        try:
            # one call object goes parsed (the node answers it without JSON), anything else
            # as the client sent it (a batch; a body the node must refuse, with its error)
            request = payload if isinstance(payload, dict) else body
            await self.link.send((request_id, client, declared, request, ahead))
            await slot[0].wait()
        finally:
            self._waiting.pop(request_id, None)
        status, out = slot[1], slot[2]
        return status, out if isinstance(out, bytes) else encode_answer(out)

    async def _report_served(self) -> None:
        while True:
            await trio.sleep(SERVED_REPORT_SECONDS)
            if self._served:
                served, self._served = self._served, []
                await self.link.send(("served", RECEIPT_METHOD, served))


class Receipts:
    """The receipts the node sent along with its answers, by transaction hash, for the latest
    RECEIPT_BLOCKS blocks it sent, all dropped when the chain was rewound since."""

    def __init__(self, rewinds: RewindCounter) -> None:
        self.rewinds = rewinds
        self._count = rewinds.value()
        # encoded, or not yet: shaped and encoded when first polled (node.rpc.format.shape_receipt)
        self._by_hash: dict[str, bytes | tuple[BlockFacts, ReceiptFacts]] = {}
        self._groups: deque[list[str]] = deque()   # hashes in the order they came, one entry per answer

    def add_facts(self, count: int, block: BlockFacts, facts: list[ReceiptFacts]) -> None:
        """A new block's receipts, unshaped, as the node read them when the rewind count was ``count``."""
        self.add(count, [(data(one.tx_hash), (block, one)) for one in facts])

    def add(self, count: int, items: "list[tuple[str, bytes | tuple[BlockFacts, ReceiptFacts]]]") -> None:
        """Receipts the node formatted (or read) when the rewind count was ``count``."""
        if count != self._current() or not items:
            return   # a rewind since: the block they came from may be gone
        self._by_hash.update(items)
        self._groups.append([tx_hash for tx_hash, _ in items])
        while len(self._groups) > RECEIPT_BLOCKS:
            for tx_hash in self._groups.popleft():
                self._by_hash.pop(tx_hash, None)

    def answer(self, call: Any) -> bytes | None:
        """The node's answer to ``call`` (a request body, parsed) if it is one
        eth_getTransactionReceipt call, with an id, for a transaction held here; None for
        anything else."""
        if not isinstance(call, dict) or call.keys() != {"jsonrpc", "id", "method", "params"}:
            return None
        request_id, params = call["id"], call["params"]
        if (call["jsonrpc"] != "2.0" or call["method"] != RECEIPT_METHOD or not isinstance(params, list)
                or len(params) != 1 or type(request_id) not in (int, str)):
            return None
        tx_hash = params[0]
        if not isinstance(tx_hash, str) or len(tx_hash) != 66 or not tx_hash.startswith("0x"):
            return None
        self._current()
        key = tx_hash.lower()
        receipt = self._by_hash.get(key)
        if receipt is None:
            return None
        if isinstance(receipt, tuple):   # as node.rpc.server.answer_post encodes the receipt
            receipt = self._by_hash[key] = json.dumps(shape_receipt(*receipt)).encode()
        # as node.rpc.server.answer_post encodes {"jsonrpc", "id", "result"}
        return b'{"jsonrpc": "2.0", "id": ' + json.dumps(request_id).encode() + b', "result": ' + receipt + b"}"

    def _current(self) -> int:
        count = self.rewinds.value()
        if count != self._count:
            self._by_hash.clear()
            self._groups.clear()
            self._count = count
        return count


class _Decoder:
    """Raw transactions of a request decoded with their senders, once py-evm is imported (in
    a thread started with the gateway: imported on the first request that sent one, it held
    the gateway's GIL for a second or more just as a load began, and the first sends of a
    fresh node crawled at 20-40 a second)."""

    def __init__(self) -> None:
        self._import: threading.Thread | None = None
        self._ready = False

    @property
    def ready(self) -> bool:
        return self._ready

    def start(self) -> None:
        if self._import is None:
            self._import = threading.Thread(target=self._load, daemon=True)
            self._import.start()

    def prepare(self, builder: tuple[str, str] | None, payload: Any) -> tuple[tuple[str, str], dict[bytes, bytes]] | None:
        """The raw transactions the eth_sendRawTransaction calls of ``payload`` (a request
        body, parsed) send, decoded, for ``builder``; None for none."""
        if builder is None:
            return None
        raws = []
        for call in payload if isinstance(payload, list) else [payload]:
            if isinstance(call, dict) and call.get("method") == "eth_sendRawTransaction":
                params = call.get("params")
                if isinstance(params, list) and params and isinstance(params[0], str) and params[0][:2] in ("0x", "0X"):
                    try:
                        raws.append(bytes.fromhex(params[0][2:]))
                    except ValueError:
                        pass
        if not raws:
            return None
        if not self._ready:
            self.start()
            return None   # the node decodes these itself
        decoded = _decode_chunk(builder, raws)
        return builder, {raw: item for raw, item in zip(raws, decoded) if item is not None}

    def _load(self) -> None:
        _decode_chunk(None, [])     # imports py-evm's forks
        self._ready = True


def _parsed(body: bytes) -> Any:
    """A request body as JSON, or None if it is not (the node answers the parse error)."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


async def gateway_main(config: dict[str, Any]) -> None:
    try:
        stream = await trio.open_unix_socket(config["link"])
    except OSError as exc:
        logger.error("cannot reach the node: %s", exc)
        sys.exit(1)
    receipts = Receipts(RewindCounter(config["rewinds"])) if config["answers_receipts"] else None
    node = NodeLink(stream, receipts)
    listeners = [trio.SocketListener(trio.socket.from_stdlib_socket(socket.socket(fileno=fd)))
                 for fd in config["fds"]]
    handler = functools.partial(serve_connection, answer=node.answer, vhosts=tuple(config["vhosts"]),
                                backend=functools.partial(trio.open_unix_socket, config["app"]))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, handler, listeners)
        await node.run()   # returns when the node closes the link: it stopped, or died
        nursery.cancel_scope.cancel()


def main(argv: list[str]) -> None:
    import signal

    from node.runtime import use_helper_cpus

    config = json.loads(argv[0])
    use_helper_cpus()       # off the core of a node that pinned itself (--cpu.pin)
    # Ctrl-C reaches the whole process group: the node stops its gateway itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from node.log_setup import configure_logging
    configure_logging(config["log_level"], config["log_format"])
    trio.run(gateway_main, config)


if __name__ == "__main__":
    main(sys.argv[1:])
