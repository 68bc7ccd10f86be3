"""A validator on a real 4-validator network (``azora testnet init`` run as ``azora node run``
processes): a second copy of a validator's key refuses to start, each node says where it stands
(log lines and /metrics), commit certificates carry every healthy validator's signature, a
double-signing key is jailed and, after its jail, bonds up, unjails and signs again, a
learner goes from the validator course (through a real oracle committee) to a seat, and the
DAO's proposals pass, fail and expire on the live chain.

One network serves every test of this module: starting four nodes is most of the cost on two
shared cores. Its epochs are 10 blocks and its jail 90 s (``azora testnet init --epoch-length
--jail-duration``), so set changes and a whole jail come within the tests. The tests run in
file order and overlap the waits: the learner's claim is submitted by the first test and
finalized after the tests between have outlasted its challenge window (100 s here), and the learner
takes its seat while the equivocating key's jail runs. Each test asks only for fixtures, so any
one of them also runs alone (waiting out what the others would have covered).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from eth_account import Account

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "network"))
from harness import AZORA, REPO, Testnet, free_port_range  # noqa: E402  (tests/network is not a package)
from helpers import AzoraProcess, doc_shell_env  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

VALIDATORS = ["validator0", "validator1", "validator2", "validator3"]
EPOCH_LENGTH = 10
# Long enough that a jailed node, restarted on a loaded machine, sees an epoch start while still
# jailed; the learner's seat (the test between) is taken while it runs.
JAIL_SECONDS = 90
# Seconds a queued DAO proposal may wait past its ETA (the default is 14 days): the test waits
# that long for one to expire, and executes another within it through a few CLI runs, each some
# seconds on a loaded machine.
GRACE_SECONDS = 30
VOTING_BLOCKS = 40
CHALLENGE_SECONDS = 100
VALIDATOR_COURSE = "https://azora.africa/courses/validator"
XAPI = {"X-Experience-API-Version": "1.0.3"}
ORACLE_EXTENSION = "https://azora.africa/xapi/extensions/oracle"


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testnet]:
    net = Testnet.init(tmp_path_factory.mktemp("validators") / "net", validators=4, block_interval=0.5,
                       epoch_length=EPOCH_LENGTH, jail_duration=JAIL_SECONDS)
    genesis_path = Path(net.manifest["genesis"])
    genesis = json.loads(genesis_path.read_text())
    # A queued proposal expires within the test, and votes have 40 blocks to arrive even on a loaded
    # machine; the challenge window grows with the voting period, as deployment requires (a DAO
    # proposal must fit in it, counted at 2 s a block).
    genesis["azora"]["systemContracts"].update(grace_period=GRACE_SECONDS, voting_period=VOTING_BLOCKS,
                                               challenge_window=CHALLENGE_SECONDS)
    genesis_path.write_text(json.dumps(genesis, indent=2))
    try:
        net.start()
        net.wait_for_height(3, VALIDATORS, timeout=120)
        yield net
    finally:
        net.close()


def metrics(net: Testnet, name: str) -> dict[str, float]:
    """The node's /metrics as {sample name with labels: value}."""
    text = requests.get(net.nodes[name].rpc + "/metrics", timeout=10).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


# -- operators and their commands --------------------------------------------------------------

AZR = 10**18


@dataclass(frozen=True)
class Operator:
    """A validator key as its operator holds it: a keystore, its password file, and a shell of
    its own (HOME) in which the real ``azora`` commands run."""

    address: str
    keystore: Path
    password_file: Path
    env: dict[str, str]

    def run(self, rpc: str, *args: str, sign: bool = True) -> subprocess.CompletedProcess[str]:
        """``azora ARGS --rpc RPC``, signing with this key unless ``sign`` is False."""
        signer = ["--keystore", str(self.keystore), "--password-file", str(self.password_file)] if sign else []
        return subprocess.run(AZORA + [*args, "--rpc", rpc, *signer], cwd=REPO, capture_output=True, text=True,
                              timeout=180, env=self.env)

    def status(self, rpc: str) -> dict[str, Any]:
        return ok_json(self.run(rpc, "validator", "status", self.address, "--json", sign=False))


def operator_of(net: Testnet, name: str, home: Path) -> Operator:
    node = net.nodes[name]
    assert node.address is not None
    return Operator(node.address, node.home / "validator.json", node.home / "password.txt",
                    doc_shell_env(home, node.rpc))


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args[3:]} exited {done.returncode}:\n{done.stdout}\n{done.stderr[-3000:]}"
    return done.stdout


def ok_json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(done))


def refused(done: subprocess.CompletedProcess[str]) -> str:
    """The one line a refusal prints (exit 1, nothing sent)."""
    assert done.returncode == 1, f"{done.args[3:]}: {done.stdout}{done.stderr[-3000:]}"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def fund(net: Testnet, funders: list[Any], to: str, amount: int) -> None:
    """Each dev account sends ``amount`` wei to ``to`` (the funding is no step under test)."""
    hashes = []
    for funder in funders:
        nonce = int(net.rpc("validator1", "eth_getTransactionCount", [funder.address, "pending"]), 16)
        signed = funder.sign_transaction({"type": 2, "chainId": 31337, "nonce": nonce, "to": to, "value": amount,
                                          "gas": 21_000, "maxFeePerGas": 20 * 10**9, "maxPriorityFeePerGas": 10**9})
        hashes.append(net.rpc("validator1", "eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()]))
    net.wait_until(lambda: all(net.rpc("validator1", "eth_getTransactionReceipt", [h]) for h in hashes), 60,
                   f"the funding of {to}")


# -- a learner on its way to a seat ---------------------------------------------------------------

@dataclass(frozen=True)
class Learner:
    operator: Operator
    claim: str          # the Proof-of-Knowledge claim key the oracle committee submitted
    home: Path


def complete_validator_course(net: Testnet, directory: Path, learner: str) -> str:
    """The learning platform reports the learner's completion of the validator course to the
    real oracle committee the testnet's genesis names (``azora oracle init --dev``; two of its
    three members run, the quorum): they co-sign over libp2p and one submits the claim to the
    chain. The claim key."""
    from bench.oracle import free_base_port

    ok(subprocess.run(AZORA + ["oracle", "init", "--rpc", net.nodes["validator1"].rpc, "--out", str(directory),
                               "--dev", "--base-port", str(free_base_port())],
                      cwd=REPO, capture_output=True, text=True, timeout=120))
    manifest = json.loads((directory / "oracles.json").read_text())
    auth = (manifest["auth"]["username"], manifest["auth"]["password"])
    members: list[AzoraProcess] = []
    try:
        for member in manifest["oracles"][:2]:
            config = Path(member["config"])
            port = int(member["xapi"].rsplit(":", 1)[1].split("/")[0])
            members.append(AzoraProcess(["oracle", "run", "--config", str(config)], port, config.parent / "oracle.log"))
        statements = manifest["oracles"][0]["xapi"] + "/statements"
        statement = {"id": str(uuid.uuid4()),
                     "actor": {"objectType": "Agent", "account": {"homePage": "https://learn.example.org",
                                                                  "name": learner}},
                     "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
                     "object": {"id": VALIDATOR_COURSE, "objectType": "Activity"},
                     "result": {"success": True, "score": {"scaled": 0.95}}}
        reply = requests.post(statements, json=statement, auth=auth, headers=XAPI, timeout=30)
        assert reply.status_code == 200, reply.text

        def oracle_state() -> dict[str, Any]:
            stored = requests.get(statements, params={"statementId": statement["id"]}, auth=auth, headers=XAPI,
                                  timeout=10).json()
            return stored["result"]["extensions"][ORACLE_EXTENSION]
        net.wait_until(lambda: oracle_state()["state"] in ("submitted", "finalized"), 90,
                       "the committee to submit the claim\n" + "\n".join(m.log() for m in members))
        return str(oracle_state()["claimKey"])
    finally:
        for member in members:
            member.stop()


@pytest.fixture(scope="module")
def learner(network: Testnet, dev_accounts: list[Any], tmp_path_factory: pytest.TempPathFactory) -> Learner:
    """A fresh key whose holder completed the validator course: the committee submitted the
    claim (its challenge window runs from here), and two dev accounts gave it 12,000 AZR."""
    from node.testnet import write_secret

    home = tmp_path_factory.mktemp("learner")
    env = doc_shell_env(home, network.nodes["validator2"].rpc)
    write_secret(home / "password.txt", "a long passphrase only I know\n")   # a node refuses one others can read
    created = ok_json(subprocess.run(AZORA + ["wallet", "new", "--keystore", str(home / "validator.json"),
                                              "--password-file", str(home / "password.txt"), "--json"],
                                     cwd=REPO, capture_output=True, text=True, timeout=120, env=env))
    operator = Operator(created["address"], home / "validator.json", home / "password.txt", env)
    fund(network, dev_accounts[2:4], operator.address, 6_000 * AZR)
    return Learner(operator, complete_validator_course(network, home / "committee", operator.address), home)


def test_a_learner_completes_the_validator_course_and_the_oracle_committee_submits_the_claim(
        network: Testnet, learner: Learner) -> None:
    rpc = network.nodes["validator2"].rpc
    held = ok_json(learner.operator.run(rpc, "wallet", "credentials", learner.operator.address, "--json", sign=False))
    assert held["credentials"] == []
    [claim] = held["claims"]
    assert (claim["claim"], claim["state"], len(claim["attesters"])) == (learner.claim, "pending", 2)
    # No credential before the challenge window ends: the registry would refuse the candidate.
    assert learner.operator.status(rpc)["state"] == "none"
    assert "holds no validator credential" in refused(learner.operator.run(rpc, "validator", "register", "--yes"))


def test_a_second_copy_of_a_validator_key_refuses_to_start(network: Testnet, tmp_path: Path) -> None:
    original = network.nodes["validator0"]
    p2p_port, http_port = free_port_range(2), free_port_range(1)
    copy = subprocess.run(
        AZORA + ["node", "run", "--datadir", str(tmp_path / "copy"), "--genesis", network.manifest["genesis"],
                 "--p2p.addr", "127.0.0.1", "--p2p.port", str(p2p_port), "--http.port", str(http_port),
                 "--bootnodes", network.nodes["validator1"].p2p,
                 "--validator-key", str(original.home / "validator.json"),
                 "--password-file", str(original.home / "password.txt"),
                 # deeper than the default 2: a racing 3-of-4 certificate may leave validator0 out
                 "--double-sign-check-height", "4"],
        cwd=REPO, capture_output=True, text=True, timeout=180, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert copy.returncode != 0, copy.stderr[-3000:]
    address = original.address.lower()
    lines = [line for line in copy.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith(f"error: validator {address} signed block #"), copy.stderr[-3000:]
    assert lines[0].endswith("within the last 4 commits: another process is running this key? refusing to sign")
    # The network kept finalizing, and nobody saw validator0 equivocate.
    before = network.height("validator1")
    network.wait_for_height(before + 3, VALIDATORS, timeout=90)
    for name in VALIDATORS:
        assert metrics(network, name)["azora_consensus_evidence"] == 0, name


def node_info(net: Testnet, name: str) -> dict:
    return net.rpc(name, "azora_nodeInfo")["consensus"]


def start_outsider(net: Testnet, home: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """A node with a fresh validator key that is in no set: (process, rpc url, address)."""
    from node.testnet import write_secret
    from wallet.keystore import save_keystore

    home.mkdir(parents=True)
    account = Account.create()
    write_secret(home / "password.txt", "outsider-password\n")
    save_keystore(home / "validator.json", account, "outsider-password", kdf="pbkdf2", iterations=1_000)
    proc, rpc = start_node_with_key(net, home, home / "validator.json", home / "password.txt")
    return proc, rpc, account.address.lower()


def start_node_with_key(net: Testnet, home: Path, keystore: Path, password_file: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``azora node run`` joining the testnet through its running validators, with a validator
    key that the testnet did not make (its log is ``home/node.log``): (process, rpc url)."""
    p2p_port, http_port = free_port_range(1), free_port_range(1)
    bootnodes = ",".join(node.p2p for node in net.nodes.values() if node.running)
    with open(home / "node.log", "ab") as log:
        proc = subprocess.Popen(
            AZORA + ["node", "run", "--datadir", str(home / "data"), "--genesis", net.manifest["genesis"],
                     "--p2p.addr", "127.0.0.1", "--p2p.port", str(p2p_port), "--http.port", str(http_port),
                     "--bootnodes", bootnodes, "--validator-key", str(keystore), "--password-file", str(password_file)],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return proc, f"http://127.0.0.1:{http_port}"


def test_each_node_says_where_it_stands_in_its_log_metrics_and_node_info(network: Testnet, tmp_path: Path) -> None:
    network.wait_for_height(EPOCH_LENGTH + 2, VALIDATORS, timeout=120)
    for name in VALIDATORS:
        node = network.nodes[name]
        log = node.log(2_000_000)
        address = node.address.lower()
        assert f"validator {address} at #1 (epoch 0): in the active set (power 10000)" in log, name
        assert f"validator {address} at #{EPOCH_LENGTH + 1} (epoch 1): in the active set (power 10000)" in log, name
        sample = metrics(network, name)
        assert sample["azora_validator_in_active_set"] == 1 and sample["azora_validator_power"] == 10_000, name
        assert sample["azora_validator_jailed"] == 0, name
        assert sample["azora_validator_blocks_signed"] > 0, name
        assert "azora_validator_missed_blocks" in sample, name
        info = node_info(network, name)
        assert (info["inActiveSet"], info["standing"], int(info["power"], 16)) == (True, "active", 10_000), name

    proc, rpc, address = start_outsider(network, tmp_path / "outsider")
    try:
        network.wait_until(lambda: node_info_at(rpc)["inActiveSet"] is False, 90, "the outsider's RPC")
        info = node_info_at(rpc)
        assert (info["validator"], info["standing"], info["power"]) == (address, "inactive", "0x0")
        text = requests.get(rpc + "/metrics", timeout=10).text.splitlines()
        assert "azora_validator_in_active_set 0.0" in text and "azora_validator_power 0.0" in text
        log = (tmp_path / "outsider" / "node.log").read_text()
        assert f"validator {address} at #" in log and "): not in the active set" in log
    finally:
        proc.terminate()
        proc.wait(30)


def node_info_at(rpc: str) -> dict:
    from harness import rpc_call
    return rpc_call(rpc, "azora_nodeInfo")["consensus"]


def signer_counts(net: Testnet, name: str, first: int, last: int) -> list[int]:
    """Signers of the canonical commit of each block first..last (fixed by the next block)."""
    return [len(net.rpc(name, "azora_getCommit", [hex(n)])["signatures"]) for n in range(first, last + 1)]


def test_a_healthy_network_certificates_carry_all_four_signatures(network: Testnet) -> None:
    start = network.height("validator0")
    network.wait_for_height(start + 12, VALIDATORS, timeout=120)
    counts = signer_counts(network, "validator0", start + 1, start + 11)
    full = sum(1 for c in counts if c == 4)
    assert full >= 0.8 * len(counts), f"signers per certificate: {counts}"
    # Every node agrees on the canonical commits (block h+1's extraData binds h's).
    assert signer_counts(network, "validator2", start + 1, start + 11) == counts


@dataclass(frozen=True)
class Equivocation:
    """validator0's key run twice: how its own node ended, and the registry's jail."""

    exit_code: int
    copy_log: Path
    jailed_until: int    # a block timestamp


@pytest.fixture(scope="module")
def equivocation(network: Testnet, tmp_path_factory: pytest.TempPathFactory, dev_accounts: list) -> Equivocation:
    """The issue's scenario, with the start check turned off: a copy of validator0's key joins,
    both sign until they equivocate and halt; the others report it and the registry jails the
    key. (A fixture: the jailed key's return, tests later, needs the jail, and the learner's
    seat is taken while the jail runs.)"""
    home = tmp_path_factory.mktemp("copy")
    original = network.nodes["validator0"]
    p2p_port, http_port = free_port_range(1), free_port_range(1)
    log_path = home / "copy.log"
    with open(log_path, "ab") as log:
        copy = subprocess.Popen(
            AZORA + ["node", "run", "--datadir", str(home / "copy"), "--genesis", network.manifest["genesis"],
                     "--p2p.addr", "127.0.0.1", "--p2p.port", str(p2p_port), "--http.port", str(http_port),
                     "--bootnodes", network.nodes["validator1"].p2p,
                     "--validator-key", str(original.home / "validator.json"),
                     "--password-file", str(original.home / "password.txt"), "--double-sign-check-height", "0"],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    copy_rpc, sender = f"http://127.0.0.1:{http_port}", dev_accounts[6]
    try:
        assert original.proc is not None
        # Empty blocks of one proposer at one second are identical whoever builds them. Each
        # nonce goes to the two copies as two transactions: each pool keeps its own and refuses
        # the other's gossip (an underpriced replacement), so at the key's turn to propose the
        # two copies' blocks (and votes) differ. Sent to the copy alone, gossip made the pools
        # alike within milliseconds and the scenario took one to four minutes.
        network.wait_until(lambda: requests.post(copy_rpc, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId",
                                                                 "params": []}, timeout=2).ok, 90, "the copy's RPC")
        nonce = int(network.rpc("validator1", "eth_getTransactionCount", [sender.address, "pending"]), 16)
        deadline = time.time() + 300
        while original.proc.poll() is None and time.time() < deadline:
            for url, value in ((copy_rpc, 1), (original.rpc, 2)):
                signed = sender.sign_transaction({"type": 2, "chainId": 31337, "nonce": nonce, "to": sender.address,
                                                  "value": value, "gas": 21_000, "maxFeePerGas": 20 * 10**9,
                                                  "maxPriorityFeePerGas": 10**9})
                try:
                    requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
                                             "params": ["0x" + bytes(signed.raw_transaction).hex()]}, timeout=5)
                except requests.RequestException:
                    pass      # that copy halted first
            nonce += 1
            time.sleep(0.3)
        code = original.proc.wait(10)
        copy.wait(120)
    finally:
        if copy.poll() is None:
            copy.kill()
            copy.wait(10)
    original.proc = None
    address = original.address.lower()
    network.wait_until(lambda: metrics_jailed(network, "validator1", address), 120, "the registry to jail validator0")
    return Equivocation(code, log_path, jailed_until_of(network, "validator1", address))


def test_a_copy_started_without_the_check_equivocates_and_the_key_stops_and_is_jailed(
        network: Testnet, equivocation: Equivocation, tmp_path: Path) -> None:
    """Each copy sees evidence against its own key and halts instead of signing on; the others
    report it and the registry jails the key: ``azora validator`` says so. Restarted alone, the
    node says it is jailed; its operator then stops it."""
    assert equivocation.exit_code != 0
    log = network.nodes["validator0"].log(2_000_000)
    assert "CRITICAL" in log and "evidence of equivocation against this validator's own key" in log
    assert "self-report" not in log
    assert "evidence of equivocation against this validator's own key" in equivocation.copy_log.read_text()
    operator = operator_of(network, "validator0", tmp_path)
    rpc = network.nodes["validator1"].rpc
    status = operator.status(rpc)
    assert (status["state"], status["jailedUntil"]) == ("jailed", equivocation.jailed_until), status
    assert Decimal(status["bond"]) < 10_000, status                       # slashed
    assert "jailed until" in refused(operator.run(rpc, "validator", "unjail"))

    address = operator.address.lower()
    before = network.height("validator1")
    network.wait_for_height(before + 3, VALIDATORS[1:], timeout=90)          # three of four finalize on
    network.start("validator0")
    network.wait_until(lambda: metrics(network, "validator0")["azora_validator_jailed"] == 1, 60,
                       "validator0's jailed metric")
    # At the next epoch's first block it says so in its log, and has left the set. (Started
    # before that, its first line is "in the active set (power P), jailed until …: leaves the set".)
    network.wait_until(lambda: "): jailed until " in network.nodes["validator0"].log(400_000), 90,
                       "validator0's standing line")
    line = next(line for line in network.nodes["validator0"].log(400_000).splitlines() if "): jailed until " in line)
    assert f"validator {address} at #" in line
    network.stop("validator0")     # a jailed key signs nothing: its operator stops the node


@pytest.fixture(scope="module")
def learner_node(network: Testnet, learner: Learner) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """The learner's own node with its key: (process, rpc url). It runs to the end of the module:
    once the key is in the set, a stopped node would be a validator missing from every vote."""
    proc, rpc = start_node_with_key(network, learner.home, learner.operator.keystore, learner.operator.password_file)
    try:
        yield proc, rpc
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_learner_finalizes_the_validator_credential_bonds_and_from_the_next_epoch_its_node_signs(
        network: Testnet, learner: Learner, learner_node: tuple[subprocess.Popen[bytes], str]) -> None:
    """The seat, with the real commands: ``azora wallet finalize`` mints the credential after
    the challenge window, the learner's node starts (a key outside the set signs nothing), then
    ``azora validator register`` and ``bond``; from the next epoch the key is in the active set
    and signs blocks while the network keeps finalizing."""
    operator, rpc = learner.operator, network.nodes["validator2"].rpc
    deadline = time.time() + 120
    while (finalized := operator.run(rpc, "wallet", "finalize", learner.claim, "--yes", "--json")).returncode != 0:
        assert time.time() < deadline, finalized.stderr      # the window is 100 s from the claim
        time.sleep(3)
    credential = json.loads(finalized.stdout)["credential"]
    verified = ok_json(operator.run(rpc, "credential", "verify", operator.address, "--course", VALIDATOR_COURSE,
                                    "--json", sign=False))
    assert (verified["id"], verified["status"]) == (credential, "valid"), verified

    proc, node_rpc = learner_node

    def node_standing() -> str:
        assert proc.poll() is None, (learner.home / "node.log").read_text()[-3000:]
        return str(node_info_at(node_rpc)["standing"])
    network.wait_until(lambda: node_standing() == "inactive", 90, "the learner's node")
    ok(operator.run(rpc, "wallet", "wrap", "--amount", "10500", "--yes"))
    ok_json(operator.run(rpc, "validator", "register", "--yes", "--json"))
    ok_json(operator.run(rpc, "validator", "bond", "--amount", "500", "--yes", "--json"))
    status = operator.status(rpc)
    assert Decimal(status["bond"]) == 10_500 and status["credential"]["counts"], status
    # an epoch boundary may pass between the bond and this status
    assert status["state"] == "active" or (status["state"], status["activeFromEpoch"]) == \
        ("bonded", status["epoch"] + 1), status

    def seated() -> bool:
        info = node_info_at(node_rpc)
        return info["inActiveSet"] and int(info["power"], 16) == 10_500
    network.wait_until(seated, 120, "the learner's key in the active set with its whole bond")
    start = network.height("validator2")
    network.wait_for_height(start + 4, timeout=90)           # the network finalizes on, the learner signing
    signers = {s["validator"].lower() for n in range(start, start + 3)
               for s in network.rpc("validator2", "azora_getCommit", [hex(n)])["signatures"]}
    assert operator.address.lower() in signers, signers
    # blocks signed count from the epoch's start: just after a boundary there may be none yet
    network.wait_until(lambda: operator.status(rpc)["blocksSigned"] > 0, 60, "the learner's blocks signed")
    status = operator.status(rpc)
    assert (status["state"], status["power"]) == ("active", "10500"), status
    log = (learner.home / "node.log").read_text()
    address = operator.address.lower()
    assert f"validator {address} at #" in log and "): not in the active set" in log
    assert "): in the active set (power 10500)" in log


def test_after_its_jail_the_slashed_validator_bonds_up_unjails_and_signs_again_from_the_next_epoch(
        network: Testnet, equivocation: Equivocation, dev_accounts: list, tmp_path: Path) -> None:
    """What an operator does once the jail is over: ``unjail`` says the slashed bond is below the
    minimum, so bond the difference; ``unjail`` then confirms the key counts again, and the node,
    started again, is in the set from the next epoch and signs."""
    network.stop("validator0")                   # stopped while jailed (already, after the test above)
    operator = operator_of(network, "validator0", tmp_path)
    rpc = network.nodes["validator1"].rpc
    shortfall = Decimal(10_000) - Decimal(operator.status(rpc)["bond"])
    fund(network, [dev_accounts[4]], operator.address, int((shortfall + 10) * AZR))
    ok(operator.run(rpc, "wallet", "wrap", "--amount", str(shortfall), "--yes"))

    def head_time() -> int:
        return int(network.rpc("validator1", "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
    network.wait_until(lambda: head_time() >= equivocation.jailed_until, JAIL_SECONDS + 60, "the jail to end")
    assert "is below the minimum" in refused(operator.run(rpc, "validator", "unjail"))
    ok_json(operator.run(rpc, "validator", "bond", "--amount", str(shortfall), "--yes", "--json"))
    unjailed = ok_json(operator.run(rpc, "validator", "unjail", "--json"))
    assert unjailed["eligible"] is True, unjailed

    network.start("validator0")
    network.wait_until(lambda: metrics(network, "validator0")["azora_validator_in_active_set"] == 1, 120,
                       "validator0 back in the active set")
    network.wait_until(lambda: metrics(network, "validator0")["azora_validator_blocks_signed"] >= 2, 60,
                       "validator0 to sign again")
    # the status is read on validator1, which may not have committed validator0's head yet (CI
    # read epoch 17 there while validator0 signed the first blocks of epoch 18), and validator0
    # counts the votes it signs for the first height of the new epoch before that height
    # commits (CI read epoch 16 after it had signed twice, unjailed from 17)
    network.wait_for_height(network.height("validator0"), ["validator1"], timeout=30)
    network.wait_until(lambda: operator.status(rpc)["epoch"] >= unjailed["fromEpoch"], 60,
                       "validator1 to commit the epoch validator0 was unjailed from")
    status = operator.status(rpc)
    assert (status["state"], status["power"], status["jailedUntil"]) == ("active", "10000", None), status
    assert status["epoch"] >= unjailed["fromEpoch"], (status, unjailed)
    standing = [line for line in network.nodes["validator0"].log(400_000).splitlines()
                if f"validator {operator.address.lower()} at #" in line]
    assert standing[-1].endswith("in the active set (power 10000)"), standing[-3:]


def jailed_until_of(net: Testnet, name: str, address: str) -> int:
    """The registry's candidates(address).jailedUntil (an eth_call through ``name``)."""
    from eth_abi import decode, encode
    from eth_utils import function_signature_to_4byte_selector

    registry = net.rpc(name, "azora_nodeInfo")["contracts"]["ValidatorRegistry"]
    data = function_signature_to_4byte_selector("candidates(address)") + encode(["address"], [address])
    out = bytes.fromhex(net.rpc(name, "eth_call", [{"to": registry, "data": "0x" + data.hex()}, "latest"])[2:])
    return int(decode(["bool", "uint256", "uint256", "uint256", "uint256", "uint256"], out[:192])[5])


def metrics_jailed(net: Testnet, name: str, address: str) -> bool:
    """The registry's jail of ``address`` runs past the head."""
    head = net.rpc(name, "eth_getBlockByNumber", ["latest", False])
    return jailed_until_of(net, name, address) > int(head["timestamp"], 16)


# -- the DAO governs the network ---------------------------------------------------------------

def dev_operator(account: Any, home: Path, rpc: str) -> Operator:
    """A dev account as a DAO member holds it: a cheap keystore and a shell of its own."""
    from wallet.keystore import save_keystore

    home.mkdir(parents=True, exist_ok=True)
    (home / "pw").write_text("pw\n")
    keystore = save_keystore(home / "key.json", account, "pw", kdf="pbkdf2", iterations=2)
    return Operator(account.address, keystore, home / "pw", doc_shell_env(home, rpc))


def test_the_dao_governs_the_network_a_quorum_change_takes_effect_a_voteless_one_is_defeated_a_late_one_expires(
        network: Testnet, dev_accounts: list[Any], tmp_path: Path) -> None:
    """On the live network, with ``azora dao`` alone and real blocks (voting delay 1 block,
    period 40, Timelock 5 s, grace 30 s): three proposals at once. The oracle quorum change gets
    a ballot signed offline (``vote-by-sig``) and relayed by another account, passes, is queued
    and executed, and the committee's quorum on chain is 3; the one nobody votes on misses
    quorum and is Defeated; the one queued and left past its grace period is Expired and can no
    longer be executed."""
    rpc = network.nodes["validator1"].rpc
    voter, backer, balloter, relayer = (dev_operator(dev_accounts[i], tmp_path / f"member{i}", rpc)
                                        for i in (5, 6, 1, 0))
    for member, amount in ((voter, "6000"), (backer, "6000"), (balloter, "1000")):
        ok(member.run(rpc, "wallet", "wrap", "--amount", amount, "--yes"))
    ok_json(voter.run(rpc, "dao", "delegate", "--yes", "--json"))
    ok_json(backer.run(rpc, "dao", "delegate", voter.address, "--yes", "--json"))
    ok_json(balloter.run(rpc, "dao", "delegate", "--yes", "--json"))
    network.wait_for_height(network.height("validator1") + 1)   # votes count from the next block

    def propose(*template: str) -> str:
        return str(ok_json(voter.run(rpc, "dao", "propose", "--template", *template, "--yes", "--json"))["proposalId"])

    def show(pid: str) -> dict[str, Any]:
        return dict(ok_json(voter.run(rpc, "dao", "show", pid, "--json", sign=False)))

    def open_for_votes(pid: str) -> None:
        network.wait_for_height(int(show(pid)["snapshot"]) + 1, ["validator1"], timeout=60)

    # Each proposal is voted on as soon as it opens: 40 blocks are 20 s, a few commands on a
    # loaded machine.
    quorum_change = propose("oracle-committee", "--param", "quorum=3")
    ballot = tmp_path / "ballot.json"
    ok_json(balloter.run(rpc, "dao", "vote-by-sig", quorum_change, "for", "--out", str(ballot), "--json"))
    open_for_votes(quorum_change)
    with ThreadPoolExecutor(1) as pool:      # another account relays while the voter votes
        relayed = pool.submit(relayer.run, rpc, "dao", "relay", str(ballot), "--yes", "--json")
        ok_json(voter.run(rpc, "dao", "vote", quorum_change, "for", "--yes", "--json"))
        ok_json(relayed.result())
    left_queued = propose("governor", "--param", "late_quorum_extension=7")
    open_for_votes(left_queued)
    ok_json(voter.run(rpc, "dao", "vote", left_queued, "for", "--yes", "--json"))
    voteless = propose("challenge", "--param", "min_score=9000")
    assert show(quorum_change)["for"] == "13000.0"

    deadline = max(show(pid)["deadline"] for pid in (quorum_change, voteless, left_queued))
    network.wait_for_height(int(deadline) + 1, ["validator1"], timeout=90)
    assert show(voteless)["state"] == "Defeated"
    assert "is Defeated" in refused(voter.run(rpc, "dao", "queue", voteless, "--yes"))
    for pid in (left_queued, quorum_change):   # the one executed queued last: its grace runs from here
        ok_json(voter.run(rpc, "dao", "queue", pid, "--yes", "--json"))
        assert show(pid)["state"] == "Queued"

    def head_time() -> int:
        return int(network.rpc("validator1", "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
    eta = int(show(quorum_change)["eta"])
    network.wait_until(lambda: head_time() > eta, 60, "the Timelock delay")
    ok_json(relayer.run(rpc, "dao", "execute", quorum_change, "--yes", "--json"))
    assert show(quorum_change)["state"] == "Executed"
    pok = network.rpc("validator1", "azora_nodeInfo")["contracts"]["ProofOfKnowledge"]
    quorum = network.rpc("validator2", "eth_call", [{"to": pok, "data": "0x1703a018"}, "latest"])
    assert int(quorum, 16) == 3            # quorum(): the committee's new rule, read from another node

    expires = int(show(left_queued)["eta"]) + GRACE_SECONDS
    network.wait_until(lambda: head_time() > expires, 90, "the grace period")
    assert show(left_queued)["state"] == "Expired"
    assert "is Expired" in refused(voter.run(rpc, "dao", "execute", left_queued, "--yes"))
