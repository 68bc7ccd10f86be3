"""The Tendermint state machine of one height: ``apply(state, input) -> (state, outputs)``.

Pure: no I/O, no clock, no keys. Each input is one "upon" rule of Algorithm 1 in Buchman,
Kwon, Milosevic, "The latest gossip on BFT consensus" (arXiv:1807.04938); the rule's guard is
checked here, and when it does not hold ``apply`` returns the *same* state object and no
outputs. The driver is responsible for the part of each guard that is about messages
("2f+1 PREVOTE for id(v)", "PROPOSAL from proposer(h, r)"): it only builds an input once the
vote keeper and the proposals it holds satisfy it.

Line numbers (Lxx) refer to Algorithm 1 of the paper.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from consensus.config import TimeoutKind
from consensus.events import Decide, Output, RequestBlock, ScheduleTimeout, SignProposal, SignVote
from consensus.types import Proposal, Step, ValidatorSet, Vote, VoteType
from consensus.validator_set import compute_proposer


@dataclass(frozen=True)
class State:
    """Per-height consensus state (the paper's h_p, round_p, step_p, locked*, valid*, decision)."""

    height: int
    validator_set: ValidatorSet
    address: bytes
    round: int = -1
    step: Step = Step.PROPOSE
    locked_value: bytes | None = None
    locked_round: int = -1
    valid_value: bytes | None = None
    valid_round: int = -1
    decision: bytes | None = None
    # Bookkeeping for "for the first time" guards (reset by StartRound).
    awaiting_value: bool = False
    prevote_timeout_scheduled: bool = False
    precommit_timeout_scheduled: bool = False
    polka_value_seen: bool = False


def initial_state(height: int, validator_set: ValidatorSet, address: bytes,
                  locked_value: bytes | None = None, locked_round: int = -1) -> State:
    """State before round 0 (or before the restored round) starts.

    A restarted validator passes the lock from its last-sign record: without it, it could
    prevote against a value it helped commit (amnesia). Restoring the valid value to the lock
    keeps the paper's invariant validRound >= lockedRound.
    """
    return State(height, validator_set, address, locked_value=locked_value, locked_round=locked_round,
                 valid_value=locked_value, valid_round=locked_round)


# ----- inputs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartRound:
    """L11 StartRound(round): at height start, after L55 (skip) or L65 (timeout precommit)."""

    round: int


@dataclass(frozen=True)
class ValueReady:
    """L18 getValue() returned: the host built ``block_hash`` for ``round``."""

    round: int
    block_hash: bytes


@dataclass(frozen=True)
class ProposalWithoutPol:
    """L22: PROPOSAL(h, round, v, -1) from the proposer, with valid(v) known."""

    round: int
    block_hash: bytes
    valid: bool


@dataclass(frozen=True)
class ProposalWithPol:
    """L28: PROPOSAL(h, round, v, vr) from the proposer AND 2f+1 PREVOTE(h, vr, id(v))."""

    round: int
    block_hash: bytes
    pol_round: int
    valid: bool


@dataclass(frozen=True)
class PolkaAny:
    """L34: 2f+1 PREVOTE(h, round, *)."""

    round: int


@dataclass(frozen=True)
class ProposalAndPolka:
    """L36: PROPOSAL(h, round, v, *) AND 2f+1 PREVOTE(h, round, id(v)), with valid(v)."""

    round: int
    block_hash: bytes


@dataclass(frozen=True)
class PolkaNil:
    """L44: 2f+1 PREVOTE(h, round, nil)."""

    round: int


@dataclass(frozen=True)
class PrecommitAny:
    """L47: 2f+1 PRECOMMIT(h, round, *)."""

    round: int


@dataclass(frozen=True)
class ProposalAndCommit:
    """L49: PROPOSAL(h, r, v, *) AND 2f+1 PRECOMMIT(h, r, id(v)), for any round r."""

    round: int
    block_hash: bytes
    valid: bool


@dataclass(frozen=True)
class SkipRound:
    """L55: f+1 messages of (h, round) with round > round_p."""

    round: int


@dataclass(frozen=True)
class TimeoutPropose:
    """L57 OnTimeoutPropose(h, round)."""

    height: int
    round: int


@dataclass(frozen=True)
class TimeoutPrevote:
    """L61 OnTimeoutPrevote(h, round)."""

    height: int
    round: int


@dataclass(frozen=True)
class TimeoutPrecommit:
    """L65 OnTimeoutPrecommit(h, round)."""

    height: int
    round: int


MachineInput = (StartRound | ValueReady | ProposalWithoutPol | ProposalWithPol | PolkaAny | ProposalAndPolka
                | PolkaNil | PrecommitAny | ProposalAndCommit | SkipRound | TimeoutPropose | TimeoutPrevote
                | TimeoutPrecommit)
Transition = tuple[State, tuple[Output, ...]]

# ----- helpers -----------------------------------------------------------------------------


def is_proposer(state: State, round: int) -> bool:
    return compute_proposer(state.validator_set, round) == state.address


def is_decided(state: State) -> bool:
    return state.step == Step.COMMIT


def _vote(state: State, vote_type: VoteType, block_hash: bytes | None) -> SignVote:
    return SignVote(Vote(vote_type, state.height, state.round, block_hash))


def _unchanged(state: State) -> Transition:
    return state, ()


# ----- rules -------------------------------------------------------------------------------


def start_round(state: State, round: int) -> Transition:
    """L11-L21: enter ``round``; the proposer proposes validValue or asks for a new block.

    Every validator schedules the propose timeout (CometBFT does too): a proposer whose block
    is late must still move on.
    """
    state = replace(state, round=round, step=Step.PROPOSE, awaiting_value=False,
                    prevote_timeout_scheduled=False, precommit_timeout_scheduled=False, polka_value_seen=False)
    outputs: list[Output] = [ScheduleTimeout(TimeoutKind.PROPOSE, state.height, round)]
    if is_proposer(state, round):
        if state.valid_value is not None:
            outputs.append(SignProposal(Proposal(state.height, round, state.valid_value, state.valid_round)))
        else:
            state = replace(state, awaiting_value=True)
            outputs.append(RequestBlock(state.height, round))
    return state, tuple(outputs)


def on_start_round(state: State, inp: StartRound) -> Transition:
    if is_decided(state) or inp.round <= state.round:
        return _unchanged(state)
    return start_round(state, inp.round)


def on_value_ready(state: State, inp: ValueReady) -> Transition:
    """L18-L19: broadcast PROPOSAL(h, round, getValue(), -1)."""
    if not (state.awaiting_value and inp.round == state.round and state.step == Step.PROPOSE):
        return _unchanged(state)
    proposal = Proposal(state.height, state.round, inp.block_hash, -1)
    return replace(state, awaiting_value=False), (SignProposal(proposal),)


def on_proposal_without_pol(state: State, inp: ProposalWithoutPol) -> Transition:
    """L22-L27: prevote v if valid and (unlocked or locked on v), else nil."""
    if inp.round != state.round or state.step != Step.PROPOSE:
        return _unchanged(state)
    accept = inp.valid and (state.locked_round == -1 or state.locked_value == inp.block_hash)
    vote = _vote(state, VoteType.PREVOTE, inp.block_hash if accept else None)
    return replace(state, step=Step.PREVOTE, awaiting_value=False), (vote,)


def on_proposal_with_pol(state: State, inp: ProposalWithPol) -> Transition:
    """L28-L33: prevote v if valid and (lockedRound <= vr or locked on v), else nil."""
    if inp.round != state.round or state.step != Step.PROPOSE or not 0 <= inp.pol_round < state.round:
        return _unchanged(state)
    accept = inp.valid and (state.locked_round <= inp.pol_round or state.locked_value == inp.block_hash)
    vote = _vote(state, VoteType.PREVOTE, inp.block_hash if accept else None)
    return replace(state, step=Step.PREVOTE, awaiting_value=False), (vote,)


def on_polka_any(state: State, inp: PolkaAny) -> Transition:
    """L34-L35: first 2f+1 prevotes of any kind while in prevote: schedule timeout prevote."""
    if inp.round != state.round or state.step != Step.PREVOTE or state.prevote_timeout_scheduled:
        return _unchanged(state)
    return (replace(state, prevote_timeout_scheduled=True),
            (ScheduleTimeout(TimeoutKind.PREVOTE, state.height, state.round),))


def on_proposal_and_polka(state: State, inp: ProposalAndPolka) -> Transition:
    """L36-L43: lock and precommit v (if still in prevote); always record v as the valid value."""
    if (inp.round != state.round or state.step not in (Step.PREVOTE, Step.PRECOMMIT)
            or state.polka_value_seen):
        return _unchanged(state)
    outputs: tuple[Output, ...] = ()
    if state.step == Step.PREVOTE:
        state = replace(state, locked_value=inp.block_hash, locked_round=state.round, step=Step.PRECOMMIT)
        outputs = (_vote(state, VoteType.PRECOMMIT, inp.block_hash),)
    state = replace(state, valid_value=inp.block_hash, valid_round=state.round, polka_value_seen=True)
    return state, outputs


def on_polka_nil(state: State, inp: PolkaNil) -> Transition:
    """L44-L46: 2f+1 nil prevotes while in prevote: precommit nil."""
    if inp.round != state.round or state.step != Step.PREVOTE:
        return _unchanged(state)
    return replace(state, step=Step.PRECOMMIT), (_vote(state, VoteType.PRECOMMIT, None),)


def on_precommit_any(state: State, inp: PrecommitAny) -> Transition:
    """L47-L48: first 2f+1 precommits of any kind: schedule timeout precommit."""
    if inp.round != state.round or is_decided(state) or state.precommit_timeout_scheduled:
        return _unchanged(state)
    return (replace(state, precommit_timeout_scheduled=True),
            (ScheduleTimeout(TimeoutKind.PRECOMMIT, state.height, state.round),))


def on_proposal_and_commit(state: State, inp: ProposalAndCommit) -> Transition:
    """L49-L54: decide v (for any round) if valid; the host then starts the next height."""
    if is_decided(state) or not inp.valid:
        return _unchanged(state)
    return (replace(state, decision=inp.block_hash, step=Step.COMMIT),
            (Decide(state.height, inp.round, inp.block_hash),))


def on_skip_round(state: State, inp: SkipRound) -> Transition:
    """L55-L56: f+1 validators are in a higher round: join it."""
    if is_decided(state) or inp.round <= state.round:
        return _unchanged(state)
    return start_round(state, inp.round)


def on_timeout_propose(state: State, inp: TimeoutPropose) -> Transition:
    """L57-L60: no acceptable proposal in time: prevote nil."""
    if (inp.height, inp.round) != (state.height, state.round) or state.step != Step.PROPOSE:
        return _unchanged(state)
    return replace(state, step=Step.PREVOTE, awaiting_value=False), (_vote(state, VoteType.PREVOTE, None),)


def on_timeout_prevote(state: State, inp: TimeoutPrevote) -> Transition:
    """L61-L64: prevotes split: precommit nil."""
    if (inp.height, inp.round) != (state.height, state.round) or state.step != Step.PREVOTE:
        return _unchanged(state)
    return replace(state, step=Step.PRECOMMIT), (_vote(state, VoteType.PRECOMMIT, None),)


def on_timeout_precommit(state: State, inp: TimeoutPrecommit) -> Transition:
    """L65-L67: no decision this round: start the next one."""
    if (inp.height, inp.round) != (state.height, state.round) or is_decided(state):
        return _unchanged(state)
    return start_round(state, state.round + 1)


_RULES = {
    StartRound: on_start_round,
    ValueReady: on_value_ready,
    ProposalWithoutPol: on_proposal_without_pol,
    ProposalWithPol: on_proposal_with_pol,
    PolkaAny: on_polka_any,
    ProposalAndPolka: on_proposal_and_polka,
    PolkaNil: on_polka_nil,
    PrecommitAny: on_precommit_any,
    ProposalAndCommit: on_proposal_and_commit,
    SkipRound: on_skip_round,
    TimeoutPropose: on_timeout_propose,
    TimeoutPrevote: on_timeout_prevote,
    TimeoutPrecommit: on_timeout_precommit,
}


def apply(state: State, inp: MachineInput) -> Transition:
    """Apply one input; an input whose guard fails returns ``state`` itself and no outputs."""
    return _RULES[type(inp)](state, inp)  # type: ignore[operator]
