"""Every LevelDB key Azora adds beside py-evm's own (``eth.db.schema.SchemaV1``)."""
from __future__ import annotations

GENESIS_HASH = b"azora:genesis-hash"
SYSTEM_CONTRACTS = b"azora:system-contracts"
LOG_BY_ADDRESS = b"azora:log:a:"
LOG_BY_TOPIC = b"azora:log:t:"


def make_block_senders_key(block_hash: bytes) -> bytes:
    """Recovered senders of a block's transactions, concatenated 20-byte addresses."""
    return b"azora:senders:" + block_hash


def make_block_logs_key(block_hash: bytes) -> bytes:
    """A block's logs with their transaction hashes and its timestamp (``kernel.block_logs``)."""
    return b"azora:logs:" + block_hash


def make_commit_key(block_hash: bytes) -> bytes:
    """The commit certificate (RLP) that finalised a block."""
    return b"azora:commit:" + block_hash


def make_validator_set_key(height: int) -> bytes:
    """The validator set (RLP) that signs block ``height``, derived from ValidatorRegistry."""
    return make_meta_key(f"validators:{height}")


def make_log_address_key(address: bytes, block_number: int) -> bytes:
    return LOG_BY_ADDRESS + address + block_number.to_bytes(8, "big")


def make_log_topic_key(topic: bytes, block_number: int) -> bytes:
    return LOG_BY_TOPIC + topic + block_number.to_bytes(8, "big")


def make_meta_key(name: str) -> bytes:
    """Small node-level records (dev-chain time offset, snapshots, ...)."""
    return b"azora:meta:" + name.encode()
