"""The chain's and its RPC's default bounds, importable without py-evm.

The ``azora`` command line reads them to build its parser; kept here, a wallet or DAO command
does not load the EVM (half a second a command) to print its defaults.
"""
from __future__ import annotations

from dataclasses import dataclass

DEFAULT_GAS_LIMIT = 30_000_000   # a new chain's block gas limit (anvil's and Hardhat's too)
CALL_GAS_CAP = 50_000_000        # geth's RPCGasCap
EVM_TIMEOUT = 5.0                # geth's RPCEVMTimeout, seconds


@dataclass(frozen=True)
class CallLimits:
    """What one RPC execution may take: geth's ``--rpc.evmtimeout`` and ``--rpc.gascap``.

    0 turns either off, as in geth.
    """

    timeout: float = EVM_TIMEOUT
    gas_cap: int = CALL_GAS_CAP

    def cap(self, gas: int) -> int:
        return min(gas, self.gas_cap) if self.gas_cap else gas
