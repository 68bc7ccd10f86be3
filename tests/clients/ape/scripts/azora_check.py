"""Drive an Azora node through ape: deploy, call, transact, events, reverts.

Run with ``ape run azora_check --network ethereum:azora-dev:node``; prints one JSON line.
"""
import json

from ape import accounts, chain, networks, project, reverts
from ape.exceptions import ContractLogicError
from eth_utils import to_hex


def main() -> None:
    # `azora dev` funds the accounts of the standard test mnemonic, which is also ape's default
    # test mnemonic: ape's test accounts are the node's dev accounts, signing locally.
    owner = accounts.test_accounts[0]
    out: dict = {"chainId": chain.chain_id, "network": networks.provider.network.name,
                 "owner": owner.address, "balance": str(owner.balance)}

    counter = owner.deploy(project.Counter)
    out["deployed"] = counter.address
    receipt = counter.add(5, sender=owner)
    receipt = counter.add(37, sender=owner)
    out["status"] = int(receipt.status)
    out["total"] = counter.total()
    out["receiptEvents"] = [[log.event_name, log.amount, log.total] for log in receipt.events]
    out["queriedEvents"] = [log.total for log in counter.Added.range(0, chain.blocks.head.number + 1)]

    # A revert found while estimating gas: the reason comes from eth_estimateGas's error and
    # nothing is sent. ape.reverts is how a developer would test for it.
    nonce = owner.nonce
    with reverts("Counter: zero amount") as caught:
        counter.add(0, sender=owner)
    out["estimateRevert"] = caught.value.message
    out["sentWhileEstimating"] = owner.nonce - nonce

    # A mined revert (gas given, so no estimation): ape reads the reason back from the node.
    try:
        counter.add(0, sender=owner, gas=200_000)
        out["minedRevert"] = None
    except ContractLogicError as err:
        out["minedRevert"] = err.message
        out["minedRevertTx"] = to_hex(err.txn.txn_hash) if err.txn is not None else None
    out["totalAfterReverts"] = counter.total()
    print("AZORA_RESULT " + json.dumps(out))
