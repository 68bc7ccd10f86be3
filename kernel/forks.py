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
