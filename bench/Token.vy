# pragma version 0.4.3
"""A minimal ERC-20 for the throughput benchmark: transfer and balances, minted at deploy."""

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

balanceOf: public(HashMap[address, uint256])
totalSupply: public(uint256)


@deploy
def __init__(holders: DynArray[address, 16], amount: uint256):
    for holder: address in holders:
        self.balanceOf[holder] = amount
        log Transfer(sender=empty(address), receiver=holder, value=amount)
    self.totalSupply = amount * len(holders)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    assert self.balanceOf[msg.sender] >= amount, "Token: balance"
    self.balanceOf[msg.sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=msg.sender, receiver=receiver, value=amount)
    return True
