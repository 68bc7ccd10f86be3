"""Answers where geth errors and Azora did not: each case as geth words it, on a real chain.

eth_getLogs past the head, eth_getStorageValues with nothing asked, eth_signTypedData_v4 with
typed data that does not fit its types (web3.py's own test expects geth's message), and
eth_config's deposit contract from the genesis config.
"""
from __future__ import annotations

import copy
from typing import Any

import pytest

from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from node.accounts import ManagedAccounts
from node.backend import Backend
from node.context import NodeContext
from node.dev import DevSigningAPI
from node.rpc.errors import RpcError
from node.rpc.eth import EthAPI
from node.rpc.extra import EthExtraAPI

CHAIN_ID = 1337
DEPOSIT_CONTRACT = "0x" + "de" * 20
MAIL = {
    "types": {
        "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                         {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
        "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
        "Mail": [{"name": "from", "type": "Person"}, {"name": "to", "type": "Person"},
                 {"name": "contents", "type": "string"}],
    },
    "primaryType": "Mail",
    "domain": {"name": "Ether Mail", "version": "1", "chainId": "0x01",
               "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
    "message": {"from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
                "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
                "contents": "Hello, Bob!"},
}


@pytest.fixture(scope="module")
def backend(tmp_path_factory, dev_accounts):
    alloc = {a.address: {"balance": hex(10**24)} for a in dev_accounts}
    genesis = Genesis.from_json({"config": {"chainId": CHAIN_ID, "depositContractAddress": DEPOSIT_CONTRACT},
                                 "alloc": alloc, "timestamp": "0x1",
                                 "azora": {"oracles": {"members": [dev_accounts[9].address], "quorum": 1}}})
    db = LevelDB(tmp_path_factory.mktemp("errors") / "db")
    chain = Chain(db, genesis)
    chain.build_block([], timestamp=2)
    backend = Backend(chain)
    yield backend
    backend.decoder.close()
    db.close()


def rpc_error(call: Any) -> tuple[int, str]:
    with pytest.raises(RpcError) as error:
        call()
    return error.value.code, error.value.message


def test_get_logs_past_the_head_is_invalid_params(backend):
    eth = EthAPI(backend, NodeContext())
    head = backend.view.head.block_number
    beyond = (-32602, "block range extends beyond current head block")
    assert rpc_error(lambda: eth.getLogs({"fromBlock": "0x0", "toBlock": hex(head + 5)})) == beyond
    assert rpc_error(lambda: eth.getLogs({"fromBlock": hex(head + 1)})) == beyond
    assert eth.getLogs({"fromBlock": "0x0", "toBlock": hex(head)}) == []


def test_get_storage_values_with_nothing_asked_is_invalid_params(backend):
    eth = EthAPI(backend, NodeContext())
    assert rpc_error(lambda: eth.getStorageValues({}, "latest")) == (-32602, "empty request")


def test_sign_typed_data_refuses_data_that_does_not_fit_its_types(backend, dev_accounts):
    signer = DevSigningAPI(backend, ManagedAccounts(dev_accounts))
    address = dev_accounts[0].address
    assert signer.signTypedData_v4(address, MAIL).startswith("0x")
    # web3.py's test_invalid_eth_sign_typed_data: a fixed-size array given the wrong length.
    wrong_length = copy.deepcopy(MAIL)
    wrong_length["types"]["Mail"][1]["type"] = "Person[2]"
    wrong_length["message"]["to"] = [wrong_length["message"]["to"]]
    code, message = rpc_error(lambda: signer.signTypedData_v4(address, wrong_length))
    assert "Expected 2 items for array type Person[2], got 1 items" in message
    unknown_primary = {**MAIL, "primaryType": "Letter"}
    assert "primary type" in rpc_error(lambda: signer.signTypedData_v4(address, unknown_primary))[1]
    missing_field = copy.deepcopy(MAIL)
    del missing_field["message"]["contents"]
    assert "contents" in rpc_error(lambda: signer.signTypedData_v4(address, missing_field))[1]
    undefined_type = copy.deepcopy(MAIL)
    undefined_type["types"]["Mail"][2]["type"] = "Letter"
    assert "Letter" in rpc_error(lambda: signer.signTypedData_v4(address, undefined_type))[1]


def test_eth_config_reports_the_deposit_contract_of_the_genesis_config(backend):
    config = EthExtraAPI(backend).config()
    assert config["current"]["systemContracts"]["DEPOSIT_CONTRACT_ADDRESS"] == DEPOSIT_CONTRACT


@pytest.mark.parametrize("value", ["0x", "0x00", "0xAbCd", "0x" + "ab" * 200])
def test_hex_data_is_0x_and_whole_bytes_of_hex_digits(value):
    from node.rpc.hexcodec import parse_data
    assert parse_data(value) == bytes.fromhex(value[2:])


@pytest.mark.parametrize("value", ["", "0x1", "0X12", "12", "0x12 34", "0x12\n", "0x 12", "0xzz", "0x１２",
                                   None, 12, b"0x12"])
def test_anything_else_is_not_hex_data(value):
    from node.rpc.hexcodec import parse_data
    with pytest.raises(RpcError) as raised:
        parse_data(value, "transaction")
    assert raised.value.code == -32602 and "transaction must be hex data" in raised.value.message
