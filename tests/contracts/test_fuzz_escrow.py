"""Invariant fuzzing of Escrow: random parties call random functions on a few jobs.

Invariants: the escrow's token balance = open milestones (`locked`) + credits (`owed`);
tokens are conserved; a milestone's state only moves along the documented edges; a provider
is only ever paid for a milestone it submitted, the client approved or the arbiter ruled on
(a provider who does nothing collects nothing); only the parties are ever credited.
"""

from __future__ import annotations

import boa
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from contract_helpers import ETHER, load_mock, load_partial
from fuzzing import AnchoredMachine, reverted, run_machine

HOUR, DAY = 3_600, 86_400
CREATED, FUNDED, SUBMITTED, RELEASED, DISPUTED, RESOLVED, REFUNDED = range(1, 8)
EDGES = {
    CREATED: {FUNDED}, FUNDED: {SUBMITTED, RELEASED, DISPUTED, REFUNDED},
    SUBMITTED: {RELEASED, DISPUTED}, DISPUTED: {RESOLVED},
    RELEASED: set(), RESOLVED: set(), REFUNDED: set(),
}
MINTED = 10_000 * ETHER


def test_escrow_invariants(deployer, users):
    escrow = load_partial("Escrow").deploy()
    token = load_mock("MockToken").deploy()
    client, provider, arbiter, stranger = users[0], users[1], users[2], users[3]
    parties = [client, provider, arbiter, stranger]
    token.mint(client, MINTED)
    token.approve(escrow.address, 2**256 - 1, sender=client)
    tok = token.address

    class EscrowMachine(AnchoredMachine):
        def __init__(self) -> None:
            super().__init__()
            self.jobs: list[int] = []
            self.milestones: list[tuple[int, int, int]] = []  # (job, index, amount)
            self.states: dict[tuple[int, int], int] = {}
            # what the provider may be paid: milestones it submitted or a decision covered
            self.provider_earnable = 0

        @initialize(amounts=st.lists(st.integers(1, 300), min_size=1, max_size=2),
                    periods=st.tuples(*[st.sampled_from([HOUR, DAY, 3 * DAY])] * 3))
        def open_accepted_job(self, amounts: list[int], periods: tuple[int, int, int]) -> None:
            self.create_job(amounts, periods, True)

        @rule(amounts=st.lists(st.integers(1, 300), min_size=1, max_size=2),
              periods=st.tuples(*[st.sampled_from([HOUR, DAY, 3 * DAY])] * 3), accept=st.booleans())
        def create_job(self, amounts: list[int], periods: tuple[int, int, int], accept: bool) -> None:
            wei = [a * ETHER for a in amounts]
            job = escrow.createJob(provider, tok, arbiter, wei, *periods, sender=client)
            if accept:
                escrow.acceptJob(job, sender=provider)
            self.jobs.append(job)
            for i, amount in enumerate(wei):
                self.milestones.append((job, i, amount))
                self.states[(job, i)] = CREATED

        @precondition(lambda self: self.jobs)
        @rule(n=st.integers(0, 20), who=st.integers(0, 3))
        def accept(self, n: int, who: int) -> None:
            job = self.jobs[n % len(self.jobs)]
            ok = parties[who] == provider and not escrow.jobs(job).accepted
            assert reverted(lambda: escrow.acceptJob(job, sender=parties[who])) == (not ok)

        def act(self, n: int, sender: str, action: str, share: int = 0) -> None:
            job, index, amount = self.milestones[n % len(self.milestones)]
            before = escrow.milestones(job, index).state
            call = {
                "fund": lambda: escrow.fund(job, index, sender=sender),
                "submit": lambda: escrow.submit(job, index, sender=sender),
                "approve": lambda: escrow.approve(job, index, sender=sender),
                "dispute": lambda: escrow.dispute(job, index, sender=sender),
                "rule": lambda: escrow.rule(job, index, share, sender=sender),
                "refund": lambda: escrow.refund(job, index, sender=sender),
                "claimTimeout": lambda: escrow.claimTimeout(job, index, sender=sender),
                "resolveTimeout": lambda: escrow.resolveTimeout(job, index, sender=sender),
            }[action]
            if reverted(call):
                assert escrow.milestones(job, index).state == before
                return
            after = escrow.milestones(job, index).state
            assert after in EDGES[before], (action, before, after)
            # who may move what: the roles the contract promises
            role = {"fund": client, "submit": provider, "approve": client, "rule": arbiter,
                    "refund": client, "claimTimeout": provider}
            if action in role:
                assert sender == role[action]
            if action == "dispute":
                assert sender == client or (sender == provider and before == SUBMITTED)
            if action == "resolveTimeout":
                assert sender in (client, provider)
            if action in ("submit", "approve", "rule"):
                self.provider_earnable += amount
            self.states[(job, index)] = after

        # each party's own moves get a rule of their own, so that long legal sequences
        # (fund, dispute, wait, timeout) come up often; `anyone_calls` tries every role
        @precondition(lambda self: self.milestones)
        @rule(n=st.integers(0, 50), action=st.sampled_from(["fund", "approve", "refund", "dispute"]))
        def client_acts(self, n: int, action: str) -> None:
            self.act(n, client, action)

        @precondition(lambda self: self.milestones)
        @rule(n=st.integers(0, 50), action=st.sampled_from(["submit", "claimTimeout", "dispute"]))
        def provider_acts(self, n: int, action: str) -> None:
            self.act(n, provider, action)

        @precondition(lambda self: self.milestones)
        @rule(n=st.integers(0, 50), share=st.integers(0, 10_000))
        def arbiter_rules(self, n: int, share: int) -> None:
            self.act(n, arbiter, "rule", share)

        @precondition(lambda self: self.milestones)
        @rule(n=st.integers(0, 50), who=st.sampled_from([0, 1]))
        def timeout(self, n: int, who: int) -> None:
            self.act(n, parties[who], "resolveTimeout")

        @precondition(lambda self: self.milestones)
        @rule(n=st.integers(0, 50), who=st.integers(0, 3),
              action=st.sampled_from(["fund", "submit", "approve", "dispute", "rule", "refund",
                                      "claimTimeout", "resolveTimeout"]),
              share=st.integers(0, 10_000))
        def anyone_calls(self, n: int, who: int, action: str, share: int) -> None:
            self.act(n, parties[who], action, share)

        @rule(who=st.integers(0, 3))
        def withdraw(self, who: int) -> None:
            owed = escrow.credits(tok, parties[who])
            assert reverted(lambda: escrow.withdraw(tok, sender=parties[who])) == (owed == 0)

        @rule(seconds=st.sampled_from([HOUR, DAY, 2 * DAY]))
        def wait(self, seconds: int) -> None:
            boa.env.time_travel(seconds=seconds)

        @invariant()
        def balances_and_payouts(self) -> None:
            open_amount = sum(a for j, i, a in self.milestones if self.states[(j, i)] in (FUNDED, SUBMITTED, DISPUTED))
            credits = sum(escrow.credits(tok, p) for p in parties)
            assert escrow.locked(tok) == open_amount
            assert escrow.owed(tok) == credits
            assert token.balanceOf(escrow.address) == open_amount + credits
            assert sum(token.balanceOf(p) for p in parties) + token.balanceOf(escrow.address) == MINTED
            paid_provider = token.balanceOf(provider) + escrow.credits(tok, provider)
            assert paid_provider <= self.provider_earnable
            assert escrow.credits(tok, arbiter) == 0 and escrow.credits(tok, stranger) == 0

    run_machine(EscrowMachine, steps=20)
