# pragma version 0.4.3
"""
@title Escrow: milestone jobs between a client and a provider, in AZR or an a-token
@custom:contract-name Escrow
@license MIT
@notice A client opens a job with a provider, an ERC-20 (AZR or an a-token) and
        an arbiter (the DAO timelock or an appointed arbiter), then funds
        milestones once the provider has accepted the terms (`acceptJob`):
        an arbiter or periods the provider never saw bind nobody. Every period
        lies in [MIN_PERIOD, MAX_PERIOD] and every deadline check is written as
        `block.timestamp - since >= period`, which cannot overflow. Per milestone:
            CREATED --fund--> FUNDED --submit--> SUBMITTED --approve--> RELEASED
        FUNDED --dispute (client)--> DISPUTED --rule--> RESOLVED
        SUBMITTED --dispute (either party)--> DISPUTED --rule--> RESOLVED
        Every waiting state has a timeout:
        - provider silent: FUNDED past `deliveryPeriod` -> client `refund`s;
        - client silent: SUBMITTED past `reviewPeriod` -> provider `claimTimeout`;
        - arbiter silent: DISPUTED past `arbitrationPeriod` -> either party
          `resolveTimeout`, which restores the status quo: what the milestone's
          own timeout would have done without the dispute (refund if it was
          FUNDED, release if SUBMITTED), and never earlier than that timeout.
          A dispute thus buys its caller nothing but the arbiter's attention.
        Payouts are credited and pulled with `withdraw` (pull payments); every
        state-changing function is non-reentrant, and a token that delivers less
        than asked (fee-on-transfer) is refused.
        The arbiter's `rule(jobId, index, providerShareBps)` follows ERC-792's
        shape: the ruling is the provider's share in basis points.
"""

from ethereum.ercs import IERC20

MAX_MILESTONES: constant(uint256) = 32
BPS: constant(uint256) = 10_000
# @dev Bounds of every period: long enough to react in, short enough that funds never freeze.
MIN_PERIOD: public(constant(uint256)) = 3_600
MAX_PERIOD: public(constant(uint256)) = 366 * 86_400

# milestone states
CREATED: public(constant(uint8)) = 1
FUNDED: public(constant(uint8)) = 2
SUBMITTED: public(constant(uint8)) = 3
RELEASED: public(constant(uint8)) = 4
DISPUTED: public(constant(uint8)) = 5
RESOLVED: public(constant(uint8)) = 6
REFUNDED: public(constant(uint8)) = 7

struct Job:
    client: address
    provider: address
    token: address
    arbiter: address
    deliveryPeriod: uint256
    reviewPeriod: uint256
    arbitrationPeriod: uint256
    milestoneCount: uint256
    accepted: bool

struct Milestone:
    amount: uint256
    state: uint8
    since: uint256
    # @dev While DISPUTED: the state and `since` the dispute interrupted.
    disputedFrom: uint8
    disputedSince: uint256

event JobCreated:
    jobId: indexed(uint256)
    client: indexed(address)
    provider: indexed(address)
    token: address
    arbiter: address

event JobAccepted:
    jobId: indexed(uint256)
    provider: indexed(address)
    arbiter: address
    deliveryPeriod: uint256
    reviewPeriod: uint256
    arbitrationPeriod: uint256

event MilestoneAdded:
    jobId: indexed(uint256)
    index: uint256
    amount: uint256

event MilestoneStateChanged:
    jobId: indexed(uint256)
    index: uint256
    state: uint8

event Ruling:
    jobId: indexed(uint256)
    index: uint256
    arbiter: indexed(address)
    providerShareBps: uint256

event Withdrawn:
    token: indexed(address)
    account: indexed(address)
    amount: uint256

jobCount: public(uint256)
jobs: public(HashMap[uint256, Job])
milestones: public(HashMap[uint256, HashMap[uint256, Milestone]])
# @dev token -> account -> payout waiting to be withdrawn.
credits: public(HashMap[address, HashMap[address, uint256]])
# @dev token -> amount held for funded milestones not yet paid out.
locked: public(HashMap[address, uint256])
# @dev token -> sum of `credits` (so balance == locked + owed).
owed: public(HashMap[address, uint256])


@deploy
def __init__():
    """
    @notice Deploys the escrow; it has no admin (disputes go to each job's arbiter).
    """
    pass


@external
@nonreentrant
def createJob(
    provider: address,
    token: address,
    arbiter: address,
    amounts: DynArray[uint256, MAX_MILESTONES],
    delivery_period: uint256,
    review_period: uint256,
    arbitration_period: uint256,
) -> uint256:
    """
    @notice Opens a job with the caller as client.
    @param provider The provider.
    @param token The ERC-20 paid in (AZR or an a-token).
    @param arbiter Who rules disputes (the DAO timelock or an appointed arbiter).
    @param amounts The milestone amounts, each above zero.
    @param delivery_period Seconds the provider has to submit a funded milestone.
    @param review_period Seconds the client has to approve a submitted milestone.
    @param arbitration_period Seconds the arbiter has to rule.
    @dev Every period in [MIN_PERIOD, MAX_PERIOD]. Nothing is fundable until the
         provider `acceptJob`s these terms.
    @return uint256 The job id.
    """
    assert provider != empty(address) and provider != msg.sender, "Escrow: bad provider"
    assert token.is_contract, "Escrow: token not a contract"
    assert arbiter != empty(address), "Escrow: zero arbiter"
    assert arbiter != msg.sender and arbiter != provider, "Escrow: arbiter is a party"
    assert self._period_ok(delivery_period), "Escrow: bad period"
    assert self._period_ok(review_period), "Escrow: bad period"
    assert self._period_ok(arbitration_period), "Escrow: bad period"
    job_id: uint256 = self.jobCount + 1
    self.jobCount = job_id
    self.jobs[job_id] = Job(
        client=msg.sender,
        provider=provider,
        token=token,
        arbiter=arbiter,
        deliveryPeriod=delivery_period,
        reviewPeriod=review_period,
        arbitrationPeriod=arbitration_period,
        milestoneCount=0,
        accepted=False,
    )
    log JobCreated(jobId=job_id, client=msg.sender, provider=provider, token=token, arbiter=arbiter)
    for amount: uint256 in amounts:
        self._add_milestone(job_id, amount)
    return job_id


@external
@nonreentrant
def acceptJob(job_id: uint256):
    """
    @notice The provider accepts the job's terms (arbiter, token, periods), which are
            fixed at creation; only then can the client fund milestones.
    @param job_id The job.
    """
    job: Job = self.jobs[job_id]
    assert msg.sender == job.provider, "Escrow: not provider"
    assert not job.accepted, "Escrow: already accepted"
    self.jobs[job_id].accepted = True
    log JobAccepted(
        jobId=job_id, provider=msg.sender, arbiter=job.arbiter, deliveryPeriod=job.deliveryPeriod,
        reviewPeriod=job.reviewPeriod, arbitrationPeriod=job.arbitrationPeriod,
    )


@external
@nonreentrant
def addMilestone(job_id: uint256, amount: uint256) -> uint256:
    """
    @notice Adds a milestone to a job (client only).
    @param job_id The job.
    @param amount Its amount, above zero.
    @return uint256 The milestone index.
    """
    assert msg.sender == self.jobs[job_id].client, "Escrow: not client"
    return self._add_milestone(job_id, amount)


@external
@nonreentrant
def fund(job_id: uint256, index: uint256):
    """
    @notice Pays a milestone's amount into escrow (client only, once the provider
            accepted the job; needs allowance).
    @param job_id The job.
    @param index The milestone.
    """
    job: Job = self.jobs[job_id]
    assert msg.sender == job.client, "Escrow: not client"
    assert job.accepted, "Escrow: not accepted"
    milestone: Milestone = self._milestone_in(job_id, index, CREATED)
    self._set_state(job_id, index, FUNDED)
    self.locked[job.token] += milestone.amount
    token: IERC20 = IERC20(job.token)
    before: uint256 = staticcall token.balanceOf(self)
    assert extcall token.transferFrom(msg.sender, self, milestone.amount, default_return_value=True), "Escrow: transfer failed"
    received: uint256 = staticcall token.balanceOf(self) - before
    assert received == milestone.amount, "Escrow: fee-on-transfer token"


@external
@nonreentrant
def submit(job_id: uint256, index: uint256):
    """
    @notice Marks a funded milestone delivered (provider only).
    @param job_id The job.
    @param index The milestone.
    """
    assert msg.sender == self.jobs[job_id].provider, "Escrow: not provider"
    self._milestone_in(job_id, index, FUNDED)
    self._set_state(job_id, index, SUBMITTED)


@external
@nonreentrant
def approve(job_id: uint256, index: uint256):
    """
    @notice Accepts a milestone (funded or submitted) and releases it to the provider (client only).
    @param job_id The job.
    @param index The milestone.
    """
    job: Job = self.jobs[job_id]
    assert msg.sender == job.client, "Escrow: not client"
    state: uint8 = self.milestones[job_id][index].state
    assert state == FUNDED or state == SUBMITTED, "Escrow: not releasable"
    self._set_state(job_id, index, RELEASED)
    self._payout(job, self.milestones[job_id][index].amount, BPS)


@external
@nonreentrant
def claimTimeout(job_id: uint256, index: uint256):
    """
    @notice Releases a submitted milestone the client left unreviewed past `reviewPeriod` (provider only).
    @param job_id The job.
    @param index The milestone.
    """
    job: Job = self.jobs[job_id]
    assert msg.sender == job.provider, "Escrow: not provider"
    milestone: Milestone = self._milestone_in(job_id, index, SUBMITTED)
    assert self._elapsed(milestone.since, job.reviewPeriod), "Escrow: review period running"
    self._set_state(job_id, index, RELEASED)
    self._payout(job, milestone.amount, BPS)


@external
@nonreentrant
def refund(job_id: uint256, index: uint256):
    """
    @notice Refunds a funded milestone the provider left undelivered past `deliveryPeriod` (client only).
    @param job_id The job.
    @param index The milestone.
    """
    job: Job = self.jobs[job_id]
    assert msg.sender == job.client, "Escrow: not client"
    milestone: Milestone = self._milestone_in(job_id, index, FUNDED)
    assert self._elapsed(milestone.since, job.deliveryPeriod), "Escrow: delivery period running"
    self._set_state(job_id, index, REFUNDED)
    self._payout(job, milestone.amount, 0)


@external
@nonreentrant
def dispute(job_id: uint256, index: uint256):
    """
    @notice Sends a milestone to the arbiter: the client a funded or submitted one,
            the provider only one it submitted.
    @dev A provider that never delivered has nothing to argue: letting it dispute a
         FUNDED milestone would block the client's refund behind the arbiter.
    @param job_id The job.
    @param index The milestone.
    """
    job: Job = self.jobs[job_id]
    assert msg.sender == job.client or msg.sender == job.provider, "Escrow: not a party"
    milestone: Milestone = self.milestones[job_id][index]
    assert milestone.state == FUNDED or milestone.state == SUBMITTED, "Escrow: not disputable"
    if msg.sender == job.provider:
        assert milestone.state == SUBMITTED, "Escrow: provider disputes only a submission"
    self.milestones[job_id][index].disputedFrom = milestone.state
    self.milestones[job_id][index].disputedSince = milestone.since
    self._set_state(job_id, index, DISPUTED)


@external
@nonreentrant
def rule(job_id: uint256, index: uint256, provider_share_bps: uint256):
    """
    @notice The arbiter splits a disputed milestone (arbiter only).
    @param job_id The job.
    @param index The milestone.
    @param provider_share_bps The provider's share in basis points; the client gets the rest.
    """
    job: Job = self.jobs[job_id]
    assert msg.sender == job.arbiter, "Escrow: not arbiter"
    assert provider_share_bps <= BPS, "Escrow: bad share"
    milestone: Milestone = self._milestone_in(job_id, index, DISPUTED)
    self._set_state(job_id, index, RESOLVED)
    log Ruling(jobId=job_id, index=index, arbiter=msg.sender, providerShareBps=provider_share_bps)
    self._payout(job, milestone.amount, provider_share_bps)


@external
@nonreentrant
def resolveTimeout(job_id: uint256, index: uint256):
    """
    @notice Ends a dispute the arbiter left unruled past `arbitrationPeriod` (either party)
            with the status quo: a disputed FUNDED milestone is refunded once its
            delivery period is over too, a disputed SUBMITTED one is released once its
            review period is over too.
    @dev An even split would pay a party for disputing; the status quo pays what the
         undisputed timeout would have paid, so a silent arbiter changes nothing.
    @param job_id The job.
    @param index The milestone.
    """
    job: Job = self.jobs[job_id]
    assert msg.sender == job.client or msg.sender == job.provider, "Escrow: not a party"
    milestone: Milestone = self._milestone_in(job_id, index, DISPUTED)
    assert self._elapsed(milestone.since, job.arbitrationPeriod), "Escrow: arbitration period running"
    share: uint256 = 0
    if milestone.disputedFrom == FUNDED:
        assert self._elapsed(milestone.disputedSince, job.deliveryPeriod), "Escrow: delivery period running"
    else:
        assert self._elapsed(milestone.disputedSince, job.reviewPeriod), "Escrow: review period running"
        share = BPS
    self._set_state(job_id, index, RESOLVED)
    self._payout(job, milestone.amount, share)


@external
@nonreentrant
def withdraw(token: address) -> uint256:
    """
    @notice Pulls the caller's credited payouts in `token`.
    @param token The ERC-20.
    @return uint256 The amount sent.
    """
    amount: uint256 = self.credits[token][msg.sender]
    assert amount > 0, "Escrow: nothing to withdraw"
    self.credits[token][msg.sender] = 0
    self.owed[token] -= amount
    log Withdrawn(token=token, account=msg.sender, amount=amount)
    assert extcall IERC20(token).transfer(msg.sender, amount, default_return_value=True), "Escrow: transfer failed"
    return amount


@internal
def _add_milestone(job_id: uint256, amount: uint256) -> uint256:
    assert amount > 0, "Escrow: zero amount"
    index: uint256 = self.jobs[job_id].milestoneCount
    assert index < MAX_MILESTONES, "Escrow: too many milestones"
    self.jobs[job_id].milestoneCount = index + 1
    self.milestones[job_id][index] = Milestone(
        amount=amount, state=CREATED, since=block.timestamp, disputedFrom=0, disputedSince=0
    )
    log MilestoneAdded(jobId=job_id, index=index, amount=amount)
    return index


@internal
@view
def _milestone_in(job_id: uint256, index: uint256, state: uint8) -> Milestone:
    milestone: Milestone = self.milestones[job_id][index]
    assert milestone.state == state, "Escrow: wrong milestone state"
    return milestone


@internal
@pure
def _period_ok(period: uint256) -> bool:
    return period >= MIN_PERIOD and period <= MAX_PERIOD


@internal
@view
def _elapsed(since: uint256, period: uint256) -> bool:
    # `since` is a past block time, so the subtraction cannot underflow and nothing is added
    return block.timestamp - since >= period


@internal
@pure
def _share_of(amount: uint256, share_bps: uint256) -> uint256:
    # amount * share_bps // BPS without the product: exact, and no overflow for any amount
    return amount // BPS * share_bps + amount % BPS * share_bps // BPS


@internal
def _set_state(job_id: uint256, index: uint256, state: uint8):
    self.milestones[job_id][index].state = state
    self.milestones[job_id][index].since = block.timestamp
    log MilestoneStateChanged(jobId=job_id, index=index, state=state)


@internal
def _payout(job: Job, amount: uint256, provider_share_bps: uint256):
    # credit, never push: a party whose token hook reverts cannot block the other
    to_provider: uint256 = self._share_of(amount, provider_share_bps)
    to_client: uint256 = amount - to_provider
    self.locked[job.token] -= amount
    self.owed[job.token] += amount
    self.credits[job.token][job.provider] += to_provider
    self.credits[job.token][job.client] += to_client
