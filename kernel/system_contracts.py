"""Deterministic deployment of Azora's system contracts into the genesis state.

Filled in once contracts/ provides its deployment plan; until then an Azora genesis carries
only the Prague system contracts.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from eth.abc import StateAPI

if TYPE_CHECKING:
    from kernel.genesis import Genesis


def deploy_system_contracts(state: StateAPI, genesis: "Genesis") -> dict[str, bytes]:
    """Deploy the system contracts named by ``genesis.azora``; returns name → address."""
    return {}
