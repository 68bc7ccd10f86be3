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
    ids = {}
    for v in VALIDATORS:
        boa.env.set_balance(v.address, 10_000 * ETHER)
        ids[v.address] = creds.issue(v.address, COURSE, 1, 0, 0, b"\x00" * 32, [])
        azr.deposit(value=5_000 * ETHER, sender=v.address)
        azr.approve(reg.address, 2**256 - 1, sender=v.address)
    return {"azr": azr, "creds": creds, "reg": reg, "ids": ids, "treasury": treasury}


def join(env, signer: Signer, bond: int) -> None:
    env["reg"].register(env["ids"][signer.address], sender=signer.address)
    env["reg"].bond(bond, sender=signer.address)


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
    join(env, v, ETHER)
    with boa.reverts("ValidatorRegistry: zero amount"):
        reg.bond(0, sender=v.address)
    with boa.reverts("ValidatorRegistry: bad amount"):
        reg.unbond(2 * ETHER, sender=v.address)
    with boa.reverts("ValidatorRegistry: already registered"):
        reg.register(env["ids"][v.address], sender=v.address)


def test_invalid_registration_without_a_valid_own_validator_credential(env, deployer):
    reg, creds = env["reg"], env["creds"]
    v0, v1 = VALIDATORS[:2]
    with boa.reverts("ValidatorRegistry: invalid credential"):  # someone else's credential
        reg.register(env["ids"][v0.address], sender=v1.address)
    other_course = creds.issue(v1.address, keccak(text="other"), 1, 0, 0, b"\x00" * 32, [])
    with boa.reverts("ValidatorRegistry: invalid credential"):  # wrong course
        reg.register(other_course, sender=v1.address)
    creds.revoke(env["ids"][v1.address], "cheated", sender=deployer)
    with boa.reverts("ValidatorRegistry: invalid credential"):  # revoked
        reg.register(env["ids"][v1.address], sender=v1.address)


def test_active_set_is_top_bonds_of_eligible_candidates(env, deployer):
    reg, creds = env["reg"], env["creds"]
    bonds = [500, 300, 300, 50]  # v3 below the 100 AZR minimum
    for v, b in zip(VALIDATORS, bonds):
        join(env, v, b * ETHER)
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
    reg.register(short, sender=v.address)
    reg.bond(200 * ETHER, sender=v.address)
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
    reg.unbond(200 * ETHER, sender=v.address)  # unbonding stays slashable
    a, b = (2, 10, 0, b"\x01" * 32), (2, 10, 0, b"\x00" * 32)  # block vs nil precommit
    reporter = users[0]
    slashed = reg.reportEquivocation(a, signed(reg, v, a), b, signed(reg, v, b), sender=reporter)
    assert slashed == 100 * ETHER  # 10 % of 800 bonded + 200 unbonding
    cand = reg.candidates(v.address)
    assert cand.bond == 700 * ETHER and cand.unbonding == 200 * ETHER
    assert azr.balanceOf(reporter) == 20 * ETHER  # 20 % reporter share
    assert azr.balanceOf(env["treasury"]) == 80 * ETHER
    assert not reg.isEligible(v.address) and cand.jailedUntil > boa.env.evm.patch.timestamp
    with boa.reverts("ValidatorRegistry: evidence already used"):
        reg.reportEquivocation(b, signed(reg, v, b), a, signed(reg, v, a), sender=reporter)


def test_slash_takes_from_unbonding_when_bond_is_short(env, deployer, users):
    reg, v = env["reg"], VALIDATORS[1]
    join(env, v, 1_000 * ETHER)
    reg.setParameters(100 * ETHER, 3, 7 * DAY, 10_000, 0, 30 * DAY, sender=deployer)
    reg.unbond(900 * ETHER, sender=v.address)
    a, b = (1, 5, 2, b"\x01" * 32), (1, 5, 2, b"\x02" * 32)
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
    with boa.reverts(f"ValidatorRegistry: {reason}"):
        reg.reportEquivocation(vote_a, signed(reg, v, vote_a), vote_b, signed(reg, v, vote_b))


def test_invalid_evidence_signatures(env):
    reg, v, w = env["reg"], VALIDATORS[0], VALIDATORS[1]
    join(env, v, 1_000 * ETHER)
    a, b = (2, 10, 0, b"\x01" * 32), (2, 10, 0, b"\x02" * 32)
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
    with boa.reverts("ValidatorRegistry: not a validator"):
        w2 = Signer.from_seed("stranger")
        reg.reportEquivocation(a, signed(reg, w2, a), b, signed(reg, w2, b))


def test_invalid_evidence_signed_for_another_chain_or_registry(env):
    reg, v = env["reg"], VALIDATORS[0]
    join(env, v, 1_000 * ETHER)
    a, b = (2, 10, 0, b"\x01" * 32), (2, 10, 0, b"\x02" * 32)
    for kw in ({"chain_id": chain_id_now() + 1}, {"contract": "0x" + "11" * 20}):
        # foreign-domain signatures recover unrelated addresses: never the validator
        with boa.reverts():
            reg.reportEquivocation(a, signed(reg, v, a, **kw), b, signed(reg, v, b, **kw))
    assert reg.candidates(v.address).bond == 1_000 * ETHER


@pytest.mark.parametrize(
    "call",
    [
        lambda reg, who: reg.registerFor(who, 1, sender=who),
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
    reg.register(env["ids"][v.address], sender=v.address)  # may come back later
    assert reg.candidateCount() == 2
    reg.jail(v.address, DAY, sender=deployer)
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
        reg.registerFor(who, cred, sender=deployer)
        reg.bondFor(who, (100 + i) * ETHER, sender=deployer)
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
