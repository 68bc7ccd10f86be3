"""The oracle's pure parts: xAPI parsing, the Completion digest, the attestation topic
validator, the durable store, and its layering."""
from __future__ import annotations


import pytest
import rlp
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from oracle.attestation import (
    ACCEPT, IGNORE, MAX_ATTESTATIONS_PER_MESSAGE, MAX_MESSAGE_BYTES, REJECT, Attestation, check_attestations,
    completion_for, encode_attestation, encode_attestations, pack_attestations,
)
from oracle.completion import (
    SECP256K1_N, Completion, Domain, compute_digest, compute_struct_hash, order_signatures,
    recover_signer, sign_digest, submitter_rank,
)
from oracle.store import FINALIZED, SIGNED, OracleStore, Record
from oracle.xapi import StatementError, complete_statement, parse_statement

LEARNER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
COURSE = "https://azora.africa/courses/blockchain-101"
DOMAIN = Domain(1337, "0x37b34585865c7B659D13aA1239d0f52978D780c7")
MEMBERS = sorted((Account.from_key(keccak(text=f"oracle{i}")) for i in range(3)), key=lambda a: int(a.address, 16))
COMMITTEE = tuple(a.address for a in MEMBERS)


def statement(**changes) -> dict:
    base = {
        "id": "38888674-6e45-4074-8385-ac98128f77e6",
        "actor": {"account": {"homePage": "https://learn.example.org", "name": LEARNER}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": COURSE},
        "result": {"success": True, "score": {"scaled": 0.92}},
        "timestamp": "2026-12-01T10:00:00Z",
    }
    base.update(changes)
    return base


def attestation(signer=MEMBERS[0], domain=DOMAIN, st=None, **completion_changes) -> Attestation:
    st = st or statement()
    completion = completion_for(st, oracle_set_version=1, deadline=2_000_000_000)
    completion = Completion(**{**completion.__dict__, **completion_changes})
    signature = sign_digest(bytes(signer.key), compute_digest(completion, domain))
    return Attestation(domain.chain_id, domain.contract, st, completion, signer.address, signature)


def check(payload: bytes) -> str:
    return check_attestations(payload, domain=DOMAIN, committee=COMMITTEE, oracle_set_version=1)[0]


def test_statement_maps_to_learner_course_and_basis_point_score():
    parsed = parse_statement(statement())
    assert (parsed.learner, parsed.course_id, parsed.score) == (LEARNER, keccak(text=COURSE), 9_200)
    assert parsed.completed_at == 1_796_119_200


@pytest.mark.parametrize("changes, reason", [
    ({"verb": {"id": "http://adlnet.gov/expapi/verbs/attempted"}}, "verb"),
    ({"actor": {"account": {"name": "learner@example.org"}}}, "actor.account.name"),
    ({"actor": {"mbox": "mailto:x@example.org"}}, "actor.account.name"),
    ({"object": {"id": "blockchain-101"}}, "object.id"),
    ({"result": {"success": False, "score": {"scaled": 1}}}, "result.success"),
    ({"result": {"success": True}}, "result.score.scaled"),
    ({"result": {"success": True, "score": {"scaled": 1.5}}}, "result.score.scaled"),
    ({"result": {"success": True, "score": {"scaled": True}}}, "result.score.scaled"),
    ({"timestamp": "yesterday"}, "timestamp"),
    ({"id": "not-a-uuid"}, "UUID"),
])
def test_invalid_statements_are_refused_with_a_reason(changes, reason):
    with pytest.raises(StatementError) as caught:
        parse_statement(statement(**changes))
    assert caught.value.status == 400 and reason in caught.value.reason


def test_statement_gets_an_id_and_timestamp_unless_given():
    given = complete_statement({"verb": {}}, None, 0)
    assert len(given["id"]) == 36 and given["timestamp"].startswith("1970-01-01")
    assert complete_statement(statement(), None, 0)["timestamp"] == "2026-12-01T10:00:00Z"
    with pytest.raises(StatementError):
        complete_statement(statement(), "00000000-0000-0000-0000-000000000000", 0)


def test_completion_digest_is_eip712_typed_data():
    completion = completion_for(statement(), oracle_set_version=1, deadline=2_000_000_000)
    fields = ["learner", "courseId", "courseVersion", "score", "completedAt", "evidenceHash",
              "oracleSetVersion", "deadline"]
    types = ["address", "bytes32", "uint32", "uint16", "uint64", "bytes32", "uint64", "uint64"]
    signable = encode_typed_data(full_message={
        "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                   {"name": "chainId", "type": "uint256"},
                                   {"name": "verifyingContract", "type": "address"}],
                  "Completion": [{"name": n, "type": t} for n, t in zip(fields, types)]},
        "primaryType": "Completion",
        "domain": {"name": "Azora Proof of Knowledge", "version": "1", "chainId": DOMAIN.chain_id,
                   "verifyingContract": DOMAIN.contract},
        "message": dict(zip(fields, completion.as_abi())),
    })
    digest = compute_digest(completion, DOMAIN)
    assert digest == keccak(b"\x19" + signable.version + signable.header + signable.body)
    signature = sign_digest(bytes(MEMBERS[0].key), digest)
    assert recover_signer(digest, signature) == MEMBERS[0].address
    assert int.from_bytes(signature[32:64], "big") <= SECP256K1_N // 2


def test_signatures_are_ordered_by_signer_and_cut_to_quorum():
    sigs = {a.address: bytes([i]) for i, a in enumerate(reversed(MEMBERS))}
    assert order_signatures(sigs, 2) == [sigs[MEMBERS[0].address], sigs[MEMBERS[1].address]]


def test_exactly_one_member_is_first_submitter_for_each_claim():
    for n in range(20):
        ranks = sorted(submitter_rank(a, COMMITTEE, keccak(n.to_bytes(2, "big"))) for a in COMMITTEE)
        assert ranks == [0, 1, 2]


def test_valid_attestation_is_accepted():
    assert check(encode_attestation(attestation())) == ACCEPT


def test_invalid_attestations_are_rejected_on_the_topic():
    good = attestation()
    stranger = Account.from_key(keccak(text="not a member"))
    forged = Attestation(**{**good.__dict__, "signer": MEMBERS[1].address})   # claims another signer
    s = int.from_bytes(good.signature[32:64], "big")
    high_s = good.signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - good.signature[64]])
    cases = {
        "malformed": b"\xc0garbage",
        "not rlp list": rlp.encode(b"x"),
        "forged signer": encode_attestation(forged),
        "malleated (high s)": encode_attestation(Attestation(**{**good.__dict__, "signature": high_s})),
        "non-member": encode_attestation(attestation(signer=stranger)),
        "wrong chain": encode_attestation(attestation(domain=Domain(1, DOMAIN.contract))),
        "wrong contract": encode_attestation(attestation(domain=Domain(1337, "0x" + "11" * 20))),
        "score not from statement": encode_attestation(attestation(score=10_000)),
        "learner not from statement": encode_attestation(attestation(learner=MEMBERS[2].address)),
        "invalid statement": encode_attestation(Attestation(**{**good.__dict__, "statement": statement(verb={"id": "x"})})),
    }
    for name, payload in cases.items():
        assert check(payload) == REJECT, name


def test_attestation_for_another_committee_version_is_ignored():
    payload = encode_attestation(attestation())
    assert check_attestations(payload, domain=DOMAIN, committee=COMMITTEE, oracle_set_version=2)[0] == IGNORE


def test_a_message_carries_many_attestations_and_one_bad_one_condemns_it():
    atts = [attestation(signer=MEMBERS[i % 3], st=statement(id=f"38888674-6e45-4074-8385-ac98128f77e{i}", actor={"account": {
        "homePage": "https://learn.example.org", "name": MEMBERS[(i + 1) % 3].address}})) for i in range(5)]
    verdict, decoded, _ = check_attestations(encode_attestations(atts), domain=DOMAIN, committee=COMMITTEE,
                                             oracle_set_version=1)
    assert verdict == ACCEPT and decoded == atts
    stranger = Account.from_key(keccak(text="not a member"))
    verdict, decoded, reason = check_attestations(encode_attestations(atts + [attestation(signer=stranger)]),
                                                  domain=DOMAIN, committee=COMMITTEE, oracle_set_version=1)
    assert (verdict, decoded) == (REJECT, []) and reason.startswith("attestation 5: ")
    assert check(rlp.encode([])) == REJECT                                          # empty
    assert check(encode_attestations([atts[0]] * (MAX_ATTESTATIONS_PER_MESSAGE + 1))) == REJECT


def test_packing_keeps_order_within_the_count_and_size_limits():
    big = statement(context={"extensions": {"https://learn.example.org/notes": "x" * 12_000}})
    atts = [attestation()] * (MAX_ATTESTATIONS_PER_MESSAGE + 3) + [attestation(st=big)] * 40
    messages = pack_attestations(atts)
    unpacked = [att for message in messages
                for att in check_attestations(message, domain=DOMAIN, committee=COMMITTEE, oracle_set_version=1)[1]]
    assert unpacked == atts
    assert all(len(message) <= MAX_MESSAGE_BYTES for message in messages) and len(messages) == 3
    assert pack_attestations([]) == []


def test_store_survives_reopen_and_tracks_active_records(tmp_path):
    store = OracleStore(tmp_path / "db")
    completion = completion_for(statement(), oracle_set_version=1, deadline=1)
    record = Record(statement_id="a", statement=statement(), state=SIGNED, stored_at=1,
                    completion=completion.to_json(), claim_key="0x" + compute_struct_hash(completion).hex())
    store.put(record)
    store.close()
    store = OracleStore(tmp_path / "db")
    assert [r.statement_id for r in store.active()] == ["a"]
    assert store.by_claim_key(compute_struct_hash(completion)).statement_id == "a"
    assert store.live_claim_for(LEARNER, keccak(text=COURSE)) == "a"
    record.state = FINALIZED
    store.put(record)
    assert list(store.active()) == [] and store.counts()[FINALIZED] == 1
    store.close()


def test_store_writes_a_batch_of_records_with_their_indexes_in_one_write(tmp_path):
    store = OracleStore(tmp_path / "db")
    records = []
    for index in range(3):
        st = statement(id=f"00000000-0000-4000-8000-00000000000{index}",
                       actor={"account": {"name": MEMBERS[index].address}})
        completion = completion_for(st, oracle_set_version=1, deadline=1)
        records.append(Record(statement_id=st["id"], statement=st, state=SIGNED, stored_at=1,
                              completion=completion.to_json(), claim_key="0x" + compute_struct_hash(completion).hex()))
    store.put_many(records)
    assert [r.statement_id for r in store.active()] == [r.statement_id for r in records]
    for record, member in zip(records, MEMBERS):
        assert store.live_claim_for(member.address, keccak(text=COURSE)) == record.statement_id
        assert store.by_claim_key(bytes.fromhex(record.claim_key[2:])).statement_id == record.statement_id
    store.close()


@pytest.mark.parametrize("course, score, reason", [
    ((10_000, True, "0x" + "11" * 20), 9_200, None),
    ((10_000, True, "0x" + "00" * 20), 9_200, "not in the on-chain catalog"),
    ((10_000, False, "0x" + "11" * 20), 9_200, "is not active"),
    ((10_000, True, "0x" + "11" * 20), 7_999, "below the minimum 8000"),
])
def test_course_rules_refuse_unknown_inactive_and_low_scores(course, score, reason):
    from oracle.service import course_refusal

    parsed = parse_statement(statement(result={"success": True, "score": {"scaled": score / 10_000}}))
    refusal = course_refusal(parsed, course, min_score=8_000)
    assert (refusal is None) if reason is None else (refusal.status == 400 and reason in refusal.reason)


def test_claim_key_words_match_the_abi_encoding():
    from eth_abi import encode

    from oracle.completion import COMPLETION_ABI_TYPES, COMPLETION_TYPEHASH

    completion = completion_for(statement(), oracle_set_version=2**63, deadline=2**64 - 1)
    expected = keccak(encode(["bytes32", *COMPLETION_ABI_TYPES], [COMPLETION_TYPEHASH, *completion.as_abi()]))
    assert compute_struct_hash(completion) == expected
    with pytest.raises(ValueError):
        compute_struct_hash(Completion(**{**completion.__dict__, "score": 2**16}))

