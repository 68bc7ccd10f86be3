"""Evidence of equivocation, submitted to ``ValidatorRegistry.reportEquivocation``.

Any node may report; the registry verifies both signatures on chain, slashes the bond, jails
the validator and pays the reporter its share, so the report is an ordinary transaction.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector, to_canonical_address, to_checksum_address

from consensus.types import DuplicateVoteEvidence
from node.backend import Backend
from node.execution import CallArgs
from node.rpc.errors import RpcError

logger = logging.getLogger("azora.evidence")
REPORT_SELECTOR = function_signature_to_4byte_selector(
    "reportEquivocation((uint8,uint64,uint32,bytes32),bytes,(uint8,uint64,uint32,bytes32),bytes)")
REPORT_TYPES = ["(uint8,uint64,uint32,bytes32)", "bytes", "(uint8,uint64,uint32,bytes32)", "bytes"]
TIP = 1_000_000_000
# Offences remembered so each is reported once; an older one reported again is refused by the
# registry (estimate_gas fails), so forgetting it costs a call, not a transaction.
MAX_REMEMBERED_REPORTS = 4096


def encode_report(evidence: DuplicateVoteEvidence) -> bytes:
    return REPORT_SELECTOR + encode(REPORT_TYPES, list(evidence.to_report_args()))


class EvidenceReporter:
    """Signs and submits a report for each new piece of evidence (once per offence)."""

    def __init__(self, backend: Backend, account: LocalAccount | None) -> None:
        self.backend = backend
        self.account = account
        self.registry = backend.chain.system_contracts.get("ValidatorRegistry")
        self._reported: OrderedDict[tuple[bytes, int, int, int], None] = OrderedDict()

    def report(self, evidence: DuplicateVoteEvidence) -> bytes | None:
        """Submit the report to the pool; returns the transaction hash, or None if skipped."""
        vote = evidence.vote_a.vote
        key = (evidence.validator, int(vote.vote_type), vote.height, vote.round)
        if self.account is None or self.registry is None or key in self._reported:
            return None
        self._reported[key] = None
        if len(self._reported) > MAX_REMEMBERED_REPORTS:
            self._reported.popitem(last=False)
        sender = self.account.address
        call = {"from": sender, "to": self.registry, "data": "0x" + encode_report(evidence).hex()}
        try:
            gas = self.backend.executor.estimate_gas(self.backend.chain.head, CallArgs.parse(call))
        except RpcError as exc:  # already reported by someone else, validator unknown, ...
            logger.info("not reporting equivocation of 0x%s: %s", evidence.validator.hex(), exc.message)
            return None
        base_fee = self.backend.next_base_fee()
        tx: dict[str, Any] = {
            "chainId": self.backend.chain.chain_id, "to": to_checksum_address(self.registry),
            "data": call["data"], "value": 0, "gas": gas + gas // 5, "type": 2,
            "nonce": self.backend.pending_nonce(to_canonical_address(sender)),
            "maxPriorityFeePerGas": TIP, "maxFeePerGas": 2 * base_fee + TIP}
        signed = self.account.sign_transaction(tx)
        decoded = self.backend.decode_transaction(bytes(signed.raw_transaction))
        tx_hash = self.backend.submit(decoded, len(signed.raw_transaction))
        logger.warning("reported equivocation of 0x%s at height %d: tx 0x%s", evidence.validator.hex(),
                       vote.height, tx_hash.hex())
        return tx_hash
