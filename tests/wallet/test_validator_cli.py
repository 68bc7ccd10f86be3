"""``azora validator`` against a real ``azora dev``: a learner earns the validator credential
through the dev oracle committee, registers, bonds, is bonded then active from the next epoch,
is jailed by the DAO and checks its jail, unbonds and withdraws after the unbonding delay; the
dev validator claims its epoch rewards — and every refusal is one line on stderr with nothing sent."""
from __future__ import annotations

import json
import subprocess

import pytest
from web3 import Web3

from learner_chain import (
    AZR, MNEMONIC, advance_time, azora, execute_proposal, sign_completion_bundle, system_contract, write_json,
)

DEV_VALIDATOR = "0x6D58073AeeB28068c5925D618DA9f4c4F35727b3"   # index 1000: no dev account
DEV_VALIDATOR_INDEX = "1000"
EPOCH = 100                                                    # dev epoch length in blocks


@pytest.fixture(scope="module")
def env(tmp_path_factory, dev_node, w3):
    """Keystores of the dev validator and of a fresh operator funded with 19,000 AZR by dev accounts 3-4."""
    home = tmp_path_factory.mktemp("validator")
    (home / "pw").write_text("correct horse battery staple\n")
    (home / "words").write_text(MNEMONIC)
    keys = str(home / "keys")
    dev = azora("wallet", "import", "--keystore-dir", keys, "--mnemonic-file", str(home / "words"),
                "--index", DEV_VALIDATOR_INDEX, "--password-file", str(home / "pw"), "--json")
    operator = azora("wallet", "new", "--keystore-dir", keys, "--password-file", str(home / "pw"), "--json")
    assert dev.returncode == 0 and operator.returncode == 0, dev.stderr + operator.stderr
    address = json.loads(operator.stdout)["address"]
    for funder in w3.eth.accounts[3:5]:
        w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": funder, "to": address,
                                                                     "value": 9_500 * AZR}), timeout=60)
    back_the_dev_validator(w3)
    return {"home": home, "keys": keys, "rpc": dev_node.url, "operator": address, "dev": DEV_VALIDATOR}


def back_the_dev_validator(w3: Web3) -> None:
    """Dev accounts 5 and 6 bond 18,000 AZR for the dev validator (``bondFor``): ``azora dev``
    signs with its one key, so it must keep more than 2/3 of the power once the operator's
    11,000 joins the set, or the chain stops."""
    azr, registry = system_contract(w3, "AZR"), system_contract(w3, "ValidatorRegistry")
    for backer in w3.eth.accounts[5:7]:
        for call, value in ((azr.functions.deposit(), 9_000 * AZR), (azr.functions.approve(registry.address, 9_000 * AZR), 0),
                            (registry.functions.bondFor(DEV_VALIDATOR, 9_000 * AZR), 0)):
            receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": backer, "value": value}), timeout=60)
            assert receipt.status == 1


def run(env: dict, *args: str, signer: str | None = None) -> subprocess.CompletedProcess:
    extra = ["--rpc", env["rpc"]]
    if signer:
        extra += ["--account", env[signer], "--keystore-dir", env["keys"], "--password-file", str(env["home"] / "pw")]
    return azora(*args, *extra)


def validator(env: dict, command: str, *args: str, signer: str | None = "operator") -> subprocess.CompletedProcess:
    return run(env, "validator", command, *args, *(("--yes",) if command not in ("status", "unjail") else ()),
               signer=signer)


def ok_json(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def refused(result: subprocess.CompletedProcess, code: int = 1) -> str:
    """The one line a refusal prints; nothing on stdout."""
    assert result.returncode == code, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.stdout == ""
    return lines[0]


def status(env: dict, who: str) -> dict:
    return ok_json(run(env, "validator", "status", env[who], "--json"))


def mine_to_next_epoch(w3: Web3) -> None:
    head = w3.eth.block_number
    w3.provider.make_request("evm_mine", [{"blocks": hex(EPOCH - head % EPOCH + 1)}])


def earn_validator_credential(env: dict, w3: Web3) -> int:
    bundle = write_json(env["home"] / "bundle.json", sign_completion_bundle(w3, env["operator"]))
    claim = ok_json(run(env, "wallet", "claim", "--bundle", str(bundle), "--yes", "--json", signer="operator"))["claim"]
    advance_time(w3, 61)
    return int(ok_json(run(env, "wallet", "finalize", claim, "--yes", "--json", signer="operator"))["credential"])


def test_refusals_before_a_credential(env):
    shown = status(env, "operator")
    assert set(shown) >= {"address", "state", "bond", "power", "credential", "jailedUntil", "blocksSigned",
                          "pendingRewards"}
    assert (shown["state"], shown["bond"], shown["power"], shown["credential"]) == ("none", "0.0", "0", None)
    assert "holds no validator credential" in refused(validator(env, "register"))
    assert "below the minimum bond 10000.0 AZR" in refused(validator(env, "register", "--amount", "5"))
    assert "not a registered candidate" in refused(validator(env, "bond", "--amount", "1"))
    assert "has 0.0 AZR bonded" in refused(validator(env, "unbond", "--amount", "1"))
    assert "nothing unbonding" in refused(validator(env, "withdraw"))
    assert "no rewards to claim" in refused(validator(env, "claim-rewards"))
    assert "not a registered candidate" in refused(validator(env, "unjail"))
    assert "not held by" in refused(validator(env, "register", "--credential", "1"))
    assert "there is no credential #999" in refused(validator(env, "register", "--credential", "999"))
    assert "give an ADDRESS" in refused(run(env, "validator", "status"), code=2)
    assert "not a number" in refused(validator(env, "register", "--credential", "one"), code=2)
    assert "not a 0x address" in refused(run(env, "validator", "status", "0x12"))


def test_from_course_to_seat_and_back(env, w3):
    credential = earn_validator_credential(env, w3)
    assert "needs 10000.0" in refused(validator(env, "register"))          # no AZR tokens yet
    ok_json(run(env, "wallet", "wrap", "--amount", "15000", "--yes", "--json", signer="operator"))
    registered = ok_json(validator(env, "register", "--json"))
    assert registered["status"] == 1
    shown = status(env, "operator")
    assert (shown["state"], shown["bond"], shown["credential"]["id"]) == ("bonded", "10000.0", credential)
    assert shown["activeFromEpoch"] == shown["epoch"] + 1
    assert "already a registered candidate" in refused(validator(env, "register"))
    ok_json(validator(env, "bond", "--amount", "1000", "--json"))
    assert "needs 20000.0" in refused(validator(env, "bond", "--amount", "20000"))
    text = run(env, "validator", "status", env["operator"])
    assert text.returncode == 0 and "bonded: active from epoch" in text.stdout and "11000.0 AZR" in text.stdout

    # active from the next epoch; then the chain is rewound, because ``azora dev`` signs with its
    # one key and would wait out a round timeout at every height the operator should propose
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    mine_to_next_epoch(w3)
    shown = status(env, "operator")
    assert (shown["state"], shown["power"], shown["bond"]) == ("active", "11000", "11000.0")
    members = [Web3.to_checksum_address(v["address"]) for v in
               w3.provider.make_request("azora_validators", [])["result"]]
    assert env["operator"] in members
    assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True
    assert status(env, "operator")["state"] == "bonded"

    # the DAO jails the operator for an hour: status says so, unjail says until when
    registry = system_contract(w3, "ValidatorRegistry")
    execute_proposal(w3, [(registry.address, 0, bytes.fromhex(
        registry.encode_abi("jail", [env["operator"], 3_600])[2:]))], "Jail the operator for an hour")
    shown = status(env, "operator")
    assert shown["state"] == "jailed" and shown["jailedUntil"] > 0
    assert "jailed until" in refused(validator(env, "unjail"))
    advance_time(w3, 3_700)   # the jail began at the execute block, stamped at the eta
    assert ok_json(validator(env, "unjail", "--json"))["eligible"] is True

    assert "has 11000.0 AZR bonded" in refused(validator(env, "unbond", "--amount", "20000"))
    ok_json(validator(env, "unbond", "--amount", "11000", "--json"))
    shown = status(env, "operator")
    assert shown["bond"] == "0.0" and shown["unbonding"] == "11000.0"
    assert "still unbonding until" in refused(validator(env, "withdraw"))
    assert "the bond 0.0 AZR is below the minimum" in refused(validator(env, "unjail"))
    advance_time(w3, 601)
    withdrawn = ok_json(validator(env, "withdraw", "--json"))
    assert withdrawn["status"] == 1
    azr = system_contract(w3, "AZR")
    assert azr.functions.balanceOf(env["operator"]).call() == 15_000 * AZR
    shown = status(env, "operator")
    assert (shown["bond"], shown["unbonding"]) == ("0.0", "0.0")


def test_the_dev_validator_signs_and_claims_its_rewards(env, w3):
    if w3.eth.block_number <= EPOCH:
        mine_to_next_epoch(w3)
    shown = status(env, "dev")
    assert shown["state"] == "active" and shown["blocksSigned"] > 0
    owed = shown["pendingRewards"]
    assert float(owed) > 0
    before = w3.eth.get_balance(DEV_VALIDATOR)
    claimed = ok_json(validator(env, "claim-rewards", "--json", signer="dev"))
    assert claimed["status"] == 1
    assert w3.eth.get_balance(DEV_VALIDATOR) > before
    assert status(env, "dev")["pendingRewards"] == "0.0"
    assert "no rewards to claim" in refused(validator(env, "claim-rewards", signer="dev"))
