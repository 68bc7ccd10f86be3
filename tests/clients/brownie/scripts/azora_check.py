"""Drive an Azora node through brownie: deploy, call, transact, events, reverts.

Run with ``brownie run azora_check --network azora-dev`` after
``brownie networks add Azora azora-dev host=http://127.0.0.1:8545 chainid=1337``;
prints one JSON line.
"""
import json
from collections.abc import Callable

from brownie import Counter, accounts, chain, history, network, web3
from brownie.exceptions import RPCRequestError, VirtualMachineError
# what `brownie test` offers as `brownie.reverts`
from brownie.test.managers.runner import RevertContextManager as reverts
from web3.exceptions import ContractLogicError

DEV_MNEMONIC = "test test test test test test test test test test test junk"


def revert_reason(action: Callable[[], object]) -> str | None:
    """What a reverting call or transaction raises, as ``Type: reason``; None if it did not revert.

    Which error it is depends on brownie's middlewares, which it installs only on a chain that
    has a block ``latest - 50`` (below block 50 the lookup fails and brownie runs without any):
    with them, a revert in eth_call is a VirtualMachineError carrying the reason and one in
    gas estimation a ValueError ("Gas estimation failed: '<reason>'. ..."); without them, web3's
    ContractLogicError ("execution reverted: <reason>") reaches the caller unwrapped. The same
    happens against geth. Either way the reason is the node's.
    """
    try:
        action()
    except VirtualMachineError as err:
        return f"VirtualMachineError: {err.revert_msg}"
    except ContractLogicError as err:
        return f"ContractLogicError: {err.message}"
    except ValueError as err:
        return f"ValueError: {err}"
    return None


def main() -> None:
    # On a live network brownie lists the node's own accounts (eth_accounts): `azora dev`
    # manages its ten dev accounts and signs with eth_sendTransaction, as ganache does.
    managed = accounts[0]
    node_accounts = len(accounts)
    # A key held by brownie signs locally (eth_sendRawTransaction), as on a public network:
    # dev account 1 of the same mnemonic.
    local = accounts.from_mnemonic(DEV_MNEMONIC, count=1, offset=1)
    out: dict = {"network": network.show_active(), "chainId": chain.id,
                 "managed": managed.address, "local": local.address,
                 "nodeAccounts": node_accounts,
                 # what brownie installed when it connected (none below block 50)
                 "middlewares": sorted(type(m).__name__ for _, m in web3._custom_middleware)}

    counter = Counter.deploy({"from": local})
    out["deployed"] = counter.address
    first = counter.add(5, {"from": local})
    second = counter.add(37, {"from": managed})
    out["status"] = [first.status, second.status]
    out["total"] = counter.total()
    out["receiptEvents"] = [[event.name, event["sender"], event["amount"], event["total"]]
                            for event in second.events]
    out["queriedEvents"] = [log.args.total for log in counter.events.Added.get_logs(from_block=0)]

    # A revert found while estimating gas: the node's reason arrives and nothing is sent.
    nonce = local.nonce
    out["estimateRevert"] = revert_reason(lambda: counter.add(0, {"from": local}))
    out["sentWhileEstimating"] = local.nonce - nonce
    # A call that reverts (eth_call).
    out["callRevert"] = revert_reason(lambda: counter.add.call(0, {"from": local}))
    # brownie's own way to expect a revert in a test
    with reverts("Counter: zero amount"):
        counter.add.call(0, {"from": local})
    out["revertsCaught"] = True

    # A mined revert (gas given, reverts allowed): the receipt has status 0. On a live network
    # brownie reads the reason of a mined revert only through debug_traceTransaction (the
    # struct logger's returnValue), as from geth.
    try:
        counter.add(0, {"from": local, "gas_limit": 200_000, "allow_revert": True})
        out["minedRevertError"] = None
    except (VirtualMachineError, RPCRequestError) as err:
        out["minedRevertError"] = f"{type(err).__name__}: {err}"
    failed = history[-1]
    out["minedRevertStatus"] = failed.status
    out["minedRevertTx"] = failed.txid
    out["totalAfterReverts"] = counter.total()
    print("AZORA_RESULT " + json.dumps(out))
