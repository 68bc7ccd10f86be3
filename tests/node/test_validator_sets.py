"""Validator sets follow ValidatorRegistry at epoch boundaries only: a change made in epoch e
(here a validator jailed for equivocating) takes effect at the first block of epoch e+1."""
from __future__ import annotations

import time

from eth_utils import to_canonical_address

from consensus.signing import LocalSigner, SigningDomain
from consensus.types import Vote, VoteType, make_duplicate_vote_evidence
from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from node.backend import Backend
from node.evidence import EvidenceReporter
from node.validators import ValidatorSetStore, decode_validator_set, encode_validator_set

EPOCH = 3


def test_registry_changes_apply_from_the_next_epoch(tmp_path, dev_accounts):
    genesis = Genesis.from_json({
        "config": {"chainId": 1337}, "timestamp": hex(int(time.time()) - 100),
        "alloc": {a.address: {"balance": hex(10**24)} for a in dev_accounts},
        "azora": {"validators": [{"address": a.address, "stake": hex((20_000 + i) * 10**18)}
                                 for i, a in enumerate(dev_accounts[:4])],
                  "oracles": {"members": [dev_accounts[9].address], "quorum": 1}, "epochLength": EPOCH}})
    chain = Chain(LevelDB(tmp_path / "db"), genesis)
    backend = Backend(chain)
    sets = ValidatorSetStore(chain)
    first = sets.for_height(1)
    assert [v.power for v in first.validators] == [20_003, 20_002, 20_001, 20_000]   # whole AZR

    domain = SigningDomain(1337, to_canonical_address(chain.system_contracts["ValidatorRegistry"]))
    cheat = LocalSigner(bytes(dev_accounts[1].key), domain)
    EvidenceReporter(backend, dev_accounts[0]).report(make_duplicate_vote_evidence(
        cheat.sign_vote(Vote(VoteType.PREVOTE, 1, 0, b"\x01" * 32)),
        cheat.sign_vote(Vote(VoteType.PREVOTE, 1, 0, b"\x02" * 32))))
    for _ in range(EPOCH + 1):   # the report lands in block 1, inside epoch 0
        chain.build_block(backend.pool.select(backend.next_base_fee()), timestamp=chain.head.timestamp + 1)
        backend.pool.reset()
    jailed = to_canonical_address(dev_accounts[1].address)
    for height in range(1, EPOCH + 1):
        assert sets.for_height(height).contains(jailed), height
    assert not sets.for_height(EPOCH + 1).contains(jailed)
    assert sets.for_height(EPOCH + 1).total_power == first.total_power - 20_001


def test_validator_set_encoding_round_trips_negative_priorities(tmp_path, dev_accounts):
    from consensus.validator_set import advance_validator_set, new_validator_set
    validator_set = advance_validator_set(new_validator_set(
        [(bytes([i]) * 20, power) for i, power in enumerate((5, 3, 1), start=1)]))
    assert any(v.priority < 0 for v in validator_set.validators)
    assert decode_validator_set(encode_validator_set(validator_set)) == validator_set


def test_reading_a_set_writes_nothing_and_agrees_with_the_recorded_one(tmp_path, dev_accounts):
    from kernel.schema import make_validator_set_key
    genesis = Genesis.from_json({
        "config": {"chainId": 1337}, "timestamp": hex(int(time.time()) - 100),
        "alloc": {a.address: {"balance": hex(10**24)} for a in dev_accounts},
        "azora": {"validators": [{"address": a.address, "stake": hex(20_000 * 10**18)} for a in dev_accounts[:3]],
                  "oracles": {"members": [dev_accounts[9].address], "quorum": 1}, "epochLength": EPOCH}})
    chain = Chain(LevelDB(tmp_path / "db"), genesis)
    for _ in range(EPOCH + 2):
        chain.build_block([], timestamp=chain.head.timestamp + 1)
    store = ValidatorSetStore(chain)
    assert store.epoch_length == EPOCH                     # the chain's, from its genesis
    read = [store.read(h) for h in range(1, EPOCH + 3)]
    assert all(chain.get_aux(make_validator_set_key(h)) is None for h in range(1, EPOCH + 3))
    assert [store.for_height(h) for h in range(1, EPOCH + 3)] == read
    assert chain.get_aux(make_validator_set_key(EPOCH + 2)) == encode_validator_set(read[-1])
    # azora_validators answers from the shared store and writes nothing either.
    from node.context import NodeContext
    from node.rpc.azora import AzoraAPI
    fresh = Chain(LevelDB(tmp_path / "db2"), genesis)
    for _ in range(EPOCH + 2):
        fresh.build_block([], timestamp=fresh.head.timestamp + 1)
    answer = AzoraAPI(Backend(fresh), NodeContext(validator_sets=ValidatorSetStore(fresh))).validators(hex(EPOCH + 2))
    assert answer == [{"address": "0x" + v.address.hex(), "power": hex(v.power)} for v in read[-1].validators]
    assert all(fresh.get_aux(make_validator_set_key(h)) is None for h in range(1, EPOCH + 3))
    # The key is the one it always was: datadirs written before keep their sets.
    assert make_validator_set_key(7) == b"azora:meta:validators:7"


def test_sets_recorded_past_a_rewind_are_derived_again(tmp_path, dev_accounts):
    """evm_revert rewinds a dev chain; the sets recorded on the abandoned branch (here one that
    jailed an equivocator at the epoch boundary) must not outlive it."""
    genesis = Genesis.from_json({
        "config": {"chainId": 1337}, "timestamp": hex(int(time.time()) - 100),
        "alloc": {a.address: {"balance": hex(10**24)} for a in dev_accounts},
        "azora": {"validators": [{"address": a.address, "stake": hex(20_000 * 10**18)} for a in dev_accounts[:4]],
                  "oracles": {"members": [dev_accounts[9].address], "quorum": 1}, "epochLength": EPOCH}})
    chain = Chain(LevelDB(tmp_path / "db"), genesis)
    backend = Backend(chain)
    sets = ValidatorSetStore(chain)
    domain = SigningDomain(1337, to_canonical_address(chain.system_contracts["ValidatorRegistry"]))
    cheat = LocalSigner(bytes(dev_accounts[1].key), domain)
    EvidenceReporter(backend, dev_accounts[0]).report(make_duplicate_vote_evidence(
        cheat.sign_vote(Vote(VoteType.PREVOTE, 1, 0, b"\x01" * 32)),
        cheat.sign_vote(Vote(VoteType.PREVOTE, 1, 0, b"\x02" * 32))))
    for _ in range(EPOCH + 1):
        chain.build_block(backend.pool.select(backend.next_base_fee()), timestamp=chain.head.timestamp + 1)
        backend.pool.reset()
        sets.for_height(chain.head.block_number + 1)
    jailed = to_canonical_address(dev_accounts[1].address)
    assert not sets.for_height(EPOCH + 1).contains(jailed)

    chain.rewind_to(0)                       # the branch without the report
    sets.forget_above(0)
    for _ in range(EPOCH + 1):
        chain.build_block([], timestamp=chain.head.timestamp + 1)
    assert sets.for_height(EPOCH + 1).contains(jailed)
