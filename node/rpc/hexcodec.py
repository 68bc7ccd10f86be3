"""Parsing and encoding of JSON-RPC values, strict as geth is (errors are -32602)."""
from __future__ import annotations

import re
from typing import Any

from eth_typing import Address

from node.rpc.errors import invalid_params

_HEX_QUANTITY = re.compile(r"^0x(0|[1-9a-fA-F][0-9a-fA-F]*)$")
_HEX_DATA = re.compile(r"^0x([0-9a-fA-F]{2})*$")


def quantity(value: int) -> str:
    return hex(value)


def data(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def parse_quantity(value: Any, name: str = "quantity") -> int:
    if isinstance(value, str) and _HEX_QUANTITY.match(value):
        return int(value, 16)
    if isinstance(value, str) and value.startswith("0x") and re.match(r"^0x0[0-9a-fA-F]+$", value):
        raise invalid_params(f"invalid argument: hex number with leading zero digits for {name}")
    raise invalid_params(f"invalid argument: {name} must be a hex quantity, got {value!r}")


def parse_data(value: Any, name: str = "data", length: int | None = None) -> bytes:
    if not isinstance(value, str) or not _HEX_DATA.match(value):
        raise invalid_params(f"invalid argument: {name} must be hex data, got {value!r}")
    raw = bytes.fromhex(value[2:])
    if length is not None and len(raw) != length:
        raise invalid_params(f"invalid argument: {name} must be {length} bytes, got {len(raw)}")
    return raw


def parse_address(value: Any, name: str = "address") -> Address:
    return Address(parse_data(value, name, 20))


def parse_hash(value: Any, name: str = "hash") -> bytes:
    return parse_data(value, name, 32)


def parse_bool(value: Any, name: str = "flag") -> bool:
    if not isinstance(value, bool):
        raise invalid_params(f"invalid argument: {name} must be a boolean")
    return value

