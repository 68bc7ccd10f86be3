"""A real Azora testnet: `azora testnet init` output run as `azora node run` processes on 127.0.0.1.

Each test owns one network (fixtures stop every process: SIGTERM, then SIGKILL). The live
network test walks the scenarios in order on one set of processes because starting four
nodes costs most of a test's time on two shared cores.
"""
from __future__ import annotations

import dataclasses
import json
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import rlp
import trio
from eth_account import Account
from eth_utils import to_canonical_address
from libp2p.crypto.secp256k1 import create_new_key_pair

from consensus.signing import LocalSigner, SigningDomain
from consensus.types import SignedVote, Vote, VoteType
from p2p import GossipConfig, P2PConfig, P2PService, TopicKind, TopicLimits
from p2p.config import DEFAULT_TOPIC_LIMITS, KIB, MIB
from harness import AZORA, REPO, Testnet, azora, backdate_genesis, prebuild_chain

pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]

VALIDATORS = ["validator0", "validator1", "validator2", "validator3"]
GWEI = 10**9


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Testnet]:
    testnet = Testnet.init(tmp_path / "net", validators=4, full_nodes=0, block_interval=0.2)
    try:
        testnet.start()
        yield testnet
    finally:
        testnet.close()


def transfer(account: Any, nonce: int, to: str, value: int = 1, chain_id: int = 31337) -> tuple[str, str]:
    """A signed EIP-1559 transfer: (raw hex, tx hash)."""
    signed = account.sign_transaction({"type": 2, "chainId": chain_id, "nonce": nonce, "to": to, "value": value,
                                       "gas": 21_000, "maxFeePerGas": 20 * GWEI, "maxPriorityFeePerGas": GWEI})
    return "0x" + signed.raw_transaction.hex().removeprefix("0x"), "0x" + signed.hash.hex().removeprefix("0x")


def nonce_of(net: Testnet, name: str, address: str) -> int:
    return int(net.rpc(name, "eth_getTransactionCount", [address, "latest"]), 16)


def receipts_everywhere(net: Testnet, names: list[str], hashes: list[str]) -> bool:
    """Every node returns a receipt for every hash, in the same block."""
    import requests
    seen: dict[str, str] = {}
    for name in names:
        batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_getTransactionReceipt", "params": [h]}
                 for i, h in enumerate(hashes)]
        for reply in requests.post(net.nodes[name].rpc, json=batch, timeout=30).json():
            receipt = reply.get("result")
            if not receipt:
                return False
            assert seen.setdefault(receipt["transactionHash"], receipt["blockHash"]) == receipt["blockHash"], \
                f"{name} has {receipt['transactionHash']} in another block"
    return True


def send_batch(net: Testnet, name: str, raws: list[str]) -> list[dict[str, Any]]:
    import requests
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]}
             for i, raw in enumerate(raws)]
    return requests.post(net.nodes[name].rpc, json=batch, timeout=60).json()


def wait_for_progress(net: Testnet, names: list[str], blocks: int, timeout: float) -> int:
    """Wait until every named node is ``blocks`` past the highest of them now; the new height."""
    target = max(net.heights(names).values()) + blocks
    net.wait_for_height(target, names, timeout)
    return target


# -- the scenarios ----------------------------------------------------------------------------------

def check_validators_finalize_and_agree(net: Testnet) -> None:
    net.wait_for_height(3, VALIDATORS, timeout=90)
    height = wait_for_progress(net, VALIDATORS, 5, timeout=60)
    net.assert_same_chain(VALIDATORS, height)
    for name in VALIDATORS:
        info = net.rpc(name, "azora_nodeInfo")
        assert int(net.rpc(name, "net_peerCount"), 16) >= 3, f"{name} is not meshed: {info}"
    commit = net.rpc("validator1", "azora_getCommit", [hex(height - 1)])
    assert commit is not None and len(commit["signatures"]) >= 3


def check_tx_to_one_node_is_final_on_all(net: Testnet, sender: Any) -> None:
    raw, tx_hash = transfer(sender, nonce_of(net, "validator3", sender.address), Account.create().address, 12345)
    assert net.rpc("validator3", "eth_sendRawTransaction", [raw]) == tx_hash
    net.wait_until(lambda: receipts_everywhere(net, VALIDATORS, [tx_hash]), 60, "the transfer on every node")


def check_burst_reaches_every_mempool(net: Testnet, senders: list[Any]) -> None:
    """200 transactions one nonce past each sender's next stay queued (no block can take
    them), so every pool must show all 200; the gap-filling txs then finalize all of them."""
    raws, hashes, fillers = [], [], []
    recipient = Account.create().address
    for sender in senders:
        nonce = nonce_of(net, "validator2", sender.address)
        fillers.append(transfer(sender, nonce, recipient))
        for offset in range(1, 200 // len(senders) + 1):
            raw, tx_hash = transfer(sender, nonce + offset, recipient)
            raws.append(raw)
            hashes.append(tx_hash)
    assert len(raws) == 200
    replies = send_batch(net, "validator2", raws)
    assert all("result" in r for r in replies), [r for r in replies if "error" in r][:3]

    def queued_everywhere() -> bool:
        return all(int(net.rpc(name, "txpool_status")["queued"], 16) >= 200 for name in VALIDATORS)
    net.wait_until(queued_everywhere, 30, "all 200 burst txs queued in every pool")
    replies = send_batch(net, "validator2", [raw for raw, _ in fillers])
    assert all("result" in r for r in replies), replies
    net.wait_until(lambda: receipts_everywhere(net, VALIDATORS, hashes + [h for _, h in fillers]), 90,
                   "the burst finalized on every node")


async def misbehave(target: str, domain: SigningDomain, validator: bytes, height: int) -> bool:
    """Connect to ``target`` as a libp2p peer, gossip malformed, oversized and wrongly signed
    votes and proposals; True once the node has hung up on us."""
    # Our own caps raised so that our publishes leave; the node's caps are the defaults.
    limits = {**DEFAULT_TOPIC_LIMITS, TopicKind.VOTE: TopicLimits(4 * MIB, 1000, 1000),
              TopicKind.PROPOSAL: TopicLimits(16 * MIB, 1000, 1000)}
    service = P2PService(P2PConfig(chain_id=domain.chain_id, listen_host="127.0.0.1", port=0,
                                   gossip=GossipConfig(topic_limits=limits)), create_new_key_pair())
    forger = LocalSigner(Account.create().key, domain)
    forged = dataclasses.replace(forger.sign_vote(Vote(VoteType.PREVOTE, height, 0, b"\x11" * 32)), validator=validator)
    garbage = [(TopicKind.VOTE, b"\xc0not rlp at all" + bytes([i])) for i in range(2)]
    garbage += [(TopicKind.PROPOSAL, b"\xf8\xffbroken proposal" + bytes([i])) for i in range(2)]
    garbage += [(TopicKind.VOTE, bytes([i]) * (4 * KIB)) for i in range(1, 3)]            # over the 2 KiB cap
    garbage += [(TopicKind.TX, rlp.encode([b"\x02not a transaction" + bytes([i])])) for i in range(2)]
    garbage += [(TopicKind.VOTE, dataclasses.replace(forged, vote=dataclasses.replace(forged.vote, round=r)).encode())
                for r in range(3)]
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        peer = await service.connect(target)
        await service.gossip.pubsub.wait_for_subscription(peer, service.gossip.topic(TopicKind.VOTE), timeout=20)
        await trio.sleep(2)   # a heartbeat or two: we are in the node's mesh
        for kind, payload in garbage:
            if peer not in service.connected_peers():
                break
            await service.publish(kind, payload)
            await trio.sleep(0.1)
        dropped = False
        with trio.move_on_after(20):
            while peer in service.connected_peers():
                await trio.sleep(0.2)
            dropped = True
        nursery.cancel_scope.cancel()
    return dropped


def check_bad_peer_is_dropped(net: Testnet) -> None:
    info = net.rpc("validator1", "azora_nodeInfo")
    domain = SigningDomain(int(info["chainId"], 16), to_canonical_address(info["contracts"]["ValidatorRegistry"]))
    validator = to_canonical_address(net.nodes["validator0"].address)
    before = max(net.heights(VALIDATORS).values())
    assert trio.run(misbehave, net.nodes["validator1"].p2p, domain, validator, before + 1), \
        "validator1 kept a peer that gossiped garbage"
    log = net.nodes["validator1"].log(200_000)
    assert "banning peer" in log
    assert "validator for" not in log, "a gossip validator raised instead of rejecting"
    wait_for_progress(net, VALIDATORS, 3, timeout=60)
    assert int(net.rpc("validator1", "net_peerCount"), 16) == 3     # the validators, not us


def check_one_killed_rest_finalize_and_it_catches_up(net: Testnet) -> None:
    net.kill("validator3", signal.SIGKILL)
    alive = VALIDATORS[:3]
    wait_for_progress(net, alive, 4, timeout=90)
    net.start("validator3")
    height = wait_for_progress(net, VALIDATORS, 3, timeout=120)
    net.assert_same_chain(VALIDATORS, height)


def check_two_killed_halt_without_fork_then_resume(net: Testnet) -> None:
    net.kill("validator2", signal.SIGKILL)
    net.kill("validator3", signal.SIGKILL)
    alive = ["validator0", "validator1"]
    time.sleep(3)   # anything in flight lands
    stalled = net.heights(alive)
    time.sleep(8)
    assert net.heights(alive) == stalled, "blocks finalized with half the power gone"
    # 11 s without a decision: the halted height has said what it waits for, naming the dead
    dead = {net.nodes[name].address.lower()[2:10] for name in ("validator2", "validator3")}
    waiting = [line for line in net.nodes["validator0"].log(50_000).splitlines() if "waiting: height" in line]
    assert waiting and all(f"0x{prefix}.." in waiting[-1] for prefix in dead), waiting[-1:]
    top = min(stalled.values())
    net.assert_same_chain(alive, top)
    net.start("validator2")
    height = wait_for_progress(net, ["validator0", "validator1", "validator2"], 3, timeout=120)
    net.assert_same_chain(["validator0", "validator1", "validator2"], height)
    net.start("validator3")
    height = wait_for_progress(net, VALIDATORS, 2, timeout=120)
    net.assert_same_chain(VALIDATORS, height)


def check_no_secret_in_logs(net: Testnet) -> None:
    """Every log of the run (kills, restarts, bad peers, bursts included) is free of the
    validators' private keys, their keystore passwords and the nodes' p2p keys."""
    from wallet.keystore import load_keystore, read_password_file

    secrets: dict[str, str] = {}
    for name, node in net.nodes.items():
        nodekey = next(node.home.rglob("nodekey"), None)
        if nodekey is not None:
            secrets[f"{name} node key"] = nodekey.read_text().strip()
        if (node.home / "validator.json").exists():
            password = read_password_file(node.home / "password.txt")
            secrets[f"{name} password"] = password
            secrets[f"{name} validator key"] = bytes(load_keystore(node.home / "validator.json", password).key).hex()
    assert any("validator key" in what for what in secrets)
    for name, node in net.nodes.items():
        log = node.log_path.read_text(errors="replace").lower()
        assert log, name
        leaked = [what for what, secret in secrets.items() if secret.lower().removeprefix("0x") in log]
        assert leaked == [], f"{name}'s log holds {leaked}"


def test_four_validator_processes_finalize_carry_txs_shed_bad_peers_and_survive_kills(
        network: Testnet, dev_accounts: list[Any]) -> None:
    check_validators_finalize_and_agree(network)
    check_tx_to_one_node_is_final_on_all(network, dev_accounts[0])
    check_burst_reaches_every_mempool(network, dev_accounts[1:5])
    check_bad_peer_is_dropped(network)
    check_one_killed_rest_finalize_and_it_catches_up(network)
    check_two_killed_halt_without_fork_then_resume(network)
    check_no_secret_in_logs(network)


# -- a full node joining late ---------------------------------------------------------------------

SYNC_BLOCKS = 500


def test_full_node_joining_past_height_500_range_syncs_then_follows(tmp_path: Path, dev_accounts: list[Any]) -> None:
    net = Testnet.init(tmp_path / "net", validators=4, full_nodes=1, block_interval=0.2)
    try:
        backdate_genesis(net, SYNC_BLOCKS + 60)
        sender = dev_accounts[5]
        recipient = Account.create().address
        # One transfer per block, so syncing re-executes real transactions.
        prebuild_chain(net, SYNC_BLOCKS, lambda height: [_typed(sender, height - 1, recipient)])
        net.start(*VALIDATORS)
        net.wait_for_height(SYNC_BLOCKS + 2, VALIDATORS, timeout=90)
        net.start("node0")
        started = time.time()
        target = max(net.heights(VALIDATORS).values())
        net.wait_for_height(target, ["node0"], timeout=120)
        synced_in = time.time() - started
        height = wait_for_progress(net, VALIDATORS + ["node0"], 3, timeout=60)
        net.assert_same_chain(VALIDATORS + ["node0"], height)
        assert net.rpc("node0", "eth_getBalance", [recipient, "latest"]) == hex(SYNC_BLOCKS)
        assert "synced to #" in net.nodes["node0"].log(400_000)
        # each batch says how far, how fast and how long is left
        assert re.search(r"synced to #\d+ of #\d+ \([\d,]+ blocks/s, ETA ", net.nodes["node0"].log(400_000))
        print(f"node0 synced {target} blocks in {synced_in:.1f}s")
    finally:
        net.close()


def _typed(account: Any, nonce: int, to: str) -> Any:
    """A signed transfer as the kernel's transaction object."""
    from eth.vm.forks.prague.transactions import PragueTransactionBuilder
    raw, _ = transfer(account, nonce, to)
    return PragueTransactionBuilder.decode(bytes.fromhex(raw[2:]))


# -- init options ------------------------------------------------------------------------------------

def test_init_writes_the_epoch_length_and_jail_duration_it_is_given_into_genesis(tmp_path: Path) -> None:
    azora("testnet", "init", "--validators", "2", "--out", str(tmp_path / "net"), "--epoch-length", "10",
          "--jail-duration", "90")
    genesis = json.loads((tmp_path / "net" / "genesis.json").read_text())
    assert genesis["azora"]["epochLength"] == 10
    assert genesis["azora"]["systemContracts"]["jail_duration"] == 90
    azora("testnet", "init", "--validators", "1", "--out", str(tmp_path / "default"))
    genesis = json.loads((tmp_path / "default" / "genesis.json").read_text())
    # without the flags: 100-block epochs and the registry's own (30-day) jail
    assert genesis["azora"]["epochLength"] == 100 and "jail_duration" not in genesis["azora"]["systemContracts"]
    bad = subprocess.run(AZORA + ["testnet", "init", "--out", str(tmp_path / "bad"), "--epoch-length", "0"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: the epoch length must be at least one block"


def test_init_makes_the_validators_each_others_direct_peers(tmp_path: Path) -> None:
    import yaml

    azora("testnet", "init", "--validators", "3", "--full-nodes", "1", "--out", str(tmp_path / "net"))
    manifest = json.loads((tmp_path / "net" / "testnet.json").read_text())
    configs = {node["name"]: yaml.safe_load(Path(node["config"]).read_text()) for node in manifest["nodes"]}
    validators = [node for node in manifest["nodes"] if node["validator"]]
    for node in validators:
        others = {other["p2p"] for other in validators if other is not node}
        assert set(configs[node["name"]]["p2p"]["direct_peers"]) == others
    full = [node for node in manifest["nodes"] if not node["validator"]]
    assert full and all(configs[node["name"]]["p2p"]["direct_peers"] == [] for node in full)
