"""Blob transactions in their network form (type 3 with blobs, commitments and proofs) on a
chain with a blob network: accepted with the sidecar verified (KZG) and kept beside the
pool; a sidecar that does not prove the blobs is refused; an Azora-native chain (no blob
network) refuses them with a clear error, not an RLP one."""
from __future__ import annotations

from typing import Any

import ckzg
import pytest
import rlp
from eth_utils import keccak

from kernel.blobs import kzg_to_versioned_hash, split_network_form, trusted_setup
from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from node.backend import Backend
from node.context import NodeContext
from node.rpc.errors import RpcError
from node.rpc.eth import EthAPI

CHAIN_ID = 3151908
BLOB = b"".join(b"\x00" + bytes([i % 251]) * 31 for i in range(4096))   # every element below the modulus
FORKS_AT_GENESIS = {key: 0 for key in (
    "homesteadBlock", "eip150Block", "eip155Block", "eip158Block", "byzantiumBlock", "constantinopleBlock",
    "petersburgBlock", "istanbulBlock", "berlinBlock", "londonBlock", "mergeNetsplitBlock",
    "terminalTotalDifficulty", "shanghaiTime", "cancunTime", "pragueTime")}
BLOB_SCHEDULE = {"cancun": {"target": 3, "max": 6, "baseFeeUpdateFraction": 3338477},
                 "prague": {"target": 6, "max": 9, "baseFeeUpdateFraction": 5007716}}


def backend_for(tmp_path, alice: str, config: dict[str, Any]) -> Backend:
    genesis = Genesis.from_json({"config": config, "alloc": {alice: {"balance": hex(10**24)}},
                                 "timestamp": "0x0", "gasLimit": "0x1c9c380", "difficulty": "0x0",
                                 "baseFeePerGas": "0x3b9aca00",
                                 **({} if "pragueTime" in config else
                                    {"azora": {"oracles": {"members": [alice], "quorum": 1}}})})
    return Backend(Chain(LevelDB(tmp_path / "db"), genesis, check_seal=False))


def network_form(account: Any, chain_id: int) -> bytes:
    """EIP-4844's wrapper, ``0x03 || rlp([tx, blobs, commitments, proofs])``, built with ckzg."""
    setup = trusted_setup()
    commitment = ckzg.blob_to_kzg_commitment(BLOB, setup)
    proof = ckzg.compute_blob_kzg_proof(BLOB, commitment, setup)
    canonical = bytes(account.sign_transaction({
        "chainId": chain_id, "nonce": 0, "to": "0x" + "11" * 20, "value": 1, "gas": 21000,
        "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "maxFeePerBlobGas": 10**9, "type": 3,
        "blobVersionedHashes": [kzg_to_versioned_hash(commitment)]}).raw_transaction)
    return b"\x03" + rlp.encode([rlp.decode(canonical[1:]), [BLOB], [commitment], [proof]])


@pytest.fixture
def blob_chain(tmp_path, dev_accounts):
    backend = backend_for(tmp_path, dev_accounts[0].address,
                          {"chainId": CHAIN_ID, **FORKS_AT_GENESIS, "blobSchedule": BLOB_SCHEDULE})
    yield backend
    backend.close()


def test_a_blob_transaction_in_network_form_is_verified_and_pooled_with_its_sidecar(blob_chain, dev_accounts):
    raw = network_form(dev_accounts[0], CHAIN_ID)
    canonical, sidecar = split_network_form(raw)
    eth = EthAPI(blob_chain, NodeContext())
    tx_hash = eth.sendRawTransaction("0x" + raw.hex())
    assert tx_hash == "0x" + keccak(canonical).hex()          # the hash blocks will carry
    assert blob_chain.blob_sidecars[bytes.fromhex(tx_hash[2:])] == sidecar
    pending = eth.getTransactionByHash(tx_hash)
    assert pending["type"] == "0x3" and len(pending["blobVersionedHashes"]) == 1
    # The pool's transaction goes into a block as any other.
    chain = blob_chain.chain
    block = chain.build_block(blob_chain.pool.select(blob_chain.next_base_fee()),
                              timestamp=chain.head.timestamp + 12).block
    assert ["0x" + tx.hash.hex() for tx in block.transactions] == [tx_hash]
    assert block.header.blob_gas_used == 2**17


def test_invalid_sidecar_proof_is_refused(blob_chain, dev_accounts):
    raw = bytearray(network_form(dev_accounts[0], CHAIN_ID))
    raw[-10] ^= 0x01                                          # inside the last proof
    with pytest.raises(RpcError, match="invalid blob proof"):
        EthAPI(blob_chain, NodeContext()).sendRawTransaction("0x" + bytes(raw).hex())
    assert blob_chain.pool.pending_count == 0


def test_invalid_blob_transaction_on_a_chain_without_a_blob_network(tmp_path, dev_accounts):
    backend = backend_for(tmp_path, dev_accounts[0].address, {"chainId": 1337})
    try:
        with pytest.raises(RpcError, match="blob transactions need a blob network"):
            EthAPI(backend, NodeContext()).sendRawTransaction("0x" + network_form(dev_accounts[0], 1337).hex())
    finally:
        backend.close()
