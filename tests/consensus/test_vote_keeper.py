"""The vote keeper: weighted thresholds and equivocation evidence."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_utils import keccak

from consensus.signing import LocalSigner, SigningDomain
from consensus.types import SignedVote, Vote, VoteType
from consensus.validator_set import new_validator_set
from consensus.vote_keeper import MAX_VALUES_PER_VOTER, VoteKeeper

DOMAIN = SigningDomain(1, b"\x11" * 20)
SIGNERS = [LocalSigner(keccak(b"vk" + bytes([i])), DOMAIN) for i in range(4)]
POWERS = [4, 3, 2, 1]  # total 10: 2/3+ needs 7, f+1 (> 1/3) needs 4
VSET = new_validator_set([(s.address, p) for s, p in zip(SIGNERS, POWERS)])
H = 3
V, W = keccak(b"v"), keccak(b"w")
PV, PC = VoteType.PREVOTE, VoteType.PRECOMMIT


def vote(i: int, vote_type: VoteType, block_hash: bytes | None, round: int = 0, height: int = H) -> SignedVote:
    return SIGNERS[i].sign_vote(Vote(vote_type, height, round, block_hash))


def reached(keeper: VoteKeeper, round: int, current_round: int) -> set[str]:
    """The thresholds the keeper answers yes to, in the driver's vocabulary."""
    names = {V: "V", W: "W"}
    out = set()
    if keeper.polka_value(round) is not None:
        out.add(f"polka {names[keeper.polka_value(round)]}")
    if keeper.has_polka_nil(round):
        out.add("polka nil")
    if keeper.has_polka_any(round):
        out.add("polka any")
    if keeper.precommit_value(round) is not None:
        out.add(f"precommit {names[keeper.precommit_value(round)]}")
    if keeper.has_precommit_any(round):
        out.add("precommit any")
    if keeper.highest_skip_round(current_round) == round:
        out.add("skip")
    return out


@dataclass(frozen=True)
class Case:
    description: str
    votes: tuple[SignedVote, ...]
    thresholds: frozenset[str]    # reached in the votes' round once all are counted
    current_round: int = 0


def case(description: str, votes: tuple[SignedVote, ...], thresholds: set[str], current_round: int = 0) -> Case:
    return Case(description, votes, frozenset(thresholds), current_round)


CASES = [
    case("2/3+ prevotes for a value: polka value and polka any",
         (vote(0, PV, V), vote(1, PV, V)), {"polka V", "polka any"}),
    case("exactly 7 of 10 is more than 2/3 (weights, not counts)",
         (vote(0, PV, V), vote(2, PV, V), vote(3, PV, V)), {"polka V", "polka any"}),
    case("6 of 10 is not 2/3+", (vote(1, PV, V), vote(2, PV, V), vote(3, PV, V)), set()),
    case("2/3+ nil prevotes: polka nil", (vote(0, PV, None), vote(1, PV, None)), {"polka nil", "polka any"}),
    case("split prevotes: polka any only", (vote(0, PV, V), vote(1, PV, W)), {"polka any"}),
    case("2/3+ precommits for a value", (vote(0, PC, V), vote(1, PC, V)), {"precommit V", "precommit any"}),
    case("split precommits: precommit any", (vote(0, PC, None), vote(1, PC, W)), {"precommit any"}),
    case("f+1 (> 1/3) in a higher round: skip", (vote(0, PV, V, round=2),), {"skip"}),
    case("exactly 1/3 is not f+1", (vote(1, PV, V, round=2),), set(), current_round=0),
    case("f+1 counts a validator once across prevote and precommit",
         (vote(1, PV, V, round=2), vote(1, PC, V, round=2)), set()),
    case("f+1 from different validators and types", (vote(1, PV, V, round=2), vote(3, PC, None, round=2)),
         {"skip"}),
    case("no skip for the current round", (vote(0, PV, V, round=2),), set(), current_round=2),
]


@pytest.mark.parametrize("case", CASES, ids=[c.description for c in CASES])
def test_vote_keeper_thresholds(case: Case) -> None:
    keeper = VoteKeeper(H, VSET)
    for signed in case.votes:
        assert keeper.add_vote(signed).counted
    assert reached(keeper, case.votes[0].vote.round, case.current_round) == case.thresholds


def test_duplicate_vote_is_not_counted_twice() -> None:
    keeper = VoteKeeper(H, VSET)
    assert keeper.add_vote(vote(1, PV, V)).counted
    assert not keeper.add_vote(vote(1, PV, V)).counted
    assert keeper.add_vote(vote(2, PV, V)).counted
    assert not keeper.has_polka_for(0, V)   # 3 + 2 = 5: a double count would reach 8


def test_invalid_votes_of_other_heights_or_non_validators_are_not_counted() -> None:
    keeper = VoteKeeper(H, VSET)
    outsider = LocalSigner(keccak(b"outsider"), DOMAIN).sign_vote(Vote(PV, H, 0, V))
    assert not keeper.add_vote(outsider).counted
    assert not keeper.add_vote(vote(0, PV, V, height=H + 1)).counted


def test_equivocation_returns_evidence_and_counts_each_value_once() -> None:
    keeper = VoteKeeper(H, VSET)
    first, second = vote(0, PV, V), vote(0, PV, None)
    keeper.add_vote(first)
    result = keeper.add_vote(second)
    assert result.evidence is not None and result.evidence.validator == SIGNERS[0].address
    assert {result.evidence.vote_a, result.evidence.vote_b} == {first, second}
    # The equivocator counts toward each value it signed, once toward "any".
    keeper.add_vote(vote(1, PV, V))
    keeper.add_vote(vote(2, PV, None))
    assert keeper.has_polka_for(0, V) is True            # 4 + 3
    assert keeper.has_polka_nil(0) is False              # 4 + 2
    assert keeper._rounds[0].prevotes.total == 9         # 4 + 3 + 2, the equivocator once


def test_equivocator_values_are_bounded() -> None:
    keeper = VoteKeeper(H, VSET)
    for i in range(MAX_VALUES_PER_VOTER):
        assert keeper.add_vote(vote(0, PV, keccak(bytes([i])))).counted
    flood = keeper.add_vote(vote(0, PV, keccak(b"one too many")))
    assert not flood.counted and flood.evidence is not None


def test_highest_skip_round_and_certificate_votes() -> None:
    keeper = VoteKeeper(H, VSET)
    keeper.add_vote(vote(0, PV, V, round=2))
    keeper.add_vote(vote(0, PV, V, round=5))
    keeper.add_vote(vote(3, PV, V, round=7))
    assert keeper.highest_skip_round(0) == 5
    assert keeper.highest_skip_round(5) is None
    keeper.add_vote(vote(0, PC, V, round=1))
    keeper.add_vote(vote(1, PC, V, round=1))
    keeper.add_vote(vote(2, PC, None, round=1))
    assert keeper.precommit_value(1) == V
    assert {v.validator for v in keeper.votes_for(1, PC, V)} == {SIGNERS[0].address, SIGNERS[1].address}


def test_waiting_report_names_the_shares_and_who_is_missing() -> None:
    keeper = VoteKeeper(H, VSET)
    for signed in (vote(0, PV, V, round=1), vote(1, PV, V, round=1), vote(3, PV, None, round=1),
                   vote(0, PC, V, round=1)):
        keeper.add_vote(signed)
    by_power = [v.address for v in VSET.validators]     # powers 4, 3, 2, 1
    short = lambda address: "0x" + address.hex()[:8] + ".."   # noqa: E731
    assert keeper.waiting_report(1, "precommit") == (
        f"height {H} round 1 (precommit): prevotes 80% (missing {short(by_power[2])}), "
        f"precommits 40% (missing {short(by_power[1])}, {short(by_power[2])}, {short(by_power[3])})")
    assert keeper.waiting_report(0, "propose") == (
        f"height {H} round 0 (propose): prevotes 0% (missing {', '.join(short(a) for a in by_power)}), "
        f"precommits 0% (missing {', '.join(short(a) for a in by_power)})")
