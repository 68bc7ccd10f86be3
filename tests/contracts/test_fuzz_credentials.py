"""Invariant fuzzing of Credentials: a model predicts every call's outcome and the state.

Invariants: a credential never changes owner (only its issuer's re-issue moves it, as a new
token, and only while that issuer is registered); `verify` status is a function of
revocation, existence and expiry; `latestOf` follows re-issue chains; a burned credential
can still be revoked; supply = live tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import boa
from eth_utils import keccak
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from contract_helpers import load_partial
from fuzzing import AnchoredMachine, reverted, run_machine

COURSE = keccak(text="https://azora.africa/courses/fuzz")
NONE, VALID, REVOKED, EXPIRED = 0, 1, 2, 3
ZERO = "0x" + "00" * 20


@dataclass
class Token:
    holder: str
    issuer: str
    expiry: int
    alive: bool = True
    revoked: bool = False
    replaced_by: int = 0
    first: int = 0


def test_credentials_invariants(deployer, users):
    creds = load_partial("Credentials").deploy(deployer, "")
    issuers, holders = users[:2], users[2:6]
    for issuer in issuers:
        creds.setIssuer(issuer, True, sender=deployer)

    class CredentialsMachine(AnchoredMachine):
        def __init__(self) -> None:
            super().__init__()
            self.tokens: dict[int, Token] = {}
            self.registered = {i: True for i in issuers}

        def now(self) -> int:
            return boa.env.evm.patch.timestamp

        def pick(self, n: int) -> int:
            return (n % len(self.tokens)) + 1 if self.tokens else 1

        @rule(i=st.integers(0, 1), h=st.integers(0, 3), ttl=st.sampled_from([0, 0, 100, 10_000]))
        def issue(self, i: int, h: int, ttl: int) -> None:
            issuer, holder = issuers[i], holders[h]
            expiry = self.now() + ttl if ttl else 0
            failed = reverted(lambda: creds.issue(holder, COURSE, 1, expiry, 0, b"\x00" * 32, [], sender=issuer))
            assert failed == (not self.registered[issuer])
            if not failed:
                self.tokens[len(self.tokens) + 1] = Token(holder, issuer, expiry)

        @rule(n=st.integers(0, 50), by=st.integers(0, 5))
        def revoke(self, n: int, by: int) -> None:
            tid, who = self.pick(n), users[by]
            t = self.tokens.get(tid)
            ok = t is not None and t.issuer == who and not t.replaced_by and not t.revoked
            assert reverted(lambda: creds.revoke(tid, "fuzz", sender=who)) == (not ok)
            if ok:
                t.revoked = True

        @rule(n=st.integers(0, 50), by=st.integers(0, 5))
        def burn(self, n: int, by: int) -> None:
            tid, who = self.pick(n), users[by]
            t = self.tokens.get(tid)
            ok = t is not None and t.alive and t.holder == who
            assert reverted(lambda: creds.burn(tid, sender=who)) == (not ok)
            if ok:
                t.alive = False

        @rule(n=st.integers(0, 50), by=st.integers(0, 5), to=st.integers(0, 3))
        def reissue(self, n: int, by: int, to: int) -> None:
            tid, who, new_holder = self.pick(n), users[by], holders[to]
            t = self.tokens.get(tid)
            ok = (t is not None and t.alive and t.issuer == who and self.registered.get(who, False)
                  and not t.revoked)
            assert reverted(lambda: creds.reissue(tid, new_holder, sender=who)) == (not ok)
            if ok:
                new_id = len(self.tokens) + 1
                self.tokens[new_id] = Token(new_holder, t.issuer, t.expiry, first=t.first or tid)
                t.alive, t.replaced_by = False, new_id

        @rule(n=st.integers(0, 50), to=st.integers(0, 3))
        def transfer(self, n: int, to: int) -> None:
            tid = self.pick(n)
            t = self.tokens.get(tid)
            owner = t.holder if t else holders[0]
            assert reverted(lambda: creds.transferFrom(owner, holders[to], tid, sender=owner))

        @rule(i=st.integers(0, 1), allowed=st.booleans())
        def set_issuer(self, i: int, allowed: bool) -> None:
            creds.setIssuer(issuers[i], allowed, sender=deployer)
            self.registered[issuers[i]] = allowed

        @rule(seconds=st.sampled_from([1, 60, 5_000, 20_000]))
        def wait(self, seconds: int) -> None:
            boa.env.time_travel(seconds=seconds)

        def expected_status(self, t: Token) -> int:
            if t.revoked:
                return REVOKED
            if not t.alive:
                return NONE
            if t.expiry and self.now() >= t.expiry:
                return EXPIRED
            return VALID

        def latest(self, tid: int) -> int:
            while self.tokens[tid].replaced_by:
                tid = self.tokens[tid].replaced_by
            return tid

        @invariant()
        def state_matches_the_model(self) -> None:
            for tid, t in self.tokens.items():
                assert creds.holderOf(tid) == (t.holder if t.alive else ZERO)
                status, issuer, _ = creds.verify(tid)
                assert (status, issuer) == (self.expected_status(t), t.issuer)
                assert creds.latestOf(tid) == self.latest(tid)
            live = sum(t.alive for t in self.tokens.values())
            assert creds.totalSupply() == live
            assert sum(creds.balanceOf(h) for h in holders) == live
            assert creds.lastTokenId() == len(self.tokens)

    run_machine(CredentialsMachine)
