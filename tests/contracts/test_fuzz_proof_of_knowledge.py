"""Invariant fuzzing of ProofOfKnowledge: submissions, challenges, finalization under tight
caps, deferred payments, withdrawals, revocations and clawbacks in random order.

Invariants: what each epoch paid stays within that epoch's (halved) bucket and each
learner's cap (the emission schedule); one live or rewarded claim per (learner, course); a
finalized claim's credited + deferred reward is its full reward; liabilities = credits +
bonds held; native AZR is conserved (reserve + bonds in = balance + paid out); emission never
exceeds the reserve.
"""

from __future__ import annotations

import boa
from eth_utils import keccak
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from contract_helpers import ETHER, load_partial
from fuzzing import AnchoredMachine, reverted, run_machine
from test_proof_of_knowledge import ORACLES, completion, sign

DAY = 86_400
RESERVE = 600 * ETHER
BOND = 10 * ETHER
HALVING_EPOCHS = 3
BASE, BUCKET, CAP = 100 * ETHER, 150 * ETHER, 120 * ETHER
WEIGHTS = [10_000, 5_000, 2_500]
PENDING, CHALLENGED, REJECTED, FINALIZED, CLAWED_BACK = 1, 2, 3, 4, 5
LIVE = (PENDING, CHALLENGED, FINALIZED, CLAWED_BACK)


def test_proof_of_knowledge_invariants(deployer, users):
    creds = load_partial("Credentials").deploy(deployer, "")
    pok = load_partial("ProofOfKnowledge").deploy(
        creds.address, DAY, HALVING_EPOCHS, BASE, BUCKET, CAP, DAY, BOND, 2 * DAY, value=RESERVE,
    )
    issuer, challenger = users[5], users[4]
    learners = users[:3]
    courses = [keccak(text=f"https://azora.africa/courses/fuzz{i}") for i in range(len(WEIGHTS))]
    creds.setMinter(pok.address, True)
    creds.setIssuer(issuer, True)
    pok.setOracleCommittee([o.address for o in ORACLES], 2)
    for course, weight in zip(courses, WEIGHTS):
        pok.setCourse(course, issuer, weight, True)

    class PoKMachine(AnchoredMachine):
        def __init__(self) -> None:
            super().__init__()
            self.keys: list[bytes] = []
            self.pairs: dict[bytes, tuple[int, int]] = {}
            self.entitled: dict[bytes, int] = {}
            self.epochs: set[int] = set()
            self.nonce = 0
            self.bonds_in = 0
            self.paid_out = 0

        def now(self) -> int:
            return boa.env.evm.patch.timestamp

        def key(self, n: int) -> bytes:
            return self.keys[n % len(self.keys)]

        @rule(i=st.integers(0, 2), j=st.integers(0, 2))
        def submit(self, i: int, j: int) -> None:
            self.nonce += 1
            c = completion(learners[i], courses[j], evidence=self.nonce.to_bytes(32, "big"))
            taken = any(pok.getClaim(k).status in LIVE for k in self.keys if self.pairs[k] == (i, j))
            try:
                key = pok.submit(c, sign(pok, c, ORACLES[:2]))
            except boa.BoaError:
                assert taken
                return
            assert not taken
            self.keys.append(key)
            self.pairs[key] = (i, j)

        @precondition(lambda self: self.keys)
        @rule(n=st.integers(0, 30), dao=st.booleans())
        def challenge(self, n: int, dao: bool) -> None:
            key = self.key(n)
            claim = pok.getClaim(key)
            ok = claim.status == PENDING and self.now() < claim.submittedAt + DAY
            value = 0 if dao else BOND
            who = deployer if dao else challenger
            assert reverted(lambda: pok.challenge(key, value=value, sender=who)) == (not ok)
            if ok:
                self.bonds_in += value

        @precondition(lambda self: self.keys)
        @rule(n=st.integers(0, 30), fraudulent=st.booleans(), timeout=st.booleans())
        def resolve(self, n: int, fraudulent: bool, timeout: bool) -> None:
            key = self.key(n)
            claim = pok.getClaim(key)
            if timeout:
                ok = claim.status == CHALLENGED and self.now() >= claim.challengedAt + 2 * DAY
                assert reverted(lambda: pok.resolveChallengeTimeout(key)) == (not ok)
            else:
                ok = claim.status == CHALLENGED
                assert reverted(lambda: pok.resolveChallenge(key, fraudulent, sender=deployer)) == (not ok)

        @precondition(lambda self: self.keys)
        @rule(n=st.integers(0, 30))
        def finalize(self, n: int) -> None:
            key = self.key(n)
            claim = pok.getClaim(key)
            ok = claim.status == PENDING and self.now() >= claim.submittedAt + DAY
            assert reverted(lambda: pok.finalize(key, sender=users[3])) == (not ok)
            if ok:
                epoch = pok.currentEpoch()
                self.epochs.add(epoch)
                weight = WEIGHTS[self.pairs[key][1]]
                self.entitled[key] = (BASE * weight // 10_000) >> min(epoch // HALVING_EPOCHS, 255)

        @precondition(lambda self: self.keys)
        @rule(n=st.integers(0, 30))
        def pay_deferred(self, n: int) -> None:
            key = self.key(n)
            before = pok.deferredReward(key)
            if not reverted(lambda: pok.payDeferred(key, sender=users[3])):
                self.epochs.add(pok.currentEpoch())
                assert 0 < before and pok.deferredReward(key) < before

        @rule(who=st.integers(0, 4))
        def withdraw(self, who: int) -> None:
            account = users[who]
            amount = pok.claimable(account)
            assert reverted(lambda: pok.withdrawRewards(account)) == (amount == 0)
            self.paid_out += amount

        @precondition(lambda self: self.keys)
        @rule(n=st.integers(0, 30), burn_first=st.booleans())
        def revoke_and_claw_back(self, n: int, burn_first: bool) -> None:
            key = self.key(n)
            claim = pok.getClaim(key)
            if claim.status != FINALIZED:
                assert reverted(lambda: pok.clawback(key))
                return
            cred = creds.latestOf(claim.credentialId)
            if burn_first and creds.holderOf(cred) == claim.learner:
                creds.burn(cred, sender=claim.learner)  # burning must not dodge the clawback
            creds.revoke(cred, "fuzz", sender=issuer)
            pok.clawback(key)

        @rule(seconds=st.sampled_from([3_600, DAY // 2, DAY, 3 * DAY]))
        def wait(self, seconds: int) -> None:
            boa.env.time_travel(seconds=seconds)

        @invariant()
        def emission_and_accounting(self) -> None:
            for epoch in self.epochs:
                assert pok.epochPaid(epoch) <= BUCKET >> min(epoch // HALVING_EPOCHS, 255)
                for learner in learners:
                    assert pok.learnerEpochPaid(learner, epoch) <= CAP
            bonds_held = 0
            claims = {key: pok.getClaim(key) for key in self.keys}
            live_pairs = [self.pairs[k] for k, claim in claims.items() if claim.status in LIVE]
            assert len(live_pairs) == len(set(live_pairs))  # one live or rewarded claim per pair
            for key, claim in claims.items():
                if claim.status == CHALLENGED:
                    bonds_held += claim.bond
                if claim.status == FINALIZED:
                    assert claim.reward + pok.deferredReward(key) == self.entitled[key]
                if claim.status == CLAWED_BACK:
                    assert pok.deferredReward(key) == 0
            credits = sum(pok.claimable(u) for u in users)
            assert pok.totalLiabilities() == credits + bonds_held
            balance = boa.env.get_balance(pok.address)
            assert balance + self.paid_out == RESERVE + self.bonds_in
            assert pok.reserveBalance() == balance - pok.totalLiabilities()
            assert pok.totalEmitted() <= RESERVE

    run_machine(PoKMachine)
