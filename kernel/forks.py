"""Fork schedules as data: a genesis ``config`` mapped onto py-evm's VM classes.

geth activates the pre-merge forks by block number and Shanghai onwards by timestamp; py-evm
selects a VM by block number only, so :class:`ForkSchedule` answers for (number, timestamp).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from eth.abc import BlockAPI, VirtualMachineAPI
from eth.chains.mainnet import MainnetDAOValidatorVM
from eth.consensus.noproof import NoProofConsensus
from eth.vm.forks.homestead.headers import dao_drain_list, dao_refund_contract
from eth_typing import Address
from eth.vm.forks import (
    ArrowGlacierVM, BerlinVM, ByzantiumVM, CancunVM, ConstantinopleVM, FrontierVM,
    GrayGlacierVM, HomesteadVM, IstanbulVM, LondonVM, MuirGlacierVM, ParisVM, PetersburgVM,
    ShanghaiVM, SpuriousDragonVM, TangerineWhistleVM,
)

from kernel.blobs import (  # noqa: F401  (GAS_PER_BLOB and the fee function are read from here too)
    GAS_PER_BLOB, BlobSchedule, compute_base_fee_per_blob_gas, fake_exponential,
)
from kernel.quantities import parse_quantity
from kernel.vm import AzoraPragueVM, with_blob_schedule

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
FORK_KEYS = {key for key, _ in BLOCK_FORKS + TIME_FORKS} | {"terminalTotalDifficulty", "daoForkBlock"}
# geth config keys for forks py-evm 0.12 does not implement: a chain naming one cannot be run.
UNSUPPORTED_FORK_KEYS = ("osakaTime", "bpo1Time", "bpo2Time", "bpo3Time", "bpo4Time", "bpo5Time",
                         "amsterdamTime", "verkleTime", "verkleBlock")
# geth config keys that change nothing Azora executes: eip155Block (replay protection) comes
# with eip158Block in every chain geth runs, eip150Hash is informational, and the consensus
# engines' sections (ethash, clique) and terminalTotalDifficultyPassed describe sealing.
INFORMATIONAL_KEYS = frozenset({"chainId", "eip155Block", "eip150Hash", "ethash", "clique",
                                "terminalTotalDifficultyPassed", "depositContractAddress", "blobSchedule",
                                "enableVerkleAtGenesis", "daoForkSupport"})


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
    """The blob parameters ``vm_class`` runs with (its chain's, else its fork's standard
    ones); None before Cancun (no blobs)."""
    return getattr(vm_class, "blob_schedule", None) or BLOB_SCHEDULES.get(fork_name(vm_class))


def max_blobs_per_block(vm_class: type[VirtualMachineAPI]) -> int | None:
    """The blobs a block of ``vm_class`` may carry; None before Cancun."""
    schedule = blob_schedule_of(vm_class)
    return None if schedule is None else schedule.max


def parse_blob_schedules(config: Mapping[str, Any]) -> dict[str, BlobSchedule]:
    """The ``blobSchedule`` entries of the forks this node runs (Cancun, Prague), checked as geth
    checks them; entries for later forks are left to the activation check."""
    section = config.get("blobSchedule") or {}
    return {fork: parse_blob_schedule(fork, section[fork]) for fork in BLOB_SCHEDULES if fork in section}


def parse_blob_schedule(fork: str, entry: Mapping[str, Any]) -> BlobSchedule:
    schedule = BlobSchedule(target=parse_quantity(entry.get("target")), max=parse_quantity(entry.get("max")),
                            base_fee_update_fraction=parse_quantity(entry.get("baseFeeUpdateFraction")))
    # geth's BlobConfig.validate, in its order and words.
    problem = ("max < 0" if schedule.max < 0 else "target < 0" if schedule.target < 0
               else "update fraction must be defined and non-zero" if schedule.base_fee_update_fraction <= 0
               else None)
    if problem is not None:
        raise ValueError(f'genesis: invalid chain configuration in blobSchedule for fork "{fork}": {problem}')
    return schedule


def with_chain_blob_schedule(vm_class: type[VirtualMachineAPI],
                             schedules: Mapping[str, BlobSchedule]) -> type[VirtualMachineAPI]:
    """``vm_class`` with the genesis' blob parameters for its fork, if the genesis names them."""
    schedule = schedules.get(fork_name(vm_class))
    return vm_class if schedule is None else with_blob_schedule(vm_class, schedule)


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


def homestead_vm_class(config: Mapping[str, Any]) -> type[VirtualMachineAPI]:
    """Homestead with geth's DAO fork settings: ``daoForkBlock`` and ``daoForkSupport``.

    Without ``daoForkBlock`` there is no DAO fork (as in geth). With it, the block drains the
    DAO accounts into the refund contract if ``daoForkSupport``, and the ten blocks from it
    must (or, declining, must not) carry the fork's extra data, as geth checks.
    """
    dao_block = config.get("daoForkBlock")
    if dao_block is None:
        return HomesteadVM.configure(__name__="HomesteadVM", support_dao_fork=False)
    return DAOHomesteadVM.configure(__name__="HomesteadVM", support_dao_fork=bool(config.get("daoForkSupport")),
                                   _dao_fork_block_number=int(dao_block))


class DAOHomesteadVM(MainnetDAOValidatorVM):
    """Homestead that drains the DAO when it builds the fork block, not only when it imports it.

    py-evm moves the DAO's balances while it configures an imported block's header; a block
    this node builds never passes there, so the same move runs before its transactions (on
    import it finds the balances already moved and changes nothing).
    """

    def block_preprocessing(self, block: BlockAPI) -> None:
        super().block_preprocessing(block)
        if self.support_dao_fork and block.number == self.get_dao_fork_block_number():
            for account in dao_drain_list:
                address = Address(bytes.fromhex(account[2:]))
                self.state.delta_balance(dao_refund_contract, self.state.get_balance(address))
                self.state.set_balance(address, 0)


def compute_fork_schedule(config: Mapping[str, Any]) -> ForkSchedule:
    """Map a geth ``config`` section onto py-evm VMs.

    A config naming no fork at all is an Azora-native chain: Azora's Prague VM from genesis.
    Cancun and Prague run with the config's ``blobSchedule`` entries where it has them.
    """
    blob_schedules = parse_blob_schedules(config)
    if not FORK_KEYS & set(config):
        return ForkSchedule(((0, with_chain_blob_schedule(AzoraPragueVM, blob_schedules)),), ())
    unsupported = [key for key in UNSUPPORTED_FORK_KEYS if config.get(key) is not None]
    if unsupported:
        raise ValueError(f"genesis: config.{unsupported[0]} names a fork this node cannot execute")
    by_number: list[tuple[int, type[VirtualMachineAPI]]] = [(0, FrontierVM)]
    for key, vm_class in BLOCK_FORKS:
        if config.get(key) is not None:
            if vm_class is HomesteadVM:
                vm_class = homestead_vm_class(config)
            by_number.append((int(config[key]), vm_class))
    # A merged chain with terminalTotalDifficulty 0 is post-merge from genesis (as in
    # Ethereum's test chains) even without mergeNetsplitBlock.
    if config.get("terminalTotalDifficulty") == 0 and config.get("mergeNetsplitBlock") is None:
        london = [a for a, vm in by_number if vm is LondonVM or vm is GrayGlacierVM]
        by_number.append((max(london) if london else 0, ParisVM))
    by_number.sort(key=lambda pair: pair[0])
    by_time = tuple((int(config[key]), with_chain_blob_schedule(vm_class, blob_schedules))
                    for key, vm_class in TIME_FORKS if config.get(key) is not None)
    return ForkSchedule(tuple(by_number), by_time)
