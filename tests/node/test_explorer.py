"""The explorer page at /explorer, loaded in headless Chromium against a real ``azora dev``
holding a deployed contract, a transfer and an executed DAO proposal: every view shows the
chain's own data, and a screenshot of each is kept under the test's tmp dir."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account

from node.explorer import compute_abi_index, load_abi_index

REPO = Path(__file__).resolve().parents[2]
# init code that deploys a runtime returning 42
RETURNS_42 = "0x600a600c600039600a6000f3602a60005260206000f3"
TRANSFER_WEI = 1_500_000_000_000_000_000   # 1.5 AZR: the page shows "1.5"
OPEN_PROPOSAL = "Explorer test: an open proposal"
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


def test_abi_index_names_events_by_topic_and_functions_by_selector() -> None:
    erc20 = [{"type": "event", "name": "Transfer", "anonymous": False, "inputs": [
                {"name": "sender", "type": "address", "indexed": True},
                {"name": "receiver", "type": "address", "indexed": True},
                {"name": "value", "type": "uint256", "indexed": False}]},
             {"type": "function", "name": "balanceOf", "stateMutability": "view",
              "inputs": [{"name": "owner", "type": "address"}], "outputs": [{"name": "", "type": "uint256"}]}]
    index = compute_abi_index({"Token": erc20})
    assert index["events"][TRANSFER_TOPIC]["contract"] == "Token"
    assert index["functions"]["Token"]["balanceOf"] == "0x70a08231"


def test_abi_index_covers_every_built_system_contract() -> None:
    index = load_abi_index()
    built = {p.stem for p in (REPO / "contracts" / "build").glob("*.json")}
    assert set(index["abis"]) == built
    created = [e for e in index["events"].values() if e["contract"] == "Governor" and e["name"] == "ProposalCreated"]
    assert len(created) == 1


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is not installed: `make browser` installs Debian's package (as root)")
    return path


@pytest.fixture(scope="module")
def chain(w3, dev_node) -> dict[str, Any]:
    """Real data on the dev chain: a deploy, a transfer, and the DAO flow's executed proposal."""
    sender = w3.eth.accounts[3]
    deploy = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": sender, "data": RETURNS_42}), timeout=30)
    recipient = Account.create().address
    transfer = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": sender, "to": recipient, "value": TRANSFER_WEI}), timeout=30)
    run = subprocess.run([sys.executable, "scripts/dao_flow.py", "--rpc", dev_node.url], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    proposal_id = json.loads(run.stdout.strip().splitlines()[-1])["proposalId"]
    abi = json.loads((REPO / "contracts" / "build" / "Governor.json").read_text())["abi"]
    governor = w3.eth.contract(dev_node.rpc("azora_nodeInfo")["result"]["contracts"]["Governor"], abi=abi)
    created = governor.events.ProposalCreated().get_logs(from_block=0)[0]
    # A second proposal by the same (delegated) proposer stays open: nothing votes on it.
    args = created["args"]
    open_tx = governor.functions.propose(args["targets"], args["values"], args["calldatas"], OPEN_PROPOSAL).transact(
        {"from": args["proposer"]})
    w3.eth.wait_for_transaction_receipt(open_tx, timeout=30)
    return {"deploy": deploy, "transfer": transfer, "recipient": recipient, "proposal_id": proposal_id,
            "propose_tx": created["transactionHash"].to_0x_hex(), "head": w3.eth.get_block("latest")}


def render(chromium: str, url: str, out: Path, name: str) -> str:
    """The DOM after the page's scripts ran, and a screenshot at ``out/name.png``."""
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              f"--user-data-dir={out / 'profile'}", "--virtual-time-budget=15000", "--window-size=1280,1100"]
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    shot = subprocess.run([*common, f"--screenshot={out / (name + '.png')}", url],
                          capture_output=True, text=True, timeout=120)
    assert shot.returncode == 0 and (out / f"{name}.png").stat().st_size > 10_000, shot.stderr[-2000:]
    assert 'class="error"' not in dom.stdout, dom.stdout[-3000:]
    return dom.stdout


def test_explorer_assets_are_served_by_the_node_without_external_references(dev_node) -> None:
    for path, kind in [("/explorer", "text/html"), ("/explorer/explorer.js", "text/javascript"),
                       ("/explorer/explorer.css", "text/css"), ("/explorer/abi.json", "application/json")]:
        reply = requests.get(dev_node.url + path, timeout=10)
        assert reply.status_code == 200 and reply.headers["content-type"].startswith(kind), path
        if path != "/explorer/abi.json":
            assert "http://" not in reply.text and "https://" not in reply.text, path   # works offline
    assert requests.get(dev_node.url + "/explorer/missing.js", timeout=10).status_code == 404


def test_latest_blocks_show_hash_proposer_and_commit_signers(chromium, chain, dev_node, tmp_path) -> None:
    dom = render(chromium, dev_node.url + "/explorer", tmp_path, "home")
    head = chain["head"]
    signer = dev_node.rpc("azora_getCommit", [hex(head["number"])])["result"]["signatures"][0]["validator"]
    assert head["hash"].to_0x_hex() in dom and head["miner"].lower() in dom and signer in dom
    assert 'data-ready="home"' in dom


def test_block_view_lists_its_transactions_and_commit(chromium, chain, dev_node, tmp_path) -> None:
    receipt = chain["transfer"]
    dom = render(chromium, f"{dev_node.url}/explorer#/block/{receipt['blockNumber']}", tmp_path, "block")
    assert receipt["blockHash"].to_0x_hex() in dom and receipt["transactionHash"].to_0x_hex() in dom
    assert "Commit signers" in dom and "round 0, 1 of 1 validators" in dom


def test_transaction_view_decodes_the_governors_logs(chromium, chain, dev_node, tmp_path) -> None:
    dom = render(chromium, f"{dev_node.url}/explorer#/tx/{chain['propose_tx']}", tmp_path, "transaction")
    assert chain["propose_tx"] in dom and "Governor.propose" in dom and "Governor.ProposalCreated" in dom
    assert chain["proposal_id"] in dom


def test_address_view_shows_native_balance_a_tokens_and_credentials(chromium, chain, dev_node, tmp_path) -> None:
    dom = render(chromium, f"{dev_node.url}/explorer#/address/{chain['recipient']}", tmp_path, "address")
    assert '<span id="native-balance">1.5</span>' in dom and "AZR token balance" in dom
    validator = dev_node.rpc("azora_nodeInfo")["result"]["consensus"]["validator"]
    dom = render(chromium, f"{dev_node.url}/explorer#/address/{validator}", tmp_path, "validator-address")
    assert "<h3>Credentials</h3><table>" in dom and ">valid<" in dom   # the genesis validator credential
    assert "<h3>a-tokens</h3><table>" in dom


def test_validator_view_shows_power_and_blocks_signed(chromium, chain, dev_node, tmp_path) -> None:
    dom = render(chromium, f"{dev_node.url}/explorer#/validators", tmp_path, "validators")
    validator = dev_node.rpc("azora_validators", ["latest"])["result"][0]
    head = chain["head"]["number"]
    assert validator["address"] in dom and f"<td>{int(validator['power'], 16)}</td>" in dom
    assert f"{min(head, 100)} / " in dom   # signed every block of the window


def test_proposal_view_shows_state_and_votes(chromium, chain, dev_node, tmp_path) -> None:
    dom = render(chromium, f"{dev_node.url}/explorer#/proposals", tmp_path, "proposals")
    assert chain["proposal_id"] in dom and 'data-state="Executed"' in dom and "For 12000" in dom
    assert "<h2>Open proposals (1)</h2>" in dom and f"<b>{OPEN_PROPOSAL}</b>" in dom


def test_search_finds_a_block_a_transaction_and_an_address(chromium, chain, dev_node, tmp_path) -> None:
    deployed = chain["deploy"]["contractAddress"]
    dom = render(chromium, f"{dev_node.url}/explorer#/search/{deployed}", tmp_path, "search-address")
    assert 'data-ready="address"' in dom and "<td>contract</td>" in dom
    tx = chain["deploy"]["transactionHash"].to_0x_hex()
    dom = render(chromium, f"{dev_node.url}/explorer#/search/{tx}", tmp_path, "search-tx")
    assert 'data-ready="tx"' in dom and deployed.lower() in dom
    block = chain["transfer"]["blockHash"].to_0x_hex()
    dom = render(chromium, f"{dev_node.url}/explorer#/search/{block}", tmp_path, "search-block")
    assert 'data-ready="block"' in dom and f"Block #{chain['transfer']['blockNumber']}" in dom
