"""Shared fixtures: the standard dev mnemonic and its accounts, and real ``azora`` processes
(started as subprocesses) with web3.py connected to them."""
from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account
from web3 import Web3

DEV_MNEMONIC = "test test test test test test test test test test test junk"
Account.enable_unaudited_hdwallet_features()


@pytest.fixture(scope="session")
def dev_accounts() -> list:
    return [Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
            for i in range(10)]


REPO = Path(__file__).resolve().parents[1]
AZORA = [sys.executable, "-m", "node.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AzoraProcess:
    """A running ``azora`` subprocess; stop() sends SIGTERM, kill() sends SIGKILL."""

    def __init__(self, args: list[str], port: int, log_path: Path) -> None:
        self.args = args
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(AZORA + args, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"azora exited {self.proc.returncode}:\n{self.log()}")
            try:
                requests.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId",
                                              "params": []}, timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"azora did not start:\n{self.log()}")

    def rpc(self, method: str, params: list | None = None) -> dict:
        return requests.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                             "params": params or []}, timeout=30).json()

    def wait_receipt(self, tx_hash: str, timeout: float = 30) -> dict:
        """The transaction's receipt once it is mined; fails on an RPC error or after ``timeout``."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            reply = self.rpc("eth_getTransactionReceipt", [tx_hash])
            assert "error" not in reply, reply
            if reply["result"] is not None:
                return reply["result"]
            time.sleep(0.05)
        raise AssertionError(f"no receipt for {tx_hash}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self._log.close()


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
