"""EIP-1559 transactions from a keystore: fees from the node, funds checked before signing,
the receipt awaited, a revert reported with its reason."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

from eth_account.signers.local import LocalAccount
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3RPCError

from wallet.errors import WalletError
from wallet.rpc import Node
from wallet.units import format_amount, parse_amount

GWEI = 10**9


@dataclass(frozen=True)
class Fees:
    max_fee: int
    priority_fee: int


@dataclass(frozen=True)
class Outcome:
    """What scripts read back: ``{"hash", "status", "blockNumber", "fee"}`` (fee in whole AZR)."""

    hash: str
    status: int
    block_number: int
    fee: int

    def to_json(self) -> dict[str, Any]:
        return {"hash": self.hash, "status": self.status, "blockNumber": self.block_number,
                "fee": format_amount(self.fee)}


def suggest_fees(node: Node, max_fee_gwei: str | None, priority_fee_gwei: str | None) -> Fees:
    """The node's tip suggestion and twice the base fee plus the tip (what geth and MetaMask
    offer), each overridable in gwei."""
    priority = parse_amount(priority_fee_gwei, 9) if priority_fee_gwei else int(node.request("eth_maxPriorityFeePerGas"), 16)
    if max_fee_gwei:
        max_fee = parse_amount(max_fee_gwei, 9)
    else:
        base_fee = int(node.request("eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16)
        max_fee = 2 * base_fee + priority
    if priority > max_fee:
        raise WalletError(f"priority fee {format_amount(priority, 9)} gwei exceeds the max fee {format_amount(max_fee, 9)} gwei")
    return Fees(max_fee, priority)


def encode_call(contract: Contract, function: str, *args: Any) -> bytes:
    return bytes.fromhex(contract.encode_abi(function, list(args))[2:])


def revert_reason(exc: Exception) -> str:
    """The node's own words: ``execution reverted: AZR: ...`` or a -32000 message, on one line."""
    response = getattr(exc, "rpc_response", None)
    error = response.get("error") if isinstance(response, dict) else None
    message = error.get("message") if isinstance(error, dict) else getattr(exc, "message", None) or str(exc)
    return str(message).splitlines()[0] if message else "execution reverted"


def add_gas_headroom(estimate: int, is_plain_transfer: bool) -> int:
    """Gas for a contract call: the estimate plus room for storage the next block writes afresh.

    The node estimates in the head block's context (its ``pending`` is the head), so a call
    that stores the block number (AZR's vote checkpoints: a new checkpoint per block, two new
    slots per side) costs up to 4 x 22,100 more once it runs in the next block. Unused gas is
    refunded, so the headroom costs nothing; a plain transfer to an account needs none.
    """
    return estimate if is_plain_transfer else max(estimate * 3 // 2, estimate + 100_000)


def build_transaction(node: Node, sender: str, to: str, value: int, data: bytes, fees: Fees) -> dict[str, Any]:
    """A signed-ready 1559 transaction; a call that would revert fails here, with its reason."""
    call = {"from": sender, "to": to, "value": value, "data": data}
    have = node.w3.eth.get_balance(sender)  # type: ignore[arg-type]
    if have < value:
        raise WalletError(f"insufficient funds: {sender} has {format_amount(have)} AZR, needs {format_amount(value)} AZR")
    try:
        estimate = node.w3.eth.estimate_gas(call, "pending")  # type: ignore[arg-type]
    except (ContractLogicError, Web3RPCError) as exc:
        raise WalletError(f"the transaction would revert: {revert_reason(exc)}") from None
    gas = add_gas_headroom(estimate, not data and not node.w3.eth.get_code(to))  # type: ignore[arg-type]
    nonce = node.w3.eth.get_transaction_count(sender, "pending")  # type: ignore[arg-type]
    return {**call, "gas": gas, "maxFeePerGas": fees.max_fee, "maxPriorityFeePerGas": fees.priority_fee,
            "nonce": nonce, "chainId": node.chain_id, "type": 2}


def get_queued_nonces(node: Node, sender: str) -> list[int]:
    """Nonces of the sender's transactions the node holds behind a gap (``txpool_contentFrom``)."""
    try:
        content = node.request("txpool_contentFrom", [sender])
    except WalletError:
        return []   # a node that does not share its pool: nothing to check against
    return sorted(int(nonce) for nonce in (content or {}).get("queued") or {})


def check_nonce_gap(node: Node, tx: dict[str, Any], fill_gap: bool) -> None:
    """A transaction that fills a nonce gap releases every queued one behind it, perhaps long
    forgotten: refuse unless the user says so."""
    queued = get_queued_nonces(node, tx["from"])
    if queued and not fill_gap:
        raise WalletError(f"nonce gap: the node holds queued transactions of {tx['from']} at nonce "
                          f"{', '.join(map(str, queued))}, waiting for nonce {tx['nonce']}; this one would fill "
                          f"the gap and release them (pass --fill-gap if you mean it)")


def check_native_funds(node: Node, tx: dict[str, Any]) -> None:
    """The sender must hold value + gas x max fee before anything is signed."""
    need = tx["value"] + tx["gas"] * tx["maxFeePerGas"]
    have = node.w3.eth.get_balance(tx["from"])
    if have < need:
        raise WalletError(f"insufficient funds: {tx['from']} has {format_amount(have)} AZR, "
                          f"needs {format_amount(need)} AZR (amount + max fee)")


def describe(tx: dict[str, Any], what: str) -> str:
    max_fee = tx["gas"] * tx["maxFeePerGas"]
    return (f"{what}\n  from      {tx['from']}\n  to        {tx['to']}\n"
            f"  value     {format_amount(tx['value'])} AZR\n"
            f"  max fee   {format_amount(max_fee)} AZR ({tx['gas']} gas x {format_amount(tx['maxFeePerGas'], 9)} gwei)\n"
            f"  total     at most {format_amount(tx['value'] + max_fee)} AZR")


def confirm(summary: str, assume_yes: bool, ask: Callable[[str], str] = input) -> None:
    """Show the summary on stderr and ask unless ``--yes``; anything but y/yes cancels."""
    print(summary, file=sys.stderr)
    if assume_yes:
        return
    try:
        answer = ask("Send it? [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise WalletError("cancelled: nothing was sent")


def send_and_wait(node: Node, account: LocalAccount, tx: dict[str, Any], timeout: float = 120) -> Outcome:
    signed = account.sign_transaction(tx)
    tx_hash = "0x" + bytes(signed.hash).hex()
    try:
        node.w3.eth.send_raw_transaction(signed.raw_transaction)
    except Web3RPCError as exc:
        raise WalletError(f"the node refused the transaction: {revert_reason(exc)}") from None
    receipt = wait_for_receipt(node, tx_hash, timeout)
    outcome = Outcome(tx_hash, int(receipt["status"], 16), int(receipt["blockNumber"], 16),
                      int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16))
    if outcome.status != 1:
        raise WalletError(f"transaction {tx_hash} reverted in block {outcome.block_number}: "
                          f"{replay_reason(node, tx, outcome.block_number)}")
    return outcome


def wait_for_receipt(node: Node, tx_hash: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        receipt: dict[str, Any] | None = node.request("eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return receipt
        time.sleep(0.1)
    raise WalletError(f"transaction {tx_hash} was sent but not mined within {timeout:.0f} s")


def replay_reason(node: Node, tx: dict[str, Any], block_number: int) -> str:
    """Why a mined transaction reverted: the same call replayed on the block before it."""
    call = {k: tx[k] for k in ("from", "to", "value", "data")}
    try:
        node.w3.eth.call(call, block_number - 1)  # type: ignore[arg-type]
    except (ContractLogicError, Web3RPCError) as exc:
        return revert_reason(exc)
    return "execution reverted"
