"""Evidence to slashing: a conflicting pair of signed votes, reported as a transaction, slashes
and jails the equivocator on chain and pays the reporter."""
from __future__ import annotations

import time

import pytest
from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector, to_canonical_address

from consensus.signing import LocalSigner, SigningDomain
from consensus.types import Vote, VoteType, make_duplicate_vote_evidence
from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from node.backend import Backend
from node.evidence import EvidenceReporter
from node.execution import CallArgs

STAKE = 20_000 * 10**18


@pytest.fixture
def backend(tmp_path, dev_accounts):
    genesis = Genesis.from_json({
        "config": {"chainId": 1337}, "timestamp": hex(int(time.time()) - 100),
        "alloc": {a.address: {"balance": hex(10**24)} for a in dev_accounts},
        "azora": {"validators": [{"address": a.address, "stake": hex(STAKE)} for a in dev_accounts[:4]],
                  "oracles": {"members": [dev_accounts[9].address], "quorum": 1}}})
    return Backend(Chain(LevelDB(tmp_path / "db"), genesis))


def _view(backend, signature, out_types, *args_hex):
    data = "0x" + function_signature_to_4byte_selector(signature).hex() + "".join(args_hex)
    registry = backend.chain.system_contracts["ValidatorRegistry"]
    output = backend.executor.call(backend.chain.head, CallArgs.parse({"to": registry, "data": data}))
    return decode(out_types, output)


def _mine(backend):
    chain = backend.chain
    txs = backend.pool.select(backend.next_base_fee())
    result = chain.build_block(txs, timestamp=chain.head.timestamp + 1)
    backend.pool.on_new_head({tx.sender for tx in txs}, backend.head_accounts())
    return result


def test_equivocator_is_slashed_jailed_and_reporter_paid(backend, dev_accounts):
    registry = backend.chain.system_contracts["ValidatorRegistry"]
    domain = SigningDomain(1337, to_canonical_address(registry))
    equivocator = LocalSigner(bytes(dev_accounts[1].key), domain)
    a = equivocator.sign_vote(Vote(VoteType.PRECOMMIT, 5, 0, b"\x01" * 32))
    b = equivocator.sign_vote(Vote(VoteType.PRECOMMIT, 5, 0, b"\x02" * 32))
    evidence = make_duplicate_vote_evidence(a, b)
    reporter = EvidenceReporter(backend, dev_accounts[0])
    active_before, _ = _view(backend, "activeValidators()", ["address[]", "uint256[]"])
    assert dev_accounts[1].address.lower() in active_before

    tx_hash = reporter.report(evidence)
    assert tx_hash is not None
    assert reporter.report(evidence) is None          # once per offence
    result = _mine(backend)
    assert len(result.block.transactions) == 1
    assert result.receipts[0].state_root == b"\x01"   # status success

    active_after, _ = _view(backend, "activeValidators()", ["address[]", "uint256[]"])
    assert dev_accounts[1].address.lower() not in active_after   # jailed
    azr = backend.chain.system_contracts["AZR"]
    balance = decode(["uint256"], backend.executor.call(backend.chain.head, CallArgs.parse({
        "to": azr, "data": "0x70a08231" + "00" * 12 + dev_accounts[0].address[2:].lower()})))[0]
    assert balance == STAKE * 500 // 10_000 * 1_000 // 10_000   # 5% slash, 10% of it to the reporter


def test_invalid_second_report_is_not_submitted(backend, dev_accounts):
    registry = backend.chain.system_contracts["ValidatorRegistry"]
    domain = SigningDomain(1337, to_canonical_address(registry))
    equivocator = LocalSigner(bytes(dev_accounts[2].key), domain)
    evidence = make_duplicate_vote_evidence(
        equivocator.sign_vote(Vote(VoteType.PREVOTE, 9, 1, b"\x03" * 32)),
        equivocator.sign_vote(Vote(VoteType.PREVOTE, 9, 1, None)))
    assert EvidenceReporter(backend, dev_accounts[0]).report(evidence) is not None
    _mine(backend)
    # Another node reporting the same offence: the registry refuses, so nothing is sent.
    assert EvidenceReporter(backend, dev_accounts[3]).report(evidence) is None


def test_reported_offences_are_remembered_in_bounded_memory(backend, dev_accounts, monkeypatch):
    import node.evidence as evidence_module
    monkeypatch.setattr(evidence_module, "MAX_REMEMBERED_REPORTS", 3)
    registry = backend.chain.system_contracts["ValidatorRegistry"]
    equivocator = LocalSigner(bytes(dev_accounts[2].key), SigningDomain(1337, to_canonical_address(registry)))
    reporter = EvidenceReporter(backend, None)        # no key: remembers nothing, sends nothing
    offences = [make_duplicate_vote_evidence(equivocator.sign_vote(Vote(VoteType.PREVOTE, h, 0, b"\x03" * 32)),
                                             equivocator.sign_vote(Vote(VoteType.PREVOTE, h, 0, None)))
                for h in range(1, 6)]
    assert [reporter.report(e) for e in offences] == [None] * 5 and len(reporter._reported) == 0
    reporter = EvidenceReporter(backend, dev_accounts[0])
    for e in offences:
        reporter.report(e)
    assert len(reporter._reported) == 3
    assert [key[2] for key in reporter._reported] == [3, 4, 5]      # the newest offences
