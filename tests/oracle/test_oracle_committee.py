"""A real `azora dev` chain and a real three-member committee (quorum 2) of `azora oracle run`
processes exchanging signatures over libp2p: a statement posted with HTTP ends as an AZR reward
and a soulbound credential; bad input is refused precisely; members may be down."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from web3 import Web3

from bench.oracle import free_base_port
from contracts.build import load_artifact
from helpers import REPO, AzoraProcess, free_port

pytestmark = pytest.mark.slow
XAPI = {"X-Experience-API-Version": "1.0.3"}
COURSES = ["https://azora.africa/courses/blockchain-101", "https://azora.africa/courses/smart-contracts",
           "https://azora.africa/courses/digital-finance"]
EXTENSION = "https://azora.africa/xapi/extensions/oracle"


def azora(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "node.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


class Committee:
    """The members written by `azora oracle init --dev`, as processes that can stop and start."""

    def __init__(self, directory: Path) -> None:
        self.manifest = json.loads((directory / "oracles.json").read_text())
        self.auth = (self.manifest["auth"]["username"], self.manifest["auth"]["password"])
        self.members = self.manifest["oracles"]
        self.procs: dict[int, AzoraProcess] = {}

    def start(self, index: int) -> None:
        member = self.members[index]
        port = int(member["xapi"].rsplit(":", 1)[1].split("/")[0])
        config = Path(member["config"])
        self.procs[index] = AzoraProcess(["oracle", "run", "--config", str(config)], port,
                                         config.parent / "oracle.log")

    def stop(self, index: int) -> None:
        self.procs.pop(index).stop()

    def url(self, index: int) -> str:
        return self.members[index]["xapi"] + "/statements"

    def post(self, index: int, body, *, auth=None, headers=XAPI) -> requests.Response:
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return requests.post(self.url(index), data=data, auth=auth or self.auth, headers=headers, timeout=30)

    def get(self, index: int, statement_id: str) -> dict:
        reply = requests.get(self.url(index), params={"statementId": statement_id}, auth=self.auth,
                             headers=XAPI, timeout=30)
        assert reply.status_code == 200, reply.text
        return reply.json()["result"]["extensions"][EXTENSION]

    def wait_state(self, index: int, statement_id: str, states: set[str], timeout: float = 60) -> dict:
        deadline = time.time() + timeout
        view: dict = {}
        while time.time() < deadline:
            view = self.get(index, statement_id)
            if view["state"] in states:
                return view
            time.sleep(0.3)
        raise AssertionError(f"statement {statement_id} at member {index} stayed {view}:\n"
                             + self.procs[index].log() if index in self.procs else "")


def statement(learner: str, course: str, **changes) -> dict:
    body = {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "account": {"homePage": "https://learn.example.org", "name": learner}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
        "object": {"id": course, "objectType": "Activity"},
        "result": {"success": True, "score": {"scaled": 0.92}},
    }
    body.update(changes)
    return body


def close_challenge_window(node: AzoraProcess) -> None:
    """The dev chain's window is 60 s: mine a block 61 s after the head, which is at or after any
    claim's submission.

    Not `evm_increaseTime(61)` and a block: that block's time is the wall clock plus the offset,
    or its parent's plus one if that is later; blocks mined in a burst (a DAO proposal's voting
    period) run ahead of the wall clock, and an increase smaller than that lead closes nothing.
    On an automining chain no block comes after that unless a transaction does: the claim stays
    `submitted` for good (the learner-submits test failed so in the full suite, after the DAO test).
    """
    head = int(node.rpc("eth_getBlockByNumber", ["latest", False])["result"]["timestamp"], 16)
    assert "error" not in node.rpc("evm_mine", [{"timestamp": hex(head + 61)}])


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("oracle")
    port = free_port()
    node = AzoraProcess(["dev", "--datadir", str(tmp / "chain"), "--http.port", str(port)], port, tmp / "dev.log")
    out = azora("oracle", "init", "--rpc", node.url, "--out", str(tmp / "committee"), "--dev",
                "--base-port", str(free_base_port()))
    assert out.returncode == 0, out.stderr
    committee = Committee(tmp / "committee")
    for index in range(3):
        committee.start(index)
    time.sleep(2)   # the members dial each other and join the attestation topic
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
    contracts = node.rpc("azora_nodeInfo")["result"]["contracts"]
    pok = w3.eth.contract(address=contracts["ProofOfKnowledge"], abi=load_artifact("ProofOfKnowledge")["abi"])
    creds = w3.eth.contract(address=contracts["Credentials"], abi=load_artifact("Credentials")["abi"])
    yield {"node": node, "committee": committee, "w3": w3, "pok": pok, "creds": creds, "dir": tmp / "committee"}
    for index in list(committee.procs):
        committee.stop(index)
    node.stop()


def test_courses_lists_the_demo_catalog(setup):
    out = azora("courses", "--rpc", setup["node"].url, "--json")
    assert out.returncode == 0, out.stderr
    courses = json.loads(out.stdout)
    assert {c["iri"] for c in courses} >= {"https://azora.africa/courses/validator", *COURSES}
    assert all(set(c) == {"iri", "courseId", "title", "rewardWeight", "active", "issuer"} for c in courses)
    assert all(c["active"] and c["title"] for c in courses)
    assert {c["courseId"] for c in courses} == {"0x" + Web3.keccak(text=c["iri"]).hex().removeprefix("0x")
                                               for c in courses}


def test_init_writes_configs_and_manifest(setup):
    manifest = setup["committee"].manifest
    assert manifest["quorum"] == 2 and set(manifest["auth"]) == {"username", "password"}
    assert [m["name"] for m in manifest["oracles"]] == ["oracle0", "oracle1", "oracle2"]
    assert {m["address"] for m in manifest["oracles"]} == set(setup["pok"].functions.getOracles().call())
    for member in manifest["oracles"]:
        assert Path(member["config"]).exists() and member["xapi"].startswith("http://127.0.0.1:")


def test_init_with_keystores_writes_each_member_a_config_with_its_own_key(setup, dev_accounts, tmp_path):
    import yaml
    from eth_account import Account

    members = dev_accounts[7:10]   # the genesis committee
    password = tmp_path / "password"
    password.write_text("correct horse\n")
    keystores = []
    for account in members:
        path = tmp_path / f"{account.address}.json"
        path.write_text(json.dumps(Account.encrypt(account.key, "correct horse")))   # a real v3 keystore
        keystores.append(str(path))
    out = tmp_path / "committee"
    done = azora("oracle", "init", "--rpc", setup["node"].url, "--out", str(out), "--keystores", ",".join(keystores),
                 "--password-file", str(password), "--quorum", "2", "--base-port", str(free_base_port()))
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "oracles.json").read_text())
    assert manifest["quorum"] == 2
    assert [m["address"] for m in manifest["oracles"]] == [a.address for a in members]
    assert manifest["auth"]["username"] == "platform" and len(manifest["auth"]["password"]) >= 16
    for member in manifest["oracles"]:
        config_path = Path(member["config"])
        config = yaml.safe_load(config_path.read_text())
        assert config["platforms"] == [manifest["auth"]] and len(config["p2p"]["peers"]) == 2
        keystore = json.loads((config_path.parent / config["keystore"]).read_text())
        secret = (config_path.parent / config["password_file"]).read_text().strip()
        assert Account.from_key(Account.decrypt(keystore, secret)).address == member["address"]
        assert member["xapi"] == f"http://127.0.0.1:{config['xapi']['port']}/xapi"


def test_invalid_keystore_password_or_quorum_for_init_is_a_one_line_error(setup, dev_accounts, tmp_path):
    from eth_account import Account

    keystore = tmp_path / "member.json"
    keystore.write_text(json.dumps(Account.encrypt(dev_accounts[7].key, "right")))
    wrong = tmp_path / "wrong"
    wrong.write_text("wrong\n")
    right = tmp_path / "right"
    right.write_text("right\n")
    for password, quorum, reason in ((wrong, "1", "wrong password"), (right, "2", "--quorum 2")):
        out = tmp_path / f"committee-{quorum}"
        done = azora("oracle", "init", "--rpc", setup["node"].url, "--out", str(out), "--keystores", str(keystore),
                     "--password-file", str(password), "--quorum", quorum)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1 and reason in done.stderr, done.stderr
        assert not out.exists()   # nothing written


def docs_statement() -> dict:
    """The statement docs/oracle.md posts with curl, as written there."""
    text = (REPO / "docs" / "oracle.md").read_text()
    start = text.index("xapi/statements -d '") + len("xapi/statements -d '")
    return json.loads(text[start:text.index("'", start)])


def test_statement_posted_to_one_member_ends_as_reward_and_credential(setup, dev_accounts):
    committee, pok, creds, w3 = setup["committee"], setup["pok"], setup["creds"], setup["w3"]
    learner = dev_accounts[1].address
    body = docs_statement()
    assert body["actor"]["account"]["name"] == learner and body["object"]["id"] == COURSES[0]
    reply = committee.post(0, body)
    assert reply.status_code == 200, reply.text
    assert reply.json() == [body["id"]]
    for index in range(3):   # every member learns of it over the attestation topic
        committee.wait_state(index, body["id"], {"submitted"})
    close_challenge_window(setup["node"])
    view = committee.wait_state(0, body["id"], {"finalized"})
    assert int(view["reward"]) == 100 * 10**18
    assert pok.functions.claimable(learner).call() == 100 * 10**18
    status, issuer, attesters = creds.functions.verify(view["credentialId"]).call()
    committee_members = {m["address"] for m in committee.members}
    assert status == 1 and len(attesters) == 2 and set(attesters) <= committee_members
    assert creds.functions.ownerOf(view["credentialId"]).call() == learner
    before = w3.eth.get_balance(learner)
    tx = pok.functions.withdrawRewards(learner).transact({"from": learner})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt.status == 1
    gas = receipt.gasUsed * receipt.effectiveGasPrice
    assert w3.eth.get_balance(learner) == before + 100 * 10**18 - gas
    # one submission for the claim, paid by one member
    assert len({committee.get(i, body["id"])["submitTx"] for i in range(3)} - {None}) == 1


def test_invalid_inputs_get_precise_errors_and_change_nothing(setup, dev_accounts):
    committee = setup["committee"]
    learner = dev_accounts[2].address
    good = statement(learner, COURSES[1])
    cases = [
        ("{not json", {}, 400, "malformed JSON"),
        (good, {"headers": {}}, 400, "X-Experience-API-Version"),
        (good, {"auth": ("platform", "wrong")}, 401, "credentials"),
        (statement(learner, COURSES[1], verb={"id": "http://adlnet.gov/expapi/verbs/attempted"}), {}, 400, "verb"),
        (statement(learner, "https://azora.africa/courses/unknown"), {}, 400, "not in the on-chain catalog"),
        (statement("not-an-address", COURSES[1]), {}, 400, "0x address"),
        (statement(learner, COURSES[1], result={"success": False, "score": {"scaled": 1}}), {}, 400, "success"),
        (statement(learner, COURSES[1], result={"success": True}), {}, 400, "scaled"),
        ([], {}, 400, "1 to"),
    ]
    for body, kwargs, status, reason in cases:
        reply = committee.post(0, body, **kwargs)
        assert reply.status_code == status, (body, reply.text)
        assert reason in reply.json()["error"], reply.text
    out = json.loads(azora("oracle", "status", "--config", committee.members[0]["config"], "--json").stdout)
    assert out["counts"]["signed"] + out["counts"]["quorum"] == 0   # nothing stored


def test_same_statement_twice_is_accepted_once_and_conflicts_are_409(setup, dev_accounts):
    committee = setup["committee"]
    learner = dev_accounts[3].address
    body = statement(learner, COURSES[2])
    assert committee.post(1, body).status_code == 200
    assert committee.post(1, body).json() == [body["id"]]          # the same again: accepted once
    put = requests.put(committee.url(1), params={"statementId": body["id"]}, data=json.dumps(body),
                       auth=committee.auth, headers=XAPI, timeout=30)
    assert put.status_code == 204
    changed = {**body, "result": {"success": True, "score": {"scaled": 0.5}}}
    reply = committee.post(1, changed)
    assert reply.status_code == 409 and "different content" in reply.json()["error"]
    other = statement(learner, COURSES[2])
    reply = committee.post(1, other)
    assert reply.status_code == 409 and "already in progress" in reply.json()["error"]
    out = json.loads(azora("oracle", "status", "--config", committee.members[1]["config"], "--json").stdout)
    assert sum(out["counts"].values()) >= 1
    committee.wait_state(1, body["id"], {"submitted"})
    close_challenge_window(setup["node"])
    committee.wait_state(1, body["id"], {"finalized"})
    reply = committee.post(2, statement(learner, COURSES[2]))
    assert reply.status_code == 409 and "already rewarded" in reply.json()["error"]


@pytest.mark.parametrize("down", [0, 1, 2])
def test_any_one_member_down_still_reaches_quorum_and_finalizes(setup, dev_accounts, down):
    committee = setup["committee"]
    learner = dev_accounts[4 + down].address
    committee.stop(down)
    try:
        posted_to = (down + 1) % 3
        body = statement(learner, COURSES[0])
        assert committee.post(posted_to, body).status_code == 200
        committee.wait_state(posted_to, body["id"], {"submitted"}, timeout=90)
        close_challenge_window(setup["node"])
        view = committee.wait_state(posted_to, body["id"], {"finalized"}, timeout=90)
        assert int(view["reward"]) > 0
    finally:
        committee.start(down)
        time.sleep(2)


def test_with_two_members_down_nothing_is_submitted_until_one_returns(setup, dev_accounts):
    committee = setup["committee"]
    learner = dev_accounts[7].address
    committee.stop(1)
    committee.stop(2)
    try:
        body = statement(learner, COURSES[1])
        assert committee.post(0, body).status_code == 200
        time.sleep(4)
        assert committee.get(0, body["id"])["state"] == "signed"
        assert setup["pok"].functions.claimOf(Web3.solidity_keccak(
            ["bytes32", "bytes32"], [b"\0" * 12 + bytes.fromhex(learner[2:]), Web3.keccak(text=COURSES[1])])).call() \
            == b"\0" * 32
        committee.start(2)
        committee.wait_state(0, body["id"], {"submitted"}, timeout=90)
        close_challenge_window(setup["node"])
        committee.wait_state(0, body["id"], {"finalized"}, timeout=90)
    finally:
        for index in (1, 2):
            if index not in committee.procs:
                committee.start(index)


def test_member_killed_between_signing_and_submission_resumes_without_a_second_submission(setup, dev_accounts):
    committee, pok = setup["committee"], setup["pok"]
    learner = dev_accounts[8].address
    committee.stop(1)
    committee.stop(2)
    body = statement(learner, COURSES[2])
    assert committee.post(0, body).status_code == 200
    assert committee.get(0, body["id"])["state"] == "signed"
    committee.procs.pop(0).kill()      # SIGKILL with the signature stored, the claim not yet sent
    for index in range(3):
        committee.start(index)
    view = committee.wait_state(0, body["id"], {"submitted"}, timeout=90)
    close_challenge_window(setup["node"])
    committee.wait_state(0, body["id"], {"finalized"}, timeout=90)
    submitted = pok.events.Submitted().get_logs(from_block=0, argument_filters={"learner": learner})
    assert [e.args.claimKey.hex() for e in submitted] == [view["claimKey"].removeprefix("0x")]


def run_dao_proposal(w3: Web3, calls: list[tuple[str, bytes]], description: str) -> None:
    """Wrap AZR, delegate, propose, vote, queue and execute `calls` as the DAO (as scripts/dao_flow.py)."""
    from web3.logs import DISCARD

    table = w3.provider.make_request("azora_nodeInfo", [])["result"]["contracts"]
    azr = w3.eth.contract(address=table["AZR"], abi=load_artifact("AZR")["abi"])
    governor = w3.eth.contract(address=table["Governor"], abi=load_artifact("Governor")["abi"])
    proposer, supporter = w3.eth.accounts[0], w3.eth.accounts[9]

    def send(call, sender, value=0):
        receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender, "value": value}), timeout=60)
        assert receipt.status == 1
        return receipt

    def mine(blocks: int) -> None:
        w3.provider.make_request("evm_mine", [{"blocks": hex(blocks)}])

    for account in (proposer, supporter):
        if azr.functions.balanceOf(account).call() < 6_000 * 10**18:   # a second proposal in the module
            send(azr.functions.deposit(), account, 6_000 * 10**18)
        send(azr.functions.delegate(proposer), account)
    mine(1)
    proposal = ([t for t, _ in calls], [0] * len(calls), [d for _, d in calls], description)
    receipt = send(governor.functions.propose(*proposal), proposer)
    proposal_id = governor.events.ProposalCreated().process_receipt(receipt, errors=DISCARD)[0].args.proposalId
    mine(governor.functions.votingDelay().call() + 1)
    send(governor.functions.castVote(proposal_id, 1), proposer)
    mine(governor.functions.votingPeriod().call() + 1)
    receipt = send(governor.functions.queue(*proposal[:3], Web3.keccak(text=description)), proposer)
    eta = governor.events.ProposalQueued().process_receipt(receipt, errors=DISCARD)[0].args.eta
    w3.provider.make_request("evm_setNextBlockTimestamp", [eta])
    mine(1)
    send(governor.functions.execute(*proposal[:3], Web3.keccak(text=description)), proposer)


def test_invalid_inactive_course_or_score_below_the_dao_minimum(setup, dev_accounts):
    committee, pok, w3 = setup["committee"], setup["pok"], setup["w3"]
    retired = COURSES[1]
    course_id = Web3.keccak(text=retired)
    issuer = pok.functions.courses(course_id).call()[0]
    window, bond, timeout = (pok.functions.challengeWindow().call(), pok.functions.challengeBond().call(),
                             pok.functions.challengeTimeout().call())
    run_dao_proposal(w3, [
        (pok.address, pok.encode_abi("setCourse", [course_id, issuer, 10_000, False])),
        (pok.address, pok.encode_abi("setChallengeParams", [window, bond, timeout, 8_000])),
    ], "Retire a course and require 80 %")
    time.sleep(2.5)   # the members cache the catalog and rules for two seconds
    learner = dev_accounts[6].address
    reply = committee.post(0, statement(learner, retired))
    assert reply.status_code == 400 and "not active" in reply.json()["error"]
    reply = committee.post(0, statement(learner, COURSES[2], result={"success": True, "score": {"scaled": 0.79}}))
    assert reply.status_code == 400 and "below the minimum 8000" in reply.json()["error"]
    out = azora("courses", "--rpc", setup["node"].url, "--json")
    assert [c["active"] for c in json.loads(out.stdout) if c["iri"] == retired] == [False]


def test_invalid_attestations_on_the_topic_are_rejected_and_change_nothing(setup, dev_accounts):
    """A peer gossips forged, non-member and wrong-chain attestations to a real member."""
    import trio
    import yaml
    from eth_account import Account

    from oracle.attestation import Attestation, completion_for, encode_attestation
    from oracle.completion import Domain, compute_digest, sign_digest
    from p2p import P2PConfig, P2PService
    from p2p.config import TopicKind
    from libp2p.crypto.secp256k1 import create_new_key_pair

    committee, pok = setup["committee"], setup["pok"]
    member0_addr = yaml.safe_load(Path(committee.members[1]["config"]).read_text())["p2p"]["peers"][0]
    chain_id = setup["w3"].eth.chain_id
    domain = Domain(chain_id, pok.address)
    member_key = dev_accounts[9]          # a real committee member's key, for the forged case
    stranger = Account.from_key(b"\x42" * 32)
    learner = dev_accounts[2].address

    def make(signer_key, named_signer, att_domain) -> tuple[str, bytes]:
        body = {**statement(learner, COURSES[0]), "timestamp": "2026-12-01T10:00:00+00:00"}
        completion = completion_for(body, oracle_set_version=1, deadline=2**40)
        signature = sign_digest(bytes(signer_key.key), compute_digest(completion, att_domain))
        att = Attestation(att_domain.chain_id, att_domain.contract, body, completion, named_signer, signature)
        return body["id"], encode_attestation(att)

    cases = [
        make(stranger, member_key.address, domain),                   # forged: not the named signer's
        make(stranger, stranger.address, domain),                     # not a committee member
        make(member_key, member_key.address, Domain(chain_id + 1, pok.address)),  # another chain
    ]

    async def gossip() -> None:
        service = P2PService(P2PConfig(chain_id=chain_id, listen_host="127.0.0.1", port=0,
                                       status_on_connect=False), create_new_key_pair(b"\x07" * 32))
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            peer = await service.connect(member0_addr)
            await service.gossip.pubsub.wait_for_subscription(
                peer, service.gossip.topic(TopicKind.ATTESTATION), timeout=15)
            await trio.sleep(1.5)   # the mesh forms on the next heartbeat
            for _, payload in cases:
                await service.publish(TopicKind.ATTESTATION, payload)
            await trio.sleep(2)
            nursery.cancel_scope.cancel()

    trio.run(gossip)
    log = committee.procs[0].log_path.read_text()
    for reason in ("not the named signer", "not a committee member", "another chain"):
        assert f"attestation reject: " in log and reason in log, reason
    for statement_id, _ in cases:
        reply = requests.get(committee.url(0), params={"statementId": statement_id}, auth=committee.auth,
                             headers=XAPI, timeout=30)
        assert reply.status_code == 404


def test_challenged_claim_is_reported_and_rejected_when_the_dao_upholds_it(setup, dev_accounts):
    committee, pok, w3 = setup["committee"], setup["pok"], setup["w3"]
    learner, challenger = dev_accounts[2].address, dev_accounts[3].address
    body = statement(learner, COURSES[0])
    assert committee.post(0, body).status_code == 200
    view = committee.wait_state(0, body["id"], {"submitted"}, timeout=90)
    key = bytes.fromhex(view["claimKey"][2:])
    bond = pok.functions.challengeBond().call()
    tx = pok.functions.challenge(key).transact({"from": challenger, "value": bond})
    assert w3.eth.wait_for_transaction_receipt(tx).status == 1
    deadline = time.time() + 60
    while committee.get(0, body["id"])["challengedBy"] != challenger:
        assert time.time() < deadline, committee.get(0, body["id"])
        time.sleep(0.5)
    status = json.loads(azora("oracle", "status", "--config", committee.members[0]["config"], "--json").stdout)
    assert any(f"claim challenged by {challenger}" in e and body["id"] in e for e in status["errors"]), status
    assert f"claim challenged by {challenger}" in committee.procs[0].log_path.read_text()
    run_dao_proposal(w3, [(pok.address, pok.encode_abi("resolveChallenge", [key, True]))], "Uphold a challenge")
    view = committee.wait_state(0, body["id"], {"rejected"}, timeout=90)
    assert view["reason"] == "the DAO upheld a challenge" and view["challengedBy"] == challenger
    assert pok.functions.claimable(challenger).call() >= bond     # the bond goes back to the challenger


def test_claim_finalizes_when_the_chain_clock_runs_ahead_of_the_wall_clock(setup, dev_accounts):
    """Blocks mined in a burst put the head's time ahead of the wall clock (as a DAO proposal's
    voting period does); closing the window must still close it."""
    committee, node = setup["committee"], setup["node"]
    assert "error" not in node.rpc("evm_mine", [{"blocks": hex(90)}])   # the head 90 s ahead
    body = statement(dev_accounts[0].address, COURSES[0])
    assert committee.post(1, body).status_code == 200
    committee.wait_state(1, body["id"], {"submitted"}, timeout=90)
    close_challenge_window(node)
    committee.wait_state(1, body["id"], {"finalized"}, timeout=60)


def test_committee_that_leaves_submission_to_the_learner_hands_out_a_bundle_the_wallet_submits(setup, dev_accounts):
    import yaml

    committee, pok, w3 = setup["committee"], setup["pok"], setup["w3"]
    for index, member in enumerate(committee.members):
        committee.stop(index)
        path = Path(member["config"])
        config = yaml.safe_load(path.read_text())
        path.write_text(yaml.safe_dump({**config, "submit": False}))
    for index in range(3):
        committee.start(index)
    time.sleep(2)
    learner = dev_accounts[5].address
    body = statement(learner, COURSES[2])
    assert committee.post(2, body).status_code == 200
    view = committee.wait_state(2, body["id"], {"quorum"})
    time.sleep(3)
    assert committee.get(2, body["id"])["state"] == "quorum"        # nobody submitted for the learner
    c = view["completion"]
    completion = (c["learner"], bytes.fromhex(c["courseId"][2:]), c["courseVersion"], c["score"], c["completedAt"],
                  bytes.fromhex(c["evidenceHash"][2:]), c["oracleSetVersion"], c["deadline"])
    signatures = [bytes.fromhex(s[2:]) for s in view["signatures"]]
    tx = pok.functions.submit(completion, signatures).transact({"from": learner})   # the learner pays
    assert w3.eth.wait_for_transaction_receipt(tx).status == 1
    committee.wait_state(2, body["id"], {"submitted"}, timeout=90)
    close_challenge_window(setup["node"])
    committee.wait_state(2, body["id"], {"finalized"}, timeout=90)
