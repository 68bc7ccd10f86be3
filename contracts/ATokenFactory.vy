# pragma version 0.4.3
"""
@title ATokenFactory: creates the national a-tokens
@custom:contract-name ATokenFactory
@license MIT
@notice Deploys `AToken`s from an ERC-5202 blueprint. Only the owner (the DAO
        timelock after genesis) creates tokens; every token's admin is the
        fixed `tokenAdmin` (the timelock), so a new a-token is governed by the
        DAO from its first block. Native AZR sent with `createAToken` seeds
        the new token's reserve.
"""

from snekmate.auth import ownable
initializes: ownable

exports: (ownable.owner, ownable.transfer_ownership)

event ATokenCreated:
    token: indexed(address)
    symbol: String[5]
    issuer: address
    reserve: uint256

MAX_TOKENS: constant(uint256) = 256

# @dev The AToken blueprint (ERC-5202).
blueprint: public(immutable(address))
# @dev Admin of every created token (the DAO timelock).
tokenAdmin: public(immutable(address))
# @dev Symbol -> token address.
tokenBySymbol: public(HashMap[String[5], address])
# @dev Created tokens in creation order.
allTokens: public(DynArray[address, MAX_TOKENS])


@deploy
def __init__(blueprint_: address, token_admin_: address):
    """
    @notice Deploys the factory; the deployer owns it until ownership moves to the DAO.
    @param blueprint_ The AToken blueprint address.
    @param token_admin_ The admin of every created token (the timelock).
    """
    assert blueprint_ != empty(address), "ATokenFactory: zero blueprint"
    assert token_admin_ != empty(address), "ATokenFactory: zero admin"
    ownable.__init__()
    blueprint = blueprint_
    tokenAdmin = token_admin_


@external
@payable
def createAToken(
    name: String[25], symbol: String[5], issuer: address, mint_cap: uint256, mint_period: uint256
) -> address:
    """
    @notice Creates an a-token (owner only); `msg.value` seeds its AZR reserve.
    @param name Token name.
    @param symbol Unique symbol, e.g. "aKES".
    @param issuer The initial issuer.
    @param mint_cap The mint bucket's capacity (most tokens mintable at once).
    @param mint_period Seconds the bucket takes to refill.
    @return address The new token.
    """
    ownable._check_owner()
    assert len(symbol) > 0, "ATokenFactory: empty symbol"
    assert self.tokenBySymbol[symbol] == empty(address), "ATokenFactory: symbol taken"
    token: address = create_from_blueprint(
        blueprint, name, symbol, tokenAdmin, issuer, mint_cap, mint_period, value=msg.value
    )
    self.tokenBySymbol[symbol] = token
    self.allTokens.append(token)
    log ATokenCreated(token=token, symbol=symbol, issuer=issuer, reserve=msg.value)
    return token


@external
@view
def tokenCount() -> uint256:
    """
    @notice Number of a-tokens created.
    @return uint256 The count.
    """
    return len(self.allTokens)
