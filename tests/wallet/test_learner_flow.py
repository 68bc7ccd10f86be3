"""The learner's wallet against a real ``azora dev``: from a new key through funding, wrap,
delegate, a credential earned through the oracle quorum and claimed from the learner's own
wallet, a reward withdrawn, verification valid then revoked by the DAO, an a-token payment —
and every error a learner can meet, each one line on stderr with nothing sent."""
from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from web3 import Web3

from learner_chain import (
    MNEMONIC, VALIDATOR_COURSE, advance_time, azora, dev_account, execute_proposal, sign_completion_bundle,
    system_contract, write_json,
)


@pytest.fixture(scope="module")
def wallet_home(tmp_path_factory, dev_node):
    """A keystore directory with the funder (dev account 1) and a fresh learner key."""
    home = tmp_path_factory.mktemp("wallet")
    (home / "pw").write_text("correct horse battery staple\n")
    (home / "words").write_text(MNEMONIC)
    keys = str(home / "keys")
    funder = azora("wallet", "import", "--keystore-dir", keys, "--mnemonic-file", str(home / "words"),
                   "--index", "1", "--password-file", str(home / "pw"), "--json")
    learner = azora("wallet", "new", "--keystore-dir", keys, "--password-file", str(home / "pw"), "--json")
    assert funder.returncode == 0 and learner.returncode == 0, funder.stderr + learner.stderr
    return {"home": home, "keys": keys, "funder": json.loads(funder.stdout)["address"],
            "learner": json.loads(learner.stdout)["address"], "rpc": dev_node.url}


def run(env: dict, *args: str, signer: str | None = None, input: str | None = None):
    extra = ["--rpc", env["rpc"]] if args[0] in ("wallet", "credential") and args[1] not in ("list",) else []
    if signer:
        extra += ["--account", env[signer], "--keystore-dir", env["keys"], "--password-file", str(env["home"] / "pw")]
    return azora(*args, *extra, input=input)


def ok_json(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def balance(env: dict, who: str) -> dict:
    return ok_json(run(env, "wallet", "balance", env[who], "--json"))


def test_learner_flow_from_new_key_to_revoked_credential(wallet_home, w3):
    env = wallet_home
    learner = env["learner"]
    paid = ok_json(run(env, "wallet", "send", "--to", learner, "--amount", "50", "--yes", "--json", signer="funder"))
    assert set(paid) == {"hash", "status", "blockNumber", "fee"} and paid["status"] == 1
    assert balance(env, "learner")["native"] == "50.0"

    ok_json(run(env, "wallet", "wrap", "--amount", "10", "--yes", "--json", signer="learner"))
    ok_json(run(env, "wallet", "delegate", "--yes", "--json", signer="learner"))
    ok_json(run(env, "wallet", "unwrap", "--amount", "4", "--yes", "--json", signer="learner"))
    ok_json(run(env, "wallet", "send", "--to", env["funder"], "--amount", "1.5", "--token", "AZR", "--yes",
                "--json", signer="learner"))
    shown = balance(env, "learner")
    assert set(shown) == {"address", "native", "AZR", "votes", "delegate", "tokens"}
    assert shown["AZR"] == "4.5" and shown["votes"] == "4.5" and shown["delegate"] == learner
    assert set(shown["tokens"]) >= {"aZAR", "aNGN", "aKES", "aGHS", "aETB"}
    assert 43 < float(shown["native"]) < 44                         # 50 - 10 + 4, less gas

    # the oracle committee's quorum-signed completion, submitted from the learner's own wallet
    bundle = write_json(env["home"] / "bundle.json", sign_completion_bundle(w3, learner))
    claimed = ok_json(run(env, "wallet", "claim", "--bundle", str(bundle), "--yes", "--json", signer="learner"))
    claim = claimed["claim"]
    held = ok_json(run(env, "wallet", "credentials", learner, "--json"))
    assert held["credentials"] == [] and [c["claim"] for c in held["claims"]] == [claim]
    assert held["claims"][0]["state"] == "pending" and held["claims"][0]["finalizableAt"]
    early = run(env, "wallet", "finalize", claim, "--yes", signer="learner")
    assert early.returncode == 1 and "ProofOfKnowledge: in challenge window" in early.stderr
    assert len(early.stderr.strip().splitlines()) == 1                 # refused before the summary: one line
    advance_time(w3, 61)
    finalized = ok_json(run(env, "wallet", "finalize", claim, "--yes", "--json", signer="learner"))
    credential_id = finalized["credential"]
    assert credential_id > 0 and finalized["reward"] == "100.0"

    held = ok_json(run(env, "wallet", "credentials", learner, "--json"))
    assert held["claims"] == [] and len(held["credentials"]) == 1
    record = held["credentials"][0]
    committee = sorted([dev_account(7).address, dev_account(8).address], key=lambda a: int(a, 16))
    assert record["id"] == credential_id and record["status"] == "valid" and record["attesters"] == committee
    assert record["courseId"] == "0x" + Web3.keccak(text=VALIDATOR_COURSE).hex().removeprefix("0x")
    assert {"course", "title", "issuer", "issuedAt", "expiry"} <= set(record)

    verified = run(env, "credential", "verify", str(credential_id), "--json")
    assert verified.returncode == 0, verified.stderr
    verdict = json.loads(verified.stdout)
    assert verdict["status"] == "valid" and verdict["holder"] == learner and verdict["attesters"] == committee
    assert verdict["transaction"] and verdict["block"] == finalized["blockNumber"]
    assert run(env, "credential", "verify", learner, "--course", VALIDATOR_COURSE).returncode == 0
    nobody = run(env, "credential", "verify", env["funder"], "--course", VALIDATOR_COURSE, "--json")
    assert nobody.returncode == 1 and json.loads(nobody.stdout)["status"] == "none"

    rewards = ok_json(run(env, "wallet", "rewards", "--address", learner, "--json"))
    assert rewards["claimable"] == "100.0"
    before = w3.eth.get_balance(learner)
    withdrawn = ok_json(run(env, "wallet", "rewards", "withdraw", "--yes", "--json", signer="learner"))
    assert withdrawn["amount"] == "100.0"
    assert w3.eth.get_balance(learner) > before + 99 * 10**18
    assert ok_json(run(env, "wallet", "rewards", "--address", learner, "--json"))["claimable"] == "0.0"

    not_mine = run(env, "credential", "burn", str(credential_id), "--yes", signer="funder")
    assert not_mine.returncode == 1 and "Credentials: not holder" in not_mine.stderr

    # the DAO revokes the credential (its issuer is the Timelock) and appoints an aZAR issuer
    creds, azar = system_contract(w3, "Credentials"), system_contract(w3, "aZAR", "AToken")
    execute_proposal(w3, [
        (creds.address, 0, bytes.fromhex(creds.encode_abi("revoke", [credential_id, "evidence was plagiarised"])[2:])),
        (azar.address, 0, bytes.fromhex(azar.encode_abi("setIssuer", [env["funder"]])[2:])),
    ], "Revoke credential for plagiarism; appoint an aZAR issuer")
    revoked = run(env, "credential", "verify", str(credential_id), "--json")
    assert revoked.returncode == 1
    verdict = json.loads(revoked.stdout)
    assert verdict["status"] == "revoked" and verdict["revocationReason"] == "evidence was plagiarised"
    assert run(env, "credential", "verify", learner, "--course", VALIDATOR_COURSE).returncode == 1

    # an a-token payment: the new issuer mints aZAR to the learner, who pays part of it on
    w3.eth.wait_for_transaction_receipt(azar.functions.mint(learner, 5 * 10**18).transact({"from": env["funder"]}))
    ok_json(run(env, "wallet", "send", "--to", env["funder"], "--amount", "2.5", "--token", "aZAR", "--yes",
                "--json", signer="learner"))
    assert balance(env, "learner")["tokens"]["aZAR"] == "2.5"
    assert balance(env, "funder")["tokens"]["aZAR"] == "2.5"

    # the holder unequips the revoked credential: burning does not erase the revocation
    # (a burned credential stays revocable so a clawback cannot be dodged, issue 12)
    ok_json(run(env, "credential", "burn", str(credential_id), "--yes", "--json", signer="learner"))
    assert json.loads(run(env, "credential", "verify", str(credential_id), "--json").stdout)["status"] == "revoked"


def error_line(result, exit_code: int = 1) -> str:
    assert result.returncode == exit_code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    return result.stderr.strip().splitlines()[-1]


def test_invalid_inputs_fail_clearly_and_send_nothing(wallet_home, w3, tmp_path):
    env = wallet_home
    nonce = w3.eth.get_transaction_count(env["funder"])
    empty = ok_json(azora("wallet", "new", "--keystore-dir", env["keys"], "--password-file", str(env["home"] / "pw"),
                          "--json"))["address"]
    env = {**env, "empty": empty}
    assert "insufficient funds" in error_line(run(env, "wallet", "send", "--to", env["funder"], "--amount", "1",
                                                  "--yes", signer="empty"))
    assert "insufficient funds" in error_line(run(env, "wallet", "send", "--to", env["learner"], "--amount", "1",
                                                  "--token", "aKES", "--yes", signer="funder"))
    assert "unknown token 'aXYZ'" in error_line(run(env, "wallet", "send", "--to", env["learner"], "--amount", "1",
                                                    "--token", "aXYZ", "--yes", signer="funder"))
    assert "not checksummed" in error_line(run(env, "wallet", "send", "--to", env["learner"].lower(),
                                               "--amount", "1", "--yes", signer="funder"))
    assert "bad checksum" in error_line(run(env, "wallet", "balance", env["learner"][:-1] +
                                            ("A" if env["learner"][-1] != "A" else "B")))
    assert "not a 0x address" in error_line(run(env, "wallet", "balance", "0x12zz"))
    assert "unknown account" in error_line(run(env, "wallet", "send", "--to", env["learner"], "--amount", "1",
                                               "--yes", "--account", "0x" + "12" * 20, "--keystore-dir", env["keys"]))
    (tmp_path / "bad").write_text("wrong")
    wrong = azora("wallet", "send", "--to", env["learner"], "--amount", "1", "--yes", "--rpc", env["rpc"],
                  "--account", env["funder"], "--keystore-dir", env["keys"], "--password-file", str(tmp_path / "bad"))
    assert "wrong password" in error_line(wrong)
    (tmp_path / "torn.json").write_text('{"version": 3, "crypto": {"cipher": "aes-128-ctr", "ciphertext": "00"')
    torn = azora("wallet", "send", "--to", env["learner"], "--amount", "1", "--yes", "--rpc", env["rpc"],
                 "--keystore", str(tmp_path / "torn.json"), "--password-file", str(env["home"] / "pw"))
    assert "corrupt" in error_line(torn)
    down = azora("wallet", "balance", env["learner"], "--rpc", "http://127.0.0.1:9")
    assert "cannot reach the node at http://127.0.0.1:9" in error_line(down)
    refused = run(env, "wallet", "send", "--to", env["learner"], "--amount", "1", signer="funder", input="n\n")
    assert refused.returncode == 1 and "cancelled: nothing was sent" in refused.stderr
    assert "total" in refused.stderr and "max fee" in refused.stderr                    # the summary came first
    assert w3.eth.get_transaction_count(env["funder"]) == nonce
    listed = ok_json(azora("wallet", "list", "--keystore-dir", env["keys"], "--json"))
    funder_key = Path(next(e["keystore"] for e in listed if e["address"] == env["funder"]))
    last_chain = funder_key.with_name(f".{funder_key.name}.chain")
    last_chain.write_text("999\n")
    other_chain = run(env, "wallet", "send", "--to", env["learner"], "--amount", "1", "--yes", signer="funder")
    assert "last signed on chain 999 and the node serves chain 1337" in error_line(other_chain)
    ok_json(run(env, "wallet", "send", "--to", env["learner"], "--amount", "1", "--yes", "--chain-id", "1337",
                "--json", signer="funder"))
    assert last_chain.read_text().strip() == "1337"
    nonce += 1
    missing = run(env, "credential", "verify", "999999", "--json")
    assert missing.returncode == 1 and json.loads(missing.stdout)["status"] == "none"
    assert "not a 0x claim key" in error_line(run(env, "wallet", "finalize", "0x1234", "--yes", signer="funder"))
    assert "--keystore" in error_line(run(env, "wallet", "wrap", "--amount", "1", "--yes"), exit_code=2)

    # a transaction signed elsewhere waits behind a gap: sending would release it
    nonce = w3.eth.get_transaction_count(env["funder"], "pending")
    gapped = dev_account(1).sign_transaction({"to": env["learner"], "value": 7, "gas": 21_000, "nonce": nonce + 1,
                                              "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9,
                                              "chainId": w3.eth.chain_id})
    w3.eth.send_raw_transaction(gapped.raw_transaction)
    gap = run(env, "wallet", "send", "--to", env["learner"], "--amount", "1", "--yes", signer="funder")
    assert f"nonce gap: the node holds queued transactions of {env['funder']} at nonce {nonce + 1}" in error_line(gap)
    assert w3.eth.get_transaction_count(env["funder"], "pending") == nonce
    ok_json(run(env, "wallet", "send", "--to", env["learner"], "--amount", "1", "--yes", "--fill-gap", "--json",
                signer="funder"))
    assert w3.eth.wait_for_transaction_receipt(gapped.hash, timeout=30).status == 1


class StoredStatements(BaseHTTPRequestHandler):
    """The part of an oracle's xAPI endpoint a learner's wallet reads: ``GET /xapi/statements
    ?statementId=ID`` (Basic auth, version header) -> the stored statement, whose ``azora``
    extension carries the quorum-signed bundle once the quorum is reached."""

    statements: dict[str, dict] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlparse(self.path)
        statement_id = parse_qs(url.query).get("statementId", [""])[0]
        if self.headers.get("X-Experience-API-Version") != "1.0.3":
            return self.reply(400, {"error": "X-Experience-API-Version 1.0.3 required"})
        if self.headers.get("Authorization") != "Basic " + base64.b64encode(b"platform:secret").decode():
            return self.reply(401, {"error": "missing or wrong HTTP Basic credentials"})
        if url.path != "/xapi/statements" or statement_id not in self.statements:
            return self.reply(404, {"error": "no such statement"})
        return self.reply(200, self.statements[statement_id])

    def reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def oracle_endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StoredStatements)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def stored_statement(statement_id: str, bundle: dict) -> dict:
    return {"id": statement_id, "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
            "result": {"success": True, "extensions": {"https://azora.africa/xapi/extensions/oracle": bundle}}}


def test_claim_from_an_oracle_statement(wallet_home, w3, oracle_endpoint):
    env = wallet_home
    learner = ok_json(azora("wallet", "new", "--keystore-dir", env["keys"], "--password-file",
                            str(env["home"] / "pw"), "--json"))["address"]
    env = {**env, "second": learner}
    ok_json(run(env, "wallet", "send", "--to", learner, "--amount", "5", "--yes", "--json", signer="funder"))
    bundle = sign_completion_bundle(w3, learner)
    StoredStatements.statements.update({
        "done": stored_statement("done", bundle),
        "waiting": stored_statement("waiting", {**bundle, "state": "signed", "signatures": None}),
    })
    oracle = f"http://platform:secret@{oracle_endpoint}/xapi"
    assert "answered 401" in error_line(run(env, "wallet", "claim", "--oracle", f"http://{oracle_endpoint}/xapi",
                                            "--statement", "done", "--yes", signer="second"))
    assert "answered 404" in error_line(run(env, "wallet", "claim", "--oracle", oracle, "--statement", "nope",
                                            "--yes", signer="second"))
    assert "not reached their quorum yet (state: signed)" in error_line(
        run(env, "wallet", "claim", "--oracle", oracle, "--statement", "waiting", "--yes", signer="second"))
    assert "cannot reach the oracle" in error_line(run(env, "wallet", "claim", "--oracle", "http://127.0.0.1:9/xapi",
                                                       "--statement", "done", "--yes", signer="second"))
    claimed = ok_json(run(env, "wallet", "claim", "--oracle", oracle, "--statement", "done", "--yes", "--json",
                          signer="second"))
    assert claimed["status"] == 1
    pending = ok_json(run(env, "wallet", "credentials", learner, "--json"))["claims"]
    assert [c["claim"] for c in pending] == [claimed["claim"]]
    replayed = run(env, "wallet", "claim", "--oracle", oracle, "--statement", "done", "--yes", signer="second")
    assert "ProofOfKnowledge: replayed" in error_line(replayed)
