"""Never double-sign: the last-sign record, the pure rule over it, and a durable store.

Before a validator signs anything it checks the new message against the record of the last
message it signed and durably replaces the record; only then does the signature leave.

Rules (``check_can_sign``), with messages ordered by (height, round, step) and proposals at the
propose step before prevotes before precommits:
* a message after the last one may be signed;
* the same (height, round, step) may be signed again only with identical content (the same
  EIP-712 digest; RFC 6979 signatures are deterministic, so it is the same signature);
* a message before the last one is refused: it could conflict with something already signed.

The record also carries the validator's lock (the last non-nil precommit of the height): a
restarted validator reloads it (``restored_lock``) so it cannot be made to vote against a
block it may have helped commit.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from consensus.driver import RestoredLock
from consensus.signing import SigningDomain, compute_proposal_digest, compute_vote_digest
from consensus.abc import SignerAPI, SignRecordStoreAPI
from consensus.types import Proposal, SignedProposal, SignedVote, Step, Vote


@dataclass(frozen=True)
class LastSignRecord:
    """The last message signed: its (height, round, step), block hash, digest, and the lock."""

    height: int
    round: int
    step: Step
    block_hash: bytes | None
    digest: bytes
    locked_round: int = -1
    locked_value: bytes | None = None


@dataclass(frozen=True)
class SignRequest:
    """A message about to be signed, reduced to what the guard compares."""

    height: int
    round: int
    step: Step
    block_hash: bytes | None
    digest: bytes


@dataclass(frozen=True)
class SignDecision:
    ok: bool
    reason: str = ""


def vote_sign_request(domain: SigningDomain, vote: Vote) -> SignRequest:
    return SignRequest(vote.height, vote.round, vote.step, vote.block_hash, compute_vote_digest(domain, vote))


def proposal_sign_request(domain: SigningDomain, proposal: Proposal) -> SignRequest:
    return SignRequest(proposal.height, proposal.round, Step.PROPOSE, proposal.block_hash,
                       compute_proposal_digest(domain, proposal))


def check_can_sign(last: LastSignRecord | None, request: SignRequest) -> SignDecision:
    """May ``request`` be signed after ``last``? Pure; see the module docstring for the rules."""
    if last is None:
        return SignDecision(True)
    new_hrs = (request.height, request.round, int(request.step))
    last_hrs = (last.height, last.round, int(last.step))
    if new_hrs > last_hrs:
        return SignDecision(True)
    if new_hrs == last_hrs:
        if request.digest == last.digest:
            return SignDecision(True, "identical message re-signed")
        return SignDecision(False, f"conflicting message at height {request.height} round {request.round} "
                                   f"step {request.step.name}")
    return SignDecision(False, f"height/round/step {new_hrs} is before the last signed {last_hrs}")


def next_record(last: LastSignRecord | None, request: SignRequest) -> LastSignRecord:
    """The record after signing ``request``; a non-nil precommit moves the lock (paper L38-L39)."""
    locked_round, locked_value = -1, None
    if last is not None and last.height == request.height:
        locked_round, locked_value = last.locked_round, last.locked_value
    if request.step == Step.PRECOMMIT and request.block_hash is not None:
        locked_round, locked_value = request.round, request.block_hash
    return LastSignRecord(request.height, request.round, request.step, request.block_hash, request.digest,
                          locked_round, locked_value)


def restored_lock(record: LastSignRecord | None, height: int) -> RestoredLock:
    """Where a restarted validator resumes ``height``: the record's round and lock, if it is that height."""
    if record is None or record.height != height:
        return RestoredLock()
    return RestoredLock(record.round, record.locked_round, record.locked_value)


# ----- storage ---------------------------------------------------------------------------------


def record_to_json(record: LastSignRecord) -> str:
    return json.dumps({
        "height": record.height, "round": record.round, "step": int(record.step),
        "blockHash": record.block_hash.hex() if record.block_hash else None, "digest": record.digest.hex(),
        "lockedRound": record.locked_round,
        "lockedValue": record.locked_value.hex() if record.locked_value else None,
    }, sort_keys=True)


def record_from_json(text: str) -> LastSignRecord:
    data = json.loads(text)
    return LastSignRecord(
        int(data["height"]), int(data["round"]), Step(int(data["step"])),
        bytes.fromhex(data["blockHash"]) if data["blockHash"] else None, bytes.fromhex(data["digest"]),
        int(data["lockedRound"]), bytes.fromhex(data["lockedValue"]) if data["lockedValue"] else None)


class MemorySignRecordStore:
    """In-memory store for tests and simulations (survives a simulated crash, not a real one)."""

    def __init__(self) -> None:
        self._record: LastSignRecord | None = None

    def load(self) -> LastSignRecord | None:
        return self._record

    def save(self, record: LastSignRecord) -> None:
        self._record = record


class FileSignRecordStore:
    """The record in one JSON file, replaced atomically: temp file, fsync, rename, fsync dir.

    A crash at any instant leaves either the old or the new record on disk, never a torn one.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> LastSignRecord | None:
        try:
            return record_from_json(self.path.read_text())
        except FileNotFoundError:
            return None

    def save(self, record: LastSignRecord) -> None:
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, temp_path = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w") as temp:
                temp.write(record_to_json(record))
                temp.flush()
                os.fsync(temp.fileno())
            os.replace(temp_path, self.path)
        except BaseException:
            if os.path.exists(temp_path):
                os.unlink(temp_path)
            raise
        _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SignRefused(Exception):
    """The guard refused to sign a message that could conflict with one already signed."""


class GuardedSigner:
    """A signer behind the last-sign record: check, persist the new record, then sign.

    ``signer`` is anything with ``domain``, ``sign_vote`` and ``sign_proposal`` (``LocalSigner``);
    ``store`` anything with ``load`` and ``save``. Refusals raise ``SignRefused``.
    """

    def __init__(self, signer: SignerAPI, store: SignRecordStoreAPI) -> None:
        self.signer = signer
        self.store = store
        self.address: bytes = signer.address
        self.last: LastSignRecord | None = store.load()

    def sign_vote(self, vote: Vote) -> SignedVote:
        self._guard(vote_sign_request(self.signer.domain, vote))
        return self.signer.sign_vote(vote)

    def sign_proposal(self, proposal: Proposal) -> SignedProposal:
        self._guard(proposal_sign_request(self.signer.domain, proposal))
        return self.signer.sign_proposal(proposal)

    def _guard(self, request: SignRequest) -> None:
        decision = check_can_sign(self.last, request)
        if not decision.ok:
            raise SignRefused(decision.reason)
        record = next_record(self.last, request)
        if record != self.last:
            # Durable before the signature exists: a crash after this line cannot lose it.
            self.store.save(record)
            self.last = record

    def restored_lock(self, height: int) -> RestoredLock:
        return restored_lock(self.last, height)


__all__ = [
    "LastSignRecord", "SignRequest", "SignDecision", "check_can_sign", "next_record", "restored_lock",
    "vote_sign_request", "proposal_sign_request", "MemorySignRecordStore", "FileSignRecordStore",
    "GuardedSigner", "SignRefused", "record_to_json", "record_from_json",
]
