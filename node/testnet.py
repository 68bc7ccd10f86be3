"""``azora testnet init|run``: a local multi-validator network on 127.0.0.1.

``init`` writes one genesis, a validator keystore and password per validator, a node key and a
YAML config per node, and ``testnet.json`` (name, config, rpc, p2p multiaddr, validator flag
of every node) for scripts. ``run`` starts every node as a child process with a live status
table and stops them cleanly on Ctrl-C.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from eth_account import Account

from node.accounts import DEV_MNEMONIC, derive_accounts
from node.config import NodeConfig
from contracts.deployment import DEMO_COURSES
from node.service import DEV_SYSTEM_PARAMS
from wallet.keystore import save_keystore

AZR = 10**18
VALIDATOR_STAKE = 10_000 * AZR
PREFUND = 10_000 * AZR
MANIFEST = "testnet.json"
# What `init` writes into its folder: only these are removed by --force.
_OWNED = re.compile(r"^(validator\d+|node\d+|genesis\.json|testnet\.json)$")


class TestnetExists(Exception):
    """``init`` would overwrite a folder that already holds files."""


def clear_for_init(out: Path, *, force: bool) -> None:
    """Make ``out`` ready for a new testnet. A folder that holds anything is refused unless
    ``force``; then the previous testnet's nodes (keys, chain data), genesis and manifest go,
    so no node starts on old data under a new genesis. Foreign files are never removed."""
    if not out.exists() or not any(out.iterdir()):
        return
    if not force:
        raise TestnetExists(f"{out} is not empty (it holds {', '.join(sorted(p.name for p in out.iterdir())[:4])}); "
                            "choose another --out or pass --force to replace the testnet in it")
    foreign = sorted(p.name for p in out.iterdir() if not _OWNED.match(p.name))
    if foreign:
        raise TestnetExists(f"{out} holds files a testnet did not write ({', '.join(foreign[:4])}); "
                            "--force replaces only a previous testnet")
    for entry in out.iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def write_secret(path: Path, text: str) -> None:
    """A file only its owner can read, from its creation on (never briefly world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def init_testnet(out: Path, *, validators: int, full_nodes: int = 0, chain_id: int = 31337,
                 base_p2p_port: int = 30300, base_http_port: int = 8600,
                 block_interval: float = 1.0, epoch_length: int = 100, jail_duration: int | None = None,
                 force: bool = False) -> dict[str, Any]:
    """``jail_duration`` (seconds) replaces the registry's 30-day default: a testnet that tries
    jailing and unjailing needs a jail that ends within the session."""
    from p2p import load_or_create_node_key, peer_id_of

    if validators < 1:
        raise ValueError("a testnet needs at least one validator")
    if epoch_length < 1:
        raise ValueError("the epoch length must be at least one block")
    if jail_duration is not None and jail_duration < 0:
        raise ValueError("the jail duration cannot be negative")
    out = Path(out).resolve()
    clear_for_init(out, force=force)
    out.mkdir(parents=True, exist_ok=True)
    keys = [Account.create() for _ in range(validators)]
    dev_accounts = derive_accounts(DEV_MNEMONIC, 10)
    genesis = {
        "config": {"chainId": chain_id},
        "timestamp": hex(int(time.time())),
        "gasLimit": hex(30_000_000),
        "baseFeePerGas": hex(1_000_000_000),
        # The standard test mnemonic's first ten accounts are funded, as on `azora dev`.
        "alloc": {**{a.address: {"balance": hex(PREFUND)} for a in dev_accounts},
                  **{k.address: {"balance": hex(100 * AZR)} for k in keys}},
        "azora": {"validators": [{"address": k.address, "stake": hex(VALIDATOR_STAKE)} for k in keys],
                  "oracles": {"members": [a.address for a in dev_accounts[-3:]], "quorum": 2},
                  "epochLength": epoch_length, "courses": [dict(c) for c in DEMO_COURSES],
                  "systemContracts": {**DEV_SYSTEM_PARAMS,
                                      **({} if jail_duration is None else {"jail_duration": jail_duration})}},
    }
    genesis_path = out / "genesis.json"
    genesis_path.write_text(json.dumps(genesis, indent=2))

    nodes: list[dict[str, Any]] = []
    total = validators + full_nodes
    peer_ids = []
    for index in range(total):
        name = f"validator{index}" if index < validators else f"node{index - validators}"
        home = out / name
        (home / "data").mkdir(parents=True, exist_ok=True)
        peer_ids.append(str(peer_id_of(load_or_create_node_key(home / "data"))))
    addresses = [f"/ip4/127.0.0.1/tcp/{base_p2p_port + i}/p2p/{peer_ids[i]}" for i in range(total)]
    for index in range(total):
        is_validator = index < validators
        name = f"validator{index}" if is_validator else f"node{index - validators}"
        home = out / name
        keystore = password = None
        if is_validator:
            password = home / "password.txt"
            write_secret(password, secrets.token_hex(16) + "\n")
            # Light scrypt parameters keep start-up quick; a real validator's key uses defaults.
            keystore = save_keystore(home / "validator.json", keys[index], password.read_text().strip(),
                                     kdf="pbkdf2", iterations=10_000)
        config = NodeConfig(
            datadir=home / "data", genesis=genesis_path, http_addr="127.0.0.1",
            http_port=base_http_port + index, p2p_host="127.0.0.1", p2p_port=base_p2p_port + index,
            # Every node dials the validators before it (full nodes dial every validator), so
            # the validators form a full mesh: with one bootnode as the hub, losing it would
            # partition the rest.
            bootnodes=tuple(addresses[:min(index, validators)]),
            # validators are each other's gossipsub direct peers: votes and proposals reach every
            # validator whatever the mesh does (a PRUNE and its backoff once cut one off the votes)
            direct_peers=tuple(a for i, a in enumerate(addresses[:validators]) if i != index) if is_validator else (),
            validator_keystore=keystore,
            password_file=password, block_interval=block_interval)
        config_path = home / "config.yaml"
        config_path.write_text(config.to_yaml(home))
        nodes.append({
            "name": name, "config": str(config_path), "rpc": f"http://127.0.0.1:{base_http_port + index}",
            "p2p": addresses[index],
            "validator": is_validator, "address": keys[index].address if is_validator else None,
        })
    manifest = {"chainId": chain_id, "genesis": str(genesis_path), "nodes": nodes}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def _status(rpc: str) -> dict[str, Any]:
    import requests

    def call(method: str) -> Any:
        reply = requests.post(rpc, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": []}, timeout=1)
        return reply.json().get("result")
    try:
        info = call("azora_nodeInfo")
        latest = requests.post(rpc, json={"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber",
                                          "params": ["latest", False]}, timeout=1).json()["result"]
        return {"height": int(info["head"]["number"], 16), "peers": int(call("net_peerCount"), 16),
                "round": int((info.get("consensus") or {}).get("round", "0x0"), 16),
                "age": max(0, int(time.time()) - int(latest["timestamp"], 16))}
    except Exception:
        return {}


def node_command(config: str, log_level: str, log_format: str) -> list[str]:
    """``azora node run`` for one node of the testnet, logging as ``testnet run`` was told to."""
    return [sys.executable, "-m", "node.cli", "node", "run", "--config", config,
            "--log-level", log_level, "--log-format", log_format]


def run_testnet(directory: Path, *, log_level: str = "INFO", log_format: str = "text") -> int:
    """Start every node (each logs to ``node.log`` beside its config with ``log_level`` and
    ``log_format``) under a live status table until SIGINT or SIGTERM."""
    from rich.live import Live
    from rich.table import Table

    manifest = json.loads((Path(directory) / MANIFEST).read_text())
    processes: list[tuple[dict[str, Any], subprocess.Popen[bytes]]] = []
    for node in manifest["nodes"]:
        log = open(Path(node["config"]).parent / "node.log", "ab")
        processes.append((node, subprocess.Popen(node_command(node["config"], log_level, log_format),
                                                 stdout=log, stderr=subprocess.STDOUT)))
    stop = False

    def request_stop(*_: Any) -> None:
        nonlocal stop
        stop = True
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    def table() -> Table:
        view = Table(title=f"Azora testnet (chain {manifest['chainId']})")
        for column in ("node", "role", "height", "peers", "round", "last block", "rpc"):
            view.add_column(column)
        for node, process in processes:
            status = _status(node["rpc"]) if process.poll() is None else {}
            view.add_row(node["name"], "validator" if node["validator"] else "full node",
                         str(status.get("height", "-")), str(status.get("peers", "-")),
                         str(status.get("round", "-")),
                         f"{status['age']}s ago" if "age" in status else
                         ("exited" if process.poll() is not None else "starting"), node["rpc"])
        return view

    try:
        with Live(table(), refresh_per_second=1) as live:
            while not stop:
                time.sleep(1)
                live.update(table())
    finally:
        for _, process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.time() + 20
        for _, process in processes:
            try:
                process.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                process.kill()
    return 0
