# pragma version 0.4.3
"""A small contract for the node's integration tests: storage, events, reverts."""

event Stored:
    setter: indexed(address)
    key: indexed(uint256)
    value: uint256

values: public(HashMap[uint256, uint256])


@external
def store(key: uint256, amount: uint256):
    assert amount != 0, "Store: zero value"
    self.values[key] = amount
    log Stored(setter=msg.sender, key=key, value=amount)


@external
def burn_gas(rounds: uint256) -> uint256:
    acc: uint256 = 0
    for i: uint256 in range(rounds, bound=10000):
        self.values[i + 1000000] = i + 1
        acc += i
    return acc
