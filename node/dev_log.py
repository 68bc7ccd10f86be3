"""``azora dev``'s lines per mined transaction, as anvil prints them: hash, contract created,
gas used, status and, for a failure, its reason (``Error(string)``, ``Panic(uint256)`` or a
custom error's selector).

A failed transaction's output is not in its receipt: it is read back by replaying the block up
to it (``callTracer``, top call only), on the producer's thread and only for failures.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Sequence

from eth.abc import BlockAPI, ReceiptAPI
from eth_utils import to_checksum_address

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
TOP_CALL = TraceConfig(tracer="callTracer", tracer_config={"onlyTopCall": True})


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


def format_transaction_lines(tx_hash: bytes, created: bytes | None, gas_used: int, failure: str | None) -> str:
    """One transaction's block of lines."""
    lines = [f"    Transaction: 0x{tx_hash.hex()}"]
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
        for index, (tx, receipt, sender, gas) in enumerate(
                zip(block.transactions, receipts, senders, gas_used_per_transaction(receipts))):
            created = contract_address(sender, tx.nonce) if not tx.to and receipt.state_root == b"\x01" else None
            failure = None
            if receipt.state_root != b"\x01":
                failure = describe_failure(self.view.trace_transaction(header, index, TOP_CALL))
            logger.info("\n%s", format_transaction_lines(tx.hash, created, gas, failure))
        logger.info("\n    Block Number: %d\n    Block Hash: 0x%s\n    Block Time: %s", block.number,
                    block.hash.hex(), time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(header.timestamp)))
