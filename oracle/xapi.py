"""The xAPI subset the oracle accepts, as pure functions: a statement in, a completion out.

A statement is accepted when its verb is completed or passed, `result.success` is true,
`result.score.scaled` is a number in [0, 1] (mapped to basis points), `actor.account.name` is
the learner's 0x address and `object.id` is a course IRI. Failures raise StatementError with
the HTTP status the endpoint answers and a reason a platform developer can act on.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from eth_utils import is_hex_address, keccak, to_checksum_address

XAPI_VERSION = "1.0.3"
ACCEPTED_VERBS = frozenset({
    "http://adlnet.gov/expapi/verbs/completed",
    "http://adlnet.gov/expapi/verbs/passed",
})
AZORA_EXTENSION = "https://azora.africa/xapi/extensions/oracle"
MAX_STATEMENT_BYTES = 64 * 1024


class StatementError(Exception):
    """A statement the oracle refuses: `status` is the HTTP status, the message the reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class ParsedStatement:
    """What the oracle takes from a statement: who completed which course, with what score."""

    statement_id: str
    learner: str
    course_iri: str
    score: int
    completed_at: int

    @property
    def course_id(self) -> bytes:
        return keccak(text=self.course_iri)


def canonical_json(value: Any) -> bytes:
    """One byte string per JSON value: the evidence hash and conflict checks depend on it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_evidence_hash(statement: dict[str, Any]) -> bytes:
    return keccak(canonical_json(statement))


def normalize_statement_id(value: Any) -> str:
    """xAPI statement ids are UUIDs; compared lower-case."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise StatementError(400, f"statement id {value!r} is not a UUID") from None


def complete_statement(statement: Any, statement_id: str | None, now: float) -> dict[str, Any]:
    """The statement as the oracle keeps it: with its id (given or assigned) and a timestamp."""
    if not isinstance(statement, dict):
        raise StatementError(400, "a statement must be a JSON object")
    out = dict(statement)
    given = out.get("id")
    if given is not None:
        given = normalize_statement_id(given)
        if statement_id is not None and given != statement_id:
            raise StatementError(400, "statement id in the body differs from the statementId parameter")
    out["id"] = given or statement_id or str(uuid.uuid4())
    out.setdefault("timestamp", datetime.fromtimestamp(int(now), timezone.utc).isoformat())
    return out


def parse_statement(statement: dict[str, Any]) -> ParsedStatement:
    """Check the fields the oracle relies on; raise StatementError(400, reason) otherwise."""
    verb = _get(statement, "verb", "id")
    if verb not in ACCEPTED_VERBS:
        raise StatementError(400, f"verb {verb!r} is not completed or passed")
    name = _get(statement, "actor", "account", "name")
    if not isinstance(name, str) or not is_hex_address(name):
        raise StatementError(400, "actor.account.name must be the learner's 0x address")
    iri = _get(statement, "object", "id")
    if not isinstance(iri, str) or "://" not in iri:
        raise StatementError(400, "object.id must be the course's activity IRI")
    if _get(statement, "result", "success") is not True:
        raise StatementError(400, "result.success is not true: a failed attempt earns nothing")
    scaled = _get(statement, "result", "score", "scaled")
    if isinstance(scaled, bool) or not isinstance(scaled, (int, float)) or not 0 <= scaled <= 1:
        raise StatementError(400, "result.score.scaled must be a number between 0 and 1")
    return ParsedStatement(
        statement_id=normalize_statement_id(statement["id"]),
        learner=to_checksum_address(name),
        course_iri=iri,
        score=round(scaled * 10_000),
        completed_at=parse_timestamp(statement.get("timestamp")),
    )


def parse_timestamp(value: Any) -> int:
    if not isinstance(value, str):
        raise StatementError(400, "timestamp must be an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise StatementError(400, f"timestamp {value!r} is not ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0, int(moment.timestamp()))


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
