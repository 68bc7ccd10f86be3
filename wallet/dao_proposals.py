"""Proposals as data: actions encoded from a signature and arguments, proposal files, the
ProposalCreated log, and actions decoded back with the system contracts' ABIs.

Nothing here signs or sends; ``wallet.dao`` does that.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.exceptions import EncodingError
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract

from contracts.build import BUILD_DIR, load_artifact
from wallet.dao_templates import NEWER_FUNCTIONS, Action
from wallet.errors import WalletError
from wallet.rpc import Node
from wallet.units import parse_address, parse_amount

# the Governor's bounds (contracts/Governor.vy: MAX_ACTIONS, MAX_CALLDATA, String[2_048])
MAX_ACTIONS = 16
MAX_CALLDATA = 1_024
MAX_DESCRIPTION = 2_048


@dataclass(frozen=True)
class EncodedProposal:
    """What ``Governor.propose`` takes."""

    targets: list[str]
    values: list[int]
    calldatas: list[bytes]
    description: str

    @property
    def description_hash(self) -> bytes:
        return keccak(text=self.description)


@dataclass(frozen=True)
class CreatedProposal(EncodedProposal):
    """A proposal as its ProposalCreated log records it."""

    proposal_id: int = 0
    proposer: str = ""
    vote_start: int = 0
    vote_end: int = 0
    block_number: int = 0


# -- encoding --------------------------------------------------------------------------------------

def split_signature(signature: str) -> tuple[str, list[str]]:
    """``"setCourse(bytes32,address)"`` -> ``("setCourse", ["bytes32", "address"])``; tuples refused."""
    name, sep, rest = signature.strip().partition("(")
    if not sep or not rest.endswith(")") or not name.isidentifier():
        raise WalletError(f"function {signature!r} is not a signature such as setVotingPeriod(uint256)")
    inner = rest[:-1].replace(" ", "")
    if "(" in inner:
        raise WalletError(f"function {signature!r}: tuple arguments are not supported; give the calldata as an address")
    return name, [t for t in inner.split(",") if t]


def canonical_signature(signature: str) -> str:
    name, types = split_signature(signature)
    return f"{name}({','.join(types)})"


def coerce_arg(abi_type: str, value: Any, node: Node) -> Any:
    """A YAML/JSON value -> what eth_abi encodes for ``abi_type`` (YAML reads unquoted 0x.. as int)."""
    if abi_type.endswith("]"):
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list):
            raise WalletError(f"{value!r} is not a list for {abi_type}")
        return [coerce_arg(abi_type[:abi_type.rindex("[")], item, node) for item in items]
    if abi_type == "address":
        return resolve_target(value, node)
    if abi_type.startswith(("uint", "int")):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise WalletError(f"{value!r} is not a number for {abi_type}")
        try:
            return value if isinstance(value, int) else int(value.strip(), 0)
        except ValueError:
            raise WalletError(f"{value!r} is not a whole number for {abi_type}") from None
    if abi_type == "bool":
        if isinstance(value, bool):
            return value
        raise WalletError(f"{value!r} is not true or false")
    if abi_type.startswith("bytes"):
        if isinstance(value, bytes):
            return value
        if isinstance(value, int):
            return value.to_bytes(int(abi_type[5:] or 32), "big")
        text = str(value)
        if not text.startswith("0x"):
            raise WalletError(f"{value!r} is not 0x hex for {abi_type}")
        return bytes.fromhex(text[2:])
    if abi_type == "string":
        return str(value)
    raise WalletError(f"argument type {abi_type} is not supported")


def encode_calldata(signature: str, args: tuple[Any, ...] | list[Any], node: Node) -> bytes:
    if not signature:
        if args:
            raise WalletError("a plain transfer (no function) takes no arguments")
        return b""
    name, types = split_signature(signature)
    if len(args) != len(types):
        raise WalletError(f"{signature} takes {len(types)} arguments, {len(args)} given")
    values = [coerce_arg(t, a, node) for t, a in zip(types, args)]
    try:
        return function_signature_to_4byte_selector(f"{name}({','.join(types)})") + abi_encode(types, values)
    except (EncodingError, OverflowError, TypeError, ValueError) as exc:
        raise WalletError(f"{signature}: cannot encode {list(args)!r} ({exc.__class__.__name__}: {exc})") from None


def resolve_target(target: Any, node: Node) -> str:
    """A 0x address or a system contract's name as ``azora_nodeInfo`` lists it."""
    if isinstance(target, int) and not isinstance(target, bool):
        # YAML reads an unquoted 0x address as a number: its checksum is lost, so none is checked
        return to_checksum_address(target.to_bytes(20, "big"))
    text = str(target).strip()
    return parse_address(text) if text.startswith(("0x", "0X")) else node.contract_address(text)


def encode_proposal(description: str, actions: list[Action], node: Node) -> EncodedProposal:
    """The arrays ``propose`` takes, checked against the Governor's bounds first."""
    if not description.strip():
        raise WalletError("a proposal needs a description")
    if len(description.encode()) > MAX_DESCRIPTION:
        raise WalletError(f"the description has {len(description.encode())} bytes; the Governor takes {MAX_DESCRIPTION}")
    if not 0 < len(actions) <= MAX_ACTIONS:
        raise WalletError(f"a proposal has 1 to {MAX_ACTIONS} actions, not {len(actions)}")
    calldatas = [encode_calldata(a.signature, a.args, node) for a in actions]
    for index, data in enumerate(calldatas, 1):
        if len(data) > MAX_CALLDATA:
            raise WalletError(f"action {index}: calldata of {len(data)} bytes exceeds the Governor's {MAX_CALLDATA}")
    return EncodedProposal([resolve_target(a.target, node) for a in actions], [a.value for a in actions],
                           calldatas, description)


# -- proposal files --------------------------------------------------------------------------------

def read_document(path: Path) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise WalletError(f"proposal file {path} not found") from None
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise WalletError(f"proposal file {path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: "
                          f"{str(exc).splitlines()[0]}") from None


def parse_action(index: int, entry: Any) -> Action:
    if not isinstance(entry, dict) or "target" not in entry or "function" not in entry:
        raise WalletError(f"action {index}: needs target and function (and args, value)")
    args = entry.get("args") or []
    if not isinstance(args, list):
        raise WalletError(f"action {index}: args must be a list")
    function = entry["function"] or ""
    try:
        value = parse_amount(str(entry.get("value", "0")))
    except WalletError as exc:
        raise WalletError(f"action {index}: value: {exc}") from None
    return Action(entry["target"], canonical_signature(function) if function else "", tuple(args), value)


def load_proposal_file(path: Path) -> tuple[str, list[Action]]:
    """``{description, actions: [{target, function, args, value}]}`` from YAML or JSON."""
    document = read_document(path)
    if not isinstance(document, dict) or not isinstance(document.get("actions"), list):
        raise WalletError(f"proposal file {path} needs a description and a list of actions")
    description = document.get("description")
    if not isinstance(description, str):
        raise WalletError(f"proposal file {path} needs a description (text)")
    return description, [parse_action(i, e) for i, e in enumerate(document["actions"], 1)]


# -- the Governor's log ----------------------------------------------------------------------------

def get_governor(node: Node) -> Contract:
    # the ABI is the committed artifact, so a rebuilt Governor.json flows in
    return node.system_contract("Governor")


def get_created_proposals(node: Node, governor: Contract) -> list[CreatedProposal]:
    """Every proposal the Governor has seen, oldest first, from its ProposalCreated events."""
    event = governor.events.ProposalCreated()
    logs = node.w3.eth.get_logs({"address": governor.address, "topics": [event.topic],
                                 "fromBlock": 0, "toBlock": "latest"})
    return [to_created(event.process_log(log)) for log in logs]


def to_created(entry: Any) -> CreatedProposal:
    a = entry.args
    return CreatedProposal([to_checksum_address(t) for t in a.targets], list(a["values"]),
                           [bytes(c) for c in a.calldatas], a.description, proposal_id=a.proposalId,
                           proposer=to_checksum_address(a.proposer), vote_start=a.voteStart,
                           vote_end=a.voteEnd, block_number=entry.blockNumber)


def find_proposal(node: Node, governor: Contract, proposal_id: int) -> CreatedProposal:
    for proposal in get_created_proposals(node, governor):
        if proposal.proposal_id == proposal_id:
            return proposal
    raise WalletError(f"no proposal {proposal_id} on the Governor at {governor.address}")


# -- decoding actions back -------------------------------------------------------------------------

@dataclass(frozen=True)
class KnownFunction:
    contract: str
    name: str
    types: list[str]
    arg_names: list[str]

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(self.types)})"


class ActionDecoder:
    """Decodes calldata with the ABI of the system contract at the target, and the template
    signatures (which may be newer than a deployed artifact)."""

    def __init__(self, node: Node) -> None:
        self.node = node

    @cached_property
    def names(self) -> dict[str, str]:
        return {Web3.to_checksum_address(a): n for n, a in (self.node.info.get("contracts") or {}).items()}

    @staticmethod
    def artifact_of(name: str) -> str:
        # a-tokens appear under their symbols; every other system contract under its artifact's name
        return name if (BUILD_DIR / f"{name}.json").exists() else "AToken"

    def functions_of(self, name: str | None) -> dict[bytes, KnownFunction]:
        known: dict[bytes, KnownFunction] = {}
        if name is not None:
            for item in load_artifact(self.artifact_of(name))["abi"]:
                if item.get("type") == "function" and item.get("inputs") is not None:
                    types = [i["type"] for i in item["inputs"]]
                    if "tuple" not in "".join(types):
                        fn = KnownFunction(name, item["name"], types, [i["name"] for i in item["inputs"]])
                        known[function_signature_to_4byte_selector(fn.signature)] = fn
        for signature, arg_names in NEWER_FUNCTIONS.items():
            fname, types = split_signature(signature)
            known.setdefault(function_signature_to_4byte_selector(signature),
                             KnownFunction(name or "?", fname, types, list(arg_names)))
        return known

    def decode(self, target: str, value: int, calldata: bytes) -> dict[str, Any]:
        name = self.names.get(to_checksum_address(target))
        action: dict[str, Any] = {"target": to_checksum_address(target), "contract": name,
                                  "value": value, "calldata": "0x" + calldata.hex()}
        if not calldata:
            return {**action, "function": None, "args": {}}
        fn = self.functions_of(name).get(calldata[:4])
        if fn is None:
            return {**action, "function": None, "args": {}}
        try:
            decoded = abi_decode(fn.types, calldata[4:])
        except Exception:    # eth_abi raises many kinds for malformed data; show the raw calldata then
            return {**action, "function": fn.signature + " (undecodable arguments)", "args": {}}
        return {**action, "function": fn.signature,
                "args": {n: to_json_value(v) for n, v in zip(fn.arg_names, decoded)}}


def to_json_value(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if isinstance(value, str) and Web3.is_address(value) and value.startswith("0x"):
        return to_checksum_address(value)
    return value
