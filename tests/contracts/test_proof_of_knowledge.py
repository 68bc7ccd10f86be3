"""ProofOfKnowledge: oracle-quorum claims, challenges, finalize, emission bounds, clawback."""

from __future__ import annotations

import boa
import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as selector
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract_helpers import (
    ETHER,
    Signer,
    chain_id_now,
    load_mock,
    load_partial,
    malleate,
    sorted_signers,
    struct_hash,
    typed_digest,
)

DAY = 86_400
COURSE = keccak(text="https://azora.africa/courses/intro")
COURSE2 = keccak(text="https://azora.africa/courses/advanced")
COMPLETION = (
    "Completion(address learner,bytes32 courseId,uint32 courseVersion,uint16 score,"
    "uint64 completedAt,bytes32 evidenceHash,uint64 oracleSetVersion,uint64 deadline)"
)
ORACLES = sorted_signers([Signer.from_seed(f"pok-oracle{i}") for i in range(3)])
RESERVE = 10_000 * ETHER
PENDING, CHALLENGED, REJECTED, FINALIZED, CLAWED_BACK = 1, 2, 3, 4, 5
FAR = 2**40


@pytest.fixture(scope="module")
def env(deployer, users):
    creds = load_partial("Credentials").deploy(deployer, "")
    pok = load_partial("ProofOfKnowledge").deploy(
        creds.address, DAY, 10, 100 * ETHER, 1_000 * ETHER, 150 * ETHER, DAY, 10 * ETHER, 7 * DAY,
        value=RESERVE,
    )
    issuer = users[5]
    creds.setMinter(pok.address, True)
    creds.setIssuer(issuer, True)
    pok.setOracleCommittee([o.address for o in ORACLES], 2)
    pok.setCourse(COURSE, issuer, 10_000, True)
    pok.setCourse(COURSE2, issuer, 5_000, True)
    return {"pok": pok, "creds": creds, "issuer": issuer}


def completion(learner, course=COURSE, score=9_000, version=1, deadline=FAR, evidence=b"\x07" * 32):
    return (learner, course, 1, score, 1_700_000_000, evidence, version, deadline)


def completion_hash(c) -> bytes:
    return struct_hash(
        COMPLETION, ["address", "bytes32", "uint32", "uint16", "uint64", "bytes32", "uint64", "uint64"], list(c)
    )


def sign(pok, c, signers, chain_id=None, contract=None) -> list[bytes]:
    digest = typed_digest("Azora Proof of Knowledge", "1", contract or pok.address, completion_hash(c), chain_id)
    return [s.sign(digest) for s in signers]


def submit(pok, c, signers=ORACLES[:2]) -> bytes:
    return pok.submit(c, sign(pok, c, signers))


def claim_after_window(pok, learner, course=COURSE) -> bytes:
    key = submit(pok, completion(learner, course))
    boa.env.time_travel(seconds=DAY)
    pok.finalize(key)
    return key


def test_completion_digest_is_computed_the_same_off_chain(env, users):
    c = completion(users[0])
    assert env["pok"].hashCompletion(c) == typed_digest(
        "Azora Proof of Knowledge", "1", env["pok"].address, completion_hash(c)
    )


def test_completion_digest_matches_eip712_tooling(env, users):
    from eth_account.messages import encode_typed_data

    c = completion(users[0])
    fields = ["learner", "courseId", "courseVersion", "score", "completedAt", "evidenceHash",
              "oracleSetVersion", "deadline"]
    types = ["address", "bytes32", "uint32", "uint16", "uint64", "bytes32", "uint64", "uint64"]
    signable = encode_typed_data(full_message={
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"},
            ],
            "Completion": [{"name": n, "type": t} for n, t in zip(fields, types)],
        },
        "primaryType": "Completion",
        "domain": {"name": "Azora Proof of Knowledge", "version": "1", "chainId": chain_id_now(),
                   "verifyingContract": env["pok"].address},
        "message": dict(zip(fields, c)),
    })
    assert env["pok"].hashCompletion(c) == keccak(b"\x19" + signable.version + signable.header + signable.body)


def test_submit_wait_finalize_pays_and_mints(env, users):
    pok, creds = env["pok"], env["creds"]
    learner = users[0]
    c = completion(learner)
    key = submit(pok, c)
    assert key == completion_hash(c)
    claim = pok.getClaim(key)
    assert claim.status == PENDING and list(claim.attesters) == [o.address for o in ORACLES[:2]]
    with boa.reverts("ProofOfKnowledge: in challenge window"):
        pok.finalize(key)
    boa.env.time_travel(seconds=DAY)
    assert pok.finalize(key) == 100 * ETHER
    claim = pok.getClaim(key)
    assert claim.status == FINALIZED
    status, issuer, attesters = creds.verify(claim.credentialId)
    assert (status, issuer, list(attesters)) == (1, env["issuer"], [o.address for o in ORACLES[:2]])
    assert creds.ownerOf(claim.credentialId) == learner
    before = boa.env.get_balance(learner)
    pok.withdrawRewards(learner, sender=users[1])  # anyone may push a learner's rewards
    assert boa.env.get_balance(learner) == before + 100 * ETHER
    assert pok.reserveBalance() == RESERVE - 100 * ETHER
    with boa.reverts("ProofOfKnowledge: nothing to withdraw"):
        pok.withdrawRewards(learner)
    with boa.reverts("ProofOfKnowledge: not pending"):
        pok.finalize(key)


def test_invalid_replay_of_a_completion_or_second_claim_for_a_course(env, users):
    pok = env["pok"]
    c = completion(users[0])
    sigs = sign(pok, c, ORACLES[:2])
    pok.submit(c, sigs)
    with boa.reverts("ProofOfKnowledge: replayed"):
        pok.submit(c, sigs)
    with boa.reverts("ProofOfKnowledge: already claimed"):
        submit(pok, completion(users[0], evidence=b"\x08" * 32))


def test_invalid_signature_sets(env, users):
    pok = env["pok"]
    c = completion(users[0])
    o0, o1, o2 = ORACLES
    good = sign(pok, c, [o0, o1])
    cases = [
        ([good[0]], "ProofOfKnowledge: below quorum"),
        ([good[1], good[0]], "ProofOfKnowledge: signers not ascending"),
        ([good[0], good[0]], "ProofOfKnowledge: signers not ascending"),  # duplicate signer
        ([good[0], malleate(good[1])], "ecdsa: invalid signature `s` value"),
        ([good[0], good[1][:64]], "ProofOfKnowledge: bad signature length"),
        ([good[0], good[1][:64] + b"\x00"], "ProofOfKnowledge: bad signature v"),
    ]
    stranger = Signer.from_seed("not-an-oracle")
    mixed = sorted_signers([o0, stranger])
    cases.append((sign(pok, c, mixed), "ProofOfKnowledge: not an oracle"))
    for sigs, reason in cases:
        with boa.reverts(reason):
            pok.submit(c, sigs)
    pok.submit(c, sign(pok, c, [o0, o1, o2]))  # more than quorum is fine


def test_invalid_signatures_replayed_from_another_contract_or_chain(env, users):
    pok, creds = env["pok"], env["creds"]
    twin = load_partial("ProofOfKnowledge").deploy(
        creds.address, DAY, 10, 100 * ETHER, 1_000 * ETHER, 150 * ETHER, DAY, 10 * ETHER, 7 * DAY
    )
    twin.setOracleCommittee([o.address for o in ORACLES], 2)
    twin.setCourse(COURSE, env["issuer"], 10_000, True)
    c = completion(users[0])
    for sigs in (sign(twin, c, ORACLES[:2]), sign(pok, c, ORACLES[:2], chain_id=chain_id_now() + 1)):
        with boa.reverts():
            pok.submit(c, sigs)
    twin.submit(c, sign(twin, c, ORACLES[:2]))  # valid where it was meant to be


def test_invalid_stale_committee_expired_inactive_or_failing(env, users, deployer):
    pok = env["pok"]
    now = boa.env.evm.patch.timestamp
    cases = [
        (completion(users[0], deadline=now - 1), "ProofOfKnowledge: expired"),
        (completion(users[0], version=0), "ProofOfKnowledge: stale oracle set"),
        (completion(users[0], course=keccak(text="unknown")), "ProofOfKnowledge: course inactive"),
        (completion(users[0], score=10_001), "ProofOfKnowledge: bad score"),
        (completion("0x" + "00" * 20), "ProofOfKnowledge: zero learner"),
    ]
    for c, reason in cases:
        with boa.reverts(reason):
            submit(pok, c)
    pok.setChallengeParams(DAY, 10 * ETHER, 7 * DAY, 5_000, sender=deployer)
    with boa.reverts("ProofOfKnowledge: bad score"):
        submit(pok, completion(users[0], score=4_999))
    pok.setOracleCommittee([o.address for o in ORACLES], 3, sender=deployer)
    with boa.reverts("ProofOfKnowledge: stale oracle set"):
        submit(pok, completion(users[0]))


def test_committee_changes_bump_version_and_need_sorted_members(env, deployer):
    pok = env["pok"]
    members = [o.address for o in ORACLES]
    with boa.reverts("ProofOfKnowledge: members not ascending"):
        pok.setOracleCommittee(members[::-1], 2, sender=deployer)
    with boa.reverts("ProofOfKnowledge: members not ascending"):
        pok.setOracleCommittee([members[0], members[0]], 1, sender=deployer)
    with boa.reverts("ProofOfKnowledge: bad quorum"):
        pok.setOracleCommittee(members, 4, sender=deployer)
    pok.setOracleCommittee(members[1:], 1, sender=deployer)
    assert pok.oracleSetVersion() == 2 and not pok.isOracle(members[0]) and pok.isOracle(members[2])


def test_bonded_challenge_upheld_rejects_and_refunds(env, users, deployer):
    pok = env["pok"]
    key = submit(pok, completion(users[0]))
    challenger = users[1]
    with boa.reverts("ProofOfKnowledge: wrong bond"):
        pok.challenge(key, value=ETHER, sender=challenger)
    pok.challenge(key, value=10 * ETHER, sender=challenger)
    assert pok.getClaim(key).status == CHALLENGED
    boa.env.time_travel(seconds=DAY)
    with boa.reverts("ProofOfKnowledge: not pending"):
        pok.finalize(key)
    with boa.reverts("ownable: caller is not the owner"):
        pok.resolveChallenge(key, True, sender=challenger)
    pok.resolveChallenge(key, True, sender=deployer)
    assert pok.getClaim(key).status == REJECTED
    assert pok.claimable(challenger) == 10 * ETHER
    submit(pok, completion(users[0], evidence=b"\x09" * 32))  # the learner may claim again
    assert pok.reserveBalance() == RESERVE


def test_challenge_dismissed_forfeits_bond_to_reserve(env, users, deployer):
    pok = env["pok"]
    key = submit(pok, completion(users[0]))
    pok.challenge(key, value=10 * ETHER, sender=users[1])
    pok.resolveChallenge(key, False, sender=deployer)
    assert pok.getClaim(key).status == PENDING
    assert pok.reserveBalance() == RESERVE + 10 * ETHER
    boa.env.time_travel(seconds=DAY)
    pok.finalize(key)


def test_dao_challenges_free_and_unresolved_challenge_times_out(env, users, deployer):
    pok = env["pok"]
    key = submit(pok, completion(users[0]))
    with boa.reverts("ProofOfKnowledge: no bond for the DAO"):
        pok.challenge(key, value=1, sender=deployer)
    pok.challenge(key, sender=deployer)
    with boa.reverts("ProofOfKnowledge: too early"):
        pok.resolveChallengeTimeout(key)
    boa.env.time_travel(seconds=7 * DAY)
    pok.resolveChallengeTimeout(key, sender=users[3])
    assert pok.getClaim(key).status == PENDING
    pok.finalize(key)


def test_invalid_challenge_after_window(env, users):
    pok = env["pok"]
    key = submit(pok, completion(users[0]))
    boa.env.time_travel(seconds=DAY)
    with boa.reverts("ProofOfKnowledge: window closed"):
        pok.challenge(key, value=10 * ETHER, sender=users[1])
    with boa.reverts("ProofOfKnowledge: not challenged"):
        pok.resolveChallengeTimeout(key)


def test_emission_caps_per_learner_per_epoch_and_halving(env, users, deployer):
    pok = env["pok"]
    learner = users[0]
    assert pok.getClaim(claim_after_window(pok, learner, COURSE)).reward == 100 * ETHER
    # a weight-5000 course pays half the base reward
    key2 = submit(pok, completion(learner, COURSE2))
    boa.env.time_travel(seconds=DAY)  # next epoch: cap resets
    assert pok.finalize(key2) == 50 * ETHER
    # after 10 epochs the reward halves
    boa.env.time_travel(seconds=10 * DAY)
    c3 = keccak(text="c3")
    pok.setCourse(c3, env["issuer"], 10_000, True, sender=deployer)
    assert pok.getClaim(claim_after_window(pok, users[1], c3)).reward == 50 * ETHER


def finalize_together(pok, keys):
    boa.env.time_travel(seconds=DAY)  # every window has passed; all finalize in one epoch
    return [pok.finalize(k) for k in keys]


def test_learner_cap_bounds_rewards_per_epoch(env, users, deployer):
    pok = env["pok"]
    pok.setEmission(100 * ETHER, 1_000 * ETHER, 120 * ETHER, sender=deployer)
    extra = keccak(text="extra")
    pok.setCourse(extra, env["issuer"], 10_000, True, sender=deployer)
    keys = [submit(pok, completion(users[0])), submit(pok, completion(users[0], extra)),
            submit(pok, completion(users[1]))]
    assert finalize_together(pok, keys) == [100 * ETHER, 20 * ETHER, 100 * ETHER]


def test_epoch_bucket_bounds_rewards(env, users, deployer):
    pok = env["pok"]
    pok.setEmission(100 * ETHER, 150 * ETHER, 1_000 * ETHER, sender=deployer)
    keys = [submit(pok, completion(users[i])) for i in range(3)]
    # the bucket (150) is shared: 100, then 50, then nothing left
    assert finalize_together(pok, keys) == [100 * ETHER, 50 * ETHER, 0]
    assert pok.getClaim(keys[2]).status == FINALIZED  # the credential is still minted
    assert pok.epochPaid(pok.currentEpoch()) == 150 * ETHER


def test_clawback_after_revocation_with_debt_netting(env, users, deployer):
    pok, creds = env["pok"], env["creds"]
    learner = users[0]
    key = claim_after_window(pok, learner)
    pok.withdrawRewards(learner)
    with boa.reverts("ProofOfKnowledge: credential not revoked"):
        pok.clawback(key)
    creds.revoke(pok.getClaim(key).credentialId, "cheated", sender=env["issuer"])
    pok.clawback(key, sender=users[3])
    assert pok.getClaim(key).status == CLAWED_BACK
    assert pok.debt(learner) == 100 * ETHER
    with boa.reverts("ProofOfKnowledge: not finalized"):
        pok.clawback(key)
    boa.env.time_travel(seconds=DAY)
    claim_after_window(pok, learner, COURSE2)  # 50 earned, all of it settles the debt
    assert pok.debt(learner) == 50 * ETHER and pok.claimable(learner) == 0


def test_clawback_of_unwithdrawn_reward_returns_it_to_reserve(env, users):
    pok, creds = env["pok"], env["creds"]
    key = claim_after_window(pok, users[0])
    creds.revoke(pok.getClaim(key).credentialId, "x", sender=env["issuer"])
    pok.clawback(key)
    assert pok.claimable(users[0]) == 0 and pok.debt(users[0]) == 0
    assert pok.reserveBalance() == RESERVE


def test_reentrant_learner_cannot_withdraw_twice(env, users):
    pok = env["pok"]
    attacker = load_mock("ReentrantReceiver").deploy()
    claim_after_window(pok, attacker.address)
    attacker.arm(pok.address, selector("withdrawRewards(address)") + encode(["address"], [attacker.address]))
    before = boa.env.get_balance(attacker.address)
    pok.withdrawRewards(attacker.address)
    assert attacker.attempted() and not attacker.reentered()
    assert boa.env.get_balance(attacker.address) == before + 100 * ETHER


@pytest.mark.parametrize(
    "call",
    [
        lambda p, who: p.setCourse(COURSE, who, 1, True, sender=who),
        lambda p, who: p.setOracleCommittee([who], 1, sender=who),
        lambda p, who: p.setEmission(1, 1, 1, sender=who),
        lambda p, who: p.setChallengeParams(1, 1, 1, 1, sender=who),
        lambda p, who: p.resolveChallenge(b"\x00" * 32, True, sender=who),
        lambda p, who: p.transfer_ownership(who, sender=who),
    ],
)
def test_invalid_privileged_call_by_arbitrary_caller(env, users, call):
    with boa.reverts("ownable: caller is not the owner"):
        call(env["pok"], users[2])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    actions=st.lists(
        st.tuples(st.sampled_from(["claim", "withdraw", "revoke", "wait"]), st.integers(0, 3)),
        min_size=1,
        max_size=12,
    )
)
def test_reserve_is_never_over_released(env, users, actions):
    pok, creds = env["pok"], env["creds"]
    with boa.env.anchor():
        claimed: dict[int, list[bytes]] = {}
        made: dict[int, int] = {}  # one reward per (learner, course): two courses each
        courses = [COURSE, COURSE2]
        paid = 0
        for action, i in actions:
            learner = users[i]
            if action == "claim":
                if made.get(i, 0) < 2:
                    course = courses[made.get(i, 0)]
                    made[i] = made.get(i, 0) + 1
                    claimed.setdefault(i, []).append(claim_after_window(pok, learner, course))
            elif action == "withdraw" and pok.claimable(learner) > 0:
                paid += pok.withdrawRewards(learner)
            elif action == "revoke" and claimed.get(i):
                key = claimed[i].pop()
                cred = pok.getClaim(key).credentialId
                creds.revoke(cred, "x", sender=env["issuer"])
                pok.clawback(key)
            else:
                boa.env.time_travel(seconds=DAY)
            balance = boa.env.get_balance(pok.address)
            assert balance == pok.reserveBalance() + pok.totalLiabilities()
            assert paid + balance == RESERVE
            assert pok.totalEmitted() <= RESERVE


def test_catalog_records_iri_and_title_and_lists_each_course_once(env, deployer):
    pok = env["pok"]
    iri = "https://azora.africa/courses/blockchain-101"
    course = keccak(text=iri)
    before = list(pok.getCourseIds())
    pok.setCourse(course, env["issuer"], 7_500, True, iri, "Blockchain 101", sender=deployer)
    (event,) = pok.get_logs()
    assert (event.courseId, event.iri, event.title, event.rewardWeight) == (course, iri, "Blockchain 101", 7_500)
    assert tuple(pok.courseInfo(course)) == (iri, "Blockchain 101")
    assert tuple(pok.courses(course)) == (env["issuer"], 7_500, True)
    # deactivating without restating the IRI keeps the label; the course stays listed once
    pok.setCourse(course, env["issuer"], 7_500, False, sender=deployer)
    (event,) = pok.get_logs()
    assert (event.iri, event.title, event.active) == (iri, "Blockchain 101", False)
    assert tuple(pok.courseInfo(course)) == (iri, "Blockchain 101")
    assert list(pok.getCourseIds()) == before + [course]
    assert pok.courseIds(len(before)) == course


def test_invalid_course_iri_that_does_not_hash_to_its_id(env, deployer):
    with boa.reverts("ProofOfKnowledge: id is not keccak256(iri)"):
        env["pok"].setCourse(COURSE, env["issuer"], 1, True, "https://azora.africa/courses/other", "x",
                             sender=deployer)
