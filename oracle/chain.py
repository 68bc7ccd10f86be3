"""The oracle's view of the chain over JSON-RPC (web3.py): the catalog, the committee and the
claim rules of ProofOfKnowledge, and the transactions the oracle pays for."""
from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import requests
from eth_account.signers.local import LocalAccount
from eth_abi import decode, encode
from eth_typing import HexStr
from eth_utils import keccak, to_checksum_address
from eth_utils.abi import function_abi_to_4byte_selector, get_abi_output_types
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3RPCError
from web3.types import RPCEndpoint

from contracts.build import load_artifact
from oracle.completion import COMPLETION_ABI_TYPES, Completion, Domain, compute_struct_hash

CLAIM_NONE, CLAIM_PENDING, CLAIM_CHALLENGED, CLAIM_REJECTED, CLAIM_FINALIZED, CLAIM_CLAWED_BACK = range(6)
CACHE_SECONDS = 2.0
NOW_CACHE_SECONDS = 0.5
FEE_CACHE_SECONDS = 15.0
GAS_MARGIN_PERCENT = 150   # over the first estimate: claims differ in cold storage and array sizes
CLAIM_OF_SELECTOR = keccak(text="claimOf(bytes32)")[:4]
# `submit(Completion, bytes[])` encoded and decoded here with eth-abi: web3's contract objects
# find a function by hashing every signature of the ABI, which was most of a member's time
# when a burst of claims went out (and when reading the pool's pending claims)
SUBMIT_ARGS = (f"({','.join(COMPLETION_ABI_TYPES)})", "bytes[]")
SUBMIT_SELECTOR = keccak(text=f"submit({SUBMIT_ARGS[0]},{SUBMIT_ARGS[1]})")[:4]
# The variables read by storage slot, with the types their decoding assumes (each in whole
# slots: Vyper packs nothing; a DynArray is its length, then one slot per item)
STORAGE_TYPES = {"claimOf": "HashMap[bytes32, bytes32]", "quorum": "uint256", "oracleSetVersion": "uint64",
                 "minScore": "uint16", "challengeWindow": "uint256", "oracles": "DynArray[address, 16]",
                 "claims": "HashMap[bytes32, Claim]"}
# The fields of a `Claim` a member follows, by their place in the struct: a HashMap's struct
# value takes consecutive slots from keccak256(base slot ++ key), one per field in order
# (learner, courseId, courseVersion, score, evidenceHash, submittedAt, status, challenger,
# bond, challengedAt, reward, credentialId, attesters)
CLAIM_FIELDS = {"submittedAt": 5, "status": 6, "challenger": 7, "reward": 10, "credentialId": 11}
STORAGE_MAX_ORACLES = 16   # as STORAGE_TYPES["oracles"] says
RULES_READS = 3    # attempts at reading the rules' slots at one length of the committee
RPC_BATCH = 1000     # the node's (and geth's) limit of calls per JSON-RPC batch
SUBMITTED_TOPIC = "0x" + keccak(text="Submitted(bytes32,address,bytes32)").hex()
ZERO_ADDRESS = "0x" + "00" * 20
MAX_WATCHED_EVENTS = 200_000   # claims whose last event is remembered; past it the watch starts over


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
        self.rpc_url = rpc_url
        # web3's validation asks eth_chainId before every call and transaction: ask it once
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}, cache_allowed_requests=True,
                                         cacheable_requests={RPCEndpoint("eth_chainId")}))
        self._session = requests.Session()
        self._ids = itertools.count(1)
        self.chain_id = int(info["chainId"], 16)
        self.address = to_checksum_address(info["contracts"]["ProofOfKnowledge"])
        artifact = load_artifact("ProofOfKnowledge")
        abi = artifact["abi"]
        self.pok = self.w3.eth.contract(address=self.address, abi=abi)
        # slots of STORAGE_TYPES, read directly once the node's code is known to be this artifact's
        self._slots_in_artifact = layout_slots(artifact.get("storageLayout"))
        self._runtime_code = str(artifact.get("deployedBytecode", "")).lower()
        self._slots: dict[str, int] | None = None
        get_claim = next(item for item in abi if item.get("name") == "getClaim")
        self._get_claim = (function_abi_to_4byte_selector(get_claim), get_abi_output_types(get_claim))
        self.domain = Domain(self.chain_id, self.address)
        self._lock = threading.Lock()
        self._rules: tuple[float, Rules] | None = None
        self._courses: dict[bytes, tuple[float, tuple[int, bool, str]]] = {}
        self._nonces: dict[str, int] = {}
        self._now: tuple[float, int] | None = None
        self._claims: dict[bytes, ClaimView] = {}     # as of block `_watched_to` or later
        self._watched_to: int | None = None
        self._watch_started: float | None = None
        self._events: dict[bytes, ClaimView | None] = {}   # what the logs since `_watch_started` said
        self._fees: tuple[float, dict[str, int]] | None = None
        self._gas: dict[str, int] = {}     # function name -> gas limit that worked
        self._pool_claims: dict[str, bytes | None] = {}   # pooled tx hash -> its claim key, see claims_in_pool

    # -- reads ------------------------------------------------------------------------------

    def catalog(self) -> list[Course]:
        """Every course id the contract lists, with its IRI, title, weight and issuer."""
        courses = []
        for course_id in self.pok.functions.getCourseIds().call():
            issuer, weight, active = self.pok.functions.courses(course_id).call()
            iri, title = self.pok.functions.courseInfo(course_id).call()
            courses.append(Course(iri, bytes(course_id), title, weight, active, issuer))
        return courses

    def rules(self, fresh: bool = False, max_age: float = CACHE_SECONDS) -> Rules:
        with self._lock:
            if not fresh and self._rules and time.monotonic() - self._rules[0] < max_age:
                return self._rules[1]
        if {"oracles", "quorum", "oracleSetVersion", "minScore", "challengeWindow"} <= set(self.storage_slots()):
            rules = self.rules_by_storage()
        else:
            oracles, quorum, version, min_score, window = self.call_views(
                ["getOracles", "quorum", "oracleSetVersion", "minScore", "challengeWindow"])
            rules = Rules(tuple(to_checksum_address(a) for a in oracles), quorum, version, min_score, window)
        with self._lock:
            self._rules = (time.monotonic(), rules)
        return rules

    def rules_by_storage(self) -> Rules:
        """`rules` read from the contract's storage in one JSON-RPC batch of eth_getStorageAt (no
        EVM runs; the worker reads the rules every pass): the four numbers, the committee's
        length and as many members as it had last time (at first, as many as it can have); read
        again should it have grown meanwhile."""
        slots = self._slots_in_artifact
        base = slots["oracles"]
        with self._lock:
            size = len(self._rules[1].committee) if self._rules else STORAGE_MAX_ORACLES
        for _ in range(RULES_READS):
            words = self.storage_words([slots["quorum"], slots["oracleSetVersion"], slots["minScore"],
                                        slots["challengeWindow"], base] + [base + 1 + i for i in range(size)])
            quorum, version, min_score, window, length = (int.from_bytes(word, "big") for word in words[:5])
            if length > STORAGE_MAX_ORACLES:
                raise RuntimeError(f"ProofOfKnowledge storage: {length} oracles")
            if length <= size:
                committee = tuple(to_checksum_address(word[12:]) for word in words[5:5 + length])
                return Rules(committee, quorum, version, min_score, window)
            size = length
        raise RuntimeError("the oracle committee kept changing while it was read")

    def storage_words(self, slots: Sequence[int | bytes]) -> list[bytes]:
        """The contract's storage words at `slots` (numbers, or 32-byte keccak slots), in one
        JSON-RPC batch of eth_getStorageAt."""
        return [word_bytes(result) for result in self.batch_request([
            ("eth_getStorageAt", [self.address, "0x" + (slot if isinstance(slot, bytes) else slot.to_bytes(32, "big"))
                                  .hex(), "latest"]) for slot in slots])]

    def storage_slots(self) -> dict[str, int]:
        """The slots of STORAGE_TYPES' variables the oracle may read directly: those the
        artifact's storage layout gives, if the node runs the artifact's code (its runtime code
        then the immutables); none (everything is read with calls) for a node running another
        build, whose layout may differ. Checked once, with one eth_getCode."""
        with self._lock:
            if self._slots is not None:
                return self._slots
        slots = self._slots_in_artifact
        if slots:
            code = str(self.batch_request([("eth_getCode", [self.address, "latest"])])[0]).lower()
            if len(self._runtime_code) <= 2 or not code.startswith(self._runtime_code):
                slots = {}
        with self._lock:
            self._slots = slots
        return slots

    def call_views(self, names: Sequence[str]) -> list[Any]:
        """The contract's argument-less views `names`, read in one JSON-RPC batch."""
        results = self.batch_request([("eth_call", [{"to": self.address, "data": self.pok.encode_abi(name, [])},
                                                    "latest"]) for name in names])
        decoded = []
        for name, result in zip(names, results):
            values = decode(get_abi_output_types(self.pok.get_function_by_name(name).abi), bytes.fromhex(result[2:]))
            decoded.append(values[0] if len(values) == 1 else values)
        return decoded

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
        return (learner, course_id) in self.claimed_pairs([(learner, course_id)])

    def claimed_pairs(self, pairs: Sequence[tuple[str, bytes]]) -> set[tuple[str, bytes]]:
        """The (learner, course id) pairs with a live or rewarded claim on chain: one JSON-RPC
        batch of `claimOf` reads for all of them (see `claim_of`)."""
        pairs = list(dict.fromkeys(pairs))
        if not pairs:
            return set()
        words = self.claim_of([compute_pair_key(*pair) for pair in pairs])
        return {pair for pair, word in zip(pairs, words) if any(word)}

    def claim_of(self, pair_keys: Sequence[bytes], *, by_storage: bool | None = None) -> list[bytes]:
        """`claimOf[key]` for each pair key (a claim key, or 32 zero bytes), in one JSON-RPC batch.

        Read from storage with eth_getStorageAt at keccak256(claimOf's slot ++ key), which runs
        no EVM (a `claimOf` eth_call builds one: several times the node's work), when
        `storage_slots` has the slot; else with `claimOf` calls. `by_storage` forces one way
        (tests compare them)."""
        if not pair_keys:
            return []
        use_storage = "claimOf" in self.storage_slots() if by_storage is None else by_storage
        if use_storage:
            return self.storage_words([mapping_slot(self._slots_in_artifact["claimOf"], key) for key in pair_keys])
        return [word_bytes(result) for result in self.batch_request([
            ("eth_call", [{"to": self.address, "data": "0x" + (CLAIM_OF_SELECTOR + key).hex()}, "latest"])
            for key in pair_keys])]

    def batch_request(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """The results of `calls`, sent as JSON-RPC batches; raises RuntimeError on any error."""
        results = []
        for (method, _), outcome in zip(calls, self.batch_outcomes(calls)):
            if isinstance(outcome, RPCFailure):
                raise RuntimeError(f"{method}: {outcome.message}")
            results.append(outcome)
        return results

    def batch_outcomes(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """Each call's result, or an RPCFailure for a call the node refused, in order: JSON-RPC
        batches of at most RPC_BATCH calls. Raises RuntimeError if a batch itself is refused."""
        outcomes: list[Any] = []
        for start in range(0, len(calls), RPC_BATCH):
            chunk = calls[start:start + RPC_BATCH]
            ids = [next(self._ids) for _ in chunk]
            body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in zip(ids, chunk)]
            reply = self._session.post(self.rpc_url, json=body, timeout=60).json()
            if not isinstance(reply, list):
                raise RuntimeError(f"JSON-RPC batch refused: {reply}")
            by_id = {item.get("id"): item for item in reply}
            for i in ids:
                item = by_id.get(i) or {"error": {"message": "no answer in the batch"}}
                error = item.get("error")
                outcomes.append(RPCFailure(str(error.get("message")), error.get("data")) if error else item["result"])
        return outcomes

    def claim(self, claim_key: bytes, fresh: bool = False) -> ClaimView:
        """The claim's record: as `watch_claims` keeps it current, or read now."""
        if fresh:
            view = self.claims([claim_key])[0]
            with self._lock:
                if self._watched_to is not None:   # read at or after the watched block: current
                    self._claims[claim_key] = view
            return view
        return self.current_claims([claim_key])[0]

    def current_claims(self, claim_keys: Sequence[bytes], born: Sequence[bytes] = ()) -> list[ClaimView]:
        """The records of `claim_keys`: those `watch_claims` keeps current or its logs showed,
        no claim for those `born` after the watch began (see `watch_claims`) and no event
        since, and one batch read for the others."""
        born_set = set(born)
        with self._lock:
            known = {key: self._claims.get(key) or self._events.get(key) for key in claim_keys}
            if self._watch_started is not None:
                known.update({key: NO_CLAIM for key, view in known.items()
                              if view is None and key in born_set and key not in self._events})
        missing = [key for key, view in known.items() if view is None]
        if missing:
            fetched = dict(zip(missing, self.claims(missing)))
            with self._lock:
                if self._watched_to is not None:
                    self._claims.update(fetched)
            known.update(fetched)
        return [known[key] for key in claim_keys]   # type: ignore[misc]

    def claims(self, claim_keys: Sequence[bytes], *, by_storage: bool | None = None) -> list[ClaimView]:
        """The records of `claim_keys`, read in one JSON-RPC batch: the fields a member follows
        by eth_getStorageAt (five reads per claim cost the node less than one `getClaim` call,
        which builds an EVM), or `getClaim` calls when the slots are not known (`claim_of`
        says when; `by_storage` forces one way)."""
        if not claim_keys:
            return []
        if "claims" in self.storage_slots() if by_storage is None else by_storage:
            bases = [int.from_bytes(mapping_slot(self._slots_in_artifact["claims"], key), "big") for key in claim_keys]
            words = iter(self.storage_words([(base + offset) % 2**256 for base in bases
                                             for offset in CLAIM_FIELDS.values()]))
            views = []
            for _ in bases:
                field = {name: next(words) for name in CLAIM_FIELDS}
                number = {name: int.from_bytes(word, "big") for name, word in field.items()}
                views.append(ClaimView(status=number["status"], submitted_at=number["submittedAt"],
                                       challenger=to_checksum_address(field["challenger"][12:]),
                                       reward=number["reward"], credential_id=number["credentialId"]))
            return views
        selector, types = self._get_claim
        results = self.batch_request([("eth_call", [{"to": self.address, "data": "0x" + (selector + key).hex()},
                                                    "latest"]) for key in claim_keys])
        return [claim_view(decode(types, bytes.fromhex(result[2:]))[0]) for result in results]

    def watch_claims(self, claim_keys: Sequence[bytes], born: Sequence[bytes] = ()) -> None:
        """Bring the records of `claim_keys` up to the head for `claim`, reading as little as
        possible: one eth_getLogs of the contract since the last call says which claims changed
        (every event that changes a claim has its key as first topic). A `Submitted` event says
        all of the claim a member needs (pending, submitted at its block's time); after any
        other event the claim is read. A key watched for the first time is read, unless it is
        in `born`: claims of records whose chain check (no claim yet) began after
        `watching_since`, whose every event since then these logs have shown (none yet: no
        claim). One batch reads the rest, so a worker
        pass costs a few round trips, not one per claim."""
        try:
            with self._lock:
                watched_to, known, started = self._watched_to, dict(self._claims), self._watch_started
            head = int(self.w3.eth.block_number)
            if watched_to is None:
                # once the head is known: any read sent from now on sees this block or a later
                # one, and every event after it is in the logs the next calls read
                started = time.time()
            changed: dict[bytes, ClaimView | None] = {}
            if watched_to is not None and head > watched_to:
                logs = self.batch_request([("eth_getLogs", [{"address": self.address, "fromBlock": hex(watched_to + 1),
                                                             "toBlock": hex(head)}])])[0]
                changed = self._changes(logs)
            born_set = set(born)
            views: dict[bytes, ClaimView | None] = {}
            with self._lock:   # look-ups only: the event table is not copied on every pass
                self._events.update(changed)
                if len(self._events) > MAX_WATCHED_EVENTS:
                    raise RuntimeError("too many claims changed to follow: reading them afresh")
                for key in dict.fromkeys(claim_keys):
                    if key in changed:
                        views[key] = changed[key]
                    elif key in known:
                        views[key] = known[key]
                    elif key in self._events:
                        views[key] = self._events[key]
                    elif key in born_set:
                        views[key] = NO_CLAIM
                    else:
                        views[key] = None
            stale = [key for key, view in views.items() if view is None]
            read = dict(zip(stale, self.claims(stale))) if stale else {}
            with self._lock:
                self._claims = {key: view or read[key] for key, view in views.items()}
                self._watched_to, self._watch_started = head, started
        except Exception:
            with self._lock:   # nothing cached can be trusted now: `claim` reads afresh
                self._claims, self._watched_to, self._watch_started, self._events = {}, None, None, {}
            raise

    def watching_since(self) -> float | None:
        """The time since which `watch_claims` has seen every event of the contract."""
        with self._lock:
            return self._watch_started

    def _changes(self, logs: list[dict[str, Any]]) -> dict[bytes, ClaimView | None]:
        """Claim key -> its record as the logs leave it (a submission), or None (read it)."""
        submitted_blocks = sorted({int(log["blockNumber"], 16) for log in logs if log["topics"][0] == SUBMITTED_TOPIC})
        times = dict(zip(submitted_blocks, (int(block["timestamp"], 16) for block in self.batch_request(
            [("eth_getBlockByNumber", [hex(n), False]) for n in submitted_blocks])))) if submitted_blocks else {}
        changes: dict[bytes, ClaimView | None] = {}
        for log in logs:
            if len(log["topics"]) < 2:
                continue
            key = bytes.fromhex(log["topics"][1][2:])
            if log["topics"][0] == SUBMITTED_TOPIC:
                changes[key] = ClaimView(CLAIM_PENDING, times[int(log["blockNumber"], 16)], ZERO_ADDRESS, 0, 0)
            else:
                changes[key] = None
        return changes

    def now(self) -> int:
        """The chain's time: the latest block's timestamp (what the challenge window counts),
        read at most once per half second."""
        with self._lock:
            if self._now and time.monotonic() - self._now[0] < NOW_CACHE_SECONDS:
                return self._now[1]
        value = int(self.w3.eth.get_block("latest")["timestamp"])
        with self._lock:
            self._now = (time.monotonic(), value)
        return value

    # -- transactions -------------------------------------------------------------------------

    def build_submits(self, account: LocalAccount, claims: Sequence[tuple[Completion, list[bytes]]], *,
                      trial: bool = True) -> list["SignedTx | ContractLogicError"]:
        """Signed `submit` transactions for many claims.

        With `trial`, each is run first, in one JSON-RPC batch of calls for all of them: a claim
        whose call reverts gets its ContractLogicError in place of a transaction (no nonce
        taken). Without, only the gas limit is learned (once, from one estimate); the caller
        has checked what can be checked before signing, and a claim whose transaction reverts
        is built again with its trial."""
        if not claims:
            return []
        data = ["0x" + (SUBMIT_SELECTOR + encode(SUBMIT_ARGS, [completion.as_abi(), signatures])).hex()
                for completion, signatures in claims]
        with self._lock:
            known = self._gas.get("submit")
        if trial:
            limit = {"gas": hex(known)} if known else {}   # at first, the node's gas cap
            outcomes = self.batch_outcomes([("eth_call", [{"from": account.address, "to": self.address, "data": d,
                                                           **limit}, "latest"]) for d in data])
        else:
            outcomes = ["0x"] * len(claims)

        def call(claim: tuple[Completion, list[bytes]]) -> Any:
            return self.pok.functions.submit(claim[0].as_abi(), claim[1])

        # the first claims ever learn the gas limit from the first one that runs (not all of a
        # burst run twice); one that reverts meanwhile gets its error in place
        gas, reverted = known or 0, dict[int, ContractLogicError]()
        for i, (claim, outcome) in enumerate(zip(claims, outcomes)):
            if gas:
                break
            if isinstance(outcome, RPCFailure):
                continue
            try:
                gas = self._gas_limit(account, call(claim))
            except ContractLogicError as exc:
                reverted[i] = exc
        fees = self.fees()
        built: list[SignedTx | ContractLogicError] = []
        for i, (claim, d, outcome) in enumerate(zip(claims, data, outcomes)):
            if i in reverted:
                built.append(reverted[i])
            elif isinstance(outcome, RPCFailure) and outcome.is_revert:
                built.append(ContractLogicError(outcome.message, data=outcome.data))
            elif isinstance(outcome, RPCFailure):   # out of gas, say: this one the slow way
                try:
                    built.append(self._sign(account, call(claim)))
                except ContractLogicError as exc:
                    built.append(exc)
            else:
                tx: dict[str, Any] = {"type": 2, "chainId": self.chain_id, "to": self.address, "value": 0, "data": d,
                                      "gas": gas, **fees, "nonce": self._take_nonce(account.address)}
                signed = account.sign_transaction(tx)
                built.append(SignedTx("0x" + bytes(signed.hash).hex(), bytes(signed.raw_transaction), tx["nonce"]))
        return built

    def claims_in_pool(self, senders: Sequence[str]) -> set[bytes]:
        """Claim keys of the `submit` transactions from `senders` (the other members) that the
        node holds, not yet mined: one JSON-RPC batch of geth's `txpool_contentFrom`. Empty if
        the node does not answer it."""
        selector = "0x" + SUBMIT_SELECTOR.hex()
        decoded: dict[str, bytes | None] = {}   # tx hash -> claim key: each pooled claim decoded once
        for outcome in self.batch_outcomes([("txpool_contentFrom", [sender]) for sender in senders]):
            if isinstance(outcome, RPCFailure) or not isinstance(outcome, dict):
                continue
            for txs in outcome.values():
                for tx in txs.values():
                    if tx.get("to", "").lower() != self.address.lower() or not tx.get("input", "").startswith(selector):
                        continue
                    tx_hash = str(tx.get("hash"))
                    if tx_hash not in self._pool_claims:
                        try:
                            fields, _ = decode(SUBMIT_ARGS, bytes.fromhex(tx["input"][10:]))
                            self._pool_claims[tx_hash] = compute_struct_hash(Completion(*fields))
                        except Exception:   # not a claim we can read: no claim of ours either
                            self._pool_claims[tx_hash] = None
                    decoded[tx_hash] = self._pool_claims[tx_hash]
        self._pool_claims = decoded   # what left the pool is forgotten
        return {key for key in decoded.values() if key is not None}

    def build_finalize(self, account: LocalAccount, claim_key: bytes) -> "SignedTx":
        return self._sign(account, self.pok.functions.finalize(claim_key))

    def send_raw(self, raw: bytes) -> bool:
        """Send a signed transaction; False if its nonce is already used on chain.

        Sending the same bytes again (after a restart) is harmless: the node knows them.
        """
        outcome = self.send_raws([raw])[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def send_raws(self, raws: Sequence[bytes]) -> list[bool | Exception]:
        """Send signed transactions in one JSON-RPC batch: for each, True if the node has it,
        False if its nonce is already used on chain, or the node's refusal as an exception."""
        outcomes = self.batch_outcomes([("eth_sendRawTransaction", ["0x" + raw.hex()]) for raw in raws])
        results: list[bool | Exception] = []
        for outcome in outcomes:
            if not isinstance(outcome, RPCFailure) or "already known" in outcome.message:
                results.append(True)
            elif "nonce too low" in outcome.message:
                results.append(False)
            else:
                results.append(ValueError(outcome.message))
        return results

    def receipt_status(self, tx_hash: str) -> int | None:
        """1 success, 0 reverted, None not mined yet."""
        return self.receipt_statuses([tx_hash])[0]

    def receipt_statuses(self, tx_hashes: Sequence[str]) -> list[int | None]:
        """`receipt_status` of each, in one JSON-RPC batch."""
        outcomes = self.batch_outcomes([("eth_getTransactionReceipt", [h]) for h in tx_hashes])
        return [None if isinstance(o, RPCFailure) or o is None else int(o["status"], 16) for o in outcomes]

    def _sign(self, account: LocalAccount, fn: Any) -> "SignedTx":
        gas = self._gas_limit(account, fn)
        tx = fn.build_transaction({"from": account.address, "chainId": self.chain_id, "nonce": 0,
                                   "gas": gas, **self.fees()})
        # the nonce is taken last, after every call that could fail: a taken nonce is always used
        tx["nonce"] = self._take_nonce(account.address)
        signed = account.sign_transaction(tx)
        return SignedTx("0x" + bytes(signed.hash).hex(), bytes(signed.raw_transaction), tx["nonce"])

    def _gas_limit(self, account: LocalAccount, fn: Any) -> int:
        """A gas limit for `fn`, checked by running it once; raises ContractLogicError if it
        would revert (before a nonce is taken or anything signed).

        The node's estimateGas runs a call a dozen times (a search for the least gas), and
        claims of one function cost much the same: the first estimate, with a margin, is
        reused, and each transaction is only run once with it. Should that run fail for want
        of gas, the estimate is made afresh."""
        name = fn.fn_name
        with self._lock:
            gas = self._gas.get(name)
        if gas is not None:
            try:
                fn.call({"from": account.address, "gas": gas})
                return gas
            except ContractLogicError:
                raise
            except (ValueError, Web3RPCError):   # out of gas, say: estimate again
                pass
        gas = fn.estimate_gas({"from": account.address}) * GAS_MARGIN_PERCENT // 100
        with self._lock:
            self._gas[name] = gas
        return gas

    def fees(self) -> dict[str, int]:
        """EIP-1559 fee caps as web3.py would choose them (twice the base fee plus the tip),
        read at most every 15 s: a burst of claims shares them (the node's tip suggestion reads
        recent blocks, and the doubled base fee leaves room for it to rise)."""
        with self._lock:
            if self._fees and time.monotonic() - self._fees[0] < FEE_CACHE_SECONDS:
                return self._fees[1]
        tip = int(self.w3.eth.max_priority_fee)
        base = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0))
        fees = {"maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * base + tip}
        with self._lock:
            self._fees = (time.monotonic(), fees)
        return fees

    def _take_nonce(self, address: str) -> int:
        """The next nonce, counted here once known: a node's pending count may lag its pool,
        and asking for each transaction costs two round trips. A refused or stuck transaction
        makes the caller `forget_nonce`, and the count starts again from the node's."""
        with self._lock:
            known = self._nonces.get(address)
            if known is not None:
                self._nonces[address] = known + 1
                return known
        latest = self.w3.eth.get_transaction_count(to_checksum_address(address), "latest")
        pending = self.w3.eth.get_transaction_count(to_checksum_address(address), "pending")
        with self._lock:
            nonce = max(latest, pending, self._nonces.get(address, 0))
            self._nonces[address] = nonce + 1
        return nonce

    def release_nonce(self, address: str, nonce: int) -> None:
        """A signed transaction that was never accepted gives its nonce back (no gap behind it)."""
        with self._lock:
            if self._nonces.get(address) == nonce + 1:
                self._nonces[address] = nonce

    def forget_nonce(self, address: str) -> None:
        """Count from the node's view again (after a refused send or a stuck transaction)."""
        with self._lock:
            self._nonces.pop(address, None)

    def mined_nonce(self, address: str) -> int:
        """Transactions of `address` included so far."""
        return int(self.w3.eth.get_transaction_count(to_checksum_address(address), "latest"))


NO_CLAIM = ClaimView(CLAIM_NONE, 0, ZERO_ADDRESS, 0, 0)


def claim_view(fields: Sequence[Any]) -> ClaimView:
    """`getClaim`'s tuple: (learner, courseId, courseVersion, score, evidenceHash, submittedAt,
    status, challenger, bond, challengedAt, reward, credentialId, attesters)."""
    return ClaimView(status=fields[6], submitted_at=fields[5], challenger=to_checksum_address(fields[7]),
                     reward=fields[10], credential_id=fields[11])


def layout_slots(layout: Any) -> dict[str, int]:
    """The slot of each of STORAGE_TYPES' variables in a ProofOfKnowledge artifact's
    `storageLayout` (the compiler's, see contracts/build.py) that is there with its expected
    type; none from a missing layout."""
    slots: dict[str, int] = {}
    for name, expected in STORAGE_TYPES.items():
        entry = layout.get(name) if isinstance(layout, Mapping) else None
        slot = entry.get("slot") if isinstance(entry, Mapping) and entry.get("type") == expected else None
        if isinstance(slot, int) and not isinstance(slot, bool) and 0 <= slot < 2**255:
            slots[name] = slot
    return slots


def mapping_slot(base_slot: int, key: bytes) -> bytes:
    """Where Vyper keeps `HashMap[bytes32, ...]`'s value for `key`: keccak256(the mapping's
    base slot as a 32-byte word ++ key)."""
    if len(key) != 32:
        raise ValueError("a bytes32 key is 32 bytes")
    return keccak(base_slot.to_bytes(32, "big") + key)


def word_bytes(result: Any) -> bytes:
    """A 32-byte word from a JSON-RPC hex result (eth_call's ABI-encoded bytes32 or
    eth_getStorageAt's value, which some nodes send without leading zeros). An empty "0x"
    (a call to an address without code) is no word."""
    if not isinstance(result, str) or not result.startswith("0x") or not 2 < len(result) <= 66:
        raise RuntimeError(f"not a 32-byte word: {result!r}")
    return int(result, 16).to_bytes(32, "big")


def compute_pair_key(learner: str, course_id: bytes) -> bytes:
    """The key of `claimOf`: keccak(learner as a 32-byte word ++ course id)."""
    return keccak(Web3.to_bytes(hexstr=HexStr(learner)).rjust(32, b"\0") + course_id)


@dataclass(frozen=True)
class RPCFailure:
    """A call the node answered with an error, inside a JSON-RPC batch."""

    message: str
    data: Any = None

    @property
    def is_revert(self) -> bool:
        return self.message.startswith("execution reverted")


@dataclass(frozen=True)
class SignedTx:
    hash: str
    raw: bytes
    nonce: int


def revert_reason(exc: Exception) -> str:
    """The contract's revert string from a ContractLogicError, as plain text."""
    if isinstance(exc, ContractLogicError):
        return str(exc.message or exc).removeprefix("execution reverted: ")
    return str(exc)
