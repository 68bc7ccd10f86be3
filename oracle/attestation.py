"""Attestations on the gossip topic `/azora/{chainId}/attestation/1`: one member's signature
over one Completion, with the statement it attests so every member can check it.

Wire form (RLP): [chainId, verifyingContract, statement (canonical JSON), completion fields
(8 items), signer, signature]. `check_attestation` is the topic validator: REJECT for malformed,
wrong-chain, forged (signature not by the named signer, or high s), non-member, or a
completion that does not follow from its statement; IGNORE for a stale committee version.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import rlp
from eth_utils import to_checksum_address

from oracle.completion import Completion, Domain, compute_digest, recover_signer
from oracle.xapi import StatementError, canonical_json, compute_evidence_hash, parse_statement

ACCEPT, IGNORE, REJECT = "accept", "ignore", "reject"
MAX_ATTESTATION_BYTES = 16 * 1024


@dataclass(frozen=True)
class Attestation:
    chain_id: int
    contract: str
    statement: dict[str, Any]
    completion: Completion
    signer: str
    signature: bytes


def encode_attestation(att: Attestation) -> bytes:
    c = att.completion
    return rlp.encode([
        att.chain_id, bytes.fromhex(att.contract[2:]), canonical_json(att.statement),
        [bytes.fromhex(c.learner[2:]), c.course_id, c.course_version, c.score, c.completed_at,
         c.evidence_hash, c.oracle_set_version, c.deadline],
        bytes.fromhex(att.signer[2:]), att.signature,
    ])


def decode_attestation(payload: bytes) -> Attestation:
    """Raises ValueError for anything but a well-formed attestation."""
    if len(payload) > MAX_ATTESTATION_BYTES:
        raise ValueError("attestation too large")
    try:
        chain_id, contract, statement, fields, signer, signature = rlp.decode(payload)
        learner, course_id, version, score, completed_at, evidence, set_version, deadline = fields
    except (rlp.DecodingError, ValueError, TypeError) as exc:
        raise ValueError(f"not an attestation: {exc}") from None
    for item, size in ((contract, 20), (learner, 20), (course_id, 32), (evidence, 32), (signer, 20)):
        if not isinstance(item, bytes) or len(item) != size:
            raise ValueError("attestation field of the wrong size")
    try:
        parsed_statement = json.loads(statement)
    except (ValueError, UnicodeDecodeError, TypeError):
        raise ValueError("attestation statement is not JSON") from None
    if not isinstance(parsed_statement, dict) or canonical_json(parsed_statement) != statement:
        raise ValueError("attestation statement is not canonical JSON")
    completion = Completion(
        to_checksum_address(learner), course_id, _uint(version, 32), _uint(score, 16),
        _uint(completed_at, 64), evidence, _uint(set_version, 64), _uint(deadline, 64))
    return Attestation(_uint(chain_id, 256), to_checksum_address(contract), parsed_statement,
                       completion, to_checksum_address(signer), bytes(signature))


def _uint(raw: Any, bits: int) -> int:
    if not isinstance(raw, bytes) or (raw[:1] == b"\x00"):
        raise ValueError("attestation integer is not canonical")
    value = int.from_bytes(raw, "big")
    if value >= 1 << bits:
        raise ValueError("attestation integer out of range")
    return value


def completion_for(statement: dict[str, Any], *, oracle_set_version: int, deadline: int) -> Completion:
    """The Completion every member derives from a statement (the deadline is the origin's)."""
    parsed = parse_statement(statement)
    return Completion(parsed.learner, parsed.course_id, 1, parsed.score, parsed.completed_at,
                      compute_evidence_hash(statement), oracle_set_version, deadline)


def check_attestation(payload: bytes, *, domain: Domain, committee: tuple[str, ...],
                      oracle_set_version: int) -> tuple[str, Attestation | None, str]:
    """(verdict, attestation, reason) for a gossiped payload; pure given the chain's rules."""
    try:
        att = decode_attestation(payload)
    except ValueError as exc:
        return REJECT, None, str(exc)
    if att.chain_id != domain.chain_id or att.contract != domain.contract:
        return REJECT, att, "attestation for another chain or contract"
    if recover_signer(compute_digest(att.completion, domain), att.signature) != att.signer:
        return REJECT, att, "signature is not the named signer's (forged, malleated or corrupt)"
    if att.signer not in committee:
        return REJECT, att, f"{att.signer} is not a committee member"
    try:
        expected = completion_for(att.statement, oracle_set_version=att.completion.oracle_set_version,
                                  deadline=att.completion.deadline)
    except StatementError as exc:
        return REJECT, att, f"attested statement is invalid: {exc.reason}"
    if expected != att.completion:
        return REJECT, att, "completion does not follow from its statement"
    if att.completion.oracle_set_version != oracle_set_version:
        return IGNORE, att, "signed for another committee version"
    return ACCEPT, att, ""
