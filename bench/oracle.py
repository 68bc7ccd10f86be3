"""Oracle throughput: statements per second from POST to submitted claim, beside the node's own
ERC-20 rate in the same run.

One run:
  1. starts `azora dev` (automine) and measures ERC-20 transfers/s end to end over JSON-RPC
     (bench.throughput's workload, 8 senders), before any oracle runs;
  2. measures the chain's own rate for claims: `--claims` `submit` transactions, each carrying
     a completion the dev committee's keys signed here, sent by 8 senders in JSON-RPC batches
     (what the committee can at best get on chain: a claim costs ~312k gas, 96 to a block);
  3. writes a dev committee (`azora oracle init --dev`: 3 members, quorum 2) and starts it;
  4. POSTs `--count` statements (distinct learners, one course) to one member in batches of
     `--batch`, and reports
       accepted/s  statements accepted and signed (POST answered) per second,
       submitted/s claims on chain (Submitted events) per second, first POST to last claim,
       p50/p99     latency from a statement's POST to its claim being seen on chain (0.25 s polls),
       on chain/s  claims/s from the first claim on chain to the last: the chain's own rate
                   while the committee kept it fed (beside the members, on the same cores).

    python -m bench.oracle [--count 300] [--batch 50] [--erc20 2000] [--claims 300]
"""
from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests

from bench.common import percentile
from bench.throughput import REPO, SENDERS, DevNode, dev_accounts, send_concurrently, sign

XAPI = {"X-Experience-API-Version": "1.0.3", "Content-Type": "application/json"}
COURSE = "https://azora.africa/courses/blockchain-101"
EXTENSION = "https://azora.africa/xapi/extensions/oracle"


@dataclass
class OracleReport:
    count: int
    accepted_per_second: float
    submitted_per_second: float
    p50_seconds: float
    p99_seconds: float
    erc20_per_second: float
    chain_claims_per_second: float
    included_per_second: float = 0.0
    claims_per_block: list[int] = field(default_factory=list)   # blocks with the run's claims, in order


    def lines(self) -> list[str]:
        return [
            f"{self.count} statements, 3 members, quorum 2",
            f"accepted and signed   {self.accepted_per_second:8.1f} statements/s",
            f"POST -> submitted     {self.submitted_per_second:8.1f} statements/s  "
            f"(p50 {self.p50_seconds:.2f} s, p99 {self.p99_seconds:.2f} s)",
            f"node ERC-20 transfers {self.erc20_per_second:8.1f} tx/s (same node, before the oracles ran)",
            f"node claims included  {self.chain_claims_per_second:8.1f} claims/s (signed here, sent directly) -> "
            f"the committee submits at {self.submitted_per_second / self.chain_claims_per_second:.2f} of it",
            f"while claims came in  {self.included_per_second:8.1f} claims/s on chain, first claim to last "
            f"({self.included_per_second / self.chain_claims_per_second:.2f} of the direct rate, the committee's "
            f"processes beside the node)",
            f"claims per block      {self.claims_per_block} (blocks between the first and the last as full as "
            f"the gas limit allows: the chain, not the committee, set the pace)",
        ]

    def as_json(self) -> str:
        return json.dumps(self.__dict__)


def erc20_rate(node: DevNode, count: int) -> float:
    senders, token = node.deploy_token()
    nonces, per_sender = node.next_workload("erc20", senders, count, token)
    started = time.perf_counter()
    send_concurrently(node.url, per_sender)
    node.wait_nonces([a.address for a in senders], [n + len(t) for n, t in zip(nonces, per_sender)])
    return sum(len(t) for t in per_sender) / (time.perf_counter() - started)


def claim_rate(node: DevNode, count: int) -> float:
    """Claims/s the chain includes when they are handed to it directly: completions signed with
    two of the dev committee's keys (accounts 7-9 of the dev mnemonic), `submit` sent by 8
    senders as the ERC-20 workload is."""
    from contracts.build import load_artifact
    from oracle.attestation import completion_for
    from oracle.completion import Domain, compute_digest, order_signatures, sign_digest
    from web3 import Web3

    info = node.call("azora_nodeInfo")
    pok = Web3().eth.contract(address=Web3.to_checksum_address(info["contracts"]["ProofOfKnowledge"]),
                              abi=load_artifact("ProofOfKnowledge")["abi"])
    chain_id = int(node.call("eth_chainId"), 16)
    domain = Domain(chain_id, pok.address)
    version = int(node.call("eth_call", {"to": pok.address, "data": pok.encode_abi("oracleSetVersion", [])},
                            "latest"), 16)
    deadline = int(node.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16) + 3600
    accounts = dev_accounts(10)
    committee, senders = accounts[7:9], accounts[1:1 + SENDERS]
    nonces = [int(node.call("eth_getTransactionCount", a.address, "latest"), 16) for a in senders]
    per_sender: list[list[bytes]] = [[] for _ in senders]
    for i in range(count):
        body = statement(Web3.to_checksum_address("0x" + random.randbytes(20).hex()))
        body["timestamp"] = "2026-01-01T00:00:00Z"   # what a member adds on receipt
        completion = completion_for(body, oracle_set_version=version, deadline=deadline)
        digest = compute_digest(completion, domain)
        signatures = order_signatures({m.address: sign_digest(bytes(m.key), digest) for m in committee}, 2)
        k = i % len(senders)
        data = bytes.fromhex(pok.encode_abi("submit", [completion.as_abi(), signatures])[2:])
        per_sender[k].append(sign(senders[k], nonces[k] + len(per_sender[k]), to=pok.address, data=data,
                                  gas=400_000))
    started = time.perf_counter()
    send_concurrently(node.url, per_sender)
    node.wait_nonces([a.address for a in senders], [n + len(t) for n, t in zip(nonces, per_sender)])
    return count / (time.perf_counter() - started)


def free_base_port() -> int:
    """A base port b for `azora oracle init --base-port b` (three members): b..b+2 (xAPI) and
    b+100..b+102 (p2p) free, below the ephemeral range (32768+): a member that restarts must
    find its port not taken by some client's outgoing connection. The one copy: the oracle
    tests use it too."""
    for _ in range(200):
        base = random.randrange(20_000, 32_000)
        try:
            for port in [base + i for i in range(3)] + [base + 100 + i for i in range(3)]:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free port range")


def start_committee(rpc: str, directory: Path) -> tuple[dict[str, Any], list[subprocess.Popen]]:
    subprocess.run([sys.executable, "-m", "node.cli", "oracle", "init", "--rpc", rpc, "--out", str(directory),
                    "--dev", "--base-port", str(free_base_port())], cwd=REPO, check=True, capture_output=True)
    manifest = json.loads((directory / "oracles.json").read_text())
    procs = []
    for member in manifest["oracles"]:
        log = open(Path(member["config"]).parent / "oracle.log", "ab")
        procs.append(subprocess.Popen([sys.executable, "-m", "node.cli", "--log-level", "WARNING", "oracle", "run",
                                       "--config", member["config"]], cwd=REPO, stdout=log, stderr=subprocess.STDOUT))
    for member in manifest["oracles"]:
        wait_http(member["xapi"] + "/about")
    time.sleep(2)   # the members dial each other and join the attestation topic
    return manifest, procs


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def statement(learner: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()),
            "actor": {"account": {"homePage": "https://bench.example.org", "name": learner}},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
            "object": {"id": COURSE},
            "result": {"success": True, "score": {"scaled": 0.9}}}


def run_statements(rpc: str, manifest: dict[str, Any], count: int, batch: int,
                   timeout: float) -> tuple[float, float, list[float], float, list[int]]:
    """POST the statements; watch the chain's Submitted events for each learner's claim."""
    from web3 import Web3

    from contracts.build import load_artifact

    w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 60}))
    table = w3.provider.make_request("azora_nodeInfo", [])["result"]["contracts"]
    pok = w3.eth.contract(address=table["ProofOfKnowledge"], abi=load_artifact("ProofOfKnowledge")["abi"])
    auth = (manifest["auth"]["username"], manifest["auth"]["password"])
    url = manifest["oracles"][0]["xapi"] + "/statements"
    learners = [Web3.to_checksum_address("0x" + random.randbytes(20).hex()) for _ in range(count)]
    statements = [statement(learner) for learner in learners]
    posted_at: dict[str, float] = {}
    claimed_at: dict[str, float] = {}
    blocks: Counter[int] = Counter()
    session = requests.Session()
    from_block = w3.eth.block_number
    started = time.time()
    for i in range(0, count, batch):
        chunk = statements[i:i + batch]
        sent = time.time()
        reply = session.post(url, data=json.dumps(chunk), auth=auth, headers=XAPI, timeout=120)
        if reply.status_code != 200:
            raise RuntimeError(f"POST refused: {reply.status_code} {reply.text}")
        posted_at.update({s["actor"]["account"]["name"]: sent for s in chunk})
    accepted = count / (time.time() - started)
    deadline = time.time() + timeout
    while len(claimed_at) < count and time.time() < deadline:
        head = w3.eth.block_number
        if head >= from_block:
            for event in pok.events.Submitted().get_logs(from_block=from_block, to_block=head):
                if event.args.learner in posted_at and event.args.learner not in claimed_at:
                    claimed_at[event.args.learner] = time.time()
                    blocks[event.blockNumber] += 1
            from_block = head + 1
        time.sleep(0.25)
    if len(claimed_at) < count:
        raise RuntimeError(f"{count - len(claimed_at)} of {count} claims not submitted in {timeout} s")
    latencies = sorted(claimed_at[learner] - posted_at[learner] for learner in learners)
    submitted = count / (max(claimed_at.values()) - started)
    span = max(claimed_at.values()) - min(claimed_at.values())
    included = (count - 1) / span if span > 0 else float(count)
    return accepted, submitted, latencies, included, [blocks[n] for n in sorted(blocks)]



def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> OracleReport:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300, help="statements to post")
    parser.add_argument("--batch", type=int, default=50, help="statements per POST")
    parser.add_argument("--erc20", type=int, default=2000, help="ERC-20 transfers for the node's rate")
    parser.add_argument("--claims", type=int, default=300, help="claims sent directly for the chain's rate")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="azora-bench-oracle-"))
    node = DevNode([], work / "dev.log")
    procs: list[subprocess.Popen] = []
    try:
        erc20 = erc20_rate(node, args.erc20)
        chain_claims = claim_rate(node, args.claims)
        manifest, procs = start_committee(node.url, work / "committee")
        accepted, submitted, latencies, included, per_block = run_statements(node.url, manifest, args.count, args.batch,
                                                                  args.timeout)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        node.stop()
    report = OracleReport(args.count, accepted, submitted, percentile(latencies, 0.5),
                          percentile(latencies, 0.99), erc20, chain_claims, included, per_block)
    for line in report.lines():
        out(line)
    if args.json:
        out(report.as_json())
    return report


if __name__ == "__main__":
    main()
