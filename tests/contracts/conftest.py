"""Fixtures for the contract tests.

Every test runs inside `boa.env.anchor()`, so module-scoped deployments are shared and
each test still starts from the same state.
"""

from __future__ import annotations

from typing import Iterator

import boa
import pytest

from contract_helpers import ETHER


@pytest.fixture(autouse=True)
def _isolate() -> Iterator[None]:
    with boa.env.anchor():
        yield


@pytest.fixture(scope="session")
def deployer() -> str:
    addr = boa.env.generate_address("deployer")
    boa.env.set_balance(addr, 10**9 * ETHER)
    boa.env.eoa = addr
    return addr


@pytest.fixture(scope="session")
def users() -> list[str]:
    out = []
    for i in range(6):
        addr = boa.env.generate_address(f"user{i}")
        boa.env.set_balance(addr, 1_000_000 * ETHER)
        out.append(addr)
    return out
