"""The RPC port's HTTP/1.1 loop: plain JSON-RPC POSTs answered here, everything else relayed.

What bots, scripts and dApp backends send, one transaction or receipt poll per request, is a
``POST /`` with a JSON body and no ``Origin`` header. py-spy put ~0.9 ms of the node's GIL per
such request, about 60% of it in hypercorn's protocol layers; here the dispatcher answers it
without those layers. Such a request whose head is nothing but the usual (``POST / HTTP/1.1``,
Host, Content-Length, ordinary headers) is read by :func:`plain_post_head`, a few string
operations; the first request of a connection that is anything else (chunked, HTTP/1.0,
``Connection: close``, a malformed head) hands the connection, with the bytes not yet parsed,
to h11 for the rest of its life, which answers it as it answered every request before. h11's
state machine was a quarter of the RPC gateway's time per request.

Any other request (GET, a WebSocket upgrade, a browser's request with ``Origin`` and its CORS
preflight, ``/metrics``, ``/health``, ``/explorer``, a Host not served) hands its connection to
the full ASGI app under hypercorn on a private Unix socket: the request as received, then the
bytes both ways until either side closes. The client's address travels in ``X-Azora-Client``
(a copy the client sent is dropped), which the app behind puts back in the ASGI scope, so rate
limits and logs see the real client.
"""
from __future__ import annotations

import functools
import ipaddress
import json
import logging
import math
from typing import Any, Callable, Iterable

import h11
import trio

logger = logging.getLogger("azora.rpc")

CLIENT_HEADER = b"x-azora-client"
KEEP_ALIVE_SECONDS = 75.0     # as hypercorn was configured: an idle keep-alive connection closes
READ_BYTES = 65536
MAX_REQUEST_BYTES = 5 * 1024 * 1024     # geth's HTTP body limit
# How long a connection closed on a body it did not read keeps reading (and dropping) what the
# client still sends, after its response: see _close_after_response. Go's server waits 0.5 s.
LINGER_SECONDS = 2.0

# answer(client, declared length, body chunks) -> (status, body): node.rpc.server.answer_post
Answer = Callable[[str, int, Any], Any]


LOCALHOST_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_PLAIN_HEAD_BYTES = 64 * 1024         # h11's limit on a head (it answers 431 beyond)
MAX_PLAIN_BODY_BYTES = 1024 * 1024       # larger bodies take h11's path (and its 413 handling)
# RFC 9110 token characters (a header name) and field-value characters (visible, obs-text, SP, HTAB)
_TOKEN = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_FIELD_VALUE = bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100)) + b"\t"
# what a plain post's head may carry beyond Host and Content-Length, and still be plain: any
# header not here, or with a value the full app treats differently, sends it to h11's path
_NOT_PLAIN = frozenset({b"transfer-encoding", b"origin", b"upgrade", b"expect", b"connection",
                        b"content-length", b"host", CLIENT_HEADER})


def encode_answer(response: Any) -> bytes:
    """A JSON-RPC answer's HTTP body (the response object or list): empty for notifications
    only. The node and its RPC gateway encode alike (node/rpc/gateway.py)."""
    if response is None or response == []:
        return b""
    return json.dumps(response).encode()


def host_allowed(host_header: str, vhosts: Iterable[str]) -> bool:
    """geth's virtual-host check (against DNS rebinding): an IP address always passes, a name
    must be listed ('*' passes every name)."""
    return _host_allowed(host_header, tuple(vhosts))


@functools.lru_cache(maxsize=256)   # asked on every request; parsing the address was ~3% of the gateway's CPU
def _host_allowed(host_header: str, vhosts: tuple[str, ...]) -> bool:
    hosts = set(vhosts)
    if "*" in hosts:
        return True
    host = host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header
    host = host.strip("[]").lower()
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    allowed = {h.lower() for h in hosts} | (LOCALHOST_NAMES if "localhost" in hosts else set())
    return host in allowed


def is_plain_post(request: h11.Request, vhosts: Iterable[str]) -> bool:
    """A JSON-RPC POST the full app would answer with nothing but the dispatcher's answer."""
    if request.method != b"POST" or request.target != b"/":
        return False
    headers = dict(request.headers)   # h11 gives names lower-cased
    if b"origin" in headers or b"upgrade" in headers or b"expect" in headers:
        return False
    return host_allowed(headers.get(b"host", b"").decode("latin-1"), vhosts)


def plain_post_head(buffer: bytes | bytearray, vhosts: Iterable[str]) -> tuple[int, int] | bool:
    """(where the body starts, its length) if ``buffer`` starts with a plain keep-alive JSON-RPC
    post's complete head; True if that head is not complete yet; False if the request is
    anything else (h11 reads it, and answers, relays or refuses it)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return len(buffer) <= MAX_PLAIN_HEAD_BYTES
    lines = bytes(buffer[:end]).split(b"\r\n")
    if lines[0] != b"POST / HTTP/1.1":
        return False
    length = host = None
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        value = value.strip(b" \t")
        # a bare CR or LF, an obsolete line fold, a name that is not a token: h11 decides
        if not colon or not name or name.translate(None, _TOKEN) or value.translate(None, _FIELD_VALUE):
            return False
        name = name.lower()
        if name not in _NOT_PLAIN:
            continue
        if name == b"content-length" and length is None and value.isdigit() and value.isascii():
            length = int(value)
        elif name == b"host" and host is None:
            host = value
        elif not (name == b"connection" and value.lower() == b"keep-alive"):
            return False
    if length is None or length > MAX_PLAIN_BODY_BYTES or host is None:
        return False
    if not host_allowed(host.decode("latin-1"), vhosts):
        return False
    return end + 4, length


def plain_response(status: int, body: bytes) -> bytes:
    """The response h11 would write for ``body`` (the same bytes, so both paths answer alike)."""
    head = b"HTTP/1.1 %d \r\ncontent-length: %d\r\n" % (status, len(body))
    if body:
        head += b"content-type: application/json\r\n"
    return head + b"\r\n" + body


class ForwardedClient:
    """ASGI wrapper of the app behind the front: the client address the front saw."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            for name, value in scope.get("headers") or ():
                if name == CLIENT_HEADER:
                    host, _, port = value.decode("latin-1").rpartition(":")
                    scope = {**scope, "client": (host, int(port) if port.isdigit() else 0)}
                    break
        await self.app(scope, receive, send)


async def serve_connection(stream: trio.SocketStream, **kwargs: Any) -> None:
    """One client connection; whatever goes wrong with it ends it, never the server."""
    try:
        await _serve_connection(stream, **kwargs)
    except Exception:  # noqa: BLE001 - a bug answering one client must not stop the others
        logger.exception("RPC connection failed")


async def _serve_connection(stream: trio.SocketStream, *, answer: Answer, vhosts: tuple[str, ...],
                            backend: Callable[[], Any]) -> None:
    """Plain posts answered in turn, until one request is not: then the connection is relayed."""
    try:
        peer = stream.socket.getpeername()
        client = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else ("-", 0)
    except OSError:
        return
    async with stream:
        unparsed = await _serve_plain_posts(stream, client[0], answer, vhosts)
        if unparsed is None:
            return
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_PLAIN_HEAD_BYTES)
        if unparsed:
            connection.receive_data(bytes(unparsed))   # (empty bytes would tell h11 the client closed)
        while True:
            request = await _next_request(stream, connection)
            if request is None:
                return
            if not is_plain_post(request, vhosts):
                await _relay(stream, connection, request, client, backend)
                return
            if not await _answer(stream, connection, request, client[0], answer):
                return
            try:
                connection.start_next_cycle()
            except h11.LocalProtocolError:   # the client asked to close, or sent a body we did not read
                return


async def _serve_plain_posts(stream: trio.SocketStream, client: str, answer: Answer,
                             vhosts: tuple[str, ...]) -> bytearray | None:
    """Answer plain posts until a request is not one; returns the bytes received and not yet
    parsed (that request's, and what followed it), or None when the connection is over."""
    received = bytearray()
    while True:
        head = plain_post_head(received, vhosts)
        if head is False:
            return received
        if head is True:   # more of the head to come (or none: an idle keep-alive connection)
            data = b""
            with trio.move_on_after(KEEP_ALIVE_SECONDS):
                data = await _receive(stream)
            if not data:
                return None
            received += data
            continue
        body_start, length = head
        while len(received) < body_start + length:
            data = await _receive(stream)
            if not data:
                return None
            received += data
        body = bytes(received[body_start:body_start + length])
        del received[:body_start + length]

        async def chunks() -> Any:
            yield body

        status, out = await answer(client, length, chunks())
        try:
            await stream.send_all(plain_response(status, out))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return None


async def _next_request(stream: trio.SocketStream, connection: h11.Connection) -> h11.Request | None:
    """The next request's head, or None when the client is gone or idle past keep-alive."""
    timeout = KEEP_ALIVE_SECONDS
    while True:
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError as exc:
            await _send_error(stream, connection, exc.error_status_hint, str(exc))
            return None
        if event is h11.NEED_DATA:
            data = b""
            with trio.move_on_after(timeout):
                data = await _receive(stream)
            if not data:
                return None
            connection.receive_data(data)
            timeout = math.inf if connection.their_state is h11.SEND_BODY else KEEP_ALIVE_SECONDS
            continue
        if isinstance(event, h11.Request):
            return event
        return None   # ConnectionClosed, or a PAUSED state after a close


async def _answer(stream: trio.SocketStream, connection: h11.Connection, request: h11.Request,
                  client: str, answer: Answer) -> bool:
    """Read the body, answer it, send the response; False if the connection must close."""
    # h11 has refused a Content-Length that is not a number
    declared = int(dict(request.headers).get(b"content-length", b"0"))
    finished = False

    async def chunks() -> Any:
        nonlocal finished
        while True:
            try:
                event = connection.next_event()
            except h11.RemoteProtocolError:
                return
            if event is h11.NEED_DATA:
                data = await _receive(stream)
                if not data:
                    return
                connection.receive_data(data)
            elif isinstance(event, h11.Data):
                yield bytes(event.data)
            else:
                finished = isinstance(event, h11.EndOfMessage)
                return

    status, body = await answer(client, declared, chunks())
    response_headers = [(b"content-length", str(len(body)).encode())]
    if body:
        response_headers.append((b"content-type", b"application/json"))
    if not finished:   # refused before its body was read (413, 429): no keep-alive after it
        response_headers.append((b"connection", b"close"))
    try:   # one write: each send is a trip through trio's scheduler
        response = connection.send(h11.Response(status_code=status, headers=response_headers)) or b""
        if body:
            response += connection.send(h11.Data(data=body)) or b""
        response += connection.send(h11.EndOfMessage()) or b""
    except h11.LocalProtocolError:
        return False
    if not await _send_all(stream, response):
        return False
    if not finished:
        await _close_after_response(stream)
        return False
    return connection.our_state is h11.DONE


async def _relay(stream: trio.SocketStream, connection: h11.Connection, request: h11.Request,
                 client: tuple[str, int], backend: Callable[[], Any]) -> None:
    """Hand the connection to the app behind: this request's head as received (with the
    client's address), what followed it, then bytes both ways."""
    head = [request.method + b" " + request.target + b" HTTP/" + request.http_version]
    for name, value in request.headers.raw_items():
        if name.lower() != CLIENT_HEADER:
            head.append(bytes(name) + b": " + bytes(value))
    head.append(CLIENT_HEADER + b": " + f"{client[0]}:{client[1]}".encode())
    rest, _ = connection.trailing_data
    try:
        upstream = await backend()
    except OSError as exc:
        logger.error("the RPC app behind the front is unreachable: %s", exc)
        await _send_error(stream, connection, 502, "bad gateway")
        return
    async with upstream:
        if not await _send_all(upstream, b"\r\n".join(head) + b"\r\n\r\n" + bytes(rest)):
            return
        client_gone = False
        async with trio.open_nursery() as nursery:
            async def to_client() -> None:
                nonlocal client_gone
                while data := await _receive(upstream):
                    if not await _send_all(stream, data):
                        client_gone = True
                        break
                nursery.cancel_scope.cancel()   # the app closed, or the client went

            async def to_app() -> None:
                nonlocal client_gone
                while data := await _receive(stream):
                    if not await _send_all(upstream, data):
                        return   # the app stopped reading (a 413): what it still writes goes on
                client_gone = True
                nursery.cancel_scope.cancel()
            nursery.start_soon(to_client)
            nursery.start_soon(to_app)
    if not client_gone:   # the app answered and closed, maybe before the client's body ended
        await _close_after_response(stream)


async def _close_after_response(stream: trio.SocketStream) -> None:
    """Half-close, then drop what the client still sends until it closes (at most
    LINGER_SECONDS). Closing a socket with bytes unread resets the connection, and the reset
    can destroy the response in the client's buffers before it reads it: a client that sends
    a large body before reading loses the 413 that refused it."""
    try:
        await stream.send_eof()
    except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError, OSError):
        return
    with trio.move_on_after(LINGER_SECONDS):
        while await _receive(stream):
            pass


async def _send_all(stream: Any, data: bytes) -> bool:
    """False if the other side is gone."""
    try:
        await stream.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return False
    return True


async def _receive(stream: trio.SocketStream) -> bytes:
    try:
        return await stream.receive_some(READ_BYTES)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return b""


async def _send(stream: trio.SocketStream, connection: h11.Connection, event: Any) -> None:
    data = connection.send(event)
    if data:
        await stream.send_all(data)


async def _send_error(stream: trio.SocketStream, connection: h11.Connection, status: int, message: str) -> None:
    """A plain-text error response, if the connection can still send one."""
    if connection.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    body = (message + "\n").encode()
    try:
        await _send(stream, connection, h11.Response(status_code=status, headers=[
            (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]))
        await _send(stream, connection, h11.Data(data=body))
        await _send(stream, connection, h11.EndOfMessage())
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError):
        return
    await _close_after_response(stream)


__all__ = ["CLIENT_HEADER", "ForwardedClient", "is_plain_post", "plain_post_head", "plain_response", "serve_connection"]
