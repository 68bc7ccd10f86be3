"""eth_call and eth_estimateGas ignore the call object's ``nonce`` as geth does (ethers 6 sends
one; a stale or future nonce made them fail with "nonce too low ... Expected 6, but got 153")."""
from __future__ import annotations

# Returns CALLER's nonce-free answer 42: PUSH1 42 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
RUNTIME = "602a60005260206000f3"
# Copies RUNTIME into memory and returns it as the contract's code.
INIT = "0x600a600c600039600a6000f3" + RUNTIME


def test_call_and_estimate_ignore_a_nonce_too_high_or_too_low(w3, dev_node):
    sender = w3.eth.accounts[2]
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": sender, "data": INIT}), timeout=30)
    contract = receipt.contractAddress
    nonce = w3.eth.get_transaction_count(sender)
    assert nonce >= 1
    for stale in (nonce + 147, 0):
        call = {"from": sender, "to": contract, "nonce": hex(stale)}
        reply = dev_node.rpc("eth_call", [call, "latest"])
        assert reply.get("result") == "0x" + (42).to_bytes(32, "big").hex(), reply
        reply = dev_node.rpc("eth_estimateGas", [call])
        assert "result" in reply and int(reply["result"], 16) > 21_000, reply
        # A creation's estimate too (ethers estimates the deploy right after the previous one).
        reply = dev_node.rpc("eth_estimateGas", [{"from": sender, "data": INIT, "nonce": hex(stale)}])
        assert "result" in reply, reply
