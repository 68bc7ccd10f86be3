"""What every benchmark script shares: free ports, percentiles, the dev mnemonic."""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

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
