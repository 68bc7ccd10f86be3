"""The oracle reads `ProofOfKnowledge.claimOf` and the claim rules by storage slot
(eth_getStorageAt, no EVM run), at the slots the compiler's storage layout gives, and gets what
the contract's views return."""
from __future__ import annotations

import time
import uuid

import pytest
from eth_utils import keccak
from web3 import Web3

import oracle.chain as chain_module
from contracts.build import load_artifact
from oracle.attestation import completion_for
from oracle.chain import STORAGE_TYPES, ChainView, Rules, compute_pair_key, layout_slots, mapping_slot, word_bytes
from oracle.completion import compute_digest, compute_struct_hash, order_signatures, sign_digest

COURSE = "https://azora.africa/courses/blockchain-101"


def test_the_artifact_records_the_compilers_slots():
    layout = load_artifact("ProofOfKnowledge")["storageLayout"]
    # the modules `initializes:`d first (ownable) take slots before the contract's own variables
    assert layout["ownable"]["owner"]["slot"] == 0
    slots = layout_slots(layout)
    assert set(slots) == set(STORAGE_TYPES)
    assert layout["claimOf"] == {"type": "HashMap[bytes32, bytes32]", "n_slots": 1, "slot": slots["claimOf"]}
    assert slots["claimOf"] > 1000   # after courseIds' and oracles' static arrays: no guess finds it
    assert layout["oracles"]["n_slots"] == 17   # the length, then 16 members


@pytest.mark.parametrize("layout", [
    None, {}, {"claimOf": {"slot": 7}}, {"claimOf": {"type": "HashMap[bytes32, uint256]", "slot": 7}},
    {"claimOf": {"type": "HashMap[bytes32, bytes32]", "slot": "7"}},
    {"claimOf": {"type": "HashMap[bytes32, bytes32]", "slot": True}},
    {"claimOf": {"type": "HashMap[bytes32, bytes32]", "slot": -1}},
])
def test_a_missing_or_unexpected_layout_gives_no_slot(layout):
    assert "claimOf" not in layout_slots(layout)


def test_mapping_slot_is_keccak_of_the_base_slot_word_and_the_key():
    key = bytes(range(32))
    assert mapping_slot(5, key) == keccak(bytes(31) + b"\x05" + key)
    with pytest.raises(ValueError):
        mapping_slot(5, b"\x01")


def test_words_from_either_read_are_32_bytes():
    assert word_bytes("0x" + "00" * 31 + "2a") == bytes(31) + b"\x2a"
    assert word_bytes("0x2a") == bytes(31) + b"\x2a"   # a node may drop leading zeros
    for bad in ("0x", "2a", None, "0x" + "00" * 33):
        with pytest.raises(RuntimeError):
            word_bytes(bad)


def submit_claim(chain: ChainView, learner: str, dev_accounts, w3: Web3) -> bytes:
    """A claim for (learner, COURSE) on chain, signed by two of the dev committee (accounts 7-9)
    and sent by account 0; returns its key."""
    rules = chain.rules(fresh=True)
    body = {"id": str(uuid.uuid4()), "timestamp": "2026-01-01T00:00:00Z",
            "actor": {"objectType": "Agent", "account": {"homePage": "https://learn.example.org", "name": learner}},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
            "object": {"id": COURSE, "objectType": "Activity"}, "result": {"success": True, "score": {"scaled": 0.9}}}
    completion = completion_for(body, oracle_set_version=rules.oracle_set_version, deadline=chain.now() + 3600)
    digest = compute_digest(completion, chain.domain)
    signatures = order_signatures({m.address: sign_digest(bytes(m.key), digest) for m in dev_accounts[7:9]},
                                  rules.quorum)
    (tx,) = chain.build_submits(dev_accounts[0], [(completion, signatures)])
    assert not isinstance(tx, Exception), tx
    assert chain.send_raw(tx.raw)
    assert w3.eth.wait_for_transaction_receipt(tx.hash, timeout=60)["status"] == 1
    return compute_struct_hash(completion)


def test_storage_reads_answer_as_claim_of_calls_on_a_real_node(dev_node, w3, dev_accounts, monkeypatch):
    chain = ChainView(dev_node.url)
    assert chain.storage_slots() == layout_slots(load_artifact("ProofOfKnowledge")["storageLayout"])
    oracles, quorum, version, min_score, window = chain.call_views(
        ["getOracles", "quorum", "oracleSetVersion", "minScore", "challengeWindow"])
    by_calls = Rules(tuple(Web3.to_checksum_address(a) for a in oracles), quorum, version, min_score, window)
    assert by_calls == chain.rules_by_storage() == chain.rules(fresh=True)
    assert by_calls.committee == tuple(a.address for a in dev_accounts[7:10]) and by_calls.quorum == 2
    assert chain.rules_by_storage() == by_calls   # read again with the committee's size known
    claimed = Web3.to_checksum_address("0x" + "11" * 20)
    unclaimed = Web3.to_checksum_address("0x" + "22" * 20)
    course_id = keccak(text=COURSE)
    claim_key = submit_claim(chain, claimed, dev_accounts, w3)
    keys = [compute_pair_key(claimed, course_id), compute_pair_key(unclaimed, course_id),
            compute_pair_key(claimed, keccak(text="https://azora.africa/courses/smart-contracts"))]
    by_storage = chain.claim_of(keys, by_storage=True)
    assert by_storage == chain.claim_of(keys, by_storage=False) == [claim_key, bytes(32), bytes(32)]
    claim_keys = [claim_key, keccak(b"no such claim")]
    views = chain.claims(claim_keys, by_storage=True)
    assert views == chain.claims(claim_keys, by_storage=False)
    assert views[0].status == 1 and views[0].submitted_at > 0 and views[1].status == 0
    pairs = [(claimed, course_id), (unclaimed, course_id)]
    assert chain.claimed_pairs(pairs) == {(claimed, course_id)}
    assert chain.is_claimed(claimed, course_id) and not chain.is_claimed(unclaimed, course_id)

    # the hot path sends storage reads, not calls
    sent: list[str] = []
    batch_request = chain.batch_request
    monkeypatch.setattr(chain, "batch_request", lambda calls: sent.extend(m for m, _ in calls) or batch_request(calls))
    assert chain.claimed_pairs(pairs) == {(claimed, course_id)}
    assert sent == ["eth_getStorageAt"] * 2
    sent.clear()
    assert chain.rules(fresh=True) == by_calls
    assert sent == ["eth_getStorageAt"] * (5 + 3)
    sent.clear()
    assert chain.claims(claim_keys) == views
    assert sent == ["eth_getStorageAt"] * 5 * 2

    # an artifact without a layout, or of other code than the node runs: claimOf calls, same answers
    artifact = load_artifact("ProofOfKnowledge")
    for changed in ({k: v for k, v in artifact.items() if k != "storageLayout"},
                    {**artifact, "deployedBytecode": "0x6000" + artifact["deployedBytecode"][2:]}):
        monkeypatch.setattr(chain_module, "load_artifact", lambda name, changed=changed: changed)
        fallback = ChainView(dev_node.url)
        assert fallback.storage_slots() == {}
        assert fallback.claimed_pairs(pairs) == {(claimed, course_id)}
        assert fallback.claim_of(keys) == by_storage
        assert fallback.rules(fresh=True) == by_calls
        assert fallback.claims(claim_keys) == views


def test_reading_claim_of_by_storage_costs_the_node_less_than_calls(dev_node):
    """Indicative only (the machine may be loaded): the point of the change."""
    chain = ChainView(dev_node.url)
    keys = [keccak(i.to_bytes(32, "big")) for i in range(300)]
    timings = {}
    for by_storage in (False, True, False, True):
        started = time.perf_counter()
        assert chain.claim_of(keys, by_storage=by_storage) == [bytes(32)] * len(keys)
        timings[by_storage] = min(timings.get(by_storage, float("inf")), time.perf_counter() - started)
    print(f"300 claimOf reads: eth_call {timings[False] * 1000:.0f} ms, eth_getStorageAt {timings[True] * 1000:.0f} ms")
    claims = {}
    for by_storage in (False, True, False, True):
        started = time.perf_counter()
        assert {view.status for view in chain.claims(keys, by_storage=by_storage)} == {0}
        claims[by_storage] = min(claims.get(by_storage, float("inf")), time.perf_counter() - started)
    print(f"300 claim records: getClaim calls {claims[False] * 1000:.0f} ms, "
          f"eth_getStorageAt x5 {claims[True] * 1000:.0f} ms")


def test_rules_by_storage_read_again_when_the_committee_grew():
    """The members are read with the rest in one batch, as many as last time: more now, and
    the slots are read again with the new length."""
    import threading

    slots = layout_slots(load_artifact("ProofOfKnowledge")["storageLayout"])
    members = [Web3.to_checksum_address(f"0x{i:040x}") for i in range(1, 6)]
    storage = {slots["quorum"]: 3, slots["oracleSetVersion"]: 7, slots["minScore"]: 6000,
               slots["challengeWindow"]: 60, slots["oracles"]: len(members),
               **{slots["oracles"] + 1 + i: int(m, 16) for i, m in enumerate(members)}}
    chain = ChainView.__new__(ChainView)
    chain._slots_in_artifact, chain._lock = slots, threading.Lock()
    chain._rules = (0.0, Rules(tuple(members[:2]), 2, 6, 6000, 60))
    batches: list[int] = []

    def storage_words(read):
        batches.append(len(read))
        return [storage.get(slot, 0).to_bytes(32, "big") for slot in read]

    chain.storage_words = storage_words
    assert chain.rules_by_storage() == Rules(tuple(members), 3, 7, 6000, 60)
    assert batches == [5 + 2, 5 + 5]
    storage[slots["oracles"]] = 17
    with pytest.raises(RuntimeError):
        chain.rules_by_storage()
