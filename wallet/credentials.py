"""Credentials and Proof-of-Knowledge from the command line.

``azora wallet credentials|rewards|claim|finalize`` for the learner, and the top-level
``azora credential verify|burn`` (a verifier holds no key: ``verify`` only reads the chain).
Everything is read from the Credentials and ProofOfKnowledge system contracts; a course is
shown by its IRI and title when the catalog records them (:func:`get_course_info`), else by id.
"""
from __future__ import annotations

import argparse
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests
from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address
from web3.contract import Contract

from wallet.cli_common import add_fee_flags, add_rpc_flags, emit, format_outcome, send_transaction
from wallet.errors import UsageError, WalletError, run_reporting_errors
from wallet.rpc import Node
from wallet.signer import add_signer_flags, load_signer, signer_address
from wallet.tx import encode_call
from wallet.units import format_amount, parse_address

CREDENTIAL_STATUS = {0: "none", 1: "valid", 2: "revoked", 3: "expired"}
CLAIM_STATE = {0: "none", 1: "pending", 2: "challenged", 3: "rejected", 4: "finalized", 5: "clawed back"}
COMPLETION_TYPE = ("Completion(address learner,bytes32 courseId,uint32 courseVersion,uint16 score,"
                   "uint64 completedAt,bytes32 evidenceHash,uint64 oracleSetVersion,uint64 deadline)")
COMPLETION_ABI_TYPES = ("address", "bytes32", "uint32", "uint16", "uint64", "bytes32", "uint64", "uint64")
# the oracle's xAPI extension that carries a completion's quorum-signed bundle
ORACLE_EXTENSION = "https://azora.africa/xapi/extensions/oracle"
XAPI_VERSION = "1.0.3"


# -- reading the chain -----------------------------------------------------------------------------

def get_course_info(pok: Contract, course_id: bytes) -> tuple[str, str] | None:
    """(IRI, title) of a catalog course, or None when the deployed ProofOfKnowledge has no
    ``courseInfo`` getter (catalogs before titles) or records nothing for this course."""
    if not any(item.get("name") == "courseInfo" for item in pok.abi):
        return None
    iri, title = pok.functions.courseInfo(course_id).call()
    return (iri, title) if iri else None


def format_time(timestamp: int) -> str | None:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat() if timestamp else None


def find_mint(creds: Contract, token_id: int) -> dict[str, Any]:
    """The block and transaction that issued ``token_id`` (its ``Issued`` event)."""
    logs = creds.events.Issued().get_logs(from_block=0, argument_filters={"tokenId": token_id})
    if not logs:
        # issued while the genesis state was built (the dev validator's credential): no transaction
        return {"block": 0, "transaction": None}
    return {"block": logs[0]["blockNumber"], "transaction": "0x" + bytes(logs[0]["transactionHash"]).hex()}


def describe_course(pok: Contract, course_id: bytes) -> dict[str, Any]:
    info = get_course_info(pok, course_id)
    return {"course": info[0] if info else "0x" + course_id.hex(), "courseId": "0x" + course_id.hex(),
            "title": info[1] if info else None}


def describe_credential(node: Node, token_id: int) -> dict[str, Any]:
    creds = node.system_contract("Credentials")
    pok = node.system_contract("ProofOfKnowledge")
    (course_id, course_version, issuer, issued_at, expiry, revoked_at, reason, prerequisite,
     _evidence, attesters, replaced_by) = creds.functions.credential(token_id).call()
    status, _, _ = creds.functions.verify(token_id).call()
    holder = creds.functions.holderOf(token_id).call()
    record = {"status": CREDENTIAL_STATUS[status], "id": token_id,
              "holder": None if int(holder, 16) == 0 else holder, **describe_course(pok, course_id),
              "courseVersion": course_version, "issuer": None if int(issuer, 16) == 0 else issuer,
              "issuedAt": format_time(issued_at), "expiry": format_time(expiry),
              "revokedAt": format_time(revoked_at), "revocationReason": reason or None,
              "prerequisite": prerequisite or None, "attesters": list(attesters), "replacedBy": replaced_by or None}
    if issued_at:
        record.update(find_mint(creds, token_id))
    return record


def get_held_credential_ids(node: Node, holder: str) -> list[int]:
    creds = node.system_contract("Credentials")
    return [creds.functions.tokenOfOwnerByIndex(holder, i).call()
            for i in range(creds.functions.balanceOf(holder).call())]


def get_open_claims(node: Node, learner: str) -> list[dict[str, Any]]:
    """The learner's claims still pending or challenged, and when each can be finalized."""
    pok = node.system_contract("ProofOfKnowledge")
    window = pok.functions.challengeWindow().call()
    claims = []
    for log in pok.events.Submitted().get_logs(from_block=0, argument_filters={"learner": learner}):
        key = bytes(log["args"]["claimKey"])
        claim = pok.functions.getClaim(key).call()
        course_id, score, submitted_at, status, attesters = claim[1], claim[3], claim[5], claim[6], claim[12]
        if CLAIM_STATE[status] not in ("pending", "challenged"):
            continue
        claims.append({"claim": "0x" + key.hex(), **describe_course(pok, course_id), "state": CLAIM_STATE[status],
                       "score": score, "submittedAt": format_time(submitted_at),
                       "finalizableAt": format_time(submitted_at + window) if status == 1 else None,
                       "attesters": list(attesters)})
    return claims


def is_credential_id(text: str) -> bool:
    return re.fullmatch(r"[0-9]+", text) is not None


def parse_course(text: str) -> bytes:
    """A course named by its IRI (its id is keccak256 of it) or by its 0x 32-byte id."""
    if re.fullmatch(r"0x[0-9a-fA-F]{64}", text):
        return bytes.fromhex(text[2:])
    return keccak(text=text)


def select_credential(node: Node, holder: str, course: bytes | None) -> dict[str, Any] | None:
    """What a verifier asks of a holder: a valid credential (for the course), else the most telling one."""
    found = [describe_credential(node, i) for i in get_held_credential_ids(node, holder)]
    if course is not None:
        found = [c for c in found if c["courseId"] == "0x" + course.hex()]
    rank = {"valid": 0, "expired": 1, "revoked": 2, "none": 3}
    return min(found, key=lambda c: (rank[c["status"]], -c["id"])) if found else None


# -- commands --------------------------------------------------------------------------------------

def cmd_credentials(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    holder = parse_address(args.address)
    held = [describe_credential(node, i) for i in get_held_credential_ids(node, holder)]
    claims = get_open_claims(node, holder)
    lines = [f"credentials of {holder}:"] + ([
        f"  #{c['id']} {c['status']:<8} {c['title'] or c['course']} (issuer {c['issuer']}, issued {c['issuedAt']}, "
        f"attested by {', '.join(c['attesters']) or 'no oracle'})" for c in held] or ["  (none)"])
    lines += ["pending Proof-of-Knowledge claims:"] + ([
        f"  {c['claim']} {c['state']} {c['title'] or c['course']}, finalizable at {c['finalizableAt'] or '-'}"
        for c in claims] or ["  (none)"])
    emit(args, {"address": holder, "credentials": held, "claims": claims}, "\n".join(lines))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Exit 0 only for a valid credential: a verifier's script can branch on the code alone."""
    node = Node(args.rpc)
    course = parse_course(args.course) if args.course else None
    record = find_verified_record(node, args.subject, course)
    emit(args, record, format_verdict(record))
    return 0 if record["status"] == "valid" else 1


def find_verified_record(node: Node, subject: str, course: bytes | None) -> dict[str, Any]:
    """The credential a verifier asked about: by id, or the holder's best one (for the course)."""
    if is_credential_id(subject):
        record = describe_credential(node, int(subject))
        if course is not None and record["courseId"] != "0x" + course.hex():
            return {**record, "status": "none", "mismatch": "the credential certifies another course"}
        return record
    holder = parse_address(subject)
    found = select_credential(node, holder, course)
    if found is not None:
        return found
    named = describe_course(node.system_contract("ProofOfKnowledge"), course) if course else {"course": None}
    return {"status": "none", "id": None, "holder": holder, **named, "issuer": None, "attesters": []}


def format_verdict(record: dict[str, Any]) -> str:
    if record.get("id") is None:
        return f"NONE: {record.get('holder')} holds no such credential"
    if record.get("issuer") is None:
        return f"NONE: there is no credential #{record['id']}"
    text = (f"{record['status'].upper()}: credential #{record['id']} for {record.get('title') or record['course']}, "
            f"held by {record['holder'] or 'nobody (burned)'}, issued by {record['issuer']} "
            f"(attesters: {', '.join(record['attesters']) or 'none'}); minted in block {record.get('block')}, "
            f"tx {record.get('transaction') or '- (genesis)'}")
    if record.get("revocationReason"):
        text += f"; revoked: {record['revocationReason']}"
    if record.get("mismatch"):
        text += f"; {record['mismatch']}"
    return text


def cmd_burn(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    creds = node.system_contract("Credentials")
    account = load_signer(args)
    outcome = send_transaction(args, node, account, creds.address, 0, encode_call(creds, "burn", args.id),
                               f"burn (unequip) credential #{args.id}")
    emit(args, outcome.to_json(), format_outcome(outcome))
    return 0


def cmd_rewards(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    pok = node.system_contract("ProofOfKnowledge")
    if args.action == "withdraw":
        account = load_signer(args)
        claimable = pok.functions.claimable(account.address).call()
        if claimable == 0:
            raise WalletError(f"{account.address} has no rewards to withdraw")
        outcome = send_transaction(args, node, account, pok.address, 0,
                                   encode_call(pok, "withdrawRewards", account.address),
                                   f"withdraw {format_amount(claimable)} AZR of Proof-of-Knowledge rewards")
        emit(args, {**outcome.to_json(), "amount": format_amount(claimable)},
             f"{format_outcome(outcome)}\nwithdrew {format_amount(claimable)} AZR")
        return 0
    address = parse_address(args.address) if args.address else signer_address(args)
    rewards = {"address": address, "claimable": format_amount(pok.functions.claimable(address).call()),
               "debt": format_amount(pok.functions.debt(address).call())}
    emit(args, rewards, f"{address}: {rewards['claimable']} AZR to withdraw, debt {rewards['debt']} AZR")
    return 0


def fetch_bundle(oracle_url: str, statement_id: str) -> dict[str, Any]:
    """The oracle's signed bundle for a statement (``GET {oracle}/statements?statementId=ID``;
    HTTP Basic credentials, if the oracle wants them, go in the URL: ``http://user:pw@host/xapi``)."""
    url = oracle_url.rstrip("/") + "/statements"
    try:
        reply = requests.get(url, params={"statementId": statement_id},
                             headers={"X-Experience-API-Version": XAPI_VERSION}, timeout=30)
    except requests.RequestException as exc:
        raise WalletError(f"cannot reach the oracle at {oracle_url} ({exc.__class__.__name__})") from None
    if reply.status_code != 200:
        raise WalletError(f"the oracle answered {reply.status_code} for statement {statement_id}: {reply.text[:200]}")
    return extract_bundle(reply.json())


def extract_bundle(document: Any) -> dict[str, Any]:
    """A bundle is ``{"completion", "signatures", "chainId", "verifyingContract", ...}``, alone or
    inside a stored statement's ``result.extensions``."""
    if isinstance(document, dict) and "completion" not in document:
        document = ((document.get("result") or {}).get("extensions") or {}).get(ORACLE_EXTENSION)
    if not isinstance(document, dict) or not isinstance(document.get("completion"), dict):
        raise WalletError("no signed completion in the bundle (is this an Azora oracle statement?)")
    if not document.get("signatures"):
        raise WalletError(f"the oracles have not reached their quorum yet (state: {document.get('state', 'unknown')})")
    return document


def completion_tuple(completion: dict[str, Any]) -> tuple[Any, ...]:
    try:
        return (to_checksum_address(completion["learner"]), bytes.fromhex(completion["courseId"].removeprefix("0x")),
                int(completion["courseVersion"]), int(completion["score"]), int(completion["completedAt"]),
                bytes.fromhex(completion["evidenceHash"].removeprefix("0x")), int(completion["oracleSetVersion"]),
                int(completion["deadline"]))
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise WalletError(f"the bundle's completion is malformed ({exc.__class__.__name__}: {exc})") from None


def compute_claim_key(completion: tuple[Any, ...]) -> bytes:
    """The claim key ProofOfKnowledge records: the completion's EIP-712 struct hash."""
    return keccak(encode(["bytes32", *COMPLETION_ABI_TYPES], [keccak(text=COMPLETION_TYPE), *completion]))


def bundle_from_typed(path: Path, signatures: list[str]) -> dict[str, Any]:
    """A bundle from the EIP-712 typed data the oracles signed and their signatures, put in
    ascending signer order (as ``submit`` requires) by recovering each signer."""
    typed = read_json(path)
    if not isinstance(typed, dict) or typed.get("primaryType") != "Completion" or "message" not in typed:
        raise WalletError(f"{path} is not the EIP-712 typed data of a Completion")
    try:
        signable = encode_typed_data(full_message=typed)
        signers = [Account.recover_message(signable, signature=bytes.fromhex(s.removeprefix("0x"))) for s in signatures]
    except (ValueError, TypeError, KeyError) as exc:
        raise WalletError(f"cannot read the signatures over {path}: {exc}") from None
    ordered = sorted(zip(signers, signatures), key=lambda pair: int(pair[0], 16))
    domain = typed.get("domain") or {}
    return {"completion": typed["message"], "chainId": domain.get("chainId"),
            "verifyingContract": domain.get("verifyingContract"),
            "signers": [signer for signer, _ in ordered], "signatures": [sig for _, sig in ordered]}


def load_claim_bundle(args: argparse.Namespace) -> dict[str, Any]:
    """The completion and its signatures from exactly one source: an oracle, a bundle file, or
    typed data with signatures."""
    sources = [args.oracle is not None, args.bundle is not None, args.typed is not None]
    if sum(sources) != 1:
        raise UsageError("give one of --oracle URL --statement ID, --bundle FILE, --typed FILE --signature SIG...")
    if args.oracle is not None:
        if not args.statement:
            raise UsageError("--oracle needs --statement ID")
        return fetch_bundle(args.oracle, args.statement)
    if args.bundle is not None:
        return extract_bundle(read_json(args.bundle))
    if not args.signature:
        raise UsageError("--typed needs the oracles' signatures: --signature SIG (once per oracle)")
    return bundle_from_typed(args.typed, args.signature)


def cmd_claim(args: argparse.Namespace) -> int:
    bundle = load_claim_bundle(args)
    node = Node(args.rpc)
    pok = node.system_contract("ProofOfKnowledge")
    if int(bundle.get("chainId", node.chain_id)) != node.chain_id or \
            to_checksum_address(bundle.get("verifyingContract", pok.address)) != pok.address:
        raise WalletError(f"the bundle was signed for chain {bundle.get('chainId')} / contract "
                          f"{bundle.get('verifyingContract')}, not this node's ({node.chain_id} / {pok.address})")
    completion = completion_tuple(bundle["completion"])
    signatures = [bytes.fromhex(s.removeprefix("0x")) for s in bundle["signatures"]]
    account = load_signer(args)
    key = compute_claim_key(completion)
    outcome = send_transaction(args, node, account, pok.address, 0, encode_call(pok, "submit", completion, signatures),
                               f"submit the Proof-of-Knowledge claim 0x{key.hex()} for {completion[0]}")
    window = pok.functions.challengeWindow().call()
    emit(args, {**outcome.to_json(), "claim": "0x" + key.hex()},
         f"{format_outcome(outcome)}\nclaim 0x{key.hex()}: finalize it after the {window} s challenge window "
         f"with `azora wallet finalize 0x{key.hex()}`")
    return 0


def cmd_finalize(args: argparse.Namespace) -> int:
    if not re.fullmatch(r"0x[0-9a-fA-F]{64}", args.claim):
        raise WalletError(f"claim {args.claim!r} is not a 0x claim key of 32 bytes")
    node = Node(args.rpc)
    pok = node.system_contract("ProofOfKnowledge")
    key = bytes.fromhex(args.claim[2:])
    account = load_signer(args)
    outcome = send_transaction(args, node, account, pok.address, 0, encode_call(pok, "finalize", key),
                               f"finalize the Proof-of-Knowledge claim {args.claim}")
    claim = pok.functions.getClaim(key).call()
    emit(args, {**outcome.to_json(), "credential": claim[11], "reward": format_amount(claim[10])},
         f"{format_outcome(outcome)}\ncredential #{claim[11]} minted; {format_amount(claim[10])} AZR reward "
         f"to withdraw with `azora wallet rewards withdraw`")
    return 0


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise WalletError(f"{path} not found") from None
    except ValueError:
        raise WalletError(f"{path} is not JSON") from None


# -- parsers ---------------------------------------------------------------------------------------

def add_wallet_credential_commands(wallet: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    creds = wallet.add_parser("credentials", help="the credentials an address holds and its pending claims")
    creds.add_argument("address")
    add_rpc_flags(creds)

    rewards = wallet.add_parser("rewards", help="Proof-of-Knowledge rewards to withdraw (and `withdraw` them)")
    rewards.add_argument("action", nargs="?", choices=("withdraw",))
    rewards.add_argument("--address", help="whose rewards to show (default: the signer's)")
    add_fee_flags(rewards)
    add_signer_flags(rewards)
    add_rpc_flags(rewards)

    claim = wallet.add_parser("claim", help="submit an oracle-signed completion yourself")
    claim.add_argument("--oracle", help="an oracle's xAPI base URL, e.g. http://user:pw@127.0.0.1:8701/xapi")
    claim.add_argument("--statement", help="the xAPI statement id of the completion")
    claim.add_argument("--bundle", type=Path, help="a saved bundle (or stored statement) JSON file")
    claim.add_argument("--typed", type=Path, help="the EIP-712 Completion the oracles signed (with --signature)")
    claim.add_argument("--signature", action="append", help="an oracle's signature over --typed (repeat per oracle)")
    add_fee_flags(claim)
    add_signer_flags(claim)
    add_rpc_flags(claim)

    fin = wallet.add_parser("finalize", help="finalize a claim after its challenge window")
    fin.add_argument("claim", help="the 0x claim key")
    add_fee_flags(fin)
    add_signer_flags(fin)
    add_rpc_flags(fin)


WALLET_CREDENTIAL_COMMANDS = {"credentials": cmd_credentials, "rewards": cmd_rewards, "claim": cmd_claim,
                              "finalize": cmd_finalize}


def add_credential_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``azora credential``: verify (no key needed) and burn."""
    credential = sub.add_parser("credential", help="verify or burn soulbound credentials").add_subparsers(
        dest="credential_command", required=True)
    verify = credential.add_parser("verify", help="is it valid? exit 0 only if so")
    verify.add_argument("subject", metavar="ID|ADDRESS", help="a credential id, or the holder's address")
    verify.add_argument("--course", help="the course IRI (or 0x id) the credential must certify")
    add_rpc_flags(verify)
    burn = credential.add_parser("burn", help="remove (unequip) a credential you hold")
    burn.add_argument("id", type=int)
    add_fee_flags(burn)
    add_signer_flags(burn)
    add_rpc_flags(burn)


def cmd_credential(args: argparse.Namespace) -> int:
    handler = {"verify": cmd_verify, "burn": cmd_burn}[args.credential_command]
    return run_reporting_errors(handler, args)
