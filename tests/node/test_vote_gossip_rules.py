"""The vote topic's validator on a real network node: a vote signed by a key outside the set of
its height is rejected (the relaying peer is penalised), a validator's vote is accepted, a vote
for a height far from ours is ignored."""
from __future__ import annotations

import json
import time

from eth_account import Account
from eth_utils import keccak, to_canonical_address

from consensus.signing import LocalSigner
from consensus.types import Vote, VoteType
from node.config import NodeConfig
from node.service import build_network_node, dev_genesis
from p2p.gossip import ValidationResult


def test_votes_from_outside_the_validator_set_are_rejected(tmp_path, dev_accounts):
    validator = dev_accounts[0]
    genesis = dev_genesis(dev_accounts, chain_id=1337, balance_wei=10**24,
                          validator=to_canonical_address(validator.address))
    genesis["timestamp"] = hex(int(time.time()) - 100)
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(genesis))
    backend, _, _, node = build_network_node(NodeConfig(datadir=tmp_path / "node", genesis=path, p2p_port=0))
    try:
        domain = node.host.domain
        member = LocalSigner(bytes(validator.key), domain)
        stranger = LocalSigner(bytes(Account.from_key(keccak(b"stranger")).key), domain)
        peer = node.p2p.peer_id

        def check(signer: LocalSigner, height: int) -> ValidationResult:
            vote = signer.sign_vote(Vote(VoteType.PREVOTE, height, 0, keccak(b"block")))
            return node._validate_vote(peer, vote.encode())

        assert check(member, 1) == ValidationResult.ACCEPT
        assert check(stranger, 1) == ValidationResult.REJECT       # well signed, not in the set
        assert check(stranger, 0) == ValidationResult.REJECT       # the head's set neither
        assert check(stranger, 2) == ValidationResult.ACCEPT       # the next set is not known yet
        assert check(stranger, 50) == ValidationResult.IGNORE      # far from ours
    finally:
        backend.close()
