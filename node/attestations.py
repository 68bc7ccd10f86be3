"""The attestation topic on a full node: oracle members' signatures, judged before they are relayed.

Oracle members gossip their signatures over Completions on `/azora/{chainId}/attestation/1`
(oracle/attestation.py defines the message). A full node is a hop on their way: it forwards
what a member would accept and REJECTs (so gossipsub penalises the sender) what no member
would, judging with the same pure check the members run, against the committee recorded in
the ProofOfKnowledge contract at the node's head. Without this judgement any peer could use
the chain's full nodes to flood the committee.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from eth.abc import BlockHeaderAPI
from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from libp2p.peer.id import ID

from kernel.chain import Chain
from node.execution import CallArgs, Executor
from oracle.attestation import ACCEPT, IGNORE, check_attestations
from oracle.completion import Domain
from p2p import ValidationResult

logger = logging.getLogger("azora.attestations")

GET_ORACLES = "0x" + function_signature_to_4byte_selector("getOracles()").hex()
ORACLE_SET_VERSION = "0x" + function_signature_to_4byte_selector("oracleSetVersion()").hex()


@dataclass(frozen=True)
class Committee:
    """The oracle committee in force at one block."""

    domain: Domain
    members: tuple[str, ...]
    version: int


class AttestationGate:
    """The topic validator: the committee is read once per head block, the check is pure."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.contract = chain.system_contracts.get("ProofOfKnowledge")
        self._executor = Executor(chain)
        self._lock = threading.Lock()
        self._cached: tuple[bytes, Committee] | None = None

    def committee(self) -> Committee | None:
        """The committee at the head; None on a chain without the ProofOfKnowledge contract."""
        if self.contract is None:
            return None
        head = self.chain.head
        with self._lock:
            if self._cached is not None and self._cached[0] == head.hash:
                return self._cached[1]
            members = decode(["address[]"], self._view(head, GET_ORACLES))[0]
            version = decode(["uint64"], self._view(head, ORACLE_SET_VERSION))[0]
            committee = Committee(Domain(self.chain.chain_id, to_checksum_address(self.contract)),
                                  tuple(to_checksum_address(m) for m in members), int(version))
            self._cached = (head.hash, committee)
            return committee

    def _view(self, head: BlockHeaderAPI, selector: str) -> bytes:
        return self._executor.call(head, CallArgs.parse({"to": self.contract, "data": selector}))

    def validate(self, peer: ID, payload: bytes) -> ValidationResult:
        committee = self.committee()
        if committee is None:
            return ValidationResult.REJECT   # this chain has no oracle: nothing on the topic is valid
        verdict, _, reason = check_attestations(payload, domain=committee.domain, committee=committee.members,
                                                oracle_set_version=committee.version)
        if verdict == ACCEPT:
            return ValidationResult.ACCEPT
        logger.debug("attestation from %s: %s (%s)", peer, verdict, reason)
        return ValidationResult.IGNORE if verdict == IGNORE else ValidationResult.REJECT
