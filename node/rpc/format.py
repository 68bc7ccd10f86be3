"""Chain objects shaped as geth answers them: hex quantities, lower-case hex data, nulls."""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence, cast

import rlp
from eth.abc import (
    BlockAPI, BlockHeaderAPI, LegacyTransactionFieldsAPI, LogAPI, ReceiptAPI, SignedTransactionAPI,
)
from eth_utils import keccak

from kernel.forks import GAS_PER_BLOB
from node.rpc.hexcodec import data, quantity

ZERO_ADDRESS = b"\0" * 20
BLOB_TX_TYPE = 3


def format_header(header: BlockHeaderAPI) -> dict[str, Any]:
    out: dict[str, Any] = {
        "hash": data(header.hash),
        "parentHash": data(header.parent_hash),
        "sha3Uncles": data(header.uncles_hash),
        "miner": data(header.coinbase),
        "stateRoot": data(header.state_root),
        "transactionsRoot": data(header.transaction_root),
        "receiptsRoot": data(header.receipt_root),
        "logsBloom": data(header.bloom.to_bytes(256, "big")),
        "difficulty": quantity(header.difficulty),
        "number": quantity(header.block_number),
        "gasLimit": quantity(header.gas_limit),
        "gasUsed": quantity(header.gas_used),
        "timestamp": quantity(header.timestamp),
        "extraData": data(header.extra_data),
        "mixHash": data(header.mix_hash),
        "nonce": data(header.nonce),
    }
    optional = (("base_fee_per_gas", "baseFeePerGas", quantity),
                ("withdrawals_root", "withdrawalsRoot", data),
                ("blob_gas_used", "blobGasUsed", quantity),
                ("excess_blob_gas", "excessBlobGas", quantity),
                ("parent_beacon_block_root", "parentBeaconBlockRoot", data),
                ("requests_hash", "requestsHash", data))
    for attr, key, encode in optional:
        value = getattr(header, attr, None)
        if value is not None:
            out[key] = encode(value)
    return out


def format_block(block: BlockAPI, senders: Sequence[bytes], full: bool) -> dict[str, Any]:
    out = format_header(block.header)
    out["size"] = quantity(len(rlp.encode(block)))
    if full:
        out["transactions"] = [
            format_transaction(tx, sender, block.header, index)
            for index, (tx, sender) in enumerate(zip(block.transactions, senders))]
    else:
        out["transactions"] = [data(tx.hash) for tx in block.transactions]
    out["uncles"] = [data(uncle.hash) for uncle in block.uncles]
    withdrawals = getattr(block, "withdrawals", None)
    if withdrawals is not None and "withdrawalsRoot" in out:
        out["withdrawals"] = [
            {"index": quantity(w.index), "validatorIndex": quantity(w.validator_index),
             "address": data(w.address), "amount": quantity(w.amount)} for w in withdrawals]
    return out


def tx_type(tx: SignedTransactionAPI) -> int:
    return getattr(tx, "type_id", None) or 0


def effective_gas_price(tx: SignedTransactionAPI, base_fee: int | None) -> int:
    if tx_type(tx) == 0 or base_fee is None:
        return tx.gas_price
    return min(tx.max_fee_per_gas, base_fee + tx.max_priority_fee_per_gas)


def format_transaction(tx: SignedTransactionAPI, sender: bytes,
                       header: BlockHeaderAPI | None, index: int | None) -> dict[str, Any]:
    kind = tx_type(tx)
    out: dict[str, Any] = {
        "blockHash": data(header.hash) if header else None,
        "blockNumber": quantity(header.block_number) if header else None,
        "blockTimestamp": quantity(header.timestamp) if header else None,   # geth 1.16, spec
        "from": data(sender),
        "gas": quantity(tx.gas),
        "hash": data(tx.hash),
        "input": data(tx.data),
        "nonce": quantity(tx.nonce),
        "to": data(tx.to) if tx.to else None,
        "transactionIndex": quantity(index) if index is not None else None,
        "value": quantity(tx.value),
        "type": quantity(kind),
    }
    base_fee = getattr(header, "base_fee_per_gas", None) if header else None
    if kind == 0:
        out["gasPrice"] = quantity(tx.gas_price)
        out["v"] = quantity(cast(LegacyTransactionFieldsAPI, tx).v)   # type 0: a legacy transaction
        chain_id = getattr(tx, "chain_id", None)
        if chain_id is not None:
            out["chainId"] = quantity(chain_id)
    else:
        out["chainId"] = quantity(tx.chain_id or 0)   # never None: typed transactions carry one
        out["accessList"] = format_access_list(tx.access_list)
        if kind == 1:
            out["gasPrice"] = quantity(tx.gas_price)
        else:
            out["maxFeePerGas"] = quantity(tx.max_fee_per_gas)
            out["maxPriorityFeePerGas"] = quantity(tx.max_priority_fee_per_gas)
            # Pending: the fee cap, as geth reports it; mined: what was paid.
            out["gasPrice"] = quantity(effective_gas_price(tx, base_fee) if header else tx.max_fee_per_gas)
        if kind == BLOB_TX_TYPE:
            out["maxFeePerBlobGas"] = quantity(tx.max_fee_per_blob_gas)
            out["blobVersionedHashes"] = [data(h) for h in tx.blob_versioned_hashes]
        if kind == 4:
            out["authorizationList"] = [
                {"chainId": quantity(a.chain_id), "address": data(a.address),
                 "nonce": quantity(a.nonce), "yParity": quantity(a.y_parity),
                 "r": quantity(a.r), "s": quantity(a.s)} for a in tx.authorization_list]
        out["v"] = quantity(tx.y_parity)
        out["yParity"] = quantity(tx.y_parity)
    out["r"] = quantity(tx.r)
    out["s"] = quantity(tx.s)
    return out


def format_access_list(access_list: Sequence[tuple[bytes, Sequence[int]]]) -> list[dict[str, Any]]:
    return [{"address": data(address), "storageKeys": [data(k.to_bytes(32, "big")) for k in keys]}
            for address, keys in access_list]


def contract_address(sender: bytes, nonce: int) -> bytes:
    return keccak(rlp.encode([sender, nonce]))[12:]


class BlockFacts(NamedTuple):
    """What every receipt of a block repeats."""
    hash: bytes
    number: int
    timestamp: int
    blob_gas_price: int | None


class ReceiptFacts(NamedTuple):
    """A receipt's values before they are shaped: plain bytes and ints, cheap to read from the
    executed objects and to pickle, so the node can hand a new block's receipts to its RPC
    gateway and leave their formatting (~40 µs each with the JSON) to the gateway."""
    tx_hash: bytes
    tx_index: int
    sender: bytes
    to: bytes                  # empty: a contract creation
    nonce: int
    type: int
    effective_gas_price: int
    cumulative_gas: int
    gas_used: int
    state_root: bytes          # the status byte, or before Byzantium the state root after it
    bloom: int
    logs: tuple[tuple[bytes, tuple[int, ...], bytes], ...]   # (address, topics, data)
    first_log_index: int
    blob_gas: int | None       # blob transactions only


def receipt_facts(block: BlockAPI, receipts: Sequence[ReceiptAPI], senders: Sequence[bytes],
                  blob_gas_price: int | None = None) -> tuple[BlockFacts, list[ReceiptFacts]]:
    """A block's receipts as :func:`shape_receipt` takes them (gas used per transaction is a
    difference of cumulative gas)."""
    header = block.header
    base_fee = getattr(header, "base_fee_per_gas", None)
    out = []
    previous_gas = 0
    log_index = 0
    for index, (tx, receipt, sender) in enumerate(zip(block.transactions, receipts, senders)):
        cumulative = receipt.gas_used
        kind = tx_type(tx)
        logs = tuple((log.address, tuple(log.topics), log.data) for log in receipt.logs)
        out.append(ReceiptFacts(
            tx.hash, index, sender, tx.to, tx.nonce, kind, effective_gas_price(tx, base_fee), cumulative,
            cumulative - previous_gas, receipt.state_root, receipt.bloom, logs, log_index,
            len(tx.blob_versioned_hashes) * GAS_PER_BLOB if kind == BLOB_TX_TYPE else None))
        previous_gas = cumulative
        log_index += len(logs)
    return BlockFacts(header.hash, header.block_number, header.timestamp, blob_gas_price), out


def shape_receipt(block: BlockFacts, facts: ReceiptFacts) -> dict[str, Any]:
    """A receipt as geth answers it. Before Byzantium a receipt holds the state root after its
    transaction, not a status: geth then answers ``root`` and no ``status``. Blob transactions'
    receipts add their blob gas and the block's ``blob_gas_price``."""
    logs = [log_object(address, [t.to_bytes(32, "big") for t in topics], log_data, block.number, block.hash,
                       block.timestamp, facts.tx_hash, facts.tx_index, facts.first_log_index + offset)
            for offset, (address, topics, log_data) in enumerate(facts.logs)]
    shaped = {
        "blockHash": data(block.hash),
        "blockNumber": quantity(block.number),
        "contractAddress": data(contract_address(facts.sender, facts.nonce)) if not facts.to else None,
        "cumulativeGasUsed": quantity(facts.cumulative_gas),
        "effectiveGasPrice": quantity(facts.effective_gas_price),
        "from": data(facts.sender),
        "gasUsed": quantity(facts.gas_used),
        "logs": logs,
        "logsBloom": data(facts.bloom.to_bytes(256, "big")),
        "to": data(facts.to) if facts.to else None,
        "transactionHash": data(facts.tx_hash),
        "transactionIndex": quantity(facts.tx_index),
        "type": quantity(facts.type),
    }
    if len(facts.state_root) == 32:
        shaped["root"] = data(facts.state_root)
    else:
        shaped["status"] = quantity(1 if facts.state_root == b"\x01" else 0)
    if facts.blob_gas is not None:
        shaped["blobGasUsed"] = quantity(facts.blob_gas)
        shaped["blobGasPrice"] = quantity(block.blob_gas_price or 0)
    return dict(sorted(shaped.items()))


def format_log(log: LogAPI, header: BlockHeaderAPI, tx_hash: bytes, tx_index: int,
               log_index: int) -> dict[str, Any]:
    return log_object(log.address, [t.to_bytes(32, "big") for t in log.topics], log.data, header.block_number,
                      header.hash, header.timestamp, tx_hash, tx_index, log_index)


def log_object(address: bytes, topics: Sequence[bytes], log_data: bytes, block_number: int, block_hash: bytes,
               timestamp: int, tx_hash: bytes, tx_index: int, log_index: int) -> dict[str, Any]:
    """A log as JSON-RPC shows it (eth_getLogs, receipts, filters, subscriptions)."""
    return {
        "address": data(address),
        "topics": [data(topic) for topic in topics],
        "data": data(log_data),
        "blockNumber": quantity(block_number),
        "blockHash": data(block_hash),
        "blockTimestamp": quantity(timestamp),
        "transactionHash": data(tx_hash),
        "transactionIndex": quantity(tx_index),
        "logIndex": quantity(log_index),
        "removed": False,
    }
