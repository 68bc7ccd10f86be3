"""``azora courses`` and ``azora oracle``: the catalog, and running an oracle committee."""
from __future__ import annotations

import argparse
import json
import logging
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNTS = 10          # `azora dev` funds ten accounts; the last three are the committee
MANIFEST = "oracles.json"
DEV_AUTH = {"username": "demo", "password": "demo"}


def add_oracle_commands(sub: argparse._SubParsersAction) -> None:
    courses = sub.add_parser("courses", help="list the on-chain course catalog")
    courses.add_argument("--rpc", default="http://127.0.0.1:8545", help="the node's JSON-RPC URL")
    courses.add_argument("--json", action="store_true", help="print JSON for programs")

    oracle = sub.add_parser("oracle", help="the Proof-of-Knowledge oracle").add_subparsers(
        dest="oracle_command", required=True)
    run = oracle.add_parser("run", help="run one committee member")
    run.add_argument("--config", type=Path, required=True)
    init = oracle.add_parser("init", help="write one config per committee member and oracles.json")
    init.add_argument("--rpc", required=True, help="the node's JSON-RPC URL")
    init.add_argument("--out", type=Path, required=True)
    init.add_argument("--dev", action="store_true", help="the committee `azora dev` puts in genesis")
    init.add_argument("--keystores", help="comma-separated v3 keystores, one per member")
    init.add_argument("--password-file", type=Path, help="password of the --keystores")
    init.add_argument("--quorum", type=int, help="default: the on-chain quorum")
    init.add_argument("--base-port", type=int, default=9100, help="member i serves xAPI on base+i, p2p on base+100+i")
    run_all = oracle.add_parser("run-all", help="start every member written by `oracle init`")
    run_all.add_argument("dir", type=Path)
    status = oracle.add_parser("status", help="statements by state and the last errors")
    status.add_argument("--config", type=Path, required=True)
    status.add_argument("--json", action="store_true")
    imp = oracle.add_parser("import", help="post statements from a JSON-lines file to a running member")
    imp.add_argument("--config", type=Path, required=True)
    imp.add_argument("statements", type=Path)


def cmd_courses(args: argparse.Namespace) -> int:
    from oracle.chain import ChainView

    try:
        courses = [c.to_json() for c in ChainView(args.rpc).catalog()]
    except (requests.RequestException, RuntimeError, KeyError, ValueError) as exc:
        print(f"error: cannot read the catalog from {args.rpc}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(courses, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Azora course catalog")
    for column in ("title", "iri", "weight", "active", "courseId"):
        table.add_column(column)
    for c in courses:
        table.add_row(c["title"], c["iri"], f"{c['rewardWeight'] / 100:g} %", "yes" if c["active"] else "no",
                      c["courseId"][:18] + "…")
    Console(width=160).print(table)
    return 0


def cmd_oracle(args: argparse.Namespace) -> int:
    handlers = {"run": oracle_run, "init": oracle_init, "run-all": oracle_run_all,
                "status": oracle_status, "import": oracle_import}
    return handlers[args.oracle_command](args)


def oracle_run(args: argparse.Namespace) -> int:
    import trio

    from oracle.chain import ChainView
    from oracle.config import ConfigError, OracleConfig
    from oracle.service import Oracle, run_oracle
    from oracle.store import OracleStore
    from wallet.keystore import KeystoreError, load_keystore, read_password_file

    for noisy in ("libp2p", "multiaddr", "async_service"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        config = OracleConfig.load(args.config)
        account = load_keystore(config.keystore, read_password_file(config.password_file))
        chain = ChainView(config.rpc)
    except (ConfigError, KeystoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (requests.RequestException, RuntimeError, KeyError) as exc:
        print(f"error: cannot reach the node at {config.rpc}: {exc}", file=sys.stderr)
        return 2
    if account.address not in chain.rules().committee:
        print(f"warning: {account.address} is not in the on-chain committee; peers will reject its attestations",
              file=sys.stderr)
    store = OracleStore(config.datadir / "oracle")
    try:
        trio.run(run_oracle, Oracle(config, account, chain, store))
    finally:
        store.close()
    return 0


def oracle_init(args: argparse.Namespace) -> int:
    from eth_account import Account

    from oracle.chain import ChainView
    from p2p import load_or_create_node_key, peer_id_of
    from wallet.keystore import KeystoreError, load_keystore, read_password_file, save_keystore

    try:
        chain = ChainView(args.rpc)
    except (requests.RequestException, RuntimeError, KeyError) as exc:
        print(f"error: cannot reach the node at {args.rpc}: {exc}", file=sys.stderr)
        return 1
    out = args.out.resolve()
    try:
        if args.dev:
            Account.enable_unaudited_hdwallet_features()
            accounts = [Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
                        for i in range(DEV_ACCOUNTS - 3, DEV_ACCOUNTS)]
        elif args.keystores and args.password_file:
            password = read_password_file(args.password_file)
            accounts = [load_keystore(Path(k), password) for k in args.keystores.split(",")]
        else:
            print("error: give --dev or --keystores with --password-file", file=sys.stderr)
            return 2
    except (KeystoreError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rules = chain.rules()
    strangers = [a.address for a in accounts if a.address not in rules.committee]
    if strangers:
        print(f"error: not in the on-chain committee: {', '.join(strangers)}", file=sys.stderr)
        return 2
    quorum = args.quorum or rules.quorum
    if not 1 <= quorum <= len(accounts):
        print(f"error: --quorum {quorum} is not between 1 and the {len(accounts)} members", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)   # only now: a refused keystore leaves nothing behind
    # a dev committee has well-known platform credentials, as the dev chain has a well-known mnemonic
    auth = DEV_AUTH if args.dev else {"username": "platform", "password": secrets.token_urlsafe(16)}
    members = []
    peers = []
    for index, account in enumerate(accounts):
        home = out / f"oracle{index}"
        peer = peer_id_of(load_or_create_node_key(home / "data" / "p2p"))
        peers.append(f"/ip4/127.0.0.1/tcp/{args.base_port + 100 + index}/p2p/{peer}")
    for index, account in enumerate(accounts):
        name = f"oracle{index}"
        home = out / name
        password = secrets.token_urlsafe(16)
        (home / "password").write_text(password + "\n")
        (home / "password").chmod(0o600)
        save_keystore(home / "keystore.json", account, password)
        config = {
            "name": name, "rpc": args.rpc, "keystore": "keystore.json", "password_file": "password",
            "datadir": "data", "xapi": {"host": "127.0.0.1", "port": args.base_port + index},
            "p2p": {"host": "127.0.0.1", "port": args.base_port + 100 + index,
                    "peers": [p for i, p in enumerate(peers) if i != index]},
            "platforms": [auth], "submit": True,
            "submit_grace_seconds": 10 if not args.dev else 5,
        }
        import yaml
        (home / "oracle.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        members.append({"name": name, "config": str(home / "oracle.yaml"), "address": account.address,
                        "xapi": f"http://127.0.0.1:{args.base_port + index}/xapi"})
    manifest = {"quorum": quorum, "auth": auth, "oracles": members}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {len(members)} oracle configs and {out / MANIFEST}; start them with `azora oracle run-all {out}`")
    return 0


def oracle_run_all(args: argparse.Namespace) -> int:
    manifest = json.loads((args.dir / MANIFEST).read_text())
    processes = []
    for member in manifest["oracles"]:
        log = open(Path(member["config"]).parent / "oracle.log", "ab")
        processes.append(subprocess.Popen([sys.executable, "-m", "node.cli", "oracle", "run",
                                           "--config", member["config"]], stdout=log, stderr=subprocess.STDOUT))
        print(f"{member['name']} {member['address']} {member['xapi']} (log {Path(member['config']).parent / 'oracle.log'})",
              flush=True)
    stop = False

    def request_stop(*_: Any) -> None:
        nonlocal stop
        stop = True
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        while not stop and any(p.poll() is None for p in processes):
            time.sleep(0.5)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.time() + 20
        for process in processes:
            try:
                process.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


def _base_url(config: Any) -> str:
    return f"http://{config.xapi_host}:{config.xapi_port}"


def oracle_status(args: argparse.Namespace) -> int:
    from oracle.config import ConfigError, OracleConfig

    try:
        config = OracleConfig.load(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    platform = config.platforms[0]
    try:
        status = requests.get(_base_url(config) + "/azora/status", auth=(platform.username, platform.password),
                              timeout=10).json()
        status["running"] = True
    except requests.RequestException:
        status = _status_from_store(config)
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print(f"oracle {status['name']} {status.get('address', '')} ({'running' if status['running'] else 'stopped'})")
    for state, count in status["counts"].items():
        print(f"  {state:<10} {count}")
    if status["errors"]:
        print("last errors:")
        for message in status["errors"][-10:]:
            print(f"  {message}")
    return 0


def _status_from_store(config: Any) -> dict[str, Any]:
    from oracle.store import OracleStore

    store = OracleStore(config.datadir / "oracle")
    try:
        return {"name": config.name, "running": False, "counts": store.counts(), "errors": store.errors()}
    finally:
        store.close()


def oracle_import(args: argparse.Namespace) -> int:
    """Post each line's statement to the member's own xAPI endpoint, as a platform would."""
    from oracle.config import ConfigError, OracleConfig

    try:
        config = OracleConfig.load(args.config)
        lines = [line for line in args.statements.read_text().splitlines() if line.strip()]
    except (ConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    platform = config.platforms[0]
    accepted = refused = 0
    for number, line in enumerate(lines, 1):
        reply = requests.post(_base_url(config) + "/xapi/statements", data=line.encode(),
                              auth=(platform.username, platform.password), timeout=30,
                              headers={"X-Experience-API-Version": "1.0.3", "Content-Type": "application/json"})
        if reply.status_code == 200:
            accepted += 1
        else:
            refused += 1
            print(f"line {number}: HTTP {reply.status_code}: {reply.json().get('error')}", file=sys.stderr)
    print(f"imported {accepted} statements, {refused} refused")
    return 0 if refused == 0 else 1
