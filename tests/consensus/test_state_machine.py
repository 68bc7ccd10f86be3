"""Scenario tables for every rule of the state machine (Algorithm 1 of the Tendermint paper).

Each row: description, the state before, one input, the outputs expected, and the fields the
state must have afterwards (``None`` = the input must be ignored: same state object, no
outputs). Breaking any rule's guard or effect makes its rows fail.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest
from eth_utils import keccak

from consensus import state_machine as sm
from consensus.config import TimeoutKind
from consensus.events import Decide, RequestBlock, ScheduleTimeout, SignProposal, SignVote
from consensus.types import Proposal, Step, Vote, VoteType
from consensus.validator_set import compute_proposer, new_validator_set

ADDRESSES = [bytes(19) + bytes([i + 1]) for i in range(4)]
VSET = new_validator_set([(a, 1) for a in ADDRESSES])
H = 5
V = keccak(b"v")
W = keccak(b"w")
# "Me" is a validator that does not propose rounds 0-2 (and does propose some later round).
ME = next(a for a in ADDRESSES if all(compute_proposer(VSET, r) != a for r in range(3)))
MY_ROUND = next(r for r in range(3, 20) if compute_proposer(VSET, r) == ME)


def at(round: int = 0, step: Step = Step.PROPOSE, **fields: Any) -> sm.State:
    return replace(sm.initial_state(H, VSET, ME), round=round, step=step, **fields)


def prevote(block_hash: bytes | None, round: int = 0) -> SignVote:
    return SignVote(Vote(VoteType.PREVOTE, H, round, block_hash))


def precommit(block_hash: bytes | None, round: int = 0) -> SignVote:
    return SignVote(Vote(VoteType.PRECOMMIT, H, round, block_hash))


def timeout(kind: TimeoutKind, round: int = 0) -> ScheduleTimeout:
    return ScheduleTimeout(kind, H, round)


@dataclass(frozen=True)
class Case:
    description: str
    state: sm.State
    input: sm.MachineInput
    outputs: tuple[Any, ...]
    expect: dict[str, Any] | None


CASES = [
    # --- L11 StartRound -------------------------------------------------------------------------
    Case("L11 start round 0 as a non-proposer: only the propose timeout",
         sm.initial_state(H, VSET, ME), sm.StartRound(0), (timeout(TimeoutKind.PROPOSE),),
         {"round": 0, "step": Step.PROPOSE, "awaiting_value": False}),
    Case("L14-L18 proposer without a valid value asks the host for a block",
         at(MY_ROUND - 1, Step.PRECOMMIT), sm.StartRound(MY_ROUND),
         (timeout(TimeoutKind.PROPOSE, MY_ROUND), RequestBlock(H, MY_ROUND)),
         {"round": MY_ROUND, "step": Step.PROPOSE, "awaiting_value": True}),
    Case("L15-L16 proposer with a valid value re-proposes it with its valid round",
         at(MY_ROUND - 1, Step.PRECOMMIT, valid_value=V, valid_round=1), sm.StartRound(MY_ROUND),
         (timeout(TimeoutKind.PROPOSE, MY_ROUND), SignProposal(Proposal(H, MY_ROUND, V, 1))),
         {"round": MY_ROUND, "awaiting_value": False}),
    Case("L11 a round not above the current one is ignored", at(2), sm.StartRound(2), (), None),
    Case("L11 new round resets the first-time flags",
         at(0, Step.PRECOMMIT, prevote_timeout_scheduled=True, precommit_timeout_scheduled=True,
            polka_value_seen=True), sm.StartRound(1), (timeout(TimeoutKind.PROPOSE, 1),),
         {"prevote_timeout_scheduled": False, "precommit_timeout_scheduled": False, "polka_value_seen": False}),
    # --- L18 getValue ------------------------------------------------------------------------------
    Case("L18-L19 the host's block is proposed with polRound -1",
         at(MY_ROUND, awaiting_value=True), sm.ValueReady(MY_ROUND, W),
         (SignProposal(Proposal(H, MY_ROUND, W, -1)),), {"awaiting_value": False}),
    Case("L18 a block nobody asked for is not proposed", at(MY_ROUND), sm.ValueReady(MY_ROUND, W), (), None),
    Case("L18 a block for an old round is not proposed",
         at(MY_ROUND, awaiting_value=True), sm.ValueReady(MY_ROUND - 1, W), (), None),
    # --- L22 proposal without POL --------------------------------------------------------------
    Case("L22-L24 unlocked, valid proposal: prevote it", at(), sm.ProposalWithoutPol(0, V, True),
         (prevote(V),), {"step": Step.PREVOTE}),
    Case("L22-L26 invalid proposal: prevote nil", at(), sm.ProposalWithoutPol(0, V, False),
         (prevote(None),), {"step": Step.PREVOTE}),
    Case("L22-L26 locked on another value: prevote nil",
         at(1, locked_value=W, locked_round=0), sm.ProposalWithoutPol(1, V, True), (prevote(None, 1),),
         {"step": Step.PREVOTE}),
    Case("L22-L24 locked on the proposed value: prevote it",
         at(1, locked_value=V, locked_round=0), sm.ProposalWithoutPol(1, V, True), (prevote(V, 1),),
         {"step": Step.PREVOTE}),
    Case("L22 only while in the propose step", at(0, Step.PREVOTE), sm.ProposalWithoutPol(0, V, True), (), None),
    Case("L22 only for the current round", at(1), sm.ProposalWithoutPol(0, V, True), (), None),
    # --- L28 proposal with POL ---------------------------------------------------------------------
    Case("L28-L30 lockedRound <= vr: prevote the proposal",
         at(3, locked_value=W, locked_round=1), sm.ProposalWithPol(3, V, 2, True), (prevote(V, 3),),
         {"step": Step.PREVOTE}),
    Case("L28-L30 locked on the value at a later round: prevote it",
         at(3, locked_value=V, locked_round=2), sm.ProposalWithPol(3, V, 1, True), (prevote(V, 3),),
         {"step": Step.PREVOTE}),
    Case("L28-L32 locked on another value after vr: prevote nil",
         at(3, locked_value=W, locked_round=2), sm.ProposalWithPol(3, V, 1, True), (prevote(None, 3),),
         {"step": Step.PREVOTE}),
    Case("L28-L32 invalid value: prevote nil", at(3), sm.ProposalWithPol(3, V, 1, False), (prevote(None, 3),),
         {"step": Step.PREVOTE}),
    Case("L28 vr must be below the current round", at(3), sm.ProposalWithPol(3, V, 3, True), (), None),
    Case("L28 only while in the propose step", at(3, Step.PREVOTE), sm.ProposalWithPol(3, V, 1, True), (), None),
    # --- L34 2f+1 prevotes any -------------------------------------------------------------------
    Case("L34-L35 first polka-any in prevote schedules the prevote timeout",
         at(0, Step.PREVOTE), sm.PolkaAny(0), (timeout(TimeoutKind.PREVOTE),), {"prevote_timeout_scheduled": True}),
    Case("L34 only the first time", at(0, Step.PREVOTE, prevote_timeout_scheduled=True), sm.PolkaAny(0), (), None),
    Case("L34 only in the prevote step", at(0, Step.PROPOSE), sm.PolkaAny(0), (), None),
    # --- L36 proposal + polka for it ----------------------------------------------------------------
    Case("L36-L41 in prevote: lock, precommit, record the valid value",
         at(2, Step.PREVOTE), sm.ProposalAndPolka(2, V), (precommit(V, 2),),
         {"step": Step.PRECOMMIT, "locked_value": V, "locked_round": 2, "valid_value": V, "valid_round": 2,
          "polka_value_seen": True}),
    Case("L36-L43 already in precommit: only record the valid value (no new lock)",
         at(2, Step.PRECOMMIT, locked_value=W, locked_round=1), sm.ProposalAndPolka(2, V), (),
         {"step": Step.PRECOMMIT, "locked_value": W, "locked_round": 1, "valid_value": V, "valid_round": 2}),
    Case("L36 not in the propose step", at(2, Step.PROPOSE), sm.ProposalAndPolka(2, V), (), None),
    Case("L36 only the first time", at(2, Step.PREVOTE, polka_value_seen=True), sm.ProposalAndPolka(2, V), (), None),
    # --- L44 polka nil -------------------------------------------------------------------------------
    Case("L44-L46 2f+1 nil prevotes: precommit nil", at(0, Step.PREVOTE), sm.PolkaNil(0), (precommit(None),),
         {"step": Step.PRECOMMIT, "locked_round": -1}),
    Case("L44 only in the prevote step", at(0, Step.PRECOMMIT), sm.PolkaNil(0), (), None),
    # --- L47 2f+1 precommits any ----------------------------------------------------------------------
    Case("L47-L48 first precommit-any schedules the precommit timeout", at(0, Step.PRECOMMIT), sm.PrecommitAny(0),
         (timeout(TimeoutKind.PRECOMMIT),), {"precommit_timeout_scheduled": True}),
    Case("L47 in any step, e.g. propose", at(0, Step.PROPOSE), sm.PrecommitAny(0),
         (timeout(TimeoutKind.PRECOMMIT),), {"step": Step.PROPOSE}),
    Case("L47 only the first time", at(0, Step.PRECOMMIT, precommit_timeout_scheduled=True), sm.PrecommitAny(0),
         (), None),
    # --- L49 decision ------------------------------------------------------------------------------------
    Case("L49-L54 proposal + 2f+1 precommits: decide", at(0, Step.PRECOMMIT), sm.ProposalAndCommit(0, V, True),
         (Decide(H, 0, V),), {"step": Step.COMMIT, "decision": V}),
    Case("L49 decides for an earlier round too", at(4, Step.PROPOSE), sm.ProposalAndCommit(1, V, True),
         (Decide(H, 1, V),), {"step": Step.COMMIT, "decision": V}),
    Case("L49 never decides an invalid value", at(0, Step.PRECOMMIT), sm.ProposalAndCommit(0, V, False), (), None),
    Case("L49 decides once", at(0, Step.COMMIT, decision=V), sm.ProposalAndCommit(0, W, True), (), None),
    # --- L55 round skip ---------------------------------------------------------------------------------
    Case("L55-L56 f+1 in a higher round: start that round", at(0, Step.PREVOTE), sm.SkipRound(2),
         (timeout(TimeoutKind.PROPOSE, 2),), {"round": 2, "step": Step.PROPOSE}),
    Case("L55 not for the current or a lower round", at(3), sm.SkipRound(3), (), None),
    Case("L55 not after the decision", at(0, Step.COMMIT, decision=V), sm.SkipRound(3), (), None),
    # --- L57 / L61 / L65 timeouts ----------------------------------------------------------------------------
    Case("L57-L60 propose timeout: prevote nil", at(), sm.TimeoutPropose(H, 0), (prevote(None),),
         {"step": Step.PREVOTE}),
    Case("L57 stale propose timeout (old round) is ignored", at(1), sm.TimeoutPropose(H, 0), (), None),
    Case("L57 propose timeout after prevoting is ignored", at(0, Step.PREVOTE), sm.TimeoutPropose(H, 0), (), None),
    Case("L57 propose timeout of another height is ignored", at(), sm.TimeoutPropose(H - 1, 0), (), None),
    Case("L61-L64 prevote timeout: precommit nil", at(0, Step.PREVOTE), sm.TimeoutPrevote(H, 0),
         (precommit(None),), {"step": Step.PRECOMMIT}),
    Case("L61 prevote timeout outside the prevote step is ignored", at(0, Step.PRECOMMIT), sm.TimeoutPrevote(H, 0),
         (), None),
    Case("L65-L67 precommit timeout: next round", at(0, Step.PRECOMMIT), sm.TimeoutPrecommit(H, 0),
         (timeout(TimeoutKind.PROPOSE, 1),), {"round": 1, "step": Step.PROPOSE}),
    Case("L65 stale precommit timeout is ignored", at(2), sm.TimeoutPrecommit(H, 1), (), None),
    Case("L65 no new round after the decision", at(0, Step.COMMIT, decision=V), sm.TimeoutPrecommit(H, 0), (), None),
]


@pytest.mark.parametrize("case", CASES, ids=[c.description for c in CASES])
def test_state_machine_rule(case: Case) -> None:
    state, outputs = sm.apply(case.state, case.input)
    assert outputs == case.outputs
    if case.expect is None:
        assert state is case.state
        return
    for name, value in case.expect.items():
        assert getattr(state, name) == value, name
    assert state.height == case.state.height


def test_every_rule_has_a_scenario() -> None:
    covered = {type(c.input) for c in CASES}
    assert covered == set(sm._RULES)


def test_restored_lock_is_also_the_valid_value() -> None:
    state = sm.initial_state(H, VSET, ME, locked_value=V, locked_round=2)
    assert (state.locked_value, state.locked_round, state.valid_value, state.valid_round) == (V, 2, V, 2)
    # Restored and unlocked by a later proof-of-lock only (L28), never by a fresh proposal (L22).
    state = replace(state, round=3)
    assert sm.apply(state, sm.ProposalWithoutPol(3, W, True))[1] == (prevote(None, 3),)
    assert sm.apply(state, sm.ProposalWithPol(3, W, 2, True))[1] == (prevote(W, 3),)
