"""AZR: wrapping, transfers, vote checkpoints, delegation by signature, permit, attacks."""

from __future__ import annotations

import boa
import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as selector
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract_helpers import (
    ETHER,
    Signer,
    chain_id_now,
    domain_separator,
    load_mock,
    load_partial,
    malleate,
    mine,
    struct_hash,
    typed_digest,
)

DELEGATION = "Delegation(address delegatee,uint256 nonce,uint256 expiry)"
PERMIT = "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
FAR = 2**40


@pytest.fixture(scope="module")
def azr(deployer):
    return load_partial("AZR").deploy()


@pytest.fixture(scope="module")
def alice():
    signer = Signer.from_seed("alice")
    boa.env.set_balance(signer.address, 1_000 * ETHER)
    return signer


def delegation_sig(azr, signer: Signer, delegatee: str, nonce: int, expiry: int, chain_id=None, contract=None):
    sh = struct_hash(DELEGATION, ["address", "uint256", "uint256"], [delegatee, nonce, expiry])
    digest = typed_digest("Azora AZR", "1", contract or azr.address, sh, chain_id)
    return signer.sign(digest)


def split(sig: bytes) -> tuple[int, bytes, bytes]:
    return sig[64], sig[:32], sig[32:64]


def test_deposit_withdraw_round_trip_keeps_native_backing(azr, users):
    a = users[0]
    before = boa.env.get_balance(a)
    azr.deposit(value=5 * ETHER, sender=a)
    azr.depositFor(users[1], value=ETHER, sender=a)
    boa.env.raw_call(azr.address, sender=a, value=2 * ETHER)  # plain transfer deposits
    assert azr.balanceOf(a) == 7 * ETHER and azr.balanceOf(users[1]) == ETHER
    assert azr.totalSupply() == boa.env.get_balance(azr.address) == 8 * ETHER
    azr.withdraw(3 * ETHER, sender=a)
    azr.withdrawTo(users[2], ETHER, sender=a)
    assert azr.balanceOf(a) == 3 * ETHER
    assert boa.env.get_balance(a) == before - 8 * ETHER + 3 * ETHER
    assert azr.totalSupply() == boa.env.get_balance(azr.address) == 4 * ETHER


def test_invalid_withdraw_above_balance(azr, users):
    azr.deposit(value=ETHER, sender=users[0])
    with boa.reverts("erc20: burn amount exceeds balance"):
        azr.withdraw(ETHER + 1, sender=users[0])


def test_invalid_transfer_above_balance_and_allowance(azr, users):
    azr.deposit(value=ETHER, sender=users[0])
    with boa.reverts("erc20: transfer amount exceeds balance"):
        azr.transfer(users[1], 2 * ETHER, sender=users[0])
    with boa.reverts("erc20: insufficient allowance"):
        azr.transferFrom(users[0], users[1], 1, sender=users[1])
    azr.approve(users[1], ETHER, sender=users[0])
    azr.transferFrom(users[0], users[2], ETHER, sender=users[1])
    assert azr.balanceOf(users[2]) == ETHER and azr.allowance(users[0], users[1]) == 0


def test_only_delegated_balances_vote_and_transfers_move_votes(azr, users):
    a, b, c = users[:3]
    azr.deposit(value=10 * ETHER, sender=a)
    assert azr.getVotes(a) == 0
    azr.delegate(a, sender=a)
    assert azr.getVotes(a) == 10 * ETHER
    azr.delegate(c, sender=b)
    azr.transfer(b, 4 * ETHER, sender=a)
    assert (azr.getVotes(a), azr.getVotes(c)) == (6 * ETHER, 4 * ETHER)
    azr.delegate(c, sender=a)
    assert (azr.getVotes(a), azr.getVotes(c)) == (0, 10 * ETHER)
    azr.withdraw(ETHER, sender=b)
    assert azr.getVotes(c) == 9 * ETHER
    assert azr.delegates(a) == c


def test_past_votes_and_supply_follow_block_checkpoints(azr, users):
    a, b = users[:2]
    azr.delegate(a, sender=a)
    azr.deposit(value=3 * ETHER, sender=a)
    b1 = boa.env.evm.patch.block_number
    mine()
    azr.deposit(value=2 * ETHER, sender=a)
    azr.transfer(b, ETHER, sender=a)  # same block: one checkpoint updated in place
    b2 = boa.env.evm.patch.block_number
    mine()
    assert azr.getPastVotes(a, b1) == 3 * ETHER
    assert azr.getPastVotes(a, b2) == 4 * ETHER
    assert azr.getPastVotes(a, b1 - 1) == 0
    assert azr.getPastTotalSupply(b1) == 3 * ETHER
    assert azr.getPastTotalSupply(b2) == 5 * ETHER
    assert azr.numCheckpoints(a) == 2
    assert azr.checkpoints(a, 1) == (b2, 4 * ETHER)
    assert azr.clock() == boa.env.evm.patch.block_number
    assert azr.CLOCK_MODE() == "mode=blocknumber&from=default"


def test_invalid_lookup_of_current_or_future_block(azr):
    now = boa.env.evm.patch.block_number
    with boa.reverts("AZR: future lookup"):
        azr.getPastVotes(azr.address, now)
    with boa.reverts("AZR: future lookup"):
        azr.getPastTotalSupply(now + 5)
    with boa.reverts("AZR: no such checkpoint"):
        azr.checkpoints(azr.address, 0)


def test_flash_vote_transfer_after_snapshot_does_not_count_twice(azr, users):
    a, b = users[:2]
    azr.deposit(value=10 * ETHER, sender=a)
    azr.delegate(a, sender=a)
    azr.delegate(b, sender=b)
    snapshot = boa.env.evm.patch.block_number
    mine()
    azr.transfer(b, 10 * ETHER, sender=a)
    mine()
    assert azr.getPastVotes(a, snapshot) == 10 * ETHER
    assert azr.getPastVotes(b, snapshot) == 0
    assert azr.getVotes(b) == 10 * ETHER


def test_delegate_by_sig_consumes_nonce(azr, alice, users):
    azr.deposit(value=5 * ETHER, sender=alice.address)
    v, r, s = split(delegation_sig(azr, alice, users[3], 0, FAR))
    azr.delegateBySig(users[3], 0, FAR, v, r, s, sender=users[0])
    assert azr.delegates(alice.address) == users[3]
    assert azr.getVotes(users[3]) == 5 * ETHER
    assert azr.nonces(alice.address) == 1
    with boa.reverts("AZR: invalid nonce"):  # replay recovers the same signer, nonce moved on
        azr.delegateBySig(users[3], 0, FAR, v, r, s, sender=users[0])


def test_invalid_delegate_by_sig_expired_or_high_s(azr, alice, users):
    now = boa.env.evm.patch.timestamp
    v, r, s = split(delegation_sig(azr, alice, users[3], 0, now - 1))
    with boa.reverts("AZR: signature expired"):
        azr.delegateBySig(users[3], 0, now - 1, v, r, s)
    v, r, s = split(malleate(delegation_sig(azr, alice, users[3], 0, FAR)))
    with boa.reverts("ecdsa: invalid signature `s` value"):
        azr.delegateBySig(users[3], 0, FAR, v, r, s)


def test_invalid_delegation_signed_for_another_chain_or_contract(azr, alice, users):
    other = load_partial("AZR").deploy()
    for sig in (
        delegation_sig(azr, alice, users[3], 0, FAR, chain_id=chain_id_now() + 1),
        delegation_sig(azr, alice, users[3], 0, FAR, contract=other.address),
    ):
        v, r, s = split(sig)
        # a foreign domain recovers some unrelated address whose nonce is 0 ... so the
        # delegation lands on that stranger, never on alice
        try:
            azr.delegateBySig(users[3], 0, FAR, v, r, s)
        except boa.BoaError:
            pass
        assert azr.delegates(alice.address) != users[3]


def test_domain_separator_binds_chain_id_and_contract(azr):
    assert azr.DOMAIN_SEPARATOR() == domain_separator("Azora AZR", "1", chain_id_now(), azr.address)
    fields = azr.eip712Domain()
    assert (fields[1], fields[2], fields[3], fields[4]) == ("Azora AZR", "1", chain_id_now(), azr.address)


def test_permit_sets_allowance_once(azr, alice, users):
    azr.deposit(value=2 * ETHER, sender=alice.address)
    sh = struct_hash(PERMIT, ["address", "address", "uint256", "uint256", "uint256"],
                     [alice.address, users[1], ETHER, 0, FAR])
    v, r, s = alice.sign_vrs(typed_digest("Azora AZR", "1", azr.address, sh))
    azr.permit(alice.address, users[1], ETHER, FAR, v, r, s, sender=users[2])
    assert azr.allowance(alice.address, users[1]) == ETHER
    with boa.reverts("erc20: invalid signature"):
        azr.permit(alice.address, users[1], ETHER, FAR, v, r, s, sender=users[2])
    azr.transferFrom(alice.address, users[1], ETHER, sender=users[1])
    assert azr.balanceOf(users[1]) == ETHER


def test_invalid_permit_replayed_on_another_azr(azr, alice, users):
    other = load_partial("AZR").deploy()
    sh = struct_hash(PERMIT, ["address", "address", "uint256", "uint256", "uint256"],
                     [alice.address, users[1], ETHER, 0, FAR])
    v, r, s = alice.sign_vrs(typed_digest("Azora AZR", "1", azr.address, sh))
    with boa.reverts("erc20: invalid signature"):
        other.permit(alice.address, users[1], ETHER, FAR, v, r, s)


def test_reentrant_withdraw_cannot_withdraw_twice(azr, users):
    attacker = load_mock("ReentrantReceiver").deploy()
    boa.env.set_balance(attacker.address, 0)
    azr.depositFor(attacker.address, value=ETHER, sender=users[0])
    withdraw = selector("withdraw(uint256)") + encode(["uint256"], [ETHER])
    attacker.arm(azr.address, withdraw)
    attacker.act(azr.address, withdraw, 0)
    assert attacker.attempted() and not attacker.reentered()
    assert boa.env.get_balance(attacker.address) == ETHER
    assert azr.balanceOf(attacker.address) == 0 and azr.totalSupply() == 0


# --- invariants -----------------------------------------------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["deposit", "withdraw", "transfer", "delegate"]),
        st.integers(0, 3),
        st.integers(0, 4),  # counterparty / delegatee (4 = nobody)
        st.integers(1, 50),
    ),
    min_size=1,
    max_size=25,
)


def apply_op(azr, holders, op: str, i: int, j: int, amount: int) -> int:
    """One random operation by ``holders[i]``; returns the amount in wei."""
    who = holders[i]
    amount *= ETHER // 10
    if op == "deposit":
        azr.deposit(value=amount, sender=who)
    elif op == "withdraw":
        azr.withdraw(min(amount, azr.balanceOf(who)), sender=who)
    elif op == "transfer":
        azr.transfer(holders[j % 4], min(amount, azr.balanceOf(who)), sender=who)
    else:
        azr.delegate(holders[j] if j < 4 else "0x" + "00" * 20, sender=who)
    return amount


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_supply_backing_and_vote_sum_invariants(azr, users, ops):
    holders = users[:4]
    with boa.env.anchor():
        for op, i, j, amount in ops:
            amount = apply_op(azr, holders, op, i, j, amount)
            if amount % 3 == 0:
                mine()
        # total AZR is conserved: every wrapped token is backed by native AZR held here
        assert azr.totalSupply() == boa.env.get_balance(azr.address)
        assert azr.totalSupply() == sum(azr.balanceOf(h) for h in holders)
        delegated = sum(azr.balanceOf(h) for h in holders if azr.delegates(h) != "0x" + "00" * 20)
        assert sum(azr.getVotes(h) for h in holders) == delegated


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_past_votes_match_a_model_at_every_past_block(azr, users, ops):
    holders = users[:4]
    zero = "0x" + "00" * 20
    with boa.env.anchor():
        history: list[tuple[int, dict[str, int], int]] = []  # (block, votes, supply) at block end
        for op, i, j, amount in ops:
            apply_op(azr, holders, op, i, j, amount)
            # model: votes = sum of balances delegated to each holder
            votes = {h: 0 for h in holders}
            for h in holders:
                if azr.delegates(h) != zero:
                    votes[azr.delegates(h)] += azr.balanceOf(h)
            block = boa.env.evm.patch.block_number
            history = [entry for entry in history if entry[0] != block]
            history.append((block, votes, azr.totalSupply()))
            mine()
        for block, votes, supply in history:
            assert azr.getPastTotalSupply(block) == supply
            for h in holders:
                assert azr.getPastVotes(h, block) == votes[h]
