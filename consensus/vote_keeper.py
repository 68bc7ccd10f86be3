"""The vote keeper: counts weighted votes of one height, per round, and nothing else.

It answers threshold queries, which the driver combines with proposals into the state
machine's inputs (``state_machine.PolkaAny``, ``PolkaNil``, ``PrecommitAny``, ``SkipRound``, ...):
the driver asks again after every input until no rule changes the state, so a threshold that
a rule cannot use yet (a polka seen before its proposal) is still there when it can.
It also notices equivocation: a second, different vote by one validator for one (round, type)
is not counted and comes back as evidence.

Thresholds (T = total voting power of the height's validator set):
* 2/3+ (``3 * w > 2 * T``) of prevotes / precommits for one value, for nil, or for anything;
* f+1 (``3 * w > T``) of validators voting in a round above ours: round skipping (paper L55).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from consensus.commit import has_one_third, has_two_thirds
from consensus.types import DuplicateVoteEvidence, SignedVote, ValidatorSet, VoteType, make_duplicate_vote_evidence


MISSING_NAMED = 8    # validators named in a waiting report; the rest are counted


@dataclass
class _VoteTally:
    """Votes of one type in one round.

    Each (validator, value) pair counts once toward that value, as the paper counts messages
    from distinct senders per value: an equivocator's two votes each count for their own
    value. Without that, a node that saw the equivocator's other vote first could never see a
    proof-of-lock that the rest of the network saw, and a locked majority would stall forever.
    A validator counts once toward "any" (its first vote).
    """

    by_value: dict[bytes | None, dict[bytes, SignedVote]] = field(default_factory=dict)
    weights: dict[bytes | None, int] = field(default_factory=dict)
    first: dict[bytes, SignedVote] = field(default_factory=dict)
    values_of: dict[bytes, int] = field(default_factory=dict)
    total: int = 0


@dataclass
class _RoundVotes:
    prevotes: _VoteTally = field(default_factory=_VoteTally)
    precommits: _VoteTally = field(default_factory=_VoteTally)
    voter_power: dict[bytes, int] = field(default_factory=dict)

    def tally(self, vote_type: VoteType) -> _VoteTally:
        return self.prevotes if vote_type == VoteType.PREVOTE else self.precommits


# How many different values one validator's votes may count for in one (round, type). Only an
# equivocator reaches 2; the bound caps the memory a byzantine validator can make us spend.
MAX_VALUES_PER_VOTER = 4


@dataclass(frozen=True)
class AddVoteResult:
    """What one vote changed: whether it was counted, and evidence if it equivocates."""

    counted: bool
    evidence: DuplicateVoteEvidence | None = None


class VoteKeeper:
    """Weighted vote counts for one height. Callers verify signatures and membership first."""

    def __init__(self, height: int, validator_set: ValidatorSet) -> None:
        self.height = height
        self.validator_set = validator_set
        self._rounds: dict[int, _RoundVotes] = {}

    def add_vote(self, signed: SignedVote) -> AddVoteResult:
        """Count ``signed``; duplicates are ignored, conflicting votes return evidence."""
        vote = signed.vote
        power = self.validator_set.power_of(signed.validator)
        if vote.height != self.height or power == 0:
            return AddVoteResult(False)
        round_votes = self._rounds.setdefault(vote.round, _RoundVotes())
        tally = round_votes.tally(vote.vote_type)
        voters = tally.by_value.setdefault(vote.block_hash, {})
        if signed.validator in voters:
            return AddVoteResult(False)
        first = tally.first.get(signed.validator)
        evidence = make_duplicate_vote_evidence(first, signed) if first is not None else None
        if tally.values_of.get(signed.validator, 0) >= MAX_VALUES_PER_VOTER:
            return AddVoteResult(False, evidence=evidence)
        if first is None:
            tally.first[signed.validator] = signed
            tally.total += power
        voters[signed.validator] = signed
        tally.values_of[signed.validator] = tally.values_of.get(signed.validator, 0) + 1
        tally.weights[vote.block_hash] = tally.weights.get(vote.block_hash, 0) + power
        round_votes.voter_power[signed.validator] = power
        return AddVoteResult(True, evidence)

    def _weight(self, round: int, vote_type: VoteType, block_hash: bytes | None) -> int:
        round_votes = self._rounds.get(round)
        return round_votes.tally(vote_type).weights.get(block_hash, 0) if round_votes else 0

    def _total(self, round: int, vote_type: VoteType) -> int:
        round_votes = self._rounds.get(round)
        return round_votes.tally(vote_type).total if round_votes else 0

    def has_polka_for(self, round: int, block_hash: bytes) -> bool:
        """2/3+ prevotes for ``block_hash`` in ``round``."""
        return has_two_thirds(self._weight(round, VoteType.PREVOTE, block_hash), self.validator_set.total_power)

    def has_polka_nil(self, round: int) -> bool:
        return has_two_thirds(self._weight(round, VoteType.PREVOTE, None), self.validator_set.total_power)

    def has_polka_any(self, round: int) -> bool:
        return has_two_thirds(self._total(round, VoteType.PREVOTE), self.validator_set.total_power)

    def has_precommit_for(self, round: int, block_hash: bytes) -> bool:
        return has_two_thirds(self._weight(round, VoteType.PRECOMMIT, block_hash), self.validator_set.total_power)

    def has_precommit_any(self, round: int) -> bool:
        return has_two_thirds(self._total(round, VoteType.PRECOMMIT), self.validator_set.total_power)

    def has_skip_quorum(self, round: int) -> bool:
        """f+1: validators holding more than 1/3 of the power voted (anything) in ``round``."""
        round_votes = self._rounds.get(round)
        power = sum(round_votes.voter_power.values()) if round_votes else 0
        return has_one_third(power, self.validator_set.total_power)

    def polka_value(self, round: int) -> bytes | None:
        """The value with 2/3+ prevotes in ``round``, if any (at most one can have them)."""
        return self._value_with_quorum(round, VoteType.PREVOTE)

    def precommit_value(self, round: int) -> bytes | None:
        """The value with 2/3+ precommits in ``round``, if any."""
        return self._value_with_quorum(round, VoteType.PRECOMMIT)

    def _value_with_quorum(self, round: int, vote_type: VoteType) -> bytes | None:
        round_votes = self._rounds.get(round)
        if round_votes is None:
            return None
        for block_hash, weight in round_votes.tally(vote_type).weights.items():
            if block_hash is not None and has_two_thirds(weight, self.validator_set.total_power):
                return block_hash
        return None

    def highest_skip_round(self, above: int) -> int | None:
        """The highest round above ``above`` with an f+1 quorum of voters."""
        rounds = [r for r in self._rounds if r > above and self.has_skip_quorum(r)]
        return max(rounds) if rounds else None

    def rounds(self) -> list[int]:
        return sorted(self._rounds)

    def votes(self, round: int, vote_type: VoteType) -> list[SignedVote]:
        """All counted votes of one type in one round (an equivocator's for each value)."""
        round_votes = self._rounds.get(round)
        if round_votes is None:
            return []
        return [v for voters in round_votes.tally(vote_type).by_value.values() for v in voters.values()]

    def votes_for(self, round: int, vote_type: VoteType, block_hash: bytes | None) -> list[SignedVote]:
        """The counted votes for one value: a commit certificate's precommits."""
        round_votes = self._rounds.get(round)
        return list(round_votes.tally(vote_type).by_value.get(block_hash, {}).values()) if round_votes else []

    def waiting_report(self, round: int, step: str) -> str:
        """What ``round`` of this height has of each vote type and who has not voted, for an
        operator watching a slow or halted height (CometBFT logs the same)::

            height 7 round 1 (precommit): prevotes 75% (missing 0xab12..), precommits 50% (missing 0xcd34.., 0xef56..)
        """
        total = self.validator_set.total_power or 1
        parts = []
        for vote_type, name in ((VoteType.PREVOTE, "prevotes"), (VoteType.PRECOMMIT, "precommits")):
            voted = {signed.validator for signed in self.votes(round, vote_type)}
            share = sum(self.validator_set.power_of(address) for address in voted) * 100 // total
            missing = [v.address for v in self.validator_set.validators if v.address not in voted]
            named = ", ".join("0x" + address.hex()[:8] + ".." for address in missing[:MISSING_NAMED])
            more = f" and {len(missing) - MISSING_NAMED} more" if len(missing) > MISSING_NAMED else ""
            parts.append(f"{name} {share}%" + (f" (missing {named}{more})" if missing else ""))
        return f"height {self.height} round {round} ({step}): " + ", ".join(parts)

    def has_vote(self, signed: SignedVote) -> bool:
        """True if this validator's vote for this value is already counted (a duplicate)."""
        vote = signed.vote
        round_votes = self._rounds.get(vote.round)
        if round_votes is None:
            return False
        return signed.validator in round_votes.tally(vote.vote_type).by_value.get(vote.block_hash, {})
