"""Genesis files: fork schedules, determinism, and the system contracts deployed in genesis."""
from __future__ import annotations

import pytest
from eth.db.atomic import AtomicDB
from eth.vm.forks import (
    BerlinVM, CancunVM, FrontierVM, HomesteadVM, LondonVM, ParisVM, ShanghaiVM,
)
from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector, to_canonical_address

from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.forks import compute_fork_schedule
from kernel.genesis import Genesis
from kernel.system_contracts import GENESIS_DEPLOYER
from kernel.vm import AzoraPragueVM
from node.execution import CallArgs, Executor

VALIDATOR = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ORACLE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
STAKE = 10_000 * 10**18


def azora_genesis(**azora) -> Genesis:
    section = {"validators": [{"address": VALIDATOR, "stake": hex(STAKE)}],
               "oracles": {"members": [ORACLE], "quorum": 1}, **azora}
    return Genesis.from_json({"config": {"chainId": 1337}, "timestamp": "0x10",
                              "alloc": {VALIDATOR: {"balance": hex(10**22)}}, "azora": section})


def test_geth_fork_schedule_maps_blocks_and_times():
    schedule = compute_fork_schedule({
        "chainId": 1, "homesteadBlock": 0, "berlinBlock": 10, "londonBlock": 20,
        "mergeNetsplitBlock": 30, "shanghaiTime": 1000, "cancunTime": 2000, "pragueTime": 3000})
    # Homestead configured with geth's DAO settings: no daoForkBlock, no DAO fork.
    homestead = schedule.vm_class_at(5, 0)
    assert issubclass(homestead, HomesteadVM) and homestead.support_dao_fork is False
    assert schedule.vm_class_at(10, 0) is BerlinVM
    assert schedule.vm_class_at(25, 0) is LondonVM
    assert schedule.vm_class_at(30, 999) is ParisVM
    assert schedule.vm_class_at(31, 1000) is ShanghaiVM
    assert schedule.vm_class_at(32, 2500) is CancunVM
    assert schedule.vm_class_at(33, 3000) is AzoraPragueVM
    assert compute_fork_schedule({"chainId": 1, "homesteadBlock": 5}).vm_class_at(0, 0) is FrontierVM


def test_azora_chain_without_forks_runs_prague_from_genesis():
    assert compute_fork_schedule({"chainId": 7}).vm_class_at(0, 0) is AzoraPragueVM


def test_genesis_hash_is_a_pure_function_of_the_file():
    assert azora_genesis().build(AtomicDB()).header.hash == azora_genesis().build(AtomicDB()).header.hash
    assert azora_genesis().build(AtomicDB()).header.hash != \
        azora_genesis(epochLength=7, systemContracts={"max_validators": 50}).build(AtomicDB()).header.hash


def _call(chain: Chain, address: str, signature: str, out_types: list[str]):
    data = "0x" + function_signature_to_4byte_selector(signature).hex()
    return decode(out_types, Executor(chain).call(chain.head, CallArgs.parse({"to": address, "data": data})))


def test_system_contracts_are_deployed_and_the_validator_is_active(tmp_path):
    chain = Chain(LevelDB(tmp_path / "db"), azora_genesis())
    table = chain.system_contracts
    for name in ("AZR", "ATokenFactory", "Credentials", "ProofOfKnowledge", "Escrow", "Governor",
                 "Timelock", "ValidatorRegistry", "aZAR", "aNGN", "aKES", "aGHS", "aETB"):
        assert chain.state_at(chain.head).get_code(to_canonical_address(table[name])), name
    validators, powers = _call(chain, table["ValidatorRegistry"], "activeValidators()",
                               ["address[]", "uint256[]"])
    assert [v.lower() for v in validators] == [VALIDATOR.lower()] and list(powers) == [STAKE]
    # The deployer keeps nothing: its funds went to reserves, bonds and the treasury.
    assert chain.state_at(chain.head).get_balance(GENESIS_DEPLOYER) == 0


def test_invalid_azora_genesis_without_oracles_is_refused():
    genesis = Genesis.from_json({"config": {"chainId": 1}, "alloc": {}, "azora": {"validators": []}})
    with pytest.raises(ValueError, match="oracles"):
        genesis.build(AtomicDB())


def test_invalid_system_parameter_is_named():
    with pytest.raises(ValueError, match="no_such_knob"):
        azora_genesis(systemContracts={"no_such_knob": 1}).build(AtomicDB())


@pytest.mark.parametrize("fork", ["cancunTime", "pragueTime"])
def test_a_genesis_under_cancun_has_a_zero_parent_beacon_root_as_geths(fork):
    """geth's genesis (core/genesis.go, EIP-4788): the genesis block has no parent, so its
    parentBeaconBlockRoot is the zero hash. py-evm's default (the empty trie root) gives
    another genesis hash, and a geth chain's block 1 would not connect to it."""
    config = {"chainId": 1337, "londonBlock": 0, "mergeNetsplitBlock": 0, "shanghaiTime": 0, "cancunTime": 0}
    if fork == "pragueTime":
        config["pragueTime"] = 0
    header = Genesis.from_json({"config": config, "timestamp": "0x0", "difficulty": "0x0",
                                "alloc": {VALIDATOR: {"balance": "0x1"}}}).build(AtomicDB()).header
    assert header.parent_beacon_block_root == b"\0" * 32
    assert header.excess_blob_gas == 0 and header.blob_gas_used == 0
