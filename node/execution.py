"""eth_call and eth_estimateGas on any block's state, as geth answers them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from eth.abc import BlockHeaderAPI, ComputationAPI, VirtualMachineAPI
from eth.exceptions import Revert
from eth.vm.spoof import SpoofTransaction
from eth_utils import ValidationError

from kernel.chain import Chain
from node.rpc.errors import RpcError, invalid_params, reverted, server_error
from node.rpc.hexcodec import parse_address, parse_data, parse_hash, parse_quantity

CALL_GAS_CAP = 50_000_000       # geth's RPCGasCap


@dataclass(frozen=True)
class CallArgs:
    sender: bytes
    to: bytes | None
    gas: int | None
    gas_price: int | None
    max_fee: int | None
    max_priority_fee: int | None
    value: int
    data: bytes
    nonce: int | None
    access_list: tuple[tuple[bytes, tuple[int, ...]], ...]

    @classmethod
    def parse(cls, obj: Any) -> "CallArgs":
        if not isinstance(obj, dict):
            raise invalid_params("invalid argument 0: call object expected")
        if "data" in obj and "input" in obj and obj["data"] != obj["input"]:
            raise invalid_params('both "data" and "input" are set and not equal')
        raw_data = obj.get("input", obj.get("data"))
        access_list = tuple(
            (parse_address(item["address"]), tuple(parse_quantity(k) if len(k) < 66 else int(k, 16)
                                                   for k in item.get("storageKeys", [])))
            for item in obj.get("accessList") or [])
        opt = lambda key: parse_quantity(obj[key], key) if obj.get(key) is not None else None  # noqa: E731
        return cls(
            sender=parse_address(obj["from"], "from") if obj.get("from") else b"\0" * 20,
            to=parse_address(obj["to"], "to") if obj.get("to") else None,
            gas=opt("gas"), gas_price=opt("gasPrice"), max_fee=opt("maxFeePerGas"),
            max_priority_fee=opt("maxPriorityFeePerGas"), value=opt("value") or 0,
            data=parse_data(raw_data, "input") if raw_data else b"",
            nonce=opt("nonce"), access_list=access_list)

    @property
    def pays_fees(self) -> bool:
        return bool(self.gas_price or self.max_fee)


def apply_state_overrides(vm: VirtualMachineAPI, overrides: Mapping[str, Any] | None) -> None:
    """geth's third eth_call argument: per-account balance, nonce, code, state, stateDiff."""
    if not overrides:
        return
    if not isinstance(overrides, dict):
        raise invalid_params("invalid argument 2: state override set expected")
    state = vm.state
    for address_hex, override in overrides.items():
        address = parse_address(address_hex, "override address")
        if "balance" in override:
            state.set_balance(address, parse_quantity(override["balance"], "balance"))
        if "nonce" in override:
            state.set_nonce(address, parse_quantity(override["nonce"], "nonce"))
        if "code" in override:
            state.set_code(address, parse_data(override["code"], "code"))
        if "state" in override and "stateDiff" in override:
            raise invalid_params(f"account {address_hex} has both 'state' and 'stateDiff'")
        if "state" in override:
            state.delete_storage(address)
        for slot, value in (override.get("state") or override.get("stateDiff") or {}).items():
            state.set_storage(address, int.from_bytes(parse_hash(slot, "slot"), "big"),
                              int.from_bytes(parse_hash(value, "value"), "big"))


class Executor:
    """Runs message calls against a block's post-state without persisting anything."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    def _vm(self, header: BlockHeaderAPI, args: CallArgs) -> VirtualMachineAPI:
        # geth runs a call without fees with a zero base fee, so callers need no funds.
        if not args.pays_fees and getattr(header, "base_fee_per_gas", None) is not None:
            header = header.copy(base_fee_per_gas=0)
        return self.chain.vm_at(header)

    def _transaction(self, vm: VirtualMachineAPI, args: CallArgs, gas: int) -> SpoofTransaction:
        state = vm.state
        nonce = args.nonce if args.nonce is not None else state.get_nonce(args.sender)
        builder = vm.get_transaction_builder()
        to = args.to or b""
        base_fee = getattr(vm.get_header(), "base_fee_per_gas", None)
        if base_fee is not None and hasattr(builder, "new_unsigned_dynamic_fee_transaction"):
            max_fee = args.max_fee if args.max_fee is not None else (args.gas_price or 0)
            tip = args.max_priority_fee if args.max_priority_fee is not None else max_fee - base_fee
            tx = builder.new_unsigned_dynamic_fee_transaction(
                chain_id=self.chain.chain_id, nonce=nonce, max_priority_fee_per_gas=max(0, min(tip, max_fee)),
                max_fee_per_gas=max_fee, gas=gas, to=to, value=args.value, data=args.data,
                access_list=args.access_list)
        else:
            tx = vm.create_unsigned_transaction(nonce=nonce, gas_price=args.gas_price or 0,
                                                gas=gas, to=to, value=args.value, data=args.data)
        return SpoofTransaction(tx, from_=args.sender)

    def _run(self, vm: VirtualMachineAPI, args: CallArgs, gas: int) -> ComputationAPI:
        tx = self._transaction(vm, args, gas)
        snapshot = vm.state.snapshot()
        try:
            return vm.state.apply_transaction(tx)
        except ValidationError as exc:
            raise server_error(_geth_validation_message(str(exc), args)) from None
        finally:
            vm.state.revert(snapshot)

    def call(self, header: BlockHeaderAPI, args: CallArgs,
             overrides: Mapping[str, Any] | None = None) -> bytes:
        vm = self._vm(header, args)
        apply_state_overrides(vm, overrides)
        gas = min(args.gas or CALL_GAS_CAP, CALL_GAS_CAP)
        computation = self._run(vm, args, gas)
        if computation.is_error:
            raise _computation_error(computation)
        return computation.output

    def estimate_gas(self, header: BlockHeaderAPI, args: CallArgs,
                     overrides: Mapping[str, Any] | None = None) -> int:
        vm = self._vm(header, args)
        apply_state_overrides(vm, overrides)
        cap = min(args.gas or header.gas_limit, header.gas_limit)
        if args.pays_fees:
            price = args.max_fee or args.gas_price or 0
            affordable = (vm.state.get_balance(args.sender) - args.value) // max(price, 1)
            cap = max(0, min(cap, affordable))
        computation = self._run(vm, args, cap)
        if computation.is_error:
            if isinstance(computation.error, Revert):
                raise reverted(computation.output)
            raise server_error(f"gas required exceeds allowance ({cap})")
        # Search between what the run used and the cap; most calls succeed at the first guess
        # (used plus the 1/64 that CALLs withhold), so this costs one or two more runs.
        intrinsic = self._transaction(vm, args, cap).intrinsic_gas
        used = intrinsic + computation.get_gas_used()   # the message's gas excludes intrinsic
        low, high = used - 1, cap
        guess = min(cap, (used + computation.get_gas_refund() + 2300) * 64 // 63)
        if guess < high and not self._run(vm, args, guess).is_error:
            high = guess
        while high - low > 1:
            middle = (low + high) // 2
            if self._run(vm, args, middle).is_error:
                low = middle
            else:
                high = middle
        return high


def _computation_error(computation: ComputationAPI) -> RpcError:
    if isinstance(computation.error, Revert):
        return reverted(computation.output)
    return server_error(_vm_error_message(computation.error))


def _vm_error_message(error: Exception) -> str:
    name = type(error).__name__
    messages = {"OutOfGas": "out of gas", "InvalidInstruction": "invalid opcode",
                "InvalidJumpDestination": "invalid jump destination",
                "StackDepthLimit": "max call depth exceeded", "WriteProtection": "write protection",
                "InsufficientStack": "stack underflow", "FullStack": "stack limit reached",
                "InsufficientFunds": "insufficient balance for transfer",
                "ContractCreationCollision": "contract address collision"}
    return messages.get(name, str(error) or name)


def _geth_validation_message(message: str, args: CallArgs) -> str:
    lowered = message.lower()
    if "balance" in lowered or "funds" in lowered:
        return f"insufficient funds for gas * price + value: address 0x{args.sender.hex()}"
    if "nonce" in lowered:
        return f"nonce too low: {message}" if "expected" in lowered else message
    if "intrinsic" in lowered:
        return "intrinsic gas too low"
    return message
