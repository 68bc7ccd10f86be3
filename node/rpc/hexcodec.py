"""Parsing and encoding of JSON-RPC values, strict as geth is (errors are -32602)."""
from __future__ import annotations

import re
from typing import Any

from eth_typing import Address

from node.rpc.errors import invalid_params

_HEX_QUANTITY = re.compile(r"^0x(0|[1-9a-fA-F][0-9a-fA-F]*)$")
# Quantities that fill a 64-bit field (a header's, a transaction's, the EVM's clock) — geth
# decodes them as hexutil.Uint64; every other quantity is at most an EVM word (hexutil.Big).
UINT64_QUANTITIES = frozenset({"gas", "nonce", "index", "blockCount", "timestamp", "seconds", "blocks",
                               "snapshot id"})


def quantity(value: int) -> str:
    return hex(value)


def data(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def parse_quantity(value: Any, name: str = "quantity", bits: int | None = None) -> int:
    """A hex quantity of at most ``bits`` bits (by default 64 for the fields named in
    :data:`UINT64_QUANTITIES`, else 256), with geth's wording when it does not fit."""
    if isinstance(value, str) and _HEX_QUANTITY.match(value):
        number = int(value, 16)
        limit = bits if bits is not None else 64 if name in UINT64_QUANTITIES else 256
        if number >> limit:
            raise invalid_params(f"invalid argument: {name}: hex number > {limit} bits")
        return number
    if isinstance(value, str) and value.startswith("0x") and re.match(r"^0x0[0-9a-fA-F]+$", value):
        raise invalid_params(f"invalid argument: hex number with leading zero digits for {name}")
    raise invalid_params(f"invalid argument: {name} must be a hex quantity, got {value!r}")


def parse_data(value: Any, name: str = "data", length: int | None = None) -> bytes:
    """``0x`` and whole bytes of hex digits. fromhex alone would skip whitespace between the
    bytes, hence the length check; a regular expression over a raw transaction's hex took ten
    times as long (a twentieth of admitting a sent transaction)."""
    raw = None
    if isinstance(value, str) and value.startswith("0x"):
        try:
            raw = bytes.fromhex(value[2:])
        except ValueError:
            pass
    if raw is None or 2 * len(raw) != len(value) - 2:
        raise invalid_params(f"invalid argument: {name} must be hex data, got {value!r}")
    if length is not None and len(raw) != length:
        raise invalid_params(f"invalid argument: {name} must be {length} bytes, got {len(raw)}")
    return raw


def parse_address(value: Any, name: str = "address") -> Address:
    return Address(parse_data(value, name, 20))


def parse_hash(value: Any, name: str = "hash") -> bytes:
    return parse_data(value, name, 32)


def parse_access_list(value: Any, name: str = "accessList") -> tuple[tuple[bytes, tuple[int, ...]], ...]:
    """An EIP-2930 access list: ``[{"address", "storageKeys": [32-byte hex, ...]}, ...]``."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise invalid_params(f"invalid argument: {name} must be an array")
    entries = []
    for item in value:
        if not isinstance(item, dict):
            raise invalid_params(f"invalid argument: {name} entries must be objects")
        keys = item.get("storageKeys") or []
        if not isinstance(keys, list):
            raise invalid_params(f"invalid argument: {name} storageKeys must be an array")
        entries.append((bytes(parse_address(item.get("address"), f"{name} address")),
                        tuple(_parse_storage_key(k, name) for k in keys)))
    return tuple(entries)


def _parse_storage_key(value: Any, name: str) -> int:
    """A storage key: 32-byte hex data (geth's common.Hash), or a shorter hex quantity."""
    if isinstance(value, str) and len(value) == 66:
        return int.from_bytes(parse_data(value, f"{name} storage key", 32), "big")
    return parse_quantity(value, f"{name} storage key")


def parse_bool(value: Any, name: str = "flag") -> bool:
    if not isinstance(value, bool):
        raise invalid_params(f"invalid argument: {name} must be a boolean")
    return value

