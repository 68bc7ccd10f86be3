# pragma version 0.4.3
"""Calls a Store: the tracing tests' contract that calls another, logs, and reverts."""

interface Store:
    def store(key: uint256, amount: uint256): nonpayable
    def values(key: uint256) -> uint256: view

event Forwarded:
    target: indexed(address)
    key: uint256


@external
def forward(target: address, key: uint256, amount: uint256) -> uint256:
    log Forwarded(target=target, key=key)
    extcall Store(target).store(key, amount)
    return staticcall Store(target).values(key)


@external
def try_forward(target: address, key: uint256, amount: uint256) -> bool:
    # The inner call may revert ("Store: zero value"); this frame survives it.
    log Forwarded(target=target, key=key)
    success: bool = raw_call(target, abi_encode(key, amount, method_id=method_id("store(uint256,uint256)")),
                             revert_on_failure=False)
    return success
