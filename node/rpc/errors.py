"""JSON-RPC errors with geth's codes and messages."""
from __future__ import annotations

from typing import Any

from kernel.execution import decode_revert_reason

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000          # geth's generic "execution / txpool" error family
LIMIT_EXCEEDED = -32005
EXECUTION_REVERTED = 3


class RpcError(Exception):
    """An error answered to the client as ``{"code", "message", "data"?}``."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid_params(message: str) -> RpcError:
    return RpcError(INVALID_PARAMS, message)


def server_error(message: str) -> RpcError:
    return RpcError(SERVER_ERROR, message)


def method_not_found(method: str) -> RpcError:
    return RpcError(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available")


def reverted(output: bytes) -> RpcError:
    """geth: code 3, message "execution reverted[: reason]", data the raw revert bytes."""
    reason = decode_revert_reason(output)
    message = "execution reverted" + (f": {reason}" if reason else "")
    return RpcError(EXECUTION_REVERTED, message, "0x" + output.hex())
