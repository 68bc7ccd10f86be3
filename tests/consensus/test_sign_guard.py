"""Never double-sign: the pure rule, the durable store, and a kill at every step."""
from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_utils import keccak

from consensus.driver import Driver, RestoredLock
from consensus.events import (
    BlockValidated, Commit, ProposalReceived, ProposalSigned, RequestBlock, SignProposal, SignVote, ValidateBlock,
    ValueProposed, VoteReceived, VoteSigned,
)
from consensus.sign_guard import (
    FileSignRecordStore, GuardedSigner, LastSignRecord, MemorySignRecordStore, SignRefused, SignRequest,
    check_can_sign, may_sign_decided_precommit, next_record, record_from_json, record_to_json, restored_lock,
)
from consensus.signing import LocalSigner, SigningDomain
from consensus.types import Proposal, SignedProposal, SignedVote, Step, Vote, VoteType
from consensus.validator_set import new_validator_set

DOMAIN = SigningDomain(9, b"\x33" * 20)
KEY = keccak(b"guard")
V, W = keccak(b"v"), keccak(b"w")


def request(height: int, round: int, step: Step, block_hash: bytes | None = V, digest: bytes | None = None) -> SignRequest:
    return SignRequest(height, round, step, block_hash, digest or keccak(repr((height, round, step, block_hash)).encode()))


LAST = next_record(None, request(5, 2, Step.PREVOTE))


@dataclass(frozen=True)
class Case:
    description: str
    request: SignRequest
    ok: bool


CASES = [
    Case("first signature ever", request(1, 0, Step.PROPOSE), True),
    Case("later step of the same round", request(5, 2, Step.PRECOMMIT), True),
    Case("later round", request(5, 3, Step.PROPOSE), True),
    Case("later height, round 0", request(6, 0, Step.PREVOTE), True),
    Case("identical message again (re-sign after restart)", request(5, 2, Step.PREVOTE), True),
    Case("same height/round/step, other block: conflict", request(5, 2, Step.PREVOTE, W), False),
    Case("same height/round/step, nil instead of block: conflict", request(5, 2, Step.PREVOTE, None), False),
    Case("earlier step of the same round", request(5, 2, Step.PROPOSE), False),
    Case("earlier round", request(5, 1, Step.PRECOMMIT), False),
    Case("earlier height", request(4, 9, Step.PRECOMMIT), False),
]


@pytest.mark.parametrize("case", CASES, ids=[c.description for c in CASES])
def test_check_can_sign(case: Case) -> None:
    last = None if case.description == "first signature ever" else LAST
    assert check_can_sign(last, case.request).ok is case.ok


@pytest.mark.parametrize("last, ok", [
    (None, True),
    (next_record(None, request(4, 0, Step.PRECOMMIT)), True),       # nothing at height 5 yet
    (next_record(None, request(5, 1, Step.PRECOMMIT, None)), True),  # an earlier round's nil
    (LAST, True),                                                    # its prevote of round 2
    (next_record(None, request(5, 2, Step.PRECOMMIT, None)), False),  # it precommitted nil there
    (next_record(None, request(5, 2, Step.PRECOMMIT)), False),       # its precommit is out already
    (next_record(None, request(5, 3, Step.PROPOSE)), False),         # it moved to a later round
    (next_record(None, request(6, 0, Step.PREVOTE)), False),         # or height
])
def test_a_block_decided_at_round_2_of_height_5_may_get_a_precommit_only_if_none_was_signed_from_there(last, ok) -> None:
    assert may_sign_decided_precommit(last, 5, 2) is ok


def test_record_tracks_the_lock_within_a_height_and_resets_on_a_new_one() -> None:
    record = next_record(None, request(5, 0, Step.PRECOMMIT, V))
    assert (record.locked_round, record.locked_value) == (0, V)
    record = next_record(record, request(5, 1, Step.PREVOTE, None))
    assert (record.locked_round, record.locked_value) == (0, V)
    record = next_record(record, request(5, 1, Step.PRECOMMIT, None))  # a nil precommit does not unlock
    assert (record.locked_round, record.locked_value) == (0, V)
    record = next_record(record, request(5, 2, Step.PRECOMMIT, W))
    assert (record.locked_round, record.locked_value) == (2, W)
    assert restored_lock(record, 5) == RestoredLock(2, 2, W)
    assert restored_lock(record, 6) == RestoredLock()
    record = next_record(record, request(6, 0, Step.PREVOTE, W))
    assert (record.locked_round, record.locked_value) == (-1, None)


def test_record_json_round_trip() -> None:
    record = LastSignRecord(3, 1, Step.PRECOMMIT, None, keccak(b"d"), 0, V, (b"\x02abc",))
    assert record_from_json(record_to_json(record)) == record


def test_file_store_persists_across_instances(tmp_path: Path) -> None:
    store = FileSignRecordStore(tmp_path / "sign" / "last_sign.json")
    assert store.load() is None
    store.save(LAST)
    assert FileSignRecordStore(tmp_path / "sign" / "last_sign.json").load() == LAST


def test_crash_during_save_keeps_the_old_record_and_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "last_sign.json"
    store = FileSignRecordStore(path)
    store.save(LAST)

    def crash(*args: object) -> None:
        raise OSError("power cut before rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.save(next_record(LAST, request(5, 3, Step.PREVOTE)))
    monkeypatch.undo()
    assert FileSignRecordStore(path).load() == LAST
    assert [p.name for p in tmp_path.iterdir()] == ["last_sign.json"]


def test_guarded_signer_refuses_conflicts_and_allows_identical_re_signing() -> None:
    store = MemorySignRecordStore()
    guard = GuardedSigner(LocalSigner(KEY, DOMAIN), store)
    first = guard.sign_vote(Vote(VoteType.PREVOTE, 5, 0, V))
    assert guard.sign_vote(Vote(VoteType.PREVOTE, 5, 0, V)) == first
    with pytest.raises(SignRefused):
        guard.sign_vote(Vote(VoteType.PREVOTE, 5, 0, W))
    restarted = GuardedSigner(LocalSigner(KEY, DOMAIN), store)
    with pytest.raises(SignRefused):
        restarted.sign_vote(Vote(VoteType.PREVOTE, 5, 0, None))
    assert restarted.restored_messages(5) == [first]


def test_guarded_signer_does_not_save_when_refusing() -> None:
    store = MemorySignRecordStore()
    guard = GuardedSigner(LocalSigner(KEY, DOMAIN), store)
    guard.sign_proposal(Proposal(5, 0, V, -1))
    saved = store.load()
    with pytest.raises(SignRefused):
        guard.sign_proposal(Proposal(5, 0, W, -1))
    assert store.load() == saved


# ----- kill and restart at every step -----------------------------------------------------------

HEIGHTS = 3
SIGNER = LocalSigner(KEY, DOMAIN)
VSET = new_validator_set([(SIGNER.address, 1)])


class Crash(Exception):
    pass


@dataclass
class Disk:
    """What survives a kill: the chain and the last-sign file."""

    path: Path
    chain: list[bytes]


def run_validator(disk: Disk, incarnation: int, crash_at: int | None, released: list[SignedVote | SignedProposal],
                  refusals: list[str]) -> None:
    """One process lifetime of a lone validator; raises Crash after ``crash_at`` steps."""
    guard = GuardedSigner(SIGNER, FileSignRecordStore(disk.path))
    driver = Driver(SIGNER.address, DOMAIN)
    steps = 0
    pending: deque[object] = deque()

    def start_height() -> None:
        height = len(disk.chain) + 1
        pending.extend(driver.start_height(height, VSET, guard.restored_lock(height)))
        for message in guard.restored_messages(height):
            inp = ProposalReceived(message) if isinstance(message, SignedProposal) else VoteReceived(message)
            pending.append(inp)

    start_height()
    while len(disk.chain) < HEIGHTS:
        assert pending, "the validator stalled"
        item = pending.popleft()
        steps += 1
        if crash_at is not None and steps > crash_at:
            raise Crash()
        if isinstance(item, (ProposalReceived, VoteReceived, VoteSigned, ProposalSigned, ValueProposed, BlockValidated)):
            pending.extend(driver.apply(item))
        elif isinstance(item, SignVote):
            try:
                signed = guard.sign_vote(item.vote)
            except SignRefused as refusal:
                refusals.append(str(refusal))
                continue
            released.append(signed)  # durable in the record: count it as out in the world
            pending.append(VoteSigned(signed))
        elif isinstance(item, SignProposal):
            try:
                signed_proposal = guard.sign_proposal(item.proposal)
            except SignRefused as refusal:
                refusals.append(str(refusal))
                continue
            released.append(signed_proposal)
            pending.append(ProposalSigned(signed_proposal))
        elif isinstance(item, RequestBlock):
            # Block building is not deterministic across restarts (new timestamp, new mempool).
            block = keccak(b"block" + bytes([item.height, item.round, incarnation]))
            pending.append(ValueProposed(item.height, item.round, block))
        elif isinstance(item, ValidateBlock):
            pending.append(BlockValidated(item.height, item.block_hash, True))
        elif isinstance(item, Commit):
            disk.chain.append(item.certificate.block_hash)
            if len(disk.chain) < HEIGHTS:
                start_height()


def conflicts(released: list[SignedVote | SignedProposal]) -> list[tuple[int, int, int]]:
    by_step: dict[tuple[int, int, int], set[bytes]] = {}
    for message in released:
        if isinstance(message, SignedVote):
            key = (message.vote.height, message.vote.round, int(message.vote.vote_type))
        else:
            key = (message.proposal.height, message.proposal.round, 0)
        by_step.setdefault(key, set()).add(message.encode())
    return [key for key, encodings in by_step.items() if len(encodings) > 1]


def test_kill_and_restart_at_every_step_never_signs_conflicting_messages(tmp_path: Path) -> None:
    clean_released: list[SignedVote | SignedProposal] = []
    run_validator(Disk(tmp_path / "clean.json", []), 0, None, clean_released, [])
    total_steps = 12 * HEIGHTS  # more than a clean run takes; extra crash points just finish cleanly
    any_refusal = False
    for crash_at in range(total_steps):
        disk = Disk(tmp_path / f"crash{crash_at}.json", [])
        released: list[SignedVote | SignedProposal] = []
        refusals: list[str] = []
        for incarnation in range(2):
            try:
                run_validator(disk, incarnation, crash_at if incarnation == 0 else None, released, refusals)
            except Crash:
                continue
            break
        assert len(disk.chain) == HEIGHTS, f"crash at step {crash_at}: no liveness after restart"
        assert conflicts(released) == [], f"crash at step {crash_at}: double sign"
        any_refusal = any_refusal or bool(refusals)
    # Restarted proposers build a different block for the same round; the guard must have refused.
    assert any_refusal
