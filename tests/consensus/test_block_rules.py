"""The block rules (consensus/block_rules.py): epochs, validator-set changes at their
boundaries, signer bitmaps, and the header rules of the proposal and the sync path."""
from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from eth_utils import keccak

from consensus.block_rules import (
    ParentContext, compute_epoch, compute_epoch_end, compute_epoch_start, compute_extra_data, compute_mix_hash,
    compute_next_validator_set, compute_reward_epoch, is_child_of, is_first_block_of_epoch,
    is_last_block_of_epoch, is_valid_parent_commit, is_valid_proposer, is_valid_timestamp, signer_bitmap,
    signers_from_bitmap, verify_committed_header, verify_parent_binding, verify_parent_commit,
    verify_proposed_header,
)
from consensus.commit import build_commit_certificate
from consensus.signing import LocalSigner, SigningDomain
from consensus.types import CommitCertificate, Vote, VoteType
from consensus.validator_set import advance_validator_set, compute_proposer, new_validator_set

A, B, C = (bytes(19) + bytes([i]) for i in (1, 2, 3))
GENESIS_SET = new_validator_set([(A, 10), (B, 10)])
DOMAIN = SigningDomain(1337, b"\x11" * 20)
SIGNERS = sorted((LocalSigner(keccak(b"rules" + bytes([i])), DOMAIN) for i in range(4)), key=lambda s: s.address)
VSET = new_validator_set([(s.address, 10) for s in SIGNERS])     # equal powers: 3 of 4 is > 2/3
PARENT_HASH, BLOCK_HASH = keccak(b"parent"), keccak(b"block")


def commit(height: int, block_hash: bytes, signers: list[LocalSigner], round: int = 0) -> CommitCertificate:
    return build_commit_certificate(height, round, block_hash, [
        s.sign_vote(Vote(VoteType.PRECOMMIT, height, round, block_hash)) for s in signers])


@dataclass(frozen=True)
class Header:
    """The header fields the rules read (a plain value, as py-evm's header carries them)."""

    parent_hash: bytes
    block_number: int
    coinbase: bytes
    mix_hash: bytes
    extra_data: bytes
    timestamp: int


# ----- epochs -----------------------------------------------------------------------------

EPOCH_TABLE = [
    # height, L, epoch, first of epoch (pays rewards), last of epoch, reward epoch
    (1, 4, 0, False, False, None),
    (4, 4, 0, False, True, None),
    (5, 4, 1, True, False, 0),
    (8, 4, 1, False, True, None),
    (9, 4, 2, True, False, 1),
    (100, 100, 0, False, True, None),
    (101, 100, 1, True, False, 0),
    (1, 1, 0, False, True, None),
    (2, 1, 1, True, True, 0),
]


@pytest.mark.parametrize("height, length, epoch, first, last, reward_epoch", EPOCH_TABLE)
def test_epoch_arithmetic(height: int, length: int, epoch: int, first: bool, last: bool,
                          reward_epoch: int | None) -> None:
    assert compute_epoch(height, length) == epoch
    assert is_first_block_of_epoch(height, length) is first
    assert is_last_block_of_epoch(height, length) is last
    assert compute_reward_epoch(height, length) == reward_epoch
    assert compute_epoch_start(epoch, length) <= height <= compute_epoch_end(epoch, length)


def test_epoch_bounds() -> None:
    assert [(compute_epoch_start(e, 4), compute_epoch_end(e, 4)) for e in range(3)] == [(1, 4), (5, 8), (9, 12)]


def test_set_changes_only_after_the_last_block_of_an_epoch() -> None:
    registry = [(A, 10), (B, 5), (C, 20)]
    inside = compute_next_validator_set(GENESIS_SET, 3, 4, registry)
    assert inside == advance_validator_set(GENESIS_SET)          # the registry is ignored mid-epoch
    at_boundary = compute_next_validator_set(GENESIS_SET, 4, 4, registry)
    assert {v.address: v.power for v in at_boundary.validators} == {A: 10, B: 5, C: 20}


def test_every_node_derives_the_same_sets_from_the_same_registry_reads() -> None:
    reads = {4: [(A, 10), (C, 10)], 8: [(C, 30)]}

    def chain_of_sets() -> list:  # type: ignore[type-arg]
        sets = [GENESIS_SET]
        for height in range(1, 12):
            sets.append(compute_next_validator_set(sets[-1], height, 4, reads.get(height)))
        return sets

    first, second = chain_of_sets(), chain_of_sets()
    assert first == second
    assert [compute_proposer(s, 0) for s in first] == [compute_proposer(s, 0) for s in second]
    # sets[i] is the set of height i + 1: reads after heights 4 and 8 apply from 5 and 9.
    assert first[3].addresses == (A, B) and first[4].addresses == (A, C) and first[8].addresses == (C,)


def test_invalid_missing_registry_read_at_a_boundary_is_an_error() -> None:
    with pytest.raises(ValueError):
        compute_next_validator_set(GENESIS_SET, 4, 4, None)


# ----- signer bitmaps -----------------------------------------------------------------------

BITMAP_TABLE = [
    ("no certificate: empty", None, b""),
    ("nobody signed", (), bytes([0b00000000])),
    ("all four, most significant bit first", (0, 1, 2, 3), bytes([0b11110000])),
    ("the second and third in address order", (1, 2), bytes([0b01100000])),
]


@pytest.mark.parametrize("description, who, bitmap", BITMAP_TABLE, ids=[row[0] for row in BITMAP_TABLE])
def test_signer_bitmap(description: str, who: tuple[int, ...] | None, bitmap: bytes) -> None:
    certificate = None if who is None else CommitCertificate(
        1, 0, BLOCK_HASH, tuple((SIGNERS[i].address, b"\x00" * 65) for i in who))
    assert signer_bitmap(VSET, certificate) == bitmap
    assert signers_from_bitmap(VSET, bitmap) == [SIGNERS[i].address for i in (who or ())]


def test_signer_bitmap_spans_bytes_and_is_bounded() -> None:
    big = new_validator_set([(bytes(18) + i.to_bytes(2, "big"), 1) for i in range(1, 10)])
    certificate = CommitCertificate(1, 0, BLOCK_HASH, ((sorted(big.addresses)[8], b""),))
    assert signer_bitmap(big, certificate) == bytes([0, 0b10000000])
    too_big = new_validator_set([(bytes(18) + i.to_bytes(2, "big"), 1) for i in range(1, 258)])
    with pytest.raises(ValueError):
        signer_bitmap(too_big, certificate)


def test_extra_data_of_block_one_is_empty() -> None:
    certificate = commit(1, PARENT_HASH, SIGNERS[:3])
    assert compute_extra_data(0, None, certificate) == b""
    assert compute_extra_data(1, VSET, certificate) == bytes([0b11100000])


# ----- header rules -------------------------------------------------------------------------


def test_mix_hash_binds_the_parent_certificate() -> None:
    certificate = CommitCertificate(3, 0, keccak(b"b"), ((A, b"\x01" * 65),))
    assert compute_mix_hash(certificate) == keccak(certificate.encode())
    assert compute_mix_hash(None) == b"\x00" * 32


def test_proposer_and_timestamp_rules() -> None:
    assert is_valid_proposer(GENESIS_SET, 0, compute_proposer(GENESIS_SET, 0))
    assert not is_valid_proposer(GENESIS_SET, 0, compute_proposer(GENESIS_SET, 1))
    assert not is_valid_proposer(GENESIS_SET, 5, C)      # not in the set: never a proposer
    assert is_valid_timestamp(101, 100, 100.0)
    assert is_valid_timestamp(102, 100, 100.0)
    assert not is_valid_timestamp(100, 100, 100.0)    # not after the parent
    assert not is_valid_timestamp(103, 100, 100.0)    # more than 2 s ahead of our clock


PARENT_COMMIT_TABLE = [
    # description, parent number, certificate, expected reason (substring) or None
    ("block 1 needs no parent commit", 0, None, None),
    ("three of four signed the parent", 5, commit(5, PARENT_HASH, SIGNERS[:3]), None),
    ("missing", 5, None, "missing or wrong parent commit"),
    ("for another block", 5, commit(5, BLOCK_HASH, SIGNERS[:3]), "missing or wrong parent commit"),
    ("two of four is not > 2/3", 5, commit(5, PARENT_HASH, SIGNERS[:2]), "insufficient voting power"),
    ("an outsider's signature", 5,
     commit(5, PARENT_HASH, SIGNERS[:2] + [LocalSigner(keccak(b"outsider"), DOMAIN)]), "not a validator"),
]


@pytest.mark.parametrize("description, number, certificate, reason", PARENT_COMMIT_TABLE,
                         ids=[row[0] for row in PARENT_COMMIT_TABLE])
def test_parent_commit(description: str, number: int, certificate: CommitCertificate | None,
                       reason: str | None) -> None:
    parent_set = VSET if number else None
    found = verify_parent_commit(certificate, PARENT_HASH, number, parent_set, DOMAIN)
    assert (found is None) if reason is None else (reason in (found or ""))
    assert is_valid_parent_commit(certificate, PARENT_HASH, number, parent_set, DOMAIN) is (reason is None)


def _header(parent_certificate: CommitCertificate | None, **changes: object) -> Header:
    header = Header(PARENT_HASH, 6, compute_proposer(VSET, 0), compute_mix_hash(parent_certificate),
                    signer_bitmap(VSET, parent_certificate), 1_000)
    return replace(header, **changes)  # type: ignore[arg-type]


PARENT = ParentContext(PARENT_HASH, 5, 990, VSET)
GOOD_PARENT_COMMIT = commit(5, PARENT_HASH, SIGNERS[:3])

PROPOSED_TABLE = [
    ("a valid header", {}, 0, None),
    ("the proposer of round 1 in round 1", {"coinbase": compute_proposer(VSET, 1)}, 1, None),
    ("not a child of the head", {"parent_hash": BLOCK_HASH}, 0, "not a child"),
    ("skips a height", {"block_number": 7}, 0, "not a child"),
    ("coinbase is not the round's proposer", {"coinbase": compute_proposer(VSET, 1)}, 0, "not the proposer"),
    # Tendermint re-proposes a valid value of an earlier round as it is: the block keeps the
    # coinbase of the round that built it. A node that first sees it in the later round must
    # accept it, or the validators locked on it never gather the others' prevotes (a testnet
    # stalled at one height for 19 rounds under bench/chaos.py --testnet).
    ("a round-0 block re-proposed in round 2", {}, 2, None),
    ("a round-1 block re-proposed in round 3", {"coinbase": compute_proposer(VSET, 1)}, 3, None),
    ("coinbase of a later round than the proposal's", {"coinbase": compute_proposer(VSET, 2)}, 1, "not the proposer"),
    ("coinbase outside the validator set", {"coinbase": b"\x09" * 20}, 7, "not the proposer"),
    ("mixHash binds nothing", {"mix_hash": b"\x07" * 32}, 0, "mixHash"),
    ("extraData claims a fourth signer", {"extra_data": bytes([0b11110000])}, 0, "extraData"),
    ("timestamp not after the parent's", {"timestamp": 990}, 0, "timestamp"),
    ("timestamp over 2 s ahead of our clock", {"timestamp": 1_003}, 0, "timestamp"),
]


@pytest.mark.parametrize("description, changes, round, reason", PROPOSED_TABLE,
                         ids=[row[0] for row in PROPOSED_TABLE])
def test_proposed_header(description: str, changes: dict, round: int, reason: str | None) -> None:
    header = _header(GOOD_PARENT_COMMIT, **changes)
    found = verify_proposed_header(header, round, PARENT, VSET, GOOD_PARENT_COMMIT, DOMAIN, local_time=1_000.0)
    assert (found is None) if reason is None else (reason in (found or ""))


def test_proposed_header_without_a_valid_parent_commit() -> None:
    assert "parent commit" in verify_proposed_header(_header(None), 0, PARENT, VSET, None, DOMAIN, 1_000.0)
    assert verify_parent_binding(_header(GOOD_PARENT_COMMIT), GOOD_PARENT_COMMIT, VSET) is None


COMMITTED_TABLE = [
    ("a committed block", lambda h, c: (h, c), None),
    ("the certificate is for another block", lambda h, c: (h, commit(6, PARENT_HASH, SIGNERS[:3])), "not for block"),
    ("the certificate is for another height", lambda h, c: (h, commit(7, BLOCK_HASH, SIGNERS[:3])), "not for block"),
    ("two of four is not a commit", lambda h, c: (h, commit(6, BLOCK_HASH, SIGNERS[:2])), "invalid commit"),
    ("does not extend the head", lambda h, c: (replace(h, parent_hash=BLOCK_HASH), c), "does not extend"),
    ("mixHash binds another parent commit", lambda h, c: (replace(h, mix_hash=b"\x01" * 32), c), "mixHash"),
]


@pytest.mark.parametrize("description, mutate, reason", COMMITTED_TABLE, ids=[row[0] for row in COMMITTED_TABLE])
def test_committed_header(description: str, mutate: object, reason: str | None) -> None:
    header, certificate = mutate(_header(GOOD_PARENT_COMMIT), commit(6, BLOCK_HASH, SIGNERS[1:]))  # type: ignore[operator]
    found = verify_committed_header(header, BLOCK_HASH, certificate, PARENT, VSET, GOOD_PARENT_COMMIT, DOMAIN)
    assert (found is None) if reason is None else (reason in (found or ""))


def test_committed_header_needs_the_parent_commit_it_binds() -> None:
    found = verify_committed_header(_header(None), BLOCK_HASH, commit(6, BLOCK_HASH, SIGNERS), PARENT, VSET,
                                    None, DOMAIN)
    assert found is not None and "parent commit" in found


def test_is_child_of() -> None:
    assert is_child_of(_header(None), PARENT_HASH, 5)
    assert not is_child_of(_header(None), PARENT_HASH, 6)
