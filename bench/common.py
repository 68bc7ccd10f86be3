"""What every benchmark script shares: free ports, percentiles, the dev mnemonic."""
from __future__ import annotations

import http.client
import json
import socket
import urllib.parse
from pathlib import Path
from typing import Any, Callable

import requests

REPO = Path(__file__).resolve().parents[1]
DEV_MNEMONIC = "test test test test test test test test test test test junk"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values`` (nearest rank; 0.0 for none)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


class RpcError(RuntimeError):
    """A JSON-RPC error answer (the node is up but refused the call)."""


def rpc(session: requests.Session, url: str, method: str, *params: Any, timeout: float = 30) -> Any:
    """One JSON-RPC call's result; :class:`RpcError` if the node answers an error."""
    answer = session.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                          timeout=timeout).json()
    if "error" in answer:
        raise RpcError(f"{method}: {answer['error']}")
    return answer["result"]


CLIENTS = ("requests", "lean", "raw")


class RawPoster:
    """HTTP/1.1 POSTs of JSON bodies on one keep-alive socket, written and read by hand: the
    answer is framed by its Content-Length (the node's) or chunked (Hardhat's). Less CPU than
    ``http.client``, whose header parsing (the email package) was most of the load
    generator's share of a two-core machine."""

    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        self._sock = socket.create_connection((parsed.hostname, parsed.port), timeout=600)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._head = (f"POST {parsed.path or '/'} HTTP/1.1\r\nHost: {parsed.netloc}\r\n"
                      "Content-Type: application/json\r\nContent-Length: ").encode()
        self._buffer = b""

    def __call__(self, body: bytes) -> Any:
        self._sock.sendall(b"%s%d\r\n\r\n%s" % (self._head, len(body), body))
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            self._read()
        head, self._buffer = self._buffer[:end], self._buffer[end + 4:]
        fields = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
            return json.loads(b"".join(iter(self._chunk, b"")))
        if b"content-length" not in fields:
            raise http.client.HTTPException(f"an answer without Content-Length: {head[:200]!r}")
        return json.loads(self._take(int(fields[b"content-length"])))

    def _chunk(self) -> bytes:
        """The next chunk of a chunked answer (b"" for the last, after its trailer)."""
        while (end := self._buffer.find(b"\r\n")) < 0:
            self._read()
        size = int(self._buffer[:end].split(b";")[0], 16)
        self._buffer = self._buffer[end + 2:]
        if size == 0:
            while (end := self._buffer.find(b"\r\n")) != 0:   # trailer lines, then a blank one
                if end < 0:
                    self._read()
                else:
                    self._buffer = self._buffer[end + 2:]
            self._buffer = self._buffer[2:]
            return b""
        data = self._take(size + 2)
        return data[:-2]

    def _take(self, length: int) -> bytes:
        while len(self._buffer) < length:
            self._read()
        data, self._buffer = self._buffer[:length], self._buffer[length:]
        return data

    def _read(self) -> None:
        chunk = self._sock.recv(1 << 16)
        if not chunk:
            raise http.client.HTTPException("the server closed the connection")
        self._buffer += chunk


def json_poster(url: str, client: str = "requests") -> Callable[[bytes], Any]:
    """A keep-alive HTTP client that POSTs a JSON body to ``url`` and returns the decoded
    answer; one per thread. ``requests`` is what web3.py uses (~1.2 ms of CPU a request here,
    as much as the node's own share on a two-core machine); ``lean`` is ``http.client`` on one
    connection and ``raw`` the same requests written on a socket by hand (:class:`RawPoster`):
    the same requests on the wire for a fraction of the client's CPU, as a dApp's backend on
    another machine would leave the node's cores to it."""
    if client == "raw":
        return RawPoster(url)
    if client == "lean":
        parsed = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=600)
        headers = {"Content-Type": "application/json"}

        def send(body: bytes) -> Any:
            connection.request("POST", parsed.path or "/", body, headers)
            return json.loads(connection.getresponse().read())
        return send
    session = requests.Session()

    def post(body: bytes) -> Any:
        return session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=600).json()
    return post
