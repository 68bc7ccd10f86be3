"""Credentials: soulbound ERC-721 + ERC-5192 records, verify, revoke, burn, re-issue."""

from __future__ import annotations

import boa
import pytest
from eth_utils import keccak

from contract_helpers import load_partial

COURSE = keccak(text="https://azora.africa/courses/intro")
EVIDENCE = keccak(text="evidence")
NONE, VALID, REVOKED, EXPIRED = 0, 1, 2, 3


@pytest.fixture(scope="module")
def creds(deployer, users):
    c = load_partial("Credentials").deploy(deployer, "https://azora.africa/credential/")
    c.setIssuer(users[0], True)
    c.setMinter(users[1], True)
    return c


def issue(creds, issuer, holder, expiry=0, prerequisite=0, attesters=()):
    return creds.issue(holder, COURSE, 3, expiry, prerequisite, EVIDENCE, list(attesters), sender=issuer)


def test_issue_records_every_field_and_verifies(creds, users):
    issuer, learner = users[0], users[3]
    tid = issue(creds, issuer, learner, attesters=[users[4], users[5]])
    record = creds.credential(tid)
    assert (record.courseId, record.courseVersion, record.issuer) == (COURSE, 3, issuer)
    assert record.issuedAt == boa.env.evm.patch.timestamp and record.expiry == 0
    assert (record.revokedAt, record.revocationReason, record.evidenceHash) == (0, "", EVIDENCE)
    assert list(record.attesters) == [users[4], users[5]]
    assert creds.verify(tid) == (VALID, issuer, [users[4], users[5]])
    assert creds.ownerOf(tid) == learner and creds.balanceOf(learner) == 1
    assert creds.locked(tid)
    assert creds.tokenURI(tid) == f"https://azora.africa/credential/{tid}"
    assert creds.tokenOfOwnerByIndex(learner, 0) == tid


def test_issue_for_by_minter_names_the_issuer(creds, users):
    tid = creds.issueFor(users[0], users[3], COURSE, 1, 0, 0, EVIDENCE, [], sender=users[1])
    assert creds.verify(tid)[1] == users[0]


def test_invalid_issue_by_non_issuer_or_non_minter(creds, users):
    with boa.reverts("Credentials: not issuer"):
        issue(creds, users[2], users[3])
    with boa.reverts("Credentials: not minter"):
        creds.issueFor(users[0], users[3], COURSE, 1, 0, 0, EVIDENCE, [], sender=users[2])
    with boa.reverts("Credentials: not issuer"):  # a minter cannot invent an issuer
        creds.issueFor(users[2], users[3], COURSE, 1, 0, 0, EVIDENCE, [], sender=users[1])


@pytest.mark.parametrize(
    "call",
    [
        lambda c, u, t: c.transferFrom(u[3], u[4], t, sender=u[3]),
        lambda c, u, t: c.safeTransferFrom(u[3], u[4], t, sender=u[3]),
        lambda c, u, t: c.safeTransferFrom(u[3], u[4], t, b"x", sender=u[3]),
        lambda c, u, t: c.approve(u[4], t, sender=u[3]),
        lambda c, u, t: c.setApprovalForAll(u[4], True, sender=u[3]),
    ],
)
def test_invalid_transfer_of_a_soulbound_credential(creds, users, call):
    tid = issue(creds, users[0], users[3])
    with boa.reverts("Credentials: soulbound"):
        call(creds, users, tid)
    assert creds.ownerOf(tid) == users[3]


def test_supports_erc5192_and_erc721(creds):
    for iface in (b"\xb4\x5a\x3c\x0e", b"\x80\xac\x58\xcd", b"\x01\xff\xc9\xa7", b"\x5b\x5e\x13\x9f"):
        assert creds.supportsInterface(iface)
    assert not creds.supportsInterface(b"\xff\xff\xff\xff")


def test_revoke_by_issuer_with_reason(creds, users):
    tid = issue(creds, users[0], users[3])
    with boa.reverts("Credentials: not issuer"):
        creds.revoke(tid, "no", sender=users[2])
    creds.revoke(tid, "plagiarism", sender=users[0])
    record = creds.credential(tid)
    assert record.revocationReason == "plagiarism" and record.revokedAt > 0
    assert creds.verify(tid)[0] == REVOKED
    with boa.reverts("Credentials: already revoked"):
        creds.revoke(tid, "again", sender=users[0])


def test_expiry(creds, users):
    now = boa.env.evm.patch.timestamp
    tid = issue(creds, users[0], users[3], expiry=now + 50)
    assert creds.verify(tid)[0] == VALID
    boa.env.time_travel(seconds=50)
    assert creds.verify(tid)[0] == EXPIRED


def test_holder_burns_but_record_stays(creds, users):
    tid = issue(creds, users[0], users[3])
    with boa.reverts("Credentials: not holder"):
        creds.burn(tid, sender=users[0])
    creds.burn(tid, sender=users[3])
    assert creds.verify(tid)[0] == NONE
    assert creds.holderOf(tid) == "0x" + "00" * 20
    assert creds.credential(tid).courseId == COURSE
    with boa.reverts("erc721: invalid token ID"):
        creds.locked(tid)


def test_reissue_to_new_wallet_after_key_loss(creds, users):
    tid = issue(creds, users[0], users[3], attesters=[users[5]])
    with boa.reverts("Credentials: not issuer"):
        creds.reissue(tid, users[4], sender=users[3])
    new = creds.reissue(tid, users[4], sender=users[0])
    assert creds.ownerOf(new) == users[4] and creds.verify(tid)[0] == NONE
    assert creds.credential(tid).replacedBy == new
    assert creds.verify(new) == (VALID, users[0], [users[5]])
    creds.revoke(new, "x", sender=users[0])
    with boa.reverts("Credentials: revoked"):
        creds.reissue(new, users[3], sender=users[0])


def test_prerequisite_must_be_held_and_valid(creds, users):
    base = issue(creds, users[0], users[3])
    with boa.reverts("Credentials: prerequisite not held"):
        issue(creds, users[0], users[4], prerequisite=base)
    advanced = issue(creds, users[0], users[3], prerequisite=base)
    assert creds.credential(advanced).prerequisite == base
    creds.revoke(base, "x", sender=users[0])
    with boa.reverts("Credentials: prerequisite invalid"):
        issue(creds, users[0], users[3], prerequisite=base)


@pytest.mark.parametrize(
    "call",
    [
        lambda c, who: c.setIssuer(who, True, sender=who),
        lambda c, who: c.setMinter(who, True, sender=who),
        lambda c, who: c.transfer_ownership(who, sender=who),
    ],
)
def test_invalid_privileged_call_by_arbitrary_caller(creds, users, call):
    with boa.reverts("ownable: caller is not the owner"):
        call(creds, users[2])


# --- attacks and defects (issue 12) ------------------------------------------------


@pytest.mark.parametrize("base_moves_first", [False, True])
def test_credential_with_a_prerequisite_can_be_reissued(creds, users, base_moves_first):
    issuer, old_wallet, new_wallet = users[0], users[3], users[4]
    base = issue(creds, issuer, old_wallet)
    advanced = issue(creds, issuer, old_wallet, prerequisite=base)
    if base_moves_first:
        new_base = creds.reissue(base, new_wallet, sender=issuer)
        new_advanced = creds.reissue(advanced, new_wallet, sender=issuer)
    else:
        new_advanced = creds.reissue(advanced, new_wallet, sender=issuer)
        new_base = creds.reissue(base, new_wallet, sender=issuer)
    assert creds.ownerOf(new_advanced) == new_wallet and creds.verify(new_advanced)[0] == VALID
    # the copy names the prerequisite's chain; latestOf finds the one held now
    assert creds.latestOf(creds.credential(new_advanced).prerequisite) == new_base
    assert creds.ownerOf(new_base) == new_wallet


def test_attack_removed_issuer_cannot_reissue(creds, users, deployer):
    issuer, learner, accomplice = users[0], users[3], users[2]
    tid = issue(creds, issuer, learner)
    creds.setIssuer(issuer, False, sender=deployer)
    # a removed (say, compromised) issuer used to move any of its credentials anywhere
    with boa.reverts("Credentials: not issuer"):
        creds.reissue(tid, accomplice, sender=issuer)
    assert creds.ownerOf(tid) == learner and creds.verify(tid)[0] == VALID
