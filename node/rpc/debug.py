"""The ``debug_`` namespace: raw getters (RLP / EIP-2718 encodings) and geth's tracing.

debug_trace* parse geth's TraceConfig and shape the answer; the tracers themselves are the
kernel's (``kernel.tracing``), reached through the chain view. Parity's ``trace_*`` namespace
stays absent: ape falls back cleanly on "method not found".
"""
from __future__ import annotations

import re
from typing import Any

import rlp
from eth.abc import BlockHeaderAPI

from kernel.execution import CallError
from kernel.simulate import BlockOverrides
from kernel.tracing import DEFAULT_TRACE_TIMEOUT, BlockTrace, StructLoggerConfig, TraceConfig, TraceError
from node.backend import Backend
from node.execution import CallArgs, parse_state_overrides, rpc_error
from node.rpc.errors import invalid_params, server_error
from node.rpc.eth import parse_block_overrides
from node.rpc.hexcodec import data, parse_hash
from node.rpc.server import expensive

# Go's time.ParseDuration units, in seconds.
DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
LOGGER_FLAGS = {"enableMemory": "enable_memory", "disableStack": "disable_stack",
                "disableStorage": "disable_storage", "enableReturnData": "enable_return_data"}


class DebugAPI:
    """debug_getRawHeader/Block/Receipts/Transaction and debug_getBadBlocks."""

    def __init__(self, backend: Backend) -> None:
        self._b = backend

    def getRawHeader(self, block: Any) -> str:
        return data(rlp.encode(self._header(block)))

    def getRawBlock(self, block: Any) -> str:
        return data(rlp.encode(self._b.view.block_of(self._header(block))))

    def getRawReceipts(self, block: Any) -> list[str]:
        """Each receipt as in the receipts trie: RLP, or type byte + RLP for typed receipts."""
        return [data(receipt.encode()) for receipt in self._b.view.receipts_of(self._header(block))]

    def getRawTransaction(self, tx_hash: Any) -> str | None:
        raw_hash = parse_hash(tx_hash, "transaction hash")
        chain = self._b.view
        location = chain.transaction_location(raw_hash)
        if location is None:
            pending = self._b.pool.get(raw_hash)
            return None if pending is None else data(pending.encode())
        number, index = location
        return data(chain.block_of(chain.header_by_number(number)).transactions[index].encode())

    def getBadBlocks(self) -> list[Any]:
        # Blocks that fail validation are rejected before they are kept: there are none to list.
        return []

    # -- tracing ----------------------------------------------------------------------------

    @expensive
    def traceTransaction(self, tx_hash: Any, config: Any = None) -> Any:
        """geth's replay of a mined transaction under a tracer (the struct logger by default)."""
        chain = self._b.view
        location = chain.transaction_location(parse_hash(tx_hash, "transaction hash"))
        if location is None:
            raise server_error("transaction not found")
        header = chain.header_by_number(location[0])
        return _traced(lambda: chain.trace_transaction(header, location[1], parse_trace_config(config)))

    @expensive
    def traceBlockByNumber(self, number: Any, config: Any = None) -> list[dict[str, Any]]:
        header = self._b.resolve_header(number, allow_missing=True)
        if header is None:
            raise server_error(f"block #{int(number, 16)} not found")
        return self._trace_block(header, config)

    @expensive
    def traceBlockByHash(self, block_hash: Any, config: Any = None) -> list[dict[str, Any]]:
        header = self._b.header_by_hash(parse_hash(block_hash, "block hash"))
        if header is None:
            raise server_error(f"block {block_hash} not found")
        return self._trace_block(header, config)

    def _trace_block(self, header: BlockHeaderAPI, config: Any) -> list[dict[str, Any]]:
        parsed = parse_trace_config(config)
        traces = _traced(lambda: self._b.view.trace_block(header, parsed))
        return [format_block_trace(trace) for trace in traces]

    @expensive
    def traceCall(self, call: Any, block: Any = "latest", config: Any = None) -> Any:
        """geth's debug_traceCall: the call traced on the block's state, with ``stateOverrides``."""
        header = self._b.resolve_header(block)
        message = CallArgs.parse(call)
        overrides = parse_state_overrides(config.get("stateOverrides")) if isinstance(config, dict) else {}
        blocks = parse_block_overrides(config.get("blockOverrides")) if isinstance(config, dict) else None
        parsed = parse_trace_config(config)
        fields = header_fields_of(blocks) if blocks is not None else None
        return _traced(lambda: self._b.view.trace_call(header, message, parsed, overrides, fields))

    def _header(self, block: Any) -> BlockHeaderAPI:
        """geth takes a block number, tag or hash here; unknown blocks are an error."""
        if isinstance(block, str) and len(block) == 66:
            header = self._b.header_by_hash(parse_hash(block, "block hash"))
            if header is None:
                raise server_error(f"header {block} not found")
            return header
        header = self._b.resolve_header(block, allow_missing=True)
        if header is None:
            raise server_error(f"header #{int(block, 16)} not found")
        return header


def _traced(run: Any) -> Any:
    """A trace, with the kernel's failures as geth's errors (-32000, or 3 for a revert)."""
    try:
        return run()
    except TraceError as exc:
        raise server_error(str(exc)) from None
    except CallError as exc:
        raise rpc_error(exc) from None


def format_block_trace(trace: BlockTrace) -> dict[str, Any]:
    return {"txHash": data(trace.tx_hash), "result": trace.result}


def parse_trace_config(config: Any) -> TraceConfig:
    """geth's TraceConfig: tracer, tracerConfig, timeout and the struct logger's options."""
    if config is None:
        return TraceConfig()
    if not isinstance(config, dict):
        raise invalid_params("invalid argument 1: trace config must be an object")
    tracer = config.get("tracer")
    if tracer is not None and not isinstance(tracer, str):
        raise invalid_params("invalid argument 1: tracer must be a string")
    tracer_config = config.get("tracerConfig") or {}
    if not isinstance(tracer_config, dict):
        raise invalid_params("invalid argument 1: tracerConfig must be an object")
    flags = {}
    for key, name in LOGGER_FLAGS.items():
        value = config.get(key, False)
        if not isinstance(value, bool):
            raise invalid_params(f"invalid argument 1: {key} must be a boolean")
        flags[name] = value
    limit = config.get("limit", 0)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise invalid_params("invalid argument 1: limit must be a non-negative integer")
    timeout = parse_duration(config["timeout"]) if config.get("timeout") is not None else DEFAULT_TRACE_TIMEOUT
    return TraceConfig(tracer=tracer or None, tracer_config=tracer_config,
                       logger=StructLoggerConfig(limit=limit, **flags), timeout=timeout)


def parse_duration(value: Any) -> float:
    """Go's time.ParseDuration ("5s", "1m30s", "300ms"), in seconds; geth's error otherwise."""
    if not isinstance(value, str) or not value:
        raise server_error(f'time: invalid duration "{value}"')
    text = value.lstrip("+")
    if text == "0":
        return 0.0
    parts = DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise server_error(f'time: invalid duration "{value}"')
    return sum(float(number) * DURATION_UNITS[unit] for number, unit in parts)


def header_fields_of(overrides: BlockOverrides) -> dict[str, Any]:
    """geth's blockOverrides as the header fields they replace."""
    fields = {"block_number": overrides.number, "timestamp": overrides.time, "gas_limit": overrides.gas_limit,
              "coinbase": overrides.fee_recipient, "mix_hash": overrides.prev_randao,
              "base_fee_per_gas": overrides.base_fee}
    return {name: value for name, value in fields.items() if value is not None}
