"""Epoch rewards: the first block of an epoch pays the previous epoch's validators, in
proportion to the blocks whose canonical commit carries their precommit."""
from __future__ import annotations

import time

import pytest
from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector, to_canonical_address

from consensus.commit import build_commit_certificate
from consensus.signing import LocalSigner, SigningDomain
from consensus.types import CommitCertificate, Vote, VoteType
from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from node.execution import CallArgs, Executor
from consensus.block_rules import is_first_block_of_epoch, signer_bitmap, signers_from_bitmap
from node.rewards import block_extra_data, reward_system_calls
from node.validators import ValidatorSetStore

EPOCH = 4
REWARD = 10_000 * 10**18      # the default reward per epoch


@pytest.fixture
def chain(tmp_path, dev_accounts):
    genesis = Genesis.from_json({
        "config": {"chainId": 1337}, "timestamp": hex(int(time.time()) - 1000),
        "alloc": {a.address: {"balance": hex(10**24)} for a in dev_accounts},
        "azora": {"validators": [{"address": a.address, "stake": hex(20_000 * 10**18)} for a in dev_accounts[:3]],
                  "oracles": {"members": [dev_accounts[9].address], "quorum": 1}, "epochLength": EPOCH}})
    return Chain(LevelDB(tmp_path / "db"), genesis)


def _rewards_of(chain, account):
    registry = chain.system_contracts["ValidatorRegistry"]
    data = "0x" + (function_signature_to_4byte_selector("rewards(address)") + encode(["address"], [account])).hex()
    return decode(["uint256"], Executor(chain).call(chain.head, CallArgs.parse({"to": registry, "data": data})))[0]


def test_first_block_of_an_epoch_pays_by_blocks_signed(chain, dev_accounts):
    domain = SigningDomain(1337, to_canonical_address(chain.system_contracts["ValidatorRegistry"]))
    signers = [LocalSigner(bytes(a.key), domain) for a in dev_accounts[:3]]
    sets = ValidatorSetStore(chain)
    certificate = None
    for height in range(1, EPOCH + 2):
        extra_data = block_extra_data(sets, height - 1, certificate)
        calls = reward_system_calls(chain, sets, height, extra_data)
        assert bool(calls) == is_first_block_of_epoch(height, EPOCH)
        built = chain.build_block([], timestamp=chain.head.timestamp + 1, extra_data=extra_data,
                                  system_calls=calls)
        # Validators 0 and 1 sign every block; validator 2 only the first two.
        who = signers[:3] if height <= 2 else signers[:2]
        certificate = build_commit_certificate(height, 0, built.block.hash, [
            s.sign_vote(Vote(VoteType.PRECOMMIT, height, 0, built.block.hash)) for s in who])
    assert calls
    rewards = [_rewards_of(chain, a.address) for a in dev_accounts[:3]]
    # 4 + 4 + 2 = 10 blocks signed in epoch 0, read back from the blocks' signer bitmaps.
    assert rewards == [REWARD * 4 // 10, REWARD * 4 // 10, REWARD * 2 // 10]


def test_signer_bitmap_round_trips_in_address_order(chain, dev_accounts):
    sets = ValidatorSetStore(chain)
    validator_set = sets.for_height(1)
    ordered = sorted(validator_set.addresses)
    certificate = build_commit_certificate(1, 0, b"\x01" * 32, [])
    assert signer_bitmap(validator_set, None) == b""
    assert signers_from_bitmap(validator_set, signer_bitmap(validator_set, certificate)) == []
    signed = CommitCertificate(1, 0, b"\x01" * 32, tuple(sorted((a, b"\x00" * 65) for a in ordered[1:])))
    bitmap = signer_bitmap(validator_set, signed)
    assert bitmap == bytes([0b01100000]) and signers_from_bitmap(validator_set, bitmap) == ordered[1:]


def test_other_blocks_run_no_system_call(chain):
    sets = ValidatorSetStore(chain)
    assert reward_system_calls(chain, sets, 1, b"") == []
    assert reward_system_calls(chain, sets, EPOCH, b"") == []


def test_dev_validator_earns_and_claims_epoch_rewards(start_azora, tmp_path):
    from web3 import Web3

    from contracts.build import load_artifact
    node = start_azora("dev", "--datadir", str(tmp_path / "dev"))
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 120}))
    registry = w3.eth.contract(address=node.rpc("azora_nodeInfo")["result"]["contracts"]["ValidatorRegistry"],
                               abi=load_artifact("ValidatorRegistry")["abi"])
    validator = w3.to_checksum_address(node.rpc("azora_nodeInfo")["result"]["consensus"]["validator"])
    assert validator not in w3.eth.accounts        # the dev validator has its own key
    assert registry.functions.rewards(validator).call() == 0
    node.rpc("evm_mine", [{"blocks": hex(101)}])        # epoch 0 (blocks 1..100) and block 101
    assert w3.eth.block_number == 101
    earned = registry.functions.rewards(validator).call()
    assert earned == registry.functions.rewardPerEpoch().call()   # the lone validator signed all 100
    assert registry.functions.nextRewardEpoch().call() == 1
    before = w3.eth.get_balance(validator)
    receipt = w3.eth.wait_for_transaction_receipt(
        registry.functions.claimRewards(validator).transact({"from": w3.eth.accounts[1]}), timeout=60)
    assert receipt.status == 1
    # The coinbase is the validator too, so it also earned the claim's priority fee.
    assert w3.eth.get_balance(validator) >= before + earned
