"""Amounts and addresses as people type them: "1.5" AZR, checksummed 0x addresses."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from eth_utils import is_checksum_address, is_hex_address, to_checksum_address

from wallet.errors import WalletError


def parse_amount(text: str, decimals: int = 18) -> int:
    """``"1.5"`` in whole units -> base units; refuses negatives and more decimals than the token has."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise WalletError(f"amount {text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise WalletError(f"amount {text!r} must be a positive number")
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise WalletError(f"amount {text!r} has more than {decimals} decimals")
    return int(scaled)


def format_amount(base_units: int, decimals: int = 18) -> str:
    """Base units -> whole units as a decimal string, always with a point: ``"5.0"``, ``"1.25"``."""
    sign = "-" if base_units < 0 else ""
    whole, fraction = divmod(abs(base_units), 10**decimals)
    digits = str(fraction).zfill(decimals).rstrip("0") if decimals else ""
    return f"{sign}{whole}.{digits or '0'}"


def parse_address(text: str) -> str:
    """A 0x address in checksum form; a typo in case (a bad checksum) or a non-hex string is refused."""
    text = text.strip()
    if not is_hex_address(text) or not text.startswith(("0x", "0X")):
        raise WalletError(f"{text!r} is not a 0x address of 40 hex digits")
    if is_checksum_address(text):
        return text
    if text[2:] in (text[2:].lower(), text[2:].upper()):
        raise WalletError(f"address {text} is not checksummed; write it as {to_checksum_address(text)}")
    raise WalletError(f"address {text} has a bad checksum (a typo?)")
