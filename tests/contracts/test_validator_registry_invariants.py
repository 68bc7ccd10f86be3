"""ValidatorRegistry invariants under random candidacies, bonds, credentials, jails, evidence,
validator-set records, epoch rewards and the passing of time.

A hypothesis state machine drives a real registry over real AZR and Credentials. After every step:
- AZR accounting: the registry holds exactly the bonds + unbonding amounts of every account, and
  that is what was paid in, less what was withdrawn and what slashing took out;
- native accounting: the reward reserve + credited, unclaimed rewards = the native balance =
  what was funded less what was claimed;
- the active set never exceeds `maxValidators`, holds no jailed or ineligible validator, and is
  the top of the eligible candidates by bond (ties by address);
- the candidate list holds each registered candidate once, and nobody else;
- a slash always leaves the validator jailed, and one incident is slashed once.
`AZORA_FUZZ_EXAMPLES` sets the number of examples (CI: the default below).
"""

from __future__ import annotations

import os

import boa
import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from contract_helpers import ETHER, Signer, load_partial, struct_hash, typed_digest

# each step reads every candidate: 100 examples keep this suite near a minute in CI
EXAMPLES = int(os.environ.get("AZORA_FUZZ_EXAMPLES", "200"))
DAY = 86_400
COURSE = keccak(text="https://azora.africa/courses/validator")
VOTE = "Vote(uint8 voteType,uint64 height,uint32 round,bytes32 blockHash)"
SYSTEM = "0xfffffffffffffffffffffffffffffffffffffffe"
SIGNERS = [Signer.from_seed(f"fuzz-validator{i}") for i in range(5)]
RESERVE = 1_000 * ETHER
AMOUNTS = st.sampled_from([0, 1, 50, 100, 250, 1_000])


@pytest.fixture(scope="module")
def env(deployer, users):
    azr = load_partial("AZR").deploy()
    creds = load_partial("Credentials").deploy(deployer, "")
    creds.setIssuer(deployer, True)
    reg = load_partial("ValidatorRegistry").deploy(
        azr.address, creds.address, users[5], COURSE, 100 * ETHER, 3, 3 * DAY, 1_000, 2_000, DAY,
        SYSTEM, 30 * ETHER, value=RESERVE,
    )
    reg.setIssuerTrust(deployer, True)
    credentials = {}
    for s in SIGNERS:
        boa.env.set_balance(s.address, 100_000 * ETHER)
        credentials[s.address] = creds.issue(s.address, COURSE, 1, 0, 0, b"\x00" * 32, [])
        azr.deposit(value=10_000 * ETHER, sender=s.address)
        azr.approve(reg.address, 2**256 - 1, sender=s.address)
    boa.env.set_balance(SYSTEM, 0)
    return {"azr": azr, "creds": creds, "reg": reg, "deployer": deployer, "reporter": users[0],
            "credentials": credentials}


def attempt(call, *args, **kwargs):
    """Run a transaction the machine may legitimately see refused; its result, or None."""
    try:
        result = call(*args, **kwargs)
        return True if result is None else result
    except boa.BoaError:
        return None


class RegistryMachine(RuleBasedStateMachine):
    def __init__(self, env: dict) -> None:
        super().__init__()
        self.anchor = boa.env.anchor()
        self.anchor.__enter__()
        self.azr, self.creds, self.reg = env["azr"], env["creds"], env["reg"]
        self.owner, self.reporter = env["deployer"], env["reporter"]
        self.credential = dict(env["credentials"])
        self.paid_in = 0
        self.withdrawn = 0
        self.slashed = 0
        self.claimed = 0
        self.epoch = 0
        self.heights: list[int] = []
        self.rewards_moved = False

    def teardown(self) -> None:
        self.anchor.__exit__(None, None, None)

    def _address(self, i: int) -> str:
        return SIGNERS[i].address

    @rule(i=st.integers(0, 4), amount=AMOUNTS)
    def register(self, i: int, amount: int) -> None:
        who = self._address(i)
        if attempt(self.reg.register, self.credential[who], amount * ETHER, sender=who):
            self.paid_in += amount * ETHER

    @rule(i=st.integers(0, 4), amount=AMOUNTS)
    def bond(self, i: int, amount: int) -> None:
        who = self._address(i)
        if attempt(self.reg.bond, amount * ETHER, sender=who):
            self.paid_in += amount * ETHER

    @rule(i=st.integers(0, 4), amount=AMOUNTS)
    def unbond(self, i: int, amount: int) -> None:
        attempt(self.reg.unbond, amount * ETHER, sender=self._address(i))

    @rule(i=st.integers(0, 4))
    def withdraw(self, i: int) -> None:
        amount = attempt(self.reg.withdrawUnbonded, sender=self._address(i))
        if amount:
            self.withdrawn += amount

    @rule(i=st.integers(0, 4))
    def leave(self, i: int) -> None:
        attempt(self.reg.leave, sender=self._address(i))

    @rule(i=st.integers(0, 4))
    def prune(self, i: int) -> None:
        attempt(self.reg.prune, self._address(i), sender=self.reporter)

    @rule(i=st.integers(0, 4))
    def revoke_credential(self, i: int) -> None:
        attempt(self.creds.revoke, self.credential[self._address(i)], "fuzz", sender=self.owner)

    @rule(i=st.integers(0, 4))
    def new_credential(self, i: int) -> None:
        who = self._address(i)
        self.credential[who] = self.creds.issue(who, COURSE, 1, 0, 0, b"\x00" * 32, [], sender=self.owner)
        attempt(self.reg.setCredential, self.credential[who], sender=who)

    @rule(i=st.integers(0, 4), disqualified=st.booleans())
    def disqualify(self, i: int, disqualified: bool) -> None:
        self.reg.disqualifyCredential(self.credential[self._address(i)], disqualified, sender=self.owner)

    @rule(i=st.integers(0, 4), duration=st.sampled_from([0, 3_600, 2 * DAY]))
    def jail(self, i: int, duration: int) -> None:
        attempt(self.reg.jail, self._address(i), duration, sender=self.owner)

    @rule(i=st.integers(0, 4))
    def unjail(self, i: int) -> None:
        self.reg.unjail(self._address(i), sender=self.owner)

    @rule(minimum=st.sampled_from([1, 100, 300]), size=st.integers(1, 4))
    def set_parameters(self, minimum: int, size: int) -> None:
        self.reg.setParameters(minimum * ETHER, size, 3 * DAY, 1_000, 2_000, DAY, sender=self.owner)

    @rule()
    def new_epoch(self) -> None:
        # the node's system calls at the first block of an epoch
        boa.env.time_travel(blocks=1)
        validators = list(self.reg.activeValidators()[0])
        self.reg.recordValidatorSet(validators, sender=SYSTEM)
        self.heights.append(boa.env.evm.patch.block_number)
        self.reg.distributeRewards(self.epoch, validators, [1 + k for k in range(len(validators))], sender=SYSTEM)
        self.epoch += 1
        self.rewards_moved = True

    @rule(i=st.integers(0, 4))
    def claim(self, i: int) -> None:
        amount = attempt(self.reg.claimRewards, self._address(i), sender=self.reporter)
        if amount:
            self.claimed += amount
            self.rewards_moved = True

    @rule(i=st.integers(0, 4), which=st.integers(0, 10), rnd=st.integers(0, 2))
    def report(self, i: int, which: int, rnd: int) -> None:
        if not self.heights:
            return
        height = self.heights[which % len(self.heights)] + rnd
        signer = SIGNERS[i]
        votes = [(2, height, rnd, bytes([k]) * 32) for k in (1, 2)]
        sigs = [signer.sign(typed_digest("Azora Consensus", "1", self.reg.address,
                                         struct_hash(VOTE, ["uint8", "uint64", "uint32", "bytes32"], list(v))))
                for v in votes]
        before = self.reg.candidates(signer.address)
        taken = attempt(self.reg.reportEquivocation, votes[0], sigs[0], votes[1], sigs[1], sender=self.reporter)
        if taken is None:
            return
        self.slashed += taken
        after = self.reg.candidates(signer.address)
        now = boa.env.evm.patch.timestamp
        assert after.jailedUntil > now and after.punishedUntil == after.jailedUntil
        assert before.bond + before.unbonding - (after.bond + after.unbonding) == taken
        # the same incident cannot be slashed twice
        again = [(2, height, rnd + 10, bytes([k]) * 32) for k in (1, 2)]
        sigs = [signer.sign(typed_digest("Azora Consensus", "1", self.reg.address,
                                         struct_hash(VOTE, ["uint8", "uint64", "uint32", "bytes32"], list(v))))
                for v in again]
        assert attempt(self.reg.reportEquivocation, again[0], sigs[0], again[1], sigs[1], sender=self.reporter) is None

    @rule(seconds=st.sampled_from([600, 3_600, DAY, 3 * DAY]))
    def wait(self, seconds: int) -> None:
        boa.env.time_travel(seconds=seconds)

    @invariant()
    def accounts_and_the_active_set_hold(self) -> None:
        # one pass reads every candidate once: the checks below share it
        reg = self.reg
        candidates = {s.address: reg.candidates(s.address) for s in SIGNERS}

        # AZR: the registry holds exactly the bonds and unbonding amounts, and that is what
        # was paid in, less withdrawals and slashes
        staked = sum(c.bond + c.unbonding for c in candidates.values())
        assert self.azr.balanceOf(reg.address) == staked == self.paid_in - self.withdrawn - self.slashed

        # native AZR: reserve + credited rewards = balance = funding less claims
        owed = reg.totalRewardsOwed()
        assert boa.env.get_balance(reg.address) == reg.rewardReserve() + owed == RESERVE - self.claimed
        if self.rewards_moved:  # only credits and claims change the per-validator rewards
            assert owed == sum(reg.rewards(a) for a in candidates)
            self.rewards_moved = False

        # the active set: at most maxValidators, none jailed or ineligible, the top by bond
        addresses, powers = reg.activeValidators()
        addresses = list(addresses)
        maximum, minimum = reg.maxValidators(), reg.minimumBond()
        now = boa.env.evm.patch.timestamp
        eligible = []
        for address, c in candidates.items():
            ok = reg.isEligible(address)
            if address in addresses:
                assert ok and c.registered and c.jailedUntil <= now and c.bond >= minimum
            if ok:
                eligible.append((-c.bond, int(address, 16), address))
        assert len(addresses) <= maximum
        assert addresses == [a for _, _, a in sorted(eligible)][:maximum]
        assert list(powers) == [candidates[a].bond for a in addresses]

        # the candidate list: every registered candidate once, nobody else
        listed = [reg.candidateList(k) for k in range(reg.candidateCount())]
        assert sorted(listed) == sorted(a for a, c in candidates.items() if c.registered)


def test_validator_registry_invariants_hold_under_random_use(env):
    run_state_machine_as_test(
        lambda: RegistryMachine(env),
        settings=settings(max_examples=EXAMPLES, stateful_step_count=15, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]),
    )
