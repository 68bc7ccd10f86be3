"""Escrow: milestone jobs, disputes, arbitration, timeouts, pull payments, hostile tokens."""

from __future__ import annotations

import boa
import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as selector
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract_helpers import ETHER, load_mock, load_partial

DAY = 86_400
CREATED, FUNDED, SUBMITTED, RELEASED, DISPUTED, RESOLVED, REFUNDED = range(1, 8)


@pytest.fixture(scope="module")
def env(deployer, users):
    escrow = load_partial("Escrow").deploy()
    token = load_mock("MockToken").deploy()
    client, provider, arbiter = users[0], users[1], users[2]
    token.mint(client, 1_000 * ETHER)
    token.approve(escrow.address, 2**256 - 1, sender=client)
    return {"escrow": escrow, "token": token, "client": client, "provider": provider, "arbiter": arbiter}


def open_job(env, amounts=(100 * ETHER, 50 * ETHER), periods=(DAY, 2 * DAY, 3 * DAY), token=None) -> int:
    """A job the provider has accepted."""
    e = env
    token = token or e["token"].address
    job = e["escrow"].createJob(e["provider"], token, e["arbiter"], list(amounts), *periods, sender=e["client"])
    e["escrow"].acceptJob(job, sender=e["provider"])
    return job


def state(env, job, i) -> int:
    return env["escrow"].milestones(job, i).state


def test_happy_path_fund_submit_approve_withdraw(env):
    e, escrow, token = env, env["escrow"], env["token"]
    job = open_job(e)
    assert escrow.jobs(job).milestoneCount == 2 and state(e, job, 0) == CREATED
    escrow.fund(job, 0, sender=e["client"])
    assert token.balanceOf(escrow.address) == 100 * ETHER and escrow.locked(token.address) == 100 * ETHER
    escrow.submit(job, 0, sender=e["provider"])
    escrow.approve(job, 0, sender=e["client"])
    assert state(e, job, 0) == RELEASED
    assert escrow.credits(token.address, e["provider"]) == 100 * ETHER
    escrow.withdraw(token.address, sender=e["provider"])
    assert token.balanceOf(e["provider"]) == 100 * ETHER
    assert token.balanceOf(escrow.address) == 0
    with boa.reverts("Escrow: nothing to withdraw"):
        escrow.withdraw(token.address, sender=e["provider"])


def test_add_milestone_and_approve_without_submission(env):
    e, escrow = env, env["escrow"]
    job = open_job(e, [10 * ETHER])
    assert escrow.addMilestone(job, 5 * ETHER, sender=e["client"]) == 1
    with boa.reverts("Escrow: not client"):
        escrow.addMilestone(job, 5 * ETHER, sender=e["provider"])
    escrow.fund(job, 1, sender=e["client"])
    escrow.approve(job, 1, sender=e["client"])
    assert escrow.credits(e["token"].address, e["provider"]) == 5 * ETHER


def test_invalid_job_creation(env, users):
    e, escrow, tok = env, env["escrow"], env["token"].address
    c, p, a = e["client"], e["provider"], e["arbiter"]
    cases = [
        ((c, tok, a, [1], DAY, DAY, DAY), "Escrow: bad provider"),
        ((p, users[4], a, [1], DAY, DAY, DAY), "Escrow: token not a contract"),
        ((p, tok, "0x" + "00" * 20, [1], DAY, DAY, DAY), "Escrow: zero arbiter"),
        ((p, tok, p, [1], DAY, DAY, DAY), "Escrow: arbiter is a party"),
        ((p, tok, a, [1], 0, DAY, DAY), "Escrow: bad period"),
        ((p, tok, a, [0], DAY, DAY, DAY), "Escrow: zero amount"),
    ]
    for args, reason in cases:
        with boa.reverts(reason):
            escrow.createJob(*args, sender=c)


def test_invalid_calls_by_the_wrong_party_or_in_the_wrong_state(env, users):
    e, escrow = env, env["escrow"]
    job = open_job(e)
    stranger = users[4]
    with boa.reverts("Escrow: not client"):
        escrow.fund(job, 0, sender=stranger)
    with boa.reverts("Escrow: wrong milestone state"):
        escrow.submit(job, 0, sender=e["provider"])
    escrow.fund(job, 0, sender=e["client"])
    with boa.reverts("Escrow: wrong milestone state"):
        escrow.fund(job, 0, sender=e["client"])
    with boa.reverts("Escrow: not provider"):
        escrow.submit(job, 0, sender=e["client"])
    with boa.reverts("Escrow: not client"):
        escrow.approve(job, 0, sender=e["provider"])
    with boa.reverts("Escrow: not releasable"):
        escrow.approve(job, 1, sender=e["client"])
    with boa.reverts("Escrow: not a party"):
        escrow.dispute(job, 0, sender=stranger)
    with boa.reverts("Escrow: not disputable"):
        escrow.dispute(job, 1, sender=e["client"])
    with boa.reverts("Escrow: wrong milestone state"):
        escrow.rule(job, 0, 5_000, sender=e["arbiter"])


def test_dispute_and_arbiter_ruling_splits(env, users):
    e, escrow, tok = env, env["escrow"], env["token"].address
    job = open_job(e)
    escrow.fund(job, 0, sender=e["client"])
    escrow.submit(job, 0, sender=e["provider"])
    escrow.dispute(job, 0, sender=e["provider"])
    with boa.reverts("Escrow: not arbiter"):
        escrow.rule(job, 0, 7_000, sender=e["client"])
    with boa.reverts("Escrow: bad share"):
        escrow.rule(job, 0, 10_001, sender=e["arbiter"])
    escrow.rule(job, 0, 7_000, sender=e["arbiter"])
    assert state(e, job, 0) == RESOLVED
    assert escrow.credits(tok, e["provider"]) == 70 * ETHER
    assert escrow.credits(tok, e["client"]) == 30 * ETHER


def test_timeouts_for_silent_provider_client_and_arbiter(env):
    e, escrow, tok = env, env["escrow"], env["token"].address
    job = open_job(e, [10 * ETHER, 20 * ETHER, 40 * ETHER])
    for i in range(3):
        escrow.fund(job, i, sender=e["client"])
    # provider silent on milestone 0
    with boa.reverts("Escrow: delivery period running"):
        escrow.refund(job, 0, sender=e["client"])
    # client silent on milestone 1
    escrow.submit(job, 1, sender=e["provider"])
    with boa.reverts("Escrow: review period running"):
        escrow.claimTimeout(job, 1, sender=e["provider"])
    # arbiter silent on milestone 2
    escrow.dispute(job, 2, sender=e["client"])
    with boa.reverts("Escrow: arbitration period running"):
        escrow.resolveTimeout(job, 2, sender=e["client"])
    boa.env.time_travel(seconds=3 * DAY)
    escrow.refund(job, 0, sender=e["client"])
    escrow.claimTimeout(job, 1, sender=e["provider"])
    escrow.resolveTimeout(job, 2, sender=e["provider"])
    assert [state(e, job, i) for i in range(3)] == [REFUNDED, RELEASED, RESOLVED]
    # the silent arbiter restores the status quo: the undelivered milestone 2 is refunded
    assert escrow.credits(tok, e["client"]) == 10 * ETHER + 40 * ETHER
    assert escrow.credits(tok, e["provider"]) == 20 * ETHER


def test_invalid_fee_on_transfer_token_is_refused(env, users):
    e, escrow = env, env["escrow"]
    fee_token = load_mock("MockToken").deploy()
    fee_token.mint(e["client"], 100 * ETHER)
    fee_token.approve(escrow.address, 2**256 - 1, sender=e["client"])
    fee_token.set_fee(100)
    job = open_job(e, [10 * ETHER], (DAY, DAY, DAY), fee_token.address)
    with boa.reverts("Escrow: fee-on-transfer token"):
        escrow.fund(job, 0, sender=e["client"])
    assert escrow.locked(fee_token.address) == 0


def test_reentrancy_through_a_malicious_token_is_blocked(env):
    e, escrow, token = env, env["escrow"], env["token"]
    job = open_job(e, [10 * ETHER])
    escrow.fund(job, 0, sender=e["client"])
    escrow.approve(job, 0, sender=e["client"])
    # the token calls back escrow.withdraw while the provider's withdrawal transfers
    token.arm(escrow.address, selector("withdraw(address)") + encode(["address"], [token.address]))
    escrow.withdraw(token.address, sender=e["provider"])
    assert token.attempted() and not token.reentered()
    assert token.balanceOf(e["provider"]) == 10 * ETHER
    # and on funding: re-entering `approve` during `fund` fails as well
    job2 = open_job(e, [5 * ETHER])
    token.arm(escrow.address, selector("approve(uint256,uint256)") + encode(["uint256", "uint256"], [job2, 0]))
    escrow.fund(job2, 0, sender=e["client"])
    assert token.attempted() and not token.reentered()
    assert state(e, job2, 0) == FUNDED


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    actions=st.lists(
        st.tuples(
            st.sampled_from(["fund", "submit", "approve", "dispute", "rule", "wait", "refund", "claim", "withdraw"]),
            st.integers(0, 3),
            st.integers(0, 10_000),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_escrow_balance_equals_unreleased_milestones_plus_credits(env, actions):
    e, escrow, token = env, env["escrow"], env["token"]
    tok = token.address
    with boa.env.anchor():
        job = open_job(e, [10 * ETHER, 20 * ETHER, 30 * ETHER, 40 * ETHER])
        party = {"fund": "client", "approve": "client", "refund": "client", "submit": "provider",
                 "claim": "provider", "dispute": "client", "rule": "arbiter", "withdraw": "provider"}
        for action, i, share in actions:
            if action == "wait":
                boa.env.time_travel(seconds=DAY)
                continue
            who = e[party[action]]
            call = {
                "fund": lambda: escrow.fund(job, i, sender=who),
                "submit": lambda: escrow.submit(job, i, sender=who),
                "approve": lambda: escrow.approve(job, i, sender=who),
                "dispute": lambda: escrow.dispute(job, i, sender=who),
                "rule": lambda: escrow.rule(job, i, share, sender=who),
                "refund": lambda: escrow.refund(job, i, sender=who),
                "claim": lambda: escrow.claimTimeout(job, i, sender=who),
                "withdraw": lambda: escrow.withdraw(tok, sender=who),
            }[action]
            try:
                call()
            except boa.BoaError:
                pass  # an action illegal in the current state changes nothing
            unreleased = sum(
                escrow.milestones(job, m).amount for m in range(4)
                if escrow.milestones(job, m).state in (FUNDED, SUBMITTED, DISPUTED)
            )
            assert escrow.locked(tok) == unreleased
            credits = escrow.credits(tok, e["client"]) + escrow.credits(tok, e["provider"])
            assert escrow.owed(tok) == credits
            assert token.balanceOf(escrow.address) == unreleased + credits


# --- attacks (issue 12) -----------------------------------------------------------


def test_attack_provider_who_did_nothing_cannot_dispute_for_half(env):
    # a provider that never submitted used to dispute and, with a silent arbiter, collect 50 %
    e, escrow, tok = env, env["escrow"], env["token"].address
    job = open_job(e, [10 * ETHER])
    escrow.fund(job, 0, sender=e["client"])
    with boa.reverts("Escrow: provider disputes only a submission"):
        escrow.dispute(job, 0, sender=e["provider"])
    boa.env.time_travel(seconds=DAY)
    escrow.refund(job, 0, sender=e["client"])
    assert escrow.credits(tok, e["client"]) == 10 * ETHER and escrow.credits(tok, e["provider"]) == 0


def test_attack_client_dispute_before_review_timeout_with_silent_arbiter_releases(env):
    # the mirror: the client disputes a delivery just before the provider's claim timeout
    e, escrow, tok = env, env["escrow"], env["token"].address
    job = open_job(e, [10 * ETHER])
    escrow.fund(job, 0, sender=e["client"])
    escrow.submit(job, 0, sender=e["provider"])
    boa.env.time_travel(seconds=2 * DAY - 1)
    escrow.dispute(job, 0, sender=e["client"])
    boa.env.time_travel(seconds=3 * DAY)
    escrow.resolveTimeout(job, 0, sender=e["client"])
    assert state(e, job, 0) == RESOLVED
    assert escrow.credits(tok, e["provider"]) == 10 * ETHER and escrow.credits(tok, e["client"]) == 0


def test_silent_arbiter_on_a_disputed_undelivered_milestone_refunds_but_not_before_delivery_period(env):
    e, escrow, tok = env, env["escrow"], env["token"].address
    job = open_job(e, [10 * ETHER], (5 * DAY, DAY, DAY))
    escrow.fund(job, 0, sender=e["client"])
    escrow.dispute(job, 0, sender=e["client"])
    boa.env.time_travel(seconds=DAY)
    # the dispute cannot shorten the provider's delivery period
    with boa.reverts("Escrow: delivery period running"):
        escrow.resolveTimeout(job, 0, sender=e["client"])
    boa.env.time_travel(seconds=4 * DAY)
    escrow.resolveTimeout(job, 0, sender=e["provider"])
    assert escrow.credits(tok, e["client"]) == 10 * ETHER and escrow.credits(tok, e["provider"]) == 0


def test_attack_terms_the_provider_never_accepted_do_not_bind(env, users):
    # the client names its own second wallet as arbiter: nothing can be funded until the
    # provider has seen and accepted the terms
    e, escrow, tok = env, env["escrow"], env["token"].address
    own_arbiter = users[3]
    job = escrow.createJob(e["provider"], tok, own_arbiter, [10 * ETHER], DAY, DAY, DAY, sender=e["client"])
    assert not escrow.jobs(job).accepted
    with boa.reverts("Escrow: not accepted"):
        escrow.fund(job, 0, sender=e["client"])
    with boa.reverts("Escrow: not provider"):
        escrow.acceptJob(job, sender=e["client"])
    escrow.acceptJob(job, sender=e["provider"])
    (event,) = escrow.get_logs()
    assert (event.jobId, event.provider, event.arbiter) == (job, e["provider"], own_arbiter)
    with boa.reverts("Escrow: already accepted"):
        escrow.acceptJob(job, sender=e["provider"])
    escrow.fund(job, 0, sender=e["client"])


@pytest.mark.parametrize("periods", [(2**256 - 1, DAY, DAY), (DAY, 2**256 - 1, DAY), (DAY, DAY, 2**256 - 1),
                                     (366 * DAY + 1, DAY, DAY), (DAY, DAY, 3_599)])
def test_attack_unbounded_periods_are_refused(env, periods):
    # with 2**256-1 every `since + period` check overflowed and the milestone was stuck forever
    e = env
    with boa.reverts("Escrow: bad period"):
        e["escrow"].createJob(e["provider"], e["token"].address, e["arbiter"], [ETHER], *periods, sender=e["client"])


def test_longest_periods_still_time_out(env):
    e, escrow, tok = env, env["escrow"], env["token"].address
    longest = 366 * DAY
    job = open_job(e, [ETHER, ETHER], (longest, longest, longest))
    escrow.fund(job, 0, sender=e["client"])
    escrow.fund(job, 1, sender=e["client"])
    escrow.submit(job, 1, sender=e["provider"])
    escrow.dispute(job, 1, sender=e["client"])
    boa.env.time_travel(seconds=longest)
    escrow.refund(job, 0, sender=e["client"])
    escrow.resolveTimeout(job, 1, sender=e["provider"])
    assert escrow.credits(tok, e["client"]) == ETHER and escrow.credits(tok, e["provider"]) == ETHER


def test_attack_a_huge_milestone_cannot_overflow_the_split(env):
    # amount * shareBps overflowed above 2**256 / 10000: the ruling reverted and the funds froze
    e, escrow = env, env["escrow"]
    big = load_mock("MockToken").deploy()
    amount = 2**255
    big.mint(e["client"], amount)
    big.approve(escrow.address, 2**256 - 1, sender=e["client"])
    job = open_job(e, [amount], token=big.address)
    escrow.fund(job, 0, sender=e["client"])
    escrow.dispute(job, 0, sender=e["client"])
    escrow.rule(job, 0, 7_000, sender=e["arbiter"])
    to_provider = escrow.credits(big.address, e["provider"])
    assert to_provider == amount * 7_000 // 10_000
    assert to_provider + escrow.credits(big.address, e["client"]) == amount
