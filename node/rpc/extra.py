"""The rest of the ``eth_`` namespace: filters, subscriptions, proofs, access lists, config.

Merged into ``eth`` beside :class:`node.rpc.eth.EthAPI`. Chain events arrive through the
backend's hooks from worker threads (the producer's, the RPC's); polling filters are plain
thread-safe buffers, and subscription notifications are handed to the trio loop, which owns
every WebSocket, through a memory channel fed with ``trio.from_thread``.
"""
from __future__ import annotations

import logging
import os
import secrets
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol, Union

import trio
from eth.abc import BlockAPI, LogAPI, SignedTransactionAPI, VirtualMachineAPI

from kernel.execution import CallError
from kernel.forks import ForkSchedule, blob_schedule_of, fork_name
from node.backend import Backend
from node.execution import CallArgs, rpc_error
from node.rpc.errors import LIMIT_EXCEEDED, METHOD_NOT_FOUND, RpcError, invalid_params, server_error
from node.rpc.format import format_access_list, format_header, format_log, format_transaction
from node.rpc.hexcodec import data, parse_address, parse_bool, quantity
from node.rpc.logs import LogQuery, log_limits_of, query_logs
from node.rpc.server import current_client, expensive, needs_connection

logger = logging.getLogger("azora.rpc.filters")

FILTER_TIMEOUT = 300.0          # geth's filter deadline: 5 minutes without a poll
SEND_TIMEOUT = 10.0             # seconds a subscriber may take to accept one notification
NOTIFY_BUFFER = 10_000          # events queued for subscribers before the hooks drop them


# -- filters ------------------------------------------------------------------------------

@dataclass
class _Filter:
    kind: str                           # "logs" | "blocks" | "pending"
    deadline: float
    query: LogQuery | None = None
    full_tx: bool = False
    changes: list[Any] = field(default_factory=list)
    client: str = "-"                   # the address that installed it (limits count per client)


class Subscriber(Protocol):
    """Where notifications go: a WebSocket connection (node.rpc.server.WebSocketConnection)."""

    async def send_json(self, message: Any) -> None: ...


@dataclass
class _Subscription:
    kind: str                           # "newHeads" | "logs" | "newPendingTransactions"
    connection: Subscriber
    query: LogQuery | None = None
    full_tx: bool = False


@dataclass(frozen=True)
class _BlockEvent:
    header: dict[str, Any]
    logs: tuple[tuple[LogAPI, dict[str, Any]], ...]   # (py-evm log, formatted log)


@dataclass(frozen=True)
class _TxEvent:
    tx_hash: str
    tx: dict[str, Any]


_Event = Union[_BlockEvent, _TxEvent]


def new_id() -> str:
    """geth's rpc.NewID: 128 random bits as a hex quantity (no leading zeros)."""
    return hex(secrets.randbits(128) or 1)


def filter_not_found() -> RpcError:
    return server_error("filter not found")


def notifications_unsupported() -> RpcError:
    return RpcError(METHOD_NOT_FOUND, "notifications not supported")


def too_many(what: str, limit: int, per: str) -> RpcError:
    return RpcError(LIMIT_EXCEEDED, f"limit exceeded: too many {what} (max {limit} per {per})")


class EthExtraAPI:
    """Filters, subscriptions, eth_getProof, eth_createAccessList, eth_config, eth_capabilities."""

    def __init__(self, backend: Backend, *, filter_timeout: float | None = None,
                 coinbase: bytes | None = None) -> None:
        self._b = backend
        self.coinbase = coinbase   # the pending block's, for calls on "pending"
        # A test shortens expiry through the environment of the node it starts.
        self.filter_timeout = filter_timeout if filter_timeout is not None else float(
            os.environ.get("AZORA_FILTER_TIMEOUT", FILTER_TIMEOUT))
        self._lock = threading.Lock()
        self._filters: dict[str, _Filter] = {}
        self._subscriptions: dict[str, _Subscription] = {}
        self._token: trio.lowlevel.TrioToken | None = None
        self._send, self._receive = trio.open_memory_channel[_Event](NOTIFY_BUFFER)
        backend.on_new_block.append(self._on_new_block)
        backend.on_tx_added.append(self._on_tx_added)

    # -- the service: reaper and notifier --------------------------------------------------

    async def run(
        self,
        # trio-typing's stubs (installed with libp2p) shadow trio's own types and predate TaskStatus.
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,  # type: ignore[name-defined]
    ) -> None:
        """Reap expired filters and deliver subscription notifications until cancelled."""
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._reap_forever)
            task_status.started()
            async with self._receive:
                async for event in self._receive:
                    await self._notify(event)

    async def _reap_forever(self) -> None:
        while True:
            await trio.sleep(max(0.05, min(self.filter_timeout / 4, 30.0)))
            self._reap_expired(time.monotonic())

    def _reap_expired(self, now: float) -> list[str]:
        """Drop filters not polled within the timeout; returns their ids."""
        with self._lock:
            expired = [fid for fid, f in self._filters.items() if f.deadline <= now]
            for fid in expired:
                del self._filters[fid]
        return expired

    def on_disconnect(self, connection: Subscriber) -> None:
        """A WebSocket closed: its subscriptions end with it."""
        with self._lock:
            for sid in [s for s, sub in self._subscriptions.items() if sub.connection is connection]:
                del self._subscriptions[sid]

    # -- hooks (worker threads) -------------------------------------------------------------

    def _on_new_block(self, block: BlockAPI) -> None:
        if not self._filters and not self._subscriptions:   # spare the producer the work
            return
        event = _BlockEvent(format_header(block.header), tuple(self._block_logs(block)))
        block_hash = data(block.hash)
        with self._lock:
            for f in self._filters.values():
                if f.kind == "blocks":
                    f.changes.append(block_hash)
                elif f.kind == "logs" and f.query is not None:
                    f.changes.extend(fmt for log, fmt in event.logs
                                     if _in_filter_range(f.query, block.number) and f.query.matches(log))
        self._publish(event)

    def _block_logs(self, block: BlockAPI) -> Iterable[tuple[LogAPI, dict[str, Any]]]:
        receipts = self._b.view.receipts_of(block.header)
        log_index = 0
        for tx_index, (tx, receipt) in enumerate(zip(block.transactions, receipts)):
            for log in receipt.logs:
                yield log, format_log(log, block.header, tx.hash, tx_index, log_index)
                log_index += 1

    def _on_tx_added(self, tx: SignedTransactionAPI) -> None:
        if not self._filters and not self._subscriptions:
            return
        event = _TxEvent(data(tx.hash), format_transaction(tx, tx.sender, None, None))
        with self._lock:
            for f in self._filters.values():
                if f.kind == "pending":
                    f.changes.append(event.tx if f.full_tx else event.tx_hash)
        self._publish(event)

    def _publish(self, event: _Event) -> None:
        if self._token is None or not self._subscriptions:
            return
        try:
            trio.from_thread.run_sync(self._send_nowait, event, trio_token=self._token)
        except RuntimeError:          # called on the loop thread itself
            self._send_nowait(event)
        except trio.RunFinishedError:  # shutting down
            pass

    def _send_nowait(self, event: _Event) -> None:
        try:
            self._send.send_nowait(event)
        except trio.WouldBlock:       # subscribers far behind: drop, as geth drops slow ones
            logger.warning("subscription buffer full; dropping an event")
        except (trio.BrokenResourceError, trio.ClosedResourceError):   # the service stopped
            pass

    async def _notify(self, event: _Event) -> None:
        with self._lock:
            subscriptions = list(self._subscriptions.items())
        for sid, sub in subscriptions:
            for result in _results_for(sub, event):
                message = {"jsonrpc": "2.0", "method": "eth_subscription",
                           "params": {"subscription": sid, "result": result}}
                try:
                    # A client that stops reading must not hold up everyone else's feed.
                    with trio.move_on_after(SEND_TIMEOUT) as scope:
                        await sub.connection.send_json(message)
                except Exception:  # the socket went away; on_disconnect cleans up
                    break
                if scope.cancelled_caught:
                    logger.warning("subscriber too slow; dropping subscription %s", sid)
                    with self._lock:
                        self._subscriptions.pop(sid, None)
                    break

    # -- polling filters --------------------------------------------------------------------

    def newFilter(self, criteria: Any) -> str:
        query = LogQuery.parse(criteria, self._b, resolve=False)
        return self._install(_Filter("logs", self._deadline(), query=query))

    def newBlockFilter(self) -> str:
        return self._install(_Filter("blocks", self._deadline()))

    def newPendingTransactionFilter(self, full_tx: Any = None) -> str:
        full = False if full_tx is None else parse_bool(full_tx, "fullTx")
        return self._install(_Filter("pending", self._deadline(), full_tx=full))

    def getFilterChanges(self, filter_id: Any) -> list[Any]:
        with self._lock:
            f = self._live_filter(filter_id)
            f.deadline = self._deadline()
            changes, f.changes = f.changes, []
        return changes

    def getFilterLogs(self, filter_id: Any) -> list[dict[str, Any]]:
        with self._lock:
            f = self._live_filter(filter_id)
            query = f.query
        if query is None:
            raise filter_not_found()
        return query_logs(self._b.view, query, log_limits_of(self._b))

    def uninstallFilter(self, filter_id: Any) -> bool:
        _check_id(filter_id)
        with self._lock:
            return self._filters.pop(filter_id, None) is not None

    def _deadline(self) -> float:
        return time.monotonic() + self.filter_timeout

    def _install(self, f: _Filter) -> str:
        fid = new_id()
        f.client = current_client.get()
        limit = self._b.rpc_limits.max_filters
        with self._lock:
            if limit and sum(1 for other in self._filters.values() if other.client == f.client) >= limit:
                raise too_many("filters", limit, "client")
            self._filters[fid] = f
        return fid

    def _live_filter(self, filter_id: Any) -> _Filter:
        """The filter (lock held by the caller); expired ones count as gone even unreaped."""
        _check_id(filter_id)
        f = self._filters.get(filter_id)
        if f is None or f.deadline <= time.monotonic():
            self._filters.pop(filter_id, None)
            raise filter_not_found()
        return f

    # -- subscriptions ----------------------------------------------------------------------

    @needs_connection
    async def subscribe(self, connection: Subscriber | None, kind: Any, options: Any = None) -> str:
        if connection is None:
            raise notifications_unsupported()
        if kind == "newHeads":
            sub = _Subscription("newHeads", connection)
        elif kind == "logs":
            sub = _Subscription("logs", connection,
                                query=LogQuery.parse(options or {}, self._b, resolve=False))
        elif kind == "newPendingTransactions":
            full = False if options is None else parse_bool(options, "fullTx")
            sub = _Subscription("newPendingTransactions", connection, full_tx=full)
        elif kind == "syncing":   # a valid subscription; sync progress is polled (eth_syncing), not pushed
            sub = _Subscription("syncing", connection)
        elif isinstance(kind, str):
            raise RpcError(METHOD_NOT_FOUND, f'no "{kind}" subscription in eth namespace')
        else:
            raise invalid_params("invalid argument 0: subscription name must be a string")
        sid = new_id()
        limit = self._b.rpc_limits.max_subscriptions
        with self._lock:
            if limit and sum(1 for other in self._subscriptions.values() if other.connection is connection) >= limit:
                raise too_many("subscriptions", limit, "connection")
            self._subscriptions[sid] = sub
        return sid

    @needs_connection
    async def unsubscribe(self, connection: Subscriber | None, subscription_id: Any) -> bool:
        _check_id(subscription_id)
        with self._lock:
            sub = self._subscriptions.get(subscription_id)
            if sub is None or sub.connection is not connection:
                raise server_error("subscription not found")
            del self._subscriptions[subscription_id]
        return True

    # -- eth_getProof (EIP-1186) ------------------------------------------------------------

    def getProof(self, address: Any, storage_keys: Any, tag: Any = "latest") -> dict[str, Any]:
        account_address = parse_address(address)
        if not isinstance(storage_keys, list):
            raise invalid_params("invalid argument 1: storage keys must be an array")
        keys = [_decode_storage_key(k) for k in storage_keys]
        header = self._b.resolve_header(tag)
        proof = self._b.view.account_proof(header, account_address, [key for key, _ in keys])
        # geth echoes each key as it was given: a full 32-byte hash, or a shorter quantity.
        storage_proof = [
            {"key": data(raw_key) if length == 32 else quantity(int.from_bytes(raw_key, "big")),
             "value": quantity(slot.value), "proof": [data(node) for node in slot.proof]}
            for (raw_key, length), slot in zip(keys, proof.storage)]
        return {"address": data(proof.address), "accountProof": [data(node) for node in proof.proof],
                "balance": quantity(proof.balance), "codeHash": data(proof.code_hash),
                "nonce": quantity(proof.nonce), "storageHash": data(proof.storage_root),
                "storageProof": storage_proof}

    # -- eth_createAccessList ---------------------------------------------------------------

    @expensive
    def createAccessList(self, call: Any, tag: Any = "latest") -> dict[str, Any]:
        at = self._b.execution_point(tag, self.coinbase)
        try:
            traced = self._b.view.create_access_list(at, CallArgs.parse(call))
        except CallError as exc:
            raise rpc_error(exc) from None
        result: dict[str, Any] = {"accessList": format_access_list(traced.access_list),
                                  "gasUsed": quantity(traced.gas_used)}
        if traced.error is not None:
            result["error"] = traced.error
        return result

    # -- eth_config (EIP-7910) and eth_capabilities -----------------------------------------

    def config(self) -> dict[str, Any]:
        chain = self._b.view
        head = chain.head
        forks = fork_activations(chain.schedule)
        current_index = max(i for i, (number, timestamp, _) in enumerate(forks)
                            if head.block_number >= number and head.timestamp >= timestamp)
        configs = [self._fork_config(forks, i) for i in range(len(forks))]
        if configs[current_index] is None:
            raise server_error("eth_config is not supported before the Cancun fork")
        later = [c for c in configs[current_index + 1:] if c is not None]
        return {"current": configs[current_index], "next": later[0] if later else None,
                "last": later[-1] if later else None}

    def _fork_config(self, forks: list[tuple[int, int, type[VirtualMachineAPI]]],
                     index: int) -> dict[str, Any] | None:
        _, timestamp, vm_class = forks[index]
        blob_schedule = blob_schedule_of(vm_class)     # the genesis blobSchedule's, else the fork's
        if blob_schedule is None:
            return None
        blob_json = {"baseFeeUpdateFraction": blob_schedule.base_fee_update_fraction,
                     "max": blob_schedule.max, "target": blob_schedule.target}
        chain = self._b.view
        return {"activationTime": timestamp, "blobSchedule": blob_json,
                "chainId": quantity(chain.chain_id),
                "forkId": data(fork_hash(chain.genesis_hash, forks[:index + 1],
                                         chain.genesis.header.get("timestamp", 0))),
                "precompiles": _precompiles(vm_class),
                "systemContracts": _system_contracts(vm_class, chain.genesis.raw.get("config", {}))}

    def capabilities(self) -> dict[str, Any]:
        head = self._b.view.head
        # An archive node: every resource from genesis, nothing pruned.
        full = {"disabled": False, "oldestBlock": "0x0"}
        return {"head": {"number": quantity(head.block_number), "hash": data(head.hash)},
                **{name: dict(full) for name in
                   ("state", "tx", "logs", "receipts", "blocks", "stateproofs")}}


# -- helpers ------------------------------------------------------------------------------

def _check_id(value: Any) -> None:
    if not isinstance(value, str):
        raise invalid_params("invalid argument 0: id must be a hex string")


def _in_filter_range(query: LogQuery, number: int) -> bool:
    return (query.first is None or number >= query.first) and (query.last is None or number <= query.last)


def _results_for(sub: _Subscription, event: _Event) -> list[Any]:
    if isinstance(event, _BlockEvent):
        if sub.kind == "newHeads":
            return [event.header]
        if sub.kind == "logs" and sub.query is not None:
            return [fmt for log, fmt in event.logs if sub.query.matches(log)]
    elif isinstance(event, _TxEvent) and sub.kind == "newPendingTransactions":
        return [event.tx if sub.full_tx else event.tx_hash]
    return []


def _decode_storage_key(value: Any) -> tuple[bytes, int]:
    """geth's decodeHash: hex of at most 32 bytes (odd length allowed) → (32-byte key, length)."""
    if not isinstance(value, str):
        raise invalid_params("invalid argument 1: storage key must be a hex string")
    text = value[2:] if value[:2] in ("0x", "0X") else value
    if len(text) % 2:
        text = "0" + text
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise invalid_params(f"invalid argument 1: invalid hex string {value!r}") from None
    if len(raw) > 32:
        raise invalid_params("invalid argument 1: hex string too long, want at most 32 bytes")
    return raw.rjust(32, b"\0"), len(raw)


# -- forks ---------------------------------------------------------------------------------

PRECOMPILE_NAMES = {
    1: "ECREC", 2: "SHA256", 3: "RIPEMD160", 4: "ID", 5: "MODEXP", 6: "BN254_ADD",
    7: "BN254_MUL", 8: "BN254_PAIRING", 9: "BLAKE2F", 10: "KZG_POINT_EVALUATION",
    11: "BLS12_G1ADD", 12: "BLS12_G1MSM", 13: "BLS12_G2ADD", 14: "BLS12_G2MSM",
    15: "BLS12_PAIRING_CHECK", 16: "BLS12_MAP_FP_TO_G1", 17: "BLS12_MAP_FP2_TO_G2",
}


def fork_activations(schedule: ForkSchedule) -> list[tuple[int, int, type[VirtualMachineAPI]]]:
    """(block, timestamp, VM) for every fork of the schedule, oldest first."""
    forks = [(number, 0, vm) for number, vm in schedule.by_number]
    forks += [(0, timestamp, vm) for timestamp, vm in schedule.by_time]
    return forks


def fork_hash(genesis_hash: bytes, activated: Iterable[tuple[int, int, object]],
              genesis_time: int) -> bytes:
    """EIP-2124/6122 FORK_HASH: CRC32 of the genesis hash and each past activation point.

    Activations at genesis (block 0, or a time not after the genesis time) do not count.
    """
    checksum = zlib.crc32(genesis_hash)
    seen: set[int] = set()
    for number, timestamp, _ in activated:
        point = timestamp if timestamp else number
        if point in seen or (timestamp and timestamp <= genesis_time) or (not timestamp and number == 0):
            continue
        seen.add(point)
        checksum = zlib.crc32(point.to_bytes(8, "big"), checksum)
    return checksum.to_bytes(4, "big")


def _precompiles(vm_class: type[VirtualMachineAPI]) -> dict[str, str]:
    precompiles = vm_class.get_state_class().computation_class.get_precompiles()
    out = {}
    for address in sorted(precompiles):
        number = int.from_bytes(address, "big")
        out[PRECOMPILE_NAMES.get(number, f"PRECOMPILE_{number:#x}")] = data(address)
    return out


def _system_contracts(vm_class: type[VirtualMachineAPI], config: dict[str, Any]) -> dict[str, str]:
    """The fork's system contracts; the deposit contract is the genesis config's, as geth's."""
    from eth.vm.forks.cancun.constants import BEACON_ROOTS_ADDRESS
    out = {"BEACON_ROOTS_ADDRESS": data(BEACON_ROOTS_ADDRESS)}
    if fork_name(vm_class) == "prague":
        from eth.vm.forks.prague import constants as prague
        out.update({
            "CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS": data(prague.CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS),
            "DEPOSIT_CONTRACT_ADDRESS": config.get("depositContractAddress", "").lower() or
            data(prague.DEPOSIT_CONTRACT_ADDRESS),
            "HISTORY_STORAGE_ADDRESS": data(prague.HISTORY_STORAGE_ADDRESS),
            "WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS": data(prague.WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS),
        })
    return dict(sorted(out.items()))
