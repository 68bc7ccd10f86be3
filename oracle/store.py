"""Durable state per statement in the oracle's own LevelDB.

A record moves received -> signed -> quorum -> submitted -> finalized, or to rejected with a
reason; every change is one atomic write batch, so a crash leaves each record at its last
completed step. Keys (all from the functions below):

    r:<statement id>   -> the record (JSON)
    h:<claim key>      -> statement id (the completion's struct hash, shared with the peers)
    p:<learner><course>-> statement id of the live claim for that pair
    a:<statement id>   -> b""  while the record is not in a final state (the worker's to-do list)
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from kernel.db import LevelDB

RECEIVED, SIGNED, QUORUM, SUBMITTED, FINALIZED, REJECTED = (
    "received", "signed", "quorum", "submitted", "finalized", "rejected")
STATES = (RECEIVED, SIGNED, QUORUM, SUBMITTED, FINALIZED, REJECTED)
FINAL_STATES = frozenset({FINALIZED, REJECTED})
MAX_ERRORS = 20


def record_key(statement_id: str) -> bytes:
    return b"r:" + statement_id.encode()


def claim_key_index(claim_key: bytes) -> bytes:
    return b"h:" + claim_key


def pair_index(learner: str, course_id: bytes) -> bytes:
    return b"p:" + bytes.fromhex(learner[2:]) + course_id


def active_key(statement_id: str) -> bytes:
    return b"a:" + statement_id.encode()


ERRORS_KEY = b"e:errors"


@dataclass
class Record:
    """One statement and what the oracle has done with it."""

    statement_id: str
    statement: dict[str, Any]
    state: str
    stored_at: int
    completion: dict[str, Any] | None = None
    claim_key: str | None = None
    signatures: dict[str, str] = field(default_factory=dict)  # signer -> 0x signature
    reason: str | None = None
    quorum_at: float | None = None
    submit_tx: dict[str, Any] | None = None   # {"hash", "raw", "nonce", "sentAt"}: persisted before it is sent
    submitted_by: str | None = None
    submitted_at: int | None = None
    finalize_tx: str | None = None
    window_closed_at: float | None = None   # local time we first saw the challenge window closed
    reward: int | None = None
    credential_id: int | None = None
    challenged_by: str | None = None
    origin: str = "local"   # "local": posted here; "peer": learned from an attestation
    checked_at: float | None = None   # local time its chain check (no claim yet) began
    timeline: dict[str, float] = field(default_factory=dict)   # state -> local time first stored

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Record":
        return cls(**data)


class OracleStore:
    """Records by statement id, with the claim-key and (learner, course) indexes."""

    def __init__(self, path: Path | str) -> None:
        self.db = LevelDB(path)

    def get(self, statement_id: str) -> Record | None:
        raw = self.db.raw.get(record_key(statement_id))
        return Record.from_json(json.loads(raw)) if raw is not None else None

    def by_claim_key(self, claim_key: bytes) -> Record | None:
        statement_id = self.db.raw.get(claim_key_index(claim_key))
        return self.get(statement_id.decode()) if statement_id is not None else None

    def live_claim_for(self, learner: str, course_id: bytes) -> str | None:
        """The statement id holding the (learner, course) pair, if one is live or rewarded."""
        value = self.db.raw.get(pair_index(learner, course_id))
        return value.decode() if value is not None else None

    def put(self, record: Record) -> None:
        """Write `record` and its indexes in one atomic batch."""
        self.put_many([record])

    def put_many(self, records: Iterable[Record]) -> None:
        """Write every record and its indexes in one atomic batch (a POST of many statements
        costs one LevelDB write, and a crash keeps all of them or none)."""
        with self.db.raw.write_batch() as batch:
            for record in records:
                self._write(batch, record)

    def _write(self, batch: Any, record: Record) -> None:
        record.timeline.setdefault(record.state, time.time())
        batch.put(record_key(record.statement_id), json.dumps(record.to_json()).encode())
        if record.claim_key:
            batch.put(claim_key_index(bytes.fromhex(record.claim_key[2:])), record.statement_id.encode())
        if record.completion:
            learner, course_id = record.completion["learner"], bytes.fromhex(record.completion["courseId"][2:])
            if record.state == REJECTED:
                if self.live_claim_for(learner, course_id) == record.statement_id:
                    batch.delete(pair_index(learner, course_id))   # a rejected claim frees the pair
            else:
                batch.put(pair_index(learner, course_id), record.statement_id.encode())
        if record.state in FINAL_STATES:
            batch.delete(active_key(record.statement_id))
        else:
            batch.put(active_key(record.statement_id), b"")

    def active(self) -> Iterator[Record]:
        """Records not yet finalized or rejected, in statement-id order."""
        for key, _ in list(self.db.iterate_prefix(b"a:")):
            record = self.get(key[2:].decode())
            if record is not None:
                yield record

    def all_records(self) -> Iterator[Record]:
        for _, raw in self.db.iterate_prefix(b"r:"):
            yield Record.from_json(json.loads(raw))

    def add_error(self, message: str) -> None:
        errors = self.errors()
        errors.append(message)
        self.db[ERRORS_KEY] = json.dumps(errors[-MAX_ERRORS:]).encode()

    def errors(self) -> list[str]:
        raw = self.db.raw.get(ERRORS_KEY)
        return json.loads(raw) if raw else []

    def counts(self) -> dict[str, int]:
        counts = {state: 0 for state in STATES}
        for record in self.all_records():
            counts[record.state] += 1
        return counts

    def close(self) -> None:
        self.db.close()
