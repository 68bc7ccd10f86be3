"""Double-sign protection at start (CometBFT's ``double_sign_check_height``) and a validator
that sees evidence against its own key: both stop the validator before it signs again.

Real chains in LevelDB, real consensus hosts on virtual time; the second "process" with the
same key is a second host with its own (empty) last-sign record."""
from __future__ import annotations

import time

import pytest
import trio
import trio.testing
from eth_utils import to_canonical_address

from consensus.commit import build_commit_certificate
from consensus.config import DEV_TIMEOUTS
from consensus.events import VoteReceived
from consensus.sign_guard import GuardedSigner, MemorySignRecordStore
from consensus.signing import LocalSigner
from consensus.types import DuplicateVoteEvidence, Vote, VoteType, make_duplicate_vote_evidence
from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from node.backend import Backend
from node.dev import DevPolicy
from node.service import consensus_domain, dev_genesis
from node.services.consensus_host import HALT_GRACE_SECONDS, ConsensusHost, build_consensus_host
from node.services.consensus_io import (
    DoubleSignRisk, NullOutbox, OwnKeyEquivocated, ValidatorHalted, find_foreign_signature, run_in_loop,
    wait_until_level,
)
from node.validators import ValidatorSetStore


@pytest.fixture
def chain(tmp_path, dev_accounts):
    genesis = dev_genesis(dev_accounts, chain_id=1337, balance_wei=10**24,
                          validator=to_canonical_address(dev_accounts[0].address))
    genesis["timestamp"] = hex(int(time.time()) - 100)
    chain = Chain(LevelDB(tmp_path / "db"), Genesis.from_json(genesis))
    yield chain
    chain.db.close()


def _host(chain: Chain, guarded: GuardedSigner, policy: DevPolicy, check: int, reported: list | None = None
          ) -> ConsensusHost:
    return build_consensus_host(Backend(chain), signer=guarded, domain=consensus_domain(chain),
                                validator_sets=ValidatorSetStore(chain), timeouts=DEV_TIMEOUTS, policy=policy,
                                offload=run_in_loop, double_sign_check_height=check,
                                on_evidence=reported.append if reported is not None else None)


def _local(chain: Chain, dev_accounts) -> LocalSigner:
    return LocalSigner(bytes(dev_accounts[0].key), consensus_domain(chain))


async def _mine(host: ConsensusHost, policy: DevPolicy, blocks: int) -> None:
    target = host.chain.head.block_number + blocks
    policy.forced.extend([None] * blocks)
    policy.wake()
    await host.wait_for_height(target)


def _run(host: ConsensusHost, policy: DevPolicy, blocks: int) -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.run)
            await _mine(host, policy, blocks)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def _halt_of(host: ConsensusHost, policy: DevPolicy, blocks: int = 1) -> ValidatorHalted:
    with pytest.raises(BaseExceptionGroup) as caught:
        _run(host, policy, blocks)
    halted = caught.value.subgroup(ValidatorHalted)
    assert halted is not None, caught.value
    while isinstance(halted, BaseExceptionGroup):
        halted = halted.exceptions[0]
    return halted


def _chain_signed_by_the_key(chain: Chain, dev_accounts, blocks: int = 3) -> GuardedSigner:
    """``blocks`` blocks committed by the (only) validator; returns its signer with its record."""
    guarded = GuardedSigner(_local(chain, dev_accounts), MemorySignRecordStore())
    policy = DevPolicy(None)
    _run(_host(chain, guarded, policy, check=0), policy, blocks)
    return guarded


# -- the pure check ----------------------------------------------------------------------------------

def test_a_signature_above_the_last_sign_record_is_foreign(dev_accounts):
    key, other = (LocalSigner(bytes(a.key), None) for a in dev_accounts[:2])   # type: ignore[arg-type]
    commits = [build_commit_certificate(h, 0, bytes([h]) * 32, []) for h in (12, 11)]
    commits = [c.__class__(c.height, c.round, c.block_hash, ((key.address, b"s"), (other.address, b"s")))
               for c in commits]
    assert find_foreign_signature(key.address, commits, last_signed_height=0) == 12
    assert find_foreign_signature(key.address, commits, last_signed_height=11) == 12
    assert find_foreign_signature(key.address, commits, last_signed_height=12) is None   # a restart
    assert find_foreign_signature(bytes(20), commits, last_signed_height=0) is None


def test_waiting_for_the_network_ends_level_with_the_best_peer_or_alone_after_the_grace():
    heads = {"a": 7}
    head = [5]

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            done = trio.Event()

            async def wait() -> None:
                await wait_until_level(lambda: heads.values(), lambda: head[0], grace=5)
                done.set()
            nursery.start_soon(wait)
            await trio.sleep(30)
            assert not done.is_set()      # behind a peer: no matter how long
            head[0] = 7
            await trio.sleep(1)
            assert done.is_set()
        started = trio.current_time()
        await wait_until_level(lambda: [], lambda: 0, grace=5)
        assert trio.current_time() - started >= 5

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


# -- at start -----------------------------------------------------------------------------------------

def test_a_second_process_with_the_key_refuses_to_start_when_its_signature_is_in_recent_commits(
        chain, dev_accounts, caplog):
    _chain_signed_by_the_key(chain, dev_accounts)
    head = chain.head.block_number
    copy = GuardedSigner(_local(chain, dev_accounts), MemorySignRecordStore())   # its own, empty record
    policy = DevPolicy(None)
    halted = _halt_of(_host(chain, copy, policy, check=2), policy)
    assert isinstance(halted, DoubleSignRisk)
    address = "0x" + copy.address.hex()
    assert str(halted) == (f"validator {address} signed block #{head} within the last 2 commits: "
                           "another process is running this key? refusing to sign")
    assert chain.head.block_number == head and copy.last is None      # it signed nothing
    assert any(r.levelname == "CRITICAL" and "refusing to sign" in r.message for r in caplog.records)


def test_the_same_validator_restarted_with_its_record_starts_and_signs(chain, dev_accounts):
    guarded = _chain_signed_by_the_key(chain, dev_accounts)
    restarted = GuardedSigner(_local(chain, dev_accounts), guarded.store)
    policy = DevPolicy(None)
    _run(_host(chain, restarted, policy, check=2), policy, 2)
    assert chain.head.block_number == 5


def test_check_height_zero_turns_the_check_off(chain, dev_accounts):
    _chain_signed_by_the_key(chain, dev_accounts)
    copy = GuardedSigner(_local(chain, dev_accounts), MemorySignRecordStore())
    policy = DevPolicy(None)
    _run(_host(chain, copy, policy, check=0), policy, 1)
    assert chain.head.block_number == 4


# -- evidence against our own key ----------------------------------------------------------------------

def _own_evidence(chain: Chain, dev_accounts, height: int):
    local = _local(chain, dev_accounts)
    return make_duplicate_vote_evidence(local.sign_vote(Vote(VoteType.PREVOTE, height, 0, b"\x01" * 32)),
                                        local.sign_vote(Vote(VoteType.PREVOTE, height, 0, b"\x02" * 32)))


def test_gossiped_evidence_against_its_own_key_stops_the_validator(chain, dev_accounts, caplog):
    guarded = GuardedSigner(_local(chain, dev_accounts), MemorySignRecordStore())
    policy = DevPolicy(None)
    reported: list = []
    host = _host(chain, guarded, policy, check=0, reported=reported)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.run)
            await _mine(host, policy, 1)
            await host.on_evidence_received(_own_evidence(chain, dev_accounts, 1))
            assert host.signer is None                    # stops signing at once
            await trio.sleep(10)

    with pytest.raises(BaseExceptionGroup) as caught:
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert caught.value.subgroup(OwnKeyEquivocated) is not None
    assert reported == []                                 # no self-report either
    assert any(r.levelname == "CRITICAL" and "own key" in r.message for r in caplog.records)


def test_a_conflicting_vote_of_its_own_key_seen_in_consensus_stops_the_validator(chain, dev_accounts):
    guarded = GuardedSigner(_local(chain, dev_accounts), MemorySignRecordStore())
    policy = DevPolicy(None)
    host = _host(chain, guarded, policy, check=0)
    other_process = _local(chain, dev_accounts)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.run)
            # The other process's prevote for another block at height 1, round 0.
            await host.feed(VoteReceived(other_process.sign_vote(Vote(VoteType.PREVOTE, 1, 0, b"\x07" * 32))))
            policy.forced.append(None)
            policy.wake()
            await trio.sleep(60)

    with pytest.raises(BaseExceptionGroup) as caught:
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert caught.value.subgroup(OwnKeyEquivocated) is not None
    assert host.evidence.seen == 1


class EvidenceOutbox(NullOutbox):
    """Records when the host hands evidence to the network."""

    def __init__(self) -> None:
        self.published_at: list[float] = []

    async def evidence(self, evidence: DuplicateVoteEvidence) -> None:
        self.published_at.append(trio.current_time())


def test_a_validator_halting_on_its_own_evidence_lives_on_until_the_evidence_has_left(chain, dev_accounts):
    """Found on a 4-validator testnet: the validator that alone saw the other copy's conflicting
    vote published the evidence and exited in the same millisecond, before libp2p's send queues
    carried it to a peer: nobody reported the equivocation and the other copy signed on."""
    guarded = GuardedSigner(_local(chain, dev_accounts), MemorySignRecordStore())
    policy = DevPolicy(None)
    outbox = EvidenceOutbox()
    host = build_consensus_host(Backend(chain), signer=guarded, domain=consensus_domain(chain),
                                validator_sets=ValidatorSetStore(chain), timeouts=DEV_TIMEOUTS, policy=policy,
                                offload=run_in_loop, outbox=outbox)
    halted_at: list[float] = []

    async def main() -> None:
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(host.run)
                other_process = _local(chain, dev_accounts)
                await host.feed(VoteReceived(other_process.sign_vote(Vote(VoteType.PREVOTE, 1, 0, b"\x07" * 32))))
                policy.forced.append(None)
                policy.wake()
                await trio.sleep(60)
        finally:
            halted_at.append(trio.current_time())

    with pytest.raises(BaseExceptionGroup) as caught:
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert caught.value.subgroup(OwnKeyEquivocated) is not None
    assert host.signer is None
    [published] = outbox.published_at
    assert halted_at[0] - published >= HALT_GRACE_SECONDS


# -- configuration ---------------------------------------------------------------------------------------

def test_the_check_height_comes_from_the_config_file_and_defaults_to_two(tmp_path):
    from node.config import ConfigError, NodeConfig

    path = tmp_path / "config.yaml"
    path.write_text("datadir: data\n")
    assert NodeConfig.load(path).double_sign_check_height == 2
    path.write_text("datadir: data\ndouble_sign_check_height: 0\n")
    assert NodeConfig.load(path).double_sign_check_height == 0
    path.write_text("datadir: data\ndouble_sign_check_height: -1\n")
    with pytest.raises(ConfigError, match="double_sign_check_height cannot be negative"):
        NodeConfig.load(path)


def test_invalid_negative_check_height_flag_is_a_usage_error(tmp_path, capsys):
    from node.cli import main

    assert main(["node", "run", "--datadir", str(tmp_path), "--double-sign-check-height", "-1"]) == 2
    assert "--double-sign-check-height cannot be negative" in capsys.readouterr().err
