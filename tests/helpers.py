"""What test modules share besides fixtures: the repository, the standard dev mnemonic, free
ports and real ``azora`` subprocesses. An ordinary module (tests/ is on sys.path), so a test
module imports it by name; ``conftest`` is no name to import, as under xdist it may be
tests/contracts/conftest.py that owns it."""
from __future__ import annotations

import os
import random
import re
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


def is_port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_range(count: int, low: int = 10_000, high: int = 32_000) -> int:
    """The first port of ``count`` consecutive free ports (random base, so parallel workers
    rarely pick the same range; ``testnet init`` numbers nodes from a base port). Below
    Linux's ephemeral range (32768+), so outgoing connections never take a node's port."""
    for _ in range(200):
        base = random.randrange(low, high - count)
        if all(is_port_free(base + offset) for offset in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports")


def doc_sh_blocks(path: Path) -> str:
    """A doc's ``sh`` blocks, in order, as one script (``console`` and ``text`` blocks are prose)."""
    return "\n".join(re.findall(r"```sh\n(.*?)```", path.read_text(), re.S))


def doc_shell_env(tmp_path: Path, rpc_url: str, **extra: str) -> dict[str, str]:
    """The environment a doc's commands run in: ``azora`` on PATH (this interpreter's), a HOME
    of its own (the default keystore directory lands there), ``$RPC`` naming the node."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "azora"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m node.cli "$@"\n')
    shim.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {**os.environ, "HOME": str(home), "RPC": rpc_url, "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO)), **extra}


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
