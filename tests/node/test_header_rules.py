"""The consensus rules of a proposed block's header on a real chain: proposer, parent commit,
mixHash, signer bitmap and timestamp (consensus.block_rules, applied by the ChainWriter to the
chain's values). Each rule has a case that breaks it and must be rejected; the sync path
refuses a committed block whose parent commit does not match what it binds."""
from __future__ import annotations

import time

import pytest
from eth_utils import to_canonical_address

import trio

from consensus.block_rules import compute_mix_hash
from consensus.commit import build_commit_certificate
from consensus.signing import LocalSigner, SigningDomain
from consensus.types import Vote, VoteType
from consensus.validator_set import compute_proposer
from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from node.backend import Backend
from kernel.chain import ChainError
from node.rewards import block_extra_data
from node.services.chain_writer import Candidate, ChainWriter
from node.services.consensus_io import run_in_loop
from node.validators import ValidatorSetStore

NOW = int(time.time())


@pytest.fixture
def setup(tmp_path, dev_accounts):
    genesis = Genesis.from_json({
        "config": {"chainId": 1337}, "timestamp": hex(NOW - 100),
        "alloc": {a.address: {"balance": hex(10**24)} for a in dev_accounts},
        "azora": {"validators": [{"address": a.address, "stake": hex(20_000 * 10**18)} for a in dev_accounts[:4]],
                  "oracles": {"members": [dev_accounts[9].address], "quorum": 1}}})
    chain = Chain(LevelDB(tmp_path / "db"), genesis)
    domain = SigningDomain(1337, to_canonical_address(chain.system_contracts["ValidatorRegistry"]))
    sets = ValidatorSetStore(chain)
    host = ChainWriter(Backend(chain), sets, domain, offload=run_in_loop, clock=lambda: NOW)
    signers = {bytes.fromhex(a.address[2:]): LocalSigner(bytes(a.key), domain) for a in dev_accounts[:4]}
    # Block 1 by its proposer, committed by three of the four validators.
    proposer = compute_proposer(sets.for_height(1), 0)
    built = chain.build_block([], timestamp=NOW - 50, coinbase=proposer)
    certificate = build_commit_certificate(1, 0, built.block.hash, [
        s.sign_vote(Vote(VoteType.PRECOMMIT, 1, 0, built.block.hash)) for s in list(signers.values())[:3]])
    chain.set_commit(built.block.hash, certificate.encode())
    host.validator_set = sets.for_height(2)    # the set of the height under test, beside the writer
    return chain, host, certificate, signers


def _candidate(chain, host, parent_certificate, *, round=0, coinbase=None, mix_hash=None, timestamp=None,
               extra_data=None):
    coinbase = coinbase if coinbase is not None else compute_proposer(host.validator_set, round)
    pending = chain.execute_transactions(
        [], timestamp=timestamp if timestamp is not None else NOW - 10, coinbase=coinbase,
        mix_hash=mix_hash if mix_hash is not None else compute_mix_hash(parent_certificate),
        extra_data=extra_data if extra_data is not None else
        block_extra_data(host.validator_sets, 1, parent_certificate))
    pending.writes.discard()
    return Candidate(pending.block, parent_certificate)


def check(writer, candidate, round):
    return writer.check_proposed(candidate, round, writer.validator_set)


def test_valid_header_passes(setup):
    chain, host, certificate, _ = setup
    assert check(host, _candidate(chain, host, certificate), 0) is None
    # The proposer of round 1 is accepted for round 1.
    assert check(host, _candidate(chain, host, certificate, round=1), 1) is None


def test_invalid_proposer_is_rejected(setup):
    chain, host, certificate, _ = setup
    wrong = next(a for a in host.validator_set.addresses if a != compute_proposer(host.validator_set, 0))
    assert "not the proposer" in check(host, _candidate(chain, host, certificate, coinbase=wrong), 0)


def test_invalid_parent_certificate_is_rejected(setup, dev_accounts):
    chain, host, certificate, signers = setup
    assert "parent commit" in check(host, _candidate(chain, host, None), 0)
    weak = build_commit_certificate(1, 0, certificate.block_hash, certificate.precommits()[:2])
    assert "insufficient voting power" in check(host, _candidate(chain, host, weak), 0)
    outsider = LocalSigner(bytes(dev_accounts[7].key), host.domain)
    forged = build_commit_certificate(1, 0, certificate.block_hash, certificate.precommits()[:2] + (
        outsider.sign_vote(Vote(VoteType.PRECOMMIT, 1, 0, certificate.block_hash)),))
    assert "not a validator" in check(host, _candidate(chain, host, forged), 0)


def test_invalid_mix_hash_is_rejected(setup):
    chain, host, certificate, _ = setup
    assert "mixHash" in check(host, _candidate(chain, host, certificate, mix_hash=b"\x07" * 32), 0)


def test_invalid_signer_bitmap_is_rejected(setup):
    chain, host, certificate, _ = setup
    # The certificate has three signers (bits 1110....); claiming all four must fail.
    assert "extraData" in check(host, _candidate(chain, host, certificate, extra_data=b"\xf0"), 0)


def test_invalid_timestamps_are_rejected(setup):
    chain, host, certificate, _ = setup
    assert "timestamp" in check(host, _candidate(chain, host, certificate, timestamp=NOW + 3), 0)
    # Not after the parent: the kernel refuses to even build it.
    with pytest.raises(Exception):
        _candidate(chain, host, certificate, timestamp=NOW - 50)


def test_sync_path_applies_the_same_parent_commit_rules(setup):
    chain, host, certificate, signers = setup
    proposer = list(signers.values())
    candidate = _candidate(chain, host, certificate)
    block = candidate.block
    own = build_commit_certificate(2, 0, block.hash, [
        s.sign_vote(Vote(VoteType.PRECOMMIT, 2, 0, block.hash)) for s in proposer[1:]])
    weak = build_commit_certificate(1, 0, certificate.block_hash, certificate.precommits()[:2])
    with pytest.raises(ChainError, match="parent commit"):
        trio.run(host.import_committed, block, own, weak)
    with pytest.raises(ChainError, match="parent commit"):
        trio.run(host.import_committed, block, own, None)
    assert chain.head.block_number == 1
    assert trio.run(host.import_committed, block, own, certificate) is True
    assert chain.head.hash == block.hash
