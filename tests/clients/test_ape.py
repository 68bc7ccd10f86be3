"""ape (eth-ape 0.8 + ape-vyper) against a real ``azora dev``, as a dApp developer uses it.

ape pins web3 7 and its own stack, so it lives in its own virtualenv built from the pinned
tests/clients/ape/requirements.txt into ~/.cache/azora/clients/ape-<hash> (outside the clone,
so later runs on the same machine reuse it). That virtualenv also holds the Vyper 0.4.3
compiler: its ``vyper`` executable on PATH plus ``vyper: version: 0.4.3`` in the project's
ape-config.yaml make ape-vyper compile without looking anything up online.

The project in tests/clients/ape declares the node as the custom network ``azora-dev``; its
script deploys from ape's test account 0, which is the node's first dev account (ape's
default test mnemonic is the one `azora dev` funds). Every JSON-RPC request goes through a
recording proxy, so the test also sees that ape asked for the methods DESIGN.md lists.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from client_venvs import cached_build, make_venv

CLIENT = Path(__file__).parent / "ape"
REQUIREMENTS = CLIENT / "requirements.txt"
CONFIG_URI = "http://127.0.0.1:8545"     # the uri in the project's ape-config.yaml
DEV_ACCOUNT_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
UNREACHABLE_PROXY = "http://127.0.0.1:9"     # the discard port: nothing listens, refusals are instant


class RecordingProxy:
    """Forwards JSON-RPC POSTs to the node and records each method asked for (batches too)."""

    def __init__(self, upstream: str) -> None:
        self.methods: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.record(body)
                reply = requests.post(upstream, data=body, timeout=60,
                                      headers={"Content-Type": "application/json"})
                self.send_response(reply.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def record(self, body: bytes) -> None:
        try:
            request = json.loads(body)
        except ValueError:
            return
        for call in request if isinstance(request, list) else [request]:
            if isinstance(call, dict):
                self.methods.append(str(call.get("method")))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def ape_venv() -> Path:
    return cached_build("ape", [REQUIREMENTS], lambda path: make_venv(path, REQUIREMENTS))


@pytest.fixture
def proxy(dev_node) -> Iterator[RecordingProxy]:
    recorder = RecordingProxy(dev_node.url)
    yield recorder
    recorder.close()


def ape_project(tmp_path: Path, uri: str) -> Path:
    """A copy of the ape project (ape writes .build/ into it) pointed at ``uri``."""
    project = tmp_path / "ape-project"
    shutil.copytree(CLIENT, project, ignore=shutil.ignore_patterns(".build", "__pycache__"))
    config = project / "ape-config.yaml"
    assert CONFIG_URI in config.read_text()
    config.write_text(config.read_text().replace(CONFIG_URI, uri))
    return project


def client_env(venv: Path, data_folder: Path) -> dict[str, str]:
    """The venv's bin first on PATH (ape-vyper finds ``vyper`` 0.4.3 there), a private ape
    data folder (the user's ~/.ape is neither read nor written) and every outside HTTP(S)
    request refused at once, so the run proves ape needs nothing but the node."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update({
        "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "APE_DATA_FOLDER": str(data_folder),
        "HTTP_PROXY": UNREACHABLE_PROXY, "HTTPS_PROXY": UNREACHABLE_PROXY,
        "http_proxy": UNREACHABLE_PROXY, "https_proxy": UNREACHABLE_PROXY,
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
    })
    return env


@pytest.mark.timeout(900)
def test_ape_deploys_calls_and_reads_reverts(ape_venv, dev_node, proxy, tmp_path):
    vyper_version = subprocess.run([str(ape_venv / "bin" / "vyper"), "--version"],
                                   capture_output=True, text=True, check=True).stdout
    assert vyper_version.startswith("0.4.3")
    project = ape_project(tmp_path, proxy.url)
    run = subprocess.run([str(ape_venv / "bin" / "ape"), "run", "azora_check",
                          "--network", "ethereum:azora-dev:node"],
                         cwd=project, env=client_env(ape_venv, tmp_path / "ape-data"),
                         capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert "Compiling using Vyper compiler '0.4.3'" in output
    lines = [line for line in run.stdout.splitlines() if line.startswith("AZORA_RESULT ")]
    assert lines, output[-4000:]
    out = json.loads(lines[-1].removeprefix("AZORA_RESULT "))

    assert out["chainId"] == 1337 and out["network"] == "azora-dev"
    assert out["owner"] == DEV_ACCOUNT_0 and int(out["balance"]) > 0
    code = dev_node.rpc("eth_getCode", [out["deployed"], "latest"])["result"]
    assert len(code) > 2
    assert out["status"] == 1 and out["total"] == 42
    assert out["receiptEvents"] == [["Added", 37, 42]]
    assert out["queriedEvents"] == [5, 42]
    assert out["estimateRevert"] == "Counter: zero amount" and out["sentWhileEstimating"] == 0
    assert out["minedRevert"] == "Counter: zero amount"
    receipt = dev_node.rpc("eth_getTransactionReceipt", [out["minedRevertTx"]])["result"]
    assert receipt["status"] == "0x0"          # the revert was mined, not just estimated
    assert out["totalAfterReverts"] == 42

    # ape asked for fee history and for the trace methods: geth's debug_trace* the node serves,
    # Parity's trace_transaction it answers -32601 "method not found", and ape carried on.
    asked = set(proxy.methods)
    assert {"eth_chainId", "eth_feeHistory", "eth_sendRawTransaction", "eth_getLogs",
            "eth_estimateGas"} <= asked, sorted(asked)
    assert {"debug_traceTransaction", "trace_transaction"} <= asked, sorted(asked)


PLUGIN = Path(__file__).parent / "ape-azora"


def install_plugin(venv: Path, tmp_path: Path) -> Path:
    """ape-azora built from its source copy into a target directory (the cached venv stays as
    its pins made it); on PYTHONPATH, ape finds it by its distribution name."""
    source, target = tmp_path / "ape-azora-src", tmp_path / "ape-plugins"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(target), str(source)],
                   check=True, capture_output=True, timeout=300)
    return target


@pytest.mark.timeout(900)
def test_ape_dev_helpers_through_the_azora_provider(ape_venv, dev_node, tmp_path):
    """set_balance, chain.mine, impersonation, snapshots and return_value, which ape's node
    provider leaves unimplemented (APINotImplementedError), through the ape-azora plugin."""
    project = ape_project(tmp_path, dev_node.url)
    config = project / "ape-config.yaml"
    config.write_text(config.read_text().replace("default_provider: node", "default_provider: azora")
                      .replace("\nnode:\n", "\nazora:\n"))
    env = client_env(ape_venv, tmp_path / "ape-data")
    env["PYTHONPATH"] = str(install_plugin(ape_venv, tmp_path))
    run = subprocess.run([str(ape_venv / "bin" / "ape"), "run", "azora_helpers",
                          "--network", "ethereum:azora-dev:azora"],
                         cwd=project, env=env, capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    lines = [line for line in run.stdout.splitlines() if line.startswith("AZORA_RESULT ")]
    assert lines, output[-4000:]
    out = json.loads(lines[-1].removeprefix("AZORA_RESULT "))

    stranger = "0x00000000000000000000000000000000000A20aa"
    assert out["provider"] == "azora"
    assert int(out["balance"]) == 5 * 10**18
    assert out["mined"] == 3
    assert out["transferStatus"] == 1 and out["transferSender"] == stranger
    assert out["addStatus"] == 1 and out["addEvents"] == [[stranger, 5]]
    assert out["returnValue"] == 5
    assert out["totalAfterRestore"] == 5
