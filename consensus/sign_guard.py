"""Never double-sign: the last-sign record, the pure rule over it, and a durable store.

Before a validator signs anything it checks the new message against the record of the last
message it signed and durably replaces the record; only then does the signature leave.

Rules (``check_can_sign``), with messages ordered by (height, round, step) and proposals at the
propose step before prevotes before precommits:
* a message after the last one may be signed;
* the same (height, round, step) may be signed again only with identical content (the same
  EIP-712 digest; RFC 6979 signatures are deterministic, so it is the same signature);
* a message before the last one is refused: it could conflict with something already signed.

The record also carries, for the height it is at, the validator's lock (its last non-nil
precommit) and the messages it signed (a small write-ahead log of its own signatures). A
restarted validator resumes the record's round with its lock (``restored_lock``) and feeds its
own messages back (``restored_messages``): the lock keeps it from voting against a block it may
have helped commit; the messages let it re-sign identical content and give back its own
proof-of-lock votes (a lone dev validator would otherwise be locked on a value it can no longer
prove, and stall).
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
from consensus.types import LastSignRecord, Proposal, SignedProposal, SignedVote, Step, Vote


# Own signed messages kept per height: rounds past this many messages are rare, and the lock
# fields carry what safety needs even when old messages are dropped.
MAX_RECORDED_MESSAGES = 64
_PROPOSAL_TAG, _VOTE_TAG = b"\x01", b"\x02"


def encode_signed_message(message: SignedProposal | SignedVote) -> bytes:
    """A signed message tagged with its kind (0x01 proposal, 0x02 vote) before its RLP."""
    tag = _PROPOSAL_TAG if isinstance(message, SignedProposal) else _VOTE_TAG
    return tag + message.encode()


def decode_signed_message(data: bytes) -> SignedProposal | SignedVote:
    if data[:1] == _PROPOSAL_TAG:
        return SignedProposal.decode(data[1:])
    return SignedVote.decode(data[1:])


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


def may_sign_decided_precommit(last: LastSignRecord | None, height: int, round: int) -> bool:
    """May a validator that saw (``height``, ``round``) decided by the others' precommits,
    before it precommitted there itself, now sign its precommit for the decided block?

    Only if it has signed nothing at or past that round's precommit step: a precommit there
    (nil, or the block again) is its vote already, and a later round's message means it moved
    on. Precommitting a block already decided at that round cannot help commit anything else.
    """
    return last is None or (last.height, last.round, int(last.step)) < (height, round, int(Step.PRECOMMIT))


def next_record(last: LastSignRecord | None, request: SignRequest, signed: bytes = b"") -> LastSignRecord:
    """The record after signing ``request`` (``signed``: its tagged encoding, kept for replay).

    A non-nil precommit moves the lock (paper L38-L39); a new height starts a fresh lock and log.
    """
    locked_round: int = -1
    locked_value: bytes | None = None
    messages: tuple[bytes, ...] = ()
    if last is not None and last.height == request.height:
        locked_round, locked_value, messages = last.locked_round, last.locked_value, last.messages
    if request.step == Step.PRECOMMIT and request.block_hash is not None:
        locked_round, locked_value = request.round, request.block_hash
    if signed and signed not in messages:
        messages = (messages + (signed,))[-MAX_RECORDED_MESSAGES:]
    return LastSignRecord(request.height, request.round, request.step, request.block_hash, request.digest,
                          locked_round, locked_value, messages)


def restored_lock(record: LastSignRecord | None, height: int) -> RestoredLock:
    """Where a restarted validator resumes ``height``: the record's round and lock, if it is that height."""
    if record is None or record.height != height:
        return RestoredLock()
    return RestoredLock(record.round, record.locked_round, record.locked_value)


def restored_messages(record: LastSignRecord | None, height: int) -> list[SignedProposal | SignedVote]:
    """The validator's own signed messages of ``height``, to feed back after a restart."""
    if record is None or record.height != height:
        return []
    return [decode_signed_message(m) for m in record.messages]


# ----- storage ---------------------------------------------------------------------------------


def record_to_json(record: LastSignRecord) -> str:
    return json.dumps({
        "height": record.height, "round": record.round, "step": int(record.step),
        "blockHash": record.block_hash.hex() if record.block_hash else None, "digest": record.digest.hex(),
        "lockedRound": record.locked_round,
        "lockedValue": record.locked_value.hex() if record.locked_value else None,
        "messages": [m.hex() for m in record.messages],
    }, sort_keys=True)


def record_from_json(text: str) -> LastSignRecord:
    data = json.loads(text)
    return LastSignRecord(
        int(data["height"]), int(data["round"]), Step(int(data["step"])),
        bytes.fromhex(data["blockHash"]) if data["blockHash"] else None, bytes.fromhex(data["digest"]),
        int(data["lockedRound"]), bytes.fromhex(data["lockedValue"]) if data["lockedValue"] else None,
        tuple(bytes.fromhex(m) for m in data.get("messages", ())))


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
    """A signer behind the last-sign record: check, sign, persist the new record, then release.

    The signature exists in memory before the record is saved but leaves only afterwards, so a
    crash at any point cannot lose the record of a signature someone else may hold.

    ``signer`` is anything with ``domain``, ``sign_vote`` and ``sign_proposal`` (``LocalSigner``);
    ``store`` anything with ``load`` and ``save``. Refusals raise ``SignRefused``.
    """

    def __init__(self, signer: SignerAPI, store: SignRecordStoreAPI) -> None:
        self.signer = signer
        self.store = store
        self.address: bytes = signer.address
        self.last: LastSignRecord | None = store.load()

    def sign_vote(self, vote: Vote) -> SignedVote:
        request = vote_sign_request(self.signer.domain, vote)
        self._check(request)
        signed = self.signer.sign_vote(vote)
        self._record(request, signed)
        return signed

    def sign_proposal(self, proposal: Proposal) -> SignedProposal:
        request = proposal_sign_request(self.signer.domain, proposal)
        self._check(request)
        signed = self.signer.sign_proposal(proposal)
        self._record(request, signed)
        return signed

    def _check(self, request: SignRequest) -> None:
        decision = check_can_sign(self.last, request)
        if not decision.ok:
            raise SignRefused(decision.reason)

    def _record(self, request: SignRequest, signed: SignedProposal | SignedVote) -> None:
        record = next_record(self.last, request, encode_signed_message(signed))
        if record != self.last:
            self.store.save(record)  # durable before the signature is returned
            self.last = record

    def restored_lock(self, height: int) -> RestoredLock:
        return restored_lock(self.last, height)

    def restored_messages(self, height: int) -> list[SignedProposal | SignedVote]:
        return restored_messages(self.last, height)


__all__ = [
    "LastSignRecord", "SignRequest", "SignDecision", "check_can_sign", "next_record", "restored_lock",
    "restored_messages", "encode_signed_message", "decode_signed_message",
    "vote_sign_request", "proposal_sign_request", "MemorySignRecordStore", "FileSignRecordStore",
    "GuardedSigner", "SignRefused", "record_to_json", "record_from_json",
]
