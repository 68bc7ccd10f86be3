"""viem v2 (npm) against a real ``azora dev``: docs/dapp.md's viem steps, run as written —
a public and a wallet client on a chain of its own (``defineChain``), a deploy, a simulated
and sent transaction, a read, its event from the receipt and from ``eth_getLogs``, a revert's
reason. The doc pins the version it installs; tests/clients/viem/package.json holds the same
pin so the client cache (tests/clients/client_venvs.py) fetches it once per machine."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from client_venvs import node_modules
from js_docs import doc_section, run_doc_section

PACKAGE = Path(__file__).parent / "viem" / "package.json"
HEADING = "## 4. viem (v2)"


@pytest.fixture(scope="module")
def viem_pinned() -> Path:
    """npm's download cache holds the pinned viem and its dependencies."""
    return node_modules("viem", PACKAGE)


def test_the_doc_installs_the_pinned_viem():
    pinned = json.loads(PACKAGE.read_text())["dependencies"]["viem"]
    assert f"npm install viem@{pinned}\n" in doc_section(HEADING)


def test_the_viem_steps_of_the_dapp_doc_run_as_written(viem_pinned, dev_node, tmp_path):
    out = run_doc_section(HEADING, dev_node.url, tmp_path)
    assert "chain id 1337" in out
    assert "stored 42n event Stored value 42n" in out
    assert "events 7=42" in out
    assert "reverted: Store: zero value" in out
