"""Fork schedules as data: a genesis ``config`` mapped onto py-evm's VM classes.

geth activates the pre-merge forks by block number and Shanghai onwards by timestamp; py-evm
selects a VM by block number only, so :class:`ForkSchedule` answers for (number, timestamp).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from eth.abc import VirtualMachineAPI
from eth.consensus.noproof import NoProofConsensus
from eth.vm.forks import (
    ArrowGlacierVM, BerlinVM, ByzantiumVM, CancunVM, ConstantinopleVM, FrontierVM,
    GrayGlacierVM, HomesteadVM, IstanbulVM, LondonVM, MuirGlacierVM, ParisVM, PetersburgVM,
    ShanghaiVM, SpuriousDragonVM, TangerineWhistleVM,
)

from kernel.vm import AzoraPragueVM

# (geth config key, VM class), oldest first. Keys ending in "Block" activate by number.
BLOCK_FORKS: tuple[tuple[str, type[VirtualMachineAPI]], ...] = (
    ("homesteadBlock", HomesteadVM),
    ("eip150Block", TangerineWhistleVM),
    ("eip158Block", SpuriousDragonVM),
    ("byzantiumBlock", ByzantiumVM),
    ("constantinopleBlock", ConstantinopleVM),
    ("petersburgBlock", PetersburgVM),
    ("istanbulBlock", IstanbulVM),
    ("muirGlacierBlock", MuirGlacierVM),
    ("berlinBlock", BerlinVM),
    ("londonBlock", LondonVM),
    ("arrowGlacierBlock", ArrowGlacierVM),
    ("grayGlacierBlock", GrayGlacierVM),
    ("mergeNetsplitBlock", ParisVM),
)
TIME_FORKS: tuple[tuple[str, type[VirtualMachineAPI]], ...] = (
    ("shanghaiTime", ShanghaiVM),
    ("cancunTime", CancunVM),
    ("pragueTime", AzoraPragueVM),
)
FORK_KEYS = {key for key, _ in BLOCK_FORKS + TIME_FORKS} | {"terminalTotalDifficulty"}


GAS_PER_BLOB = 2**17
MIN_BASE_FEE_PER_BLOB_GAS = 1


@dataclass(frozen=True)
class BlobSchedule:
    """A fork's blob parameters (EIP-4844, raised by EIP-7691), as geth's ``blobSchedule``."""

    target: int
    max: int
    base_fee_update_fraction: int

    @property
    def max_blob_gas_per_block(self) -> int:
        return self.max * GAS_PER_BLOB


BLOB_SCHEDULES: dict[str, BlobSchedule] = {
    "cancun": BlobSchedule(target=3, max=6, base_fee_update_fraction=3_338_477),
    "prague": BlobSchedule(target=6, max=9, base_fee_update_fraction=5_007_716),
}


def fork_name(vm_class: type[VirtualMachineAPI]) -> str:
    """py-evm's fork of a VM class (Azora's VM subclasses Prague)."""
    for klass in vm_class.__mro__:
        fork = getattr(klass, "fork", None)
        if isinstance(fork, str) and fork in BLOB_SCHEDULES:
            return fork
    return str(getattr(vm_class, "fork", ""))


def blob_schedule_of(vm_class: type[VirtualMachineAPI]) -> BlobSchedule | None:
    """The blob parameters of ``vm_class``'s fork; None before Cancun (no blobs)."""
    return BLOB_SCHEDULES.get(fork_name(vm_class))


def fake_exponential(factor: int, numerator: int, denominator: int) -> int:
    """EIP-4844's integer approximation of ``factor * e ** (numerator / denominator)``."""
    i, output, accumulator = 1, 0, factor * denominator
    while accumulator > 0:
        output += accumulator
        accumulator = (accumulator * numerator) // (denominator * i)
        i += 1
    return output // denominator


def compute_base_fee_per_blob_gas(excess_blob_gas: int, schedule: BlobSchedule) -> int:
    """The blob base fee of a block with ``excess_blob_gas`` under ``schedule``'s fork."""
    return fake_exponential(MIN_BASE_FEE_PER_BLOB_GAS, excess_blob_gas, schedule.base_fee_update_fraction)


@dataclass(frozen=True)
class ForkSchedule:
    """Ordered activations: ``by_number`` [(block, VM)], ``by_time`` [(timestamp, VM)]."""

    by_number: tuple[tuple[int, type[VirtualMachineAPI]], ...]
    by_time: tuple[tuple[int, type[VirtualMachineAPI]], ...]

    def vm_class_at(self, number: int, timestamp: int) -> type[VirtualMachineAPI]:
        chosen: type[VirtualMachineAPI] = self.by_number[0][1]
        for activation, vm_class in self.by_number:
            if number >= activation:
                chosen = vm_class
        for activation, vm_class in self.by_time:
            if timestamp >= activation:
                chosen = vm_class
        return chosen

    def without_seal_check(self) -> "ForkSchedule":
        """The same schedule with every VM accepting any seal (for foreign test chains)."""
        def strip(pairs: tuple[tuple[int, type[VirtualMachineAPI]], ...]) -> tuple:
            return tuple((a, vm.configure(consensus_class=NoProofConsensus)) for a, vm in pairs)
        return ForkSchedule(strip(self.by_number), strip(self.by_time))


def compute_fork_schedule(config: Mapping[str, Any]) -> ForkSchedule:
    """Map a geth ``config`` section onto py-evm VMs.

    A config naming no fork at all is an Azora-native chain: Azora's Prague VM from genesis.
    """
    if not FORK_KEYS & set(config):
        return ForkSchedule(((0, AzoraPragueVM),), ())
    by_number: list[tuple[int, type[VirtualMachineAPI]]] = [(0, FrontierVM)]
    for key, vm_class in BLOCK_FORKS:
        if config.get(key) is not None:
            by_number.append((int(config[key]), vm_class))
    # A merged chain with terminalTotalDifficulty 0 is post-merge from genesis (as in
    # Ethereum's test chains) even without mergeNetsplitBlock.
    if config.get("terminalTotalDifficulty") == 0 and config.get("mergeNetsplitBlock") is None:
        london = [a for a, vm in by_number if vm is LondonVM or vm is GrayGlacierVM]
        by_number.append((max(london) if london else 0, ParisVM))
    by_number.sort(key=lambda pair: pair[0])
    by_time = tuple((int(config[key]), vm_class) for key, vm_class in TIME_FORKS
                    if config.get(key) is not None)
    return ForkSchedule(tuple(by_number), by_time)
