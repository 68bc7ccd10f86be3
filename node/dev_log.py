"""``azora dev``'s lines per mined transaction, as anvil prints them: hash, contract created,
gas used, status and, for a failure, its reason (``Error(string)``, ``Panic(uint256)`` or a
custom error's selector); and the messages the transaction logged to Hardhat's console
(``console.log`` in Solidity, ``print(..., hardhat_compat=True)`` in Vyper).

Neither a failure's output nor console calls are in a receipt: the block is replayed once with
the ``callTracer``, on the producer's thread, when it has transactions and INFO is on.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Sequence

import itertools
from functools import cache

from eth.abc import BlockAPI, ReceiptAPI
from eth_abi import decode
from eth_utils import keccak, to_checksum_address

from kernel.execution import decode_revert_reason
from kernel.tracing import TraceConfig
from kernel.view import ChainView
from node.rpc.format import contract_address

logger = logging.getLogger("azora.dev")

PANIC_SELECTOR = bytes.fromhex("4e487b71")
# Solidity's panic codes (Vyper raises Error(string) or a bare revert).
PANIC_REASONS = {0x01: "assertion failed", 0x11: "arithmetic overflow or underflow", 0x12: "division by zero",
                 0x21: "invalid enum value", 0x22: "invalid storage byte array", 0x31: "pop of an empty array",
                 0x32: "array index out of bounds", 0x41: "out of memory", 0x51: "uninitialised function"}
CALLS = TraceConfig(tracer="callTracer")
MAX_REPLAYED_TRANSACTIONS = 256
# Hardhat's console contract: calls to it do nothing on chain; a dev node prints them.
CONSOLE_ADDRESS = "0x000000000000000000636f6e736f6c652e6c6f67"
# console.sol's overloads: one or two arguments of these types, three or four of the first four.
CONSOLE_TYPES = ("string", "uint256", "bool", "address", "int256", "bytes32", "bytes")
CONSOLE_TYPES_OF_LONG_CALLS = CONSOLE_TYPES[:4]
# console.sol's selectors hash "uint"/"int" where its parameters say uint256/int256.
SELECTOR_SPELLINGS = {"uint256": ("uint256", "uint"), "int256": ("int256", "int")}


@cache
def console_selectors() -> dict[bytes, tuple[str, ...]]:
    """console.log's overloads (up to four arguments of the common types) by selector."""
    table: dict[bytes, tuple[str, ...]] = {keccak(b"log()")[:4]: ()}
    for count in range(1, 5):
        for types in itertools.product(CONSOLE_TYPES if count <= 2 else CONSOLE_TYPES_OF_LONG_CALLS, repeat=count):
            for spelled in itertools.product(*(SELECTOR_SPELLINGS.get(t, (t,)) for t in types)):
                table.setdefault(keccak(f"log({','.join(spelled)})".encode())[:4], types)
    for size in range(1, 33):                     # logBytes1 .. logBytes32
        table[keccak(f"logBytes{size}(bytes{size})".encode())[:4]] = (f"bytes{size}",)
    for name, kind in (("logString", "string"), ("logUint", "uint256"), ("logInt", "int256"),
                       ("logBool", "bool"), ("logAddress", "address"), ("logBytes", "bytes")):
        for spelling in SELECTOR_SPELLINGS.get(kind, (kind,)):
            table[keccak(f"{name}({spelling})".encode())[:4]] = (kind,)
    return table


def format_console_value(kind: str, value: Any) -> str:
    if kind == "address":
        return to_checksum_address(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def decode_console_log(data: bytes) -> str | None:
    """A console.log call's message (its arguments separated by spaces), None if unknown."""
    types = console_selectors().get(data[:4])
    if types is None:
        return None
    try:
        values = decode(list(types), data[4:])
    except Exception:       # a malformed call: nothing to print
        return None
    return " ".join(format_console_value(kind, value) for kind, value in zip(types, values))


def console_messages(frame: dict[str, Any]) -> list[str]:
    """The console.log messages of a call tree (callTracer's frames), in call order."""
    messages = []
    if str(frame.get("to", "")).lower() == CONSOLE_ADDRESS:
        message = decode_console_log(bytes.fromhex(str(frame.get("input", "0x"))[2:]))
        if message is not None:
            messages.append(message)
    for inner in frame.get("calls", ()):
        messages.extend(console_messages(inner))
    return messages


def describe_revert(output: bytes) -> str:
    """What a revert's data says, in words."""
    reason = decode_revert_reason(output)
    if reason is not None:
        return f"reverted with: {reason}"
    if len(output) == 36 and output[:4] == PANIC_SELECTOR:
        code = int.from_bytes(output[4:], "big")
        return f"reverted with panic code 0x{code:02x} ({PANIC_REASONS.get(code, 'unknown panic')})"
    if len(output) >= 4:
        return f"reverted with custom error 0x{output[:4].hex()}" + \
            (f" (data 0x{output[4:].hex()})" if len(output) > 4 else "")
    return "reverted without a reason"


def describe_failure(top_call: dict[str, Any]) -> str:
    """A failed top call (callTracer's frame) in words: the revert's reason or the EVM error."""
    error = top_call.get("error", "failed")
    if error == "execution reverted":
        return describe_revert(bytes.fromhex(str(top_call.get("output", "0x"))[2:]))
    return error


def format_transaction_lines(tx_hash: bytes, created: bytes | None, gas_used: int, failure: str | None,
                             console: list[str] | None = None) -> str:
    """One transaction's block of lines (its console messages first, as anvil prints them)."""
    lines = [f"console.log: {message}" for message in console or ()]
    lines.append(f"    Transaction: 0x{tx_hash.hex()}")
    if created is not None:
        lines.append(f"    Contract created: {to_checksum_address(created)}")
    lines.append(f"    Gas used: {gas_used}")
    lines.append("    Status: success" if failure is None else "    Status: failed")
    if failure is not None:
        lines.append(f"    Error: {failure}")
    return "\n".join(lines)


def gas_used_per_transaction(receipts: Sequence[ReceiptAPI]) -> list[int]:
    """Receipts carry cumulative gas; each transaction's own is the difference."""
    used, previous = [], 0
    for receipt in receipts:
        used.append(receipt.gas_used - previous)
        previous = receipt.gas_used
    return used


class TransactionLog:
    """Logs each mined transaction of the dev chain (a ``Backend.on_new_block`` hook)."""

    def __init__(self, view: ChainView) -> None:
        self.view = view

    def __call__(self, block: BlockAPI) -> None:
        if not block.transactions or not logger.isEnabledFor(logging.INFO):
            return      # nothing to print (benchmarks run at WARNING: no receipts read)
        try:
            self._log(block)
        except Exception:    # a log line must never stop the producer
            logger.exception("cannot describe the transactions of block #%d", block.number)

    def _log(self, block: BlockAPI) -> None:
        header = block.header
        receipts = self.view.receipts_of(header)
        senders = self.view.senders_of(header)
        # Replaying a large block (a load test) would double its cost: its lines go without.
        traces: list[dict[str, Any]] = [trace.result for trace in self.view.trace_block(header, CALLS)] \
            if len(block.transactions) <= MAX_REPLAYED_TRANSACTIONS else [{}] * len(block.transactions)
        for tx, receipt, sender, gas, frame in zip(
                block.transactions, receipts, senders, gas_used_per_transaction(receipts), traces):
            succeeded = receipt.state_root == b"\x01"
            created = contract_address(sender, tx.nonce) if not tx.to and succeeded else None
            failure = None if succeeded else describe_failure(frame)
            logger.info("\n%s", format_transaction_lines(tx.hash, created, gas, failure, console_messages(frame)))
        logger.info("\n    Block Number: %d\n    Block Hash: 0x%s\n    Block Time: %s", block.number,
                    block.hash.hex(), time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(header.timestamp)))
