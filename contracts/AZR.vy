# pragma version 0.4.3
"""
@title AZR: the ERC-20 face of native AZR, with votes and permit
@custom:contract-name AZR
@license MIT
@notice Wraps the native coin 1:1 like WETH: `deposit` mints, `withdraw` burns
        and returns native AZR, so `totalSupply` always equals the native
        coin held here. Balances carry ERC20Votes-style checkpoints keyed by
        block number (ERC-6372 clock), delegation (also by EIP-712
        signature) and EIP-2612 `permit`. Only delegated balances vote: an
        account that wants its own votes delegates to itself.
        Both signature kinds share one nonce per account and the domain
        {name, version, chainId, verifyingContract}, so a signature is bound
        to this contract on this chain.
"""

from ethereum.ercs import IERC20
implements: IERC20

from .interfaces import IVotes
implements: IVotes

from snekmate.auth import ownable
initializes: ownable

from snekmate.tokens import erc20
initializes: erc20[ownable := ownable]

from snekmate.utils import ecdsa
from snekmate.utils import eip712_domain_separator
uses: eip712_domain_separator

# `transfer`, `transferFrom`, `mint`, `burn` and the minter role are not
# exported: transfers must move voting power, and nothing mints AZR but a
# native deposit.
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
)

_DELEGATION_TYPEHASH: constant(bytes32) = keccak256(
    "Delegation(address delegatee,uint256 nonce,uint256 expiry)"
)

struct Checkpoint:
    fromBlock: uint256
    votes: uint256

event Deposit:
    account: indexed(address)
    amount: uint256

event Withdrawal:
    account: indexed(address)
    to: indexed(address)
    amount: uint256

event DelegateChanged:
    delegator: indexed(address)
    fromDelegate: indexed(address)
    toDelegate: indexed(address)

event DelegateVotesChanged:
    delegate: indexed(address)
    previousVotes: uint256
    newVotes: uint256

# @dev Who each account delegates its votes to (zero: nobody, no votes).
delegates: public(HashMap[address, address])
# @dev Number of vote checkpoints of an account.
numCheckpoints: public(HashMap[address, uint256])
_checkpoints: HashMap[address, HashMap[uint256, Checkpoint]]
_supplyCheckpointCount: uint256
_supplyCheckpoints: HashMap[uint256, Checkpoint]


@deploy
def __init__():
    """
    @notice Deploys the wrapper with domain {name: "Azora AZR", version: "1"}.
    """
    ownable.__init__()
    erc20.__init__("Wrapped Azora", "AZR", 18, "Azora AZR", "1")


@external
@payable
def __default__():
    """
    @notice Plain native transfers deposit for the sender.
    """
    # only plain transfers: a call to a function this contract lacks must not "succeed"
    assert len(msg.data) == 0, "AZR: unknown function"
    self._deposit(msg.sender, msg.value)


@external
@payable
def deposit():
    """
    @notice Wraps `msg.value` native AZR into AZR tokens for the caller.
    """
    self._deposit(msg.sender, msg.value)


@external
@payable
def depositFor(account: address):
    """
    @notice Wraps `msg.value` native AZR into AZR tokens for `account`.
    @param account The receiver of the tokens.
    """
    self._deposit(account, msg.value)


@external
@nonreentrant
def withdraw(amount: uint256):
    """
    @notice Burns `amount` of the caller's tokens and sends as much native AZR back.
    @param amount The amount to unwrap.
    """
    self._withdraw(msg.sender, amount)


@external
@nonreentrant
def withdrawTo(to: address, amount: uint256):
    """
    @notice Burns `amount` of the caller's tokens and sends native AZR to `to`.
    @param to The receiver of the native coin.
    @param amount The amount to unwrap.
    """
    self._withdraw(to, amount)


@external
def transfer(to: address, amount: uint256) -> bool:
    """
    @notice Moves `amount` tokens to `to`, moving the matching voting power.
    @param to The receiver.
    @param amount The amount.
    @return bool Always true (reverts on failure).
    """
    self._transfer(msg.sender, to, amount)
    return True


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    """
    @notice Moves `amount` tokens from `owner` to `to` using the caller's allowance.
    @param owner The payer.
    @param to The receiver.
    @param amount The amount.
    @return bool Always true (reverts on failure).
    """
    erc20._spend_allowance(owner, msg.sender, amount)
    self._transfer(owner, to, amount)
    return True


@external
@view
def clock() -> uint48:
    """
    @notice ERC-6372: the current timepoint, the block number.
    @return uint48 The block number.
    """
    return convert(block.number, uint48)


@external
@pure
def CLOCK_MODE() -> String[64]:
    """
    @notice ERC-6372: checkpoints are keyed by block number.
    @return String The clock mode descriptor.
    """
    return "mode=blocknumber&from=default"


@external
def delegate(delegatee: address):
    """
    @notice Delegates the caller's votes to `delegatee` (itself to vote directly).
    @param delegatee The account that receives the voting power.
    """
    self._delegate(msg.sender, delegatee)


@external
def delegateBySig(delegatee: address, nonce: uint256, expiry: uint256, v: uint8, r: bytes32, s: bytes32):
    """
    @notice Delegates by an EIP-712 `Delegation` signature of the delegator.
    @dev The nonce is the account's shared permit/delegation nonce; high-s signatures revert.
    @param delegatee The account that receives the voting power.
    @param nonce The signer's current nonce.
    @param expiry The last timestamp the signature is valid at.
    @param v The recovery id (27 or 28).
    @param r The signature's r.
    @param s The signature's s (low half of the curve order only).
    """
    assert block.timestamp <= expiry, "AZR: signature expired"
    struct_hash: bytes32 = keccak256(abi_encode(_DELEGATION_TYPEHASH, delegatee, nonce, expiry))
    digest: bytes32 = eip712_domain_separator._hash_typed_data_v4(struct_hash)
    signer: address = ecdsa._recover_vrs(
        digest, convert(v, uint256), convert(r, uint256), convert(s, uint256)
    )
    assert nonce == erc20.nonces[signer], "AZR: invalid nonce"
    erc20.nonces[signer] = nonce + 1
    self._delegate(signer, delegatee)


@external
@view
def getVotes(account: address) -> uint256:
    """
    @notice The current voting power of `account`.
    @param account The delegate.
    @return uint256 Its votes now.
    """
    n: uint256 = self.numCheckpoints[account]
    if n == 0:
        return 0
    return self._checkpoints[account][n - 1].votes


@external
@view
def getPastVotes(account: address, timepoint: uint256) -> uint256:
    """
    @notice The voting power of `account` at the end of block `timepoint`.
    @param account The delegate.
    @param timepoint A block number strictly before the current block.
    @return uint256 Its votes then.
    """
    assert timepoint < block.number, "AZR: future lookup"
    return self._lookup_account(account, timepoint)


@external
@view
def getPastTotalSupply(timepoint: uint256) -> uint256:
    """
    @notice The total supply at the end of block `timepoint`.
    @param timepoint A block number strictly before the current block.
    @return uint256 The supply then.
    """
    assert timepoint < block.number, "AZR: future lookup"
    return self._lookup_supply(timepoint)


@external
@view
def checkpoints(account: address, pos: uint256) -> Checkpoint:
    """
    @notice The `pos`-th vote checkpoint of `account`.
    @param account The delegate.
    @param pos The index, below `numCheckpoints(account)`.
    @return Checkpoint The block it starts at and the votes.
    """
    assert pos < self.numCheckpoints[account], "AZR: no such checkpoint"
    return self._checkpoints[account][pos]


@internal
def _deposit(account: address, amount: uint256):
    erc20._mint(account, amount)
    self._write_supply(amount, True)
    self._move_voting_power(empty(address), self.delegates[account], amount)
    log Deposit(account=account, amount=amount)


@internal
def _withdraw(to: address, amount: uint256):
    # effects before the native transfer: the receiver may call back in
    erc20._burn(msg.sender, amount)
    self._write_supply(amount, False)
    self._move_voting_power(self.delegates[msg.sender], empty(address), amount)
    log Withdrawal(account=msg.sender, to=to, amount=amount)
    raw_call(to, b"", value=amount)


@internal
def _transfer(owner: address, to: address, amount: uint256):
    erc20._transfer(owner, to, amount)
    self._move_voting_power(self.delegates[owner], self.delegates[to], amount)


@internal
def _delegate(account: address, delegatee: address):
    old: address = self.delegates[account]
    self.delegates[account] = delegatee
    log DelegateChanged(delegator=account, fromDelegate=old, toDelegate=delegatee)
    self._move_voting_power(old, delegatee, erc20.balanceOf[account])


@internal
def _move_voting_power(src: address, dst: address, amount: uint256):
    if src == dst or amount == 0:
        return
    if src != empty(address):
        self._write_account(src, amount, False)
    if dst != empty(address):
        self._write_account(dst, amount, True)


@internal
def _write_account(account: address, delta: uint256, add: bool):
    n: uint256 = self.numCheckpoints[account]
    old: uint256 = 0
    if n > 0:
        old = self._checkpoints[account][n - 1].votes
    new: uint256 = 0
    if add:
        new = old + delta
    else:
        new = old - delta
    if n > 0 and self._checkpoints[account][n - 1].fromBlock == block.number:
        self._checkpoints[account][n - 1].votes = new
    else:
        self._checkpoints[account][n] = Checkpoint(fromBlock=block.number, votes=new)
        self.numCheckpoints[account] = n + 1
    log DelegateVotesChanged(delegate=account, previousVotes=old, newVotes=new)


@internal
def _write_supply(delta: uint256, add: bool):
    # erc20 already updated totalSupply; record the new value for this block
    n: uint256 = self._supplyCheckpointCount
    if n > 0 and self._supplyCheckpoints[n - 1].fromBlock == block.number:
        self._supplyCheckpoints[n - 1].votes = erc20.totalSupply
    else:
        self._supplyCheckpoints[n] = Checkpoint(fromBlock=block.number, votes=erc20.totalSupply)
        self._supplyCheckpointCount = n + 1


@internal
@view
def _lookup_account(account: address, timepoint: uint256) -> uint256:
    high: uint256 = self.numCheckpoints[account]
    low: uint256 = 0
    # binary search for the first checkpoint after `timepoint`; 256 halvings cover any count
    for _: uint256 in range(256):
        if low >= high:
            break
        mid: uint256 = (low + high) // 2
        if self._checkpoints[account][mid].fromBlock > timepoint:
            high = mid
        else:
            low = mid + 1
    if high == 0:
        return 0
    return self._checkpoints[account][high - 1].votes


@internal
@view
def _lookup_supply(timepoint: uint256) -> uint256:
    high: uint256 = self._supplyCheckpointCount
    low: uint256 = 0
    for _: uint256 in range(256):
        if low >= high:
            break
        mid: uint256 = (low + high) // 2
        if self._supplyCheckpoints[mid].fromBlock > timepoint:
            high = mid
        else:
            low = mid + 1
    if high == 0:
        return 0
    return self._supplyCheckpoints[high - 1].votes
