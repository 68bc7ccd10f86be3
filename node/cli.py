"""The ``azora`` command line."""
from __future__ import annotations

import argparse
import os
import errno
import json
import shutil
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import trio

from kernel.limits import DEFAULT_GAS_LIMIT
from node.config import RpcLimits, parse_duration
from node.log_setup import add_logging_flags, add_logging_flags_to_subcommands, configure_logging
from oracle.cli import add_oracle_commands, cmd_courses, cmd_oracle
from wallet.cli import add_wallet_commands, cmd_wallet
from wallet.credentials import add_credential_commands, cmd_credential
from wallet.dao import add_dao_commands, cmd_dao
from wallet.status import add_status_commands, cmd_status
from wallet.validator import add_validator_commands, cmd_validator

AZR = 10**18
DEV_CHAIN_ID = 1337
DEV_GAS_LIMIT = DEFAULT_GAS_LIMIT    # 30M, as anvil's and Hardhat's
DEV_BALANCE = 10_000     # AZR per dev account
# The dev validator's key: an index far past the dev accounts', so the coinbase (the proposer)
# is no dev account and fees and rewards never flow back to one (anvil and Hardhat do the
# same); `azora wallet import --index 1000` gives its keystore.
DEV_VALIDATOR_INDEX = 1000
DEV_VALIDATOR_PATH = f"m/44'/60'/0'/0/{DEV_VALIDATOR_INDEX}"


def _add_rpc_flags(parser: argparse.ArgumentParser, default_port: int = 8545) -> None:
    parser.add_argument("--http.addr", dest="http_addr", default="127.0.0.1")
    parser.add_argument("--http.port", dest="http_port", type=int, default=default_port)
    _add_http_access_flags(parser, cors_default="localhost", vhosts_default="localhost")
    parser.add_argument("--http.ratelimit", dest="rate_limit", type=float, default=0.0,
                        help="JSON-RPC calls per second per client address, each call of a batch counted (HTTP and WebSocket); 0 = unlimited")
    _add_rpc_limit_flags(parser)


def _add_http_access_flags(parser: argparse.ArgumentParser, *, cors_default: str | None = None,
                           vhosts_default: str | None = None) -> None:
    """geth's browser and host checks (node.rpc.server.build_app); a node's config file may
    set them instead, so `azora node run` leaves them unset."""
    parser.add_argument("--http.corsdomain", dest="cors", default=cors_default,
                        help="comma-separated origins browser pages may call from; 'localhost' (the default) "
                             "is any page served from this machine, '*' any page")
    parser.add_argument("--http.vhosts", dest="vhosts", default=vhosts_default,
                        help="comma-separated host names the server accepts in the Host header (IP addresses "
                             "always pass); default localhost, '*' any")


def _split(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())


def _add_rpc_limit_flags(parser: argparse.ArgumentParser) -> None:
    """geth's execution limits and the log/filter bounds (defaults: node.config.RpcLimits)."""
    parser.add_argument("--rpc.evmtimeout", dest="evm_timeout", type=parse_duration,
                        help="time limit of eth_call, eth_estimateGas, eth_createAccessList and traces "
                             "(e.g. 5s, 500ms; 0 = none; default 5s)")
    parser.add_argument("--rpc.gascap", dest="gas_cap", type=int,
                        help="gas limit of those executions (0 = none; default 50000000)")
    parser.add_argument("--rpc.logs.maxrange", dest="logs_max_range", type=int,
                        help="blocks one eth_getLogs may span (0 = no limit; default 10000)")
    parser.add_argument("--rpc.logs.maxresults", dest="logs_max_results", type=int,
                        help="logs one eth_getLogs may return (0 = no limit; default 10000)")
    parser.add_argument("--rpc.filters.max", dest="max_filters", type=int,
                        help="polling filters per client address (0 = no limit; default 1000)")
    parser.add_argument("--rpc.subscriptions.max", dest="max_subscriptions", type=int,
                        help="subscriptions per WebSocket connection (0 = no limit; default 1000)")
    parser.add_argument("--rpc.gateway", dest="rpc_gateway", choices=("on", "off"), default="on",
                        help="serve the RPC port's HTTP from a process beside the node, which also decodes "
                             "sent transactions and recovers their senders (default on)")


def _cpu_pin(value: str) -> str:
    """``--cpu.pin``: auto, off, or a core this process may run on."""
    from node.runtime import CpuPinError, named_core

    if value not in ("auto", "off"):
        try:
            named_core(value)
        except CpuPinError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _add_cpu_flag(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--cpu.pin", dest="cpu_pin", type=_cpu_pin, default=default,
                        help="run the node's threads on one core (a number, or auto: the core it starts on) "
                             "and its RPC gateway and decoder workers on the others; off leaves placement "
                             f"to the OS (default {default})")


def _gas_limit(value: str) -> int:
    """A block gas limit: what py-evm accepts in a header (at least 5,000, below 2^63)."""
    try:
        limit = int(value, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 5000 <= limit < 2**63:
        raise argparse.ArgumentTypeError(f"{limit} is not between 5000 and 2^63 - 1")
    return limit


def _rpc_limits(args: argparse.Namespace, base: RpcLimits | None = None) -> RpcLimits:
    return (base or RpcLimits()).with_overrides(
        evm_timeout=args.evm_timeout, gas_cap=args.gas_cap, logs_max_range=args.logs_max_range,
        logs_max_results=args.logs_max_results, max_filters=args.max_filters,
        max_subscriptions=args.max_subscriptions)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="azora", description="Azora full node")
    add_logging_flags(parser, default=True)
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run a one-validator development chain")
    dev.add_argument("--datadir", type=Path, help="keep the chain here (default: a fresh temp dir)")
    _add_rpc_flags(dev)
    dev.add_argument("--block-time", type=float, default=None,
                     help="seconds between blocks (default: a block as soon as a tx arrives)")
    dev.add_argument("--accounts", type=int, default=10)
    dev.add_argument("--mnemonic", default=None)
    dev.add_argument("--chain-id", type=int, default=None,
                     help=f"chain id of a new chain (default {DEV_CHAIN_ID}); a --datadir keeps its own")
    dev.add_argument("--balance", type=int, default=None,
                     help=f"AZR per dev account on a new chain (default {DEV_BALANCE}); a --datadir keeps its own")
    dev.add_argument("--gas-limit", type=_gas_limit, default=None,
                     help=f"block gas limit of a new chain (default {DEV_GAS_LIMIT}, as anvil's and Hardhat's); "
                          "a --datadir keeps its own")
    dev.add_argument("--fork-url", help="run on a copy of this JSON-RPC node's state, read lazily and cached")
    dev.add_argument("--fork-block-number", type=int, help="the remote's block to fork at (default: its head)")
    _add_cpu_flag(dev, "auto")

    imp = sub.add_parser("import", help="import an RLP chain file")
    imp.add_argument("--datadir", type=Path, required=True)
    imp.add_argument("--genesis", type=Path, required=True)
    imp.add_argument("--no-seal-check", action="store_true",
                     help="accept blocks sealed by another consensus (e.g. Ethereum test chains)")
    imp.add_argument("chain", type=Path)

    exp = sub.add_parser("export", help="export the chain as an RLP file")
    exp.add_argument("--datadir", type=Path, required=True)
    exp.add_argument("out", type=Path)

    node = sub.add_parser("node", help="run a full node or validator").add_subparsers(dest="node_command", required=True)
    run = node.add_parser("run", help="run a networked node (a validator with --validator-key)")
    run.add_argument("--datadir", type=Path)
    run.add_argument("--config", type=Path, help="YAML config (as written by `azora testnet init`)")
    run.add_argument("--genesis", type=Path, help="genesis file (needed on first start without a config)")
    run.add_argument("--p2p.port", dest="p2p_port", type=int)
    run.add_argument("--p2p.addr", dest="p2p_host")
    run.add_argument("--bootnodes", help="comma-separated multiaddrs with /p2p/<peer id>")
    run.add_argument("--direct-peers", dest="direct_peers",
                     help="comma-separated multiaddrs with /p2p/<peer id> of gossipsub direct peers (each "
                          "must list this node too): every message goes to them, whatever the mesh does")
    run.add_argument("--http.addr", dest="http_addr")
    run.add_argument("--http.port", dest="http_port", type=int)
    run.add_argument("--http.ratelimit", dest="rate_limit", type=float,
                     help="JSON-RPC calls per second per client address, each call of a batch counted; 0 = unlimited")
    _add_http_access_flags(run)
    _add_rpc_limit_flags(run)
    run.add_argument("--validator-key", dest="validator_keystore", type=Path, help="v3 keystore of the validator key")
    run.add_argument("--password-file", type=Path)
    run.add_argument("--block-interval", type=float, help="seconds between blocks (default 1)")
    run.add_argument("--double-sign-check-height", dest="double_sign_check_height", type=int,
                     help="before signing, refuse to start if the validator key signed any of this many "
                          "latest commits that its last-sign record does not know (default 2; 0 = off)")
    _add_cpu_flag(run, "off")

    testnet = sub.add_parser("testnet", help="a local multi-node network").add_subparsers(dest="testnet_command", required=True)
    init = testnet.add_parser("init", help="write genesis, keys and configs for a local network")
    init.add_argument("--validators", type=int, default=4)
    init.add_argument("--full-nodes", type=int, default=0)
    init.add_argument("--out", type=Path, required=True)
    init.add_argument("--chain-id", type=int, default=31337)
    init.add_argument("--base-p2p-port", type=int, default=30300)
    init.add_argument("--base-http-port", type=int, default=8600)
    init.add_argument("--block-interval", type=float, default=1.0)
    init.add_argument("--epoch-length", type=int, default=100,
                      help="blocks per epoch: the validator set changes at epoch boundaries (default 100)")
    init.add_argument("--jail-duration", type=int,
                      help="seconds a slashed validator stays jailed (default: the registry's 30 days)")
    init.add_argument("--force", action="store_true",
                      help="replace a testnet already in --out (its keys and chain data are deleted)")
    trun = testnet.add_parser("run", help="start every node of a testnet with a live status table")
    trun.add_argument("dir", type=Path)

    add_wallet_commands(sub)
    add_credential_commands(sub)
    add_dao_commands(sub)
    add_validator_commands(sub)
    add_oracle_commands(sub)
    add_status_commands(sub)

    con = sub.add_parser("contracts", help="print the system contracts of a running node")
    con.add_argument("--rpc", default="http://127.0.0.1:8545", help="the node's JSON-RPC URL")

    srv = sub.add_parser("serve", help="serve JSON-RPC over an existing datadir, producing no blocks")
    srv.add_argument("--datadir", type=Path, required=True)
    _add_rpc_flags(srv)
    add_logging_flags_to_subcommands(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    command = {"dev": cmd_dev, "import": cmd_import, "export": cmd_export, "serve": cmd_serve,
               "contracts": cmd_contracts, "node": cmd_node, "testnet": cmd_testnet,
               "wallet": cmd_wallet, "credential": cmd_credential, "dao": cmd_dao, "validator": cmd_validator,
               "courses": cmd_courses, "oracle": cmd_oracle, "status": cmd_status}
    try:
        return command[args.command](args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `azora … | head`: the reader left. Say nothing more (the interpreter would print a
        # second traceback flushing stdout at exit) and exit as a shell's SIGPIPE does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def cmd_dev(args: argparse.Namespace) -> int:
    """``azora dev``; a startup failure (busy port, locked or mismatched datadir) is one line."""
    temporary = args.datadir is None
    datadir = args.datadir or Path(tempfile.mkdtemp(prefix="azora-dev-"))
    try:
        return _run_dev(args, datadir)
    except DevStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.status
    finally:
        if temporary:   # a chain nobody can restart: anvil's are in memory
            shutil.rmtree(datadir, ignore_errors=True)


class DevStartError(Exception):
    """``azora dev`` cannot start; the message is one line for the user."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def _run_dev(args: argparse.Namespace, datadir: Path) -> int:
    from node.accounts import DEV_MNEMONIC, ManagedAccounts, derive_accounts
    from node.backend import Backend
    from node.context import NodeContext
    from node.service import GENESIS_FILE, build_namespaces

    check_port_free(args.http_addr, args.http_port)
    mnemonic = args.mnemonic or DEV_MNEMONIC
    accounts = derive_accounts(mnemonic, args.accounts)
    stored = read_json(datadir / GENESIS_FILE)
    balance = dev_balance(args, stored, accounts)
    validator = dev_validator(mnemonic, stored, accounts)
    chain, build_producer = open_dev_chain(args, datadir, stored, accounts,
                                           bytes.fromhex(validator.address[2:]), balance)
    if args.fork_url:   # a fork's datadir has no genesis file: its validator-set record tells
        validator = recorded_validator(chain, [validator, *accounts[:1]]) or validator
    coinbase = bytes.fromhex(validator.address[2:])
    backend = Backend(chain, rpc_limits=_rpc_limits(args), refuse_below_base_fee=True)
    producer = build_producer(backend, bytes(validator.key), args.block_time)
    context = NodeContext(dev=True, accounts=ManagedAccounts(accounts), coinbase=coinbase, consensus=producer.host,
                          validator_sets=producer.host.validator_sets)
    namespaces = build_namespaces(backend, context, producer=producer, fork_url=args.fork_url)
    banner = dev_banner(accounts, balance, mnemonic, chain.chain_id, datadir, validator.address, args,
                        chain.head.gas_limit)
    return serve_dev(args, backend, context, namespaces, producer, banner)


def dev_balance(args: argparse.Namespace, stored: dict[str, Any] | None, accounts: list[Any]) -> int:
    """AZR per dev account: the flag's (which must match a stored chain's), else the stored
    chain's, else the default."""
    if stored is not None and not args.fork_url:
        conflict = dev_datadir_conflict(stored, args.chain_id, None if args.balance is None else args.balance * AZR,
                                        [a.address for a in accounts], gas_limit=args.gas_limit)
        if conflict:
            raise DevStartError(f"{args.datadir} {conflict}")
        if args.balance is None and accounts:
            return stored_balance(stored, accounts[0].address) // AZR
    return DEV_BALANCE if args.balance is None else int(args.balance)


def open_dev_chain(args: argparse.Namespace, datadir: Path, stored: dict[str, Any] | None, accounts: list[Any],
                   validator: bytes, balance: int) -> tuple[Any, Any]:
    """The chain (new, stored or forked) and the function that builds its producer."""
    from kernel.chain import ChainError
    from kernel.genesis import Genesis
    from node.service import build_dev_chain, dev_genesis, open_chain

    try:
        if args.fork_url:
            if args.gas_limit is not None:
                raise DevStartError("--gas-limit sets a new chain's block gas limit; a fork keeps the remote's")
            from node.fork import ForkError, build_fork_dev_chain, open_fork
            try:
                return open_fork(args.fork_url, args.fork_block_number, datadir, [a.address for a in accounts],
                                 balance * AZR), build_fork_dev_chain
            except ForkError as exc:
                raise DevStartError(str(exc), status=1) from None
        genesis = None if stored is not None else Genesis.from_json(dev_genesis(
            accounts, chain_id=args.chain_id or DEV_CHAIN_ID, balance_wei=balance * AZR, validator=validator,
            gas_limit=args.gas_limit or DEV_GAS_LIMIT))
        return open_chain(datadir, genesis), build_dev_chain
    except ChainError as exc:
        raise DevStartError(str(exc)) from None
    except OSError as exc:
        if "lock" in str(exc).lower():
            raise DevStartError(f"{datadir} is in use by another azora process (its database is locked)") from None
        raise


def dev_banner(accounts: list[Any], balance: int, mnemonic: str, chain_id: int, datadir: Path, coinbase: str,
               args: argparse.Namespace, gas_limit: int = DEV_GAS_LIMIT) -> str:
    """What ``azora dev`` prints once it listens (anvil's layout)."""
    lines = ["", "Azora dev chain", "", "Available Accounts", "=================="]
    lines += [f"({i}) {a.address} ({balance} AZR)" for i, a in enumerate(accounts)]
    lines += ["", "Private Keys", "=================="]
    lines += [f"({i}) 0x{a.key.hex().removeprefix('0x')}" for i, a in enumerate(accounts)]
    lines += ["", "Wallet", "==================", f"Mnemonic:          {mnemonic}",
              "Derivation path:   m/44'/60'/0'/0/", "",
              f"Chain ID:          {chain_id}", f"Datadir:           {datadir}",
              f"Coinbase:          {coinbase} (the dev validator)",
              f"Block time:        {args.block_time or 'automine'}",
              f"Gas limit:         {gas_limit}", "",
              f"Listening on {args.http_addr}:{args.http_port}", ""]
    return "\n".join(lines)


def serve_dev(args: argparse.Namespace, backend: Any, context: Any, namespaces: dict[str, Any], producer: Any,
              banner: str) -> int:
    """Run until SIGTERM/SIGINT; the port taken between the check and the bind is one line."""
    from node.service import RpcSettings, run_services

    failure: list[BaseException] = []
    try:
        rpc = RpcSettings(args.http_addr, args.http_port, _split(args.cors) or (), args.rate_limit,
                          _split(args.vhosts) or (), args.rpc_gateway == "on")
        trio.run(partial(run_services, backend, context, namespaces, rpc, producer=producer,
                         on_listening=lambda: print(banner, flush=True), cpu_pin=args.cpu_pin))
    except* OSError as group:
        failure.extend(_leaves(group))
    finally:
        backend.close()
    if failure:
        raise DevStartError(f"cannot serve JSON-RPC on {args.http_addr}:{args.http_port}: {failure[0]}")
    return 0


def check_port_free(host: str, port: int) -> None:
    """Fail before anything starts when another process listens on ``host:port``."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise DevStartError(f"cannot listen on {host}:{port}: {reason} (choose another --http.port)") from None


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return None


def stored_balance(genesis: dict[str, Any], address: str) -> int:
    alloc = {a.lower(): v for a, v in genesis.get("alloc", {}).items()}
    return int(alloc.get(address.lower(), {}).get("balance", "0x0"), 16)


def dev_datadir_conflict(genesis: dict[str, Any], chain_id: int | None, balance_wei: int | None,
                         addresses: list[str], *, gas_limit: int | None = None) -> str | None:
    """Why a dev datadir's chain does not match the flags given (None if it does): a restart
    never silently ignores --chain-id, --balance or --gas-limit."""
    stored_id = int(genesis.get("config", {}).get("chainId", 0))
    if chain_id is not None and chain_id != stored_id:
        return f"holds chain id {stored_id}, not --chain-id {chain_id}: drop --chain-id or use another --datadir"
    stored_gas_limit = int(str(genesis.get("gasLimit", hex(DEV_GAS_LIMIT))), 0)
    if gas_limit is not None and gas_limit != stored_gas_limit:
        return (f"holds a chain whose block gas limit is {stored_gas_limit}, not --gas-limit {gas_limit}: "
                "drop --gas-limit or use another --datadir")
    if balance_wei is not None:
        for address in addresses:
            stored = stored_balance(genesis, address)
            if stored != balance_wei:
                return (f"holds a chain whose dev account {address} started with {stored / AZR:g} AZR, not "
                        f"--balance {balance_wei // AZR}: drop --balance or use another --datadir")
    return None


def recorded_validator(chain: Any, candidates: list[Any]) -> Any | None:
    """The candidate the validator set recorded for the chain's next height names: a fork made
    before the dev validator had its own key goes on signing as account 0."""
    from kernel.schema import make_validator_set_key
    from node.validators import decode_validator_set

    raw = chain.get_aux(make_validator_set_key(chain.head.block_number + 1))
    if raw is None:
        return None
    members = {v.address for v in decode_validator_set(raw).validators}
    return next((c for c in candidates if bytes.fromhex(c.address[2:]) in members), None)


def dev_validator(mnemonic: str, genesis: dict[str, Any] | None, accounts: list[Any]) -> Any:
    """The dev validator's account: its own key, or account 0 for a datadir whose genesis
    names it (chains made before the validator had its own key)."""
    from eth_account import Account

    own = Account.from_mnemonic(mnemonic, account_path=DEV_VALIDATOR_PATH)
    named = [v.get("address", "").lower() for v in (genesis or {}).get("azora", {}).get("validators", [])]
    if named and accounts and named[0] == accounts[0].address.lower():
        return accounts[0]
    return own


def cmd_serve(args: argparse.Namespace) -> int:
    from node.backend import Backend
    from node.context import NodeContext
    from node.service import RpcSettings, build_namespaces, open_chain, run_services, validator_set_store

    chain = open_chain(args.datadir)
    backend = Backend(chain, rpc_limits=_rpc_limits(args))
    context = NodeContext(validator_sets=validator_set_store(chain))
    try:
        rpc = RpcSettings(args.http_addr, args.http_port, _split(args.cors) or (), args.rate_limit,
                          _split(args.vhosts) or (), args.rpc_gateway == "on")
        trio.run(partial(run_services, backend, context, build_namespaces(backend, context), rpc, on_listening=lambda: print(
            f"Listening on {args.http_addr}:{args.http_port}", flush=True)))
    finally:
        backend.close()
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from kernel.genesis import Genesis
    from node.chainio import count_rlp_items, import_chain
    from node.progress import ProgressReporter
    from node.service import open_chain

    try:
        genesis = Genesis.from_file(args.genesis)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    chain = open_chain(args.datadir, genesis, check_seal=not args.no_seal_check)
    try:
        with ProgressReporter("importing", count_rlp_items(args.chain), "blocks") as progress:
            count = import_chain(chain, args.chain, lambda number: progress.advance(detail=f"#{number}"))
    except Exception as exc:
        print(f"error: import stopped at head #{chain.head.block_number}: {exc}", file=sys.stderr)
        return 1
    finally:
        head = chain.head
        chain.db.close()
    print(f"imported {count} blocks; head #{head.block_number} 0x{head.hash.hex()}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from node.chainio import export_chain
    from node.service import open_chain

    chain = open_chain(args.datadir)
    try:
        count = export_chain(chain, args.out)
    finally:
        chain.db.close()
    print(f"exported {count} blocks to {args.out}")
    return 0


def cmd_node(args: argparse.Namespace) -> int:
    from node.config import ConfigError, NodeConfig
    from p2p.service import ListenError
    from node.service import RpcSettings, build_network_node, run_services
    from node.services.consensus_io import ValidatorHalted
    from wallet.keystore import KeystoreError

    try:
        config = NodeConfig.load(args.config) if args.config else None
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if config is None:
        if args.datadir is None:
            print("error: azora node run needs --datadir or --config", file=sys.stderr)
            return 2
        config = NodeConfig(datadir=args.datadir)
    config = config.with_overrides(
        datadir=args.datadir, genesis=args.genesis, p2p_port=args.p2p_port, p2p_host=args.p2p_host,
        bootnodes=tuple(b for b in args.bootnodes.split(",") if b) if args.bootnodes else None,
        direct_peers=_split(args.direct_peers),
        http_addr=args.http_addr, http_port=args.http_port, validator_keystore=args.validator_keystore,
        password_file=args.password_file, block_interval=args.block_interval, rate_limit=args.rate_limit,
        cors=_split(args.cors), vhosts=_split(args.vhosts), double_sign_check_height=args.double_sign_check_height)
    try:
        if config.double_sign_check_height < 0:
            raise ValueError("--double-sign-check-height cannot be negative")
        config = config.with_overrides(rpc_limits=_rpc_limits(args, config.rpc_limits))
        for secret in (config.validator_keystore, config.password_file):
            if secret is not None:
                check_private_file(secret)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        backend, context, namespaces, node = build_network_node(config)
    except (KeystoreError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rpc = RpcSettings(config.http_addr, config.http_port, config.cors, config.rate_limit, config.vhosts,
                      args.rpc_gateway == "on")
    failure: list[BaseException] = []
    try:
        trio.run(partial(run_services, backend, context, namespaces, rpc, producer=node, on_listening=lambda: print(
            f"Listening on {config.http_addr}:{config.http_port}; p2p {node.p2p.peer_id} "
            f"on port {config.p2p_port}", flush=True), cpu_pin=args.cpu_pin))
    except* ListenError as group:
        failure.extend(_leaves(group))
    except* ValidatorHalted as group:
        failure.extend(_leaves(group))
    finally:
        backend.close()
    if failure:
        print(f"error: {failure[0]}", file=sys.stderr)
        return 2
    return 0


def check_private_file(path: Path) -> None:
    """A key or password file others can read is refused, as the node key is."""
    import stat

    try:
        mode = stat.S_IMODE(Path(path).stat().st_mode)
    except FileNotFoundError:
        raise ValueError(f"{path} does not exist") from None
    if mode & 0o077:
        raise ValueError(f"{path} is accessible by other users (mode {mode:o}); chmod 600 it")


def _leaves(error: BaseException) -> list[BaseException]:
    """The innermost exceptions of (nested) exception groups, as trio's nurseries nest them."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def cmd_testnet(args: argparse.Namespace) -> int:
    from node.testnet import TestnetExists, init_testnet, run_testnet

    if args.testnet_command == "init":
        try:
            manifest = init_testnet(args.out, validators=args.validators, full_nodes=args.full_nodes,
                                    chain_id=args.chain_id, base_p2p_port=args.base_p2p_port,
                                    base_http_port=args.base_http_port, block_interval=args.block_interval,
                                    epoch_length=args.epoch_length, jail_duration=args.jail_duration,
                                    force=args.force)
        except (TestnetExists, ValueError) as exc:   # a folder in use, or options out of range
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {len(manifest['nodes'])} nodes to {args.out}; start them with `azora testnet run {args.out}`")
        return 0
    return run_testnet(args.dir, log_level=args.log_level, log_format=args.log_format)


def cmd_contracts(args: argparse.Namespace) -> int:
    import requests
    from rich.console import Console
    from rich.table import Table

    try:
        reply = requests.post(args.rpc, json={"jsonrpc": "2.0", "id": 1, "method": "azora_nodeInfo",
                                              "params": []}, timeout=10).json()
    except (requests.RequestException, ValueError) as exc:
        print(f"error: cannot reach {args.rpc}: {exc}", file=sys.stderr)
        return 1
    if "error" in reply:
        print(f"error: {reply['error'].get('message')}", file=sys.stderr)
        return 1
    table = Table(title=f"Azora system contracts (chain {int(reply['result']['chainId'], 16)})")
    table.add_column("contract")
    table.add_column("address")
    for name, address in reply["result"]["contracts"].items():
        table.add_row(name, address)
    Console(width=100).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
