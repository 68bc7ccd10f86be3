# pragma version 0.4.3
"""
@title ProofOfKnowledge: AZR mining by learning, attested by an oracle quorum
@custom:contract-name ProofOfKnowledge
@license MIT
@notice A learner who completes a course gets AZR from the mining reserve
        (native AZR held here since genesis) and a soulbound credential.
        Flow:
        1. m of the n committee oracles sign an EIP-712 `Completion`; anyone
           (usually an oracle, which pays the gas) calls `submit` with the m
           signatures in ascending signer order, low-s only. Replay keys: the
           struct hash, and (learner, courseId) while a claim is live.
        2. For `challengeWindow` seconds a bonded challenger, or the DAO for
           free, may `challenge`. The DAO resolves; if it does not within
           `challengeTimeout`, the challenge lapses and the bond is refunded.
        3. `finalize` mints the credential and credits the reward, paid out by
           `withdrawRewards` (pull payment, callable by anyone for a learner).
        Emission: `baseReward * weight / 10000`, halved every `halvingEpochs`
        epochs, bounded by the per-epoch bucket, the per-learner-per-epoch cap
        and one reward per (learner, course). A revoked credential lets anyone
        `clawback` its reward; what was already withdrawn becomes a debt
        netted against the learner's future rewards.

        EIP-712 domain {name: "Azora Proof of Knowledge", version: "1", chainId,
        verifyingContract: this}, struct
        Completion(address learner,bytes32 courseId,uint32 courseVersion,uint16 score,
                   uint64 completedAt,bytes32 evidenceHash,uint64 oracleSetVersion,uint64 deadline)
        with `score` in basis points (10000 = 100 %).
"""

from snekmate.auth import ownable
initializes: ownable

from snekmate.utils import ecdsa
from snekmate.utils import eip712_domain_separator
initializes: eip712_domain_separator

exports: (ownable.owner, ownable.transfer_ownership, eip712_domain_separator.eip712Domain)

from .interfaces import ICredentials

MAX_ORACLES: constant(uint256) = 16
MAX_COURSES: constant(uint256) = 1024
MAX_IRI_LENGTH: constant(uint256) = 256
MAX_TITLE_LENGTH: constant(uint256) = 128
BPS: constant(uint256) = 10_000
COMPLETION_TYPEHASH: public(constant(bytes32)) = keccak256(
    "Completion(address learner,bytes32 courseId,uint32 courseVersion,uint16 score,uint64 completedAt,bytes32 evidenceHash,uint64 oracleSetVersion,uint64 deadline)"
)
_STATUS_REVOKED: constant(uint8) = 2

# claim status codes
STATUS_NONE: public(constant(uint8)) = 0
STATUS_PENDING: public(constant(uint8)) = 1
STATUS_CHALLENGED: public(constant(uint8)) = 2
STATUS_REJECTED: public(constant(uint8)) = 3
STATUS_FINALIZED: public(constant(uint8)) = 4
STATUS_CLAWED_BACK: public(constant(uint8)) = 5

struct Completion:
    learner: address
    courseId: bytes32
    courseVersion: uint32
    score: uint16
    completedAt: uint64
    evidenceHash: bytes32
    oracleSetVersion: uint64
    deadline: uint64

struct Course:
    issuer: address
    rewardWeight: uint256
    active: bool

# @dev What people and programs show for a course: its xAPI activity IRI and a title.
struct CourseInfo:
    iri: String[MAX_IRI_LENGTH]
    title: String[MAX_TITLE_LENGTH]

struct Claim:
    learner: address
    courseId: bytes32
    courseVersion: uint32
    score: uint16
    evidenceHash: bytes32
    submittedAt: uint256
    status: uint8
    challenger: address
    bond: uint256
    challengedAt: uint256
    reward: uint256
    credentialId: uint256
    attesters: DynArray[address, MAX_ORACLES]

event CourseSet:
    courseId: indexed(bytes32)
    issuer: address
    rewardWeight: uint256
    active: bool
    iri: String[MAX_IRI_LENGTH]
    title: String[MAX_TITLE_LENGTH]

event OracleCommitteeSet:
    version: indexed(uint64)
    members: DynArray[address, MAX_ORACLES]
    quorum: uint256

event Submitted:
    claimKey: indexed(bytes32)
    learner: indexed(address)
    courseId: indexed(bytes32)

event Challenged:
    claimKey: indexed(bytes32)
    challenger: indexed(address)
    bond: uint256

event ChallengeResolved:
    claimKey: indexed(bytes32)
    fraudulent: bool

event Finalized:
    claimKey: indexed(bytes32)
    learner: indexed(address)
    reward: uint256
    credentialId: uint256

event ClawedBack:
    claimKey: indexed(bytes32)
    learner: indexed(address)
    recovered: uint256
    debt: uint256

event RewardsWithdrawn:
    account: indexed(address)
    amount: uint256

credentials: public(immutable(ICredentials))
# @dev Start of epoch 0 (deployment time).
emissionStart: public(immutable(uint256))
# @dev Epoch length in seconds.
epochDuration: public(immutable(uint256))
# @dev Emission halves every this many epochs.
halvingEpochs: public(immutable(uint256))

courses: public(HashMap[bytes32, Course])
# @dev Kept apart from `courses` so `submit` and `finalize` do not load the strings.
courseInfo: public(HashMap[bytes32, CourseInfo])
# @dev Every course id ever set, in the order first set: the catalog's index.
courseIds: public(DynArray[bytes32, MAX_COURSES])
isOracle: public(HashMap[address, bool])
oracles: public(DynArray[address, MAX_ORACLES])
quorum: public(uint256)
oracleSetVersion: public(uint64)

challengeWindow: public(uint256)
challengeBond: public(uint256)
challengeTimeout: public(uint256)
minScore: public(uint16)
baseReward: public(uint256)
epochEmission: public(uint256)
learnerEpochCap: public(uint256)

claims: HashMap[bytes32, Claim]
# @dev keccak(learner, courseId) -> the live or rewarded claim key (one per pair).
claimOf: public(HashMap[bytes32, bytes32])
epochPaid: public(HashMap[uint256, uint256])
learnerEpochPaid: public(HashMap[address, HashMap[uint256, uint256]])
# @dev Rewards credited and not yet withdrawn.
claimable: public(HashMap[address, uint256])
# @dev Clawed-back rewards already withdrawn, netted against future rewards.
debt: public(HashMap[address, uint256])
# @dev Native AZR here that is not reserve: owed rewards plus challenger bonds.
totalLiabilities: public(uint256)
# @dev Rewards ever credited (net of clawbacks).
totalEmitted: public(uint256)


@deploy
@payable
def __init__(
    credentials_: address,
    epoch_duration_: uint256,
    halving_epochs_: uint256,
    base_reward_: uint256,
    epoch_emission_: uint256,
    learner_epoch_cap_: uint256,
    challenge_window_: uint256,
    challenge_bond_: uint256,
    challenge_timeout_: uint256,
):
    """
    @notice Deploys the miner, `msg.value` seeding the mining reserve; the deployer owns
            it until ownership moves to the DAO.
    @param credentials_ The Credentials contract (this contract must be its minter).
    @param epoch_duration_ Epoch length in seconds.
    @param halving_epochs_ Epochs between halvings.
    @param base_reward_ Reward for a weight-10000 course before halvings.
    @param epoch_emission_ Per-epoch bucket before halvings.
    @param learner_epoch_cap_ Most reward one learner earns per epoch.
    @param challenge_window_ Seconds a claim can be challenged.
    @param challenge_bond_ Native AZR a challenger (other than the DAO) must bond.
    @param challenge_timeout_ Seconds the DAO has to resolve a challenge.
    """
    assert credentials_ != empty(address), "ProofOfKnowledge: zero credentials"
    assert epoch_duration_ > 0 and halving_epochs_ > 0, "ProofOfKnowledge: zero epoch"
    ownable.__init__()
    eip712_domain_separator.__init__("Azora Proof of Knowledge", "1")
    credentials = ICredentials(credentials_)
    emissionStart = block.timestamp
    epochDuration = epoch_duration_
    halvingEpochs = halving_epochs_
    self.baseReward = base_reward_
    self.epochEmission = epoch_emission_
    self.learnerEpochCap = learner_epoch_cap_
    self.challengeWindow = challenge_window_
    self.challengeBond = challenge_bond_
    self.challengeTimeout = challenge_timeout_


@external
@payable
def __default__():
    """
    @notice Native AZR sent here joins the mining reserve.
    """
    # only plain transfers: a call to a function this contract lacks must not "succeed"
    assert len(msg.data) == 0, "ProofOfKnowledge: unknown function"


@external
def setCourse(
    course_id: bytes32,
    issuer: address,
    reward_weight: uint256,
    active: bool,
    iri: String[MAX_IRI_LENGTH] = "",
    title: String[MAX_TITLE_LENGTH] = "",
):
    """
    @notice Adds or updates a catalog course (owner, i.e. the DAO, only).
    @dev An empty `iri` keeps the IRI and title already recorded, so a DAO
         vote that only deactivates a course need not restate them.
    @param course_id keccak256 of the course's activity IRI.
    @param issuer The credential issuer for the course.
    @param reward_weight Reward weight in basis points (10000 = base reward).
    @param active Whether completions are accepted.
    @param iri The xAPI activity IRI; its keccak256 must be `course_id`.
    @param title A human-readable name for wallets and oracles.
    """
    ownable._check_owner()
    assert issuer != empty(address), "ProofOfKnowledge: zero issuer"
    info: CourseInfo = self.courseInfo[course_id]
    if len(iri) > 0:
        # the id is what learners' claims name: the IRI must be the one it stands for
        assert keccak256(iri) == course_id, "ProofOfKnowledge: id is not keccak256(iri)"
        info = CourseInfo(iri=iri, title=title)
        self.courseInfo[course_id] = info
    if self.courses[course_id].issuer == empty(address):
        # a set issuer marks a course already listed: each id is listed once
        self.courseIds.append(course_id)
    self.courses[course_id] = Course(issuer=issuer, rewardWeight=reward_weight, active=active)
    log CourseSet(
        courseId=course_id, issuer=issuer, rewardWeight=reward_weight, active=active,
        iri=info.iri, title=info.title,
    )


@external
def setOracleCommittee(members: DynArray[address, MAX_ORACLES], quorum_: uint256):
    """
    @notice Replaces the oracle committee and quorum, bumping its version (owner only).
    @dev Attestations signed for an older version stop being accepted.
    @param members The oracles, in strictly ascending address order.
    @param quorum_ Signatures needed, 1 <= quorum <= len(members).
    """
    ownable._check_owner()
    assert quorum_ > 0 and quorum_ <= len(members), "ProofOfKnowledge: bad quorum"
    for old: address in self.oracles:
        self.isOracle[old] = False
    previous: uint160 = 0
    for member: address in members:
        assert convert(member, uint160) > previous, "ProofOfKnowledge: members not ascending"
        previous = convert(member, uint160)
        self.isOracle[member] = True
    self.oracles = members
    self.quorum = quorum_
    self.oracleSetVersion += 1
    log OracleCommitteeSet(version=self.oracleSetVersion, members=members, quorum=quorum_)


@external
def setEmission(base_reward: uint256, epoch_emission: uint256, learner_epoch_cap: uint256):
    """
    @notice Sets the reward, the per-epoch bucket and the per-learner cap (owner only).
    @param base_reward Reward for a weight-10000 course before halvings.
    @param epoch_emission Per-epoch bucket before halvings.
    @param learner_epoch_cap Most reward one learner earns per epoch.
    """
    ownable._check_owner()
    self.baseReward = base_reward
    self.epochEmission = epoch_emission
    self.learnerEpochCap = learner_epoch_cap


@external
def setChallengeParams(window: uint256, bond: uint256, timeout: uint256, min_score: uint16):
    """
    @notice Sets the challenge window, bond and DAO timeout and the pass score (owner only).
    @param window Seconds a claim can be challenged.
    @param bond Challenger bond in native AZR.
    @param timeout Seconds the DAO has to resolve a challenge.
    @param min_score Lowest accepted score, basis points.
    """
    ownable._check_owner()
    assert min_score <= 10_000, "ProofOfKnowledge: bad score"
    self.challengeWindow = window
    self.challengeBond = bond
    self.challengeTimeout = timeout
    self.minScore = min_score


@external
@view
def hashCompletion(completion: Completion) -> bytes32:
    """
    @notice The EIP-712 digest the oracles sign for `completion`.
    @param completion The completion.
    @return bytes32 The digest.
    """
    return eip712_domain_separator._hash_typed_data_v4(self._struct_hash(completion))


@external
@nonreentrant
def submit(completion: Completion, signatures: DynArray[Bytes[65], MAX_ORACLES]) -> bytes32:
    """
    @notice Records a pending claim attested by a quorum of the oracle committee.
    @param completion The signed completion.
    @param signatures 65-byte r||s||v signatures, signers strictly ascending, low-s.
    @return bytes32 The claim key (the completion's struct hash).
    """
    course: Course = self.courses[completion.courseId]
    assert course.active, "ProofOfKnowledge: course inactive"
    assert completion.learner != empty(address), "ProofOfKnowledge: zero learner"
    assert block.timestamp <= convert(completion.deadline, uint256), "ProofOfKnowledge: expired"
    assert completion.oracleSetVersion == self.oracleSetVersion, "ProofOfKnowledge: stale oracle set"
    assert completion.score >= self.minScore and completion.score <= 10_000, "ProofOfKnowledge: bad score"
    key: bytes32 = self._struct_hash(completion)
    assert self.claims[key].status == STATUS_NONE, "ProofOfKnowledge: replayed"
    pair: bytes32 = keccak256(abi_encode(completion.learner, completion.courseId))
    assert self.claimOf[pair] == empty(bytes32), "ProofOfKnowledge: already claimed"
    attesters: DynArray[address, MAX_ORACLES] = self._check_signatures(
        eip712_domain_separator._hash_typed_data_v4(key), signatures
    )
    self.claimOf[pair] = key
    self.claims[key] = Claim(
        learner=completion.learner,
        courseId=completion.courseId,
        courseVersion=completion.courseVersion,
        score=completion.score,
        evidenceHash=completion.evidenceHash,
        submittedAt=block.timestamp,
        status=STATUS_PENDING,
        challenger=empty(address),
        bond=0,
        challengedAt=0,
        reward=0,
        credentialId=0,
        attesters=attesters,
    )
    log Submitted(claimKey=key, learner=completion.learner, courseId=completion.courseId)
    return key


@external
@payable
@nonreentrant
def challenge(claim_key: bytes32):
    """
    @notice Disputes a pending claim inside its window; bond `challengeBond` (the DAO bonds nothing).
    @param claim_key The claim.
    """
    claim: Claim = self.claims[claim_key]
    assert claim.status == STATUS_PENDING, "ProofOfKnowledge: not pending"
    assert block.timestamp < claim.submittedAt + self.challengeWindow, "ProofOfKnowledge: window closed"
    if msg.sender == ownable.owner:
        assert msg.value == 0, "ProofOfKnowledge: no bond for the DAO"
    else:
        assert msg.value == self.challengeBond, "ProofOfKnowledge: wrong bond"
    self.claims[claim_key].status = STATUS_CHALLENGED
    self.claims[claim_key].challenger = msg.sender
    self.claims[claim_key].bond = msg.value
    self.claims[claim_key].challengedAt = block.timestamp
    self.totalLiabilities += msg.value
    log Challenged(claimKey=claim_key, challenger=msg.sender, bond=msg.value)


@external
@nonreentrant
def resolveChallenge(claim_key: bytes32, fraudulent: bool):
    """
    @notice The DAO rules on a challenge (owner only).
    @dev Fraudulent: the claim is rejected, the learner/course pair freed, the bond
         refunded. Otherwise the claim is pending again (finalizable after its
         window) and the bond joins the reserve.
    @param claim_key The challenged claim.
    @param fraudulent Whether the claim is rejected.
    """
    ownable._check_owner()
    claim: Claim = self.claims[claim_key]
    assert claim.status == STATUS_CHALLENGED, "ProofOfKnowledge: not challenged"
    self.claims[claim_key].bond = 0
    if fraudulent:
        self.claims[claim_key].status = STATUS_REJECTED
        self.claimOf[keccak256(abi_encode(claim.learner, claim.courseId))] = empty(bytes32)
        self.claimable[claim.challenger] += claim.bond
    else:
        self.claims[claim_key].status = STATUS_PENDING
        self.totalLiabilities -= claim.bond
    log ChallengeResolved(claimKey=claim_key, fraudulent=fraudulent)


@external
@nonreentrant
def resolveChallengeTimeout(claim_key: bytes32):
    """
    @notice Ends a challenge the DAO left unresolved past `challengeTimeout`: the claim is
            pending again and the challenger gets its bond back. Anyone may call.
    @param claim_key The challenged claim.
    """
    claim: Claim = self.claims[claim_key]
    assert claim.status == STATUS_CHALLENGED, "ProofOfKnowledge: not challenged"
    assert block.timestamp >= claim.challengedAt + self.challengeTimeout, "ProofOfKnowledge: too early"
    self.claims[claim_key].status = STATUS_PENDING
    self.claims[claim_key].bond = 0
    self.claimable[claim.challenger] += claim.bond
    log ChallengeResolved(claimKey=claim_key, fraudulent=False)


@external
@nonreentrant
def finalize(claim_key: bytes32) -> uint256:
    """
    @notice Finalizes an unchallenged claim after its window: mints the credential and
            credits the reward. Anyone may call.
    @param claim_key The claim.
    @return uint256 The reward credited.
    """
    claim: Claim = self.claims[claim_key]
    assert claim.status == STATUS_PENDING, "ProofOfKnowledge: not pending"
    assert block.timestamp >= claim.submittedAt + self.challengeWindow, "ProofOfKnowledge: in challenge window"
    course: Course = self.courses[claim.courseId]
    reward: uint256 = self._compute_reward(claim.learner, course.rewardWeight)
    epoch: uint256 = self._epoch()
    self.epochPaid[epoch] += reward
    self.learnerEpochPaid[claim.learner][epoch] += reward
    self.claims[claim_key].status = STATUS_FINALIZED
    self.claims[claim_key].reward = reward
    self._credit(claim.learner, reward)
    # the only external call, to the trusted Credentials contract, comes after every effect
    credential_id: uint256 = extcall credentials.issueFor(
        course.issuer, claim.learner, claim.courseId, claim.courseVersion,
        0, 0, claim.evidenceHash, claim.attesters
    )
    self.claims[claim_key].credentialId = credential_id
    log Finalized(claimKey=claim_key, learner=claim.learner, reward=reward, credentialId=credential_id)
    return reward


@external
@nonreentrant
def clawback(claim_key: bytes32):
    """
    @notice Takes back the reward of a finalized claim whose credential was revoked. Anyone may call.
    @dev Unwithdrawn reward returns to the reserve; the withdrawn part becomes debt.
    @param claim_key The claim.
    """
    claim: Claim = self.claims[claim_key]
    assert claim.status == STATUS_FINALIZED, "ProofOfKnowledge: not finalized"
    status: uint8 = 0
    issuer: address = empty(address)
    attesters: DynArray[address, 16] = []
    status, issuer, attesters = staticcall credentials.verify(claim.credentialId)
    assert status == _STATUS_REVOKED, "ProofOfKnowledge: credential not revoked"
    available: uint256 = self.claimable[claim.learner]
    recovered: uint256 = min(available, claim.reward)
    owed: uint256 = claim.reward - recovered
    self.claimable[claim.learner] = available - recovered
    self.totalLiabilities -= recovered
    self.debt[claim.learner] += owed
    self.totalEmitted -= recovered
    self.claims[claim_key].status = STATUS_CLAWED_BACK
    log ClawedBack(claimKey=claim_key, learner=claim.learner, recovered=recovered, debt=owed)


@external
@nonreentrant
def withdrawRewards(account: address) -> uint256:
    """
    @notice Pays `account` its credited rewards and refunded bonds in native AZR. Anyone may call.
    @param account The learner or challenger.
    @return uint256 The amount paid.
    """
    amount: uint256 = self.claimable[account]
    assert amount > 0, "ProofOfKnowledge: nothing to withdraw"
    self.claimable[account] = 0
    self.totalLiabilities -= amount
    log RewardsWithdrawn(account=account, amount=amount)
    raw_call(account, b"", value=amount)
    return amount


@external
@view
def getClaim(claim_key: bytes32) -> Claim:
    """
    @notice A claim's record.
    @param claim_key The claim key (the completion's struct hash).
    @return Claim The record.
    """
    return self.claims[claim_key]


@external
@view
def currentEpoch() -> uint256:
    """
    @notice The current emission epoch.
    @return uint256 The epoch number.
    """
    return self._epoch()


@external
@view
def reserveBalance() -> uint256:
    """
    @notice Native AZR left for future rewards.
    @return uint256 Balance minus owed rewards and bonds.
    """
    return self.balance - self.totalLiabilities


@external
@view
def getCourseIds() -> DynArray[bytes32, MAX_COURSES]:
    """
    @notice Every catalog course id, active or not, in the order first set.
    @dev Read each with `courses(id)` and `courseInfo(id)`.
    @return DynArray The course ids.
    """
    return self.courseIds


@external
@view
def getOracles() -> DynArray[address, MAX_ORACLES]:
    """
    @notice The current oracle committee.
    @return DynArray Its members.
    """
    return self.oracles


@internal
@view
def _struct_hash(c: Completion) -> bytes32:
    return keccak256(
        abi_encode(
            COMPLETION_TYPEHASH, c.learner, c.courseId, c.courseVersion, c.score,
            c.completedAt, c.evidenceHash, c.oracleSetVersion, c.deadline
        )
    )


@internal
@view
def _check_signatures(
    digest: bytes32, signatures: DynArray[Bytes[65], MAX_ORACLES]
) -> DynArray[address, MAX_ORACLES]:
    assert len(signatures) >= self.quorum, "ProofOfKnowledge: below quorum"
    signers: DynArray[address, MAX_ORACLES] = []
    previous: uint160 = 0
    for signature: Bytes[65] in signatures:
        signer: address = self._recover(digest, signature)
        # strictly ascending signers rule out duplicates without a storage set
        assert convert(signer, uint160) > previous, "ProofOfKnowledge: signers not ascending"
        previous = convert(signer, uint160)
        assert self.isOracle[signer], "ProofOfKnowledge: not an oracle"
        signers.append(signer)
    return signers


@internal
@pure
def _recover(digest: bytes32, signature: Bytes[65]) -> address:
    # only the 65-byte form: the EIP-2098 64-byte form would be a second encoding
    assert len(signature) == 65, "ProofOfKnowledge: bad signature length"
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    assert v == 27 or v == 28, "ProofOfKnowledge: bad signature v"
    # snekmate's ecdsa rejects s above n/2 (malleable) and a zero signer
    return ecdsa._recover_sig(digest, signature)


@internal
@view
def _epoch() -> uint256:
    return (block.timestamp - emissionStart) // epochDuration


@internal
@view
def _compute_reward(learner: address, weight: uint256) -> uint256:
    epoch: uint256 = self._epoch()
    halvings: uint256 = min(epoch // halvingEpochs, 255)
    reward: uint256 = (self.baseReward * weight // BPS) >> halvings
    bucket: uint256 = self.epochEmission >> halvings
    reward = min(reward, bucket - min(bucket, self.epochPaid[epoch]))
    cap: uint256 = self.learnerEpochCap
    reward = min(reward, cap - min(cap, self.learnerEpochPaid[learner][epoch]))
    return min(reward, self.balance - self.totalLiabilities)


@internal
def _credit(learner: address, reward: uint256):
    # pay down an earlier clawback's debt first: that part simply stays in the reserve
    owed: uint256 = self.debt[learner]
    settled: uint256 = min(owed, reward)
    self.debt[learner] = owed - settled
    self.claimable[learner] += reward - settled
    self.totalLiabilities += reward - settled
    self.totalEmitted += reward - settled
