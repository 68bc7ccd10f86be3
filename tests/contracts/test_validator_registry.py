"""ValidatorRegistry: bonding, credentials, the active set, equivocation evidence."""

from __future__ import annotations

import boa
import pytest
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from contract_helpers import ETHER, Signer, chain_id_now, load_partial, malleate, struct_hash, typed_digest

COURSE = keccak(text="https://azora.africa/courses/validator")
VOTE = "Vote(uint8 voteType,uint64 height,uint32 round,bytes32 blockHash)"
DAY = 86_400
NOT_OWNER = "ownable: caller is not the owner"
VALIDATORS = [Signer.from_seed(f"val{i}") for i in range(4)]
SYSTEM = "0xfffffffffffffffffffffffffffffffffffffffe"


@pytest.fixture(scope="module")
def env(deployer, users):
    azr = load_partial("AZR").deploy()
    creds = load_partial("Credentials").deploy(deployer, "")
    creds.setIssuer(deployer, True)
    treasury = users[5]
    reg = load_partial("ValidatorRegistry").deploy(
        azr.address, creds.address, treasury, COURSE, 100 * ETHER, 3, 7 * DAY, 1_000, 2_000, 30 * DAY,
        SYSTEM, 90 * ETHER, value=200 * ETHER,
    )
    reg.setIssuerTrust(deployer, True)
    ids = {}
    for v in VALIDATORS:
        boa.env.set_balance(v.address, 10_000 * ETHER)
        ids[v.address] = creds.issue(v.address, COURSE, 1, 0, 0, b"\x00" * 32, [])
        azr.deposit(value=5_000 * ETHER, sender=v.address)
        azr.approve(reg.address, 2**256 - 1, sender=v.address)
    return {"azr": azr, "creds": creds, "reg": reg, "ids": ids, "treasury": treasury}


def join(env, signer: Signer, bond: int) -> None:
    env["reg"].register(env["ids"][signer.address], bond, sender=signer.address)


def record_set(env) -> int:
    """Record today's active set from the next block on, as the node's epoch system call does."""
    boa.env.time_travel(blocks=1)
    reg = env["reg"]
    reg.recordValidatorSet(list(reg.activeValidators()[0]), sender=SYSTEM)
    return boa.env.evm.patch.block_number


def vote_digest(reg, vote_type: int, height: int, rnd: int, block_hash: bytes, chain_id=None, contract=None):
    sh = struct_hash(VOTE, ["uint8", "uint64", "uint32", "bytes32"], [vote_type, height, rnd, block_hash])
    return typed_digest("Azora Consensus", "1", contract or reg.address, sh, chain_id)


def signed(reg, signer: Signer, vote: tuple, **kw) -> bytes:
    return signer.sign(vote_digest(reg, *vote, **kw))


def test_vote_digest_matches_eip712_tooling(env):
    reg = env["reg"]
    vote = (2, 42, 1, b"\xab" * 32)
    onchain = reg.hashVote(vote)
    assert onchain == vote_digest(reg, *vote)
    message = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"},
            ],
            "Vote": [
                {"name": "voteType", "type": "uint8"}, {"name": "height", "type": "uint64"},
                {"name": "round", "type": "uint32"}, {"name": "blockHash", "type": "bytes32"},
            ],
        },
        "primaryType": "Vote",
        "domain": {"name": "Azora Consensus", "version": "1", "chainId": chain_id_now(),
                   "verifyingContract": reg.address},
        "message": {"voteType": 2, "height": 42, "round": 1, "blockHash": b"\xab" * 32},
    }
    signable = encode_typed_data(full_message=message)
    assert onchain == keccak(b"\x19" + signable.version + signable.header + signable.body)


def test_bond_unbond_and_withdraw_after_delay(env):
    reg, azr, v = env["reg"], env["azr"], VALIDATORS[0]
    join(env, v, 1_000 * ETHER)
    assert reg.candidates(v.address).bond == 1_000 * ETHER
    reg.unbond(400 * ETHER, sender=v.address)
    cand = reg.candidates(v.address)
    assert (cand.bond, cand.unbonding) == (600 * ETHER, 400 * ETHER)
    with boa.reverts("ValidatorRegistry: still unbonding"):
        reg.withdrawUnbonded(sender=v.address)
    boa.env.time_travel(seconds=7 * DAY)
    before = azr.balanceOf(v.address)
    reg.withdrawUnbonded(sender=v.address)
    assert azr.balanceOf(v.address) == before + 400 * ETHER
    with boa.reverts("ValidatorRegistry: nothing unbonding"):
        reg.withdrawUnbonded(sender=v.address)


def test_invalid_bond_paths(env, users):
    reg, v = env["reg"], VALIDATORS[0]
    with boa.reverts("ValidatorRegistry: not registered"):
        reg.bond(ETHER, sender=v.address)
    join(env, v, 100 * ETHER)
    with boa.reverts("ValidatorRegistry: zero amount"):
        reg.bond(0, sender=v.address)
    with boa.reverts("ValidatorRegistry: bad amount"):
        reg.unbond(101 * ETHER, sender=v.address)
    with boa.reverts("ValidatorRegistry: already registered"):
        reg.register(env["ids"][v.address], 100 * ETHER, sender=v.address)


def test_invalid_registration_without_a_valid_own_validator_credential(env, deployer):
    reg, creds = env["reg"], env["creds"]
    v0, v1 = VALIDATORS[:2]
    with boa.reverts("ValidatorRegistry: invalid credential"):  # someone else's credential
        reg.register(env["ids"][v0.address], 100 * ETHER, sender=v1.address)
    other_course = creds.issue(v1.address, keccak(text="other"), 1, 0, 0, b"\x00" * 32, [])
    with boa.reverts("ValidatorRegistry: invalid credential"):  # wrong course
        reg.register(other_course, 100 * ETHER, sender=v1.address)
    creds.revoke(env["ids"][v1.address], "cheated", sender=deployer)
    with boa.reverts("ValidatorRegistry: invalid credential"):  # revoked
        reg.register(env["ids"][v1.address], 100 * ETHER, sender=v1.address)


def test_active_set_is_top_bonds_of_eligible_candidates(env, deployer):
    reg, creds = env["reg"], env["creds"]
    bonds = [500, 300, 300, 100]
    for v, b in zip(VALIDATORS, bonds):
        join(env, v, b * ETHER)
    reg.unbond(50 * ETHER, sender=VALIDATORS[3].address)  # v3 falls below the 100 AZR minimum
    addrs, powers = reg.activeValidators()
    tie = sorted([VALIDATORS[1].address, VALIDATORS[2].address], key=lambda a: int(a, 16))
    assert list(addrs) == [VALIDATORS[0].address, *tie]
    assert list(powers) == [500 * ETHER, 300 * ETHER, 300 * ETHER]
    reg.setParameters(100 * ETHER, 2, 7 * DAY, 1_000, 2_000, 30 * DAY, sender=deployer)
    assert list(reg.activeValidators()[0]) == [VALIDATORS[0].address, tie[0]]
    creds.revoke(env["ids"][VALIDATORS[0].address], "fraud", sender=deployer)
    assert not reg.isEligible(VALIDATORS[0].address)
    assert list(reg.activeValidators()[0]) == tie
    reg.jail(tie[0], DAY, sender=deployer)
    assert list(reg.activeValidators()[0]) == [tie[1]]
    boa.env.time_travel(seconds=DAY)
    assert list(reg.activeValidators()[0]) == tie


def test_expired_or_burned_credential_leaves_the_set(env, deployer):
    reg, creds = env["reg"], env["creds"]
    v = VALIDATORS[2]
    now = boa.env.evm.patch.timestamp
    short = creds.issue(v.address, COURSE, 1, now + 100, 0, b"\x00" * 32, [])
    reg.register(short, 200 * ETHER, sender=v.address)
    assert reg.isEligible(v.address)
    boa.env.time_travel(seconds=100)
    assert not reg.isEligible(v.address)
    reg.setCredential(env["ids"][v.address], sender=v.address)
    assert reg.isEligible(v.address)
    creds.burn(env["ids"][v.address], sender=v.address)
    assert list(reg.activeValidators()[0]) == []


def test_report_equivocation_slashes_jails_and_pays_reporter(env, users):
    reg, azr, v = env["reg"], env["azr"], VALIDATORS[0]
    join(env, v, 1_000 * ETHER)
    height = record_set(env)
    reg.unbond(200 * ETHER, sender=v.address)  # unbonding stays slashable
    a, b = (2, height, 0, b"\x01" * 32), (2, height, 0, b"\x00" * 32)  # block vs nil precommit
    reporter = users[0]
    slashed = reg.reportEquivocation(a, signed(reg, v, a), b, signed(reg, v, b), sender=reporter)
    # 10 % of 800 bonded + 200 unbonding to the treasury, the reporter's 20 % of it on top
    assert slashed == 120 * ETHER
    cand = reg.candidates(v.address)
    assert cand.bond == 680 * ETHER and cand.unbonding == 200 * ETHER
    assert azr.balanceOf(reporter) == 20 * ETHER
    assert azr.balanceOf(env["treasury"]) == 100 * ETHER
    assert not reg.isEligible(v.address) and cand.jailedUntil > boa.env.evm.patch.timestamp
    with boa.reverts("ValidatorRegistry: evidence already used"):
        reg.reportEquivocation(b, signed(reg, v, b), a, signed(reg, v, a), sender=reporter)


def test_slash_takes_from_unbonding_when_bond_is_short(env, deployer, users):
    reg, v = env["reg"], VALIDATORS[1]
    join(env, v, 1_000 * ETHER)
    height = record_set(env)
    reg.setParameters(100 * ETHER, 3, 7 * DAY, 10_000, 0, 30 * DAY, sender=deployer)
    reg.unbond(900 * ETHER, sender=v.address)
    a, b = (1, height, 2, b"\x01" * 32), (1, height, 2, b"\x02" * 32)
    assert reg.reportEquivocation(a, signed(reg, v, a), b, signed(reg, v, b), sender=users[0]) == 1_000 * ETHER
    cand = reg.candidates(v.address)
    assert (cand.bond, cand.unbonding) == (0, 0)


@pytest.mark.parametrize(
    "vote_a, vote_b, reason",
    [
        ((2, 10, 0, b"\x01" * 32), (2, 10, 0, b"\x01" * 32), "votes do not conflict"),
        ((2, 10, 0, b"\x01" * 32), (1, 10, 0, b"\x02" * 32), "votes do not conflict"),
        ((2, 10, 0, b"\x01" * 32), (2, 11, 0, b"\x02" * 32), "votes do not conflict"),
        ((2, 10, 0, b"\x01" * 32), (2, 10, 1, b"\x02" * 32), "votes do not conflict"),
        ((3, 10, 0, b"\x01" * 32), (3, 10, 0, b"\x02" * 32), "bad vote type"),
    ],
)
def test_invalid_evidence_that_does_not_conflict(env, vote_a, vote_b, reason):
    reg, v = env["reg"], VALIDATORS[0]
    join(env, v, 1_000 * ETHER)
    record_set(env)
    with boa.reverts(f"ValidatorRegistry: {reason}"):
        reg.reportEquivocation(vote_a, signed(reg, v, vote_a), vote_b, signed(reg, v, vote_b))


def test_invalid_evidence_signatures(env):
    reg, v, w = env["reg"], VALIDATORS[0], VALIDATORS[1]
    join(env, v, 1_000 * ETHER)
    height = record_set(env)
    a, b = (2, height, 0, b"\x01" * 32), (2, height, 0, b"\x02" * 32)
    sa, sb = signed(reg, v, a), signed(reg, v, b)
    with boa.reverts("ValidatorRegistry: different signers"):
        reg.reportEquivocation(a, sa, b, signed(reg, w, b))
    with boa.reverts("ecdsa: invalid signature `s` value"):  # malleated twin of a valid signature
        reg.reportEquivocation(a, malleate(sa), b, sb)
    with boa.reverts("ValidatorRegistry: bad signature v"):
        reg.reportEquivocation(a, sa[:64] + b"\x01", b, sb)
    with boa.reverts("ValidatorRegistry: bad signature length"):
        reg.reportEquivocation(a, sa[:64], b, sb)
    with boa.reverts("ValidatorRegistry: self-report"):
        reg.reportEquivocation(a, sa, b, sb, sender=v.address)
    with boa.reverts("ValidatorRegistry: not a validator at that height"):
        w2 = Signer.from_seed("stranger")
        reg.reportEquivocation(a, signed(reg, w2, a), b, signed(reg, w2, b))


def test_invalid_evidence_signed_for_another_chain_or_registry(env):
    reg, v = env["reg"], VALIDATORS[0]
    join(env, v, 1_000 * ETHER)
    height = record_set(env)
    a, b = (2, height, 0, b"\x01" * 32), (2, height, 0, b"\x02" * 32)
    for kw in ({"chain_id": chain_id_now() + 1}, {"contract": "0x" + "11" * 20}):
        # foreign-domain signatures recover unrelated addresses: never the validator
        with boa.reverts():
            reg.reportEquivocation(a, signed(reg, v, a, **kw), b, signed(reg, v, b, **kw))
    assert reg.candidates(v.address).bond == 1_000 * ETHER


@pytest.mark.parametrize(
    "call",
    [
        lambda reg, who: reg.registerFor(who, 1, 1, sender=who),
        lambda reg, who: reg.setIssuerTrust(who, True, sender=who),
        lambda reg, who: reg.disqualifyCredential(1, True, sender=who),
        lambda reg, who: reg.recordGenesisSet(sender=who),
        lambda reg, who: reg.jail(who, 1, sender=who),
        lambda reg, who: reg.unjail(who, sender=who),
        lambda reg, who: reg.setParameters(0, 1, 0, 0, 0, 0, sender=who),
        lambda reg, who: reg.setValidatorCourse(b"\x00" * 32, sender=who),
        lambda reg, who: reg.transfer_ownership(who, sender=who),
    ],
)
def test_invalid_privileged_call_by_arbitrary_caller(env, users, call):
    with boa.reverts(NOT_OWNER):
        call(env["reg"], users[0])


def test_invalid_parameters(env, deployer):
    with boa.reverts("ValidatorRegistry: bad max validators"):
        env["reg"].setParameters(0, 101, 0, 0, 0, 0, sender=deployer)
    with boa.reverts("ValidatorRegistry: bad fraction"):
        env["reg"].setParameters(0, 5, 0, 10_001, 0, 0, sender=deployer)


def test_leave_frees_the_slot_only_when_nothing_is_bonded(env, deployer):
    reg, v, w = env["reg"], VALIDATORS[0], VALIDATORS[1]
    join(env, v, 200 * ETHER)
    join(env, w, 300 * ETHER)
    with boa.reverts("ValidatorRegistry: still bonded"):
        reg.leave(sender=v.address)
    reg.unbond(200 * ETHER, sender=v.address)
    with boa.reverts("ValidatorRegistry: still bonded"):
        reg.leave(sender=v.address)
    boa.env.time_travel(seconds=7 * DAY)
    reg.withdrawUnbonded(sender=v.address)
    reg.leave(sender=v.address)
    assert reg.candidateCount() == 1 and reg.candidateList(0) == w.address
    assert not reg.candidates(v.address).registered
    with boa.reverts("ValidatorRegistry: not registered"):
        reg.leave(sender=v.address)
    reg.register(env["ids"][v.address], 100 * ETHER, sender=v.address)  # may come back later
    assert reg.candidateCount() == 2
    reg.jail(v.address, 30 * DAY, sender=deployer)
    reg.unbond(100 * ETHER, sender=v.address)
    boa.env.time_travel(seconds=7 * DAY)
    reg.withdrawUnbonded(sender=v.address)
    with boa.reverts("ValidatorRegistry: jailed"):  # a jailed record cannot be wiped
        reg.leave(sender=v.address)
    assert reg.candidateCount() == 2


def test_active_set_query_gas_stays_bounded(env, deployer):
    reg, creds, azr = env["reg"], env["creds"], env["azr"]
    azr.deposit(value=100 * 200 * ETHER, sender=deployer)
    azr.approve(reg.address, 2**256 - 1, sender=deployer)
    for i in range(40):
        who = boa.env.generate_address()
        cred = creds.issue(who, COURSE, 1, 0, 0, b"\x00" * 32, [], sender=deployer)
        reg.registerFor(who, cred, (100 + i) * ETHER, sender=deployer)
    reg.setParameters(100 * ETHER, 30, 7 * DAY, 1_000, 2_000, 30 * DAY, sender=deployer)
    addrs, powers = reg.activeValidators()
    assert len(addrs) == 30 and list(powers) == sorted(powers, reverse=True)
    assert powers[0] == 139 * ETHER and powers[-1] == 110 * ETHER
    # consensus reads this with eth_call at every epoch boundary: keep it far below a block
    assert reg._computation.get_gas_used() < 15_000_000


def test_rewards_split_by_blocks_signed_once_per_epoch(env, users, deployer):
    reg = env["reg"]
    a, b = VALIDATORS[0].address, VALIDATORS[1].address
    boa.env.set_balance(SYSTEM, 0)
    with boa.reverts("ValidatorRegistry: not system caller"):
        reg.distributeRewards(0, [a, b], [2, 1], sender=deployer)
    with boa.reverts("ValidatorRegistry: wrong epoch"):
        reg.distributeRewards(1, [a, b], [2, 1], sender=SYSTEM)
    with boa.reverts("ValidatorRegistry: length mismatch"):
        reg.distributeRewards(0, [a, b], [2], sender=SYSTEM)
    reg.distributeRewards(0, [a, b], [2, 1], sender=SYSTEM)
    assert (reg.rewards(a), reg.rewards(b)) == (60 * ETHER, 30 * ETHER)
    with boa.reverts("ValidatorRegistry: wrong epoch"):
        reg.distributeRewards(0, [a, b], [2, 1], sender=SYSTEM)
    assert reg.rewardReserve() == 110 * ETHER
    reg.distributeRewards(1, [a], [5], sender=SYSTEM)
    reg.distributeRewards(2, [b], [5], sender=SYSTEM)  # only 20 left in the reserve
    assert reg.rewards(b) == 50 * ETHER and reg.rewardReserve() == 0
    before = boa.env.get_balance(a)
    reg.claimRewards(a, sender=users[0])
    assert boa.env.get_balance(a) == before + 150 * ETHER
    with boa.reverts("ValidatorRegistry: nothing to claim"):
        reg.claimRewards(a)
    with boa.reverts(NOT_OWNER):
        reg.setRewardPerEpoch(1, sender=users[0])
    reg.setRewardPerEpoch(1, sender=deployer)
    boa.env.raw_call(reg.address, sender=users[0], value=5 * ETHER)  # anyone may top up the reserve
    assert reg.rewardReserve() == 5 * ETHER


# --- review findings: each failed before the fix -------------------------------------


def test_invalid_credential_from_an_issuer_the_registry_does_not_trust(env, deployer, users):
    # Found in review: any registered issuer's validator-course credential counted, and the DAO
    # could neither revoke it (only its issuer can) nor undo it by removing the issuer.
    reg, creds = env["reg"], env["creds"]
    v, w = VALIDATORS[0], VALIDATORS[1]
    rogue = users[1]
    creds.setIssuer(rogue, True, sender=deployer)
    rogue_id = creds.issue(v.address, COURSE, 1, 0, 0, b"\x00" * 32, [], sender=rogue)
    with boa.reverts("ValidatorRegistry: invalid credential"):
        reg.register(rogue_id, 500 * ETHER, sender=v.address)
    reg.setIssuerTrust(rogue, True, sender=deployer)
    reg.register(rogue_id, 500 * ETHER, sender=v.address)
    join(env, w, 300 * ETHER)
    assert list(reg.activeValidators()[0]) == [v.address, w.address]
    # the DAO stops trusting the issuer: all its credentials stop counting at once
    reg.setIssuerTrust(rogue, False, sender=deployer)
    assert not reg.isEligible(v.address)
    assert list(reg.activeValidators()[0]) == [w.address]
    # ... or disqualifies one credential, whoever issued it
    reg.disqualifyCredential(env["ids"][w.address], True, sender=deployer)
    assert list(reg.activeValidators()[0]) == []
    reg.disqualifyCredential(env["ids"][w.address], False, sender=deployer)
    assert list(reg.activeValidators()[0]) == [w.address]


def test_invalid_candidacy_without_the_minimum_bond_and_pruning_of_the_ineligible(env, deployer, users):
    # Found in review: registering needed no bond, so 128 unbonded candidates could hold the
    # bounded list forever, and only they could leave.
    reg, azr, creds = env["reg"], env["azr"], env["creds"]
    v, w, x = VALIDATORS[0], VALIDATORS[1], VALIDATORS[2]
    with boa.reverts("ValidatorRegistry: bond below minimum"):
        reg.register(env["ids"][v.address], 0, sender=v.address)
    with boa.reverts("ValidatorRegistry: bond below minimum"):
        reg.register(env["ids"][v.address], 99 * ETHER, sender=v.address)
    join(env, v, 100 * ETHER)
    join(env, w, 300 * ETHER)
    join(env, x, 200 * ETHER)
    with boa.reverts("ValidatorRegistry: still eligible"):
        reg.prune(v.address, sender=users[0])
    reg.jail(x.address, DAY, sender=deployer)  # a jail ends by itself: no reason to prune
    with boa.reverts("ValidatorRegistry: still eligible"):
        reg.prune(x.address, sender=users[0])
    # v drops below the minimum: anyone prunes it, its bond keeps unbonding (and slashable)
    reg.unbond(1 * ETHER, sender=v.address)
    reg.prune(v.address, sender=users[0])
    cand = reg.candidates(v.address)
    assert not cand.registered and cand.bond == 0 and cand.unbonding == 100 * ETHER
    assert reg.candidateCount() == 2 and v.address not in [reg.candidateList(i) for i in range(2)]
    with boa.reverts("ValidatorRegistry: not registered"):
        reg.prune(v.address, sender=users[0])
    boa.env.time_travel(seconds=7 * DAY)
    before = azr.balanceOf(v.address)
    reg.withdrawUnbonded(sender=v.address)
    assert azr.balanceOf(v.address) == before + 100 * ETHER
    # a revoked credential makes a bonded candidate prunable too
    creds.revoke(env["ids"][w.address], "fraud", sender=deployer)
    reg.prune(w.address, sender=users[1])
    assert reg.candidates(w.address).unbonding == 300 * ETHER
    reg.register(env["ids"][v.address], 100 * ETHER, sender=v.address)  # v may come back, bonded
    assert reg.candidateCount() == 2


def equivocate(reg, signer: Signer, height: int, rnd: int = 0):
    a, b = (2, height, rnd, b"\x01" * 32), (2, height, rnd, b"\x02" * 32)
    return a, signed(reg, signer, a), b, signed(reg, signer, b)


def test_one_slash_per_jailing_however_much_evidence(env, deployer, users):
    # Found in review: 80 pieces of evidence from 40 heights each slashed again while the
    # validator was already jailed, cutting a bond to almost nothing.
    reg = env["reg"]
    v, w = VALIDATORS[0], VALIDATORS[1]
    join(env, v, 1_000 * ETHER)
    join(env, w, 1_000 * ETHER)
    height = record_set(env)
    assert reg.reportEquivocation(*equivocate(reg, v, height), sender=users[0]) == 120 * ETHER
    for h in range(height, height + 5):  # the same incident: it went on signing until its set changed
        with boa.reverts("ValidatorRegistry: incident already punished"):
            reg.reportEquivocation(*equivocate(reg, v, h, 1), sender=users[0])
    assert reg.candidates(v.address).bond == 880 * ETHER
    # after the jail, back in a later set, a new offence is a new incident
    boa.env.time_travel(seconds=30 * DAY)
    later = record_set(env)
    assert v.address in reg.activeValidators()[0]
    assert reg.reportEquivocation(*equivocate(reg, v, later), sender=users[0]) == 880 * ETHER * 12 // 100
    # the DAO lifting a jail early ends the incident at that moment
    reg.reportEquivocation(*equivocate(reg, w, later), sender=users[0])
    reg.unjail(w.address, sender=deployer)
    assert reg.candidates(w.address).punishedUntil == boa.env.evm.patch.timestamp
    boa.env.time_travel(seconds=1)
    again = record_set(env)
    assert reg.reportEquivocation(*equivocate(reg, w, again), sender=users[0]) > 0


def test_invalid_evidence_against_a_signer_outside_that_heights_set(env, users):
    reg = env["reg"]
    v, w = VALIDATORS[0], VALIDATORS[1]
    join(env, v, 1_000 * ETHER)
    with boa.reverts("ValidatorRegistry: no validator set at that height"):
        reg.reportEquivocation(*equivocate(reg, v, 0), sender=users[0])
    first = record_set(env)
    join(env, w, 1_000 * ETHER)  # registered, bonded, but not yet in a set
    with boa.reverts("ValidatorRegistry: not a validator at that height"):
        reg.reportEquivocation(*equivocate(reg, w, first), sender=users[0])
    second = record_set(env)
    with boa.reverts("ValidatorRegistry: not a validator at that height"):  # still the old set
        reg.reportEquivocation(*equivocate(reg, w, second - 1), sender=users[0])
    assert reg.reportEquivocation(*equivocate(reg, w, second), sender=users[0]) > 0
    assert reg.validatorSetCount() == 2 and reg.validatorSets(1).fromHeight == second


def test_invalid_evidence_older_than_the_unbonding_delay(env, users):
    reg, v = env["reg"], VALIDATORS[0]
    join(env, v, 1_000 * ETHER)
    height = record_set(env)
    reg.unbond(1_000 * ETHER, sender=v.address)
    boa.env.time_travel(seconds=7 * DAY - 100)
    evidence = equivocate(reg, v, height)
    boa.env.time_travel(seconds=100)
    with boa.reverts("ValidatorRegistry: evidence too old"):  # the stake may be gone by now
        reg.reportEquivocation(*evidence, sender=users[0])


def test_self_report_from_a_second_wallet_still_loses_the_whole_slash_fraction(env, users):
    # Found in review: a validator reporting itself from a second wallet got the reporter
    # share of its own slash back. The share is now taken on top of the slash.
    reg, azr, v = env["reg"], env["azr"], VALIDATORS[0]
    join(env, v, 1_000 * ETHER)
    height = record_set(env)
    second_wallet = users[3]
    reg.reportEquivocation(*equivocate(reg, v, height), sender=second_wallet)
    kept = reg.candidates(v.address).bond + azr.balanceOf(second_wallet)
    assert kept == 1_000 * ETHER - 1_000 * ETHER * 1_000 // 10_000  # lost the full 10 %
    assert azr.balanceOf(env["treasury"]) == 100 * ETHER


def test_genesis_set_is_recorded_once_from_height_one(env, deployer):
    reg = env["reg"]
    join(env, VALIDATORS[0], 500 * ETHER)
    reg.recordGenesisSet(sender=deployer)
    assert reg.validatorSets(0).fromHeight == 1 and reg.inValidatorSet(0, VALIDATORS[0].address)
    with boa.reverts("ValidatorRegistry: set already recorded"):
        reg.recordGenesisSet(sender=deployer)
    with boa.reverts("ValidatorRegistry: not system caller"):
        reg.recordValidatorSet([VALIDATORS[0].address], sender=deployer)
