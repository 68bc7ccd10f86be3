"""``azora dao`` against a real ``azora dev``: delegate, propose from a file and from a template,
vote, vote-by-sig + relay, show and list through the states, queue, execute — and the change is
visible on chain; every check that stops a transaction the Governor would reject.

The dev chain's governance periods are short (voting delay 1 block, period 20 blocks, Timelock
delay 60 s) and ``evm_mine`` / ``evm_increaseTime`` move blocks and time.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector, keccak
from web3 import Web3

from contracts.build import load_artifact
from wallet.keystore import save_keystore

REPO = Path(__file__).resolve().parents[2]
MNEMONIC = "test test test test test test test test test test test junk"
STATE_NAMES = {"Pending", "Active", "Canceled", "Defeated", "Succeeded", "Queued", "Expired", "Executed"}
Account.enable_unaudited_hdwallet_features()


def azora(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "node.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=180)


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[int, list[str]]:
    """Signer flags of dev accounts 0-3 (cheap PBKDF2 keystores: the tests decrypt them often)."""
    tmp = tmp_path_factory.mktemp("keys")
    (tmp / "pw").write_text("pw\n")
    flags = {}
    for index in range(4):
        account = Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
        path = save_keystore(tmp / f"k{index}.json", account, "pw", kdf="pbkdf2", iterations=2)
        flags[index] = ["--keystore", str(path), "--password-file", str(tmp / "pw")]
    return flags


@pytest.fixture(scope="module")
def dao(dev_node, keys):
    """``dao(signer, *args)`` runs ``azora dao ...`` against the dev node, signing as account ``signer``."""
    def run(signer: int | None, *args: str) -> subprocess.CompletedProcess:
        command = args[0]
        extra = ["--rpc", dev_node.url]
        if signer is not None:
            extra += keys[signer] + ([] if command == "vote-by-sig" else ["--yes"])
        return azora("dao", *args, *extra)
    return run


def ok_json(run: subprocess.CompletedProcess) -> object:
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def refused(run: subprocess.CompletedProcess, words: str, code: int = 1) -> None:
    """One line on stderr naming the reason, the exit code, and nothing on stdout."""
    assert run.returncode == code, (run.returncode, run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in run.stderr, run.stderr
    assert run.stdout == ""


def mine(dev_node, blocks: int) -> None:
    assert "error" not in dev_node.rpc("evm_mine", [{"blocks": hex(blocks)}])


def head(dev_node) -> int:
    return int(dev_node.rpc("eth_blockNumber")["result"], 16)


def mine_past(dev_node, block: int) -> None:
    if head(dev_node) <= block:
        mine(dev_node, block - head(dev_node) + 1)


def contract(w3: Web3, dev_node, name: str):
    address = dev_node.rpc("azora_nodeInfo")["result"]["contracts"][name]
    return w3.eth.contract(address=address, abi=load_artifact(name if name != "aZAR" else "AToken")["abi"])


@pytest.fixture(scope="module")
def voters(dev_node, keys, dao):
    """Accounts 1 and 2 wrap 6,000 AZR each and delegate to 1 (12,000 votes: above the 10,000
    threshold); account 3 wraps 1,000 and votes for itself."""
    for index, amount in ((1, "6000"), (2, "6000"), (3, "1000")):
        wrapped = azora("wallet", "wrap", "--amount", amount, "--rpc", dev_node.url, "--yes", *keys[index])
        assert wrapped.returncode == 0, wrapped.stderr
    one = Account.from_mnemonic(MNEMONIC, account_path="m/44'/60'/0'/0/1").address
    assert set(ok_json(dao(1, "delegate", "--json"))) == {"hash", "status"}
    assert ok_json(dao(2, "delegate", one, "--json"))["status"] == 1
    assert ok_json(dao(3, "delegate", "--json"))["status"] == 1
    mine(dev_node, 1)       # votes count from the block after the delegation


def run_to_succeeded(dev_node, dao, proposal_id: str) -> None:
    mine_past(dev_node, ok_json(dao(None, "show", proposal_id, "--json"))["snapshot"])
    assert ok_json(dao(1, "vote", proposal_id, "for", "--json"))["status"] == 1
    mine_past(dev_node, ok_json(dao(None, "show", proposal_id, "--json"))["deadline"])


def queue_and_execute(dev_node, dao, proposal_id: str) -> None:
    assert set(ok_json(dao(0, "queue", proposal_id, "--json"))) == {"hash", "status"}
    eta = ok_json(dao(None, "show", proposal_id, "--json"))["eta"]
    dev_node.rpc("evm_setNextBlockTimestamp", [eta])
    mine(dev_node, 1)
    assert ok_json(dao(0, "execute", proposal_id, "--json"))["status"] == 1


def test_templates_cover_every_governed_parameter():
    listed = ok_json(azora("dao", "templates", "--json"))
    names = {t["name"] for t in listed}
    assert {"oracle-committee", "emission", "challenge", "add-course", "retire-course", "create-atoken",
            "atoken-issuer", "atoken-mint-cap", "release-reserve", "validator-params", "escrow-ruling",
            "revoke-credential", "treasury-transfer", "governor"} <= names
    validator = next(t for t in listed if t["name"] == "validator-params")
    assert {"minimum_bond", "max_validators", "slash_fraction", "jail_duration"} <= {p["name"] for p in validator["params"]}


def test_proposal_file_goes_from_pending_to_executed_and_changes_the_voting_period(dev_node, w3, dao, voters, tmp_path):
    (tmp_path / "p.yaml").write_text(
        "description: Set the voting period to 30 blocks\n"
        "actions:\n"
        "  - target: Governor\n"
        "    function: setVotingPeriod(uint256)\n"
        "    args: [30]\n"
        '    value: "0"\n')
    created = ok_json(dao(1, "propose", str(tmp_path / "p.yaml"), "--json"))
    assert set(created) == {"proposalId", "hash"} and created["proposalId"].isdigit()
    pid = created["proposalId"]

    shown = ok_json(dao(None, "show", pid, "--json"))
    assert set(shown) == {"proposalId", "state", "for", "against", "abstain", "quorum", "snapshot", "deadline",
                          "eta", "actions"}
    assert shown["state"] == "Pending" and shown["eta"] is None and shown["deadline"] > shown["snapshot"]
    [action] = shown["actions"]
    assert action["contract"] == "Governor" and action["function"] == "setVotingPeriod(uint256)"
    assert action["args"] == {"new_value": "30"} and action["value"] == "0.0"

    refused(dao(1, "vote", pid, "for"), "is Pending: voting opens after block")
    refused(dao(0, "queue", pid), "is Pending: only Succeeded proposals can be queued")
    refused(dao(0, "cancel", pid), "only the proposer")

    mine_past(dev_node, shown["snapshot"])
    assert ok_json(dao(1, "vote", pid, "for", "--reason", "faster decisions", "--json"))["status"] == 1
    refused(dao(1, "vote", pid, "against"), "has already voted")
    refused(dao(2, "vote", pid, "against"), "had no votes at the snapshot")   # account 2 delegated away
    assert ok_json(dao(3, "vote", pid, "abstain", "--json"))["status"] == 1
    refused(dao(0, "queue", pid), "is Active: voting ends after block")
    refused(dao(1, "cancel", pid), "is Active: only Pending proposals can be canceled")

    active = ok_json(dao(None, "show", pid, "--json"))
    assert (active["state"], active["for"], active["abstain"], active["against"]) == ("Active", "12000.0", "1000.0", "0.0")
    assert 0 < float(active["quorum"]) <= 12_000
    human = dao(None, "show", pid)
    assert "quorum" in human.stdout and "reached" in human.stdout and "Governor.setVotingPeriod(new_value=30)" in human.stdout

    mine_past(dev_node, active["deadline"])
    assert pid in [p["proposalId"] for p in ok_json(dao(None, "list", "--state", "succeeded", "--json"))]
    refused(dao(0, "execute", pid), "is Succeeded: only Queued proposals can be executed")
    assert ok_json(dao(0, "queue", pid, "--json"))["status"] == 1
    refused(dao(0, "execute", pid), "the Timelock delay has")
    queued = ok_json(dao(None, "show", pid, "--json"))
    assert queued["state"] == "Queued" and queued["eta"] > 0
    dev_node.rpc("evm_setNextBlockTimestamp", [queued["eta"]])
    mine(dev_node, 1)
    assert ok_json(dao(0, "execute", pid, "--json"))["status"] == 1
    assert ok_json(dao(None, "show", pid, "--json"))["state"] == "Executed"
    assert contract(w3, dev_node, "Governor").functions.votingPeriod().call() == 30


def test_template_proposal_with_a_relayed_ballot_changes_the_oracle_quorum(dev_node, w3, dao, voters, tmp_path):
    pok = contract(w3, dev_node, "ProofOfKnowledge")
    members = pok.functions.getOracles().call()
    assert pok.functions.quorum().call() == 2 and len(members) == 3
    pid = ok_json(dao(1, "propose", "--template", "oracle-committee", "--param", "quorum=3", "--json"))["proposalId"]
    [action] = ok_json(dao(None, "show", pid, "--json"))["actions"]
    assert action["function"] == "setOracleCommittee(address[],uint256)"
    assert action["args"]["quorum_"] == "3" and sorted(action["args"]["members"]) == sorted(members)

    # account 3 signs its ballot while the proposal is Pending; account 0 relays it once Active
    ballot = tmp_path / "ballot.json"
    signed = ok_json(dao(3, "vote-by-sig", pid, "for", "--out", str(ballot), "--json"))
    assert signed["voter"] == Account.from_mnemonic(MNEMONIC, account_path="m/44'/60'/0'/0/3").address
    refused(dao(0, "relay", str(ballot)), "is Pending: voting opens after block")
    tampered = json.loads(ballot.read_text()) | {"support": "against"}
    (tmp_path / "tampered.json").write_text(json.dumps(tampered))
    mine_past(dev_node, ok_json(dao(None, "show", pid, "--json"))["snapshot"])
    refused(dao(0, "relay", str(tmp_path / "tampered.json")), "signature is not")
    other_chain = json.loads(ballot.read_text()) | {"chainId": 1}
    (tmp_path / "other.json").write_text(json.dumps(other_chain))
    refused(dao(0, "relay", str(tmp_path / "other.json")), "on chain 1")
    assert set(ok_json(dao(0, "relay", str(ballot), "--json"))) == {"hash", "status"}
    refused(dao(0, "relay", str(ballot)), "has already voted")
    assert ok_json(dao(None, "show", pid, "--json"))["for"] == "1000.0"

    run_to_succeeded(dev_node, dao, pid)
    queue_and_execute(dev_node, dao, pid)
    assert pok.functions.quorum().call() == 3


def test_cancel_while_pending_and_a_defeated_proposal_cannot_be_queued(dev_node, w3, dao, voters, tmp_path):
    canceled = ok_json(dao(1, "propose", "--template", "governor", "--param", "late_quorum_extension=7",
                           "--json"))["proposalId"]
    assert ok_json(dao(1, "cancel", canceled, "--json"))["status"] == 1
    assert ok_json(dao(None, "show", canceled, "--json"))["state"] == "Canceled"
    refused(dao(1, "cancel", canceled), "is Canceled")

    pid = ok_json(dao(1, "propose", "--template", "challenge", "--param", "min_score=9000", "--json"))["proposalId"]
    shown = ok_json(dao(None, "show", pid, "--json"))
    mine_past(dev_node, shown["snapshot"])
    assert ok_json(dao(1, "vote", pid, "against", "--json"))["status"] == 1
    mine_past(dev_node, ok_json(dao(None, "show", pid, "--json"))["deadline"])
    refused(dao(0, "queue", pid), "is Defeated: only Succeeded proposals can be queued")
    defeated = ok_json(dao(None, "list", "--state", "Defeated", "--json"))
    assert [p["proposalId"] for p in defeated] == [pid] and defeated[0]["against"] == "12000.0"
    everything = ok_json(dao(None, "list", "--json"))
    assert {p["state"] for p in everything} <= STATE_NAMES and len(everything) >= 4


def test_invalid_proposals_are_refused_before_sending(dev_node, dao, voters, tmp_path):
    (tmp_path / "p.json").write_text(json.dumps({"description": "Raise the proposal threshold", "actions": [
        {"target": "Governor", "function": "setProposalThreshold(uint256)", "args": [20_000 * 10**18]}]}))
    refused(dao(0, "propose", str(tmp_path / "p.json")), "proposing needs 10000.0")     # account 0: no votes
    assert ok_json(dao(1, "propose", str(tmp_path / "p.json"), "--json"))["proposalId"]
    refused(dao(1, "propose", str(tmp_path / "p.json")), "exists already")
    (tmp_path / "bad.yaml").write_text("description: x\nactions:\n  - target: Governor\n    function: setVotingPeriod(uint256)\n    args: [1, 2]\n")
    refused(dao(1, "propose", str(tmp_path / "bad.yaml")), "takes 1 arguments, 2 given")
    (tmp_path / "nobody.yaml").write_text("description: x\nactions:\n  - target: Nobody\n    function: f()\n")
    refused(dao(1, "propose", str(tmp_path / "nobody.yaml")), "has no Nobody system contract")
    refused(dao(1, "propose", str(tmp_path / "missing.yaml")), "not found")
    refused(dao(1, "propose", "--template", "oracle-committee", "--param", "quorum=4"), "between 1 and the 3 members")
    refused(dao(1, "propose", "--template", "revoke-credential", "--param", "id=999", "--param", "reason=x"),
            "no credential 999")
    refused(dao(1, "propose", "--template", "release-reserve", "--param", "token=aZAR", "--param",
                f"to={'0x' + '11' * 20}", "--param", "amount=1000000000"), "less than")
    refused(dao(None, "show", "12345"), "no proposal 12345")


def test_invalid_usage_exits_2(dao, dev_node, tmp_path):
    refused(dao(1, "propose", "--template", "no-such-template"), "unknown template", 2)
    refused(dao(1, "propose", "--template", "add-course", "--param", "iri=https://x"), "needs --param title", 2)
    refused(dao(1, "propose", "--template", "emission", "--param", "nonsense=1"), "has no parameter", 2)
    refused(dao(1, "propose", "--template", "emission", "--param", "base_reward"), "NAME=VALUE", 2)
    refused(dao(1, "propose"), "give a proposal FILE or --template NAME", 2)
    refused(dao(None, "list", "--state", "Sleeping"), "--state", 2)
    refused(dao(None, "show", "not-a-number"), "is not a number", 2)
    refused(dao(None, "vote", "1", "for"), "this command signs", 2)


def test_add_course_template_encodes_the_catalog_signature_with_iri_and_title(dao, dev_node):
    iri = "https://azora.example/courses/validators-201"
    dry = ok_json(dao(None, "propose", "--template", "add-course", "--param", f"iri={iri}", "--param",
                      "title=Validators 201", "--dry-run", "--json"))
    timelock = dev_node.rpc("azora_nodeInfo")["result"]["contracts"]["Timelock"]
    signature = "setCourse(bytes32,address,uint256,bool,string,string)"
    expected = function_signature_to_4byte_selector(signature) + abi_encode(
        ["bytes32", "address", "uint256", "bool", "string", "string"],
        [keccak(text=iri), timelock, 10_000, True, iri, "Validators 201"])
    assert dry["calldatas"] == ["0x" + expected.hex()]
    [action] = dry["actions"]
    assert action["function"] == signature and action["args"]["title"] == "Validators 201"
    assert action["args"]["course_id"] == "0x" + keccak(text=iri).hex()


# what each template is tried with, and how its effect is read back after execution
PAYEE = "0x1111111111111111111111111111111111111111"
EXECUTED_TEMPLATES = {
    "emission": ["base_reward=2"],
    "challenge": ["min_score=9000", "bond=50"],
    "create-atoken": ["name=Azora Test Shilling", "symbol=aTZS", "issuer=Timelock", "mint_cap=1000"],
    "atoken-issuer": ["token=aZAR", f"issuer={PAYEE}"],
    "atoken-mint-cap": ["token=aKES", "mint_cap=5000", "mint_period=3600"],
    "release-reserve": ["token=aNGN", f"to={PAYEE}", "amount=2"],
    "validator-params": ["max_validators=50", "jail_duration=86400"],
    "validator-reward": ["amount=10"],
    "credential-issuer": [f"issuer={PAYEE}"],
    "treasury-transfer": [f"to={PAYEE}", "amount=3"],
    "governor": ["grace_period=7200"],
    "timelock-delay": ["delay=90"],
}


def json_arg(value):
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [json_arg(v) for v in value]
    return value


def test_template_actions_execute_on_the_deployed_contracts(dev_node, w3, dao, voters, tmp_path):
    """Every template whose contract function is deployed here, in one proposal, executed:
    each change is read back from its contract."""
    from wallet.dao_templates import build_template
    from wallet.rpc import Node
    from wallet.units import format_amount

    node = Node(dev_node.url)
    actions = []
    for name, params in EXECUTED_TEMPLATES.items():
        _, built = build_template(name, params, node)
        actions += [{"target": a.target, "function": a.signature, "args": json_arg(list(a.args)),
                     "value": format_amount(a.value)} for a in built]
    (tmp_path / "all.json").write_text(json.dumps({"description": "Every template at once", "actions": actions}))
    payee_before = w3.eth.get_balance(PAYEE)
    pid = ok_json(dao(1, "propose", str(tmp_path / "all.json"), "--json"))["proposalId"]
    shown = ok_json(dao(None, "show", pid, "--json"))
    assert len(shown["actions"]) == len(actions) and all(a["function"] or a["calldata"] == "0x" for a in shown["actions"])
    run_to_succeeded(dev_node, dao, pid)
    queue_and_execute(dev_node, dao, pid)

    pok, registry = contract(w3, dev_node, "ProofOfKnowledge"), contract(w3, dev_node, "ValidatorRegistry")
    assert pok.functions.baseReward().call() == 2 * 10**18
    assert (pok.functions.minScore().call(), pok.functions.challengeBond().call()) == (9000, 50 * 10**18)
    factory = contract(w3, dev_node, "ATokenFactory")
    assert int(factory.functions.tokenBySymbol("aTZS").call(), 16) != 0
    assert contract(w3, dev_node, "aZAR").functions.issuer().call() == PAYEE
    kes = w3.eth.contract(address=dev_node.rpc("azora_nodeInfo")["result"]["contracts"]["aKES"],
                          abi=load_artifact("AToken")["abi"])
    assert (kes.functions.mintCap().call(), kes.functions.mintPeriod().call()) == (5000 * 10**18, 3600)
    assert (registry.functions.maxValidators().call(), registry.functions.jailDuration().call()) == (50, 86400)
    assert registry.functions.rewardPerEpoch().call() == 10 * 10**18
    assert contract(w3, dev_node, "Credentials").functions.isIssuer(PAYEE).call()
    assert w3.eth.get_balance(PAYEE) - payee_before == 5 * 10**18          # 2 of the reserve + 3 of the treasury
    assert contract(w3, dev_node, "Governor").functions.gracePeriod().call() == 7200
    assert contract(w3, dev_node, "Timelock").functions.get_minimum_delay().call() == 90


def test_invalid_template_targets_are_refused(dao, dev_node):
    refused(dao(None, "propose", "--template", "escrow-ruling", "--param", "job=0", "--param", "milestone=0",
                "--param", "provider_share=5000", "--dry-run"), "not the DAO's Timelock")
    refused(dao(None, "propose", "--template", "retire-course", "--param", "course=https://nowhere.example",
                "--dry-run"), "is not in the catalog")
    refused(dao(None, "propose", "--template", "create-atoken", "--param", "name=Rand", "--param", "symbol=aZAR",
                "--param", "issuer=Timelock", "--param", "mint_cap=1", "--dry-run"), "exists already")
    refused(dao(None, "propose", "--template", "treasury-transfer", "--param", f"to={PAYEE}", "--param",
                "amount=1000000000000", "--dry-run"), "the treasury holds")
    refused(dao(None, "propose", "--template", "governor", "--dry-run"), "at least one --param", 2)
    retire = ok_json(dao(None, "propose", "--template", "retire-course", "--param",
                         "course=0x25bb078926cc5803d09d9d38ec86b299d33bd867016babbe3390f56b4fff5a7f", "--dry-run", "--json"))
    assert retire["actions"][0]["args"]["active"] is False and retire["actions"][0]["args"]["iri"] == ""


def test_a_queued_proposal_not_executed_within_the_grace_period_expires(dev_node, w3, dao, voters):
    pid = ok_json(dao(1, "propose", "--template", "validator-reward", "--param", "amount=11", "--json"))["proposalId"]
    run_to_succeeded(dev_node, dao, pid)
    assert ok_json(dao(0, "queue", pid, "--json"))["status"] == 1
    eta = ok_json(dao(None, "show", pid, "--json"))["eta"]
    grace = contract(w3, dev_node, "Governor").functions.gracePeriod().call()
    dev_node.rpc("evm_setNextBlockTimestamp", [eta + grace + 1])
    mine(dev_node, 1)
    assert ok_json(dao(None, "show", pid, "--json"))["state"] == "Expired"
    refused(dao(0, "execute", pid), "is Expired: only Queued proposals can be executed")
    assert pid in [p["proposalId"] for p in ok_json(dao(None, "list", "--state", "expired", "--json"))]
