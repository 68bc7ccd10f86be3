"""JSON-RPC 2.0 over HTTP and WebSocket on one port (Starlette app served by hypercorn/trio).

Handlers are plain synchronous methods of the namespace objects (``eth``, ``net``, ...): the
dispatcher runs them in worker threads so py-evm's CPU work never blocks the event loop.

Three lanes of threads keep cheap work from queueing behind expensive work: reads (head,
blocks, balances, receipts, bounded logs) on eight threads; transaction admission
(``@serial``) on one; EVM executions (``@expensive``: calls, estimates, access lists,
traces, simulations) on two, each under the EVM timeout counted from the request's arrival,
so a call that waited out its timeout for a thread is answered without running.

A few handlers (``@inline``: the chain id, the head, a single raw transaction, a receipt
already formatted) answer on the event loop itself, in well under a millisecond: for them the
thread hop cost more than the work, and each hop is two more GIL hand-overs, which wait out
the switch interval (5 ms) whenever a block is being built. Such a handler calls
:func:`leave_loop` before anything that could wait (a lock another thread may hold long, a
cache miss): the dispatcher then runs it again on its lane.
"""
from __future__ import annotations

import functools
import inspect
import ipaddress
import json
import logging
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Iterable, NamedTuple

import trio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from kernel.execution import EVM_TIMEOUT, execution_deadline
from kernel.ratelimit import TokenBuckets
from node.rpc.errors import (
    INTERNAL_ERROR, INVALID_REQUEST, LIMIT_EXCEEDED, PARSE_ERROR, RpcError, invalid_params,
    method_not_found,
)
from node.rpc.front import MAX_REQUEST_BYTES, encode_answer, host_allowed
from node.rpc.params import as_client_error, check_params

if TYPE_CHECKING:
    from node.rpc.gateway import NodeSide

logger = logging.getLogger("azora.rpc")

MAX_BATCH = 1000                        # geth's BatchRequestLimit
WORKER_THREADS = 8
# EVM executions at once. py-evm holds the GIL: more threads only share one core, while every
# busy one slows the block producer and the event loop. Two keep one slow call from blocking
# the others and leave the node most of its time.
EXECUTION_THREADS = 2
# Service hooks a namespace object may define for the node (run, on_disconnect): not RPC methods.
LIFECYCLE_METHODS = frozenset({"run", "on_disconnect"})

# The address of the client whose request is being answered (handlers that keep per-client
# state read it; trio copies it into child tasks and worker threads).
current_client: ContextVar[str] = ContextVar("azora_rpc_client", default="-")

# True while an @inline handler runs on the event loop (see leave_loop).
_on_loop: ContextVar[bool] = ContextVar("azora_rpc_on_loop", default=False)

# The hashes of the transactions the calls of the request being answered admitted, while the
# dispatcher collects them (Dispatcher.after_sending); the list is shared with worker threads.
_sent: ContextVar[list[bytes] | None] = ContextVar("azora_rpc_sent", default=None)


def note_sent(tx: Any) -> None:
    """A ``Backend.on_local_tx`` hook: ``tx``, admitted from a client, was sent by the request
    being answered (outside a request, or with no one collecting, nothing happens)."""
    sent = _sent.get()
    if sent is not None:
        sent.append(tx.hash)

# JSON values (requests, params, results) stay Any: they are whatever the client sent.
RpcResponse = dict[str, Any]   # a JSON-RPC response object


class Call(NamedTuple):
    """A request object with a valid envelope."""

    id: Any
    is_notification: bool
    method: str
    params: list[Any]


class Dispatcher:
    """Maps ``namespace_method`` names onto the public methods of namespace objects."""

    def __init__(self, namespaces: dict[str, object | list[object]], *,
                 execution_timeout: float = EVM_TIMEOUT) -> None:
        self.methods: dict[str, Callable[..., Any]] = {}
        for prefix, apis in namespaces.items():
            for api in apis if isinstance(apis, list) else [apis]:
                for name, fn in inspect.getmembers(api, inspect.ismethod):
                    if not name.startswith("_") and name not in LIFECYCLE_METHODS:
                        self.methods[f"{prefix}_{name}"] = fn
        self._limiter = trio.CapacityLimiter(WORKER_THREADS)
        # Methods marked @serial share one thread: their work is CPU under the GIL, where
        # eight threads only take turns and queue on the pool's lock (one thread admitted
        # transactions 1.5x faster than eight).
        self._serial_limiter = trio.CapacityLimiter(1)
        self._execution_limiter = trio.CapacityLimiter(EXECUTION_THREADS)
        self.execution_timeout = execution_timeout
        # (method, outcome) of every call, for metrics; unknown names count as one label.
        self.on_call: Callable[[str, str], None] | None = None
        # (method, seconds) of every call answered, for the latency histogram.
        self.on_latency: Callable[[str, float], None] | None = None
        # Awaited with the hashes a request's calls admitted (see note_sent) before it is
        # answered: a dev chain's automine answers once they are mined, as Hardhat's does.
        self.after_sending: Callable[[list[bytes]], Awaitable[None]] | None = None

    async def handle_payload(
        self, raw: bytes | str, connection: WebSocketConnection | None = None,
        admit: Callable[[int], bool] | None = None,
    ) -> RpcResponse | list[RpcResponse] | None:
        """Answer one HTTP body or WebSocket message; None for notifications only.

        ``admit(calls)``, given the number of calls in a batch, may refuse it: then
        :class:`RateLimited` is raised and nothing runs.
        """
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            return _error_response(None, RpcError(PARSE_ERROR, f"parse error: {exc}"))
        return await self.handle_parsed(payload, connection, admit)

    async def handle_parsed(
        self, payload: Any, connection: WebSocketConnection | None = None,
        admit: Callable[[int], bool] | None = None,
    ) -> RpcResponse | list[RpcResponse] | None:
        """:meth:`handle_payload` for a body already parsed (the RPC gateway parses them)."""
        if self.after_sending is None:
            return await self._handle_parsed(payload, connection, admit)
        sent: list[bytes] = []
        collecting = _sent.set(sent)
        try:
            response = await self._handle_parsed(payload, connection, admit)
        finally:
            _sent.reset(collecting)
        if sent:
            await self.after_sending(sent)
        return response

    async def _handle_parsed(
        self, payload: Any, connection: WebSocketConnection | None,
        admit: Callable[[int], bool] | None,
    ) -> RpcResponse | list[RpcResponse] | None:
        if admit is not None and isinstance(payload, list) and len(payload) > 1 and not admit(len(payload)):
            raise RateLimited()
        if isinstance(payload, list):
            if not payload:
                return _error_response(None, RpcError(INVALID_REQUEST, "empty batch"))
            if len(payload) > MAX_BATCH:
                return _error_response(None, RpcError(-32600, "batch too large"))
            if all(self._is_sync(call) for call in payload):
                # One worker thread for the whole batch: a thread hop per call cost more than
                # the call itself for cheap ones (a batch of raw transactions).
                handlers = [self._handler(call) for call in payload]
                arrived = time.monotonic()
                responses = await self._in_lane(handlers, lambda: self._answer_batch(payload, arrived),
                                                batch=True)
            else:
                responses = [await self.handle_call(item, connection) for item in payload]
            return [r for r in responses if r is not None]
        return await self.handle_call(payload, connection)

    def _handler(self, call: Any) -> Callable[..., Any] | None:
        """The method a batch entry calls, or None (unknown, or not a call object at all)."""
        method = call.get("method") if isinstance(call, dict) else None
        return self.methods.get(method) if isinstance(method, str) else None

    def _is_sync(self, call: Any) -> bool:
        fn = self._handler(call)
        return fn is None or not (getattr(fn, "needs_connection", False) or inspect.iscoroutinefunction(fn))

    async def handle_call(self, call: Any, connection: WebSocketConnection | None) -> RpcResponse | None:
        prepared = self._prepare(call)
        if isinstance(prepared, dict) or prepared is None:
            return prepared
        request_id, notification, method, params = prepared
        started = time.perf_counter()
        try:
            result = await self.call(method, params, connection)
        except Exception as exc:
            return self._failed(request_id, notification, method, exc, started)
        return self._succeeded(request_id, notification, method, result, started)

    def _answer_batch(self, payload: list[Any], arrived: float) -> list[RpcResponse | None]:
        """A batch of synchronous calls, on one worker thread: each method's calls prepared
        together first (see :func:`prepared_in_batches`), then answered in order.

        Each execution has its own EVM timeout, as in geth: the first one's counts from the
        batch's arrival (the wait for a thread is its time too), each later one's from its
        start, so one slow call does not time out the calls after it."""
        groups: dict[str, list[list[Any]]] = {}
        for call in payload:
            fn = self._handler(call)
            if getattr(fn, "prepare_batch", None) is not None and isinstance(call.get("params"), list):
                groups.setdefault(call["method"], []).append(call["params"])
        for method, params in groups.items():
            fn = self.methods[method]
            prepare: Callable[[object, list[list[Any]]], None] = getattr(fn, "prepare_batch")
            try:
                prepare(getattr(fn, "__self__"), params)
            except Exception:   # preparing is only a head start: the calls still run
                logger.exception("preparing a batch of %s failed", method)
        responses = []
        started: float | None = arrived
        for call in payload:
            if getattr(self._handler(call), "expensive", False):
                with execution_deadline(self.execution_timeout, started=started):
                    responses.append(self._answer_sync(call))
                started = None
            else:
                responses.append(self._answer_sync(call))
        return responses

    def _answer_sync(self, call: Any) -> RpcResponse | None:
        """``handle_call`` for a synchronous method, already on a worker thread."""
        prepared = self._prepare(call)
        if isinstance(prepared, dict) or prepared is None:
            return prepared
        request_id, notification, method, params = prepared
        started = time.perf_counter()
        try:
            fn = self.methods.get(method)
            if fn is None:
                raise method_not_found(method)
            bind_params(fn, params)
            check_params(method, params)
            result = fn(*params)
        except Exception as exc:
            return self._failed(request_id, notification, method, exc, started)
        return self._succeeded(request_id, notification, method, result, started)

    def _prepare(self, call: Any) -> Call | RpcResponse | None:
        """The call, or the error response for a bad envelope (None: a notification's)."""
        if not isinstance(call, dict) or call.get("jsonrpc") != "2.0" or \
                not isinstance(call.get("method"), str):
            request_id = call.get("id") if isinstance(call, dict) else None
            return _error_response(request_id, RpcError(INVALID_REQUEST, "invalid request"))
        params = call.get("params", [])
        if params is None:
            params = []
        if not isinstance(params, list):
            return self._failed(call.get("id"), "id" not in call, call["method"], invalid_params("non-array args"))
        return Call(call.get("id"), "id" not in call, call["method"], params)

    def _failed(self, request_id: Any, notification: bool, method: str, exc: Exception,
                started: float | None = None) -> RpcResponse | None:
        client_error = None if isinstance(exc, RpcError) else as_client_error(method, exc)
        if isinstance(exc, RpcError):
            error = exc
        elif client_error is not None:
            error = client_error
        else:  # a bug: answer it, keep serving, log it
            logger.error("internal error in %s", method, exc_info=exc)
            error = RpcError(INTERNAL_ERROR, f"internal error: {exc}")
        self._count(method, str(error.code), started)
        return None if notification else _error_response(request_id, error)

    def _succeeded(self, request_id: Any, notification: bool, method: str, result: Any,
                   started: float) -> RpcResponse | None:
        self._count(method, "ok", started)
        return None if notification else {"jsonrpc": "2.0", "id": request_id, "result": result}

    def _count(self, method: str, outcome: str, started: float | None) -> None:
        self.record(method, outcome, None if started is None else time.perf_counter() - started)

    def record(self, method: str, outcome: str = "ok", seconds: float | None = None) -> None:
        """Count a call in the metrics, also one answered elsewhere (the RPC gateway's)."""
        name = method if method in self.methods else "unknown"
        if self.on_call is not None:
            self.on_call(name, outcome)
        if self.on_latency is not None and seconds is not None:
            self.on_latency(name, seconds)

    async def call(self, method: str, params: list[Any],
                   connection: WebSocketConnection | None = None) -> Any:
        fn = self.methods.get(method)
        if fn is None:
            raise method_not_found(method)
        bind_params(fn, params)
        check_params(method, params)
        if getattr(fn, "needs_connection", False):
            return await fn(connection, *params)
        if inspect.iscoroutinefunction(fn):
            return await fn(*params)
        if getattr(fn, "inline", False):
            on_loop = _on_loop.set(True)
            try:
                return fn(*params)
            except _LeaveLoop:
                pass   # nothing done yet: answered on its lane below
            finally:
                _on_loop.reset(on_loop)
        return await self._in_lane([fn], lambda: fn(*params))

    async def _in_lane(self, handlers: list[Callable[..., Any] | None], work: Callable[[], Any],
                       batch: bool = False) -> Any:
        """``work`` (the calls of ``handlers``) on its lane's thread: the execution lane, under
        the EVM timeout from now (a batch times each execution itself), if any handler
        executes the EVM; the serial lane if all are serial; else the read lane."""
        if any(getattr(fn, "expensive", False) for fn in handlers):
            if batch:
                return await trio.to_thread.run_sync(work, limiter=self._execution_limiter)
            with execution_deadline(self.execution_timeout):   # trio copies it into the thread
                return await trio.to_thread.run_sync(work, limiter=self._execution_limiter)
        serial = all(getattr(fn, "serial", False) for fn in handlers)
        return await trio.to_thread.run_sync(work, limiter=self._serial_limiter if serial else self._limiter)


def bind_params(fn: Callable[..., Any], params: list[Any]) -> None:
    """geth's argument errors: too many arguments, missing required ones."""
    most, required = _arity(getattr(fn, "__func__", fn))
    if len(params) > most:
        raise invalid_params(f"too many arguments, want at most {most}")
    if len(params) < required:
        raise invalid_params(f"missing value for required argument {len(params)}")


@functools.cache
def _arity(fn: Callable[..., Any]) -> tuple[int, int]:
    """(most, required) positional RPC arguments of a handler function (read once: every call
    asked inspect.signature, a tenth of the time spent admitting a raw transaction)."""
    positional = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    positional = positional[2:] if getattr(fn, "needs_connection", False) else positional[1:]  # self[, connection]
    required = sum(1 for p in positional if p.default is inspect.Parameter.empty)
    return len(positional), required


def needs_connection(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an async handler that takes the WebSocket connection first (subscriptions)."""
    fn.needs_connection = True  # type: ignore[attr-defined]
    return fn


def serial(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a CPU-bound handler to run on the dispatcher's single serial thread."""
    fn.serial = True  # type: ignore[attr-defined]
    return fn


def inline(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a handler answered on the event loop when called alone (in a batch it runs on
    its lane's thread with the others): it must take well under a millisecond, or call
    :func:`leave_loop` before what may not."""
    fn.inline = True  # type: ignore[attr-defined]
    return fn


class _LeaveLoop(Exception):
    """Raised by :func:`leave_loop`: the dispatcher calls the handler again on a thread."""


def leave_loop() -> None:
    """In an ``@inline`` handler, before anything that could wait or take milliseconds: hand
    the call to a worker thread if it is running on the event loop (nothing it did before
    this may have changed anything: it runs again from the start)."""
    if _on_loop.get():
        raise _LeaveLoop()


def expensive(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a handler that executes the EVM (eth_call, traces, simulations): it runs on the
    execution lane, under the EVM timeout counted from the request's arrival. Its executions
    must stop at the deadline: the kernel's executors do (``kernel.execution.deadline_vm_class``)."""
    fn.expensive = True  # type: ignore[attr-defined]
    return fn


def prepared_in_batches(prepare: Callable[[Any, list[list[Any]]], None]) -> Callable[..., Any]:
    """Mark a handler whose calls in one batch get a head start together: before answering
    them, the dispatcher runs ``prepare(namespace, [params, ...])`` once on the batch's thread
    (e.g. one round trip to a worker process for a hundred raw transactions)."""
    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.prepare_batch = prepare  # type: ignore[attr-defined]
        return fn
    return mark


def _error_response(request_id: Any, err: RpcError) -> RpcResponse:
    return {"jsonrpc": "2.0", "id": request_id, "error": err.to_json()}


class WebSocketConnection:
    """One client socket: answers calls and carries subscription notifications."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self._send_lock = trio.Lock()
        self.closed = False

    async def send_json(self, message: RpcResponse | list[RpcResponse]) -> None:
        async with self._send_lock:
            if not self.closed:
                await self.websocket.send_text(json.dumps(message))


class RateLimited(Exception):
    """A client over its rate limit: answered with HTTP 429 / -32005, nothing executed."""


class RateLimiter:
    """A token bucket per client address: ``rate`` calls per second, bursts of ``burst``.

    Every call counts, each one of a batch too. Over the limit the client gets HTTP 429 /
    error -32005 "limit exceeded" and nothing is executed. A batch larger than the burst is
    let through when the bucket is full and leaves the client in debt until it refills.
    """

    def __init__(self, rate: float, burst: int | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst or max(1, int(rate * 2)))
        self._clock = clock
        self._buckets: TokenBuckets[str] = TokenBuckets()

    def allow(self, client: str, cost: float = 1) -> bool:
        return self._buckets.take(client, self._clock(), rate=self.rate, burst=self.burst, cost=cost)

    def batch_admission(self, client: str) -> Callable[[int], bool]:
        """``admit`` for :meth:`Dispatcher.handle_payload`: a batch pays for its calls beyond
        the one charged when the request arrived."""
        return lambda calls: self.allow(client, calls - 1)


def _limit_exceeded() -> RpcResponse:
    return _error_response(None, RpcError(LIMIT_EXCEEDED, "limit exceeded: too many requests"))


# geth's --http.corsdomain and --http.vhosts. 'localhost' as an origin is any page served from
# this machine (any port); as a host name, the names a local client sends.
LOCALHOST_ORIGINS = r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?"


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def cors_middleware(domains: Iterable[str]) -> Middleware:
    """The browser's cross-origin rule: '*' any page, 'localhost' pages from this machine, else
    the origins listed (none: no browser page may call the node, geth's default for public nodes)."""
    domains = list(domains)
    origins = [d for d in domains if d != "localhost"]
    return Middleware(CORSMiddleware, allow_origins=origins,
                      allow_origin_regex=LOCALHOST_ORIGINS if "localhost" in domains else None,
                      allow_methods=["POST", "GET", "OPTIONS"], allow_headers=["*"])


class VirtualHosts:
    """Refuses HTTP requests whose Host header names a host not served (403, as geth)."""

    def __init__(self, app: Any, vhosts: Iterable[str]) -> None:
        self.app, self.vhosts = app, tuple(vhosts)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if not host_allowed(host, self.vhosts):
                await PlainTextResponse("invalid host specified\n", status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def answer_post(dispatcher: Dispatcher, rate_limiter: RateLimiter | None, client: str,
                      declared_length: int, chunks: AsyncIterator[bytes]) -> tuple[int, bytes]:
    """(HTTP status, body) for a JSON-RPC POST: rate limits, size limits, the answer (an empty
    body for notifications only). The front's plain posts and the app's endpoint both use it."""
    # One token before reading the body, the rest of a batch's once it is parsed.
    refused = _refused(rate_limiter, client)
    if refused is not None:
        return refused
    if declared_length > MAX_REQUEST_BYTES:
        return 413, _compact_json({"error": f"content length too large ({declared_length}>{MAX_REQUEST_BYTES})"})
    body = b""
    async for chunk in chunks:
        body += chunk
        if len(body) > MAX_REQUEST_BYTES:
            return 413, _compact_json({"error": "request body too large"})
    try:
        response = await dispatcher.handle_payload(
            body, admit=rate_limiter.batch_admission(client) if rate_limiter else None)
    except RateLimited:
        return 429, _compact_json(_limit_exceeded())
    return 200, encode_answer(response)


async def answer_parsed_post(dispatcher: Dispatcher, rate_limiter: RateLimiter | None, client: str,
                             call: dict[str, Any]) -> tuple[int, bytes | Any]:
    """:func:`answer_post` for a body of one call object, parsed by the RPC gateway: (HTTP
    status, the body, or the response object for :func:`encode_answer` to make it)."""
    refused = _refused(rate_limiter, client)
    if refused is not None:
        return refused
    return 200, await dispatcher.handle_parsed(call)


def _refused(rate_limiter: RateLimiter | None, client: str) -> tuple[int, bytes] | None:
    """The request's client noted (``current_client``); HTTP 429 if it is over its rate."""
    current_client.set(client)
    if rate_limiter is not None and not rate_limiter.allow(client):
        return 429, _compact_json(_limit_exceeded())
    return None


def _compact_json(value: Any) -> bytes:
    """As Starlette's JSONResponse renders it."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


class RpcApp:
    """The RPC port: the ASGI app for every request (served by hypercorn behind the front,
    see node/rpc/front.py) and ``answer`` for the plain JSON-RPC posts the front answers itself."""

    def __init__(self, app: Any, dispatcher: Dispatcher, rate_limiter: RateLimiter | None,
                 vhosts: Iterable[str]) -> None:
        from node.rpc.front import ForwardedClient

        self.app = ForwardedClient(app)
        self.dispatcher, self.rate_limiter, self.vhosts = dispatcher, rate_limiter, tuple(vhosts)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    async def answer(self, client: str, declared_length: int, chunks: AsyncIterator[bytes]) -> tuple[int, bytes]:
        return await answer_post(self.dispatcher, self.rate_limiter, client, declared_length, chunks)

    async def answer_parsed(self, client: str, call: dict[str, Any]) -> tuple[int, bytes | Any]:
        return await answer_parsed_post(self.dispatcher, self.rate_limiter, client, call)


def build_app(dispatcher: Dispatcher, *, cors_origins: Iterable[str] = ("localhost",),
              vhosts: Iterable[str] = ("*",),
              on_disconnect: Callable[[WebSocketConnection], None] | None = None,
              metrics: Callable[[], bytes] | None = None,
              rate_limiter: RateLimiter | None = None,
              extra_routes: Iterable[BaseRoute] = ()) -> RpcApp:
    vhosts = tuple(vhosts)

    async def http_endpoint(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"jsonrpc": "2.0", "id": None,
                                 "error": {"code": INVALID_REQUEST, "message": "use POST"}})
        client = request.client.host if request.client else "-"
        try:
            declared = int(request.headers.get("content-length") or 0)
        except ValueError:
            declared = 0
        status, body = await answer_post(dispatcher, rate_limiter, client, declared, request.stream())
        return Response(body, status_code=status, media_type="application/json" if body else None)

    async def websocket_endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        connection = WebSocketConnection(websocket)
        client = websocket.client.host if websocket.client else "-"
        current_client.set(client)
        try:
            async with trio.open_nursery() as nursery:
                while True:
                    message = await websocket.receive()
                    if message["type"] == "websocket.disconnect":
                        break
                    raw = message.get("text") or message.get("bytes") or b""
                    if len(raw) > MAX_REQUEST_BYTES:
                        await connection.send_json(_error_response(
                            None, RpcError(-32600, "message too large")))
                        continue
                    if rate_limiter is not None and not rate_limiter.allow(client):
                        await connection.send_json(_limit_exceeded())
                        continue
                    admit = rate_limiter.batch_admission(client) if rate_limiter else None
                    nursery.start_soon(_answer, dispatcher, connection, raw, admit)
                nursery.cancel_scope.cancel()
        except WebSocketDisconnect:
            pass
        finally:
            connection.closed = True
            if on_disconnect is not None:
                on_disconnect(connection)

    middleware = [Middleware(VirtualHosts, vhosts=vhosts), cors_middleware(cors_origins)]

    async def metrics_endpoint(request: Request) -> Response:
        body = await trio.to_thread.run_sync(metrics) if metrics else b""
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    routes = [Route("/", http_endpoint, methods=["GET", "POST"]), WebSocketRoute("/", websocket_endpoint)]
    if metrics is not None:
        routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))
    routes.extend(extra_routes)   # /health, /explorer: served beside the RPC
    return RpcApp(Starlette(routes=routes, middleware=middleware), dispatcher, rate_limiter, vhosts)


async def _answer(dispatcher: Dispatcher, connection: WebSocketConnection, raw: str | bytes,
                  admit: Callable[[int], bool] | None) -> None:
    try:
        response = await dispatcher.handle_payload(raw, connection, admit)
    except RateLimited:
        response = _limit_exceeded()
    if response is not None and response != []:
        try:
            await connection.send_json(response)
        except Exception:  # the client went away mid-answer
            connection.closed = True


async def serve_behind_front(
    app: RpcApp, config: Any, socket_path: str,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,  # type: ignore[name-defined]
) -> None:
    """hypercorn's trio worker for the app on one Unix socket, as ``hypercorn.trio.serve`` runs
    it, except that one connection's failure ends that connection only.

    hypercorn 0.18 lets an exception out of a connection's task, and that ends its server and
    the node: a request the app answers before reading its body (a Host it refuses), whose client
    then closes mid-body, has hypercorn write its 400 while it half-closes the same socket, and
    trio raises BusyResourceError. The front relays any client's such request."""
    from hypercorn.trio.lifespan import Lifespan
    from hypercorn.trio.tcp_server import TCPServer
    from hypercorn.trio.worker_context import WorkerContext
    from hypercorn.typing import ConnectionState
    from hypercorn.utils import wrap_app

    wrapped = wrap_app(app, config.wsgi_max_body_size, "asgi")
    lifespan_state: dict[str, Any] = {}
    lifespan = Lifespan(wrapped, config, lifespan_state)
    context = WorkerContext(None)

    async def connection(stream: trio.SocketStream) -> None:
        try:
            # (hypercorn's annotation names only TLS streams; it serves a plain one as its own worker does)
            await TCPServer(wrapped, config, context, ConnectionState(lifespan_state.copy()),
                            stream)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - one connection's failure must not stop the others
            logger.warning("an RPC connection behind the front failed: %r", exc)

    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    await sock.bind(socket_path)
    sock.listen(config.backlog)
    async with trio.open_nursery() as lifespan_nursery:
        await lifespan_nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()
        try:
            async with trio.open_nursery() as connections:
                await connections.start(trio.serve_listeners, connection, [trio.SocketListener(sock)])
                task_status.started()
        finally:
            await context.terminated.set()
        await lifespan.wait_for_shutdown()
        lifespan_nursery.cancel_scope.cancel()


async def serve(
    app: RpcApp, host: str, port: int, *, gateway: NodeSide | None = None,
    # trio-typing's stubs (installed with libp2p) shadow trio's own types and predate TaskStatus.
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,  # type: ignore[name-defined]
) -> None:
    """Serve ``app`` on ``host:port`` until cancelled: the front (node/rpc/front.py) on the port,
    hypercorn with the full app on a Unix socket in a private directory behind it. Reports the
    bound address through ``task_status``.

    With ``gateway`` (what the gateway's link needs of the node), the front runs in a process
    of its own, the RPC gateway (node/rpc/gateway.py); if that cannot start, in this one."""
    import functools
    import shutil
    import tempfile

    from hypercorn.config import Config

    from node.rpc.front import serve_connection
    from node.rpc.gateway import Gateway

    private = tempfile.mkdtemp(prefix="azora-rpc-")   # 0700: the sockets are this process's
    socket_path = f"{private}/app.sock"
    config = Config()
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.keep_alive_timeout = 75
    config.websocket_max_message_size = MAX_REQUEST_BYTES
    config.graceful_timeout = 1
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_behind_front, app, config, socket_path)
            listeners = await trio.open_tcp_listeners(port, host=host)
            in_gateway = False
            if gateway is not None:
                in_gateway = await nursery.start(Gateway(
                    listeners, f"{private}/link.sock", socket_path, app.vhosts, app.answer, gateway,
                    record=app.dispatcher.record, answers_receipts=app.rate_limiter is None,
                    answer_parsed=app.answer_parsed).run)
            if not in_gateway:
                handler = functools.partial(serve_connection, answer=app.answer, vhosts=app.vhosts,
                                            backend=functools.partial(trio.open_unix_socket, socket_path))
                nursery.start_soon(trio.serve_listeners, handler, listeners)
            bound = listeners[0].socket.getsockname()
            task_status.started([f"http://{host}:{bound[1]}"])
    finally:
        shutil.rmtree(private, ignore_errors=True)
