"""``azora dev``'s lines per mined transaction, as anvil prints them: hash, contract created,
gas used, status and, for a failure, its reason (``Error(string)``, ``Panic(uint256)`` or a
custom error's selector); and the messages the transaction logged to Hardhat's console
(``console.log`` in Solidity, ``print(..., hardhat_compat=True)`` in Vyper).

Neither a failure's output nor console calls are in a receipt: both are read from each
transaction's computation as the block is built (:meth:`TransactionLog.observe`, the call tree
py-evm keeps), as anvil's inspector reads them. Replaying the block with the ``callTracer`` for
them (as this log did) executed every block twice: a test suite's automined transactions ran
at ~0.78x of the rate with INFO on, and a block over 256 transactions went without them. A
block whose transactions were not watched as they ran is still replayed, if small.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any, NamedTuple, Sequence

import itertools
from functools import cache

from eth.abc import BlockAPI, ComputationAPI, ReceiptAPI, SignedTransactionAPI
from eth.exceptions import Revert
from eth_abi import decode
from eth_utils import keccak, to_checksum_address

from kernel.execution import decode_revert_reason
from kernel.tracing import TraceConfig, error_text
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
CONSOLE = bytes.fromhex(CONSOLE_ADDRESS[2:])
# Transactions watched as they ran whose block is not logged yet: a few blocks' worth (a block
# built and then dropped, by a rewind, leaves its own behind until they age out).
MAX_NOTES = 20_000
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


class Note(NamedTuple):
    """What a transaction's execution showed that its receipt does not."""

    failure: str | None      # the reason it failed, in words; None if it succeeded
    console: list[str]       # its console.log messages, in call order


def note_of(computation: ComputationAPI) -> Note:
    """A transaction's :class:`Note`, from its top call's computation and the calls under it
    (the same words as the callTracer replay gave: see :func:`describe_failure`)."""
    failure = None
    if computation.is_error:
        error = computation.error
        failure = describe_revert(computation.output) if isinstance(error, Revert) else error_text(error)
    console: list[str] = []
    calls = [computation]
    while calls:     # depth first, in call order (a stack: calls nest up to 1,024 deep)
        call = calls.pop()
        if call.msg.code_address == CONSOLE:
            message = decode_console_log(call.msg.data_as_bytes)
            if message is not None:
                console.append(message)
        calls.extend(reversed(call.children))
    return Note(failure, console)


class TransactionLog:
    """Logs each mined transaction of the dev chain (a ``Backend.on_new_block`` hook); its
    :meth:`observe` watches the transactions as the chain's blocks are built."""

    def __init__(self, view: ChainView) -> None:
        self.view = view
        self._notes: OrderedDict[bytes, Note] = OrderedDict()
        self._lock = threading.Lock()    # observe runs on the building thread, the log on the committing one

    def observe(self, tx: SignedTransactionAPI, computation: ComputationAPI) -> None:
        """A ``kernel.chain.Observer``: note what ``tx``'s execution showed."""
        if not logger.isEnabledFor(logging.INFO):
            return
        note = note_of(computation)
        with self._lock:
            self._notes[tx.hash] = note
            if len(self._notes) > MAX_NOTES:
                self._notes.popitem(last=False)

    def _take_notes(self, transactions: Sequence[SignedTransactionAPI]) -> list[Note] | None:
        """The notes of ``transactions``, taken; None unless every one was watched."""
        with self._lock:
            notes = [self._notes.pop(tx.hash, None) for tx in transactions]
        return None if any(note is None for note in notes) else notes  # type: ignore[return-value]

    def _replayed_notes(self, block: BlockAPI) -> list[Note]:
        """Notes from a callTracer replay of ``block``; a large one's go without."""
        if len(block.transactions) > MAX_REPLAYED_TRANSACTIONS:
            return [Note("failed", [])] * len(block.transactions)
        frames = [trace.result for trace in self.view.trace_block(block.header, CALLS)]
        return [Note(describe_failure(frame) if frame.get("error") else None, console_messages(frame))
                for frame in frames]

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
        notes = self._take_notes(block.transactions) or self._replayed_notes(block)
        for tx, receipt, sender, gas, note in zip(
                block.transactions, receipts, senders, gas_used_per_transaction(receipts), notes):
            succeeded = receipt.state_root == b"\x01"
            created = contract_address(sender, tx.nonce) if not tx.to and succeeded else None
            failure = None if succeeded else note.failure or "failed"
            logger.info("\n%s", format_transaction_lines(tx.hash, created, gas, failure, note.console))
        logger.info("\n    Block Number: %d\n    Block Hash: 0x%s\n    Block Time: %s", block.number,
                    block.hash.hex(), time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(header.timestamp)))
