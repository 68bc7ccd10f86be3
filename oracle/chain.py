"""The oracle's view of the chain over JSON-RPC (web3.py): the catalog, the committee and the
claim rules of ProofOfKnowledge, and the transactions the oracle pays for."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError

from contracts.build import load_artifact
from oracle.completion import Completion, Domain

ZERO_KEY = b"\x00" * 32
CLAIM_NONE, CLAIM_PENDING, CLAIM_CHALLENGED, CLAIM_REJECTED, CLAIM_FINALIZED, CLAIM_CLAWED_BACK = range(6)
CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class Course:
    iri: str
    course_id: bytes
    title: str
    reward_weight: int
    active: bool
    issuer: str

    def to_json(self) -> dict[str, Any]:
        return {"iri": self.iri, "courseId": "0x" + self.course_id.hex(), "title": self.title,
                "rewardWeight": self.reward_weight, "active": self.active, "issuer": self.issuer}


@dataclass(frozen=True)
class Rules:
    """What `submit` checks that can change between blocks, read together."""

    committee: tuple[str, ...]
    quorum: int
    oracle_set_version: int
    min_score: int
    challenge_window: int


@dataclass(frozen=True)
class ClaimView:
    status: int
    submitted_at: int
    challenger: str
    reward: int
    credential_id: int


def node_info(rpc_url: str) -> dict[str, Any]:
    """azora_nodeInfo of the node at `rpc_url` (chain id and the system contracts)."""
    reply = requests.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "azora_nodeInfo",
                                         "params": []}, timeout=10).json()
    if "error" in reply:
        raise RuntimeError(f"azora_nodeInfo: {reply['error'].get('message')}")
    return reply["result"]


class ChainView:
    """ProofOfKnowledge on one node, found through azora_nodeInfo as `azora contracts` does."""

    def __init__(self, rpc_url: str) -> None:
        info = node_info(rpc_url)
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
        self.chain_id = int(info["chainId"], 16)
        self.address = to_checksum_address(info["contracts"]["ProofOfKnowledge"])
        self.pok = self.w3.eth.contract(address=self.address, abi=load_artifact("ProofOfKnowledge")["abi"])
        self.domain = Domain(self.chain_id, self.address)
        self._lock = threading.Lock()
        self._rules: tuple[float, Rules] | None = None
        self._courses: dict[bytes, tuple[float, tuple[int, bool, str]]] = {}

    # -- reads ------------------------------------------------------------------------------

    def catalog(self) -> list[Course]:
        """Every course id the contract lists, with its IRI, title, weight and issuer."""
        courses = []
        for course_id in self.pok.functions.getCourseIds().call():
            issuer, weight, active = self.pok.functions.courses(course_id).call()
            iri, title = self.pok.functions.courseInfo(course_id).call()
            courses.append(Course(iri, bytes(course_id), title, weight, active, issuer))
        return courses

    def rules(self, fresh: bool = False) -> Rules:
        with self._lock:
            if not fresh and self._rules and time.monotonic() - self._rules[0] < CACHE_SECONDS:
                return self._rules[1]
        f = self.pok.functions
        rules = Rules(tuple(to_checksum_address(a) for a in f.getOracles().call()), f.quorum().call(),
                      f.oracleSetVersion().call(), f.minScore().call(), f.challengeWindow().call())
        with self._lock:
            self._rules = (time.monotonic(), rules)
        return rules

    def course(self, course_id: bytes) -> tuple[int, bool, str]:
        """(rewardWeight, active, issuer), cached for a moment: a POST burst reads it once."""
        with self._lock:
            cached = self._courses.get(course_id)
            if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
                return cached[1]
        issuer, weight, active = self.pok.functions.courses(course_id).call()
        value = (weight, active, issuer)
        with self._lock:
            self._courses[course_id] = (time.monotonic(), value)
        return value

    def is_claimed(self, learner: str, course_id: bytes) -> bool:
        """True while (learner, course) has a live or rewarded claim on chain."""
        pair = keccak(Web3.to_bytes(hexstr=learner).rjust(32, b"\0") + course_id)
        return bytes(self.pok.functions.claimOf(pair).call()) != ZERO_KEY

    def claim(self, claim_key: bytes) -> ClaimView:
        c = self.pok.functions.getClaim(claim_key).call()
        # (learner, courseId, courseVersion, score, evidenceHash, submittedAt, status, challenger,
        #  bond, challengedAt, reward, credentialId, attesters)
        return ClaimView(status=c[6], submitted_at=c[5], challenger=c[7], reward=c[10], credential_id=c[11])

    def now(self) -> int:
        """The chain's time: the latest block's timestamp (what the challenge window counts)."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    # -- transactions -------------------------------------------------------------------------

    def build_submit(self, account: LocalAccount, completion: Completion, signatures: list[bytes]) -> tuple[str, bytes]:
        """A signed `submit` transaction (hash, raw); raises ContractLogicError if it would revert."""
        fn = self.pok.functions.submit(completion.as_abi(), signatures)
        return self._sign(account, fn)

    def build_finalize(self, account: LocalAccount, claim_key: bytes) -> tuple[str, bytes]:
        return self._sign(account, self.pok.functions.finalize(claim_key))

    def send_raw(self, raw: bytes) -> None:
        try:
            self.w3.eth.send_raw_transaction(raw)
        except ValueError as exc:
            # the same bytes sent again after a restart: the node already has them
            if "already known" not in str(exc) and "nonce too low" not in str(exc):
                raise

    def receipt_status(self, tx_hash: str) -> int | None:
        """1 success, 0 reverted, None not mined yet."""
        try:
            receipt = self.w3.eth.get_transaction_receipt(tx_hash)
        except Exception:
            return None
        return None if receipt is None else int(receipt["status"])

    def _sign(self, account: LocalAccount, fn: Any) -> tuple[str, bytes]:
        tx = fn.build_transaction({
            "from": account.address, "chainId": self.chain_id,
            "nonce": self.w3.eth.get_transaction_count(account.address, "pending"),
        })
        signed = account.sign_transaction(tx)
        return "0x" + bytes(signed.hash).hex(), bytes(signed.raw_transaction)


def revert_reason(exc: Exception) -> str:
    """The contract's revert string from a ContractLogicError, as plain text."""
    if isinstance(exc, ContractLogicError):
        return str(exc.message or exc).removeprefix("execution reverted: ")
    return str(exc)
