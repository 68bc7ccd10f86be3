"""Constructor and parameter guards, and tokens that fail quietly or short-change."""

from __future__ import annotations

import boa
import pytest
from eth_utils import keccak

from contract_helpers import ETHER, load_mock, load_partial

ZERO = "0x" + "00" * 20
DAY = 86_400


@pytest.fixture(scope="module")
def some(users):
    return users[3]


def test_invalid_constructor_arguments(some):
    with boa.reverts("ATokenFactory: zero blueprint"):
        load_partial("ATokenFactory").deploy(ZERO, some)
    with boa.reverts("ATokenFactory: zero admin"):
        load_partial("ATokenFactory").deploy(some, ZERO)
    with boa.reverts("Credentials: zero admin"):
        load_partial("Credentials").deploy(ZERO, "")
    gov = load_partial("Governor")
    with boa.reverts("Governor: zero address"):
        gov.deploy(ZERO, some, 1, 10, 0, 400, 0, DAY, 10)
    with boa.reverts("Governor: zero voting period"):
        gov.deploy(some, some, 1, 0, 0, 400, 0, DAY, 10)
    with boa.reverts("Governor: bad quorum"):
        gov.deploy(some, some, 1, 10, 0, 10_001, 0, DAY, 10)
    pok = load_partial("ProofOfKnowledge")
    with boa.reverts("ProofOfKnowledge: zero credentials"):
        pok.deploy(ZERO, DAY, 1, 1, 1, 1, 1, 1, 1)
    with boa.reverts("ProofOfKnowledge: zero epoch"):
        pok.deploy(some, 0, 1, 1, 1, 1, 1, 1, 1)
    reg = load_partial("ValidatorRegistry")
    with boa.reverts("ValidatorRegistry: zero address"):
        reg.deploy(ZERO, some, some, b"\x00" * 32, 0, 1, 0, 0, 0, 0, some, 0)
    with boa.reverts("ValidatorRegistry: zero treasury"):
        reg.deploy(some, some, ZERO, b"\x00" * 32, 0, 1, 0, 0, 0, 0, some, 0)
    with boa.reverts("ValidatorRegistry: bad max validators"):
        reg.deploy(some, some, some, b"\x00" * 32, 0, 0, 0, 0, 0, 0, some, 0)


def test_invalid_course_without_issuer(deployer):
    creds = load_partial("Credentials").deploy(deployer, "")
    pok = load_partial("ProofOfKnowledge").deploy(creds.address, DAY, 1, 1, 1, 1, 1, 1, 1)
    with boa.reverts("ProofOfKnowledge: zero issuer"):
        pok.setCourse(b"\x01" * 32, ZERO, 1, True)
    with boa.reverts("ProofOfKnowledge: bad score"):
        pok.setChallengeParams(1, 1, 1, 10_001)


def test_invalid_escrow_with_a_token_that_returns_false_or_too_many_milestones(deployer, users):
    escrow = load_partial("Escrow").deploy()
    token = load_mock("MockToken").deploy()
    client, provider, arbiter = users[0], users[1], users[2]
    token.mint(client, 100 * ETHER)
    token.approve(escrow.address, 2**256 - 1, sender=client)
    token.set_returns_false(True)
    job = escrow.createJob(provider, token.address, arbiter, [ETHER], DAY, DAY, DAY, sender=client)
    with boa.reverts("Escrow: transfer failed"):
        escrow.fund(job, 0, sender=client)
    token.set_returns_false(False)
    escrow.fund(job, 0, sender=client)
    escrow.approve(job, 0, sender=client)
    token.set_returns_false(True)
    with boa.reverts("Escrow: transfer failed"):
        escrow.withdraw(token.address, sender=provider)
    with boa.reverts("Escrow: too many milestones"):
        escrow.createJob(provider, token.address, arbiter, [1] * 32, DAY, DAY, DAY, sender=client)
        escrow.addMilestone(job + 1, 1, sender=client)


def _registry_on(token, deployer, creds):
    reg = load_partial("ValidatorRegistry").deploy(
        token.address, creds.address, deployer, keccak(text="v"), 0, 10, DAY, 1_000, 1_000, DAY, deployer, 0
    )
    reg.setIssuerTrust(deployer, True, sender=deployer)
    return reg


def test_invalid_bond_in_a_short_changing_or_failing_token(deployer, users):
    creds = load_partial("Credentials").deploy(deployer, "")
    creds.setIssuer(deployer, True)
    token = load_mock("MockToken").deploy()
    reg = _registry_on(token, deployer, creds)
    v = users[0]
    token.mint(v, 100 * ETHER)
    token.approve(reg.address, 2**256 - 1, sender=v)
    reg.register(creds.issue(v, keccak(text="v"), 1, 0, 0, b"\x00" * 32, []), ETHER, sender=v)
    token.set_fee(100)
    with boa.reverts("ValidatorRegistry: short transfer"):
        reg.bond(ETHER, sender=v)
    token.set_fee(0)
    token.set_returns_false(True)
    with boa.reverts("ValidatorRegistry: transfer failed"):
        reg.bond(ETHER, sender=v)
    with boa.reverts("ValidatorRegistry: zero validator"):
        reg.registerFor(ZERO, 1, 1, sender=deployer)


def test_invalid_registration_beyond_the_candidate_bound(deployer):
    creds = load_partial("Credentials").deploy(deployer, "")
    creds.setIssuer(deployer, True)
    token = load_mock("MockToken").deploy()
    reg = _registry_on(token, deployer, creds)
    token.mint(deployer, 1_000)
    token.approve(reg.address, 2**256 - 1, sender=deployer)
    course = keccak(text="v")
    for _ in range(128):
        who = boa.env.generate_address()
        reg.registerFor(who, creds.issue(who, course, 1, 0, 0, b"\x00" * 32, []), 1, sender=deployer)
    who = boa.env.generate_address()
    cred = creds.issue(who, course, 1, 0, 0, b"\x00" * 32, [])
    with boa.reverts("ValidatorRegistry: too many candidates"):
        reg.registerFor(who, cred, 1, sender=deployer)


def test_invalid_call_to_a_missing_function_does_not_silently_succeed(deployer, users):
    from eth.exceptions import Revert

    azr = load_partial("AZR").deploy()
    creds = load_partial("Credentials").deploy(deployer, "")
    pok = load_partial("ProofOfKnowledge").deploy(creds.address, DAY, 1, 1, 1, 1, 1, 1, 1)
    token = load_partial("AToken").deploy("a", "aA", deployer, ZERO, 1, DAY)
    for contract, name in ((azr, "AZR"), (pok, "ProofOfKnowledge"), (token, "AToken")):
        with pytest.raises(Revert, match=f"{name}: unknown function"):
            boa.env.raw_call(contract.address, sender=users[0], data=bytes.fromhex("deadbeef"), value=1)
        boa.env.raw_call(contract.address, sender=users[0], value=1)  # plain transfers still work
