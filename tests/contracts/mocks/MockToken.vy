# pragma version 0.4.3
"""
@title MockToken: an ERC-20 that can charge a transfer fee or re-enter a target
@notice `returns_false` makes transfers fail by returning false; `fee_bps` burns part of every transfer (a fee-on-transfer token); when armed,
        `transfer`/`transferFrom` first call `target` with `payload` once and record
        whether that re-entry succeeded.
"""

balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
totalSupply: public(uint256)
fee_bps: public(uint256)
returns_false: public(bool)
target: public(address)
payload: public(Bytes[1_024])
attempted: public(bool)
reentered: public(bool)


@external
def mint(to: address, amount: uint256):
    self.balanceOf[to] += amount
    self.totalSupply += amount


@external
def set_fee(fee_bps: uint256):
    self.fee_bps = fee_bps


@external
def set_returns_false(flag: bool):
    self.returns_false = flag


@external
def arm(target: address, payload: Bytes[1_024]):
    self.target = target
    self.payload = payload
    self.attempted = False
    self.reentered = False


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    return True


@external
def transfer(to: address, amount: uint256) -> bool:
    self._attack()
    if self.returns_false:
        return False
    self._move(msg.sender, to, amount)
    return True


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    self._attack()
    if self.returns_false:
        return False
    self.allowance[owner][msg.sender] -= amount
    self._move(owner, to, amount)
    return True


@internal
def _move(owner: address, to: address, amount: uint256):
    fee: uint256 = amount * self.fee_bps // 10_000
    self.balanceOf[owner] -= amount
    self.balanceOf[to] += amount - fee
    self.totalSupply -= fee


@internal
def _attack():
    if self.target != empty(address) and not self.attempted:
        self.attempted = True
        self.reentered = raw_call(self.target, self.payload, max_outsize=0, revert_on_failure=False)
