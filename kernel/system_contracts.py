"""Deterministic deployment of Azora's system contracts into the genesis state.

contracts/deployment.py describes the deployment as data (ordered Deploy/Call/Transfer steps);
here each step runs as a zero-fee transaction from a keyless genesis deployer on py-evm, so the
resulting state — and the genesis hash — is a pure function of the genesis file and the
committed contract artifacts.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Protocol, Sequence, cast

from eth.abc import SignedTransactionAPI, StateAPI, VirtualMachineAPI
from eth.exceptions import Revert
from eth.vm.forks.london.transactions import LondonTransactionBuilder
from eth.vm.spoof import SpoofTransaction
from eth_typing import Address
from eth_utils import keccak, to_canonical_address, to_checksum_address

from contracts import deployment as plan_module
from contracts.deployment import (
    ATokenSpec, DeploymentParams, ValidatorSpec, encode_step, parse_courses, record_result,
    system_deployment_plan, system_addresses,
)
from kernel.execution import decode_revert_reason
from kernel.quantities import parse_quantity

# Nobody holds this key: the address is a hash, and the plan renounces every role it had.
GENESIS_DEPLOYER = Address(keccak(b"azora:genesis-deployer")[12:])
DEPLOY_GAS = 60_000_000


class GenesisDeploymentError(Exception):
    """A step of the system deployment failed; the genesis cannot be built."""


class DeploymentSection(Protocol):
    """What the deployment reads of a genesis' ``azora`` section (kernel.genesis.AzoraParams)."""

    @property
    def validators(self) -> Sequence[Mapping[str, Any]]: ...
    @property
    def oracles(self) -> Mapping[str, Any]: ...
    @property
    def system_contracts(self) -> Mapping[str, Any]: ...

    @property
    def raw(self) -> Mapping[str, Any]: ...


def deployment_params(azora: DeploymentSection) -> DeploymentParams:
    """The deployment parameters from a genesis' ``azora`` section."""
    validators = [ValidatorSpec(to_checksum_address(v["address"]), parse_quantity(v.get("stake")))
                  for v in azora.validators]
    oracles = azora.oracles or {}
    if not oracles.get("members"):
        raise ValueError("genesis: azora.oracles.members must name the initial oracle committee")
    overrides: dict[str, Any] = {}
    fields = {f.name for f in dataclasses.fields(DeploymentParams)}
    for key, value in (azora.system_contracts or {}).items():
        if key == "atokens":
            overrides["atokens"] = [ATokenSpec(t["name"], t["symbol"], parse_quantity(t["reserve"]))
                                    for t in value]
        elif key in fields:
            overrides[key] = parse_quantity(value) if isinstance(value, str) and value.startswith("0x") else value
        else:
            raise ValueError(f"genesis: unknown azora.systemContracts parameter {key!r}")
    return DeploymentParams(
        deployer=to_checksum_address(GENESIS_DEPLOYER),
        oracles=[to_checksum_address(a) for a in oracles.get("members", [])],
        oracle_quorum=int(oracles.get("quorum", 1 if oracles.get("members") else 0)),
        validators=validators, courses=parse_courses(azora.raw.get("courses", ())), **overrides)


def deploy_system_contracts(vm: VirtualMachineAPI, azora: DeploymentSection) -> dict[str, str]:
    """Execute the system deployment on ``vm``'s state; returns the contracts table."""
    params = deployment_params(azora)
    plan = system_deployment_plan(params)
    state = vm.state
    state.set_balance(GENESIS_DEPLOYER, state.get_balance(GENESIS_DEPLOYER)
                      + plan_module.plan_total_value(plan))
    values: dict[str, Any] = {}
    for index, step in enumerate(plan):
        to, data, value = encode_step(step, values, plan)
        computation = _execute(vm, to, data, value)
        if computation.is_error:
            raise GenesisDeploymentError(
                f"genesis: system deployment step {index} ({type(step).__name__} "
                f"{getattr(step, 'name', '')}{getattr(step, 'target', '')}"
                f".{getattr(step, 'function', '')}) failed: {_reason(computation)}")
        address = to_checksum_address(computation.msg.storage_address) if to is None else None
        record_result(step, values, plan, address=address, output=computation.output)
    return system_addresses(values, params)


def _execute(vm: VirtualMachineAPI, to: str | None, data: bytes, value: int) -> Any:
    state: StateAPI = vm.state
    # the system contracts deploy on a London-or-later genesis: its builder makes type-2 txs
    builder = cast(type[LondonTransactionBuilder], vm.get_transaction_builder())
    tx = builder.new_unsigned_dynamic_fee_transaction(
        chain_id=state.execution_context.chain_id, nonce=state.get_nonce(GENESIS_DEPLOYER),
        max_priority_fee_per_gas=0, max_fee_per_gas=0, gas=DEPLOY_GAS,
        to=to_canonical_address(to) if to else Address(b""), value=value, data=data, access_list=())
    # py-evm runs a SpoofTransaction (unsigned, with a chosen sender) as a signed one
    return state.apply_transaction(cast(SignedTransactionAPI, SpoofTransaction(tx, from_=GENESIS_DEPLOYER)))


def _reason(computation: Any) -> str:
    reason = decode_revert_reason(computation.output) if isinstance(computation.error, Revert) else None
    return reason if reason is not None else repr(computation.error)

