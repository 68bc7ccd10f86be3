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
import pickle
import socket
import sys
import threading
from typing import Any, AsyncIterator, Awaitable, Callable, Sequence

import trio

from node.admission import _decode_chunk, decoded_ahead
from node.rpc.front import MAX_REQUEST_BYTES, serve_connection

logger = logging.getLogger("azora.rpc.gateway")

READY_TIMEOUT = 30.0       # seconds for a started gateway to connect (imports on a loaded machine)
RESTART_DELAY = 1.0        # seconds before a gateway that exited is started again
STOP_TIMEOUT = 5.0         # seconds a stopping gateway is given before it is killed
SEND_RAW = b"eth_sendRawTransaction"


# -- the link: frames both ways --------------------------------------------------------------

class Link:
    """Length-prefixed pickles over a stream; concurrent senders' frames leave in one write."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self._outgoing, self._queued = trio.open_memory_channel[bytes](1024)

    async def send(self, message: Any) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        await self._outgoing.send(len(data).to_bytes(4, "big") + data)

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

async def serve_link(stream: trio.abc.Stream, answer: Callable[[str, int, Any], Awaitable[tuple[int, bytes]]],
                     builder_path: Callable[[], tuple[str, str]]) -> None:
    """Answer the requests one gateway sends, each in its own task, until it closes."""
    link = Link(stream)
    async with stream, trio.open_nursery() as nursery:
        nursery.start_soon(link.write_loop)
        async for frame in link.frames():
            nursery.start_soon(_answer_frame, link, answer, builder_path, frame)
        nursery.cancel_scope.cancel()


async def _answer_frame(link: Link, answer: Callable[[str, int, Any], Awaitable[tuple[int, bytes]]],
                        builder_path: Callable[[], tuple[str, str]], frame: tuple) -> None:
    request_id, client, declared, body, ahead = frame
    if ahead:
        decoded_ahead.set(ahead)   # in this task's context: the calls of this request see it

    async def chunks() -> AsyncIterator[bytes]:
        yield body

    try:
        status, out = await answer(client, declared, chunks())
    except Exception:  # noqa: BLE001 - one request's bug must not end the link
        logger.exception("RPC request from the gateway failed")
        status, out = 500, b""
    await link.send((request_id, status, out, builder_path()))


class Gateway:
    """The gateway process of one RPC port, as the node runs it."""

    def __init__(self, listeners: Sequence[trio.SocketListener], link_path: str, app_path: str,
                 vhosts: Sequence[str], answer: Callable[..., Awaitable[tuple[int, bytes]]],
                 builder_path: Callable[[], tuple[str, str]]) -> None:
        self.listeners, self.link_path, self.app_path = listeners, link_path, app_path
        self.vhosts, self.answer, self.builder_path = tuple(vhosts), answer, builder_path
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
        await serve_link(stream, self.answer, self.builder_path)

    async def _start(self) -> trio.Process:
        root = logging.getLogger()
        formats = [type(handler.formatter).__name__ for handler in root.handlers]
        fds = [listener.socket.fileno() for listener in self.listeners]
        config = {"link": self.link_path, "app": self.app_path, "vhosts": list(self.vhosts), "fds": fds,
                  "log_level": logging.getLevelName(root.level),
                  "log_format": "json" if "JsonFormatter" in formats else "text"}
        return await trio.lowlevel.open_process(
            [sys.executable, "-m", "node.rpc.gateway", json.dumps(config)], pass_fds=fds)

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

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.link = Link(stream)
        self._ids = itertools.count()
        self._waiting: dict[int, list[Any]] = {}
        self.builder: tuple[str, str] | None = None   # the node's transaction builder, as it last said
        self._decoder = _Decoder()

    async def run(self) -> None:
        """Deliver answers until the node closes the link."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.link.write_loop)
            async for request_id, status, body, builder in self.link.frames():
                self.builder = builder
                slot = self._waiting.pop(request_id, None)
                if slot is not None:
                    slot[1:] = [status, body]
                    slot[0].set()
            nursery.cancel_scope.cancel()

    async def answer(self, client: str, declared: int, chunks: AsyncIterator[bytes]) -> tuple[int, bytes]:
        body = b""
        if declared <= MAX_REQUEST_BYTES:   # the node refuses a larger one unread, and says so
            async for chunk in chunks:
                body += chunk
                if len(body) > MAX_REQUEST_BYTES:
                    break
        ahead = self._decoder.prepare(self.builder, body)
        request_id = next(self._ids)
        slot: list[Any] = [trio.Event(), 502, b""]
        self._waiting[request_id] = slot
        try:
            await self.link.send((request_id, client, declared, body, ahead))
            await slot[0].wait()
        finally:
            self._waiting.pop(request_id, None)
        return slot[1], slot[2]


class _Decoder:
    """Raw transactions of a request decoded with their senders, once py-evm is imported
    (in a thread, on the first request that sends one: most nodes never need it)."""

    def __init__(self) -> None:
        self._import: threading.Thread | None = None
        self._ready = False

    def prepare(self, builder: tuple[str, str] | None, body: bytes) -> tuple[tuple[str, str], dict[bytes, bytes]] | None:
        if builder is None or SEND_RAW not in body:
            return None
        if not self._ready:
            if self._import is None:
                self._import = threading.Thread(target=self._load, daemon=True)
                self._import.start()
            return None
        try:
            payload = json.loads(body)
        except ValueError:
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
        decoded = _decode_chunk(builder, raws)
        return builder, {raw: item for raw, item in zip(raws, decoded) if item is not None}

    def _load(self) -> None:
        _decode_chunk(None, [])     # imports py-evm's forks
        self._ready = True


async def gateway_main(config: dict[str, Any]) -> None:
    try:
        stream = await trio.open_unix_socket(config["link"])
    except OSError as exc:
        logger.error("cannot reach the node: %s", exc)
        sys.exit(1)
    node = NodeLink(stream)
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

    config = json.loads(argv[0])
    # Ctrl-C reaches the whole process group: the node stops its gateway itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from node.log_setup import configure_logging
    configure_logging(config["log_level"], config["log_format"])
    trio.run(gateway_main, config)


if __name__ == "__main__":
    main(sys.argv[1:])
