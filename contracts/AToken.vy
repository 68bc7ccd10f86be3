# pragma version 0.4.3
"""
@title AToken: a national a-token (ERC-20 + EIP-2612 permit) with a native AZR reserve
@custom:contract-name AToken
@license MIT
@notice One per country (aZAR, aNGN, aKES, aGHS, aETB, ...), created by
        `ATokenFactory`. Roles:
        - admin (the DAO timelock, snekmate `ownable`): sets the issuer, the
          mint cap and period, pauses, and is the only one that releases the
          AZR reserve;
        - issuer: mints from a token bucket, as rate-limited bridges (xERC20)
          do: it holds at most `mintCap` and refills linearly at
          `mintCap / mintPeriod` per second, so no window of `mintPeriod`
          seconds, wherever it starts, sees more than the bucket plus one
          refill (fixed windows allowed twice the cap within one second);
        - holders: transfer, permit, burn their own tokens.
        The nation's native AZR reserve sits in this contract; `fundReserve`
        (or a plain transfer) adds to it and only the admin releases it, never
        more than was funded.
"""

from ethereum.ercs import IERC20
implements: IERC20

from snekmate.auth import ownable
initializes: ownable

from snekmate.tokens import erc20
initializes: erc20[ownable := ownable]

from snekmate.utils import pausable
initializes: pausable

exports: (
    erc20.name,
    erc20.symbol,
    erc20.decimals,
    erc20.balanceOf,
    erc20.totalSupply,
    erc20.allowance,
    erc20.approve,
    erc20.permit,
    erc20.nonces,
    erc20.DOMAIN_SEPARATOR,
    erc20.eip712Domain,
    ownable.owner,
    ownable.transfer_ownership,
    pausable.paused,
)

event IssuerChanged:
    previousIssuer: indexed(address)
    newIssuer: indexed(address)

event MintLimitChanged:
    mintCap: uint256
    mintPeriod: uint256

event ReserveFunded:
    sender: indexed(address)
    amount: uint256

event ReserveReleased:
    to: indexed(address)
    amount: uint256

# @dev The account allowed to mint (within the rate limit).
issuer: public(address)
# @dev Longest refill period (bounds the refill arithmetic).
MAX_MINT_PERIOD: public(constant(uint256)) = 366 * 86_400

# @dev Capacity of the mint bucket: most tokens the issuer may mint at once.
mintCap: public(uint256)
# @dev Seconds an empty bucket takes to refill completely.
mintPeriod: public(uint256)
# @dev Bucket level at `_bucketUpdatedAt` (read it through `mintable()`).
_bucketLevel: uint256
_bucketUpdatedAt: uint256
# @dev Native AZR ever added to the reserve.
reserveFunded: public(uint256)
# @dev Native AZR ever released from the reserve (never above `reserveFunded`).
reserveReleased: public(uint256)


@deploy
@payable
def __init__(
    name_: String[25],
    symbol_: String[5],
    admin_: address,
    issuer_: address,
    mint_cap_: uint256,
    mint_period_: uint256,
):
    """
    @notice Creates the token; `msg.value` seeds the reserve.
    @param name_ Token name, e.g. "Azora South African Rand".
    @param symbol_ Token symbol, e.g. "aZAR" (also the EIP-712 domain name).
    @param admin_ The admin (the DAO timelock).
    @param issuer_ The initial issuer (may be empty).
    @param mint_cap_ Most tokens mintable per period.
    @param mint_period_ Period length in seconds, above zero.
    """
    assert admin_ != empty(address), "AToken: zero admin"
    assert mint_period_ > 0, "AToken: zero period"
    assert mint_period_ <= MAX_MINT_PERIOD, "AToken: period too long"
    ownable.__init__()
    erc20.__init__(name_, symbol_, 18, symbol_, "1")
    pausable.__init__()
    ownable._transfer_ownership(admin_)
    self.issuer = issuer_
    self.mintCap = mint_cap_
    self.mintPeriod = mint_period_
    self._bucketLevel = mint_cap_
    self._bucketUpdatedAt = block.timestamp
    self.reserveFunded = msg.value


@external
@payable
def __default__():
    """
    @notice Native AZR sent here joins the reserve.
    """
    # only plain transfers: a call to a function this contract lacks must not "succeed"
    assert len(msg.data) == 0, "AToken: unknown function"
    self._fund(msg.value)


@external
@payable
def fundReserve():
    """
    @notice Adds `msg.value` native AZR to the nation's reserve.
    """
    self._fund(msg.value)


@external
@nonreentrant
def releaseReserve(to: address, amount: uint256):
    """
    @notice Sends `amount` native AZR of the reserve to `to` (admin, i.e. DAO vote, only).
    @param to The receiver.
    @param amount The amount, at most what remains unreleased.
    """
    ownable._check_owner()
    assert to != empty(address), "AToken: zero receiver"
    assert amount <= self.reserveFunded - self.reserveReleased, "AToken: reserve exceeded"
    self.reserveReleased += amount
    log ReserveReleased(to=to, amount=amount)
    raw_call(to, b"", value=amount)


@external
@view
def reserveBalance() -> uint256:
    """
    @notice The reserve still unreleased.
    @return uint256 Funded minus released.
    """
    return self.reserveFunded - self.reserveReleased


@external
def transfer(to: address, amount: uint256) -> bool:
    """
    @notice Moves `amount` tokens to `to` (reverts while paused).
    @param to The receiver.
    @param amount The amount.
    @return bool Always true.
    """
    pausable._require_not_paused()
    erc20._transfer(msg.sender, to, amount)
    return True


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    """
    @notice Moves `amount` tokens from `owner` to `to` with allowance (reverts while paused).
    @param owner The payer.
    @param to The receiver.
    @param amount The amount.
    @return bool Always true.
    """
    pausable._require_not_paused()
    erc20._spend_allowance(owner, msg.sender, amount)
    erc20._transfer(owner, to, amount)
    return True


@external
def mint(to: address, amount: uint256):
    """
    @notice Mints `amount` to `to`; issuer only, at most what the bucket holds (`mintable()`).
    @param to The receiver.
    @param amount The amount.
    """
    assert msg.sender == self.issuer, "AToken: not issuer"
    pausable._require_not_paused()
    available: uint256 = self._mintable()
    assert amount <= available, "AToken: mint cap exceeded"
    self._bucketLevel = available - amount
    self._bucketUpdatedAt = block.timestamp
    erc20._mint(to, amount)


@external
@view
def mintable() -> uint256:
    """
    @notice What the issuer may mint now: the bucket's level.
    @return uint256 The amount.
    """
    return self._mintable()


@external
def burn(amount: uint256):
    """
    @notice Destroys `amount` of the caller's tokens.
    @param amount The amount.
    """
    erc20._burn(msg.sender, amount)


@external
def burnFrom(owner: address, amount: uint256):
    """
    @notice Destroys `amount` of `owner`'s tokens using the caller's allowance.
    @param owner The holder.
    @param amount The amount.
    """
    erc20._spend_allowance(owner, msg.sender, amount)
    erc20._burn(owner, amount)


@external
def setIssuer(new_issuer: address):
    """
    @notice Sets the issuer (admin only).
    @param new_issuer The new issuer (empty disables minting).
    """
    ownable._check_owner()
    log IssuerChanged(previousIssuer=self.issuer, newIssuer=new_issuer)
    self.issuer = new_issuer


@external
def setMintLimit(mint_cap: uint256, mint_period: uint256):
    """
    @notice Sets the bucket's capacity and refill period (admin only).
    @dev As xERC20's limit change, the bucket's level moves by the change of capacity
         (never below zero): lowering the cap also takes away what was left of the old
         one, so the issuer cannot front-run a lower limit by minting the remainder.
    @param mint_cap Capacity: most tokens mintable at once.
    @param mint_period Seconds to refill an empty bucket, in (0, MAX_MINT_PERIOD].
    """
    ownable._check_owner()
    assert mint_period > 0, "AToken: zero period"
    assert mint_period <= MAX_MINT_PERIOD, "AToken: period too long"
    available: uint256 = self._mintable()
    old_cap: uint256 = self.mintCap
    if mint_cap >= old_cap:
        # available <= old_cap, so this cannot exceed mint_cap nor overflow
        available += mint_cap - old_cap
    else:
        available -= min(available, old_cap - mint_cap)
    self._bucketLevel = available
    self._bucketUpdatedAt = block.timestamp
    self.mintCap = mint_cap
    self.mintPeriod = mint_period
    log MintLimitChanged(mintCap=mint_cap, mintPeriod=mint_period)


@external
def pause():
    """
    @notice Stops transfers and minting (admin only).
    """
    ownable._check_owner()
    pausable._pause()


@external
def unpause():
    """
    @notice Resumes transfers and minting (admin only).
    """
    ownable._check_owner()
    pausable._unpause()


@internal
@view
def _mintable() -> uint256:
    cap: uint256 = self.mintCap
    period: uint256 = self.mintPeriod
    level: uint256 = self._bucketLevel
    elapsed: uint256 = block.timestamp - self._bucketUpdatedAt
    if elapsed >= period:
        return cap
    # cap * elapsed // period without the product (cap may be 2**256-1): elapsed < period
    refill: uint256 = cap // period * elapsed + cap % period * elapsed // period
    return level + min(refill, cap - level)


@internal
def _fund(amount: uint256):
    self.reserveFunded += amount
    log ReserveFunded(sender=msg.sender, amount=amount)
