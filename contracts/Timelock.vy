# pragma version 0.4.3
"""
@title Timelock: the DAO's executor and the admin of every system contract
@custom:contract-name Timelock
@license MIT
@notice snekmate's `timelock_controller` as is. After genesis the Governor holds
        the PROPOSER, CANCELLER and EXECUTOR roles and nobody else holds any
        role but the timelock itself, so every change to the system passes a
        vote and then `minimum_delay` seconds of notice. It also holds the DAO
        treasury (native AZR and tokens).
"""

from snekmate.auth import access_control
initializes: access_control

from snekmate.governance import timelock_controller
initializes: timelock_controller[access_control := access_control]

exports: timelock_controller.__interface__


@deploy
@payable
def __init__(
    minimum_delay_: uint256,
    proposers_: DynArray[address, 255],
    executors_: DynArray[address, 255],
    admin_: address,
):
    """
    @notice Deploys the timelock (see snekmate's timelock_controller).
    @param minimum_delay_ Minimum delay in seconds between queue and execution.
    @param proposers_ Accounts granted the proposer and canceller roles.
    @param executors_ Accounts granted the executor role.
    @param admin_ Optional bootstrap admin (the genesis builder), which must renounce.
    """
    access_control.__init__()
    timelock_controller.__init__(minimum_delay_, proposers_, executors_, admin_)
