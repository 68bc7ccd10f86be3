"""Shared fixtures: the standard dev mnemonic and its accounts, and real ``azora`` processes
(started as subprocesses) with web3.py connected to them."""
from __future__ import annotations

import importlib.util
import sys
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from helpers import AZORA, DEV_MNEMONIC, REPO, AzoraProcess, free_port  # noqa: F401  (re-exported)

Account.enable_unaudited_hdwallet_features()


@pytest.fixture(scope="session")
def dev_accounts() -> list:
    return [Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
            for i in range(10)]


@pytest.fixture
def start_azora(tmp_path):
    started: list[AzoraProcess] = []

    def start(*args: str, port: int | None = None) -> AzoraProcess:
        port = port or free_port()
        node = AzoraProcess([*args, "--http.port", str(port)], port,
                            tmp_path / f"azora-{len(started)}.log")
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()


@pytest.fixture(scope="module")
def dev_node(tmp_path_factory):
    """One shared automining dev chain for a test module."""
    tmp = tmp_path_factory.mktemp("dev")
    port = free_port()
    node = AzoraProcess(["dev", "--datadir", str(tmp / "data"), "--http.port", str(port)],
                        port, tmp / "azora.log")
    yield node
    node.stop()


@pytest.fixture(scope="module")
def w3(dev_node) -> Web3:
    return Web3(Web3.HTTPProvider(dev_node.url, request_kwargs={"timeout": 60}))


@pytest.fixture
def load_bench():
    """Load ``bench/<name>.py`` by path (bench/ is not an installed package)."""
    def load(name: str) -> Any:
        spec = importlib.util.spec_from_file_location(f"azora_bench_{name}", REPO / "bench" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module   # dataclasses look their module up by name
        spec.loader.exec_module(module)
        return module
    return load
