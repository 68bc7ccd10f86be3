"""Parameter checks the dispatcher runs before a handler, for methods whose handler would
otherwise hand raw client input to a library that fails with its own exceptions.

The answer to a malformed input is the client's error (-32602, naming the argument), never
an internal error: these checks give the shape, and for library-validated methods the
library's ``ValueError``/``TypeError``/``KeyError`` count as invalid arguments too.
"""
from __future__ import annotations

import json
from typing import Any, Callable

from node.rpc.errors import RpcError, invalid_params
from node.rpc.hexcodec import parse_access_list, parse_address

TYPED_DATA_KEYS = {"types": dict, "primaryType": str, "domain": dict, "message": dict}


def parse_typed_data(value: Any, position: int) -> dict[str, Any]:
    """EIP-712 typed data as eth_signTypedData_v4 takes it: an object, or its JSON text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise invalid_params(f"invalid argument {position}: typed data is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise invalid_params(f"invalid argument {position}: typed data must be an object")
    for key, kind in TYPED_DATA_KEYS.items():
        if not isinstance(value.get(key), kind):
            raise invalid_params(f"invalid argument {position}: typed data needs {key!r} "
                                 f"as a JSON {'string' if kind is str else 'object'}")
    return value


def check_sign_typed_data(params: list[Any]) -> None:
    parse_address(params[0], "address") if params else None
    if len(params) > 1:
        parse_typed_data(params[1], 1)


def check_transaction_object(params: list[Any]) -> None:
    """eth_sendTransaction/eth_signTransaction: the parts the signer library would otherwise
    reject with its own exceptions (the quantities are parsed, bounded, by the handler)."""
    if params and isinstance(params[0], dict) and params[0].get("accessList") is not None:
        parse_access_list(params[0]["accessList"])


# method → a check of its positional params (raising RpcError); run after the arity check.
PARAM_CHECKS: dict[str, Callable[[list[Any]], None]] = {
    "eth_signTypedData_v4": check_sign_typed_data,
    "eth_signTypedData": check_sign_typed_data,
    "eth_sendTransaction": check_transaction_object,
    "eth_signTransaction": check_transaction_object,
}
# Methods whose handlers pass client input to a library that validates it by raising.
LIBRARY_VALIDATED = frozenset({"eth_signTypedData_v4", "eth_signTypedData"})


def check_params(method: str, params: list[Any]) -> None:
    check = PARAM_CHECKS.get(method)
    if check is not None:
        check(params)


def as_client_error(method: str, exc: Exception) -> RpcError | None:
    """The -32602 a library-validated method's input error stands for (None: a real fault)."""
    if method in LIBRARY_VALIDATED and isinstance(exc, (ValueError, TypeError, KeyError)):
        return invalid_params(f"invalid argument: {exc}")
    return None
