"""azora dev runs on the BFT engine: every block carries a commit certificate that verifies
against the validator set of its height, and the header binds the parent's commit."""
from __future__ import annotations

from consensus.commit import verify_commit
from consensus.block_rules import compute_mix_hash
from consensus.signing import SigningDomain
from consensus.types import CommitCertificate
from consensus.validator_set import Validator, ValidatorSet
from eth_utils import to_canonical_address


def _certificate(result: dict) -> CommitCertificate:
    return CommitCertificate(int(result["height"], 16), int(result["round"], 16),
                             bytes.fromhex(result["blockHash"][2:]),
                             tuple((bytes.fromhex(s["validator"][2:]), bytes.fromhex(s["signature"][2:]))
                                   for s in result["signatures"]))


def test_every_block_has_a_verifiable_commit(w3, dev_node):
    for _ in range(2):
        tx = w3.eth.send_transaction({"from": w3.eth.accounts[6], "to": w3.eth.accounts[7], "value": 1})
        w3.eth.wait_for_transaction_receipt(tx, timeout=30)
    head = w3.eth.block_number
    registry = dev_node.rpc("azora_nodeInfo")["result"]["contracts"]["ValidatorRegistry"]
    validator = dev_node.rpc("azora_nodeInfo")["result"]["consensus"]["validator"]   # no dev account
    domain = SigningDomain(1337, to_canonical_address(registry))
    for number in range(1, head + 1):
        block = w3.eth.get_block(number)
        commit = dev_node.rpc("azora_getCommit", [hex(number)])["result"]
        assert commit["blockHash"] == block.hash.to_0x_hex() and int(commit["height"], 16) == number
        validators = dev_node.rpc("azora_validators", [hex(number)])["result"]
        assert validators == [{"address": validator, "power": hex(10_000)}]
        validator_set = ValidatorSet(tuple(Validator(bytes.fromhex(v["address"][2:]), int(v["power"], 16))
                                           for v in validators), bytes.fromhex(validators[0]["address"][2:]))
        assert verify_commit(_certificate(commit), validator_set, domain) is None
        assert block.miner.lower() == validator
        if number > 1:
            parent_commit = _certificate(dev_node.rpc("azora_getCommit", [hex(number - 1)])["result"])
            assert block.mixHash == compute_mix_hash(parent_commit)


def test_commit_rpc_edge_cases(dev_node):
    assert dev_node.rpc("azora_getCommit", ["0x0"])["result"] is None
    assert dev_node.rpc("azora_getCommit", ["0xffffff"])["result"] is None
    assert dev_node.rpc("azora_validators", ["0x0"])["result"] == []
    assert dev_node.rpc("azora_getCommit", ["bogus"])["error"]["code"] == -32602
