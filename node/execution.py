"""eth_call and eth_estimateGas arguments as geth takes them, and the kernel's failures as
geth's JSON-RPC errors. The execution itself is the kernel's (``kernel.execution``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth.abc import BlockHeaderAPI
from eth_typing import Address

from kernel.execution import (
    CALL_GAS_CAP, ZERO_ADDRESS, AccessListResult, AccountOverride, CallError, CallExecutor, CallMessage,
    ExecutionReverted, VMSource,
)
from node.rpc.errors import RpcError, invalid_params, reverted, server_error
from node.rpc.hexcodec import parse_access_list, parse_address, parse_data, parse_hash, parse_quantity

__all__ = ["CALL_GAS_CAP", "CallArgs", "Executor", "parse_state_overrides", "rpc_error"]


@dataclass(frozen=True)
class CallArgs(CallMessage):
    """A :class:`CallMessage` read from geth's call object."""

    @classmethod
    def parse(cls, obj: Any) -> "CallArgs":
        if not isinstance(obj, dict):
            raise invalid_params("invalid argument 0: call object expected")
        if "data" in obj and "input" in obj and obj["data"] != obj["input"]:
            raise invalid_params('both "data" and "input" are set and not equal')
        raw_data = obj.get("input", obj.get("data"))
        access_list = parse_access_list(obj.get("accessList"))

        def optional(key: str) -> int | None:
            return parse_quantity(obj[key], key) if obj.get(key) is not None else None

        return cls(
            sender=parse_address(obj["from"], "from") if obj.get("from") else ZERO_ADDRESS,
            to=parse_address(obj["to"], "to") if obj.get("to") else None,
            gas=optional("gas"), gas_price=optional("gasPrice"), max_fee=optional("maxFeePerGas"),
            max_priority_fee=optional("maxPriorityFeePerGas"), value=optional("value") or 0,
            data=parse_data(raw_data, "input") if raw_data else b"",
            nonce=optional("nonce"), access_list=access_list)


def parse_state_overrides(overrides: Any) -> dict[Address, AccountOverride]:
    """geth's state override set: address → balance, nonce, code, state or stateDiff."""
    if not overrides:
        return {}
    if not isinstance(overrides, dict):
        raise invalid_params("invalid argument 2: state override set expected")
    parsed: dict[Address, AccountOverride] = {}
    for address_hex, override in overrides.items():
        address = parse_address(address_hex, "override address")
        if not isinstance(override, dict):
            raise invalid_params(f"invalid argument 2: override of {address_hex} must be an object")
        if "state" in override and "stateDiff" in override:
            raise invalid_params(f"account {address_hex} has both 'state' and 'stateDiff'")
        if not isinstance(override.get("state") or override.get("stateDiff") or {}, dict):
            raise invalid_params(f"invalid argument 2: state of {address_hex} must be an object of slot → value")
        slots = {int.from_bytes(parse_hash(slot, "slot"), "big"): int.from_bytes(parse_hash(value, "value"), "big")
                 for slot, value in (override.get("state") or override.get("stateDiff") or {}).items()}
        parsed[address] = AccountOverride(
            balance=parse_quantity(override["balance"], "balance") if "balance" in override else None,
            nonce=parse_quantity(override["nonce"], "nonce") if "nonce" in override else None,
            code=parse_data(override["code"], "code") if "code" in override else None,
            state=slots if "state" in override else None,
            state_diff={} if "state" in override else slots)
    return parsed


def rpc_error(error: CallError) -> RpcError:
    """geth's answer to a failed call: code 3 with the revert data, else -32000."""
    if isinstance(error, ExecutionReverted):
        return reverted(error.output)
    return server_error(str(error))


class Executor:
    """The kernel's call executor for the node's own callers, failing with RPC errors."""

    def __init__(self, chain: VMSource) -> None:
        self._calls = CallExecutor(chain)

    def call(self, header: BlockHeaderAPI, args: CallMessage, overrides: Any = None) -> bytes:
        parsed = parse_state_overrides(overrides)
        try:
            return self._calls.call(header, args, parsed)
        except CallError as exc:
            raise rpc_error(exc) from None

    def estimate_gas(self, header: BlockHeaderAPI, args: CallMessage, overrides: Any = None) -> int:
        parsed = parse_state_overrides(overrides)
        try:
            return self._calls.estimate_gas(header, args, parsed)
        except CallError as exc:
            raise rpc_error(exc) from None

    def create_access_list(self, header: BlockHeaderAPI, args: CallMessage) -> AccessListResult:
        try:
            return self._calls.create_access_list(header, args)
        except CallError as exc:
            raise rpc_error(exc) from None


