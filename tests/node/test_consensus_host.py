"""The consensus host on virtual time (trio's MockClock): it dispatches the engine's outputs
to its collaborators over a real chain, reports the round blocks are decided in, and ends a
height when sync imports its block."""
from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
import rlp
import trio
import trio.testing
from eth_utils import keccak, to_canonical_address

from consensus.commit import build_commit_certificate, verify_commit
from consensus.config import DEV_TIMEOUTS, TESTNET_TIMEOUTS, TimeoutKind
from consensus.events import ProposalReceived, ScheduleTimeout, TimeoutElapsed, VoteReceived
from consensus.sign_guard import GuardedSigner, MemorySignRecordStore
from consensus.signing import LocalSigner, SigningDomain
from consensus.types import CommitCertificate, Proposal, Vote, VoteType, make_duplicate_vote_evidence
from consensus.validator_set import compute_proposer
from consensus.wire import ProposalMessage
from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from node.backend import Backend
from node.dev import DevPolicy
from node.service import consensus_domain, dev_genesis
from node.services.block_production import IntervalPolicy
from node.services.consensus_host import ConsensusHost, build_consensus_host
from node.services.consensus_io import MAX_KEPT_EVIDENCE, EvidenceLog, NullOutbox, Timers, run_in_loop
from node.validators import ValidatorSetStore


def _genesis(dev_accounts) -> Genesis:
    genesis = dev_genesis(dev_accounts, chain_id=1337, balance_wei=10**24,
                          validator=to_canonical_address(dev_accounts[0].address))
    genesis["timestamp"] = hex(int(time.time()) - 100)
    return Genesis.from_json(genesis)


def _host(chain: Chain, guarded: GuardedSigner | None, policy, *, timeouts=DEV_TIMEOUTS,
          offload=run_in_loop, outbox=None) -> ConsensusHost:
    return build_consensus_host(Backend(chain), signer=guarded, domain=consensus_domain(chain),
                                validator_sets=ValidatorSetStore(chain), timeouts=timeouts, policy=policy,
                                offload=offload, outbox=outbox)


@pytest.fixture
def chain(tmp_path, dev_accounts):
    chain = Chain(LevelDB(tmp_path / "db"), _genesis(dev_accounts))
    yield chain
    chain.db.close()


def _signer(chain: Chain, dev_accounts) -> LocalSigner:
    return LocalSigner(bytes(dev_accounts[0].key), consensus_domain(chain))


async def _mine(host: ConsensusHost, policy: DevPolicy, blocks: int) -> None:
    target = host.chain.head.block_number + blocks
    policy.forced.extend([None] * blocks)
    policy.wake()
    await host.wait_for_height(target)


def _run_and_mine(host: ConsensusHost, policy: DevPolicy, blocks: int) -> None:
    """Run ``host`` on virtual time until it has mined ``blocks`` more blocks."""
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.run)
            await _mine(host, policy, blocks)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_lone_validator_commits_blocks_with_verifiable_certificates(chain, dev_accounts):
    policy = DevPolicy(None)
    host = _host(chain, GuardedSigner(_signer(chain, dev_accounts), MemorySignRecordStore()), policy)
    _run_and_mine(host, policy, 3)
    assert chain.head.block_number == 3
    for number in range(1, 4):
        certificate = CommitCertificate.decode(chain.commit_of(chain.header_by_number(number).hash))
        assert verify_commit(certificate, host.validator_sets.read(number), host.domain) is None
    assert host.status().round == 0 and host.status().height == 3   # until the next height starts


class _Ears(NullOutbox):
    """Counts the block messages a host hands its outbox."""

    def __init__(self, listened: bool) -> None:
        self.listened = listened
        self.blocks: list[str] = []

    async def proposal(self, message: Any) -> None:
        self.blocks.append("proposal")

    async def committed(self, message: Any) -> None:
        self.blocks.append("committed")


@pytest.mark.parametrize("listened", [False, True])
def test_a_lone_validator_encodes_no_block_messages_no_one_hears(chain, dev_accounts, listened):
    """``azora dev``'s outbox goes nowhere: encoding each block into a proposal and a committed
    message for it cost ~5 ms of the node's one GIL per 1,000-transaction block."""
    policy = DevPolicy(None)
    outbox = _Ears(listened)
    host = _host(chain, GuardedSigner(_signer(chain, dev_accounts), MemorySignRecordStore()), policy, outbox=outbox)
    _run_and_mine(host, policy, 2)
    assert chain.head.block_number == 2
    assert outbox.blocks == (["proposal", "committed"] * 2 if listened else [])


def test_round_reports_the_decision_not_the_timers(chain, dev_accounts):
    """Height 1 needs round 1 (the validator restarts having voted nil in round 0), height 2
    commits in round 0: the round shown is 0 again. It stayed at 1 when timers set it."""
    local = _signer(chain, dev_accounts)
    guarded = GuardedSigner(local, MemorySignRecordStore())
    guarded.sign_vote(Vote(VoteType.PREVOTE, 1, 0, None))
    guarded.sign_vote(Vote(VoteType.PRECOMMIT, 1, 0, None))
    policy = DevPolicy(None)
    host = _host(chain, guarded, policy)
    rounds = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.run)
            await _mine(host, policy, 1)
            rounds.append(host.round)
            await _mine(host, policy, 1)
            rounds.append(host.round)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    commit_rounds = [CommitCertificate.decode(chain.commit_of(chain.header_by_number(n).hash)).round for n in (1, 2)]
    assert commit_rounds == [1, 0]
    assert rounds == [1, 0]


def _committed_block_one(tmp_path, chain: Chain, dev_accounts, transactions=()) -> tuple[Any, CommitCertificate]:
    """Block 1 as the validator built and committed it, on another copy of the same chain."""
    source = Chain(LevelDB(tmp_path / "source"), chain.genesis)
    try:
        local = _signer(source, dev_accounts)
        validator_set = ValidatorSetStore(source).for_height(1)
        built = source.build_block(list(transactions), timestamp=source.head.timestamp + 1,
                                   coinbase=compute_proposer(validator_set, 0))
        block = built.block
    finally:
        source.db.close()
    return block, build_commit_certificate(1, 0, block.hash, [local.sign_vote(
        Vote(VoteType.PRECOMMIT, 1, 0, block.hash))])


def test_a_synced_block_ends_the_height_in_progress(tmp_path, chain, dev_accounts):
    """A full node waiting in height 1 imports block 1 from sync and moves on to height 2."""
    block, certificate = _committed_block_one(tmp_path, chain, dev_accounts)
    host = _host(chain, None, IntervalPolicy(1.0))
    heights = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.run)
            await trio.sleep(5)              # the full node sits in height 1, its timers running
            heights.append(host.driver.height)
            assert await host.import_committed_block(block, certificate, None) is True
            assert await host.import_committed_block(block, certificate, None) is False   # already had
            await trio.sleep(5)
            heights.append(host.driver.height)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert heights == [1, 2]
    assert chain.head.hash == block.hash and host.round == 0


def test_a_synced_block_takes_one_trip_to_a_worker_thread(tmp_path, chain, dev_accounts):
    """Range sync executes and persists each block in one worker-thread call: every return to
    the event loop waits for the GIL behind the network's tasks, once per block, not twice."""
    block, certificate = _committed_block_one(tmp_path, chain, dev_accounts)
    trips = []

    async def offload(fn, *args):
        trips.append(fn.__name__)
        return fn(*args)

    host = _host(chain, None, IntervalPolicy(1.0), offload=offload)
    assert trio.run(host.import_committed_block, block, certificate, None) is True
    assert chain.head.hash == block.hash and len(trips) == 1


def test_a_received_block_takes_the_transactions_its_pool_decoded(tmp_path, chain, dev_accounts):
    """A block decoded from the wire takes the pool's objects for the transactions the pool
    admitted, decoded and with their senders recovered (decoding each again took a tenth of a
    millisecond), and decodes only the others, their senders recovered from their encodings."""
    from eth.vm.forks.prague.transactions import PragueTransactionBuilder

    raws = [dev_accounts[2].sign_transaction({
        "chainId": 1337, "nonce": n, "to": "0x" + "22" * 20, "value": 1, "gas": 21_000,
        "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "type": 2}).raw_transaction for n in range(3)]
    block, certificate = _committed_block_one(tmp_path, chain, dev_accounts,
                                              [PragueTransactionBuilder.decode(raw) for raw in raws])
    backend = Backend(chain)
    pooled = [PragueTransactionBuilder.decode(raw) for raw in raws[:2]]
    for tx, raw in zip(pooled, raws):
        backend.admit(tx, len(raw))
    host = build_consensus_host(backend, signer=None, domain=consensus_domain(chain),
                                validator_sets=ValidatorSetStore(chain), timeouts=DEV_TIMEOUTS,
                                policy=IntervalPolicy(1.0), offload=run_in_loop)
    raw = rlp.encode(block)
    received = host.writer.decode_block(raw)
    assert received == block and rlp.encode(received) == raw
    assert received.transactions[0] is pooled[0] and received.transactions[1] is pooled[1]
    assert received.transactions[2].__dict__["sender"] == to_canonical_address(dev_accounts[2].address)
    assert trio.run(host.import_committed_block, received, certificate, None) is True
    senders = [tx.__dict__["sender"] for tx in received.transactions]
    assert senders[0] is pooled[0].sender and senders[1] is pooled[1].sender   # the pool's own
    assert senders[2] == to_canonical_address(dev_accounts[2].address)         # not pooled: decoded here


def test_timers_fire_after_their_duration_on_virtual_time():
    received = []

    async def main() -> None:
        send, receive = trio.open_memory_channel(10)
        timers = Timers(TESTNET_TIMEOUTS, send.send)
        async with trio.open_nursery() as nursery:
            timers.attach(nursery)
            timers.schedule(ScheduleTimeout(TimeoutKind.PROPOSE, 3, 2))
            timers.schedule(ScheduleTimeout(TimeoutKind.PREVOTE, 3, 0))
            for _ in range(2):
                received.append((await receive.receive(), trio.current_time()))

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert received == [(TimeoutElapsed(TimeoutKind.PREVOTE, 3, 0), 1.0),
                        (TimeoutElapsed(TimeoutKind.PROPOSE, 3, 2), 4.0)]


def test_evidence_memory_is_bounded_but_every_piece_is_counted(dev_accounts):
    signer = LocalSigner(bytes(dev_accounts[1].key), SigningDomain(1337, b"\x11" * 20))
    log = EvidenceLog()
    for height in range(MAX_KEPT_EVIDENCE + 10):
        log.append(make_duplicate_vote_evidence(signer.sign_vote(Vote(VoteType.PREVOTE, height, 0, b"\x01" * 32)),
                                                signer.sign_vote(Vote(VoteType.PREVOTE, height, 0, None))))
    assert len(log) == MAX_KEPT_EVIDENCE + 10
    kept = list(log)
    assert len(kept) == MAX_KEPT_EVIDENCE and kept[-1].vote_a.vote.height == MAX_KEPT_EVIDENCE + 9


def test_dev_producer_keeps_its_block_time_cadence_on_virtual_time(chain, dev_accounts):
    """``azora dev --block-time 5``: a block every 5 s, empty or not; ``evm_mine`` adds one now."""
    policy = DevPolicy(5.0)
    host = _host(chain, GuardedSigner(_signer(chain, dev_accounts), MemorySignRecordStore()), policy)
    committed_at: list[float] = []
    host.backend.on_new_block.append(lambda block: committed_at.append(trio.current_time()))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.run)
            await trio.sleep(16)
            await _mine(host, policy, 1)       # forced between two cadence blocks
            await trio.sleep(20 - trio.current_time() + 0.5)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert committed_at == [5.0, 10.0, 15.0, 16.0, 20.0]
    assert chain.head.block_number == 5


def test_automine_makes_a_block_when_a_transaction_arrives(chain, dev_accounts):
    from eth_account import Account
    policy = DevPolicy(None)
    host = _host(chain, GuardedSigner(_signer(chain, dev_accounts), MemorySignRecordStore()), policy)
    backend = host.backend
    signed = Account.sign_transaction({"chainId": 1337, "to": dev_accounts[2].address, "value": 1, "gas": 21_000,
                                       "nonce": 0, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9,
                                       "type": 2}, dev_accounts[1].key)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.run)
            await trio.sleep(3600)                     # nothing to mine: no block, however long
            assert chain.head.block_number == 0
            backend.submit(backend.decode_transaction(bytes(signed.raw_transaction)), len(signed.raw_transaction))
            policy.wake()
            await host.wait_for_height(1)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert len(chain.block_of(chain.head).transactions) == 1


def test_node_run_takes_consensus_timeouts_from_genesis_then_its_config(tmp_path, dev_accounts):
    """``azora.timeouts`` in the genesis was parsed and never used: it now sets the network's
    timeouts, which a node's own config may still override."""
    import json

    from node.config import NodeConfig
    from node.service import build_network_node

    genesis = _genesis(dev_accounts).raw
    genesis = {**genesis, "azora": {**genesis["azora"], "timeouts": {"propose": 7, "precommitDelta": 0.75}}}
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(genesis))
    config = NodeConfig(datadir=tmp_path / "node", genesis=path, p2p_port=0, timeouts={"propose": 9.0})
    backend, _, _, node = build_network_node(config)
    try:
        timeouts = node.host.timers.timeouts
        assert (timeouts.propose, timeouts.precommit_delta, timeouts.prevote) == (9.0, 0.75, 1.0)
    finally:
        backend.close()


def test_invalid_proposal_blocks_are_not_kept(chain, dev_accounts):
    import rlp

    from node.chainio import decode_block
    from node.services.chain_writer import Candidates

    local = _signer(chain, dev_accounts)
    pending = chain.execute_transactions([], timestamp=chain.head.timestamp + 1, coinbase=local.address)
    pending.writes.discard()
    block = rlp.encode(pending.block)
    signed = local.sign_proposal(Proposal(1, 0, pending.block.hash, -1))
    other = local.sign_proposal(Proposal(1, 0, b"\x01" * 32, -1))
    candidates = Candidates()
    decode = lambda raw: decode_block(chain, raw)   # noqa: E731
    assert "undecodable" in candidates.receive(ProposalMessage(signed, b"\xc1\x80", b""), 1, decode)
    assert "another block" in candidates.receive(ProposalMessage(other, block, b""), 1, decode)
    assert candidates.receive(ProposalMessage(signed, block, b""), 2, decode) is None   # not this height
    assert candidates.get(pending.block.hash) is None
    assert candidates.receive(ProposalMessage(signed, block, b""), 1, decode) is None
    assert candidates.proposal_message(signed) == ProposalMessage(signed, block, b"")


def test_decoding_a_block_reuses_known_transactions_of_its_own_fork_only(chain, dev_accounts):
    """``decode_block``'s ``known`` objects stand in for the block's transactions, typed and
    legacy, when they are of the classes the block's fork decodes to; another fork's object
    for the same bytes (a pool decoded it before a fork) is not taken."""
    from eth.vm.forks.cancun.transactions import CancunTransactionBuilder
    from eth.vm.forks.prague.transactions import PragueTransactionBuilder

    from node.chainio import decode_block

    account = dev_accounts[2]
    typed, legacy, other = (account.sign_transaction({
        "chainId": 1337, "nonce": n, "to": "0x" + "22" * 20, "value": 1, "gas": 21_000,
        **({"gasPrice": 10**11} if n == 1 else {"maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "type": 2}),
    }).raw_transaction for n in range(3))
    txs = [PragueTransactionBuilder.decode(raw) for raw in (typed, legacy, other)]
    pending = chain.execute_transactions(txs, timestamp=chain.head.timestamp + 1)
    pending.writes.discard()
    raw_block = rlp.encode(pending.block)
    known = {keccak(typed): PragueTransactionBuilder.decode(typed), keccak(legacy): PragueTransactionBuilder.decode(legacy),
             keccak(other): CancunTransactionBuilder.decode(other)}
    decoded = decode_block(chain, raw_block, known.get)
    assert decoded == decode_block(chain, raw_block) == pending.block and rlp.encode(decoded) == raw_block
    assert decoded.transactions[0] is known[keccak(typed)] and decoded.transactions[1] is known[keccak(legacy)]
    assert decoded.transactions[2] is not known[keccak(other)]
    assert type(decoded.transactions[2]) is type(txs[2])


@pytest.mark.parametrize("raw", [[b""], [[]], [[b"x"] * 5], [b"header", b"body"]])
def test_invalid_block_bytes_from_peers_are_value_errors(chain, raw):
    """Range sync catches ValueError around ``decode_block``; an IndexError used to escape
    and end the node's sync task (and with it the node) on one bad item from a peer."""
    import rlp

    from node.chainio import decode_block
    with pytest.raises(ValueError, match="not a block"):
        decode_block(chain, rlp.encode(raw))


def test_a_block_committed_while_ours_is_built_does_not_crash_the_builder(tmp_path, chain, dev_accounts):
    """The head may move while a proposer builds (the height was decided elsewhere and arrived
    by sync): the block is built on the head it was begun on, and the stale candidate dies with
    its height. It used to be executed on the new head with the old head's timestamp: 'timestamp
    not after parent's', and the whole node stopped (a copy of a validator key did, in CI)."""
    source = Chain(LevelDB(tmp_path / "source"), chain.genesis)
    try:
        local = _signer(source, dev_accounts)
        validator_set = ValidatorSetStore(source).for_height(1)
        # a timestamp the builder's clock has not reached: its own block's would be no later
        built = source.build_block([], timestamp=int(time.time()) + 30, coinbase=compute_proposer(validator_set, 0))
        block = built.block
    finally:
        source.db.close()
    certificate = build_commit_certificate(1, 0, block.hash, [local.sign_vote(
        Vote(VoteType.PRECOMMIT, 1, 0, block.hash))])
    genesis = chain.head
    arrived = []

    async def offload(fn, *args):
        if not arrived:   # the decided block lands just before our execution starts
            arrived.append(True)
            assert await host.import_committed_block(block, certificate, None) is True
        return fn(*args)

    host = _host(chain, None, IntervalPolicy(1.0), offload=offload)

    async def main() -> None:
        candidate = await host.builder.build(0, ValidatorSetStore(chain).for_height(1), b"\x01" * 20)
        assert candidate.block.header.parent_hash == genesis.hash and candidate.block.number == 1
        assert chain.head.hash == block.hash

    trio.run(main)


def test_a_block_slower_to_build_than_the_propose_timeout_is_decided_in_round_0(chain, dev_accounts):
    """The propose timeout waits for a proposal to arrive, not for its execution: while this node
    builds or validates a block, the timeout is held until that is done (CometBFT's state
    machine executes a proposal before it handles the next timeout). It fired mid-execution: a
    proposer busier than 3 s prevoted nil on its own block, and validators on blocks they were
    still executing, so loaded testnets needed second rounds."""
    slow = TESTNET_TIMEOUTS.propose + 2.0

    async def offload(fn, *args):
        await trio.sleep(slow)       # execution on a busy machine, on virtual time
        return fn(*args)

    policy = DevPolicy(None)
    guarded = GuardedSigner(_signer(chain, dev_accounts), MemorySignRecordStore())
    host = _host(chain, guarded, policy, timeouts=TESTNET_TIMEOUTS, offload=offload)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.run)
            await _mine(host, policy, 2)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    rounds = [CommitCertificate.decode(chain.commit_of(chain.header_by_number(n).hash)).round for n in (1, 2)]
    assert rounds == [0, 0]


def test_propose_timeouts_wait_for_block_work_in_progress_and_vote_timeouts_do_not():
    received = []
    busy = [True]

    async def main() -> None:
        send, receive = trio.open_memory_channel(10)
        timers = Timers(TESTNET_TIMEOUTS, send.send, busy=lambda: busy[0])
        async with trio.open_nursery() as nursery:
            timers.attach(nursery)
            timers.schedule(ScheduleTimeout(TimeoutKind.PROPOSE, 3, 0))
            timers.schedule(ScheduleTimeout(TimeoutKind.PREVOTE, 3, 0))
            received.append((await receive.receive(), trio.current_time()))
            await trio.sleep(10 - trio.current_time())
            busy[0] = False
            received.append((await receive.receive(), trio.current_time()))

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert received[0] == (TimeoutElapsed(TimeoutKind.PREVOTE, 3, 0), 1.0)
    event, at = received[1]
    assert event == TimeoutElapsed(TimeoutKind.PROPOSE, 3, 0) and 10.0 <= at <= 10.2


class _GatedPolicy(IntervalPolicy):
    """Heights start when the test opens the gate: a node still waiting out its interval."""

    def __init__(self) -> None:
        super().__init__(0.0)
        self.gate = trio.Event()

    async def wait_for_next_height(self, backend: Backend) -> None:
        await self.gate.wait()


def test_a_proposal_that_arrives_before_its_height_starts_is_validated_and_committed(tmp_path, chain, dev_accounts):
    """A proposer whose interval ends first proposes while a peer still waits out its own: the
    peer keeps the block (its number is the next height) and the engine takes the proposal
    when the height starts. Starting the height dropped the block, so the peer had nothing to
    validate, prevoted nil when its propose timeout fired, and the height needed a second
    round: on a loaded 4-validator testnet one height in ten or so."""
    import rlp


    local = _signer(chain, dev_accounts)
    source = Chain(LevelDB(tmp_path / "source"), chain.genesis)
    try:
        proposer = _host(source, None, IntervalPolicy(1.0), timeouts=TESTNET_TIMEOUTS)
        candidate = trio.run(proposer.builder.build, 0, ValidatorSetStore(source).for_height(1), local.address)
        block = candidate.block
        candidate.pending.writes.discard()
    finally:
        source.db.close()
    signed = local.sign_proposal(Proposal(1, 0, block.hash, -1))

    policy = _GatedPolicy()
    host = _host(chain, None, policy, timeouts=TESTNET_TIMEOUTS)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.run)
            assert host.receive_proposal_block(ProposalMessage(signed, rlp.encode(block), b"")) is None
            await host.feed(ProposalReceived(signed))
            await trio.sleep(0.5)          # the proposal waits for the height
            policy.gate.set()
            for vote_type in (VoteType.PREVOTE, VoteType.PRECOMMIT):
                await host.feed(VoteReceived(local.sign_vote(Vote(vote_type, 1, 0, block.hash))))
            with trio.fail_after(TESTNET_TIMEOUTS.propose / 2):   # decided before any timeout
                await host.wait_for_height(1)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert chain.head.hash == block.hash
    assert CommitCertificate.decode(chain.commit_of(block.hash)).round == 0


class _RecordingOutbox:
    listened = True

    def __init__(self) -> None:
        self.votes: list[Any] = []
        self.proposals: list[Any] = []

    async def proposal(self, message: Any) -> None:
        self.proposals.append(message)

    async def committed(self, message: Any) -> None: ...
    async def evidence(self, evidence: Any) -> None: ...

    async def vote(self, signed: Any) -> None:
        self.votes.append(signed)


class _FourValidators:
    """Height 1 of a chain with four validators of equal stake: its round-0 block, built by
    that round's proposer on a copy of the chain, and the four signers."""

    def __init__(self, tmp_path, dev_accounts) -> None:
        from node.service import DEV_VALIDATOR_STAKE

        genesis = dev_genesis(dev_accounts, chain_id=1337, balance_wei=10**24,
                              validator=to_canonical_address(dev_accounts[0].address))
        genesis["timestamp"] = hex(int(time.time()) - 100)
        genesis["azora"]["validators"] = [{"address": a.address, "stake": hex(DEV_VALIDATOR_STAKE)}
                                          for a in dev_accounts[:4]]
        genesis_object = Genesis.from_json(genesis)
        self.chain = Chain(LevelDB(tmp_path / "db"), genesis_object)
        self.source = Chain(LevelDB(tmp_path / "source"), genesis_object)
        self.signers = {to_canonical_address(a.address): LocalSigner(bytes(a.key), consensus_domain(self.chain))
                        for a in dev_accounts[:4]}
        self.proposer = compute_proposer(ValidatorSetStore(self.chain).for_height(1), 0)
        builder = _host(self.source, None, IntervalPolicy(1.0), timeouts=TESTNET_TIMEOUTS).builder
        candidate = trio.run(builder.build, 0, ValidatorSetStore(self.source).for_height(1), self.proposer)
        candidate.pending.writes.discard()
        self.block = candidate.block

    def close(self) -> None:
        self.chain.db.close()
        self.source.db.close()


@pytest.fixture
def four_validators(tmp_path, dev_accounts):
    validators = _FourValidators(tmp_path, dev_accounts)
    yield validators
    validators.close()


def test_a_validator_that_sees_a_block_decided_before_it_voted_precommits_it_late(four_validators):
    """Four validators; three precommit height 1's proposal while the fourth has not voted at
    all (it was still executing the block). That fourth commits it with the others' three
    signatures, then signs its own precommit: into its own head commit, and out to the
    network as a late precommit for the next proposer's commit. Without it, under load, the
    next proposer waited its whole commit timeout for a signature that never came."""
    chain, signers, block, proposer_address = (four_validators.chain, four_validators.signers,
                                               four_validators.block, four_validators.proposer)
    validator_set = ValidatorSetStore(chain).for_height(1)
    late = next(address for address in signers if address != proposer_address)
    others = [address for address in signers if address != late]
    outbox = _RecordingOutbox()
    host = build_consensus_host(Backend(chain), signer=GuardedSigner(signers[late], MemorySignRecordStore()),
                                domain=consensus_domain(chain), validator_sets=ValidatorSetStore(chain),
                                timeouts=TESTNET_TIMEOUTS, policy=IntervalPolicy(0.0), outbox=outbox,
                                offload=run_in_loop)
    signed_proposal = signers[proposer_address].sign_proposal(Proposal(1, 0, block.hash, -1))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.run)
            assert host.receive_proposal_block(ProposalMessage(signed_proposal, rlp.encode(block), b"")) is None
            await host.feed(ProposalReceived(signed_proposal))
            for address in others:
                await host.feed(VoteReceived(signers[address].sign_vote(Vote(VoteType.PRECOMMIT, 1, 0, block.hash))))
            with trio.fail_after(TESTNET_TIMEOUTS.propose / 2):
                await host.wait_for_height(1)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert chain.head.hash == block.hash
    precommits = [v for v in outbox.votes if v.vote.vote_type == VoteType.PRECOMMIT]
    assert [(v.validator, v.vote.height, v.vote.round, v.vote.block_hash) for v in precommits] == \
        [(late, 1, 0, block.hash)]
    certificate = CommitCertificate.decode(chain.commit_of(block.hash))
    assert sorted(v for v, _ in certificate.signatures) == sorted(signers)
    assert verify_commit(certificate, validator_set, host.domain) is None


def test_the_block_cap_follows_the_rate_of_every_execution_the_first_timing_at_once():
    """A proposer sizes its block to what the others re-execute within the propose timeout,
    at the rate this node executes blocks. Only its own builds were timed, smoothed from an
    assumed 200/s: each validator of four builds one height in four, so blocks stayed near
    180 transactions for the first dozen heights of a load. Now every block executed counts
    (proposals checked and synced blocks are the same work) and the first timing is taken whole."""
    from node.services.chain_writer import INITIAL_TX_RATE, ExecutionRate

    rate = ExecutionRate()
    rate.observe(10, 0.001)                 # a small block times overhead: ignored
    assert rate.per_second == INITIAL_TX_RATE and not rate.timed
    rate.observe(400, 0.5)
    assert rate.per_second == 800.0
    rate.observe(300, 0.5, 300 * 50_000)    # then smoothed; the gas they used, from the first
    assert rate.per_second == pytest.approx(0.7 * 800 + 0.3 * 600) and rate.gas_per_tx == 50_000
    rate.observe(100, 0.1, 100 * 21_000)
    assert rate.gas_per_tx == pytest.approx(0.7 * 50_000 + 0.3 * 21_000)


def test_a_checked_proposal_times_the_execution_rate_the_builder_caps_with(tmp_path, chain, dev_accounts):
    from eth.vm.forks.prague.transactions import PragueTransactionBuilder

    raws = [dev_accounts[2].sign_transaction({
        "chainId": 1337, "nonce": n, "to": "0x" + "22" * 20, "value": 1, "gas": 21_000,
        "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "type": 2}).raw_transaction for n in range(30)]
    block, certificate = _committed_block_one(tmp_path, chain, dev_accounts,
                                              [PragueTransactionBuilder.decode(raw) for raw in raws])
    host = _host(chain, None, IntervalPolicy(1.0), timeouts=TESTNET_TIMEOUTS)
    from node.services.block_production import EXECUTION_SHARE_OF_PROPOSE_TIMEOUT, MAX_TXS_PER_BLOCK
    four = type("FourValidators", (), {"validators": (1, 2, 3, 4)})()
    budget = TESTNET_TIMEOUTS.propose * EXECUTION_SHARE_OF_PROPOSE_TIMEOUT
    assert host.builder.full_block(four, 0, 30_000_000) == int(200 * budget)
    assert trio.run(host.import_committed_block, block, certificate, None) is True
    rate = host.writer.execution_rate
    assert rate.timed and rate.per_second > 200 and rate.gas_per_tx == 21_000
    assert host.builder.full_block(four, 0, 10**12) == min(MAX_TXS_PER_BLOCK, int(rate.per_second * budget))
    # fewer if the block's gas holds fewer of the transactions executed lately
    assert host.builder.full_block(four, 0, 100 * 21_000) == 100


def _fill_pool(backend: Backend, account: Any, count: int) -> None:
    """``count`` transfers from ``account`` into ``backend``'s pool, nonces 0 up."""
    from eth.vm.forks.prague.transactions import PragueTransactionBuilder

    for nonce in range(count):
        raw = account.sign_transaction({
            "chainId": 1337, "nonce": nonce, "to": "0x" + "22" * 20, "value": 1, "gas": 21_000,
            "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "type": 2}).raw_transaction
        backend.pool.add(PragueTransactionBuilder.decode(raw), backend.head_accounts(), encoded_size=len(raw))


@pytest.mark.parametrize("propose, included", [(0.0, 0), (TESTNET_TIMEOUTS.propose, 60)])
def test_a_networks_block_ends_when_its_execution_budget_does(tmp_path, chain, dev_accounts, propose, included):
    """With other validators, a block holds what its proposer executes within the budget the
    propose timeout allows, however few the rate timed so far promised (the first block of a
    flood was held to the assumed INITIAL_TX_RATE): with no time, none; with a testnet's, all
    60 at a timed rate of 20/s. What the budget leaves out stays in the pool, unexecuted."""
    timeouts = dataclasses.replace(TESTNET_TIMEOUTS, propose=propose)
    host = _host(chain, None, IntervalPolicy(1.0), timeouts=timeouts)
    host.writer.execution_rate.per_second = 20.0
    backend = host.backend
    _fill_pool(backend, dev_accounts[2], 60)
    four = type("FourValidators", (), {"validators": (1, 2, 3, 4)})()
    candidate = trio.run(host.builder.build, 0, four, b"\x01" * 20)
    assert len(candidate.block.transactions) == included
    assert len(candidate.pending.result.deferred) == 60 - included and not candidate.pending.result.rejected
    assert len(backend.pool.select(backend.next_base_fee())) == 60
    candidate.pending.writes.discard()


def test_a_build_times_the_transactions_it_executed_not_those_the_gas_limit_deferred(tmp_path, dev_accounts):
    """A proposer selects its cap's worth from the pool and the block gas limit defers the
    rest unexecuted: the rate it caps the next blocks with counts the included ones. Counting
    the selection made a flood's 882-transfer blocks time as 1,056 and the cap grow with it."""
    genesis = dev_genesis(dev_accounts, chain_id=1337, balance_wei=10**24,
                          validator=to_canonical_address(dev_accounts[0].address))
    genesis["timestamp"] = hex(int(time.time()) - 100)
    genesis["gasLimit"] = hex(30 * 21_000 + 10_000)     # 30 transfers fit
    chain = Chain(LevelDB(tmp_path / "db"), Genesis.from_json(genesis))
    try:
        host = _host(chain, None, IntervalPolicy(1.0), timeouts=TESTNET_TIMEOUTS)
        backend = host.backend
        _fill_pool(backend, dev_accounts[2], 60)
        candidate = trio.run(host.builder.build, 0, host.validator_sets.for_height(1), b"\x01" * 20)
        elapsed = next(sample.value for metric in backend.timings.block_execution.collect()
                       for sample in metric.samples if sample.name.endswith("_sum"))
        assert len(candidate.block.transactions) == 30 and len(candidate.pending.result.deferred) == 30
        assert host.writer.execution_rate.per_second == pytest.approx(30 / elapsed)
        candidate.pending.writes.discard()
    finally:
        chain.db.close()


@pytest.mark.parametrize("decided_by", ["precommits", "block gossip"])
def test_a_block_decided_while_its_validation_runs_is_executed_once(four_validators, decided_by):
    """A slow validator still executing a proposal when the others' committed block arrives by
    gossip waits for that execution and commits it: it executed the same block a second time
    beside the first (on a loaded testnet a fifth of a validator's execution, and the slowest
    validator slower still). The others' precommits alone wait for the validation in the
    engine, and must go on doing so. Either way it then precommits the decided block late: a
    validator that committed by gossip without voting left the next proposer waiting its
    whole commit timeout for its signature."""
    chain, signers, block, proposer_address = (four_validators.chain, four_validators.signers,
                                               four_validators.block, four_validators.proposer)
    slow = next(address for address in signers if address != proposer_address)
    others = [address for address in signers if address != slow]
    release = trio.Event()
    executions: list[str] = []
    outbox = _RecordingOutbox()

    async def offload(fn: Any, *args: Any) -> Any:
        # the validation's execution is held until the block is decided
        name = getattr(fn, "__name__", "")
        if name in ("_execute", "_execute_and_persist"):
            executions.append(name)
            if len(executions) == 1:
                await release.wait()
        return fn(*args)

    backend = Backend(chain)
    host = build_consensus_host(backend, signer=GuardedSigner(signers[slow], MemorySignRecordStore()),
                                domain=consensus_domain(chain), validator_sets=ValidatorSetStore(chain),
                                timeouts=TESTNET_TIMEOUTS, policy=IntervalPolicy(0.0), outbox=outbox,
                                offload=offload)
    signed_proposal = signers[proposer_address].sign_proposal(Proposal(1, 0, block.hash, -1))
    precommits = [signers[a].sign_vote(Vote(VoteType.PRECOMMIT, 1, 0, block.hash)) for a in others]

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.run)
            assert host.receive_proposal_block(ProposalMessage(signed_proposal, rlp.encode(block), b"")) is None
            await host.feed(ProposalReceived(signed_proposal))
            while not executions:     # the validation has started its execution
                await trio.sleep(0.01)
            if decided_by == "precommits":
                for signed in precommits:
                    await host.feed(VoteReceived(signed))
                await trio.sleep(0.5)   # the engine decides and commits meanwhile
                release.set()
            else:
                certificate = build_commit_certificate(1, 0, block.hash, precommits)
                async with trio.open_nursery() as gossip:
                    gossip.start_soon(host.import_committed_block, block, certificate, None)
                    await trio.sleep(0.5)
                    release.set()
            with trio.fail_after(TESTNET_TIMEOUTS.propose / 2):
                await host.wait_for_height(1)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert chain.head.hash == block.hash
    assert executions == ["_execute"]
    # decided without its vote either way, it precommits late: all four sign the commit
    assert [(v.validator, v.vote.vote_type) for v in outbox.votes if v.validator == slow] == \
        [(slow, VoteType.PRECOMMIT)]
    assert sorted(v for v, _ in CommitCertificate.decode(chain.commit_of(block.hash)).signatures) == sorted(signers)


@pytest.mark.parametrize("late_after", [0.3, None])
def test_the_next_proposer_stops_waiting_for_late_precommits_when_the_last_one_joins(four_validators, late_after):
    """Before building on a head committed with three of four signatures, the proposer waits
    until the commit timeout for the fourth: it builds the moment that precommit joins the
    head's commit, not at its next look, and at the deadline if it never comes."""
    chain, signers, block, proposer_address = (four_validators.chain, four_validators.signers,
                                               four_validators.block, four_validators.proposer)
    absent = next(address for address in signers if address != proposer_address)
    host = build_consensus_host(Backend(chain), signer=None, domain=consensus_domain(chain),
                                validator_sets=ValidatorSetStore(chain), timeouts=TESTNET_TIMEOUTS,
                                policy=IntervalPolicy(0.0), offload=run_in_loop)
    signed_proposal = signers[proposer_address].sign_proposal(Proposal(1, 0, block.hash, -1))
    waited: list[float] = []

    async def main(late_after: float | None) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.run)
            assert host.receive_proposal_block(ProposalMessage(signed_proposal, rlp.encode(block), b"")) is None
            await host.feed(ProposalReceived(signed_proposal))
            for address in signers:
                if address != absent:
                    await host.feed(VoteReceived(signers[address].sign_vote(Vote(VoteType.PRECOMMIT, 1, 0, block.hash))))
            await host.wait_for_height(1)
            start = trio.current_time()
            if late_after is not None:
                async def late() -> None:
                    await trio.sleep(late_after)
                    await host.feed(VoteReceived(signers[absent].sign_vote(Vote(VoteType.PRECOMMIT, 1, 0, block.hash))))
                nursery.start_soon(late)
            await host._collect_late_precommits()
            waited.append(trio.current_time() - start)
            nursery.cancel_scope.cancel()

    trio.run(main, late_after, clock=trio.testing.MockClock(autojump_threshold=0))
    signatures = len(CommitCertificate.decode(chain.commit_of(block.hash)).signatures)
    if late_after is None:
        assert waited[0] == pytest.approx(TESTNET_TIMEOUTS.commit, abs=1e-6) and signatures == 3
    else:
        assert waited[0] == pytest.approx(late_after, abs=1e-6) and signatures == 4


def _executions(backend: Backend) -> dict[str, float]:
    """How many blocks each path executed (``azora_block_execution_seconds_count`` by path)."""
    return {sample.labels["path"]: sample.value for metric in backend.timings.block_execution.collect()
            for sample in metric.samples if sample.name.endswith("_count")}


@pytest.mark.parametrize("pool_before, pool_after, prepare_fails, full_by_gas",
                         [(60, 0, False, False), (20, 10, False, False), (60, 0, True, False), (60, 0, False, True)])
def test_the_next_proposer_prepares_its_block_while_the_current_one_is_voted_on(
        tmp_path, four_validators, dev_accounts, pool_before, pool_after, prepare_fails, full_by_gas):
    """The proposer of height 2 validates height 1's proposal and, its pool holding a full
    block more, builds block 2 on it at once; committed, it proposes that block stamped with
    the commit's mixHash and signer bitmap, executing nothing more, and another node imports
    it. A pool short of a full block is not prepared: what arrives until the height starts
    goes in (preparing it then left that out for a block interval). A preparation that fails
    costs a build at the height's start, never the node. A pool that fills the block's gas
    (at the gas transactions used lately) is full however fast this node executes: the last
    block of a flood was built when its height started."""
    from eth.vm.forks.prague.transactions import PragueTransactionBuilder

    from consensus.block_rules import compute_mix_hash, compute_next_validator_set
    from node.rewards import block_extra_data

    chain, signers, block, proposer_address = (four_validators.chain, four_validators.signers,
                                               four_validators.block, four_validators.proposer)
    sets = ValidatorSetStore(chain)
    next_proposer = compute_proposer(compute_next_validator_set(sets.for_height(1), 1, sets.epoch_length), 0)
    outbox = _RecordingOutbox()
    backend = Backend(chain)

    async def offload(fn: Any, *args: Any) -> Any:
        if prepare_fails and "prepare" in getattr(fn, "__qualname__", ""):
            raise RuntimeError("a worker thread failed")
        return fn(*args)

    host = build_consensus_host(backend, signer=GuardedSigner(signers[next_proposer], MemorySignRecordStore()),
                                domain=consensus_domain(chain), validator_sets=sets, timeouts=TESTNET_TIMEOUTS,
                                policy=IntervalPolicy(0.0), outbox=outbox, offload=offload)
    host.writer.execution_rate.per_second = 20.0     # a full block: MIN_TXS_PER_BLOCK (50) transactions
    if full_by_gas:   # the budget holds thousands; the gas limit 55 of what blocks used lately
        host.writer.execution_rate.per_second = 10_000.0
        host.writer.execution_rate.gas_per_tx = chain.head.gas_limit / 55
    sender = next(a for a in dev_accounts[4:] if to_canonical_address(a.address) not in signers)

    def admit(nonces: range) -> None:
        for nonce in nonces:
            raw = sender.sign_transaction({
                "chainId": 1337, "nonce": nonce, "to": "0x" + "33" * 20, "value": 1, "gas": 21_000,
                "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "type": 2}).raw_transaction
            backend.pool.add(PragueTransactionBuilder.decode(raw), backend.head_accounts(), encoded_size=len(raw))

    signed_proposal = signers[proposer_address].sign_proposal(Proposal(1, 0, block.hash, -1))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            admit(range(pool_before))
            await nursery.start(host.run)
            assert host.receive_proposal_block(ProposalMessage(signed_proposal, rlp.encode(block), b"")) is None
            await host.feed(ProposalReceived(signed_proposal))
            await trio.sleep(0.1)            # validated (and prepared) meanwhile
            admit(range(pool_before, pool_before + pool_after))
            for address in signers:
                if address != next_proposer:
                    await host.feed(VoteReceived(signers[address].sign_vote(Vote(VoteType.PRECOMMIT, 1, 0, block.hash))))
            with trio.fail_after(TESTNET_TIMEOUTS.propose / 2):
                while not outbox.proposals:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    proposed = rlp.decode(outbox.proposals[0].block, sedes=type(block))
    certificate = CommitCertificate.decode(chain.commit_of(block.hash))
    assert len(certificate.signatures) == 4
    assert proposed.header.parent_hash == block.hash
    assert proposed.header.mix_hash == compute_mix_hash(certificate)
    assert proposed.header.extra_data == block_extra_data(sets, 1, certificate)
    executions = _executions(backend)
    if prepare_fails:
        assert len(proposed.transactions) == 60
        assert "prepare" not in executions and executions.get("build") == 1
    elif pool_after == 0:
        # the execution budget, not the timed rate, ends the prepared block: all 60 are in
        assert len(proposed.transactions) == 60
        assert executions.get("prepare") == 1 and "build" not in executions
    else:
        assert len(proposed.transactions) == pool_before + pool_after
        assert "prepare" not in executions and executions.get("build") == 1
    other = Chain(LevelDB(tmp_path / "other"), chain.genesis)
    try:
        other.import_block(block)
        other.import_block(proposed)
        assert other.head.hash == proposed.hash
    finally:
        other.db.close()


def test_only_the_next_proposer_validates_on_the_critical_path(four_validators):
    """Of the validators that execute height 1's proposal, the proposer of height 2 does it
    through ``offload`` (the block it prepares next waits on it); the others, whose votes are
    two of several the commit needs, through ``offload_aside`` (a lower-priority thread in the
    node: sharing a machine, they took two thirds of the cores from the next proposer)."""
    from consensus.block_rules import compute_next_validator_set

    chain, signers, block, proposer_address = (four_validators.chain, four_validators.signers,
                                               four_validators.block, four_validators.proposer)
    sets = ValidatorSetStore(chain)
    next_proposer = compute_proposer(compute_next_validator_set(sets.for_height(1), 1, sets.epoch_length), 0)
    signed_proposal = signers[proposer_address].sign_proposal(Proposal(1, 0, block.hash, -1))
    paths: dict[bytes, list[str]] = {}
    for address in signers:
        if address == proposer_address:
            continue
        taken = paths[address] = []

        def recording(path: str, taken: list[str] = taken) -> Any:
            async def offload(fn: Any, *args: Any) -> Any:
                if "_execute" in getattr(fn, "__qualname__", ""):
                    taken.append(path)
                return fn(*args)
            return offload

        host = build_consensus_host(Backend(chain), signer=GuardedSigner(signers[address], MemorySignRecordStore()),
                                    domain=consensus_domain(chain), validator_sets=sets, timeouts=TESTNET_TIMEOUTS,
                                    policy=IntervalPolicy(0.0), outbox=_RecordingOutbox(),
                                    offload=recording("offload"), offload_aside=recording("aside"))

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(host.run)
                assert host.receive_proposal_block(ProposalMessage(signed_proposal, rlp.encode(block), b"")) is None
                await host.feed(ProposalReceived(signed_proposal))
                await trio.sleep(0.1)
                nursery.cancel_scope.cancel()

        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert paths == {address: ["offload" if address == next_proposer else "aside"] for address in paths}
    assert next_proposer in paths and len(paths) == 3


def _transfers(account: Any, count: int, start: int = 0) -> list[bytes]:
    return [bytes(account.sign_transaction({
        "chainId": 1337, "nonce": nonce, "to": "0x" + "22" * 20, "value": 1, "gas": 21_000,
        "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "type": 2}).raw_transaction)
        for nonce in range(start, start + count)]


@pytest.mark.parametrize("change", [None, "drop", "replace", "coinbase", "time"])
def test_interval_mining_fills_the_next_block_before_its_tick(chain, dev_accounts, change):
    """``azora dev --block-time 1``: transactions are executed into the next block as they
    arrive, and the tick only adds what came last and seals it (one block a second left the
    node idle while it waited for the tick). The block is stamped with its tick's due time,
    known in advance. If what the block was filled for changes before the tick (a transaction
    dropped or replaced in the pool, another coinbase, the clock moved), it is built afresh:
    either way it holds what the pool holds at the tick."""
    policy = DevPolicy(1.0)
    host = _host(chain, GuardedSigner(_signer(chain, dev_accounts), MemorySignRecordStore()), policy)
    backend = host.backend
    alice, bob = dev_accounts[1], dev_accounts[2]
    early, late = _transfers(alice, 5), _transfers(bob, 2)

    def send(raws: list[bytes]) -> None:
        for raw in raws:
            backend.submit(backend.decode_transaction(raw), len(raw))

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.run)
            await trio.sleep(0.2)
            send(early)
            await trio.sleep(0.3)          # filled: the 5 executed before the tick
            if change == "drop":
                assert backend.pool.drop(backend.decode_transaction(early[4]).hash)
            elif change == "replace":
                send([bytes(alice.sign_transaction({
                    "chainId": 1337, "nonce": 4, "to": "0x" + "33" * 20, "value": 2, "gas": 21_000,
                    "maxFeePerGas": 2 * 10**11, "maxPriorityFeePerGas": 2 * 10**9, "type": 2}).raw_transaction)])
            elif change == "coinbase":
                policy.coinbase = b"\x44" * 20
            elif change == "time":
                policy.time_offset += 100
            send(late)                     # after the last fill: added at the tick
            await host.wait_for_height(1)
            nursery.cancel_scope.cancel()

    started = time.time()
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    block = chain.block_of(chain.head)
    executions = _executions(backend)
    if change is None:
        assert executions == {"seal": 1}
    else:
        assert executions == {"build": 1}
    hashes = [tx.hash for tx in block.transactions]
    assert set(hashes) >= {backend.decode_transaction(raw).hash for raw in early[:4] + late}
    assert len(hashes) == (6 if change == "drop" else 7)
    if change is None:      # in the order they came
        assert hashes == [backend.decode_transaction(raw).hash for raw in early + late]
    if change == "replace":
        assert [tx.to for tx in block.transactions if tx.nonce == 4] == [b"\x33" * 20]
    assert block.header.coinbase == (b"\x44" * 20 if change == "coinbase" else host.address)
    # the tick was due 1 s (virtual) after the cadence started, a few (real) ms after `started`
    due = block.header.timestamp - (100 if change == "time" else 0)
    assert due in (int(started + 1), int(started + 1) + 1)


def test_a_block_that_cannot_be_filled_ahead_is_built_at_its_tick(chain, dev_accounts, caplog):
    """Filling ahead is an optimisation: if it fails, the node says so and the tick builds the
    block from the pool as before (it must not take the producer down)."""
    policy = DevPolicy(1.0)
    host = _host(chain, GuardedSigner(_signer(chain, dev_accounts), MemorySignRecordStore()), policy)
    backend = host.backend

    def broken(_coinbase: bytes) -> Any:
        raise RuntimeError("no block today")

    host.builder._open_next = broken      # type: ignore[method-assign]

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.run)
            await trio.sleep(0.2)
            for raw in _transfers(dev_accounts[1], 3):
                backend.submit(backend.decode_transaction(raw), len(raw))
            await host.wait_for_height(1)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert len(chain.block_of(chain.head).transactions) == 3 and _executions(backend) == {"build": 1}
    assert "could not fill block #1 ahead of its tick" in caplog.text
