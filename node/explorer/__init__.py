"""The block explorer page served by the node at /explorer on the RPC port.

One static page (``index.html`` with ``explorer.js`` and ``explorer.css`` beside it) that reads the
node's own JSON-RPC from the browser: no external assets, so it works offline. The node also
serves the system contracts' ABIs at /explorer/abi.json with every event topic and function
selector precomputed, so the page decodes logs and encodes calls without a keccak of its own.
"""
from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from eth_utils import keccak
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

ASSETS = {"index.html": "text/html; charset=utf-8", "explorer.js": "text/javascript; charset=utf-8",
          "explorer.css": "text/css; charset=utf-8"}


def canonical_type(param: dict[str, Any]) -> str:
    """The ABI type as it appears in a signature: tuples spelled out as ``(t1,t2)``."""
    kind = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(canonical_type(c) for c in param["components"]) + ")" + kind[len("tuple"):]
    return kind


def compute_signature(entry: dict[str, Any]) -> str:
    return f"{entry['name']}({','.join(canonical_type(p) for p in entry.get('inputs', []))})"


def compute_abi_index(artifacts: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """ABIs by contract, plus topic0 → event and selector → function over all of them."""
    events: dict[str, Any] = {}
    functions: dict[str, dict[str, str]] = {}
    for contract, abi in sorted(artifacts.items()):
        functions[contract] = {}
        for entry in abi:
            if entry["type"] == "event":
                topic = "0x" + keccak(text=compute_signature(entry)).hex()
                events.setdefault(topic, {"contract": contract, **entry})
            elif entry["type"] == "function":
                selector = "0x" + keccak(text=compute_signature(entry))[:4].hex()
                functions[contract][entry["name"]] = selector
    return {"abis": artifacts, "events": events, "functions": functions}


@functools.cache
def load_abi_index() -> dict[str, Any]:
    """The index over contracts/build/*.json, as installed with the ``contracts`` package."""
    build = resources.files("contracts") / "build"
    artifacts = {entry.name.removesuffix(".json"): json.loads(entry.read_text())["abi"]
                 for entry in build.iterdir() if entry.name.endswith(".json")}
    return compute_abi_index(artifacts)


def read_asset(name: str) -> bytes:
    return (resources.files(__name__) / name).read_bytes()


async def asset_endpoint(request: Request) -> Response:
    name = request.path_params.get("name", "index.html")
    if name not in ASSETS:
        return Response(b"not found", status_code=404)
    # The page is small and read-only: read per request, so an edited asset needs no restart.
    return Response(read_asset(name), media_type=ASSETS[name])


async def abi_endpoint(request: Request) -> Response:
    return JSONResponse(load_abi_index())


def explorer_routes() -> list[BaseRoute]:
    """/explorer (the page), /explorer/abi.json and the page's own script and style."""
    return [Route("/explorer", asset_endpoint, methods=["GET"]),
            Route("/explorer/", asset_endpoint, methods=["GET"]),
            Route("/explorer/abi.json", abi_endpoint, methods=["GET"]),
            Route("/explorer/{name}", asset_endpoint, methods=["GET"])]
