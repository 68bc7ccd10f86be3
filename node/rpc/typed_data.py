"""EIP-712 typed data checked against its own types before anything signs it.

eth_account hashes what it is given; geth refuses typed data whose values do not fit their
declared types (a fixed-size array of the wrong length, a missing field, an undefined type),
and clients such as web3.py test for that refusal and its words.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from node.rpc.errors import invalid_params

ARRAY_TYPE = re.compile(r"^(?P<item>.+)\[(?P<length>\d*)\]$")
ATOMIC_TYPE = re.compile(r"^(bool|address|string|bytes|bytes([1-9]|[12]\d|3[0-2])|u?int(8|16|24|32|40|48|56|64|72|80|88|"
                         r"96|104|112|120|128|136|144|152|160|168|176|184|192|200|208|216|224|232|240|248|256)?)$")


def check_typed_data(typed: Any) -> None:
    """Raise geth's error (-32000) if ``typed`` does not fit its ``types``."""
    if not isinstance(typed, dict):
        raise invalid_params("typed data must be an object")
    types = typed.get("types")
    if not isinstance(types, dict) or not all(isinstance(fields, list) for fields in types.values()):
        raise invalid_params("typed data: types must map each type name to its fields")
    primary = typed.get("primaryType")
    if not isinstance(primary, str) or primary not in types:
        raise invalid_params(f"typed data: primary type {primary!r} is not defined in types")
    domain = typed.get("domain")
    if not isinstance(domain, dict):
        raise invalid_params("typed data: domain must be an object")
    if "EIP712Domain" in types:
        check_struct(types, "EIP712Domain", domain, "domain")
    check_struct(types, primary, typed.get("message"), "message")


def check_struct(types: Mapping[str, Any], name: str, value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise invalid_params(f"typed data: {path} must be an object of type {name}")
    for field in types[name]:
        if not isinstance(field, dict) or not isinstance(field.get("name"), str) or not isinstance(field.get("type"), str):
            raise invalid_params(f"typed data: type {name} has a malformed field {field!r}")
        if field["name"] not in value:
            raise invalid_params(f"typed data: {path} has no value for field {field['name']!r} of type {name}")
        check_value(types, field["type"], value[field["name"]], f"{path}.{field['name']}")


def check_value(types: Mapping[str, Any], type_name: str, value: Any, path: str) -> None:
    array = ARRAY_TYPE.match(type_name)
    if array is not None:
        if not isinstance(value, list):
            raise invalid_params(f"typed data: {path} must be an array of type {type_name}")
        length = array.group("length")
        if length and len(value) != int(length):
            # geth's and eth_account's wording, which web3.py's tests match.
            raise invalid_params(f"Expected {length} items for array type {type_name}, got {len(value)} items")
        for index, item in enumerate(value):
            check_value(types, array.group("item"), item, f"{path}[{index}]")
    elif type_name in types:
        check_struct(types, type_name, value, path)
    elif not ATOMIC_TYPE.match(type_name):
        raise invalid_params(f"typed data: {path} has type {type_name!r}, which is not defined")


__all__ = ["check_typed_data"]
