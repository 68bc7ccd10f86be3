"""AToken + ATokenFactory: issuer minting under a rate limit, pause, burn, DAO-released reserves."""

from __future__ import annotations

import boa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract_helpers import ETHER, Signer, load_mock, load_partial, struct_hash, typed_digest

DAY = 86_400
PERMIT = "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
NOT_OWNER = "ownable: caller is not the owner"


@pytest.fixture(scope="module")
def env(deployer, users):
    blueprint = load_partial("AToken").deploy_as_blueprint()
    admin = users[5]  # stands for the DAO timelock
    factory = load_partial("ATokenFactory").deploy(blueprint.address, admin)
    issuer = users[4]
    addr = factory.createAToken("Azora Kenyan Shilling", "aKES", issuer, 1_000 * ETHER, DAY, value=500 * ETHER)
    token = load_partial("AToken").at(addr)
    return {"factory": factory, "token": token, "admin": admin, "issuer": issuer, "blueprint": blueprint}


def test_factory_creates_tokens_governed_by_the_dao(env, deployer):
    f, t = env["factory"], env["token"]
    assert f.tokenBySymbol("aKES") == t.address and f.tokenCount() == 1 and f.allTokens(0) == t.address
    assert (t.name(), t.symbol(), t.decimals()) == ("Azora Kenyan Shilling", "aKES", 18)
    assert t.owner() == env["admin"] and t.issuer() == env["issuer"]
    assert t.reserveBalance() == 500 * ETHER == boa.env.get_balance(t.address)
    with boa.reverts("ATokenFactory: symbol taken"):
        f.createAToken("x", "aKES", env["issuer"], 1, DAY, sender=deployer)
    with boa.reverts(NOT_OWNER):
        f.createAToken("x", "aXYZ", env["issuer"], 1, DAY, sender=env["issuer"])
    with boa.reverts("ATokenFactory: empty symbol"):
        f.createAToken("x", "", env["issuer"], 1, DAY, sender=deployer)


def test_issuer_mints_within_the_period_cap(env, users):
    t, issuer = env["token"], env["issuer"]
    t.mint(users[0], 600 * ETHER, sender=issuer)
    t.mint(users[1], 400 * ETHER, sender=issuer)
    with boa.reverts("AToken: mint cap exceeded"):
        t.mint(users[1], 1, sender=issuer)
    boa.env.time_travel(seconds=DAY)
    t.mint(users[1], 1_000 * ETHER, sender=issuer)
    assert t.totalSupply() == 2_000 * ETHER
    with boa.reverts("AToken: not issuer"):
        t.mint(users[0], 1, sender=users[0])


def test_admin_sets_issuer_and_limits(env, users):
    t, admin = env["token"], env["admin"]
    t.setIssuer(users[0], sender=admin)
    t.setMintLimit(5 * ETHER, 3_600, sender=admin)
    with boa.reverts("AToken: mint cap exceeded"):
        t.mint(users[0], 6 * ETHER, sender=users[0])
    t.mint(users[0], 5 * ETHER, sender=users[0])
    with boa.reverts("AToken: zero period"):
        t.setMintLimit(1, 0, sender=admin)


def test_pause_stops_transfers_and_minting(env, users):
    t, admin, issuer = env["token"], env["admin"], env["issuer"]
    t.mint(users[0], 10 * ETHER, sender=issuer)
    t.pause(sender=admin)
    assert t.paused()
    with boa.reverts("pausable: contract is paused"):
        t.transfer(users[1], ETHER, sender=users[0])
    with boa.reverts("pausable: contract is paused"):
        t.mint(users[0], 1, sender=issuer)
    t.unpause(sender=admin)
    t.transfer(users[1], ETHER, sender=users[0])
    assert t.balanceOf(users[1]) == ETHER


def test_holders_burn_and_spenders_burn_with_allowance(env, users):
    t = env["token"]
    t.mint(users[0], 10 * ETHER, sender=env["issuer"])
    t.burn(4 * ETHER, sender=users[0])
    t.approve(users[1], 3 * ETHER, sender=users[0])
    t.burnFrom(users[0], 3 * ETHER, sender=users[1])
    with boa.reverts("erc20: insufficient allowance"):
        t.burnFrom(users[0], 1, sender=users[1])
    t.approve(users[1], 3 * ETHER, sender=users[0])
    t.transferFrom(users[0], users[2], 3 * ETHER, sender=users[1])
    assert t.balanceOf(users[0]) == 0 and t.totalSupply() == 3 * ETHER


def test_permit_on_an_atoken(env, users):
    t = env["token"]
    owner = Signer.from_seed("atoken-holder")
    sh = struct_hash(PERMIT, ["address", "address", "uint256", "uint256", "uint256"],
                     [owner.address, users[1], ETHER, 0, 2**40])
    v, r, s = owner.sign_vrs(typed_digest("aKES", "1", t.address, sh))
    t.permit(owner.address, users[1], ETHER, 2**40, v, r, s)
    assert t.allowance(owner.address, users[1]) == ETHER


def test_reserve_released_only_by_the_admin_and_never_beyond_funding(env, users):
    t, admin = env["token"], env["admin"]
    with boa.reverts(NOT_OWNER):
        t.releaseReserve(users[0], ETHER, sender=users[0])
    with boa.reverts("AToken: reserve exceeded"):
        t.releaseReserve(users[0], 500 * ETHER + 1, sender=admin)
    before = boa.env.get_balance(users[0])
    t.releaseReserve(users[0], 200 * ETHER, sender=admin)
    assert boa.env.get_balance(users[0]) == before + 200 * ETHER
    assert t.reserveReleased() == 200 * ETHER and t.reserveBalance() == 300 * ETHER
    t.fundReserve(value=50 * ETHER, sender=users[1])
    boa.env.raw_call(t.address, sender=users[1], value=50 * ETHER)
    assert t.reserveFunded() == 600 * ETHER and t.reserveBalance() == 400 * ETHER
    with boa.reverts("AToken: zero receiver"):
        t.releaseReserve("0x" + "00" * 20, 1, sender=admin)


def test_reentrant_reserve_receiver_gets_paid_once(env):
    t, admin = env["token"], env["admin"]
    attacker = load_mock("ReentrantReceiver").deploy()
    from eth_abi import encode
    from eth_utils import function_signature_to_4byte_selector as selector

    attacker.arm(t.address, selector("releaseReserve(address,uint256)") + encode(["address", "uint256"], [attacker.address, ETHER]))
    t.releaseReserve(attacker.address, ETHER, sender=admin)
    assert attacker.attempted() and not attacker.reentered()
    assert boa.env.get_balance(attacker.address) == ETHER and t.reserveReleased() == ETHER


@pytest.mark.parametrize(
    "call",
    [
        lambda t, who: t.setIssuer(who, sender=who),
        lambda t, who: t.setMintLimit(1, 1, sender=who),
        lambda t, who: t.pause(sender=who),
        lambda t, who: t.unpause(sender=who),
        lambda t, who: t.transfer_ownership(who, sender=who),
    ],
)
def test_invalid_privileged_call_by_arbitrary_caller(env, users, call):
    with boa.reverts(NOT_OWNER):
        call(env["token"], users[0])


def test_invalid_constructor_arguments(env):
    blueprint = load_partial("AToken")
    with boa.reverts("AToken: zero admin"):
        blueprint.deploy("a", "aA", "0x" + "00" * 20, "0x" + "00" * 20, 1, DAY)
    with boa.reverts("AToken: zero period"):
        blueprint.deploy("a", "aA", env["admin"], "0x" + "00" * 20, 1, 0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.booleans(), st.integers(0, 400)), min_size=1, max_size=15))
def test_reserves_are_never_over_released(env, users, steps):
    t, admin = env["token"], env["admin"]
    with boa.env.anchor():
        for is_release, amount in steps:
            amount *= ETHER
            if is_release:
                try:
                    t.releaseReserve(users[0], amount, sender=admin)
                except boa.BoaError:
                    assert amount > t.reserveBalance()
            else:
                t.fundReserve(value=amount, sender=users[1])
            assert t.reserveReleased() <= t.reserveFunded()
            assert boa.env.get_balance(t.address) == t.reserveFunded() - t.reserveReleased()


# --- attacks (issue 12) -----------------------------------------------------------


def test_attack_mint_twice_the_cap_across_a_window_boundary(env, users):
    # fixed windows let the issuer mint the cap at 23:59:59 and again at 00:00:00
    t, issuer = env["token"], env["issuer"]
    now = boa.env.evm.patch.timestamp
    boa.env.time_travel(seconds=DAY - now % DAY - 1)  # one second before a window boundary
    t.mint(users[0], 1_000 * ETHER, sender=issuer)
    boa.env.time_travel(seconds=2)
    with boa.reverts("AToken: mint cap exceeded"):
        t.mint(users[0], 1_000 * ETHER, sender=issuer)
    assert t.totalSupply() == 1_000 * ETHER


def test_mint_allowance_refills_linearly_up_to_the_cap(env, users):
    t, issuer = env["token"], env["issuer"]
    assert t.mintable() == 1_000 * ETHER
    t.mint(users[0], 1_000 * ETHER, sender=issuer)
    assert t.mintable() == 0
    boa.env.time_travel(seconds=DAY // 4)
    assert t.mintable() == 250 * ETHER
    with boa.reverts("AToken: mint cap exceeded"):
        t.mint(users[0], 250 * ETHER + 1, sender=issuer)
    t.mint(users[0], 250 * ETHER, sender=issuer)
    boa.env.time_travel(seconds=10 * DAY)
    assert t.mintable() == 1_000 * ETHER  # never above the cap
    # within any window of mintPeriod seconds at most 2 caps: the full bucket plus one refill
    t.mint(users[0], 1_000 * ETHER, sender=issuer)
    boa.env.time_travel(seconds=DAY)
    t.mint(users[0], 1_000 * ETHER, sender=issuer)


def test_lowering_or_raising_the_limit_moves_the_allowance_by_the_difference(env, users):
    # as xERC20's limit change: a lower cap cannot be dodged by minting what was left
    t, admin, issuer = env["token"], env["admin"], env["issuer"]
    t.mint(users[0], 300 * ETHER, sender=issuer)
    t.setMintLimit(500 * ETHER, DAY, sender=admin)
    assert t.mintable() == 200 * ETHER
    t.setMintLimit(2_000 * ETHER, DAY, sender=admin)
    assert t.mintable() == 1_700 * ETHER
    t.setMintLimit(100 * ETHER, DAY, sender=admin)
    assert t.mintable() == 0
    t.setMintLimit(2**256 - 1, DAY, sender=admin)  # an unlimited cap cannot overflow the refill
    boa.env.time_travel(seconds=DAY // 2)
    t.mint(users[0], 10**30, sender=issuer)
    with boa.reverts("AToken: period too long"):
        t.setMintLimit(1, 2**255, sender=admin)
