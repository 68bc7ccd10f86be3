"""The DAO flow on a dev chain, end to end over JSON-RPC with web3.py:

    wrap AZR → delegate → propose → vote → (voting period) → queue → (timelock delay) → execute

    python scripts/dao_flow.py [--rpc http://127.0.0.1:8545]

The proposal changes the Governor's own voting period (only the Timelock may), so its effect
is visible at the end. Blocks and time are advanced with evm_mine / evm_increaseTime, which a
dev chain offers; on a real network the same calls wait for real blocks and time.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from web3 import Web3
from web3.logs import DISCARD

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from contracts.build import load_artifact  # noqa: E402

AZR = 10**18
STATES = ["Pending", "Active", "Canceled", "Defeated", "Succeeded", "Queued", "Expired", "Executed"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpc", default="http://127.0.0.1:8545")
    parser.add_argument("--new-voting-period", type=int, default=30)
    args = parser.parse_args(argv)
    w3 = Web3(Web3.HTTPProvider(args.rpc, request_kwargs={"timeout": 60}))
    table = w3.provider.make_request("azora_nodeInfo", [])["result"]["contracts"]
    azr = w3.eth.contract(address=table["AZR"], abi=load_artifact("AZR")["abi"])
    governor = w3.eth.contract(address=table["Governor"], abi=load_artifact("Governor")["abi"])
    proposer, supporter = w3.eth.accounts[1], w3.eth.accounts[2]

    def send(call, sender):
        receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender}), timeout=60)
        assert receipt.status == 1, f"transaction reverted: {receipt.transactionHash.hex()}"
        return receipt

    def mine(blocks: int) -> None:
        w3.provider.make_request("evm_mine", [{"blocks": hex(blocks)}])

    # 1. Voting power: wrap native AZR and delegate it (votes count from the next block).
    for account in (proposer, supporter):
        w3.eth.wait_for_transaction_receipt(
            azr.functions.deposit().transact({"from": account, "value": 6_000 * AZR}), timeout=60)
        send(azr.functions.delegate(proposer), account)
    mine(1)
    print(f"votes of {proposer}: {azr.functions.getVotes(proposer).call() // AZR} AZR")

    # 2. Propose: the Timelock will call Governor.setVotingPeriod(new).
    calldata = governor.encode_abi("setVotingPeriod", [args.new_voting_period])
    description = f"Set the voting period to {args.new_voting_period} blocks"
    proposal = ([governor.address], [0], [calldata], description)
    receipt = send(governor.functions.propose(*proposal), proposer)
    proposal_id = governor.events.ProposalCreated().process_receipt(receipt, errors=DISCARD)[0].args.proposalId
    print(f"proposal {proposal_id}: {STATES[governor.functions.state(proposal_id).call()]}")

    # 3. Vote once the voting delay has passed.
    mine(governor.functions.votingDelay().call() + 1)
    send(governor.functions.castVote(proposal_id, 1), proposer)
    print(f"voted For; state {STATES[governor.functions.state(proposal_id).call()]}")

    # 4. After the voting period: queue in the Timelock; after its delay: execute.
    mine(governor.functions.votingPeriod().call() + 1)
    description_hash = Web3.keccak(text=description)
    receipt = send(governor.functions.queue(*proposal[:3], description_hash), proposer)
    eta = governor.events.ProposalQueued().process_receipt(receipt, errors=DISCARD)[0].args.eta
    print(f"state {STATES[governor.functions.state(proposal_id).call()]}, executable at {eta}")
    # The next block is stamped at the Timelock's eta (a dev chain's evm_setNextBlockTimestamp).
    w3.provider.make_request("evm_setNextBlockTimestamp", [eta])
    mine(1)
    send(governor.functions.execute(*proposal[:3], description_hash), proposer)
    result = {"proposalId": str(proposal_id), "state": STATES[governor.functions.state(proposal_id).call()],
              "votingPeriod": governor.functions.votingPeriod().call()}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
