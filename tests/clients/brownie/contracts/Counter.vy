# @version 0.3.10
"""A small contract for the brownie client test: storage, an event, a revert reason."""

event Added:
    sender: indexed(address)
    amount: uint256
    total: uint256

total: public(uint256)


@external
def add(amount: uint256) -> uint256:
    assert amount != 0, "Counter: zero amount"
    self.total += amount
    log Added(msg.sender, amount, self.total)
    return self.total
