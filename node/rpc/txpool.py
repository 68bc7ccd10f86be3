"""The ``txpool_`` namespace: what the pool holds, in geth's shapes."""
from __future__ import annotations

from typing import Any, Callable

from eth.abc import SignedTransactionAPI
from eth_utils import to_checksum_address

from node.backend import Backend
from node.rpc.format import format_transaction
from node.rpc.hexcodec import parse_address, quantity

PoolQueues = dict[bytes, dict[int, SignedTransactionAPI]]


class TxpoolAPI:
    """txpool_status, txpool_content, txpool_contentFrom, txpool_inspect (as geth answers)."""

    def __init__(self, backend: Backend) -> None:
        self._b = backend

    def status(self) -> dict[str, str]:
        pending, queued = self._b.pool.content()
        return {"pending": quantity(_count(pending)), "queued": quantity(_count(queued))}

    def content(self) -> dict[str, dict[str, dict[str, Any]]]:
        pending, queued = self._b.pool.content()
        return {"pending": _by_account(pending, _rpc_transaction),
                "queued": _by_account(queued, _rpc_transaction)}

    def contentFrom(self, address: Any) -> dict[str, dict[str, Any]]:
        account = parse_address(address)
        pending, queued = self._b.pool.content()
        return {"pending": _by_nonce(pending.get(account, {}), _rpc_transaction),
                "queued": _by_nonce(queued.get(account, {}), _rpc_transaction)}

    def inspect(self) -> dict[str, dict[str, dict[str, str]]]:
        pending, queued = self._b.pool.content()
        return {"pending": _by_account(pending, _summary), "queued": _by_account(queued, _summary)}


def _count(queues: PoolQueues) -> int:
    return sum(len(by_nonce) for by_nonce in queues.values())


def _by_account(queues: PoolQueues, render: Callable[[SignedTransactionAPI], Any]) -> dict[str, Any]:
    """geth keys accounts by their checksummed hex and nonces by decimal strings."""
    return {to_checksum_address(sender): _by_nonce(by_nonce, render)
            for sender, by_nonce in sorted(queues.items())}


def _by_nonce(by_nonce: dict[int, SignedTransactionAPI],
              render: Callable[[SignedTransactionAPI], Any]) -> dict[str, Any]:
    return {str(nonce): render(tx) for nonce, tx in sorted(by_nonce.items())}


def _rpc_transaction(tx: SignedTransactionAPI) -> dict[str, Any]:
    return format_transaction(tx, tx.sender, None, None)


def _summary(tx: SignedTransactionAPI) -> str:
    """geth's txpool_inspect line; the price is the fee cap for EIP-1559 transactions."""
    target = to_checksum_address(tx.to) if tx.to else "contract creation"
    price = tx.max_fee_per_gas if getattr(tx, "type_id", None) not in (None, 0, 1) else tx.gas_price
    return f"{target}: {tx.value} wei + {tx.gas} gas × {price} wei"
