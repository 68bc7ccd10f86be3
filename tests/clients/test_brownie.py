"""brownie (eth-brownie 1.22) against a real ``azora dev``, as a dApp developer uses it.

brownie pins web3 7 and its own stack, so it lives in its own virtualenv built from the
pinned tests/clients/brownie/requirements.txt into ~/.cache/azora/clients/brownie-<hash>
(outside the clone, so later runs on the same machine reuse it). brownie cannot build Vyper
0.4 (its build step breaks on 0.4's source maps) and its own ``vyper`` library is 0.4.3, so the
project's contract is Vyper 0.3.10, compiled by a 0.3.10 executable from a second virtualenv
(vyper-requirements.txt) inside the same cache entry. brownie finds it as vvm's installed
``vyper-0.3.10`` in ``VVM_BINARY_PATH``, so it installs nothing; the release list it still
asks GitHub for fails at once through an unreachable proxy and brownie falls back to the
installed compilers.

The node is added with ``brownie networks add`` (into a private HOME, so the user's
~/.brownie is untouched); the script deploys and transacts both from a key brownie holds
(eth_sendRawTransaction) and from the node's own dev account (eth_accounts +
eth_sendTransaction).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from client_venvs import cached_build, make_venv

CLIENT = Path(__file__).parent / "brownie"
REQUIREMENTS = CLIENT / "requirements.txt"
VYPER_REQUIREMENTS = CLIENT / "vyper-requirements.txt"
VYPER_VERSION = "0.3.10"
DEV_ACCOUNT_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DEV_ACCOUNT_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
PAST_MIDDLEWARE_HORIZON = 60            # brownie looks up block `latest - 50` when it connects
UNREACHABLE_PROXY = "http://127.0.0.1:9"     # the discard port: nothing listens, refusals are instant


def _build_brownie(path: Path) -> None:
    """brownie's venv, the Vyper 0.3.10 venv in ``vyper-0.3.10/`` and ``vvm/vyper-0.3.10``
    (what vvm lists as an installed compiler)."""
    make_venv(path, REQUIREMENTS)
    make_venv(path / f"vyper-{VYPER_VERSION}", VYPER_REQUIREMENTS)
    (path / "vvm").mkdir()
    (path / "vvm" / f"vyper-{VYPER_VERSION}").symlink_to(path / f"vyper-{VYPER_VERSION}" / "bin" / "vyper")


@pytest.fixture(scope="module")
def brownie_venv() -> Path:
    return cached_build("brownie", [REQUIREMENTS, VYPER_REQUIREMENTS], _build_brownie)


def client_env(venv: Path, home: Path) -> dict[str, str]:
    """brownie's bin on PATH, a private HOME (brownie keeps its network list in ~/.brownie),
    vvm pointed at the 0.3.10 compiler, and every outside HTTP(S) request refused at once."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update({
        "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "HOME": str(home),
        "VVM_BINARY_PATH": str(venv / "vvm"),
        "HTTP_PROXY": UNREACHABLE_PROXY, "HTTPS_PROXY": UNREACHABLE_PROXY,
        "http_proxy": UNREACHABLE_PROXY, "https_proxy": UNREACHABLE_PROXY,
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
    })
    return env


def run_brownie(venv: Path, args: list[str], cwd: Path, env: dict[str, str]) -> str:
    run = subprocess.run([str(venv / "bin" / "brownie"), *args], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    return output


@pytest.mark.timeout(900)
def test_brownie_deploys_calls_and_reads_reverts(brownie_venv, dev_node, tmp_path):
    compiler = brownie_venv / "vvm" / f"vyper-{VYPER_VERSION}"
    version = subprocess.run([str(compiler), "--version"], capture_output=True, text=True,
                             check=True).stdout
    assert version.startswith(VYPER_VERSION)
    project = tmp_path / "brownie-project"
    shutil.copytree(CLIENT, project, ignore=shutil.ignore_patterns("build", "__pycache__", "*.txt"))
    env = client_env(brownie_venv, tmp_path / "home")
    (tmp_path / "home").mkdir()

    # brownie installs its middlewares only where block `latest - 50` exists (below it the
    # lookup fails and brownie silently runs with none): take the chain past block 50, where
    # a developer's long-lived chain is, so the test sees what they see; 10 s apart, so the
    # 50 blocks span the 250 s from which brownie caches requests as well.
    assert "error" not in dev_node.rpc("anvil_mine", [hex(PAST_MIDDLEWARE_HORIZON), hex(10)])
    assert int(dev_node.rpc("eth_blockNumber")["result"], 16) >= PAST_MIDDLEWARE_HORIZON
    run_brownie(brownie_venv, ["networks", "add", "Azora", "azora-dev", f"host={dev_node.url}",
                               "chainid=1337"], project, env)
    output = run_brownie(brownie_venv, ["run", "azora_check", "--network", "azora-dev"], project, env)
    assert f"Vyper version: {VYPER_VERSION}" in output
    lines = [line for line in output.splitlines() if line.startswith("AZORA_RESULT ")]
    assert lines, output[-4000:]
    out = json.loads(lines[-1].removeprefix("AZORA_RESULT "))

    assert out["network"] == "azora-dev" and out["chainId"] == 1337
    assert out["managed"] == DEV_ACCOUNT_0 and out["nodeAccounts"] == 10
    assert out["local"] == DEV_ACCOUNT_1
    # the 60 blocks span 600 s, so brownie caches requests too (it does where 50 blocks span 250 s)
    assert {"TxRevertCatcherMiddleware", "RequestCachingMiddleware"} <= set(out["middlewares"]), out
    code = dev_node.rpc("eth_getCode", [out["deployed"], "latest"])["result"]
    assert len(code) > 2
    assert out["status"] == [1, 1] and out["total"] == 42
    assert out["receiptEvents"] == [["Added", DEV_ACCOUNT_0, 37, 42]]
    assert out["queriedEvents"] == [5, 42]
    # Past block 50 brownie's middlewares turn reverts into its own errors, as against geth.
    assert out["estimateRevert"].startswith("ValueError: Gas estimation failed: 'Counter: zero amount'")
    assert out["sentWhileEstimating"] == 0
    assert out["callRevert"] == "VirtualMachineError: Counter: zero amount"
    assert out["revertsCaught"]
    # The mined revert: status 0 on chain; brownie reads a mined revert's reason only through
    # debug_traceTransaction, and shows it as it does against geth.
    assert out["minedRevertStatus"] == 0
    receipt = dev_node.rpc("eth_getTransactionReceipt", [out["minedRevertTx"]])["result"]
    assert receipt["status"] == "0x0"
    assert out["minedRevertError"].startswith("VirtualMachineError") and \
        "Counter: zero amount" in out["minedRevertError"], out["minedRevertError"]
    assert out["totalAfterReverts"] == 42
