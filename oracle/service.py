"""The oracle process: ingest statements, sign, exchange signatures, submit, finalize.

`Oracle` holds the logic as synchronous methods over the store and the chain (run in worker
threads, one at a time under a lock, so the store sees one writer); `run_oracle` is the trio
service that wires it to the xAPI endpoint, the libp2p attestation topic and the worker loop.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import trio
from eth_account.signers.local import LocalAccount
from web3.exceptions import ContractLogicError

from oracle.attestation import (
    ACCEPT, IGNORE, Attestation, check_attestation, completion_for, encode_attestation,
)
from oracle.chain import (
    CLAIM_CHALLENGED, CLAIM_FINALIZED, CLAIM_NONE, CLAIM_PENDING, CLAIM_REJECTED, ChainView,
    revert_reason,
)
from oracle.completion import (
    Completion, compute_digest, compute_struct_hash, order_signatures, sign_digest, submitter_rank,
)
from oracle.config import OracleConfig
from oracle.store import (
    FINALIZED, QUORUM, REJECTED, SIGNED, SUBMITTED, OracleStore, Record,
)
from oracle.xapi import StatementError, compute_evidence_hash, parse_statement

logger = logging.getLogger("azora.oracle")
REPUBLISH_SECONDS = 2.0
# revert reasons of `submit` after which the claim can never go through as signed
FATAL_SUBMIT_REASONS = ("already claimed", "expired", "stale oracle set", "course inactive", "bad score")


@dataclass
class Outbox:
    """Attestations to gossip, produced by the synchronous logic for the async host."""

    payloads: list[bytes] = field(default_factory=list)


class Oracle:
    """One committee member's logic over its store and the chain."""

    def __init__(self, config: OracleConfig, account: LocalAccount, chain: ChainView, store: OracleStore) -> None:
        self.config = config
        self.account = account
        self.chain = chain
        self.store = store
        self.lock = threading.RLock()
        self._published: dict[str, float] = {}

    @property
    def address(self) -> str:
        return self.account.address

    # -- ingest ---------------------------------------------------------------------------------

    def accept_statements(self, statements: list[dict[str, Any]], outbox: Outbox) -> list[str]:
        """Validate every statement, then sign and store the new ones; all or nothing.

        Raises StatementError (400/409) naming the first statement that fails.
        """
        with self.lock:
            fresh: list[tuple[dict[str, Any], Any]] = []
            pairs: set[tuple[str, bytes]] = set()
            for statement in statements:
                existing = self.store.get(statement["id"])
                if existing is not None:
                    if _content(existing.statement) != _content(statement):
                        raise StatementError(409, f"statement {statement['id']} was already posted with different content")
                    continue  # the same statement again: accepted once
                if any(s["id"] == statement["id"] for s, _ in fresh):
                    continue
                parsed = self.validate(statement)
                pair = (parsed.learner, parsed.course_id)
                if pair in pairs:
                    raise StatementError(409, f"statement {statement['id']}: the batch names this learner and course twice")
                pairs.add(pair)
                fresh.append((statement, parsed))
            rules = self.chain.rules()
            deadline = self.chain.now() + self.config.deadline_seconds
            for statement, _ in fresh:
                completion = completion_for(statement, oracle_set_version=rules.oracle_set_version, deadline=deadline)
                record = self._signed_record(statement, completion, origin="local")
                self.store.put(record)
                outbox.payloads.append(self._own_attestation(record))
                logger.info("signed statement %s (claim %s)", record.statement_id, record.claim_key)
            return [statement["id"] for statement in statements]

    def validate(self, statement: dict[str, Any]) -> Any:
        """The contract's rules for a statement, checked before anything is signed."""
        parsed = parse_statement(statement)
        weight, active, issuer = self.chain.course(parsed.course_id)
        if int(issuer, 16) == 0:
            raise StatementError(400, f"course {parsed.course_iri} is not in the on-chain catalog")
        if not active:
            raise StatementError(400, f"course {parsed.course_iri} is not active")
        rules = self.chain.rules()
        if parsed.score < rules.min_score:
            raise StatementError(400, f"score {parsed.score} is below the minimum {rules.min_score} (basis points)")
        if self.chain.is_claimed(parsed.learner, parsed.course_id):
            raise StatementError(409, f"learner {parsed.learner} was already rewarded for {parsed.course_iri}")
        live = self.store.live_claim_for(parsed.learner, parsed.course_id)
        if live is not None and live != parsed.statement_id:
            raise StatementError(409, f"a claim for learner {parsed.learner} and {parsed.course_iri} is already in progress (statement {live})")
        return parsed

    def _signed_record(self, statement: dict[str, Any], completion: Completion, origin: str) -> Record:
        signature = sign_digest(bytes(self.account.key), compute_digest(completion, self.chain.domain))
        return Record(statement_id=statement["id"], statement=statement, state=SIGNED, stored_at=int(time.time()),
                      completion=completion.to_json(), claim_key="0x" + compute_struct_hash(completion).hex(),
                      signatures={self.address: "0x" + signature.hex()}, origin=origin)

    def _own_attestation(self, record: Record) -> bytes:
        assert record.completion is not None
        self._published[record.statement_id] = time.monotonic()
        return encode_attestation(Attestation(
            self.chain.chain_id, self.chain.address, record.statement, Completion.from_json(record.completion),
            self.address, bytes.fromhex(record.signatures[self.address][2:])))

    # -- the attestation topic ----------------------------------------------------------------

    def check_gossip(self, payload: bytes) -> tuple[str, Attestation | None, str]:
        rules = self.chain.rules()
        return check_attestation(payload, domain=self.chain.domain, committee=rules.committee,
                                 oracle_set_version=rules.oracle_set_version)

    def absorb(self, att: Attestation, outbox: Outbox) -> None:
        """A peer's valid attestation: count its signature, co-signing what we can check."""
        key = compute_struct_hash(att.completion)
        with self.lock:
            record = self.store.by_claim_key(key)
            if record is None:
                record = self._cosign(att)
                if record is None:
                    return
                outbox.payloads.append(self._own_attestation(record))
            if att.signer not in record.signatures:
                record.signatures[att.signer] = "0x" + att.signature.hex()
                self._maybe_reach_quorum(record)
                self.store.put(record)

    def _cosign(self, att: Attestation) -> Record | None:
        statement_id = str(att.statement.get("id"))
        if self.store.get(statement_id) is not None:
            logger.warning("attestation from %s reuses statement id %s for another completion", att.signer, statement_id)
            return None
        try:
            self.validate(att.statement)
        except StatementError as exc:
            logger.warning("not co-signing statement %s from %s: %s", statement_id, att.signer, exc.reason)
            return None
        if att.completion.deadline <= self.chain.now():
            return None
        record = self._signed_record(att.statement, att.completion, origin="peer")
        self.store.put(record)
        logger.info("co-signed statement %s first signed by %s", statement_id, att.signer)
        return record

    def _maybe_reach_quorum(self, record: Record) -> None:
        if record.state == SIGNED and len(record.signatures) >= self.chain.rules().quorum:
            record.state = QUORUM
            record.quorum_at = time.time()
            logger.info("quorum for statement %s", record.statement_id)

    # -- the worker ------------------------------------------------------------------------------

    def advance(self, statement_id: str, outbox: Outbox) -> None:
        """Move one record as far as the chain allows; safe to repeat after a crash."""
        with self.lock:
            record = self.store.get(statement_id)
            if record is None or record.completion is None:
                return
            before = record.to_json()
            try:
                if record.state == SIGNED:
                    self._maybe_reach_quorum(record)
                    if record.state == SIGNED and self._due_republish(record):
                        outbox.payloads.append(self._own_attestation(record))
                if record.state == QUORUM:
                    self._advance_quorum(record)
                if record.state == SUBMITTED:
                    self._advance_submitted(record)
            except (ContractLogicError, ValueError, OSError) as exc:
                message = f"statement {statement_id}: {revert_reason(exc)}"
                logger.warning(message)
                self.store.add_error(message)
            if record.to_json() != before:
                self.store.put(record)

    def _due_republish(self, record: Record) -> bool:
        # re-gossip until the quorum: a member that was down learns of the claim when it returns
        return time.monotonic() - self._published.get(record.statement_id, 0) >= REPUBLISH_SECONDS

    def _claim_key(self, record: Record) -> bytes:
        assert record.claim_key is not None
        return bytes.fromhex(record.claim_key[2:])

    def _rank(self, record: Record) -> int:
        return submitter_rank(self.address, self.chain.rules().committee, self._claim_key(record))

    def _advance_quorum(self, record: Record) -> None:
        claim = self.chain.claim(self._claim_key(record))
        if claim.status != CLAIM_NONE:
            self._mark_submitted(record, claim.submitted_at)
            return
        if record.submit_tx is not None:
            self._resume_submit(record)
            return
        waited = time.time() - (record.quorum_at or 0)
        if not self.config.submit or waited < self._rank(record) * self.config.submit_grace_seconds:
            return
        completion = Completion.from_json(record.completion or {})
        signatures = order_signatures({a: bytes.fromhex(s[2:]) for a, s in record.signatures.items()},
                                      self.chain.rules().quorum)
        try:
            tx_hash, raw = self.chain.build_submit(self.account, completion, signatures)
        except ContractLogicError as exc:
            self._on_submit_revert(record, revert_reason(exc))
            return
        # durable before it leaves: after a crash the same bytes (same nonce) are sent again
        record.submit_tx = {"hash": tx_hash, "raw": "0x" + raw.hex()}
        self.store.put(record)
        self.chain.send_raw(raw)
        logger.info("submitted statement %s in %s", record.statement_id, tx_hash)

    def _resume_submit(self, record: Record) -> None:
        assert record.submit_tx is not None
        status = self.chain.receipt_status(record.submit_tx["hash"])
        if status is None:
            self.chain.send_raw(bytes.fromhex(record.submit_tx["raw"][2:]))
        elif status == 0:
            record.submit_tx = None   # reverted and the claim is not on chain: try again
        # status 1: the claim is on chain; the next pass sees it

    def _on_submit_revert(self, record: Record, reason: str) -> None:
        if "replayed" in reason:
            return   # on chain already; the next pass marks it submitted
        if any(fatal in reason for fatal in FATAL_SUBMIT_REASONS):
            self._reject(record, reason)
        else:
            self.store.add_error(f"statement {record.statement_id}: submit would revert: {reason}")

    def _mark_submitted(self, record: Record, submitted_at: int) -> None:
        record.state = SUBMITTED
        record.submitted_at = submitted_at
        record.submitted_by = self.address if record.submit_tx else "another member"
        logger.info("statement %s is claimed on chain", record.statement_id)

    def _advance_submitted(self, record: Record) -> None:
        key = self._claim_key(record)
        claim = self.chain.claim(key)
        if claim.status == CLAIM_FINALIZED:
            record.state = FINALIZED
            record.reward = claim.reward
            record.credential_id = claim.credential_id
            logger.info("statement %s finalized: reward %s, credential %s", record.statement_id,
                        claim.reward, claim.credential_id)
        elif claim.status == CLAIM_REJECTED:
            self._reject(record, "the DAO upheld a challenge")
        elif claim.status == CLAIM_CHALLENGED:
            if record.challenged_by is None:
                record.challenged_by = claim.challenger
                message = f"statement {record.statement_id}: claim challenged by {claim.challenger}"
                logger.warning(message)
                self.store.add_error(message)
        elif claim.status == CLAIM_PENDING:
            self._maybe_finalize(record, key, claim.submitted_at)

    def _maybe_finalize(self, record: Record, key: bytes, submitted_at: int) -> None:
        if record.finalize_tx is not None:
            status = self.chain.receipt_status(record.finalize_tx)
            if status is None:
                return
            record.finalize_tx = None   # mined but still pending: reverted; try again
        if record.window_closed_at is None:
            if self.chain.now() < submitted_at + self.chain.rules().challenge_window:
                return
            record.window_closed_at = time.time()
        # the same rotation as for submitting: the others step in only if the first is down
        if time.time() - record.window_closed_at < self._rank(record) * self.config.submit_grace_seconds:
            return
        try:
            tx_hash, raw = self.chain.build_finalize(self.account, key)
        except ContractLogicError as exc:
            reason = revert_reason(exc)
            if "in challenge window" not in reason and "not pending" not in reason:
                self.store.add_error(f"statement {record.statement_id}: finalize would revert: {reason}")
            return
        record.finalize_tx = tx_hash
        self.store.put(record)
        self.chain.send_raw(raw)
        logger.info("finalizing statement %s in %s", record.statement_id, tx_hash)

    def _reject(self, record: Record, reason: str) -> None:
        record.state = REJECTED
        record.reason = reason
        logger.warning("statement %s rejected: %s", record.statement_id, reason)

    # -- views -------------------------------------------------------------------------------------

    def statement_view(self, statement_id: str) -> dict[str, Any] | None:
        """The stored statement with the oracle's state in its `azora` extension."""
        from datetime import datetime, timezone
        from oracle.xapi import AZORA_EXTENSION

        record = self.store.get(statement_id)
        if record is None:
            return None
        statement = dict(record.statement)
        statement["stored"] = datetime.fromtimestamp(record.stored_at, timezone.utc).isoformat()
        result = dict(statement.get("result") or {})
        extensions = dict(result.get("extensions") or {})
        extensions[AZORA_EXTENSION] = self.bundle(record)
        result["extensions"] = extensions
        statement["result"] = result
        return statement

    def bundle(self, record: Record) -> dict[str, Any]:
        view: dict[str, Any] = {"state": record.state, "reason": record.reason, "claimKey": record.claim_key,
                                "completion": record.completion, "verifyingContract": self.chain.address,
                                "chainId": self.chain.chain_id}
        if record.state not in (SIGNED,) and record.completion is not None:
            quorum = self.chain.rules().quorum
            signers = sorted(record.signatures, key=lambda a: int(a, 16))[:quorum]
            # ascending signer order: the array `submit` takes, ready for a learner's wallet
            view["signers"] = signers
            view["signatures"] = [record.signatures[s] for s in signers]
        view.update({"submitTx": (record.submit_tx or {}).get("hash"), "submittedBy": record.submitted_by,
                     "finalizeTx": record.finalize_tx, "reward": str(record.reward) if record.reward is not None else None,
                     "credentialId": record.credential_id, "challengedBy": record.challenged_by})
        return view

    def status(self) -> dict[str, Any]:
        return {"name": self.config.name, "address": self.address, "counts": self.store.counts(),
                "errors": self.store.errors()}


def _content(statement: dict[str, Any]) -> bytes:
    """What must match for a re-posted statement to be "the same": all but the timestamp we add."""
    return compute_evidence_hash({k: v for k, v in statement.items() if k not in ("timestamp", "stored")})


# -- the trio service -------------------------------------------------------------------------------


async def run_oracle(oracle: Oracle, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """xAPI endpoint, attestation gossip and the worker loop until SIGTERM/SIGINT."""
    from oracle.http import build_app, serve
    from p2p import P2PConfig, P2PService, load_or_create_node_key
    from p2p.config import TopicKind
    from p2p.gossip import ValidationResult

    config = oracle.config
    p2p = P2PService(
        P2PConfig(chain_id=oracle.chain.chain_id, listen_host=config.p2p_host, port=config.p2p_port,
                  bootnodes=config.peers, status_on_connect=False),
        load_or_create_node_key(config.datadir / "p2p"))
    send, receive = trio.open_memory_channel[bytes](4096)

    def flush(outbox: Outbox) -> None:
        for payload in outbox.payloads:
            send.send_nowait(payload)

    def validate(_peer: Any, payload: bytes) -> ValidationResult:
        verdict, _, reason = oracle.check_gossip(payload)
        if verdict != ACCEPT:
            logger.info("attestation %s: %s", verdict, reason)
        return {ACCEPT: ValidationResult.ACCEPT, IGNORE: ValidationResult.IGNORE}.get(verdict, ValidationResult.REJECT)

    async def on_attestation(message: Any) -> None:
        _, att, _ = oracle.check_gossip(message.payload)
        if att is not None:
            outbox = Outbox()
            await trio.to_thread.run_sync(oracle.absorb, att, outbox)
            flush(outbox)

    async def publisher() -> None:
        async for payload in receive:
            try:
                if not await p2p.publish(TopicKind.ATTESTATION, payload):
                    await p2p.gossip.republish(TopicKind.ATTESTATION, payload)
            except Exception as exc:   # no peers yet: the worker republishes until quorum
                logger.debug("attestation publish failed: %r", exc)

    async def worker() -> None:
        while True:
            # keep the committee and rules fresh here, so the topic validator never waits on RPC
            await trio.to_thread.run_sync(lambda: oracle.chain.rules(fresh=True))
            for record in await trio.to_thread.run_sync(lambda: list(oracle.store.active())):
                outbox = Outbox()
                await trio.to_thread.run_sync(oracle.advance, record.statement_id, outbox)
                flush(outbox)
            await trio.sleep(config.poll_seconds)

    p2p.set_validator(TopicKind.ATTESTATION, validate)
    p2p.subscribe(TopicKind.ATTESTATION, on_attestation)
    app = build_app(oracle, on_publish=flush)
    async with trio.open_nursery() as nursery:
        await nursery.start(p2p.run)
        await nursery.start(serve, app, config.xapi_host, config.xapi_port)
        nursery.start_soon(publisher)
        nursery.start_soon(worker)
        logger.info("oracle %s (%s) serving xAPI on %s:%s, p2p %s", config.name, oracle.address,
                    config.xapi_host, config.xapi_port, ", ".join(p2p.listen_addrs))
        print(f"oracle {config.name} {oracle.address} listening on http://{config.xapi_host}:{config.xapi_port}/xapi",
              flush=True)
        task_status.started()
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                break
        nursery.cancel_scope.cancel()
