"""Invariant fuzzing of AToken: minting under the bucket, transfers, burns, reserve, pause.

Invariants: supply = sum of balances; the native balance = reserve funded - released, and
released never exceeds funded; `mintable()` never exceeds the cap; between limit changes,
whatever interval [t0, t1] one looks at, the issuer minted at most cap + cap * (t1 - t0) /
period (a sliding window, not fixed windows); only the issuer mints, only the admin
releases the reserve.
"""

from __future__ import annotations

import boa
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from contract_helpers import ETHER, load_partial
from fuzzing import AnchoredMachine, reverted, run_machine

DAY = 86_400


def test_atoken_invariants(deployer, users):
    admin, issuer, holders = users[5], users[4], users[:4]
    token = load_partial("AToken").deploy("Azora Fuzz", "aFZZ", admin, issuer, 1_000 * ETHER, DAY, value=100 * ETHER)
    everyone = [admin, issuer, *holders]

    class ATokenMachine(AnchoredMachine):
        def __init__(self) -> None:
            super().__init__()
            self.cap, self.period = 1_000 * ETHER, DAY
            self.mints: list[tuple[int, int]] = []  # (time, amount) since the last limit change
            self.limit_set_at = boa.env.evm.patch.timestamp
            self.paused = False

        def now(self) -> int:
            return boa.env.evm.patch.timestamp

        @rule(who=st.integers(0, 5), to=st.integers(0, 3), amount=st.integers(0, 1_200))
        def mint(self, who: int, to: int, amount: int) -> None:
            wei = amount * ETHER
            sender = everyone[who]
            available = token.mintable()
            ok = sender == issuer and not self.paused and wei <= available
            assert reverted(lambda: token.mint(holders[to], wei, sender=sender)) == (not ok)
            if ok:
                self.mints.append((self.now(), wei))

        @rule(cap=st.sampled_from([0, 10, 500, 1_000, 5_000]), period=st.sampled_from([60, 3_600, DAY]))
        def set_limit(self, cap: int, period: int) -> None:
            token.setMintLimit(cap * ETHER, period, sender=admin)
            self.cap, self.period = cap * ETHER, period
            self.mints, self.limit_set_at = [], self.now()

        @rule(seconds=st.sampled_from([1, 59, 600, 3_600, DAY // 2, DAY]))
        def wait(self, seconds: int) -> None:
            boa.env.time_travel(seconds=seconds)

        @rule(frm=st.integers(0, 3), to=st.integers(0, 3), fraction=st.integers(0, 100))
        def transfer(self, frm: int, to: int, fraction: int) -> None:
            amount = token.balanceOf(holders[frm]) * fraction // 100
            failed = reverted(lambda: token.transfer(holders[to], amount, sender=holders[frm]))
            assert failed == self.paused

        @rule(who=st.integers(0, 3), fraction=st.integers(0, 100))
        def burn(self, who: int, fraction: int) -> None:
            token.burn(token.balanceOf(holders[who]) * fraction // 100, sender=holders[who])

        @rule(amount=st.integers(0, 50))
        def fund(self, amount: int) -> None:
            token.fundReserve(value=amount * ETHER, sender=holders[0])

        @rule(who=st.integers(0, 5), amount=st.integers(0, 200))
        def release(self, who: int, amount: int) -> None:
            wei, sender = amount * ETHER, everyone[who]
            ok = sender == admin and wei <= token.reserveBalance()
            assert reverted(lambda: token.releaseReserve(holders[0], wei, sender=sender)) == (not ok)

        @rule(pause=st.booleans())
        def pause(self, pause: bool) -> None:
            if pause != self.paused:
                (token.pause if pause else token.unpause)(sender=admin)
                self.paused = pause

        @invariant()
        def supply_reserve_and_sliding_window(self) -> None:
            assert token.totalSupply() == sum(token.balanceOf(h) for h in everyone)
            assert token.reserveReleased() <= token.reserveFunded()
            assert boa.env.get_balance(token.address) == token.reserveFunded() - token.reserveReleased()
            assert token.mintable() <= self.cap
            # every suffix of the mint log is an interval [t0, now]: the bucket bounds it
            total, now = 0, self.now()
            for at, amount in reversed(self.mints):
                total += amount
                assert total <= self.cap + self.cap * (now - at) // self.period

    run_machine(ATokenMachine)
