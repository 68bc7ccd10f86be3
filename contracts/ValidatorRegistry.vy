# pragma version 0.4.3
"""
@title ValidatorRegistry: who validates Azora, with bonds, credentials and slashing
@custom:contract-name ValidatorRegistry
@license MIT
@notice Candidates register with at least `minimumBond` AZR (the ERC-20
        `AZR` token) and a validator credential (a soulbound `Credentials`
        token for the validator course: the proof of knowledge) whose issuer
        the registry trusts and the DAO has not disqualified.
        `activeValidators()` is what consensus reads at each epoch boundary:
        eligible candidates (bond >= `minimumBond`, credential valid, trusted,
        held by the candidate and for `validatorCourseId`, not jailed), the top
        `maxValidators` by bond (ties: lower address first), power = bond.
        Anyone may `prune` a candidate that lost its bond or credential, so
        the bounded candidate list cannot be held by the ineligible.
        Unbonding waits `unbondingDelay` seconds and stays slashable meanwhile.
        The registry keeps each validator set consensus used, from the height
        it signed (`recordGenesisSet` at deployment, then `recordValidatorSet`
        by the node's system call at the first block of every epoch).
        `reportEquivocation` verifies two signed conflicting consensus votes on
        chain by a member of that height's set, not older than the unbonding
        delay; it sends `slashFractionBps` of bond + unbonding to the
        treasury, takes the reporter's `reporterShareBps` of that on top (so
        a validator reporting itself from a second wallet still loses the
        whole slash fraction) and jails the validator for `jailDuration`
        seconds. One slash per jailing: evidence from sets that started before
        the jail ended belongs to the punished incident. Parameters: owner
        (the DAO timelock) only.
        The validator reward reserve (native AZR) also lives here: once per
        epoch the node's system caller `distributeRewards` with the blocks each
        validator signed; validators `claimRewards` (pull payment).

        Consensus vote signatures (fixed for the whole project):
          secp256k1, 65 bytes r||s||v with v in {27, 28} and s <= n/2, over the
          EIP-712 digest keccak256(0x1901 || domainSeparator || structHash)
          domain:   EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)
                    name "Azora Consensus", version "1", the chain id, this registry's address
          struct:   Vote(uint8 voteType,uint64 height,uint32 round,bytes32 blockHash)
                    voteType 1 = prevote, 2 = precommit; a nil vote has blockHash 0x00..00
          conflict: same signer, voteType, height and round; different blockHash.
"""

from ethereum.ercs import IERC20

from snekmate.auth import ownable
initializes: ownable

from snekmate.utils import ecdsa
from snekmate.utils import eip712_domain_separator
initializes: eip712_domain_separator

exports: (ownable.owner, ownable.transfer_ownership, eip712_domain_separator.eip712Domain)

from .interfaces import ICredentials

MAX_CANDIDATES: constant(uint256) = 128
MAX_VALIDATORS: constant(uint256) = 100
BPS: constant(uint256) = 10_000
_CREDENTIAL_VALID: constant(uint8) = 1
VOTE_TYPEHASH: public(constant(bytes32)) = keccak256(
    "Vote(uint8 voteType,uint64 height,uint32 round,bytes32 blockHash)"
)
PREVOTE: public(constant(uint8)) = 1
PRECOMMIT: public(constant(uint8)) = 2

struct Vote:
    voteType: uint8
    height: uint64
    round: uint32
    blockHash: bytes32

struct Candidate:
    registered: bool
    credentialId: uint256
    bond: uint256
    unbonding: uint256
    unbondingReleaseAt: uint256
    jailedUntil: uint256
    # end of the jail of the last slash: evidence from sets started before it is that incident
    punishedUntil: uint256

struct ValidatorSetRecord:
    fromHeight: uint256
    startedAt: uint256

event Registered:
    validator: indexed(address)
    credentialId: uint256

event Left:
    validator: indexed(address)

event Pruned:
    validator: indexed(address)
    pruner: indexed(address)

event IssuerTrustChanged:
    issuer: indexed(address)
    trusted: bool

event CredentialDisqualified:
    credentialId: indexed(uint256)
    disqualified: bool

event ValidatorSetRecorded:
    index: indexed(uint256)
    fromHeight: uint256
    size: uint256

event Bonded:
    validator: indexed(address)
    payer: indexed(address)
    amount: uint256

event Unbonded:
    validator: indexed(address)
    amount: uint256
    releaseAt: uint256

event UnbondedWithdrawn:
    validator: indexed(address)
    amount: uint256

event Equivocation:
    validator: indexed(address)
    reporter: indexed(address)
    height: uint64
    round: uint32
    voteType: uint8
    slashed: uint256
    reporterReward: uint256

event Jailed:
    validator: indexed(address)
    until: uint256

event RewardsDistributed:
    epoch: indexed(uint256)
    amount: uint256

event RewardsClaimed:
    validator: indexed(address)
    amount: uint256

event ParametersChanged:
    minimumBond: uint256
    maxValidators: uint256
    unbondingDelay: uint256
    slashFractionBps: uint256
    reporterShareBps: uint256
    jailDuration: uint256

token: public(immutable(IERC20))
credentials: public(immutable(ICredentials))
# @dev Receives the slashed amount minus the reporter's share (the DAO timelock).
treasury: public(immutable(address))

validatorCourseId: public(bytes32)
minimumBond: public(uint256)
maxValidators: public(uint256)
unbondingDelay: public(uint256)
slashFractionBps: public(uint256)
reporterShareBps: public(uint256)
jailDuration: public(uint256)

candidates: public(HashMap[address, Candidate])
candidateList: public(DynArray[address, MAX_CANDIDATES])
# @dev keccak(validator, voteType, height, round) -> already punished.
evidenceUsed: public(HashMap[bytes32, bool])
# @dev Issuers whose validator credentials count (the DAO decides; the Timelock at genesis).
trustedIssuer: public(HashMap[address, bool])
# @dev Credentials the DAO disqualified, whoever issued them.
disqualified: public(HashMap[uint256, bool])
# @dev The validator sets consensus used, in order of `fromHeight`, and their members.
validatorSetCount: public(uint256)
validatorSets: public(HashMap[uint256, ValidatorSetRecord])
inValidatorSet: public(HashMap[uint256, HashMap[address, bool]])

# @dev The only caller of `distributeRewards`: the node's system-call address (as Prague's
# EIP-2935/7002 system calls), so rewards follow the commit certificates every node holds.
systemCaller: public(immutable(address))
# @dev Native AZR paid out per epoch from the validator reward reserve.
rewardPerEpoch: public(uint256)
# @dev Next epoch `distributeRewards` accepts (epochs are paid once, in order).
nextRewardEpoch: public(uint256)
# @dev Rewards credited to validators and not yet claimed.
rewards: public(HashMap[address, uint256])
totalRewardsOwed: public(uint256)


@deploy
@payable
def __init__(
    token_: address,
    credentials_: address,
    treasury_: address,
    validator_course_id_: bytes32,
    minimum_bond_: uint256,
    max_validators_: uint256,
    unbonding_delay_: uint256,
    slash_fraction_bps_: uint256,
    reporter_share_bps_: uint256,
    jail_duration_: uint256,
    system_caller_: address,
    reward_per_epoch_: uint256,
):
    """
    @notice Deploys the registry; the deployer owns it until ownership moves to the DAO.
    @param token_ The AZR token bonds are paid in.
    @param credentials_ The Credentials contract.
    @param treasury_ Receiver of slashed funds (the timelock).
    @param validator_course_id_ The course whose credential a validator needs.
    @param minimum_bond_ Least bond to be eligible.
    @param max_validators_ Largest active set, 1..100.
    @param unbonding_delay_ Seconds unbonded AZR stays locked (and slashable).
    @param slash_fraction_bps_ Share of bond + unbonding slashed per equivocation.
    @param reporter_share_bps_ Share of the slashed amount paid to the reporter.
    @param jail_duration_ Seconds an equivocator is jailed.
    @param system_caller_ The node's system-call address allowed to distribute rewards.
    @param reward_per_epoch_ Native AZR paid to the validators per epoch.
    `msg.value` seeds the validator reward reserve.
    """
    assert token_ != empty(address) and credentials_ != empty(address), "ValidatorRegistry: zero address"
    assert treasury_ != empty(address), "ValidatorRegistry: zero treasury"
    ownable.__init__()
    eip712_domain_separator.__init__("Azora Consensus", "1")
    token = IERC20(token_)
    credentials = ICredentials(credentials_)
    treasury = treasury_
    systemCaller = system_caller_
    self.rewardPerEpoch = reward_per_epoch_
    self.validatorCourseId = validator_course_id_
    self._set_parameters(
        minimum_bond_, max_validators_, unbonding_delay_, slash_fraction_bps_,
        reporter_share_bps_, jail_duration_
    )


@external
@nonreentrant
def register(credential_id: uint256, amount: uint256):
    """
    @notice Registers the caller as a candidate with its validator credential and a first
            bond of at least `minimumBond` AZR (needs allowance).
    @param credential_id The caller's validator credential.
    @param amount The bond, at least `minimumBond`.
    """
    self._register(msg.sender, credential_id, amount)


@external
@nonreentrant
def registerFor(validator: address, credential_id: uint256, amount: uint256):
    """
    @notice Registers `validator` with `amount` of the caller's AZR as its bond (owner only:
            the genesis builder, then the DAO).
    @param validator The candidate's signing address.
    @param credential_id Its validator credential.
    @param amount The bond, at least `minimumBond`.
    """
    ownable._check_owner()
    self._register(validator, credential_id, amount)


@external
def prune(validator: address):
    """
    @notice Removes a candidate whose bond fell below `minimumBond` or whose credential no
            longer counts, freeing its slot in the bounded candidate list. Anyone may call.
    @dev A jail alone is no reason: it ends. The bond starts unbonding (still slashable).
    @param validator The candidate.
    """
    candidate: Candidate = self.candidates[validator]
    assert candidate.registered, "ValidatorRegistry: not registered"
    assert not self._has_lasting_eligibility(validator, candidate), "ValidatorRegistry: still eligible"
    if candidate.bond > 0:
        release_at: uint256 = block.timestamp + self.unbondingDelay
        self.candidates[validator].unbonding = candidate.unbonding + candidate.bond
        self.candidates[validator].bond = 0
        self.candidates[validator].unbondingReleaseAt = release_at
        log Unbonded(validator=validator, amount=candidate.bond, releaseAt=release_at)
    self._remove_candidate(validator)
    log Pruned(validator=validator, pruner=msg.sender)


@external
def setIssuerTrust(issuer: address, trusted: bool):
    """
    @notice Trusts (or stops trusting) `issuer`'s validator credentials (owner only).
    @param issuer A credential issuer.
    @param trusted Whether its credentials count.
    """
    ownable._check_owner()
    self.trustedIssuer[issuer] = trusted
    log IssuerTrustChanged(issuer=issuer, trusted=trusted)


@external
def disqualifyCredential(credential_id: uint256, disqualified: bool):
    """
    @notice Stops (or restores) one validator credential counting, whoever issued it (owner only).
    @param credential_id The credential.
    @param disqualified Whether it is disqualified.
    """
    ownable._check_owner()
    self.disqualified[credential_id] = disqualified
    log CredentialDisqualified(credentialId=credential_id, disqualified=disqualified)


@external
def recordGenesisSet():
    """
    @notice Records today's active set as the set that signs from height 1 (owner only, once,
            before any other set: the genesis builder's last registry step).
    """
    ownable._check_owner()
    assert self.validatorSetCount == 0, "ValidatorRegistry: set already recorded"
    validators: DynArray[address, MAX_VALIDATORS] = []
    powers: DynArray[uint256, MAX_VALIDATORS] = []
    validators, powers = self._active_validators()
    self._record_set(validators, 1)


@external
def recordValidatorSet(validators: DynArray[address, MAX_VALIDATORS]):
    """
    @notice Records the set consensus uses from this block on (system caller only, at the
            first block of every epoch).
    @param validators The set's signing addresses.
    """
    assert msg.sender == systemCaller, "ValidatorRegistry: not system caller"
    self._record_set(validators, block.number)


@external
def setCredential(credential_id: uint256):
    """
    @notice Points the caller's candidacy at another credential (e.g. after a re-issue).
    @param credential_id A validator credential the caller holds.
    """
    assert self.candidates[msg.sender].registered, "ValidatorRegistry: not registered"
    self._check_credential(msg.sender, credential_id)
    self.candidates[msg.sender].credentialId = credential_id
    log Registered(validator=msg.sender, credentialId=credential_id)


@external
def leave():
    """
    @notice Removes the caller's candidacy once nothing is bonded or unbonding, freeing
            its slot in the bounded candidate list.
    """
    candidate: Candidate = self.candidates[msg.sender]
    assert candidate.registered, "ValidatorRegistry: not registered"
    assert candidate.bond == 0 and candidate.unbonding == 0, "ValidatorRegistry: still bonded"
    # a jailed validator stays listed until its jail ends, so leaving cannot wipe the record
    assert block.timestamp >= candidate.jailedUntil, "ValidatorRegistry: jailed"
    self._remove_candidate(msg.sender)
    log Left(validator=msg.sender)


@external
@nonreentrant
def bond(amount: uint256):
    """
    @notice Adds `amount` AZR (needs allowance) to the caller's bond.
    @param amount The amount.
    """
    self._bond(msg.sender, amount)


@external
@nonreentrant
def bondFor(validator: address, amount: uint256):
    """
    @notice Adds `amount` of the caller's AZR to `validator`'s bond.
    @param validator A registered candidate.
    @param amount The amount.
    """
    self._bond(validator, amount)


@external
@nonreentrant
def unbond(amount: uint256):
    """
    @notice Starts unbonding `amount`; it stays slashable for `unbondingDelay` seconds.
    @dev A new unbond restarts the delay for the whole unbonding amount.
    @param amount The amount.
    """
    candidate: Candidate = self.candidates[msg.sender]
    assert amount > 0 and amount <= candidate.bond, "ValidatorRegistry: bad amount"
    release_at: uint256 = block.timestamp + self.unbondingDelay
    self.candidates[msg.sender].bond = candidate.bond - amount
    self.candidates[msg.sender].unbonding = candidate.unbonding + amount
    self.candidates[msg.sender].unbondingReleaseAt = release_at
    log Unbonded(validator=msg.sender, amount=amount, releaseAt=release_at)


@external
@nonreentrant
def withdrawUnbonded() -> uint256:
    """
    @notice Returns the caller's unbonded AZR once the delay has passed.
    @return uint256 The amount returned.
    """
    candidate: Candidate = self.candidates[msg.sender]
    assert candidate.unbonding > 0, "ValidatorRegistry: nothing unbonding"
    assert block.timestamp >= candidate.unbondingReleaseAt, "ValidatorRegistry: still unbonding"
    self.candidates[msg.sender].unbonding = 0
    log UnbondedWithdrawn(validator=msg.sender, amount=candidate.unbonding)
    assert extcall token.transfer(msg.sender, candidate.unbonding), "ValidatorRegistry: transfer failed"
    return candidate.unbonding


@external
@nonreentrant
def reportEquivocation(vote_a: Vote, signature_a: Bytes[65], vote_b: Vote, signature_b: Bytes[65]) -> uint256:
    """
    @notice Punishes a validator that signed two conflicting votes; pays the caller a share.
    @param vote_a The first vote.
    @param signature_a Its signature.
    @param vote_b The conflicting vote.
    @param signature_b Its signature.
    @return uint256 The amount slashed.
    """
    assert vote_a.voteType == PREVOTE or vote_a.voteType == PRECOMMIT, "ValidatorRegistry: bad vote type"
    assert vote_a.voteType == vote_b.voteType, "ValidatorRegistry: votes do not conflict"
    assert vote_a.height == vote_b.height and vote_a.round == vote_b.round, "ValidatorRegistry: votes do not conflict"
    assert vote_a.blockHash != vote_b.blockHash, "ValidatorRegistry: votes do not conflict"
    signer: address = self._recover(vote_a, signature_a)
    assert self._recover(vote_b, signature_b) == signer, "ValidatorRegistry: different signers"
    # the reporter share is taken on top of the slash, so self-reporting gains nothing; the
    # signing key itself is still refused as reporter
    assert msg.sender != signer, "ValidatorRegistry: self-report"
    key: bytes32 = keccak256(abi_encode(signer, vote_a.voteType, vote_a.height, vote_a.round))
    assert not self.evidenceUsed[key], "ValidatorRegistry: evidence already used"
    sets: uint256 = self._sets_up_to(convert(vote_a.height, uint256))
    assert sets > 0, "ValidatorRegistry: no validator set at that height"
    record: ValidatorSetRecord = self.validatorSets[sets - 1]
    assert self.inValidatorSet[sets - 1][signer], "ValidatorRegistry: not a validator at that height"
    # record.startedAt is no later than the offence: evidence younger than the unbonding delay
    # finds the stake bonded at the offence still here
    assert block.timestamp < record.startedAt + self.unbondingDelay, "ValidatorRegistry: evidence too old"
    # one slash per jailing: the validator kept signing until its set changed
    assert record.startedAt >= self.candidates[signer].punishedUntil, "ValidatorRegistry: incident already punished"
    self.evidenceUsed[key] = True
    return self._slash_and_jail(signer, vote_a)


@external
@payable
def __default__():
    """
    @notice Native AZR sent here joins the validator reward reserve.
    """
    assert len(msg.data) == 0, "ValidatorRegistry: unknown function"


@external
def distributeRewards(epoch: uint256, validators: DynArray[address, MAX_VALIDATORS], blocks_signed: DynArray[uint256, MAX_VALIDATORS]):
    """
    @notice Credits an epoch's reward to its validators in proportion to blocks signed
            (system caller only, once per epoch, epochs in order).
    @dev The node computes `blocks_signed` from the epoch's commit certificates, identically
         on every node, and calls this at the first block of the next epoch. The amount is
         `rewardPerEpoch`, or what the reserve still holds if less.
    @param epoch The epoch paid, equal to `nextRewardEpoch`.
    @param validators The epoch's validators.
    @param blocks_signed Blocks each signed (a precommit in the canonical commit).
    """
    assert msg.sender == systemCaller, "ValidatorRegistry: not system caller"
    assert epoch == self.nextRewardEpoch, "ValidatorRegistry: wrong epoch"
    assert len(validators) == len(blocks_signed), "ValidatorRegistry: length mismatch"
    self.nextRewardEpoch = epoch + 1
    total_signed: uint256 = 0
    for signed: uint256 in blocks_signed:
        total_signed += signed
    amount: uint256 = min(self.rewardPerEpoch, self._reward_reserve())
    if total_signed == 0 or amount == 0:
        log RewardsDistributed(epoch=epoch, amount=0)
        return
    paid: uint256 = 0
    for i: uint256 in range(len(validators), bound=MAX_VALIDATORS):
        share: uint256 = amount * blocks_signed[i] // total_signed
        self.rewards[validators[i]] += share
        paid += share
    self.totalRewardsOwed += paid
    log RewardsDistributed(epoch=epoch, amount=paid)


@external
@nonreentrant
def claimRewards(validator: address) -> uint256:
    """
    @notice Pays `validator` its credited rewards in native AZR. Anyone may call.
    @param validator The validator.
    @return uint256 The amount paid.
    """
    amount: uint256 = self.rewards[validator]
    assert amount > 0, "ValidatorRegistry: nothing to claim"
    self.rewards[validator] = 0
    self.totalRewardsOwed -= amount
    log RewardsClaimed(validator=validator, amount=amount)
    raw_call(validator, b"", value=amount)
    return amount


@external
def setRewardPerEpoch(amount: uint256):
    """
    @notice Sets the native AZR paid per epoch (owner, i.e. the DAO, only).
    @param amount The reward.
    """
    ownable._check_owner()
    self.rewardPerEpoch = amount


@external
@view
def rewardReserve() -> uint256:
    """
    @notice Native AZR left for future validator rewards.
    @return uint256 Balance minus credited, unclaimed rewards.
    """
    return self._reward_reserve()


@external
def jail(validator: address, duration: uint256):
    """
    @notice Jails a candidate for `duration` seconds without slashing (owner only).
    @param validator The candidate.
    @param duration Seconds.
    """
    ownable._check_owner()
    assert self.candidates[validator].registered, "ValidatorRegistry: not registered"
    until: uint256 = block.timestamp + duration
    self.candidates[validator].jailedUntil = until
    log Jailed(validator=validator, until=until)


@external
def unjail(validator: address):
    """
    @notice Lifts a jail early (owner only); jails also simply expire.
    @param validator The candidate.
    """
    ownable._check_owner()
    self.candidates[validator].jailedUntil = 0
    # offences in sets that start from now on are a new incident
    self.candidates[validator].punishedUntil = min(self.candidates[validator].punishedUntil, block.timestamp)
    log Jailed(validator=validator, until=0)


@external
def setParameters(
    minimum_bond: uint256,
    max_validators: uint256,
    unbonding_delay: uint256,
    slash_fraction_bps: uint256,
    reporter_share_bps: uint256,
    jail_duration: uint256,
):
    """
    @notice Sets the registry parameters (owner, i.e. the DAO, only).
    @param minimum_bond Least bond to be eligible.
    @param max_validators Largest active set, 1..100.
    @param unbonding_delay Seconds unbonded AZR stays locked.
    @param slash_fraction_bps Share of bond + unbonding slashed per equivocation.
    @param reporter_share_bps Share of the slashed amount paid to the reporter.
    @param jail_duration Seconds an equivocator is jailed.
    """
    ownable._check_owner()
    self._set_parameters(
        minimum_bond, max_validators, unbonding_delay, slash_fraction_bps, reporter_share_bps, jail_duration
    )


@external
def setValidatorCourse(course_id: bytes32):
    """
    @notice Sets the course whose credential validators need (owner only).
    @param course_id The course id.
    """
    ownable._check_owner()
    self.validatorCourseId = course_id


@external
@view
def hashVote(vote: Vote) -> bytes32:
    """
    @notice The EIP-712 digest a validator signs for `vote`.
    @param vote The vote.
    @return bytes32 The digest.
    """
    return self._vote_digest(vote)


@external
@view
def isEligible(validator: address) -> bool:
    """
    @notice Whether `validator` may be in the active set now.
    @param validator The candidate.
    @return bool Eligibility.
    """
    return self._is_eligible(validator)


@external
@view
def candidateCount() -> uint256:
    """
    @notice Number of registered candidates.
    @return uint256 The count.
    """
    return len(self.candidateList)


@external
@view
def activeValidators() -> (DynArray[address, MAX_VALIDATORS], DynArray[uint256, MAX_VALIDATORS]):
    """
    @notice The active set: eligible candidates, top `maxValidators` by bond (ties by
            ascending address), in that order, with power = bond.
    @return DynArray The validators' signing addresses.
    @return DynArray Their voting powers.
    """
    return self._active_validators()


@internal
@view
def _active_validators() -> (DynArray[address, MAX_VALIDATORS], DynArray[uint256, MAX_VALIDATORS]):
    pool: DynArray[address, MAX_CANDIDATES] = []
    bonds: DynArray[uint256, MAX_CANDIDATES] = []
    for candidate: address in self.candidateList:
        if self._is_eligible(candidate):
            pool.append(candidate)
            bonds.append(self.candidates[candidate].bond)
    validators: DynArray[address, MAX_VALIDATORS] = []
    powers: DynArray[uint256, MAX_VALIDATORS] = []
    count: uint256 = min(self.maxValidators, len(pool))
    taken: DynArray[bool, MAX_CANDIDATES] = []
    for _: address in pool:
        taken.append(False)
    # selection of the best remaining candidate, `count` times: deterministic and bounded
    for _: uint256 in range(count, bound=MAX_VALIDATORS):
        best: uint256 = max_value(uint256)
        for j: uint256 in range(len(pool), bound=MAX_CANDIDATES):
            if taken[j]:
                continue
            if best == max_value(uint256) or self._ranks_before(pool[j], bonds[j], pool[best], bonds[best]):
                best = j
        taken[best] = True
        validators.append(pool[best])
        powers.append(bonds[best])
    return validators, powers


@internal
@view
def _reward_reserve() -> uint256:
    return self.balance - self.totalRewardsOwed


@internal
@pure
def _ranks_before(a: address, bond_a: uint256, b: address, bond_b: uint256) -> bool:
    if bond_a != bond_b:
        return bond_a > bond_b
    return convert(a, uint160) < convert(b, uint160)


@internal
@view
def _is_eligible(validator: address) -> bool:
    candidate: Candidate = self.candidates[validator]
    if not candidate.registered or candidate.bond < self.minimumBond or candidate.bond == 0:
        return False
    if block.timestamp < candidate.jailedUntil:
        return False
    return self._credential_ok(validator, candidate.credentialId)


@internal
@view
def _has_lasting_eligibility(validator: address, candidate: Candidate) -> bool:
    # eligibility but for a jail, which ends by itself
    if candidate.bond < self.minimumBond or candidate.bond == 0:
        return False
    return self._credential_ok(validator, candidate.credentialId)


@internal
@view
def _credential_ok(validator: address, credential_id: uint256) -> bool:
    status: uint8 = 0
    issuer: address = empty(address)
    attesters: DynArray[address, 16] = []
    status, issuer, attesters = staticcall credentials.verify(credential_id)
    if status != _CREDENTIAL_VALID:
        return False
    # any registered issuer may issue for any course: only those the DAO trusts count here
    if not self.trustedIssuer[issuer] or self.disqualified[credential_id]:
        return False
    if staticcall credentials.holderOf(credential_id) != validator:
        return False
    return staticcall credentials.courseOf(credential_id) == self.validatorCourseId


@internal
@view
def _check_credential(validator: address, credential_id: uint256):
    assert self._credential_ok(validator, credential_id), "ValidatorRegistry: invalid credential"


@internal
def _register(validator: address, credential_id: uint256, amount: uint256):
    assert validator != empty(address), "ValidatorRegistry: zero validator"
    assert not self.candidates[validator].registered, "ValidatorRegistry: already registered"
    assert len(self.candidateList) < MAX_CANDIDATES, "ValidatorRegistry: too many candidates"
    # a slot in the bounded list costs a real bond, so it cannot be held for free
    assert amount > 0 and amount >= self.minimumBond, "ValidatorRegistry: bond below minimum"
    self._check_credential(validator, credential_id)
    self.candidates[validator].registered = True
    self.candidates[validator].credentialId = credential_id
    self.candidateList.append(validator)
    log Registered(validator=validator, credentialId=credential_id)
    self._bond(validator, amount)


@internal
def _remove_candidate(validator: address):
    # jail and incident times stay: leaving and coming back must not wipe them
    self.candidates[validator].registered = False
    self.candidates[validator].credentialId = 0
    count: uint256 = len(self.candidateList)
    for i: uint256 in range(count, bound=MAX_CANDIDATES):
        if self.candidateList[i] == validator:
            self.candidateList[i] = self.candidateList[count - 1]
            self.candidateList.pop()
            break


@internal
def _record_set(validators: DynArray[address, MAX_VALIDATORS], from_height: uint256):
    count: uint256 = self.validatorSetCount
    if count > 0:
        assert from_height > self.validatorSets[count - 1].fromHeight, "ValidatorRegistry: set already recorded"
    self.validatorSets[count] = ValidatorSetRecord(fromHeight=from_height, startedAt=block.timestamp)
    for validator: address in validators:
        self.inValidatorSet[count][validator] = True
    self.validatorSetCount = count + 1
    log ValidatorSetRecorded(index=count, fromHeight=from_height, size=len(validators))


@internal
@view
def _sets_up_to(height: uint256) -> uint256:
    # how many recorded sets start at or before `height` (binary search; fromHeight ascends)
    low: uint256 = 0
    high: uint256 = self.validatorSetCount
    for _: uint256 in range(256):
        if low >= high:
            break
        middle: uint256 = (low + high) // 2
        if self.validatorSets[middle].fromHeight <= height:
            low = middle + 1
        else:
            high = middle
    return low


@internal
def _bond(validator: address, amount: uint256):
    assert self.candidates[validator].registered, "ValidatorRegistry: not registered"
    assert amount > 0, "ValidatorRegistry: zero amount"
    self.candidates[validator].bond += amount
    log Bonded(validator=validator, payer=msg.sender, amount=amount)
    # AZR is a known system token without callbacks; the balance check refuses surprises anyway
    before: uint256 = staticcall token.balanceOf(self)
    assert extcall token.transferFrom(msg.sender, self, amount), "ValidatorRegistry: transfer failed"
    assert staticcall token.balanceOf(self) == before + amount, "ValidatorRegistry: short transfer"


@internal
def _slash_and_jail(validator: address, vote: Vote) -> uint256:
    candidate: Candidate = self.candidates[validator]
    stake: uint256 = candidate.bond + candidate.unbonding
    penalty: uint256 = stake * self.slashFractionBps // BPS
    # the reporter's share comes on top of the penalty, so whoever reports (even the validator's
    # own second wallet) the validator loses at least `slashFractionBps` of its stake
    reporter_reward: uint256 = min(penalty * self.reporterShareBps // BPS, stake - penalty)
    slashed: uint256 = penalty + reporter_reward
    from_bond: uint256 = min(slashed, candidate.bond)
    self.candidates[validator].bond = candidate.bond - from_bond
    self.candidates[validator].unbonding = candidate.unbonding - (slashed - from_bond)
    until: uint256 = max(candidate.jailedUntil, block.timestamp + self.jailDuration)
    self.candidates[validator].jailedUntil = until
    self.candidates[validator].punishedUntil = until
    log Equivocation(
        validator=validator, reporter=msg.sender, height=vote.height, round=vote.round,
        voteType=vote.voteType, slashed=slashed, reporterReward=reporter_reward
    )
    log Jailed(validator=validator, until=until)
    if reporter_reward > 0:
        assert extcall token.transfer(msg.sender, reporter_reward), "ValidatorRegistry: transfer failed"
    if penalty > 0:
        assert extcall token.transfer(treasury, penalty), "ValidatorRegistry: transfer failed"
    return slashed


@internal
@view
def _vote_digest(vote: Vote) -> bytes32:
    return eip712_domain_separator._hash_typed_data_v4(
        keccak256(abi_encode(VOTE_TYPEHASH, vote.voteType, vote.height, vote.round, vote.blockHash))
    )


@internal
@view
def _recover(vote: Vote, signature: Bytes[65]) -> address:
    assert len(signature) == 65, "ValidatorRegistry: bad signature length"
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    assert v == 27 or v == 28, "ValidatorRegistry: bad signature v"
    # snekmate's ecdsa rejects high-s (malleable) signatures and a zero signer
    return ecdsa._recover_sig(self._vote_digest(vote), signature)


@internal
def _set_parameters(
    minimum_bond: uint256,
    max_validators: uint256,
    unbonding_delay: uint256,
    slash_fraction_bps: uint256,
    reporter_share_bps: uint256,
    jail_duration: uint256,
):
    assert max_validators > 0 and max_validators <= MAX_VALIDATORS, "ValidatorRegistry: bad max validators"
    assert slash_fraction_bps <= BPS and reporter_share_bps <= BPS, "ValidatorRegistry: bad fraction"
    self.minimumBond = minimum_bond
    self.maxValidators = max_validators
    self.unbondingDelay = unbonding_delay
    self.slashFractionBps = slash_fraction_bps
    self.reporterShareBps = reporter_share_bps
    self.jailDuration = jail_duration
    log ParametersChanged(
        minimumBond=minimum_bond, maxValidators=max_validators, unbondingDelay=unbonding_delay,
        slashFractionBps=slash_fraction_bps, reporterShareBps=reporter_share_bps, jailDuration=jail_duration
    )
