"""JSON quantities and byte strings as geth reads them in genesis files."""
from __future__ import annotations

from typing import Any


def parse_quantity(value: Any, default: int = 0) -> int:
    """A JSON quantity as geth accepts it: hex string, decimal string or integer."""
    if value is None:
        return default
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text, 16) if text.lower().startswith("0x") else int(text or "0")


def parse_bytes(value: Any) -> bytes:
    if not value:
        return b""
    text = str(value)
    digits = text[2:] if text.lower().startswith("0x") else text
    # geth accepts odd-length hex ("0x0") in genesis files.
    return bytes.fromhex(digits.rjust(len(digits) + len(digits) % 2, "0"))
