# pragma version 0.4.3
"""
@title ReentrantReceiver: an attacker account that calls back into a target on receipt
@notice Acts as a user through `act`; when it receives native AZR it tries once to
        call `target` with `payload` and records whether that re-entry succeeded.
"""

target: public(address)
payload: public(Bytes[1_024])
attempted: public(bool)
reentered: public(bool)


@external
def arm(target: address, payload: Bytes[1_024]):
    self.target = target
    self.payload = payload
    self.attempted = False
    self.reentered = False


@external
@payable
def act(target: address, data: Bytes[1_024], amount: uint256) -> Bytes[1_024]:
    return raw_call(target, data, value=amount, max_outsize=1_024)


@external
@payable
def __default__():
    if self.target != empty(address) and not self.attempted:
        self.attempted = True
        self.reentered = raw_call(self.target, self.payload, max_outsize=0, revert_on_failure=False)
