# pragma version 0.4.3
"""
@title Governor: the Azora DAO's proposals and votes over AZR
@custom:contract-name Governor
@license MIT
@notice OpenZeppelin's Governor model in Vyper, with the Timelock as executor:
        - states Pending, Active, Canceled, Defeated, Succeeded, Queued,
          Expired, Executed (ProposalState numbering of OpenZeppelin);
        - votes are AZR `getPastVotes` at the proposal snapshot (block number),
          so tokens moved after the snapshot cannot vote twice (flash votes);
        - For / Against / Abstain; quorum counts For + Abstain and is a
          fraction of `getPastTotalSupply` at the snapshot;
        - `castVoteBySig` with an EIP-712 `Ballot` and a per-voter nonce;
        - late-quorum extension: a vote that first reaches quorum within
          `lateQuorumExtension` blocks of the deadline pushes the deadline to
          now + `lateQuorumExtension`;
        - the proposer may cancel while Pending;
        - succeeded proposals are queued in the Timelock and executed by it
          (this contract is its only proposer and executor); a succeeded
          proposal not queued within `queuingPeriod` blocks after its deadline
          expires, and so does a queued one not executed within `gracePeriod`
          seconds after its ETA;
        - a proposal keeps the quorum numerator, queuing period and grace
          period in force when it was created, so a later change of settings
          can never move it back (a Defeated proposal stays Defeated, an
          Expired one stays Expired);
        - a description ending in `#proposer=0x<address>` can only be proposed
          by that address (OpenZeppelin's rule), so nobody can front-run a
          proposal with the same id and cancel it;
        - every setting changes only through a proposal (caller == timelock).
        Proposal id = uint256(keccak256(abi_encode(targets, values, calldatas,
        keccak256(description)))), as in OpenZeppelin.
"""

from snekmate.utils import ecdsa
from snekmate.utils import eip712_domain_separator
initializes: eip712_domain_separator

exports: eip712_domain_separator.eip712Domain

from .interfaces import IVotes

interface ITimelock:
    def schedule_batch(
        targets: DynArray[address, MAX_ACTIONS],
        amounts: DynArray[uint256, MAX_ACTIONS],
        payloads: DynArray[Bytes[MAX_CALLDATA], MAX_ACTIONS],
        predecessor: bytes32,
        salt: bytes32,
        delay: uint256,
    ): nonpayable
    def execute_batch(
        targets: DynArray[address, MAX_ACTIONS],
        amounts: DynArray[uint256, MAX_ACTIONS],
        payloads: DynArray[Bytes[MAX_CALLDATA], MAX_ACTIONS],
        predecessor: bytes32,
        salt: bytes32,
    ): payable
    def get_minimum_delay() -> uint256: view

MAX_ACTIONS: constant(uint256) = 16
MAX_CALLDATA: constant(uint256) = 1_024
BPS: constant(uint256) = 10_000
BALLOT_TYPEHASH: public(constant(bytes32)) = keccak256(
    "Ballot(uint256 proposalId,uint8 support,address voter,uint256 nonce)"
)

# ProposalState, numbered as OpenZeppelin's
PENDING: public(constant(uint8)) = 0
ACTIVE: public(constant(uint8)) = 1
CANCELED: public(constant(uint8)) = 2
DEFEATED: public(constant(uint8)) = 3
SUCCEEDED: public(constant(uint8)) = 4
QUEUED: public(constant(uint8)) = 5
EXPIRED: public(constant(uint8)) = 6
EXECUTED: public(constant(uint8)) = 7

# vote types
VOTE_AGAINST: public(constant(uint8)) = 0
VOTE_FOR: public(constant(uint8)) = 1
VOTE_ABSTAIN: public(constant(uint8)) = 2

struct Proposal:
    proposer: address
    snapshot: uint256
    deadline: uint256
    forVotes: uint256
    againstVotes: uint256
    abstainVotes: uint256
    eta: uint256
    canceled: bool
    executed: bool
    quorumReached: bool
    # settings in force at creation: later changes never revive or expire this proposal
    quorumNumerator: uint256
    queuingPeriod: uint256
    gracePeriod: uint256

event ProposalCreated:
    proposalId: uint256
    proposer: address
    targets: DynArray[address, MAX_ACTIONS]
    values: DynArray[uint256, MAX_ACTIONS]
    calldatas: DynArray[Bytes[MAX_CALLDATA], MAX_ACTIONS]
    voteStart: uint256
    voteEnd: uint256
    description: String[2_048]

event VoteCast:
    voter: indexed(address)
    proposalId: uint256
    support: uint8
    weight: uint256
    reason: String[256]

event ProposalQueued:
    proposalId: uint256
    eta: uint256

event ProposalExecuted:
    proposalId: uint256

event ProposalCanceled:
    proposalId: uint256

event ProposalExtended:
    proposalId: indexed(uint256)
    extendedDeadline: uint256

event SettingChanged:
    setting: String[32]
    oldValue: uint256
    newValue: uint256

token: public(immutable(IVotes))
timelock: public(immutable(ITimelock))

votingDelay: public(uint256)
votingPeriod: public(uint256)
proposalThreshold: public(uint256)
quorumNumerator: public(uint256)
lateQuorumExtension: public(uint256)
gracePeriod: public(uint256)
# @dev Blocks after its deadline a succeeded proposal may still be queued.
queuingPeriod: public(uint256)

proposals: public(HashMap[uint256, Proposal])
hasVoted: public(HashMap[uint256, HashMap[address, bool]])
nonces: public(HashMap[address, uint256])


@deploy
def __init__(
    token_: address,
    timelock_: address,
    voting_delay_: uint256,
    voting_period_: uint256,
    proposal_threshold_: uint256,
    quorum_numerator_: uint256,
    late_quorum_extension_: uint256,
    grace_period_: uint256,
    queuing_period_: uint256,
):
    """
    @notice Deploys the Governor; EIP-712 domain {name: "Azora Governor", version: "1"}.
    @param token_ The AZR token (votes).
    @param timelock_ The Timelock that executes proposals.
    @param voting_delay_ Blocks between proposal and snapshot.
    @param voting_period_ Blocks of voting.
    @param proposal_threshold_ Votes needed to propose.
    @param quorum_numerator_ Quorum in basis points of past total supply.
    @param late_quorum_extension_ Blocks a late quorum extends voting by.
    @param grace_period_ Seconds after the ETA a queued proposal can run before it expires.
    @param queuing_period_ Blocks after the deadline a succeeded proposal can be queued.
    """
    assert token_ != empty(address) and timelock_ != empty(address), "Governor: zero address"
    assert voting_period_ > 0, "Governor: zero voting period"
    assert quorum_numerator_ <= BPS, "Governor: bad quorum"
    eip712_domain_separator.__init__("Azora Governor", "1")
    token = IVotes(token_)
    timelock = ITimelock(timelock_)
    self.votingDelay = voting_delay_
    self.votingPeriod = voting_period_
    self.proposalThreshold = proposal_threshold_
    self.quorumNumerator = quorum_numerator_
    self.lateQuorumExtension = late_quorum_extension_
    self.gracePeriod = grace_period_
    self.queuingPeriod = queuing_period_


@external
@payable
def __default__():
    """
    @notice Rejects native AZR: funds belong in the Timelock (the treasury).
    """
    raise "Governor: send funds to the timelock"


@external
@view
def clock() -> uint48:
    """
    @notice ERC-6372 clock of the votes: the block number.
    @return uint48 The block number.
    """
    return convert(block.number, uint48)


@external
@pure
def CLOCK_MODE() -> String[64]:
    """
    @notice ERC-6372 clock mode.
    @return String The clock mode descriptor.
    """
    return "mode=blocknumber&from=default"


@external
@pure
def hashProposal(
    targets: DynArray[address, MAX_ACTIONS],
    values: DynArray[uint256, MAX_ACTIONS],
    calldatas: DynArray[Bytes[MAX_CALLDATA], MAX_ACTIONS],
    description_hash: bytes32,
) -> uint256:
    """
    @notice The proposal id of a set of actions and a description hash.
    @param targets Call targets.
    @param values Native AZR per call.
    @param calldatas Calldata per call.
    @param description_hash keccak256 of the description.
    @return uint256 The id.
    """
    return self._hash_proposal(targets, values, calldatas, description_hash)


@external
def propose(
    targets: DynArray[address, MAX_ACTIONS],
    values: DynArray[uint256, MAX_ACTIONS],
    calldatas: DynArray[Bytes[MAX_CALLDATA], MAX_ACTIONS],
    description: String[2_048],
) -> uint256:
    """
    @notice Creates a proposal; the caller needs `proposalThreshold` votes at the previous block.
    @dev A description ending in `#proposer=0x<40 hex digits>` may only be proposed by that
         address; without the suffix anyone may propose it (OpenZeppelin's rule).
    @param targets Call targets.
    @param values Native AZR per call (paid from the Timelock).
    @param calldatas Calldata per call.
    @param description Human-readable description.
    @return uint256 The proposal id.
    """
    assert len(targets) > 0, "Governor: empty proposal"
    assert len(targets) == len(values) and len(targets) == len(calldatas), "Governor: invalid proposal length"
    assert self._is_valid_description_for_proposer(msg.sender, description), "Governor: proposer restricted"
    now: uint256 = block.number
    votes: uint256 = staticcall token.getPastVotes(msg.sender, now - 1)
    assert votes >= self.proposalThreshold, "Governor: proposer votes below threshold"
    proposal_id: uint256 = self._hash_proposal(targets, values, calldatas, keccak256(description))
    assert self.proposals[proposal_id].snapshot == 0, "Governor: proposal exists"
    snapshot: uint256 = now + self.votingDelay
    deadline: uint256 = snapshot + self.votingPeriod
    self.proposals[proposal_id] = Proposal(
        proposer=msg.sender,
        snapshot=snapshot,
        deadline=deadline,
        forVotes=0,
        againstVotes=0,
        abstainVotes=0,
        eta=0,
        canceled=False,
        executed=False,
        quorumReached=False,
        quorumNumerator=self.quorumNumerator,
        queuingPeriod=self.queuingPeriod,
        gracePeriod=self.gracePeriod,
    )
    log ProposalCreated(
        proposalId=proposal_id, proposer=msg.sender, targets=targets, values=values,
        calldatas=calldatas, voteStart=snapshot, voteEnd=deadline, description=description
    )
    return proposal_id


@external
@view
def state(proposal_id: uint256) -> uint8:
    """
    @notice The state of a proposal (reverts for an unknown id).
    @param proposal_id The proposal.
    @return uint8 One of PENDING .. EXECUTED.
    """
    return self._state(proposal_id)


@external
@view
def proposalSnapshot(proposal_id: uint256) -> uint256:
    """
    @notice The block whose end the votes are counted at.
    @param proposal_id The proposal.
    @return uint256 The snapshot block.
    """
    return self.proposals[proposal_id].snapshot


@external
@view
def proposalDeadline(proposal_id: uint256) -> uint256:
    """
    @notice The last block of voting, after any late-quorum extension.
    @param proposal_id The proposal.
    @return uint256 The deadline block.
    """
    return self.proposals[proposal_id].deadline


@external
@view
def quorum(timepoint: uint256) -> uint256:
    """
    @notice Votes needed (For + Abstain) at `timepoint` with today's quorum numerator; a
            proposal counts with the numerator of its creation (`proposalQuorum`).
    @param timepoint A past block number.
    @return uint256 The quorum.
    """
    return self._quorum(timepoint, self.quorumNumerator)


@external
@view
def proposalQuorum(proposal_id: uint256) -> uint256:
    """
    @notice Votes (For + Abstain) a proposal needs: its creation-time numerator of the
            past total supply at its snapshot (reverts until the snapshot has passed).
    @param proposal_id The proposal.
    @return uint256 The quorum.
    """
    p: Proposal = self.proposals[proposal_id]
    assert p.snapshot != 0, "Governor: unknown proposal id"
    return self._quorum(p.snapshot, p.quorumNumerator)


@external
@view
def getVotes(account: address, timepoint: uint256) -> uint256:
    """
    @notice Voting power of `account` at block `timepoint`.
    @param account The voter.
    @param timepoint A past block number.
    @return uint256 The votes.
    """
    return staticcall token.getPastVotes(account, timepoint)


@external
def castVote(proposal_id: uint256, support: uint8) -> uint256:
    """
    @notice Votes on an active proposal with the caller's votes at the snapshot.
    @param proposal_id The proposal.
    @param support VOTE_AGAINST (0), VOTE_FOR (1) or VOTE_ABSTAIN (2).
    @return uint256 The weight counted.
    """
    return self._cast_vote(proposal_id, msg.sender, support, "")


@external
def castVoteWithReason(proposal_id: uint256, support: uint8, reason: String[256]) -> uint256:
    """
    @notice Votes with a reason logged on chain.
    @param proposal_id The proposal.
    @param support VOTE_AGAINST (0), VOTE_FOR (1) or VOTE_ABSTAIN (2).
    @param reason The reason.
    @return uint256 The weight counted.
    """
    return self._cast_vote(proposal_id, msg.sender, support, reason)


@external
def castVoteBySig(proposal_id: uint256, support: uint8, voter: address, signature: Bytes[65]) -> uint256:
    """
    @notice Votes for `voter` with its EIP-712 `Ballot(proposalId, support, voter, nonce)` signature.
    @dev The nonce is `nonces(voter)`; it is consumed, so the ballot cannot be replayed.
    @param proposal_id The proposal.
    @param support VOTE_AGAINST (0), VOTE_FOR (1) or VOTE_ABSTAIN (2).
    @param voter The signer.
    @param signature 65-byte r||s||v signature, low-s.
    @return uint256 The weight counted.
    """
    nonce: uint256 = self.nonces[voter]
    digest: bytes32 = eip712_domain_separator._hash_typed_data_v4(
        keccak256(abi_encode(BALLOT_TYPEHASH, proposal_id, support, voter, nonce))
    )
    assert len(signature) == 65, "Governor: bad signature length"
    assert ecdsa._recover_sig(digest, signature) == voter, "Governor: invalid signature"
    self.nonces[voter] = nonce + 1
    return self._cast_vote(proposal_id, voter, support, "")


@external
def queue(
    targets: DynArray[address, MAX_ACTIONS],
    values: DynArray[uint256, MAX_ACTIONS],
    calldatas: DynArray[Bytes[MAX_CALLDATA], MAX_ACTIONS],
    description_hash: bytes32,
) -> uint256:
    """
    @notice Schedules a succeeded proposal in the Timelock. Anyone may call.
    @param targets Call targets.
    @param values Native AZR per call.
    @param calldatas Calldata per call.
    @param description_hash keccak256 of the description.
    @return uint256 The proposal id.
    """
    proposal_id: uint256 = self._hash_proposal(targets, values, calldatas, description_hash)
    assert self._state(proposal_id) == SUCCEEDED, "Governor: proposal not successful"
    delay: uint256 = staticcall timelock.get_minimum_delay()
    eta: uint256 = block.timestamp + delay
    self.proposals[proposal_id].eta = eta
    log ProposalQueued(proposalId=proposal_id, eta=eta)
    extcall timelock.schedule_batch(targets, values, calldatas, empty(bytes32), self._salt(proposal_id), delay)
    return proposal_id


@external
@payable
@nonreentrant
def execute(
    targets: DynArray[address, MAX_ACTIONS],
    values: DynArray[uint256, MAX_ACTIONS],
    calldatas: DynArray[Bytes[MAX_CALLDATA], MAX_ACTIONS],
    description_hash: bytes32,
) -> uint256:
    """
    @notice Has the Timelock execute a queued proposal whose delay passed. Anyone may call.
    @param targets Call targets.
    @param values Native AZR per call.
    @param calldatas Calldata per call.
    @param description_hash keccak256 of the description.
    @return uint256 The proposal id.
    """
    proposal_id: uint256 = self._hash_proposal(targets, values, calldatas, description_hash)
    assert self._state(proposal_id) == QUEUED, "Governor: proposal not queued"
    self.proposals[proposal_id].executed = True
    log ProposalExecuted(proposalId=proposal_id)
    extcall timelock.execute_batch(targets, values, calldatas, empty(bytes32), self._salt(proposal_id), value=msg.value)
    return proposal_id


@external
def cancel(
    targets: DynArray[address, MAX_ACTIONS],
    values: DynArray[uint256, MAX_ACTIONS],
    calldatas: DynArray[Bytes[MAX_CALLDATA], MAX_ACTIONS],
    description_hash: bytes32,
) -> uint256:
    """
    @notice The proposer cancels its proposal while it is Pending.
    @param targets Call targets.
    @param values Native AZR per call.
    @param calldatas Calldata per call.
    @param description_hash keccak256 of the description.
    @return uint256 The proposal id.
    """
    proposal_id: uint256 = self._hash_proposal(targets, values, calldatas, description_hash)
    assert self._state(proposal_id) == PENDING, "Governor: too late to cancel"
    assert msg.sender == self.proposals[proposal_id].proposer, "Governor: only proposer"
    self.proposals[proposal_id].canceled = True
    log ProposalCanceled(proposalId=proposal_id)
    return proposal_id


@external
def setVotingDelay(new_value: uint256):
    """
    @notice Sets the voting delay in blocks (governance only).
    @param new_value The new delay.
    """
    self._only_governance()
    log SettingChanged(setting="votingDelay", oldValue=self.votingDelay, newValue=new_value)
    self.votingDelay = new_value


@external
def setVotingPeriod(new_value: uint256):
    """
    @notice Sets the voting period in blocks (governance only).
    @param new_value The new period, above zero.
    """
    self._only_governance()
    assert new_value > 0, "Governor: zero voting period"
    log SettingChanged(setting="votingPeriod", oldValue=self.votingPeriod, newValue=new_value)
    self.votingPeriod = new_value


@external
def setProposalThreshold(new_value: uint256):
    """
    @notice Sets the votes needed to propose (governance only).
    @param new_value The new threshold.
    """
    self._only_governance()
    log SettingChanged(setting="proposalThreshold", oldValue=self.proposalThreshold, newValue=new_value)
    self.proposalThreshold = new_value


@external
def setQuorumNumerator(new_value: uint256):
    """
    @notice Sets the quorum in basis points of past supply (governance only).
    @param new_value The new numerator, at most 10000.
    """
    self._only_governance()
    assert new_value <= BPS, "Governor: bad quorum"
    log SettingChanged(setting="quorumNumerator", oldValue=self.quorumNumerator, newValue=new_value)
    self.quorumNumerator = new_value


@external
def setLateQuorumExtension(new_value: uint256):
    """
    @notice Sets the late-quorum extension in blocks (governance only).
    @param new_value The new extension.
    """
    self._only_governance()
    log SettingChanged(setting="lateQuorumExtension", oldValue=self.lateQuorumExtension, newValue=new_value)
    self.lateQuorumExtension = new_value


@external
def setGracePeriod(new_value: uint256):
    """
    @notice Sets how long after its ETA a queued proposal stays executable (governance only).
    @param new_value Seconds.
    """
    self._only_governance()
    log SettingChanged(setting="gracePeriod", oldValue=self.gracePeriod, newValue=new_value)
    self.gracePeriod = new_value


@external
def setQueuingPeriod(new_value: uint256):
    """
    @notice Sets how many blocks after its deadline a succeeded proposal may be queued (governance only).
    @param new_value Blocks.
    """
    self._only_governance()
    log SettingChanged(setting="queuingPeriod", oldValue=self.queuingPeriod, newValue=new_value)
    self.queuingPeriod = new_value


@internal
@view
def _only_governance():
    assert msg.sender == timelock.address, "Governor: only governance"


@internal
@pure
def _hash_proposal(
    targets: DynArray[address, MAX_ACTIONS],
    values: DynArray[uint256, MAX_ACTIONS],
    calldatas: DynArray[Bytes[MAX_CALLDATA], MAX_ACTIONS],
    description_hash: bytes32,
) -> uint256:
    return convert(keccak256(abi_encode(targets, values, calldatas, description_hash)), uint256)


@internal
@view
def _salt(proposal_id: uint256) -> bytes32:
    # bound to this governor, so another proposer's operation can never collide
    return keccak256(abi_encode(self, proposal_id))


@internal
@view
def _quorum(timepoint: uint256, numerator: uint256) -> uint256:
    return staticcall token.getPastTotalSupply(timepoint) * numerator // BPS


@internal
@pure
def _is_valid_description_for_proposer(proposer: address, description: String[2_048]) -> bool:
    # OpenZeppelin's rule: "...#proposer=0x<40 hex digits>" restricts who may propose; a
    # shorter description, another ending or a non-hex address is no restriction
    n: uint256 = len(description)
    if n < 52:
        return True
    tail: Bytes[52] = convert(slice(description, n - 52, 52), Bytes[52])
    if slice(tail, 0, 12) != b"#proposer=0x":
        return True
    value: uint256 = 0
    for i: uint256 in range(12, 52):
        c: uint256 = convert(slice(tail, i, 1), uint256)
        digit: uint256 = 0
        if c >= 48 and c <= 57:
            digit = c - 48
        elif c >= 97 and c <= 102:
            digit = c - 87
        elif c >= 65 and c <= 70:
            digit = c - 55
        else:
            return True
        value = value * 16 + digit
    return convert(convert(value, uint160), address) == proposer


@internal
@view
def _state(proposal_id: uint256) -> uint8:
    p: Proposal = self.proposals[proposal_id]
    assert p.snapshot != 0, "Governor: unknown proposal id"
    if p.executed:
        return EXECUTED
    if p.canceled:
        return CANCELED
    if block.number <= p.snapshot:
        return PENDING
    if block.number <= p.deadline:
        return ACTIVE
    if not self._is_succeeded(p):
        return DEFEATED
    if p.eta == 0:
        if block.number > p.deadline + p.queuingPeriod:
            return EXPIRED
        return SUCCEEDED
    if block.timestamp > p.eta + p.gracePeriod:
        return EXPIRED
    return QUEUED


@internal
@view
def _is_succeeded(p: Proposal) -> bool:
    return p.forVotes > p.againstVotes and p.forVotes + p.abstainVotes >= self._quorum(p.snapshot, p.quorumNumerator)


@internal
def _cast_vote(proposal_id: uint256, voter: address, support: uint8, reason: String[256]) -> uint256:
    assert self._state(proposal_id) == ACTIVE, "Governor: vote not currently active"
    assert support <= VOTE_ABSTAIN, "Governor: invalid vote type"
    assert not self.hasVoted[proposal_id][voter], "Governor: vote already cast"
    p: Proposal = self.proposals[proposal_id]
    weight: uint256 = staticcall token.getPastVotes(voter, p.snapshot)
    self.hasVoted[proposal_id][voter] = True
    if support == VOTE_AGAINST:
        p.againstVotes += weight
    elif support == VOTE_FOR:
        p.forVotes += weight
    else:
        p.abstainVotes += weight
    if not p.quorumReached and p.forVotes + p.abstainVotes >= self._quorum(p.snapshot, p.quorumNumerator):
        # late quorum: give the opposition time to react to a last-minute quorum
        p.quorumReached = True
        extended: uint256 = block.number + self.lateQuorumExtension
        if extended > p.deadline:
            p.deadline = extended
            log ProposalExtended(proposalId=proposal_id, extendedDeadline=extended)
    self.proposals[proposal_id] = p
    log VoteCast(voter=voter, proposalId=proposal_id, support=support, weight=weight, reason=reason)
    return weight
