"""EthExtraAPI in-process: filter expiry, and hooks from foreign threads reaching subscribers."""
from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import trio
from eth.vm.forks.prague.transactions import PragueTransactionBuilder

from node.config import RpcLimits
from node.rpc.errors import RpcError
from node.rpc.extra import EthExtraAPI, fork_hash


class HookLists:
    """The part of a Backend that filters and pending-transaction feeds use: its hook lists."""

    def __init__(self) -> None:
        self.on_new_block: list[Any] = []
        self.on_tx_added: list[Any] = []
        self.rpc_limits = RpcLimits()


class RecordingConnection:
    """Stands where a WebSocketConnection stands: records what would go on the wire."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def send_json(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


def signed_transfers(account: Any, count: int) -> list[Any]:
    return [PragueTransactionBuilder.decode(bytes(account.sign_transaction({
        "chainId": 1337, "nonce": nonce, "to": "0x" + "22" * 20, "value": nonce, "gas": 21000,
        "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "type": 2}).raw_transaction))
        for nonce in range(count)]


def test_filters_are_reaped_after_the_timeout_and_then_not_found():
    api = EthExtraAPI(HookLists(), filter_timeout=300)
    blocks, pending = api.newBlockFilter(), api.newPendingTransactionFilter()
    now = time.monotonic()
    assert api._reap_expired(now + 299) == []
    assert api.getFilterChanges(blocks) == []
    assert sorted(api._reap_expired(now + 301 + 1)) == sorted([blocks, pending])
    for fid in (blocks, pending):
        with pytest.raises(RpcError, match="filter not found") as err:
            api.getFilterChanges(fid)
        assert err.value.code == -32000
        assert api.uninstallFilter(fid) is False


def test_an_expired_filter_is_gone_even_before_the_reaper_runs():
    api = EthExtraAPI(HookLists(), filter_timeout=0.05)
    fid = api.newBlockFilter()
    time.sleep(0.1)
    with pytest.raises(RpcError, match="filter not found"):
        api.getFilterChanges(fid)


def test_pending_transactions_from_worker_threads_reach_subscribers_in_order(dev_accounts):
    hooks = HookLists()
    api = EthExtraAPI(hooks)
    connection, other = RecordingConnection(), RecordingConnection()
    txs = signed_transfers(dev_accounts[0], 30)
    hashes = ["0x" + tx.hash.hex() for tx in txs]
    pending_filter = api.newPendingTransactionFilter()

    def announce(batch: list[Any]) -> None:
        for tx in batch:
            for hook in hooks.on_tx_added:
                hook(tx)

    async def main() -> tuple[str, str]:
        async with trio.open_nursery() as nursery:
            await nursery.start(api.run)
            plain = await api.subscribe(connection, "newPendingTransactions")
            full = await api.subscribe(connection, "newPendingTransactions", True)
            gone = await api.subscribe(other, "newPendingTransactions")
            api.on_disconnect(other)
            await trio.to_thread.run_sync(announce, txs[:20])         # a trio worker thread
            thread = threading.Thread(target=announce, args=(txs[20:],))  # and a foreign one
            thread.start()
            await trio.to_thread.run_sync(thread.join)
            with trio.fail_after(10):
                while len(connection.messages) < 2 * len(txs):
                    await trio.sleep(0.01)
            with pytest.raises(RpcError, match="subscription not found"):
                await api.unsubscribe(other, gone)              # ended with its socket
            assert await api.unsubscribe(connection, full) is True
            nursery.cancel_scope.cancel()
        return plain, full

    with pytest.raises(RpcError, match="subscription not found"):
        trio.run(_unsubscribe_unknown, api)
    plain, full = trio.run(main)
    by_subscription: dict[str, list[Any]] = {}
    for message in connection.messages:
        assert message["jsonrpc"] == "2.0" and message["method"] == "eth_subscription"
        by_subscription.setdefault(message["params"]["subscription"], []).append(message["params"]["result"])
    assert by_subscription[plain] == hashes
    assert [tx["hash"] for tx in by_subscription[full]] == hashes
    assert all(tx["blockHash"] is None and tx["from"] == dev_accounts[0].address.lower()
               for tx in by_subscription[full])
    assert other.messages == []
    assert api.getFilterChanges(pending_filter) == hashes


async def _unsubscribe_unknown(api: EthExtraAPI) -> None:
    await api.unsubscribe(RecordingConnection(), "0x1")


def test_subscribing_without_a_socket_is_refused_as_geth_does():
    api = EthExtraAPI(HookLists())
    with pytest.raises(RpcError) as err:
        trio.run(api.subscribe, None, "newHeads")
    assert (err.value.code, err.value.message) == (-32601, "notifications not supported")


def test_fork_hash_follows_eip_2124():
    # EIP-2124's mainnet vectors: genesis only, then Homestead (1150000) activated.
    mainnet = bytes.fromhex("d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3")
    assert fork_hash(mainnet, [], 0).hex() == "fc64ec04"
    assert fork_hash(mainnet, [(1_150_000, 0, None)], 0).hex() == "97c2c34c"
    assert fork_hash(mainnet, [(0, 0, None), (1_150_000, 0, None)], 0).hex() == "97c2c34c"
