"""What test modules share besides fixtures: the repository, the standard dev mnemonic, free
ports and real ``azora`` subprocesses. An ordinary module (tests/ is on sys.path), so a test
module imports it by name; ``conftest`` is no name to import, as under xdist it may be
tests/contracts/conftest.py that owns it."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

DEV_MNEMONIC = "test test test test test test test test test test test junk"
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
