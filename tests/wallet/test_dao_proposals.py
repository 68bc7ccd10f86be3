"""Proposal files and action encoding, in process (targets given as addresses need no node)."""
from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector

from wallet.dao_proposals import (
    MAX_ACTIONS, encode_calldata, encode_proposal, load_proposal_file, split_signature,
)
from wallet.dao_templates import Action, parse_param_pairs
from wallet.errors import UsageError, WalletError

TARGET = "0x98Ba4ba2633D8B56D0903CFb78616a00EB27906b"
NO_NODE = None   # every target and address argument below is a 0x address: no node is asked


def test_a_yaml_file_with_an_unquoted_address_and_a_fractional_value(tmp_path):
    # YAML reads an unquoted 0x address as a number; it still names the same account
    (tmp_path / "p.yaml").write_text(
        "description: Pay a grant\n"
        "actions:\n"
        f"  - target: {TARGET.lower()}\n"
        "    function: ''\n"
        "    value: 1.5\n"
        f"  - target: '{TARGET}'\n"
        "    function: transfer(address, uint256)\n"
        f"    args: [{TARGET.lower()}, 0x10]\n")
    description, actions = load_proposal_file(tmp_path / "p.yaml")
    proposal = encode_proposal(description, actions, NO_NODE)
    assert proposal.targets == [TARGET, TARGET] and proposal.values == [1_500_000_000_000_000_000, 0]
    assert proposal.calldatas[0] == b""
    assert proposal.calldatas[1] == function_signature_to_4byte_selector("transfer(address,uint256)") + \
        abi_encode(["address", "uint256"], [TARGET, 16])


@pytest.mark.parametrize("signature, words", [
    ("setVotingPeriod", "is not a signature"),
    ("submit((address,bytes32),bytes[])", "tuple arguments are not supported"),
    ("1bad(uint256)", "is not a signature"),
])
def test_invalid_signatures_are_named(signature, words):
    with pytest.raises(WalletError, match=words.replace("(", r"\(")):
        split_signature(signature)


@pytest.mark.parametrize("signature, args, words", [
    ("setVotingPeriod(uint256)", [1, 2], "takes 1 arguments, 2 given"),
    ("setVotingPeriod(uint256)", ["thirty"], "is not a whole number"),
    ("setVotingPeriod(uint8)", [300], "cannot encode"),
    ("setIssuer(address,bool)", [TARGET, "yes"], "is not true or false"),
    ("setIssuer(address,bool)", [TARGET.lower()[:-1] + "A", True], "checksum"),
    ("setValidatorCourse(bytes32)", ["abc"], "is not 0x hex"),
    ("", [1], "takes no arguments"),
])
def test_invalid_arguments_are_named(signature, args, words):
    with pytest.raises(WalletError, match=words):
        encode_calldata(signature, args, NO_NODE)


def test_invalid_proposal_bounds_are_the_governors():
    one = Action(TARGET, "setVotingPeriod(uint256)", (30,))
    with pytest.raises(WalletError, match="needs a description"):
        encode_proposal("  ", [one], NO_NODE)
    with pytest.raises(WalletError, match="1 to 16 actions"):
        encode_proposal("too many", [one] * (MAX_ACTIONS + 1), NO_NODE)
    with pytest.raises(WalletError, match="the Governor takes 2048"):
        encode_proposal("x" * 2049, [one], NO_NODE)
    with pytest.raises(WalletError, match="exceeds the Governor's 1024"):
        encode_proposal("long", [Action(TARGET, "f(string)", ("x" * 1100,))], NO_NODE)


@pytest.mark.parametrize("text, words", [
    ("description: x\n", "needs a description and a list of actions"),
    ("actions: []\n", "needs a description"),
    ("description: x\nactions: [{target: Governor}]\n", "action 1: needs target and function"),
    ("description: x\nactions: [{target: Governor, function: 'f()', args: 3}]\n", "args must be a list"),
    ("description: x\nactions: [{target: Governor, function: 'f()', value: -1}]\n", "must be a positive number"),
    ("description: [unclosed\n", "is not valid YAML"),
])
def test_invalid_proposal_files_are_named(tmp_path, text, words):
    (tmp_path / "p.yaml").write_text(text)
    with pytest.raises(WalletError, match=words):
        load_proposal_file(tmp_path / "p.yaml")


def test_param_pairs_keep_equals_signs_in_values():
    assert parse_param_pairs(["title=a=b", "min-score=9000"]) == {"title": "a=b", "min_score": "9000"}
    with pytest.raises(UsageError, match="NAME=VALUE"):
        parse_param_pairs(["quorum"])
