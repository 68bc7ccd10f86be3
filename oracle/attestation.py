"""Attestations on the gossip topic `/azora/{chainId}/attestation/1`: members' signatures over
Completions, each with the statement it attests so every member can check it.

Wire form (RLP): a message is a list of 1 to MAX_ATTESTATIONS_PER_MESSAGE attestations, each
[chainId, verifyingContract, statement (canonical JSON), completion fields (8 items), signer,
signature]. A member signs a burst of statements together and sends their attestations in a
few messages, not one each: py-libp2p's cost per message (its own signature, a seen-cache entry,
framing, encryption, a validator run on every hop) was most of an oracle's CPU under load.

`check_attestations` is the topic validator: REJECT a message with any malformed, wrong-chain,
forged (signature not by the named signer, or high s), non-member attestation, or one whose
completion does not follow from its statement; IGNORE one signed for another committee version.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

import rlp
from eth_utils import to_checksum_address

from oracle.completion import Completion, Domain, compute_digest, recover_signer
from oracle.xapi import StatementError, canonical_json, compute_evidence_hash, parse_statement

ACCEPT, IGNORE, REJECT = "accept", "ignore", "reject"
MAX_ATTESTATION_BYTES = 16 * 1024               # one attestation, its statement included
MAX_ATTESTATIONS_PER_MESSAGE = 256
MAX_MESSAGE_BYTES = 256 * 1024                  # the topic's limit (p2p.config)


@dataclass(frozen=True)
class Attestation:
    chain_id: int
    contract: str
    statement: dict[str, Any]
    completion: Completion
    signer: str
    signature: bytes


def _fields(att: Attestation) -> list[Any]:
    c = att.completion
    return [
        att.chain_id, bytes.fromhex(att.contract[2:]), canonical_json(att.statement),
        [bytes.fromhex(c.learner[2:]), c.course_id, c.course_version, c.score, c.completed_at,
         c.evidence_hash, c.oracle_set_version, c.deadline],
        bytes.fromhex(att.signer[2:]), att.signature,
    ]


def encode_attestations(atts: Sequence[Attestation]) -> bytes:
    """One message carrying `atts` (at most MAX_ATTESTATIONS_PER_MESSAGE)."""
    return rlp.encode([_fields(att) for att in atts])


def encode_attestation(att: Attestation) -> bytes:
    """A message of one attestation."""
    return encode_attestations([att])


def pack_attestations(atts: Sequence[Attestation]) -> list[bytes]:
    """`atts` as few messages as the count and size limits allow, in order."""
    groups: list[list[Attestation]] = []
    size = 0
    for att in atts:
        item_size = len(rlp.encode(_fields(att)))
        if not groups or len(groups[-1]) == MAX_ATTESTATIONS_PER_MESSAGE or size + item_size + 16 > MAX_MESSAGE_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(att)
        size += item_size
    return [encode_attestations(group) for group in groups]


def decode_attestations(payload: bytes) -> list[Attestation]:
    """Raises ValueError for anything but a well-formed message of attestations."""
    if len(payload) > MAX_MESSAGE_BYTES:
        raise ValueError("attestation message too large")
    try:
        items = rlp.decode(payload)
    except (rlp.DecodingError, ValueError, TypeError) as exc:
        raise ValueError(f"not an attestation message: {exc}") from None
    if not isinstance(items, list) or not items:
        raise ValueError("an attestation message is a non-empty list")
    if len(items) > MAX_ATTESTATIONS_PER_MESSAGE:
        raise ValueError(f"more than {MAX_ATTESTATIONS_PER_MESSAGE} attestations in one message")
    return [_decode_item(item) for item in items]


def _decode_item(item: Any) -> Attestation:
    try:
        chain_id, contract, statement, fields, signer, signature = item
        learner, course_id, version, score, completed_at, evidence, set_version, deadline = fields
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not an attestation: {exc}") from None
    for raw, size in ((contract, 20), (learner, 20), (course_id, 32), (evidence, 32), (signer, 20)):
        if not isinstance(raw, bytes) or len(raw) != size:
            raise ValueError("attestation field of the wrong size")
    if not isinstance(statement, bytes) or len(statement) > MAX_ATTESTATION_BYTES:
        raise ValueError("attestation statement missing or too large")
    if not isinstance(signature, bytes):
        raise ValueError("attestation signature is not a byte string")
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


def check_attestations(payload: bytes, *, domain: Domain, committee: tuple[str, ...],
                       oracle_set_version: int) -> tuple[str, list[Attestation], str]:
    """(verdict, attestations, reason) for a gossiped message; pure given the chain's rules.
    One bad attestation condemns the message (REJECT: its sender pays), one for another
    committee version sets it aside (IGNORE); the attestations come back only on ACCEPT."""
    try:
        atts = decode_attestations(payload)
    except ValueError as exc:
        return REJECT, [], str(exc)
    ignored = ""
    for index, att in enumerate(atts):
        verdict, reason = _check(att, domain, committee, oracle_set_version)
        if verdict == REJECT:
            return REJECT, [], reason if len(atts) == 1 else f"attestation {index}: {reason}"
        if verdict == IGNORE:
            ignored = reason
    return (IGNORE, [], ignored) if ignored else (ACCEPT, atts, "")


def _check(att: Attestation, domain: Domain, committee: tuple[str, ...], oracle_set_version: int) -> tuple[str, str]:
    if att.chain_id != domain.chain_id or att.contract != domain.contract:
        return REJECT, "attestation for another chain or contract"
    if recover_signer(compute_digest(att.completion, domain), att.signature) != att.signer:
        return REJECT, "signature is not the named signer's (forged, malleated or corrupt)"
    if att.signer not in committee:
        return REJECT, f"{att.signer} is not a committee member"
    try:
        expected = completion_for(att.statement, oracle_set_version=att.completion.oracle_set_version,
                                  deadline=att.completion.deadline)
    except StatementError as exc:
        return REJECT, f"attested statement is invalid: {exc.reason}"
    if expected != att.completion:
        return REJECT, "completion does not follow from its statement"
    if att.completion.oracle_set_version != oracle_set_version:
        return IGNORE, "signed for another committee version"
    return ACCEPT, ""
