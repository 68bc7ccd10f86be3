"""The ``eth_`` namespace: blocks, transactions, receipts, state, calls, fees and logs."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, cast

from eth.abc import BlockHeaderAPI, LogAPI

from kernel.abc import AccountReaderAPI, ChainViewAPI, PendingBlockView
from kernel.execution import CallError
from kernel.simulate import (
    BlockOverrides, SimBlock, SimulateRequest, SimulatedBlock, SimulationError, SimWithdrawal,
)
from kernel.tracing import DEFAULT_TRACE_TIMEOUT
from node.backend import Backend
from node.context import NodeContext
from node.execution import CallArgs, parse_state_overrides, rpc_error
from node.rpc.errors import RpcError, invalid_params, server_error
from node.rpc.format import (
    BlockFacts, ReceiptFacts, effective_gas_price, format_block, format_log, format_transaction, receipt_facts,
    shape_receipt,
)
from node.rpc.hexcodec import (
    data, parse_address, parse_bool, parse_data, parse_hash, parse_quantity, quantity,
)
from node.rpc.gateway import show_receipts
from node.rpc.logs import LogQuery, log_limits_of, query_logs
from node.rpc.server import expensive, inline, leave_loop, prepared_in_batches, serial

MAX_FEE_HISTORY_BLOCKS = 1024
BLOB_TX_TYPE = 3
DEFAULT_TIP = 1_000_000_000    # 1 gwei: what eth_maxPriorityFeePerGas suggests on an idle chain
RECEIPT_CACHE_BLOCKS = 64      # blocks whose formatted receipts are kept


class EthAPI:
    def __init__(self, backend: Backend, context: NodeContext) -> None:
        self._b = backend
        self._node = context
        self._receipts_cache: OrderedDict[bytes, list[dict[str, Any]]] = OrderedDict()
        self._receipts_lock = threading.Lock()
        self._receipts_loading: dict[bytes, threading.Lock] = {}   # one formatter per block

    @property
    def _view(self) -> ChainViewAPI:
        return self._b.view

    # -- chain facts ----------------------------------------------------------------------

    @inline
    def chainId(self) -> str:
        return quantity(self._view.chain_id)

    @inline
    def blockNumber(self) -> str:
        return quantity(self._view.head.block_number)

    def syncing(self) -> dict[str, str] | bool:
        """geth's answer: the range sync's progress while it runs, else false."""
        status = self._node.sync.sync_status() if self._node.sync is not None else None
        if status is None:
            return False
        return {"startingBlock": quantity(status.starting_block), "currentBlock": quantity(status.current_block),
                "highestBlock": quantity(status.highest_block)}

    def mining(self) -> bool:
        return self._node.dev

    def hashrate(self) -> str:
        return "0x0"

    def coinbase(self) -> str:
        coinbase = self._node.coinbase
        if coinbase is None:
            raise server_error("etherbase must be explicitly specified")
        return data(coinbase)

    def protocolVersion(self) -> str:
        return "0x44"

    def accounts(self) -> list[str]:
        accounts = self._node.accounts
        return [a.address.lower() for a in accounts.all()] if accounts else []

    # -- blocks ---------------------------------------------------------------------------

    def getBlockByNumber(self, tag: Any, full: Any = False) -> dict[str, Any] | None:
        if tag == "pending":
            return self._pending_block_json(parse_bool(full, "fullTx"))
        header = self._b.resolve_header(tag, allow_missing=True)
        return None if header is None else self._block(header, parse_bool(full, "fullTx"))

    # -- the pending block ----------------------------------------------------------------

    def _pending(self) -> PendingBlockView:
        return self._b.pending_block(self._node.coinbase)

    def _pending_block_json(self, full: bool) -> dict[str, Any]:
        pending = self._pending()
        out = format_block(pending.block, pending.senders, full)
        # geth: a pending block has no hash, nonce or miner yet.
        out.update({"hash": None, "nonce": None, "miner": None})
        return out

    def _state(self, tag: Any) -> AccountReaderAPI:
        if tag == "pending":
            return self._pending().state
        return self._view.state_at(self._b.resolve_header(tag))

    def getBlockByHash(self, block_hash: Any, full: Any = False) -> dict[str, Any] | None:
        header = self._b.header_by_hash(parse_hash(block_hash, "block hash"))
        return None if header is None else self._block(header, parse_bool(full, "fullTx"))

    def _block(self, header: BlockHeaderAPI, full: bool) -> dict[str, Any]:
        block = self._view.block_of(header)
        senders = self._view.senders_of(header) if full else ()
        return format_block(block, senders, full)

    def getBlockTransactionCountByNumber(self, tag: Any) -> str | None:
        if tag == "pending":
            return quantity(len(self._pending().block.transactions))
        header = self._b.resolve_header(tag, allow_missing=True)
        return None if header is None else quantity(len(self._view.block_of(header).transactions))

    def getBlockTransactionCountByHash(self, block_hash: Any) -> str | None:
        header = self._b.header_by_hash(parse_hash(block_hash, "block hash"))
        return None if header is None else quantity(len(self._view.block_of(header).transactions))

    def getUncleCountByBlockNumber(self, tag: Any) -> str | None:
        header = self._b.resolve_header(tag, allow_missing=True)
        return None if header is None else "0x0"

    def getUncleCountByBlockHash(self, block_hash: Any) -> str | None:
        header = self._b.header_by_hash(parse_hash(block_hash, "block hash"))
        return None if header is None else "0x0"

    def getUncleByBlockNumberAndIndex(self, tag: Any, index: Any) -> None:
        parse_quantity(index, "index")
        return None

    def getUncleByBlockHashAndIndex(self, block_hash: Any, index: Any) -> None:
        parse_hash(block_hash, "block hash")
        parse_quantity(index, "index")
        return None

    # -- transactions and receipts --------------------------------------------------------

    def getTransactionByHash(self, tx_hash: Any) -> dict[str, Any] | None:
        raw_hash = parse_hash(tx_hash, "transaction hash")
        location = self._view.transaction_location(raw_hash)
        if location is None:
            pending = self._b.pool.get(raw_hash)
            return None if pending is None else format_transaction(pending, pending.sender, None, None)
        return self._transaction_at(self._view.header_by_number(location[0]), location[1])

    def getTransactionByBlockHashAndIndex(self, block_hash: Any, index: Any) -> dict[str, Any] | None:
        header = self._b.header_by_hash(parse_hash(block_hash, "block hash"))
        return None if header is None else self._transaction_at(header, parse_quantity(index, "index"))

    def getTransactionByBlockNumberAndIndex(self, tag: Any, index: Any) -> dict[str, Any] | None:
        header = self._b.resolve_header(tag, allow_missing=True)
        return None if header is None else self._transaction_at(header, parse_quantity(index, "index"))

    def _transaction_at(self, header: BlockHeaderAPI, index: int) -> dict[str, Any] | None:
        transactions = self._view.block_of(header).transactions
        if index >= len(transactions):
            return None
        sender = self._view.senders_of(header)[index]
        return format_transaction(transactions[index], sender, header, index)

    def getRawTransactionByHash(self, tx_hash: Any) -> str | None:
        raw_hash = parse_hash(tx_hash, "transaction hash")
        location = self._view.transaction_location(raw_hash)
        if location is None:
            pending = self._b.pool.get(raw_hash)
            return None if pending is None else data(pending.encode())
        header = self._view.header_by_number(location[0])
        return data(self._view.block_of(header).transactions[location[1]].encode())

    def getRawTransactionByBlockHashAndIndex(self, block_hash: Any, index: Any) -> str | None:
        header = self._b.header_by_hash(parse_hash(block_hash, "block hash"))
        return None if header is None else self._raw_at(header, parse_quantity(index, "index"))

    def getRawTransactionByBlockNumberAndIndex(self, tag: Any, index: Any) -> str | None:
        header = self._b.resolve_header(tag, allow_missing=True)
        return None if header is None else self._raw_at(header, parse_quantity(index, "index"))

    def _raw_at(self, header: BlockHeaderAPI, index: int) -> str | None:
        transactions = self._view.block_of(header).transactions
        return data(transactions[index].encode()) if index < len(transactions) else None

    @inline   # polled for every transaction sent; a block not yet formatted leaves the loop
    def getTransactionReceipt(self, tx_hash: Any) -> dict[str, Any] | None:
        location = self._view.transaction_location(parse_hash(tx_hash, "transaction hash"))
        if location is None:
            return None
        number, index = location
        header = self._view.header_by_number(number)
        receipts = self.formatted_receipts(header)
        # a canonical block's: the RPC gateway may answer the polls of its other transactions
        show_receipts(header.hash, receipts)
        return receipts[index]

    def getBlockReceipts(self, tag: Any) -> list[dict[str, Any]] | None:
        if isinstance(tag, str) and len(tag) == 66:
            header = self._b.header_by_hash(parse_hash(tag, "block hash"))
        else:
            header = self._b.resolve_header(tag, allow_missing=True)
        return None if header is None else self.formatted_receipts(header)

    def formatted_receipts(self, header: BlockHeaderAPI) -> list[dict[str, Any]]:
        # A block's receipts never change (its hash fixes them), and clients poll
        # eth_getTransactionReceipt for every transaction of a big block: format them once.
        # The cached dicts are shared: callers serialise them and must not mutate them.
        # When a big block lands, every polling client misses at once: one thread formats its
        # receipts while the others wait for that result instead of decoding the block again.
        with self._receipts_lock:
            cached = self._receipts_cache.get(header.hash)
            if cached is not None:
                self._receipts_cache.move_to_end(header.hash)
                return cached
            leave_loop()   # formatting (or waiting for it) takes milliseconds: an @inline caller goes to its lane
            loading = self._receipts_loading.setdefault(header.hash, threading.Lock())
        with loading:
            with self._receipts_lock:
                cached = self._receipts_cache.get(header.hash)
            if cached is not None:
                return cached
            shared, facts = self.receipt_facts(header)
            receipts = [shape_receipt(shared, one) for one in facts]
            with self._receipts_lock:
                self._receipts_cache[header.hash] = receipts
                self._receipts_loading.pop(header.hash, None)
                while len(self._receipts_cache) > RECEIPT_CACHE_BLOCKS:
                    self._receipts_cache.popitem(last=False)
        return receipts

    def receipt_facts(self, header: BlockHeaderAPI) -> tuple[BlockFacts, list[ReceiptFacts]]:
        """A block's receipts, unshaped (what the RPC gateway is handed for a new block)."""
        return receipt_facts(self._view.block_of(header), self._view.receipts_of(header),
                             self._view.senders_of(header), self._view.blob_fees_of(header).base_fee_per_blob_gas)

    def _warm_raw_transactions(self, batch: list[list[Any]]) -> None:
        raws = []
        for params in batch:
            try:
                raws.append(parse_data(params[0], "transaction"))
            except Exception:   # its own call reports it
                continue
        self._b.warm_transactions(raws)

    @inline    # alone: decoding and recovering the sender take ~0.2 ms, less than a thread hop
    @serial    # in a batch: on the admission thread, all decoded at once by the worker processes
    @prepared_in_batches(_warm_raw_transactions)
    def sendRawTransaction(self, raw: Any) -> str:
        encoded = parse_data(raw, "transaction")
        tx = self._b.decode_transaction(encoded)
        # A blob transaction's size limit is its own, without the sidecar it arrived with.
        size = len(tx.encode()) if getattr(tx, "type_id", None) == BLOB_TX_TYPE else len(encoded)
        return data(self._b.submit(tx, size))

    # -- state ----------------------------------------------------------------------------

    def getBalance(self, address: Any, tag: Any = "latest") -> str:
        account = parse_address(address)
        return quantity(self._state(tag).get_balance(account))

    def getTransactionCount(self, address: Any, tag: Any = "latest") -> str:
        account = parse_address(address)
        if tag == "pending":
            return quantity(self._b.pending_nonce(account))
        return quantity(self._view.state_at(self._b.resolve_header(tag)).get_nonce(account))

    def getCode(self, address: Any, tag: Any = "latest") -> str:
        account = parse_address(address)
        return data(self._state(tag).get_code(account))

    def getStorageAt(self, address: Any, slot: Any, tag: Any = "latest") -> str:
        account = parse_address(address)
        key = _parse_slot(slot)
        value = self._state(tag).get_storage(account, key)
        return data(value.to_bytes(32, "big"))

    def getStorageValues(self, requests: Any, tag: Any = "latest") -> dict[str, list[str]]:
        if not isinstance(requests, dict):
            raise invalid_params("invalid argument 0: object of address → slots expected")
        if not requests:
            raise invalid_params("empty request")
        state = self._state(tag)
        out: dict[str, list[str]] = {}
        for address, slots in requests.items():
            account = parse_address(address)
            if not isinstance(slots, list):
                raise invalid_params("invalid argument 0: slots must be an array")
            out[address] = [data(state.get_storage(account, _parse_slot(s)).to_bytes(32, "big"))
                            for s in slots]
        return out

    # -- execution ------------------------------------------------------------------------

    @expensive
    def call(self, call: Any, tag: Any = "latest", overrides: Any = None, block_overrides: Any = None) -> str:
        at = self._b.execution_point(tag, self._node.coinbase)
        message, parsed = CallArgs.parse(call), parse_state_overrides(overrides)
        try:
            return data(self._view.call(at, message, parsed))
        except CallError as exc:
            raise rpc_error(exc) from None

    @expensive
    def estimateGas(self, call: Any, tag: Any = "latest", overrides: Any = None) -> str:
        at = self._b.execution_point(tag, self._node.coinbase)
        message, parsed = CallArgs.parse(call), parse_state_overrides(overrides)
        try:
            return quantity(self._view.estimate_gas(at, message, parsed))
        except CallError as exc:
            raise rpc_error(exc) from None

    @expensive
    def simulateV1(self, payload: Any, tag: Any = "latest") -> list[dict[str, Any]]:
        """execution-apis' eth_simulateV1: calls in simulated blocks on top of ``tag``."""
        base = self._b.resolve_header(tag)
        request = parse_simulate_request(payload)
        try:
            blocks = self._view.simulate(base, request, DEFAULT_TRACE_TIMEOUT)
        except SimulationError as exc:
            raise RpcError(exc.code, exc.message) from None
        full = parse_bool(payload.get("returnFullTransactions", False), "returnFullTransactions")
        return [format_simulated_block(block, full) for block in blocks]

    # -- fees -----------------------------------------------------------------------------

    def gasPrice(self) -> str:
        return quantity(self._b.next_base_fee() + self._suggested_tip())

    def maxPriorityFeePerGas(self) -> str:
        return quantity(self._suggested_tip())

    def baseFee(self) -> str:
        return quantity(self._b.next_base_fee())

    def blobBaseFee(self) -> str:
        # Before Cancun there is no blob base fee; the minimum (1) is what clients expect.
        return quantity(self._view.next_base_fee_per_blob_gas(self._view.head) or 1)

    def _suggested_tip(self) -> int:
        # geth's oracle: a percentile of recent tips; an idle dev chain gets the floor.
        tips = []
        head = self._view.head
        for number in range(max(1, head.block_number - 19), head.block_number + 1):
            header = self._view.header_by_number(number)
            base_fee = getattr(header, "base_fee_per_gas", 0) or 0
            for tx in self._view.block_of(header).transactions:
                tips.append(effective_gas_price(tx, base_fee) - base_fee)
        if not tips:
            return DEFAULT_TIP
        tips.sort()
        return max(tips[(len(tips) * 60) // 100], 1)

    def feeHistory(self, block_count: Any, newest: Any, percentiles: Any = None) -> dict[str, Any]:
        count = _parse_count(block_count)
        newest_header = self._b.resolve_header(newest)
        if percentiles is not None:
            if not isinstance(percentiles, list) or any(
                    not isinstance(p, (int, float)) or p < 0 or p > 100 for p in percentiles) or \
                    percentiles != sorted(percentiles):
                raise invalid_params("invalid reward percentiles")
        count = min(count, MAX_FEE_HISTORY_BLOCKS, newest_header.block_number + 1)
        oldest = newest_header.block_number - count + 1
        base_fees, ratios, blob_fees, blob_ratios, rewards = [], [], [], [], []
        for number in range(oldest, newest_header.block_number + 1):
            header = self._view.header_by_number(number)
            base_fee = getattr(header, "base_fee_per_gas", 0) or 0
            base_fees.append(quantity(base_fee))
            ratios.append(header.gas_used / header.gas_limit if header.gas_limit else 0)
            blob = self._view.blob_fees_of(header)
            blob_fees.append(quantity(blob.base_fee_per_blob_gas))
            blob_ratios.append(blob.blob_gas_used_ratio)
            if percentiles is not None:
                rewards.append([quantity(r) for r in self._rewards(header, base_fee, percentiles)])
        base_fees.append(quantity(self._view.next_base_fee(newest_header)))
        blob_fees.append(quantity(self._view.next_base_fee_per_blob_gas(newest_header)))
        result: dict[str, Any] = {"oldestBlock": quantity(oldest), "baseFeePerGas": base_fees,
                                  "gasUsedRatio": ratios, "baseFeePerBlobGas": blob_fees,
                                  "blobGasUsedRatio": blob_ratios}
        if percentiles is not None:
            result["reward"] = rewards
        return result

    def _rewards(self, header: BlockHeaderAPI, base_fee: int, percentiles: list[float]) -> list[int]:
        block = self._view.block_of(header)
        if not block.transactions:
            return [0 for _ in percentiles]
        receipts = self._view.receipts_of(header)
        used, previous = [], 0
        for receipt in receipts:
            used.append(receipt.gas_used - previous)
            previous = receipt.gas_used
        tips = sorted(zip((effective_gas_price(tx, base_fee) - base_fee for tx in block.transactions), used))
        total = sum(used)
        out = []
        for p in percentiles:
            threshold, acc, chosen = total * p / 100, 0, tips[-1][0]
            for tip, gas in tips:
                acc += gas
                if acc >= threshold:
                    chosen = tip
                    break
            out.append(chosen)
        return out

    # -- logs -----------------------------------------------------------------------------

    def getLogs(self, criteria: Any) -> list[dict[str, Any]]:
        if isinstance(criteria, dict) and _names_block_past(criteria, self._view.head.block_number):
            raise invalid_params("block range extends beyond current head block")
        query = LogQuery.parse(criteria, self._b)
        return query_logs(self._view, query, log_limits_of(self._b))


def _names_block_past(criteria: dict[str, Any], head: int) -> bool:
    """geth refuses a log range whose numbered ends lie past the head (tags never do)."""
    for key in ("fromBlock", "toBlock"):
        tag = criteria.get(key)
        if isinstance(tag, str) and tag.startswith("0x") and len(tag) != 66 and parse_quantity(tag, key) > head:
            return True
    return False


def _parse_slot(slot: Any) -> int:
    if not isinstance(slot, str) or not slot.startswith("0x") or len(slot) > 66:
        raise invalid_params("invalid argument 1: storage slot must be hex of at most 32 bytes")
    try:
        return int(slot, 16)
    except ValueError:
        raise invalid_params("invalid argument 1: storage slot is not hex") from None


def _parse_count(value: Any) -> int:
    if isinstance(value, int) and value >= 0:
        return value
    return parse_quantity(value, "blockCount")


# -- eth_simulateV1 -----------------------------------------------------------------------------

MAX_SIMULATE_CALLS = 1000     # per request: each call is an EVM run on an RPC worker


def parse_simulate_request(payload: Any) -> SimulateRequest:
    if not isinstance(payload, dict) or not isinstance(payload.get("blockStateCalls"), list):
        raise invalid_params("invalid argument 0: blockStateCalls expected")
    blocks = tuple(parse_block_state_call(item) for item in payload["blockStateCalls"])
    if sum(len(block.calls) for block in blocks) > MAX_SIMULATE_CALLS:
        raise RpcError(-38026, "too many calls")
    return SimulateRequest(blocks, validation=parse_bool(payload.get("validation", False), "validation"),
                           trace_transfers=parse_bool(payload.get("traceTransfers", False), "traceTransfers"))


def parse_block_state_call(item: Any) -> SimBlock:
    if not isinstance(item, dict):
        raise invalid_params("invalid argument 0: block state call must be an object")
    calls = item.get("calls") or []
    if not isinstance(calls, list):
        raise invalid_params("invalid argument 0: calls must be an array")
    state_overrides = item.get("stateOverrides") or {}
    if isinstance(state_overrides, dict) and any(
            isinstance(o, dict) and "movePrecompileToAddress" in o for o in state_overrides.values()):
        raise invalid_params("movePrecompileToAddress is not supported")
    return SimBlock(parse_block_overrides(item.get("blockOverrides")), parse_state_overrides(state_overrides),
                    tuple(CallArgs.parse(call) for call in calls))


def parse_block_overrides(obj: Any) -> BlockOverrides:
    if obj is None:
        return BlockOverrides()
    if not isinstance(obj, dict):
        raise invalid_params("invalid argument 0: blockOverrides must be an object")

    def optional_quantity(key: str) -> int | None:
        return parse_quantity(obj[key], key) if obj.get(key) is not None else None

    withdrawals = None
    if obj.get("withdrawals") is not None:
        withdrawals = tuple(
            SimWithdrawal(parse_quantity(w["index"], "index"), parse_quantity(w["validatorIndex"], "validatorIndex"),
                          parse_address(w["address"]), parse_quantity(w["amount"], "amount"))
            for w in obj["withdrawals"])
    randao = obj.get("prevRandao")
    return BlockOverrides(
        number=optional_quantity("number"), time=optional_quantity("time"), gas_limit=optional_quantity("gasLimit"),
        fee_recipient=parse_address(obj["feeRecipient"]) if obj.get("feeRecipient") else None,
        prev_randao=parse_quantity(randao, "prevRandao").to_bytes(32, "big") if randao is not None else None,
        base_fee=optional_quantity("baseFeePerGas"), withdrawals=withdrawals)


def format_simulated_block(simulated: SimulatedBlock, full: bool) -> dict[str, Any]:
    block = simulated.block
    out = format_block(block, simulated.senders, full)
    calls, log_index = [], 0
    for index, (tx, outcome) in enumerate(zip(block.transactions, simulated.calls)):
        logs = []
        for log in outcome.logs:
            logs.append(format_log(cast(LogAPI, log), block.header, tx.hash, index, log_index))
            log_index += 1
        result: dict[str, Any] = {"returnData": data(outcome.return_data), "logs": logs,
                                  "gasUsed": quantity(outcome.gas_used),
                                  "maxUsedGas": quantity(outcome.max_used_gas),
                                  "status": "0x1" if outcome.succeeded else "0x0"}
        if outcome.error is not None:
            result["error"] = {"code": outcome.error.code, "message": outcome.error.message}
            if outcome.error.data is not None:
                result["error"]["data"] = data(outcome.error.data)
        calls.append(result)
    out["calls"] = calls
    return out
