"""What the tests need besides the learner's own commands, done over JSON-RPC as the other
actors would: the dev oracle committee's signed completion, the DAO's proposals, dev time.

The dev chain's oracle committee is the last three accounts of the standard mnemonic
(quorum 2); the DAO flow follows scripts/dao_flow.py with the dev governance periods.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from web3 import Web3
from web3.logs import DISCARD

from contracts.build import load_artifact

REPO = Path(__file__).resolve().parents[2]
MNEMONIC = "test test test test test test test test test test test junk"
VALIDATOR_COURSE = "https://azora.africa/courses/validator"
AZR = 10**18
Account.enable_unaudited_hdwallet_features()


def azora(*args: str, input: str | None = None, cwd: Path = REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "node.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=180, input=input, env=env)


def dev_account(index: int) -> Any:
    return Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


def system_contract(w3: Web3, name: str, artifact: str | None = None) -> Any:
    table = w3.provider.make_request("azora_nodeInfo", [])["result"]["contracts"]
    return w3.eth.contract(address=table[name], abi=load_artifact(artifact or name)["abi"])


def sign_completion_bundle(w3: Web3, learner: str, course_iri: str = VALIDATOR_COURSE,
                           score: int = 9_500) -> dict[str, Any]:
    """The bundle an oracle hands out once two committee members signed (ascending signers)."""
    pok = system_contract(w3, "ProofOfKnowledge")
    completion = {"learner": learner, "courseId": "0x" + Web3.keccak(text=course_iri).hex().removeprefix("0x"),
                  "courseVersion": 1, "score": score, "completedAt": int(time.time()) - 60,
                  "evidenceHash": "0x" + "ab" * 32, "oracleSetVersion": pok.functions.oracleSetVersion().call(),
                  "deadline": int(time.time()) + 86_400}
    typed = {
        "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                   {"name": "chainId", "type": "uint256"},
                                   {"name": "verifyingContract", "type": "address"}],
                  "Completion": [{"name": "learner", "type": "address"}, {"name": "courseId", "type": "bytes32"},
                                 {"name": "courseVersion", "type": "uint32"}, {"name": "score", "type": "uint16"},
                                 {"name": "completedAt", "type": "uint64"}, {"name": "evidenceHash", "type": "bytes32"},
                                 {"name": "oracleSetVersion", "type": "uint64"}, {"name": "deadline", "type": "uint64"}]},
        "primaryType": "Completion",
        "domain": {"name": "Azora Proof of Knowledge", "version": "1", "chainId": w3.eth.chain_id,
                   "verifyingContract": pok.address},
        "message": completion,
    }
    oracles = sorted([dev_account(7), dev_account(8)], key=lambda a: int(a.address, 16))
    signatures = ["0x" + bytes(o.sign_message(encode_typed_data(full_message=typed)).signature).hex() for o in oracles]
    return {"state": "quorum", "completion": completion, "chainId": w3.eth.chain_id,
            "verifyingContract": pok.address, "signers": [o.address for o in oracles], "signatures": signatures}


def advance_time(w3: Web3, seconds: int) -> None:
    """Past a challenge window or a timelock delay: the next block is stamped later, then mined."""
    w3.provider.make_request("evm_increaseTime", [seconds])
    w3.provider.make_request("evm_mine", [])


def execute_proposal(w3: Web3, actions: list[tuple[str, int, bytes]], description: str) -> None:
    """Propose, vote, queue and execute through the Governor and the Timelock (dev periods)."""
    azr, governor = system_contract(w3, "AZR"), system_contract(w3, "Governor")
    proposer, supporter = w3.eth.accounts[1], w3.eth.accounts[2]

    def send(call: Any, sender: str, value: int = 0) -> Any:
        receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender, "value": value}), timeout=60)
        assert receipt.status == 1
        return receipt

    def mine(blocks: int) -> None:
        w3.provider.make_request("evm_mine", [{"blocks": hex(blocks)}])

    if azr.functions.getVotes(proposer).call() < 12_000 * AZR:
        for account in (proposer, supporter):
            send(azr.functions.deposit(), account, 6_000 * AZR)
            send(azr.functions.delegate(proposer), account)
        mine(1)
    targets, values, calldatas = [a[0] for a in actions], [a[1] for a in actions], [a[2] for a in actions]
    receipt = send(governor.functions.propose(targets, values, calldatas, description), proposer)
    proposal_id = governor.events.ProposalCreated().process_receipt(receipt, errors=DISCARD)[0].args.proposalId
    mine(governor.functions.votingDelay().call() + 1)
    send(governor.functions.castVote(proposal_id, 1), proposer)
    mine(governor.functions.votingPeriod().call() + 1)
    description_hash = Web3.keccak(text=description)
    receipt = send(governor.functions.queue(targets, values, calldatas, description_hash), proposer)
    eta = governor.events.ProposalQueued().process_receipt(receipt, errors=DISCARD)[0].args.eta
    w3.provider.make_request("evm_setNextBlockTimestamp", [eta])
    mine(1)
    send(governor.functions.execute(targets, values, calldatas, description_hash), proposer)
    assert governor.functions.state(proposal_id).call() == 7   # Executed


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value))
    return path
