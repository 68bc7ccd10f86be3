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
    ACCEPT, IGNORE, Attestation, check_attestations, completion_for, decode_attestations, pack_attestations,
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
from oracle.xapi import ParsedStatement, StatementError, compute_evidence_hash, parse_statement

logger = logging.getLogger("azora.oracle")
REPUBLISH_SECONDS = 2.0         # first re-gossip of a signature still short of quorum ...
REPUBLISH_MAX_SECONDS = 30.0    # ... then doubling up to this
REPUBLISH_PER_PASS = 256        # re-gossip at most this many per worker pass (one message's worth)
CHALLENGE_POLL_SECONDS = 10.0   # how often a claim inside its window is checked for a challenge
STUCK_SECONDS = 20.0            # an unmined transaction this old is checked for a nonce gap
# a record whose chain check began this long after the claim watch began has no claim but what
# the watched logs show (the margin covers the wall clock being set back a little)
BORN_MARGIN_SECONDS = 1.0
POOL_PATIENCE = 6               # grace periods a claim another member sent may sit in the pool
POOL_RECHECK_SECONDS = 5.0      # a claim seen in the pool is taken to be there this long (the pool is read less)
RESEND_CHECK_SECONDS = 15.0     # an in-flight submit's receipt is looked at (and it is re-sent) this often
GOSSIP_RULES_MAX_AGE = 300.0    # the topic validator judges with rules up to this old (worker refreshes them)
ABSORBERS = 2                   # batches of attestations handled concurrently
ABSORB_BATCH = 500              # attestations absorbed together at most
# revert reasons of `submit` after which the claim can never go through as signed
FATAL_SUBMIT_REASONS = ("already claimed", "expired", "stale oracle set", "course inactive", "bad score")


@dataclass
class Outbox:
    """Attestations to gossip, produced by the synchronous logic for the async host."""

    attestations: list[Attestation] = field(default_factory=list)


class Oracle:
    """One committee member's logic over its store and the chain."""

    def __init__(self, config: OracleConfig, account: LocalAccount, chain: ChainView, store: OracleStore) -> None:
        self.config = config
        self.account = account
        self.chain = chain
        self.store = store
        self.lock = threading.RLock()
        self._published: dict[str, tuple[float, float]] = {}   # statement -> (last sent, interval)
        self.republish_budget = REPUBLISH_PER_PASS
        self._checked: dict[str, float] = {}
        self._finalize_sent: dict[str, float] = {}
        self._resend_checked: dict[str, float] = {}   # statement -> when its in-flight submit was last looked after
        self._seen_pooled: dict[bytes, float] = {}    # claim key -> when another member's submit was seen pooled
        self._reverted: set[str] = set()   # statements whose submit reverted on chain: run the next one first

    @property
    def address(self) -> str:
        return self.account.address

    # -- ingest ---------------------------------------------------------------------------------

    def accept_statements(self, statements: list[dict[str, Any]], outbox: Outbox) -> list[str]:
        """Validate every statement, then sign and store the new ones; all or nothing.

        The chain is read once for the whole batch and outside the lock (the worker and the
        peers' attestations go on meanwhile); the store is checked again under the lock, and
        the batch is written in one LevelDB write. Raises StatementError (400/409) naming the
        first statement that fails.
        """
        unknown = [s for s in statements if self.store.get(s["id"]) is None]
        checked_at = time.time()
        checked = dict(zip([s["id"] for s in unknown], self.check_statements(unknown)))
        rules = self.chain.rules()
        deadline = self.chain.now() + self.config.deadline_seconds
        with self.lock:
            fresh = self._screen(statements, checked)
            if not fresh:
                return [statement["id"] for statement in statements]
            records = [self._signed_record(statement, completion_for(
                statement, oracle_set_version=rules.oracle_set_version, deadline=deadline), origin="local",
                checked_at=checked_at) for statement in fresh]
            self.store.put_many(records)
            for record in records:
                outbox.attestations.append(self._own_attestation(record))
            logger.info("signed %d statements (%s ... %s)", len(records), records[0].statement_id,
                        records[-1].statement_id)
            return [statement["id"] for statement in statements]

    def _screen(self, statements: list[dict[str, Any]],
                checked: dict[str, ParsedStatement | StatementError]) -> list[dict[str, Any]]:
        """The statements to sign, in order; raises the first statement's refusal. Under the lock."""
        fresh: list[dict[str, Any]] = []
        pairs: set[tuple[str, bytes]] = set()
        for statement in statements:
            existing = self.store.get(statement["id"])
            if existing is not None:
                if _content(existing.statement) != _content(statement):
                    raise StatementError(409, f"statement {statement['id']} was already posted with different content")
                continue  # the same statement again: accepted once
            if any(s["id"] == statement["id"] for s in fresh):
                continue
            parsed = checked[statement["id"]]
            if isinstance(parsed, StatementError):
                raise parsed
            refusal = self._live_claim_conflict(parsed)
            if refusal is not None:
                raise refusal
            pair = (parsed.learner, parsed.course_id)
            if pair in pairs:
                raise StatementError(409, f"statement {statement['id']}: the batch names this learner and course twice")
            pairs.add(pair)
            fresh.append(statement)
        return fresh

    def check_statements(self, statements: list[dict[str, Any]]) -> list[ParsedStatement | StatementError]:
        """The contract's rules for each statement, checked before anything is signed: the
        statement itself, then the course (active, in the catalog), the minimum score and no
        claim on chain yet. One read per course (cached) and one JSON-RPC batch of `claimOf`
        reads for all the statements, instead of a round trip each."""
        results: list[ParsedStatement | StatementError] = []
        for statement in statements:
            try:
                results.append(parse_statement(statement))
            except StatementError as exc:
                results.append(exc)
        rules = self.chain.rules()
        for index, parsed in enumerate(results):
            if isinstance(parsed, ParsedStatement):
                refusal = course_refusal(parsed, self.chain.course(parsed.course_id), rules.min_score)
                results[index] = refusal or parsed
        pending = [p for p in results if isinstance(p, ParsedStatement)]
        claimed = self.chain.claimed_pairs([(p.learner, p.course_id) for p in pending])
        return [StatementError(409, f"learner {p.learner} was already rewarded for {p.course_iri}")
                if isinstance(p, ParsedStatement) and (p.learner, p.course_id) in claimed else p for p in results]

    def _live_claim_conflict(self, parsed: ParsedStatement) -> StatementError | None:
        live = self.store.live_claim_for(parsed.learner, parsed.course_id)
        if live is not None and live != parsed.statement_id:
            return StatementError(409, f"a claim for learner {parsed.learner} and {parsed.course_iri} is already "
                                       f"in progress (statement {live})")
        return None

    def _signed_record(self, statement: dict[str, Any], completion: Completion, origin: str,
                       checked_at: float) -> Record:
        signature = sign_digest(bytes(self.account.key), compute_digest(completion, self.chain.domain))
        return Record(statement_id=statement["id"], statement=statement, state=SIGNED, stored_at=int(time.time()),
                      timeline={"received": time.time()},
                      completion=completion.to_json(), claim_key="0x" + compute_struct_hash(completion).hex(),
                      signatures={self.address: "0x" + signature.hex()}, origin=origin, checked_at=checked_at)

    def _own_attestation(self, record: Record) -> Attestation:
        assert record.completion is not None
        _, interval = self._published.get(record.statement_id, (0.0, REPUBLISH_SECONDS / 2))
        self._published[record.statement_id] = (time.monotonic(), min(2 * interval, REPUBLISH_MAX_SECONDS))
        return Attestation(
            self.chain.chain_id, self.chain.address, record.statement, Completion.from_json(record.completion),
            self.address, bytes.fromhex(record.signatures[self.address][2:]))

    # -- the attestation topic ----------------------------------------------------------------

    def check_gossip(self, payload: bytes) -> tuple[str, list[Attestation], str]:
        # on the event loop: the rules the worker refreshes each pass, never a round trip here
        rules = self.chain.rules(max_age=GOSSIP_RULES_MAX_AGE)
        return check_attestations(payload, domain=self.chain.domain, committee=rules.committee,
                                  oracle_set_version=rules.oracle_set_version)

    def absorb(self, attestations: list[Attestation], outbox: Outbox) -> None:
        """Peers' valid attestations: count their signatures, co-signing what we can check.

        The chain checks of new statements run once for the lot and outside the lock; the
        records change in one LevelDB write."""
        keys = [compute_struct_hash(att.completion) for att in attestations]
        with self.lock:
            unknown = [att for att, key in zip(attestations, keys) if self.store.by_claim_key(key) is None]
        checked_at = time.time()
        cosignable = self._cosignable(unknown)
        with self.lock:
            touched: dict[bytes, Record] = {}
            for att, key in zip(attestations, keys):
                record = touched.get(key) or self.store.by_claim_key(key)
                if record is None:
                    if key not in cosignable or not self._is_free(att, touched.values()):
                        continue
                    record = self._signed_record(att.statement, att.completion, origin="peer", checked_at=checked_at)
                    logger.info("co-signed statement %s first signed by %s", record.statement_id, att.signer)
                    outbox.attestations.append(self._own_attestation(record))
                if att.signer not in record.signatures:
                    record.signatures[att.signer] = "0x" + att.signature.hex()
                    self._maybe_reach_quorum(record)
                touched[key] = record
            self.store.put_many(touched.values())

    def _cosignable(self, attestations: list[Attestation]) -> set[bytes]:
        """Claim keys of the attested statements this member would sign itself."""
        if not attestations:
            return set()
        checks = self.check_statements([att.statement for att in attestations])
        now = self.chain.now()
        keys = set()
        for att, parsed in zip(attestations, checks):
            statement_id, key = str(att.statement.get("id")), compute_struct_hash(att.completion)
            existing = self.store.get(statement_id)
            if existing is not None:
                if existing.claim_key != "0x" + key.hex():   # not merely co-signed meanwhile
                    logger.warning("attestation from %s reuses statement id %s for another completion", att.signer,
                                   statement_id)
            elif isinstance(parsed, StatementError):
                logger.warning("not co-signing statement %s from %s: %s", statement_id, att.signer, parsed.reason)
            elif att.completion.deadline > now:
                keys.add(key)
        return keys

    def _is_free(self, att: Attestation, pending: Any) -> bool:
        """Neither its statement id nor its (learner, course) taken, in the store or by a record
        about to be written with it. Under the lock."""
        statement_id = str(att.statement.get("id"))
        learner, course_id = att.completion.learner, att.completion.course_id
        if self.store.get(statement_id) is not None:
            return False   # the same id arrived meanwhile with another completion
        live = self.store.live_claim_for(learner, course_id)
        if live is not None and live != statement_id:
            logger.warning("not co-signing statement %s: a claim for %s and this course is in progress", statement_id,
                           learner)
            return False
        pair = {"learner": learner, "courseId": "0x" + course_id.hex()}
        return not any(r.statement_id == statement_id
                       or {k: (r.completion or {}).get(k) for k in pair} == pair for r in pending)

    def _maybe_reach_quorum(self, record: Record) -> None:
        if record.state == SIGNED and len(record.signatures) >= self.chain.rules().quorum:
            record.state = QUORUM
            record.quorum_at = time.time()
            record.timeline.setdefault(QUORUM, record.quorum_at)
            logger.info("quorum for statement %s", record.statement_id)

    # -- the worker ------------------------------------------------------------------------------

    def advance(self, statement_id: str, outbox: Outbox) -> None:
        """Move one record as far as the chain allows, but for submissions (the worker makes
        and looks after those together: `submit_ready`, `resume_submits`); safe to repeat
        after a crash.

        A signed record is counted under the lock (peers' attestations change it); past the
        quorum only this worker changes a record but for late signatures, so the chain is
        asked outside the lock and `_save` keeps what peers added meanwhile."""
        with self.lock:
            record = self.store.get(statement_id)
            if record is None or record.completion is None:
                return
            if record.state == SIGNED:
                self._maybe_reach_quorum(record)
                if record.state == SIGNED and self._due_republish(record):
                    outbox.attestations.append(self._own_attestation(record))
                if record.state != SIGNED:
                    self.store.put(record)
        if record.state not in (QUORUM, SUBMITTED):
            return
        if record.state == QUORUM:
            return   # submitted, or looked after in flight, with the others of this pass
        before = record.to_json()
        try:
            self._advance_submitted(record)
        except Exception as exc:  # an RPC refusal or outage: record it, retry on the next pass
            self._note_failure(f"statement {statement_id}", exc)
            if "nonce" in str(exc):
                self.chain.forget_nonce(self.address)
        if record.to_json() != before:
            self._save(record)

    def _note_failure(self, what: str, exc: Exception) -> None:
        """Log a failed step and keep it among the errors `azora oracle status` shows."""
        message = f"{what}: {revert_reason(exc)}"
        logger.warning(message)
        self.store.add_error(message)

    def _save(self, record: Record) -> None:
        """Write the worker's copy of a record, keeping signatures a peer's attestation added
        since it was read."""
        with self.lock:
            current = self.store.get(record.statement_id)
            if current is not None:
                record.signatures = {**current.signatures, **record.signatures}
            self.store.put(record)

    def prefetch(self, records: list[Record]) -> None:
        """Bring the claims this pass of the worker looks at up to the head, in two round trips:
        those of the records past the quorum whose submitter this member is (now), and those
        on chain already."""
        self.chain.watch_claims([self._claim_key(r) for r in records if r.state == SUBMITTED or (
            r.state == QUORUM and (r.submit_tx is not None or self._is_submit_turn(r)))], born=self._born(records))

    def _born(self, records: list[Record]) -> list[bytes]:
        """Claim keys of records whose chain check began after the claim watch began: the check
        found no claim for the learner and course at a block the watch starts from or later,
        and the watched logs hold every event since, so no event means no claim. (A record
        stored without its check's time is read.)"""
        since = self.chain.watching_since()
        return [self._claim_key(r) for r in records if since is not None and r.claim_key is not None
                and r.checked_at is not None and r.checked_at > since + BORN_MARGIN_SECONDS]

    def _due_republish(self, record: Record) -> bool:
        # re-gossip until the quorum, backing off: a member that was down learns of the claim
        # when it returns, and a burst of statements does not become a storm of repeats
        last, interval = self._published.get(record.statement_id, (0.0, 0.0))
        if time.monotonic() - last < interval or self.republish_budget <= 0:
            return False
        self.republish_budget -= 1
        return True

    def _claim_key(self, record: Record) -> bytes:
        assert record.claim_key is not None
        return bytes.fromhex(record.claim_key[2:])

    def _rank(self, record: Record) -> int:
        return submitter_rank(self.address, self.chain.rules().committee, self._claim_key(record))

    def _is_submit_turn(self, record: Record) -> bool:
        # a member looks at the chain only when its turn comes: until then the one before it
        # submits, and polling every claim on every pass would load the node for nothing
        waited = time.time() - (record.quorum_at or 0)
        return waited >= self._rank(record) * self.config.submit_grace_seconds

    def submit_ready(self, statement_ids: list[str]) -> None:
        """Submit, together, the claims of these records that reached the quorum and whose
        submitter this member is now: their chain checks, their trial runs and their sends are
        one JSON-RPC batch each, so a burst of completions goes on chain at the rate blocks take
        it, not one round trip after another. Records not ready are left to `advance`."""
        try:
            self._submit_ready(statement_ids)
        except Exception as exc:  # an RPC refusal or outage: record it, retry on the next pass
            self._note_failure(f"submitting {len(statement_ids)} claims", exc)
            self.chain.forget_nonce(self.address)   # a nonce may have been taken and never sent

    def _submit_ready(self, statement_ids: list[str]) -> None:
        with self.lock:
            records = [r for r in (self.store.get(i) for i in statement_ids)
                       if r is not None and r.state == QUORUM and r.submit_tx is None and self._is_submit_turn(r)]
        if not records:
            return
        due = []
        keys = [self._claim_key(r) for r in records]
        for record, claim in zip(records, self.chain.current_claims(keys, born=self._born(records))):
            if claim.status != CLAIM_NONE:
                self._mark_submitted(record, claim.submitted_at)
                self._save(record)
            else:
                due.append(record)
        if not self.config.submit or not due:
            return
        due = self._not_in_flight_elsewhere(due)
        if not due:
            return
        quorum = self.chain.rules().quorum

        def signed_claim(r: Record) -> tuple[Completion, list[bytes]]:
            return (Completion.from_json(r.completion or {}),
                    order_signatures({a: bytes.fromhex(sig[2:]) for a, sig in r.signatures.items()}, quorum))

        # a first submission is not run beforehand (the node would execute each claim twice,
        # and the checks before signing cover what can go wrong); one that reverted is
        retried = [r for r in due if r.statement_id in self._reverted]
        fresh = [r for r in due if r.statement_id not in self._reverted]
        due = retried + fresh
        built = (self.chain.build_submits(self.account, [signed_claim(r) for r in retried], trial=True)
                 + self.chain.build_submits(self.account, [signed_claim(r) for r in fresh], trial=False))
        sending = []
        for record, tx in zip(due, built):
            if isinstance(tx, ContractLogicError):
                self._on_submit_revert(record, revert_reason(tx))
                if record.state == REJECTED:
                    self._save(record)
                continue
            record.submit_tx = {"hash": tx.hash, "raw": "0x" + tx.raw.hex(), "nonce": tx.nonce, "sentAt": time.time()}
            sending.append((record, tx))
        # durable before they leave: after a crash the same bytes (same nonces) are sent again
        self._save_many([record for record, _ in sending])
        outcomes = self.chain.send_raws([tx.raw for _, tx in sending]) if sending else []
        refused = []
        for (record, tx), outcome in zip(sending, outcomes):
            self._resend_checked[record.statement_id] = time.monotonic()
            if outcome is True:
                logger.info("submitted statement %s in %s", record.statement_id, tx.hash)
                continue
            if isinstance(outcome, Exception):
                message = f"statement {record.statement_id}: {outcome}"
                logger.warning(message)
                self.store.add_error(message)
            record.submit_tx = None
            refused.append(record)
        if refused:
            # a refused nonce leaves a gap: count from the node's view again, and the ones
            # after it that wait behind the gap are signed again once they look stuck
            self.chain.forget_nonce(self.address)
            self._save_many(refused)

    def _not_in_flight_elsewhere(self, records: list[Record]) -> list[Record]:
        """Drop the claims another member has sent and the node holds, not mined yet, and those
        mined since the claims were last looked at: a busy chain can take longer than the grace
        periods to include a claim, and a second submission of it only reverts (replayed) and
        costs gas (under a burst, a third of the claims went out twice, and their reverts took
        the chain's time from the others). The pool is read first, then the claims themselves:
        one that leaves the pool meanwhile is on chain by then. A claim waits so at most
        POOL_PATIENCE grace periods past this member's turn (a sender gone for good, or its
        transaction stuck behind a nonce gap)."""
        backups = [r for r in records if self._rank(r) > 0]
        if not backups:
            return records
        others = [m for m in self.chain.rules().committee if m != self.address]
        now = time.monotonic()
        # the pool (every pending claim of the others, rendered by the node) is read only when a
        # claim due here was not seen in it lately: not on every pass while a burst waits
        seen = {key: at for key, at in self._seen_pooled.items() if now - at < POOL_RECHECK_SECONDS}
        try:
            if any(self._claim_key(r) not in seen for r in backups):
                seen.update(dict.fromkeys(self.chain.claims_in_pool(others), now))
            self._seen_pooled = seen
            pooled = set(seen)
            left = [r for r in backups if self._claim_key(r) not in pooled]
            claimed = {self._claim_key(r): claim.submitted_at
                       for r, claim in zip(left, self.chain.claims([self._claim_key(r) for r in left]))
                       if claim.status != CLAIM_NONE}
        except Exception as exc:   # only a saving: without it the grace periods rule alone
            logger.debug("reading the pool or the claims failed: %r", exc)
            return records
        for record in backups:
            if self._claim_key(record) in claimed:
                self._mark_submitted(record, claimed[self._claim_key(record)])
        self._save_many([r for r in backups if self._claim_key(r) in claimed])
        grace = self.config.submit_grace_seconds
        return [r for r in records if self._claim_key(r) not in claimed and (
            self._claim_key(r) not in pooled
            or time.time() - (r.quorum_at or 0) >= (self._rank(r) + POOL_PATIENCE) * grace)]

    def _save_many(self, records: list[Record]) -> None:
        """`_save` for many records in one LevelDB write."""
        with self.lock:
            for record in records:
                current = self.store.get(record.statement_id)
                if current is not None:
                    record.signatures = {**current.signatures, **record.signatures}
            self.store.put_many(records)

    def _send(self, tx: Any) -> bool:
        """Send a transaction we signed; on any refusal its nonce is given back."""
        try:
            accepted = self.chain.send_raw(tx.raw)
        except Exception:
            self.chain.release_nonce(self.address, tx.nonce)
            raise
        if not accepted:
            self.chain.forget_nonce(self.address)
        return accepted

    def resume_submits(self, statement_ids: list[str]) -> None:
        """Look after claims whose submission is in flight, together: done once the claim is on
        chain (whoever sent it: the watched logs say so, no receipt needed); otherwise, every
        RESEND_CHECK_SECONDS (and at once after a restart), one batch of receipts and one of
        re-sends, and a fresh signature for one whose nonce was taken or waits behind a gap."""
        try:
            self._resume_submits(statement_ids)
        except Exception as exc:  # an RPC refusal or outage: record it, retry on the next pass
            self._note_failure(f"resuming {len(statement_ids)} submissions", exc)

    def _resume_submits(self, statement_ids: list[str]) -> None:
        with self.lock:
            records = [r for r in (self.store.get(i) for i in statement_ids)
                       if r is not None and r.state == QUORUM and r.submit_tx is not None]
        if not records:
            return
        changed: list[Record] = []
        due: list[Record] = []
        now = time.monotonic()
        for record, claim in zip(records, self.chain.current_claims([self._claim_key(r) for r in records])):
            if claim.status != CLAIM_NONE:
                self._mark_submitted(record, claim.submitted_at)
                changed.append(record)
            elif now - self._resend_checked.get(record.statement_id, -RESEND_CHECK_SECONDS) >= RESEND_CHECK_SECONDS:
                self._resend_checked[record.statement_id] = now
                due.append(record)
        pending: list[Record] = []
        for record, status in zip(due, self.chain.receipt_statuses([r.submit_tx["hash"] for r in due if r.submit_tx])):
            if status == 0:
                record.submit_tx = None   # reverted and the claim is not on chain: try again, run first
                self._reverted.add(record.statement_id)
                changed.append(record)
            elif status == 1:   # mined and the claim not seen yet: read it now
                self._mark_submitted(record, self.chain.claim(self._claim_key(record), fresh=True).submitted_at)
                changed.append(record)
            else:
                pending.append(record)
        if pending:
            sent = self.chain.send_raws([bytes.fromhex((r.submit_tx or {})["raw"][2:]) for r in pending])
            mined = self.chain.mined_nonce(self.address)
            for record, outcome in zip(pending, sent):
                tx = record.submit_tx or {}
                stuck = time.time() - tx.get("sentAt", 0) > STUCK_SECONDS and tx.get("nonce", 0) > mined
                if outcome is not True or stuck:
                    # its nonce went to another of our transactions, or one before it was lost
                    # and it waits behind a gap forever: sign it again with a fresh nonce.
                    # Should the old one still be mined, the contract refuses the second as
                    # replayed: one claim either way.
                    if self.chain.receipt_status(tx["hash"]) is None:
                        record.submit_tx = None
                        self.chain.forget_nonce(self.address)
                        changed.append(record)
        self._save_many(changed)

    def _on_submit_revert(self, record: Record, reason: str) -> None:
        if "replayed" in reason:
            return   # on chain already; the next pass marks it submitted
        if any(fatal in reason for fatal in FATAL_SUBMIT_REASONS):
            self._reject(record, reason)
        else:
            self.store.add_error(f"statement {record.statement_id}: submit would revert: {reason}")

    def _mark_submitted(self, record: Record, submitted_at: int) -> None:
        self._resend_checked.pop(record.statement_id, None)
        self._reverted.discard(record.statement_id)
        record.state = SUBMITTED
        record.submitted_at = submitted_at
        record.timeline.setdefault(SUBMITTED, time.time())
        record.submitted_by = self.address if record.submit_tx else "another member"
        logger.info("statement %s is claimed on chain", record.statement_id)

    def _is_claim_check_due(self, record: Record) -> bool:
        """Inside the window a claim is looked at now and then (for a challenge); after it, on
        every pass until it is finalized."""
        window_end = (record.submitted_at or 0) + self.chain.rules().challenge_window
        last = self._checked.get(record.statement_id, 0.0)
        return self.chain.now() >= window_end or time.monotonic() - last >= CHALLENGE_POLL_SECONDS

    def _advance_submitted(self, record: Record) -> None:
        key = self._claim_key(record)
        if not self._is_claim_check_due(record):
            return
        self._checked[record.statement_id] = time.monotonic()
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
            sent = self._finalize_sent.setdefault(record.statement_id, time.time())
            if status is None and time.time() - sent < STUCK_SECONDS:
                return
            # mined while the claim is still pending (reverted), or lost: try again
            record.finalize_tx = None
            self._finalize_sent.pop(record.statement_id, None)
            if status is None:
                self.chain.forget_nonce(self.address)
        if record.window_closed_at is None:
            if self.chain.now() < submitted_at + self.chain.rules().challenge_window:
                return
            record.window_closed_at = time.time()
        # the same rotation as for submitting: the others step in only if the first is down
        if time.time() - record.window_closed_at < self._rank(record) * self.config.submit_grace_seconds:
            return
        try:
            tx = self.chain.build_finalize(self.account, key)
        except ContractLogicError as exc:
            reason = revert_reason(exc)
            if "in challenge window" not in reason and "not pending" not in reason:
                self.store.add_error(f"statement {record.statement_id}: finalize would revert: {reason}")
            return
        if self._send(tx):
            record.finalize_tx = tx.hash
            logger.info("finalizing statement %s in %s", record.statement_id, tx.hash)

    def _reject(self, record: Record, reason: str) -> None:
        self._reverted.discard(record.statement_id)
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
                     "credentialId": record.credential_id, "challengedBy": record.challenged_by,
                     "timeline": record.timeline})
        return view

    def status(self) -> dict[str, Any]:
        return {"name": self.config.name, "address": self.address, "counts": self.store.counts(),
                "errors": self.store.errors()}


def course_refusal(parsed: ParsedStatement, course: tuple[int, bool, str], min_score: int) -> StatementError | None:
    """Why the contract's rules refuse `parsed` for this course, or None: in the catalog, active,
    a score at least the DAO's minimum."""
    _, active, issuer = course
    if int(issuer, 16) == 0:
        return StatementError(400, f"course {parsed.course_iri} is not in the on-chain catalog")
    if not active:
        return StatementError(400, f"course {parsed.course_iri} is not active")
    if parsed.score < min_score:
        return StatementError(400, f"score {parsed.score} is below the minimum {min_score} (basis points)")
    return None


def _content(statement: dict[str, Any]) -> bytes:
    """What must match for a re-posted statement to be "the same": all but the timestamp we add."""
    return compute_evidence_hash({k: v for k, v in statement.items() if k not in ("timestamp", "stored")})


# -- the trio service -------------------------------------------------------------------------------


async def run_oracle(
    oracle: Oracle, *,
    # trio-typing's stubs (installed with libp2p) shadow trio's own types and predate TaskStatus.
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,  # type: ignore[name-defined]
) -> None:
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
        for payload in pack_attestations(outbox.attestations):
            send.send_nowait(payload)

    accepted: dict[bytes, list[Attestation]] = {}   # payload -> what the validator decoded, for the handler

    def validate(_peer: Any, payload: bytes) -> ValidationResult:
        verdict, atts, reason = oracle.check_gossip(payload)
        if verdict != ACCEPT:
            logger.info("attestation %s: %s", verdict, reason)
        else:
            if len(accepted) >= 4096:   # handlers that never came (a duplicate, say): start over
                accepted.clear()
            accepted[payload] = atts
        return {ACCEPT: ValidationResult.ACCEPT, IGNORE: ValidationResult.IGNORE}.get(verdict, ValidationResult.REJECT)

    attestations_send, attestations_receive = trio.open_memory_channel[list[Attestation]](4096)

    async def on_attestation(message: Any) -> None:
        # the topic validator accepted it (and decoded it: decoding is most of checking)
        atts = accepted.pop(message.payload, None) or decode_attestations(message.payload)
        theirs = [att for att in atts if att.signer != oracle.address]
        if theirs:
            await attestations_send.send(theirs)

    async def absorber() -> None:
        # what has queued up is absorbed together: co-signing a burst of new statements then
        # reads the chain once, not once per statement
        async for atts in attestations_receive:
            batch = list(atts)
            while len(batch) < ABSORB_BATCH:
                try:
                    batch.extend(attestations_receive.receive_nowait())
                except trio.WouldBlock:
                    break
            outbox = Outbox()
            await trio.to_thread.run_sync(oracle.absorb, batch, outbox)
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
            oracle.republish_budget = REPUBLISH_PER_PASS
            # keep the committee and rules fresh here, so the topic validator never waits on RPC
            await trio.to_thread.run_sync(lambda: oracle.chain.rules(fresh=True))
            records = await trio.to_thread.run_sync(lambda: list(oracle.store.active()))
            try:
                await trio.to_thread.run_sync(oracle.prefetch, records)
            except Exception as exc:   # only a head start: each record reads its claim itself
                logger.debug("claim prefetch failed: %r", exc)
            batched = [r.statement_id for r in records if r.state in (SIGNED, QUORUM) and r.submit_tx is None]
            in_flight = [r.statement_id for r in records if r.state == QUORUM and r.submit_tx is not None]
            for record in records:
                if record.state == QUORUM:
                    continue   # below, with the others
                outbox = Outbox()
                await trio.to_thread.run_sync(oracle.advance, record.statement_id, outbox)
                flush(outbox)
            await trio.to_thread.run_sync(oracle.resume_submits, in_flight)
            await trio.to_thread.run_sync(oracle.submit_ready, batched)
            await trio.sleep(config.poll_seconds)

    p2p.set_validator(TopicKind.ATTESTATION, validate)
    p2p.subscribe(TopicKind.ATTESTATION, on_attestation)
    app = build_app(oracle, on_publish=flush)
    async with trio.open_nursery() as nursery:
        await nursery.start(p2p.run)
        await nursery.start(serve, app, config.xapi_host, config.xapi_port)
        nursery.start_soon(publisher)
        for _ in range(ABSORBERS):
            nursery.start_soon(absorber)
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
