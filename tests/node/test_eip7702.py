"""EIP-7702 through a real ``azora dev``: a delegation sets the designator, and a delegation
to the zero address clears the account's code (and both bump the authority's nonce)."""
from __future__ import annotations

CHAIN_ID = 1337
TARGET = "0x" + "33" * 20
ZERO = "0x" + "00" * 20


def delegate(dev_node, sender, authority, target: str) -> None:
    auth_nonce = int(dev_node.rpc("eth_getTransactionCount", [authority.address, "latest"])["result"], 16)
    nonce = int(dev_node.rpc("eth_getTransactionCount", [sender.address, "pending"])["result"], 16)
    authorization = authority.sign_authorization({"chainId": CHAIN_ID, "address": target, "nonce": auth_nonce})
    signed = sender.sign_transaction({
        "chainId": CHAIN_ID, "nonce": nonce, "to": sender.address, "value": 0, "gas": 100_000,
        "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "type": 4, "authorizationList": [authorization]})
    reply = dev_node.rpc("eth_sendRawTransaction", [signed.raw_transaction.to_0x_hex()])
    assert "error" not in reply, reply
    assert dev_node.wait_receipt(reply["result"])["status"] == "0x1"


def test_a_delegation_to_the_zero_address_clears_the_code(dev_node, dev_accounts):
    sender, authority = dev_accounts[7], dev_accounts[8]
    delegate(dev_node, sender, authority, TARGET)
    assert dev_node.rpc("eth_getCode", [authority.address, "latest"])["result"] == "0xef0100" + "33" * 20
    delegate(dev_node, sender, authority, ZERO)
    assert dev_node.rpc("eth_getCode", [authority.address, "latest"])["result"] == "0x"
    assert dev_node.rpc("eth_getTransactionCount", [authority.address, "latest"])["result"] == "0x2"
