"""Genesis files: geth's ``genesis.json`` plus an optional ``azora`` section.

The genesis hash is a pure function of the file (and, for an Azora chain, of the compiled
system contracts deployed while the genesis state is built).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from eth.abc import AtomicDatabaseAPI, BlockHeaderAPI
from eth.vm.forks.prague.constants import HISTORY_STORAGE_ADDRESS, HISTORY_STORAGE_CONTRACT_CODE
from eth_typing import Address
from eth_utils import to_canonical_address

from kernel.forks import ForkSchedule, compute_fork_schedule
from kernel.limits import DEFAULT_GAS_LIMIT
from kernel.quantities import parse_bytes, parse_quantity
from kernel.system_contracts import deploy_system_contracts

DEFAULT_BASE_FEE = 1_000_000_000
# Accounts written between two state roots while the alloc is built: the root's trie work is
# most of a large genesis's time, so computing it per chunk is what lets progress be reported.
ALLOC_CHUNK = 1000


@dataclass(frozen=True)
class Account:
    balance: int = 0
    nonce: int = 0
    code: bytes = b""
    storage: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class AzoraParams:
    """The ``azora`` section: the consensus and system-contract parameters of a chain."""

    validators: tuple[Mapping[str, Any], ...] = ()
    oracles: Mapping[str, Any] = field(default_factory=dict)
    epoch_length: int = 100
    timeouts: Mapping[str, Any] = field(default_factory=dict)   # consensus timeouts of `azora node run`
    system_contracts: Mapping[str, Any] = field(default_factory=dict)
    deploy_system_contracts: bool = True
    raw: Mapping[str, Any] = field(default_factory=dict)


# The defaults of an ``azora`` section, in one place (the epoch length among them).
AZORA_DEFAULTS = AzoraParams()


@dataclass(frozen=True)
class Genesis:
    chain_id: int
    schedule: ForkSchedule
    alloc: Mapping[Address, Account]
    header: Mapping[str, Any]
    azora: AzoraParams | None
    raw: Mapping[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Genesis":
        config = data.get("config", {})
        if "chainId" not in config:
            raise ValueError("genesis: config.chainId is required")
        schedule = compute_fork_schedule(config)
        alloc = {to_canonical_address(_hex_address(addr)): _parse_account(acct)
                 for addr, acct in data.get("alloc", {}).items()}
        header: dict[str, Any] = {
            "gas_limit": parse_quantity(data.get("gasLimit"), DEFAULT_GAS_LIMIT),
            "timestamp": parse_quantity(data.get("timestamp")),
            "extra_data": parse_bytes(data.get("extraData")),
            "difficulty": parse_quantity(data.get("difficulty")),
            "nonce": parse_bytes(data.get("nonce")).rjust(8, b"\0") if data.get("nonce") else b"\0" * 8,
            "mix_hash": parse_bytes(data.get("mixHash")).rjust(32, b"\0") if data.get("mixHash") else b"\0" * 32,
            "coinbase": to_canonical_address(_hex_address(data.get("coinbase") or "0x" + "00" * 20)),
        }
        genesis_vm = schedule.vm_class_at(0, header["timestamp"])
        if "base_fee_per_gas" in _header_fields(genesis_vm):
            header["base_fee_per_gas"] = parse_quantity(data.get("baseFeePerGas"), DEFAULT_BASE_FEE)
        if "parent_beacon_block_root" in _header_fields(genesis_vm):
            # EIP-4788 as geth reads it: the genesis block has no parent, its beacon root is zero
            # (py-evm's default is the empty trie root, which gives another genesis hash).
            header["parent_beacon_block_root"] = b"\0" * 32
        if "excess_blob_gas" in _header_fields(genesis_vm):
            # geth's genesis fields (0 when absent): block 1's excess and blob base fee follow from them.
            header["excess_blob_gas"] = parse_quantity(data.get("excessBlobGas"))
            header["blob_gas_used"] = parse_quantity(data.get("blobGasUsed"))
        azora = _parse_azora(data["azora"]) if "azora" in data else None
        return cls(int(config["chainId"]), schedule, alloc, header, azora, data)

    @classmethod
    def from_file(cls, path: Path | str) -> "Genesis":
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"genesis: {path} is not valid JSON: {exc}") from exc
        return cls.from_json(data)

    def to_json(self) -> str:
        return json.dumps(self.raw, indent=2, sort_keys=True)

    def build(self, db: AtomicDatabaseAPI, progress: Callable[[int], None] | None = None) -> "GenesisResult":
        """Write the genesis state into ``db``; returns the header (not persisted) and, for an
        Azora chain, the addresses of the system contracts deployed into that state.
        ``progress(count)`` is told of every ``count`` alloc accounts written."""
        vm_class = self.schedule.vm_class_at(0, self.header["timestamp"])
        from eth.db.chain import ChainDB
        from eth.consensus.context import ConsensusContext
        from eth.vm.chain_context import ChainContext

        # A fork's base block continues the remote's numbering; py-evm makes genesis headers at 0.
        fields = {k: v for k, v in self.header.items() if k != "block_number"}
        # The state is built in the context of block 0 (zero base fee, a roomy gas limit) so
        # the system deployment can execute there.
        context_header = vm_class.create_genesis_header(**{
            **fields, "gas_limit": max(self.header["gas_limit"], 1_000_000_000),
            **({"base_fee_per_gas": 0} if "base_fee_per_gas" in self.header else {})})
        vm = vm_class(header=context_header, chaindb=ChainDB(db),
                      chain_context=ChainContext(self.chain_id), consensus_context=ConsensusContext(db))
        state = vm.state
        write_alloc(state, self.alloc, progress)
        contracts: dict[str, str] = {}
        if self.azora is not None:
            # Azora chains carry the Prague system contracts so their per-block steps run.
            if not state.get_code(HISTORY_STORAGE_ADDRESS):
                state.set_code(HISTORY_STORAGE_ADDRESS, HISTORY_STORAGE_CONTRACT_CODE)
                state.set_nonce(HISTORY_STORAGE_ADDRESS, 1)
            if self.azora.deploy_system_contracts:
                contracts = deploy_system_contracts(vm, self.azora)
        state.persist()
        header = vm_class.create_genesis_header(**dict(fields, state_root=state.state_root))
        if self.header.get("block_number"):
            header = header.copy(block_number=self.header["block_number"])
        return GenesisResult(header, contracts)


def write_alloc(state: Any, alloc: Mapping[Address, Account], progress: Callable[[int], None] | None = None,
                chunk: int = ALLOC_CHUNK) -> None:
    """Write the alloc into ``state``, its trie updated every ``chunk`` accounts. The root is
    the one of a single update; the trie prunes the nodes a later chunk replaces but for about
    one per chunk, left unreferenced in the database."""
    pending = 0
    for address, account in alloc.items():
        state.set_balance(address, account.balance)
        state.set_nonce(address, account.nonce)
        if account.code:
            state.set_code(address, account.code)
        for slot, value in account.storage.items():
            state.set_storage(address, slot, value)
        pending += 1
        if pending == chunk:
            state.make_state_root()
            if progress:
                progress(pending)
            pending = 0
    if pending:
        state.make_state_root()
        if progress:
            progress(pending)


@dataclass(frozen=True)
class GenesisResult:
    header: BlockHeaderAPI
    contracts: Mapping[str, str]


def _header_fields(vm_class: Any) -> tuple[str, ...]:
    header_class = dict(vm_class.get_block_class()._meta.fields)["header"]
    return header_class._meta.field_names


def _hex_address(text: str) -> str:
    return text if text.lower().startswith("0x") else "0x" + text


def _parse_account(data: Mapping[str, Any]) -> Account:
    storage = {parse_quantity(k): parse_quantity(v) for k, v in data.get("storage", {}).items()}
    return Account(balance=parse_quantity(data.get("balance")),
                   nonce=parse_quantity(data.get("nonce")),
                   code=parse_bytes(data.get("code")), storage=storage)


def _parse_azora(data: Mapping[str, Any]) -> AzoraParams:
    return AzoraParams(
        validators=tuple(data.get("validators", ())),
        oracles=data.get("oracles", {}),
        epoch_length=int(data.get("epochLength", AZORA_DEFAULTS.epoch_length)),
        timeouts=data.get("timeouts", {}),
        system_contracts=data.get("systemContracts", {}),
        deploy_system_contracts=bool(data.get("deploySystemContracts", True)),
        raw=data,
    )
