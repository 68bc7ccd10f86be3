"""ape's dev-chain helpers against ``azora dev`` through the ape-azora provider: set_balance,
chain.mine, impersonation, snapshots and a transaction's return_value.

Run with ``ape run azora_helpers --network ethereum:azora-dev:azora``; prints one JSON line.
"""
import json

from ape import accounts, chain, networks, project

STRANGER = "0x00000000000000000000000000000000000A20aa"     # nobody's key


def main() -> None:
    owner = accounts.test_accounts[0]
    out: dict = {"provider": networks.provider.name}

    chain.provider.set_balance(STRANGER, 5 * 10**18)
    out["balance"] = str(chain.provider.get_balance(STRANGER))

    head = chain.blocks.head.number
    chain.mine(3)
    out["mined"] = chain.blocks.head.number - head

    stranger = accounts.test_accounts.impersonate_account(STRANGER)
    receipt = stranger.transfer(owner, 10**18)
    out["transferStatus"] = int(receipt.status)
    out["transferSender"] = receipt.sender

    counter = owner.deploy(project.Counter)
    receipt = counter.add(5, sender=stranger)
    out["addStatus"] = int(receipt.status)
    out["addEvents"] = [[log.sender, log.amount] for log in receipt.events]
    out["returnValue"] = receipt.return_value

    snapshot = chain.snapshot()
    counter.add(1, sender=owner)
    chain.restore(snapshot)
    out["totalAfterRestore"] = counter.total()
    print("AZORA_RESULT " + json.dumps(out))
