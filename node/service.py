"""Process wiring: open the datadir, build the backend, serve JSON-RPC, run the producer."""
from __future__ import annotations

import functools
import json
import logging
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

import trio

from consensus.config import DEV_TIMEOUTS
from consensus.sign_guard import GuardedSigner, MemorySignRecordStore
from consensus.signing import LocalSigner, SigningDomain
from contracts.deployment import DEMO_COURSES
from eth_account import Account
from eth_utils import to_canonical_address
from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import AZORA_DEFAULTS, DEFAULT_GAS_LIMIT, Genesis
from node.admission import builder_path
from node.backend import Backend
from node.context import NetworkIdentity, NodeContext, P2PPeers
from node.services.consensus_host import build_consensus_host
from node.evidence import EvidenceReporter
from node.explorer import explorer_routes
from node.health import health_route
from node.metrics import RpcCounters, render as render_metrics
from node.progress import genesis_progress
from node.rpc.gateway import NodeSide, RewindCounter
from node.validators import StandingTracker, ValidatorSetStore

if TYPE_CHECKING:
    from node.config import NodeConfig
    from node.network import NetworkNode
from node.dev import DevChain, DevPolicy, DevSigningAPI, EvmAPI, PersonalAPI
from node.rpc.azora import AzoraAPI
from node.rpc.debug import DebugAPI
from node.rpc.eth import EthAPI
from node.rpc.extra import EthExtraAPI
from node.rpc.txpool import TxpoolAPI
from node.rpc.misc import NetAPI, Web3API
from node.runtime import pin_cpu, tune_gc
from node.rpc.server import Dispatcher, RateLimiter, build_app, is_loopback, note_sent, serve

logger = logging.getLogger("azora.node")
GENESIS_FILE = "genesis.json"
DB_DIR = "chaindata"


@dataclass
class RpcSettings:
    host: str = "127.0.0.1"
    port: int = 8545
    cors: tuple[str, ...] = ("localhost",)
    rate_limit: float = 0.0      # requests per second per client address; 0 = unlimited
    vhosts: tuple[str, ...] = ("localhost",)
    gateway: bool = True         # HTTP in a process beside the node (node/rpc/gateway.py)


DEV_VALIDATOR_STAKE = 10_000 * 10**18
# A starting validator that has heard from no peer after this long is alone (a network of
# one): its double-sign check reads its own chain.
SOLO_GRACE_SECONDS = 5.0
# Short governance periods so a DAO proposal goes through on a dev chain in minutes.
DEV_SYSTEM_PARAMS = {"voting_delay": 1, "voting_period": 20, "late_quorum_extension": 5,
                     "timelock_delay": 5, "challenge_window": 60, "epoch_duration": 3600,
                     "unbonding_delay": 600}


def dev_genesis(accounts: list[Any], *, chain_id: int, balance_wei: int, validator: bytes,
                gas_limit: int = DEFAULT_GAS_LIMIT) -> dict[str, Any]:
    """A one-validator chain with the whole system deployed; the last three dev accounts form
    the oracle committee (quorum 2) so the learner flow runs locally."""
    oracles = [a.address for a in accounts[-3:]] if len(accounts) >= 3 else [accounts[0].address]
    return {
        "config": {"chainId": chain_id},
        "timestamp": hex(int(time.time())),
        "gasLimit": hex(gas_limit),
        "baseFeePerGas": hex(1_000_000_000),
        "alloc": {a.address: {"balance": hex(balance_wei)} for a in accounts},
        "azora": {"validators": [{"address": "0x" + validator.hex(), "stake": hex(DEV_VALIDATOR_STAKE)}],
                  "oracles": {"members": oracles, "quorum": min(2, len(oracles))},
                  "epochLength": AZORA_DEFAULTS.epoch_length,
                  "courses": [dict(c) for c in DEMO_COURSES],
                  "systemContracts": DEV_SYSTEM_PARAMS},
    }


def open_chain(datadir: Path, genesis: Genesis | None = None, *, check_seal: bool = True) -> Chain:
    """Open (or create) the chain in ``datadir``; its genesis is kept beside the database."""
    datadir.mkdir(parents=True, exist_ok=True)
    stored = datadir / GENESIS_FILE
    if genesis is None:
        if not stored.exists():
            raise SystemExit(f"error: {datadir} holds no chain (no {GENESIS_FILE}); "
                             "create one with `azora dev --datadir` or `azora import --genesis`")
        genesis = Genesis.from_file(stored)
    elif not stored.exists():
        tmp = stored.with_suffix(".tmp")
        tmp.write_text(json.dumps(genesis.raw, indent=2))
        tmp.replace(stored)
    with genesis_progress(len(genesis.alloc)) as progress:
        return Chain(LevelDB(datadir / DB_DIR), genesis, check_seal=check_seal, genesis_progress=progress)


def consensus_domain(chain: Chain) -> SigningDomain:
    """Every consensus signature is bound to the chain id and the ValidatorRegistry address."""
    registry = chain.system_contracts.get("ValidatorRegistry")
    if registry is None:
        raise SystemExit("error: this chain has no ValidatorRegistry in its genesis: it cannot run consensus")
    return SigningDomain(chain.chain_id, to_canonical_address(registry))


def build_dev_chain(backend: Backend, validator_key: bytes, block_time: float | None) -> DevChain:
    """``azora dev``: the BFT engine with one validator, blocks on demand or on a cadence."""
    chain = backend.chain
    domain = consensus_domain(chain)
    local = LocalSigner(validator_key, domain)
    policy = DevPolicy(block_time)
    reporter = EvidenceReporter(backend, Account.from_key(validator_key))
    host = build_consensus_host(backend, signer=GuardedSigner(local, MemorySignRecordStore()), domain=domain,
                                validator_sets=ValidatorSetStore(chain), timeouts=DEV_TIMEOUTS,
                                policy=policy, on_evidence=reporter.report)

    def reset_signer() -> None:
        host.signer = GuardedSigner(local, MemorySignRecordStore())

    return DevChain(backend, host, policy, reset_signer)


def validator_set_store(chain: Chain) -> ValidatorSetStore | None:
    """The process's one validator-set store (None for a chain without consensus)."""
    return ValidatorSetStore(chain) if chain.genesis.azora is not None else None


def build_namespaces(backend: Backend, context: NodeContext, *,
                     producer: DevChain | None = None, fork_url: str | None = None) -> dict[str, Any]:
    """One object per JSON-RPC namespace (``eth`` is split over several classes)."""
    eth: list[Any] = [EthAPI(backend, context), EthExtraAPI(backend, coinbase=context.coinbase)]
    namespaces: dict[str, Any] = {
        "eth": eth, "net": NetAPI(backend, context), "web3": Web3API(context), "txpool": TxpoolAPI(backend),
        "debug": DebugAPI(backend), "azora": AzoraAPI(backend, context),
    }
    if context.accounts is not None:
        signing = DevSigningAPI(backend, context.accounts, producer.impersonated if producer else None)
        eth.append(signing)
        namespaces["personal"] = PersonalAPI(signing)
    if producer is not None:
        from node.dev_helpers import AnvilAPI, HardhatAPI
        namespaces["evm"] = EvmAPI(producer)
        namespaces["anvil"] = AnvilAPI(backend, producer, fork_url)
        namespaces["hardhat"] = HardhatAPI(namespaces["anvil"])
    return namespaces


class NodeService(Protocol):
    """A trio service: ``started()`` once it is up, then runs until cancelled."""

    async def run(
        self, *,
        # trio-typing's stubs (installed with libp2p) shadow trio's own types and predate TaskStatus.
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,  # type: ignore[name-defined]
    ) -> None: ...


async def run_services(backend: Backend, context: NodeContext, namespaces: dict[str, Any], rpc: RpcSettings, *,
                       producer: NodeService | None = None,
                       on_listening: Callable[[], None] | None = None, cpu_pin: str = "off") -> None:
    """Run until SIGTERM/SIGINT: JSON-RPC server, block producer (the dev chain or the
    networked node), subscription feeds; the node's threads on one core if ``cpu_pin`` says
    so (node.runtime.pin_cpu), before any helper process starts."""
    tune_gc()     # what was loaded to start is frozen out of later collections
    pinned = pin_cpu(cpu_pin)
    if pinned is not None:
        logger.info("node threads on core %d", pinned)
    dispatcher = Dispatcher(namespaces, execution_timeout=backend.view.call_limits.timeout)
    rpc_counters = RpcCounters()
    dispatcher.on_call = rpc_counters.count
    dispatcher.on_latency = backend.timings.observe_rpc
    if isinstance(producer, DevChain):
        dispatcher.after_sending = producer.settle_sent   # automine answers once mined
        backend.on_local_tx.append(note_sent)
    hooks = [ns for group in namespaces.values() for ns in (group if isinstance(group, list) else [group])]
    on_disconnect = None
    for ns in hooks:
        if hasattr(ns, "on_disconnect"):
            on_disconnect = ns.on_disconnect
    if not is_loopback(rpc.host) and rpc.rate_limit <= 0:
        logger.warning("JSON-RPC listens on %s, beyond this machine, with no rate limit: anyone who reaches it "
                       "can use all of it (set --http.ratelimit, or bind 127.0.0.1)", rpc.host)
    app = build_app(dispatcher, cors_origins=rpc.cors, vhosts=rpc.vhosts, on_disconnect=on_disconnect,
                    metrics=lambda: render_metrics(backend, context, rpc_counters),
                    rate_limiter=RateLimiter(rpc.rate_limit) if rpc.rate_limit > 0 else None,
                    extra_routes=[health_route(context, lambda: backend.chain.head.block_number),
                                  *explorer_routes()])
    # Taken before anything serves: a client that sees the port answer may stop the node at
    # once (a test, a supervisor), and a SIGTERM before this would kill it uncleanly (exit -15).
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            for ns in hooks:
                if hasattr(ns, "run"):
                    await nursery.start(ns.run)
            if producer is not None:
                await nursery.start(producer.run)
            gateway = None
            if rpc.gateway:
                eth = next((ns for ns in hooks if isinstance(ns, EthAPI)), None)
                gateway = NodeSide(builder=lambda: builder_path(backend.transaction_builder()), rewinds=RewindCounter(),
                                   facts_of=eth.receipt_facts if eth is not None else None)
                backend.on_rewind.append(gateway.rewinds.bump)
                backend.on_new_block.append(gateway.on_new_block)
            await nursery.start(functools.partial(serve, app, rpc.host, rpc.port, gateway=gateway))
            if on_listening is not None:
                on_listening()
            async for signum in signals:
                logger.info("received %s, shutting down", signal.Signals(signum).name)
                break
            nursery.cancel_scope.cancel()


def build_network_node(config: "NodeConfig") -> tuple[Backend, NodeContext, dict[str, Any], "NetworkNode"]:
    """``azora node run``: chain, pool, JSON-RPC namespaces, consensus host and libp2p."""
    from consensus.config import TESTNET_TIMEOUTS, merge_timeouts
    from consensus.sign_guard import FileSignRecordStore
    from node.services.block_production import IntervalPolicy
    from node.network import GossipOutbox, NetworkNode, RangeSync
    from node.services.consensus_io import AsideThread, wait_until_level
    from p2p import P2PConfig, P2PService, load_or_create_node_key
    from wallet.keystore import load_keystore, read_password_file

    genesis = Genesis.from_file(config.genesis) if config.genesis else None
    chain = open_chain(config.datadir, genesis)
    backend = Backend(chain, rpc_limits=config.rpc_limits)
    domain = consensus_domain(chain)
    account = None
    signer = None
    if config.validator_keystore:
        if not config.password_file:
            raise SystemExit("error: --validator-key needs --password-file")
        account = load_keystore(config.validator_keystore, read_password_file(config.password_file))
        record = FileSignRecordStore(config.datadir / "consensus" / "last_sign.json")
        signer = GuardedSigner(LocalSigner(bytes(account.key), domain), record)
    # The preset, then the network's genesis, then this node's config.
    timeouts = merge_timeouts(TESTNET_TIMEOUTS, chain.genesis.azora.timeouts if chain.genesis.azora else {},
                              config.timeouts)
    validator_sets = ValidatorSetStore(chain)
    sync = RangeSync(backend)
    p2p = P2PService(P2PConfig(chain_id=chain.chain_id, listen_host=config.p2p_host,
                               port=config.p2p_port, bootnodes=config.bootnodes,
                               direct_peers=config.direct_peers),
                     load_or_create_node_key(config.datadir), handlers=sync.handlers())
    host = build_consensus_host(backend, signer=signer, domain=domain,
                                validator_sets=validator_sets, timeouts=timeouts,
                                policy=IntervalPolicy(config.block_interval), outbox=GossipOutbox(p2p),
                                offload_aside=AsideThread().run_sync,
                                on_evidence=EvidenceReporter(backend, account).report,
                                double_sign_check_height=config.double_sign_check_height,
                                wait_until_synced=lambda: wait_until_level(
                                    lambda: sync.peer_heads.values(), lambda: chain.head.block_number,
                                    grace=SOLO_GRACE_SECONDS))
    node = NetworkNode(backend, host, p2p, sync)
    standing = None
    if account is not None:
        standing = StandingTracker(validator_sets, to_canonical_address(account.address))
        backend.on_new_block.append(standing.on_block)
        standing.log_standing()
    context = NodeContext(
        consensus=host, sync=sync, peers=P2PPeers(p2p), validator_sets=validator_sets, standing=standing,
        identity=NetworkIdentity(validator=account.address if account else None, peer_id=str(p2p.peer_id),
                                 listen=(f"/ip4/{config.p2p_host}/tcp/{config.p2p_port}",)))
    return backend, context, build_namespaces(backend, context), node
