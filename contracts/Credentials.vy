# pragma version 0.4.3
"""
@title Credentials: soulbound learning credentials (ERC-721 + ERC-5192)
@custom:contract-name Credentials
@license MIT
@notice Every token is locked (ERC-5192): transfers and approvals revert.
        Each token records the course id and version, issuer, issue time,
        expiry, revocation time and reason, a prerequisite credential, an
        evidence hash and the oracles that attested it; no personal data.
        Roles:
        - admin (the DAO timelock, snekmate `ownable`) registers issuers and
          minters;
        - an issuer issues in its own name, revokes (with a reason) and
          re-issues to a new wallet after key loss, only its own credentials;
        - a minter (the ProofOfKnowledge contract) issues in the name of a
          registered issuer;
        - the holder may burn ("unequip") its credential; the issuer can still
          revoke the burned record, so burning never escapes a revocation (and a
          clawback that depends on it).
        A re-issue links the old id to the new one: `latestOf(id)` is the credential
        a learner holds now for any id in the chain.
        `verify(id)` tells valid / revoked / expired with issuer and attesters.
"""

from .interfaces import ICredentials
implements: ICredentials

from snekmate.auth import ownable
initializes: ownable

from snekmate.tokens import erc721
initializes: erc721[ownable := ownable]

exports: (
    erc721.name,
    erc721.symbol,
    erc721.balanceOf,
    erc721.ownerOf,
    erc721.getApproved,
    erc721.isApprovedForAll,
    erc721.tokenURI,
    erc721.totalSupply,
    erc721.tokenByIndex,
    erc721.tokenOfOwnerByIndex,
    ownable.owner,
    ownable.transfer_ownership,
)

MAX_ATTESTERS: constant(uint256) = 16

# `verify` status codes
STATUS_NONE: public(constant(uint8)) = 0
STATUS_VALID: public(constant(uint8)) = 1
STATUS_REVOKED: public(constant(uint8)) = 2
STATUS_EXPIRED: public(constant(uint8)) = 3

# ERC-165 ids: ERC-165, ERC-721, ERC-721 Metadata, ERC-721 Enumerable, ERC-5192
_SUPPORTED_INTERFACES: constant(bytes4[5]) = [
    0x01FFC9A7, 0x80AC58CD, 0x5B5E139F, 0x780E9D63, 0xB45A3C0E
]

struct Credential:
    courseId: bytes32
    courseVersion: uint32
    issuer: address
    issuedAt: uint64
    expiry: uint64
    revokedAt: uint64
    revocationReason: String[128]
    prerequisite: uint256
    evidenceHash: bytes32
    attesters: DynArray[address, MAX_ATTESTERS]
    replacedBy: uint256

event Locked:
    tokenId: uint256

event Issued:
    tokenId: indexed(uint256)
    holder: indexed(address)
    issuer: indexed(address)
    courseId: bytes32

event Revoked:
    tokenId: indexed(uint256)
    issuer: indexed(address)
    reason: String[128]

event Reissued:
    oldTokenId: indexed(uint256)
    newTokenId: indexed(uint256)
    holder: indexed(address)

event IssuerSet:
    issuer: indexed(address)
    allowed: bool

event MinterSet:
    minter: indexed(address)
    allowed: bool

# @dev Accounts that may issue credentials in their own name.
isIssuer: public(HashMap[address, bool])
# @dev Accounts (contracts) that may issue in a registered issuer's name.
isMinter: public(HashMap[address, bool])
# @dev Id of the last credential issued (ids start at 1).
lastTokenId: public(uint256)
_records: HashMap[uint256, Credential]
# @dev Re-issue chains: any id -> the first id of its chain (0 for a first id), and
#      first id -> the latest id (0 while never re-issued). O(1) `latestOf`.
_firstOf: HashMap[uint256, uint256]
_latestOf: HashMap[uint256, uint256]


@deploy
def __init__(admin_: address, base_uri_: String[80]):
    """
    @notice Deploys the collection; `admin_` (the timelock, or the genesis builder) owns it.
    @param admin_ The admin.
    @param base_uri_ Base of `tokenURI` (token id appended), may be empty.
    """
    assert admin_ != empty(address), "Credentials: zero admin"
    ownable.__init__()
    erc721.__init__("Azora Credentials", "AZC", base_uri_, "Azora Credentials", "1")
    erc721.is_minter[msg.sender] = False
    ownable._transfer_ownership(admin_)


@external
@view
def supportsInterface(interface_id: bytes4) -> bool:
    """
    @notice ERC-165, including ERC-5192 (0xb45a3c0e).
    @param interface_id The interface id.
    @return bool Whether it is supported.
    """
    return interface_id in _SUPPORTED_INTERFACES


@external
@view
def locked(token_id: uint256) -> bool:
    """
    @notice ERC-5192: every credential is locked to its holder.
    @param token_id An existing credential.
    @return bool Always true.
    """
    erc721._require_minted(token_id)
    return True


@external
def approve(to: address, token_id: uint256):
    """
    @notice Reverts: credentials are soulbound.
    @param to Ignored.
    @param token_id Ignored.
    """
    raise "Credentials: soulbound"


@external
def setApprovalForAll(operator: address, approved: bool):
    """
    @notice Reverts: credentials are soulbound.
    @param operator Ignored.
    @param approved Ignored.
    """
    raise "Credentials: soulbound"


@external
def transferFrom(owner: address, to: address, token_id: uint256):
    """
    @notice Reverts: credentials are soulbound.
    @param owner Ignored.
    @param to Ignored.
    @param token_id Ignored.
    """
    raise "Credentials: soulbound"


@external
def safeTransferFrom(owner: address, to: address, token_id: uint256, data: Bytes[1_024] = b""):
    """
    @notice Reverts: credentials are soulbound.
    @param owner Ignored.
    @param to Ignored.
    @param token_id Ignored.
    @param data Ignored.
    """
    raise "Credentials: soulbound"


@external
def setIssuer(issuer: address, allowed: bool):
    """
    @notice Registers or removes an issuer (admin only).
    @param issuer The issuer.
    @param allowed Whether it may issue.
    """
    ownable._check_owner()
    self.isIssuer[issuer] = allowed
    log IssuerSet(issuer=issuer, allowed=allowed)


@external
def setMinter(minter: address, allowed: bool):
    """
    @notice Registers or removes a minter such as ProofOfKnowledge (admin only).
    @param minter The minter.
    @param allowed Whether it may mint for issuers.
    """
    ownable._check_owner()
    self.isMinter[minter] = allowed
    log MinterSet(minter=minter, allowed=allowed)


@external
def issue(
    holder: address,
    course_id: bytes32,
    course_version: uint32,
    expiry: uint64,
    prerequisite: uint256,
    evidence_hash: bytes32,
    attesters: DynArray[address, MAX_ATTESTERS],
) -> uint256:
    """
    @notice Issues a credential in the caller's name (registered issuers only).
    @param holder The learner's wallet.
    @param course_id The course id.
    @param course_version The course version.
    @param expiry Expiry timestamp, 0 for never.
    @param prerequisite Id of a prerequisite credential held by `holder`, 0 for none.
    @param evidence_hash Hash of the off-chain evidence.
    @param attesters The oracles that attested the completion.
    @return uint256 The new credential id.
    """
    assert self.isIssuer[msg.sender], "Credentials: not issuer"
    return self._issue(holder, msg.sender, course_id, course_version, expiry, prerequisite, evidence_hash, attesters)


@external
def issueFor(
    issuer: address,
    holder: address,
    course_id: bytes32,
    course_version: uint32,
    expiry: uint64,
    prerequisite: uint256,
    evidence_hash: bytes32,
    attesters: DynArray[address, MAX_ATTESTERS],
) -> uint256:
    """
    @notice Issues a credential in a registered issuer's name (minters only).
    @param issuer The registered issuer named on the credential.
    @param holder The learner's wallet.
    @param course_id The course id.
    @param course_version The course version.
    @param expiry Expiry timestamp, 0 for never.
    @param prerequisite Id of a prerequisite credential held by `holder`, 0 for none.
    @param evidence_hash Hash of the off-chain evidence.
    @param attesters The oracles that attested the completion.
    @return uint256 The new credential id.
    """
    assert self.isMinter[msg.sender], "Credentials: not minter"
    assert self.isIssuer[issuer], "Credentials: not issuer"
    return self._issue(holder, issuer, course_id, course_version, expiry, prerequisite, evidence_hash, attesters)


@external
def revoke(token_id: uint256, reason: String[128]):
    """
    @notice Revokes a credential with a reason (its issuer only), even one its holder burned.
    @dev A re-issued id is refused: revoke `latestOf(id)`, the one the learner holds.
    @param token_id The credential.
    @param reason Why, kept on chain.
    """
    # the record, not the token: a holder must not dodge revocation by burning
    assert self._records[token_id].issuer == msg.sender, "Credentials: not issuer"
    assert self._records[token_id].replacedBy == 0, "Credentials: replaced"
    assert self._records[token_id].revokedAt == 0, "Credentials: already revoked"
    self._records[token_id].revokedAt = convert(block.timestamp, uint64)
    self._records[token_id].revocationReason = reason
    log Revoked(tokenId=token_id, issuer=msg.sender, reason=reason)


@external
def burn(token_id: uint256):
    """
    @notice The holder removes ("unequips") its credential; the record stays readable.
    @param token_id The credential.
    """
    assert erc721._owner_of(token_id) == msg.sender, "Credentials: not holder"
    erc721._burn(token_id)


@external
def reissue(token_id: uint256, new_holder: address) -> uint256:
    """
    @notice Moves a credential to a new wallet after key loss (its issuer, while still
            registered).
    @dev The old token is burned and points to the new one; the record is copied. The
         prerequisite was checked at first issue and is not checked again (the learner
         moves its credentials one at a time, in any order); the copy names the
         prerequisite's latest id. An issuer removed with `setIssuer(False)` can no
         longer move credentials to a wallet of its choosing.
    @param token_id The credential to replace (not revoked).
    @param new_holder The learner's new wallet.
    @return uint256 The new credential id.
    """
    erc721._require_minted(token_id)
    old: Credential = self._records[token_id]
    assert old.issuer == msg.sender and self.isIssuer[msg.sender], "Credentials: not issuer"
    assert old.revokedAt == 0, "Credentials: revoked"
    prerequisite: uint256 = old.prerequisite
    if prerequisite != 0:
        prerequisite = self._latest_of(prerequisite)
    new_id: uint256 = self._record_and_mint(
        new_holder, old.issuer, old.courseId, old.courseVersion, old.expiry,
        prerequisite, old.evidenceHash, old.attesters
    )
    self._records[token_id].replacedBy = new_id
    first: uint256 = self._first_of(token_id)
    self._firstOf[new_id] = first
    self._latestOf[first] = new_id
    erc721._burn(token_id)
    log Reissued(oldTokenId=token_id, newTokenId=new_id, holder=new_holder)
    return new_id


@external
@view
def verify(token_id: uint256) -> (uint8, address, DynArray[address, MAX_ATTESTERS]):
    """
    @notice Whether a credential is valid now, with its issuer and attesters.
    @param token_id The credential.
    @return uint8 STATUS_NONE (no such token, burned or replaced), STATUS_VALID,
            STATUS_REVOKED (also when revoked after a burn) or STATUS_EXPIRED.
    @return address The issuer.
    @return DynArray The attesting oracles.
    """
    record: Credential = self._records[token_id]
    return self._status(token_id), record.issuer, record.attesters


@external
@view
def latestOf(token_id: uint256) -> uint256:
    """
    @notice The credential that replaced `token_id` through any number of re-issues,
            or `token_id` itself if it was never re-issued.
    @param token_id The credential.
    @return uint256 The latest id of its re-issue chain.
    """
    return self._latest_of(token_id)


@external
@view
def credential(token_id: uint256) -> Credential:
    """
    @notice The full record of a credential (kept after burn or re-issue).
    @param token_id The credential.
    @return Credential The record.
    """
    return self._records[token_id]


@external
@view
def holderOf(token_id: uint256) -> address:
    """
    @notice Holder of a credential, or the empty address if none (never reverts).
    @param token_id The credential.
    @return address The holder.
    """
    if not erc721._exists(token_id):
        return empty(address)
    return erc721._owner_of(token_id)


@external
@view
def courseOf(token_id: uint256) -> bytes32:
    """
    @notice The course a credential certifies.
    @param token_id The credential.
    @return bytes32 The course id.
    """
    return self._records[token_id].courseId


@internal
@view
def _first_of(token_id: uint256) -> uint256:
    first: uint256 = self._firstOf[token_id]
    if first == 0:
        return token_id
    return first


@internal
@view
def _latest_of(token_id: uint256) -> uint256:
    latest: uint256 = self._latestOf[self._first_of(token_id)]
    if latest == 0:
        return token_id
    return latest


@internal
@view
def _status(token_id: uint256) -> uint8:
    # revocation first: a burned credential revoked afterwards still reads as revoked
    if self._records[token_id].revokedAt != 0:
        return STATUS_REVOKED
    if not erc721._exists(token_id):
        return STATUS_NONE
    expiry: uint64 = self._records[token_id].expiry
    if expiry != 0 and block.timestamp >= convert(expiry, uint256):
        return STATUS_EXPIRED
    return STATUS_VALID


@internal
def _issue(
    holder: address,
    issuer: address,
    course_id: bytes32,
    course_version: uint32,
    expiry: uint64,
    prerequisite: uint256,
    evidence_hash: bytes32,
    attesters: DynArray[address, MAX_ATTESTERS],
) -> uint256:
    if prerequisite != 0:
        assert erc721._owner_of(prerequisite) == holder, "Credentials: prerequisite not held"
        assert self._status(prerequisite) == STATUS_VALID, "Credentials: prerequisite invalid"
    return self._record_and_mint(
        holder, issuer, course_id, course_version, expiry, prerequisite, evidence_hash, attesters
    )


@internal
def _record_and_mint(
    holder: address,
    issuer: address,
    course_id: bytes32,
    course_version: uint32,
    expiry: uint64,
    prerequisite: uint256,
    evidence_hash: bytes32,
    attesters: DynArray[address, MAX_ATTESTERS],
) -> uint256:
    token_id: uint256 = self.lastTokenId + 1
    self.lastTokenId = token_id
    self._records[token_id] = Credential(
        courseId=course_id,
        courseVersion=course_version,
        issuer=issuer,
        issuedAt=convert(block.timestamp, uint64),
        expiry=expiry,
        revokedAt=0,
        revocationReason="",
        prerequisite=prerequisite,
        evidenceHash=evidence_hash,
        attesters=attesters,
        replacedBy=0,
    )
    # plain `_mint`: a soulbound token needs no receiver hook, and skipping it
    # leaves no external call for a malicious holder contract to re-enter through
    erc721._mint(holder, token_id)
    log Locked(tokenId=token_id)
    log Issued(tokenId=token_id, holder=holder, issuer=issuer, courseId=course_id)
    return token_id
