"""The registry keeps the validator set of every epoch, recorded by the node's system call at the
first block of the epoch (next to the epoch rewards), so evidence is checked against the set of
the offending height on a real chain."""
from __future__ import annotations

import time

import pytest
from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector, to_canonical_address

from consensus.signing import LocalSigner, SigningDomain
from consensus.types import Vote, VoteType, make_duplicate_vote_evidence
from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from node.backend import Backend
from node.evidence import EvidenceReporter
from node.execution import CallArgs
from node.rewards import block_extra_data, reward_system_calls
from node.validators import ValidatorSetStore

EPOCH = 4
STAKE = 20_000 * 10**18


@pytest.fixture
def backend(tmp_path, dev_accounts):
    genesis = Genesis.from_json({
        "config": {"chainId": 1337}, "timestamp": hex(int(time.time()) - 1000),
        "alloc": {a.address: {"balance": hex(10**24)} for a in dev_accounts},
        "azora": {"validators": [{"address": a.address, "stake": hex(STAKE)} for a in dev_accounts[:3]],
                  "oracles": {"members": [dev_accounts[9].address], "quorum": 1}, "epochLength": EPOCH}})
    return Backend(Chain(LevelDB(tmp_path / "db"), genesis))


def _view(backend, signature, out_types, in_types=(), args=()):
    registry = backend.chain.system_contracts["ValidatorRegistry"]
    data = function_signature_to_4byte_selector(signature) + encode(list(in_types), list(args))
    output = backend.executor.call(backend.chain.head, CallArgs.parse({"to": registry, "data": "0x" + data.hex()}))
    return decode(out_types, output)


def _build(backend, sets, transactions=()):
    chain = backend.chain
    height = chain.head.block_number + 1
    extra_data = block_extra_data(sets, height - 1, None)
    chain.build_block(list(transactions), timestamp=chain.head.timestamp + 1, extra_data=extra_data,
                      system_calls=reward_system_calls(chain, sets, height, extra_data))


def test_each_epoch_records_the_set_that_signs_it(backend, dev_accounts):
    sets = ValidatorSetStore(backend.chain, epoch_length=EPOCH)
    for _ in range(2 * EPOCH + 1):
        _build(backend, sets)
    assert _view(backend, "validatorSetCount()", ["uint256"]) == (3,)
    for index, from_height in enumerate((1, EPOCH + 1, 2 * EPOCH + 1)):
        assert _view(backend, "validatorSets(uint256)", ["uint256", "uint256"], ["uint256"], [index])[0] == from_height
        members = sorted(sets.for_height(from_height).addresses)
        assert len(members) == 3
        for account in dev_accounts[:4]:
            (member,) = _view(backend, "inValidatorSet(uint256,address)", ["bool"], ["uint256", "address"],
                              [index, account.address])
            assert member == (to_canonical_address(account.address) in members)


def test_evidence_against_a_member_of_a_recorded_set_slashes_once(backend, dev_accounts):
    sets = ValidatorSetStore(backend.chain, epoch_length=EPOCH)
    for _ in range(EPOCH + 2):
        _build(backend, sets)
    registry = backend.chain.system_contracts["ValidatorRegistry"]
    domain = SigningDomain(1337, to_canonical_address(registry))
    equivocator = LocalSigner(bytes(dev_accounts[1].key), domain)
    height = EPOCH + 1
    evidence = make_duplicate_vote_evidence(
        equivocator.sign_vote(Vote(VoteType.PRECOMMIT, height, 0, b"\x01" * 32)),
        equivocator.sign_vote(Vote(VoteType.PRECOMMIT, height, 0, b"\x02" * 32)))
    assert EvidenceReporter(backend, dev_accounts[0]).report(evidence) is not None
    _build(backend, sets, backend.pool.select(backend.next_base_fee()))
    bond = _view(backend, "candidates(address)", ["bool", "uint256", "uint256"], ["address"],
                 [dev_accounts[1].address])[2]
    assert bond == STAKE - STAKE * 500 // 10_000 * 11 // 10   # 5 % to the treasury, the reporter's 10 % of it on top
    # the same incident (another round, same epoch) is refused, so nothing is sent
    again = make_duplicate_vote_evidence(
        equivocator.sign_vote(Vote(VoteType.PRECOMMIT, height + 1, 1, b"\x01" * 32)),
        equivocator.sign_vote(Vote(VoteType.PRECOMMIT, height + 1, 1, b"\x02" * 32)))
    assert EvidenceReporter(backend, dev_accounts[2]).report(again) is None
    # a key that was never in a set is refused too
    stranger = LocalSigner(bytes(dev_accounts[5].key), domain)
    evidence = make_duplicate_vote_evidence(
        stranger.sign_vote(Vote(VoteType.PREVOTE, height, 0, b"\x01" * 32)),
        stranger.sign_vote(Vote(VoteType.PREVOTE, height, 0, None)))
    assert EvidenceReporter(backend, dev_accounts[2]).report(evidence) is None
