"""Blobs (EIP-4844): a chain's blob parameters and rules, and transactions in network form.

A fork's :class:`BlobSchedule` (geth's ``blobSchedule`` entry: target, max,
baseFeeUpdateFraction) decides the excess blob gas of each header, the blobs a block may carry
and the blob base fee; the functions here compute them as geth's ``eip4844`` package does, for
the VMs :mod:`kernel.vm` builds per chain.

Clients send a type-3 transaction as ``0x03 || rlp([tx_payload_body, blobs, commitments,
proofs])``; blocks carry only ``0x03 || rlp(tx_payload_body)``, whose hash is the
transaction's. Each commitment must hash to its versioned hash and every blob must match its
commitment by its KZG proof, checked with the trusted setup loaded once for the process (the
same one the point-evaluation precompile uses).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Sequence

import ckzg
import eth.precompiles.point_evaluation as point_evaluation
import rlp
from eth.abc import BlockHeaderAPI, SignedTransactionAPI, TransactionFieldsAPI
from eth_utils import ValidationError

BLOB_TX_TYPE = 3
VERSIONED_HASH_VERSION_KZG = b"\x01"
GAS_PER_BLOB = 2**17
MIN_BASE_FEE_PER_BLOB_GAS = 1


# -- blob parameters and rules ------------------------------------------------------------

@dataclass(frozen=True)
class BlobSchedule:
    """A fork's blob parameters (EIP-4844, raised by EIP-7691), as geth's ``blobSchedule``."""

    target: int
    max: int
    base_fee_update_fraction: int

    @property
    def target_blob_gas_per_block(self) -> int:
        return self.target * GAS_PER_BLOB

    @property
    def max_blob_gas_per_block(self) -> int:
        return self.max * GAS_PER_BLOB


def fake_exponential(factor: int, numerator: int, denominator: int) -> int:
    """EIP-4844's integer approximation of ``factor * e ** (numerator / denominator)``."""
    i, output, accumulator = 1, 0, factor * denominator
    while accumulator > 0:
        output += accumulator
        accumulator = (accumulator * numerator) // (denominator * i)
        i += 1
    return output // denominator


def compute_base_fee_per_blob_gas(excess_blob_gas: int, schedule: BlobSchedule) -> int:
    """The blob base fee of a block with ``excess_blob_gas`` under ``schedule``'s fork."""
    return fake_exponential(MIN_BASE_FEE_PER_BLOB_GAS, excess_blob_gas, schedule.base_fee_update_fraction)


def parent_blob_gas(parent: BlockHeaderAPI) -> tuple[int, int]:
    """(excess blob gas, blob gas used) of ``parent``; (0, 0) before Cancun, as geth reads a nil field."""
    try:
        return parent.excess_blob_gas, parent.blob_gas_used
    except AttributeError:
        return 0, 0


def compute_excess_blob_gas(parent: BlockHeaderAPI, schedule: BlobSchedule) -> int:
    """The excess blob gas of ``parent``'s child, whose fork's schedule is ``schedule``."""
    excess, used = parent_blob_gas(parent)
    return max(0, excess + used - schedule.target_blob_gas_per_block)


def blob_count(transaction: TransactionFieldsAPI) -> int:
    """The blobs ``transaction`` carries (none unless it is a blob transaction)."""
    if getattr(transaction, "type_id", None) != BLOB_TX_TYPE:
        return 0
    return len(transaction.blob_versioned_hashes)


def get_total_blob_gas(transaction: TransactionFieldsAPI) -> int:
    return blob_count(transaction) * GAS_PER_BLOB


def validate_block_blob_gas(header: BlockHeaderAPI, parent: BlockHeaderAPI,
                            transactions: Sequence[SignedTransactionAPI], schedule: BlobSchedule) -> None:
    """Verify a block's blob fields under ``schedule`` (geth's VerifyEIP4844Header and the
    blob part of ValidateBody, with their messages); raises ``ValidationError``."""
    # Verify that the excess blob gas follows from the parent's under this fork's target.
    expected = compute_excess_blob_gas(parent, schedule)
    if header.excess_blob_gas != expected:
        parent_excess, parent_used = parent_blob_gas(parent)
        raise ValidationError(f"invalid excessBlobGas: have {header.excess_blob_gas}, want {expected}, "
                              f"parent excessBlobGas {parent_excess}, parent blobDataUsed {parent_used}")
    # Verify that the header's blob gas is within this fork's maximum.
    if header.blob_gas_used > schedule.max_blob_gas_per_block:
        raise ValidationError(f"blob gas used {header.blob_gas_used} exceeds maximum allowance "
                              f"{schedule.max_blob_gas_per_block}")
    # Verify that the body's blobs are the ones the header counts.
    used = sum(get_total_blob_gas(tx) for tx in transactions)
    if header.blob_gas_used != used:
        raise ValidationError(f"blob gas used mismatch (header {header.blob_gas_used}, calculated {used})")


# -- transactions in network form ---------------------------------------------------------

class BlobSidecarError(ValueError):
    """A sidecar that does not prove the transaction's blobs; the message is geth's wording."""


@dataclass(frozen=True)
class BlobSidecar:
    blobs: tuple[bytes, ...]
    commitments: tuple[bytes, ...]
    proofs: tuple[bytes, ...]


def trusted_setup() -> Any:
    """The KZG trusted setup, loaded on first use and kept (kernel.vm caches the loader)."""
    import kernel.vm  # noqa: F401  (it makes the precompile's setup loader load once; kernel.vm imports this module)
    return point_evaluation.load_trusted_setup(point_evaluation.TRUSTED_SETUP_PATH, 0)


def split_network_form(raw: bytes) -> tuple[bytes, BlobSidecar] | None:
    """(the transaction as blocks carry it, its sidecar) if ``raw`` is the network form, else None."""
    if not raw or raw[0] != BLOB_TX_TYPE:
        return None
    try:
        payload = rlp.decode(raw[1:])
    except rlp.DecodingError:
        return None
    if not isinstance(payload, list) or not payload or not isinstance(payload[0], list):
        return None     # the canonical form: its first field is the chain id, not a list
    if len(payload) == 5 and payload[1] == b"\x01":
        # EIP-7594's wrapper (cell proofs) belongs to Osaka, which this node does not run.
        raise BlobSidecarError("blob sidecar version 1 (cell proofs) is not accepted before Osaka")
    if len(payload) != 4 or not all(isinstance(part, list) for part in payload[1:]):
        raise BlobSidecarError("rlp: blob transaction wrapper must be [tx, blobs, commitments, proofs]")
    body, blobs, commitments, proofs = payload
    return bytes([BLOB_TX_TYPE]) + rlp.encode(body), BlobSidecar(tuple(blobs), tuple(commitments), tuple(proofs))


def kzg_to_versioned_hash(commitment: bytes) -> bytes:
    return VERSIONED_HASH_VERSION_KZG + hashlib.sha256(commitment).digest()[1:]


def verify_sidecar(versioned_hashes: Sequence[bytes], sidecar: BlobSidecar) -> None:
    """Raise :class:`BlobSidecarError` unless ``sidecar`` proves the transaction's blobs."""
    counts = {len(versioned_hashes), len(sidecar.blobs), len(sidecar.commitments), len(sidecar.proofs)}
    if len(counts) != 1:
        raise BlobSidecarError(
            f"invalid number of {len(sidecar.blobs)} blobs compared to {len(versioned_hashes)} blob hashes")
    for index, (wanted, commitment) in enumerate(zip(versioned_hashes, sidecar.commitments)):
        if kzg_to_versioned_hash(commitment) != bytes(wanted):
            raise BlobSidecarError(f"blob {index}: computed hash does not match the versioned hash")
    try:
        valid = ckzg.verify_blob_kzg_proof_batch(b"".join(sidecar.blobs), b"".join(sidecar.commitments),
                                                 b"".join(sidecar.proofs), trusted_setup())
    except (RuntimeError, ValueError) as exc:
        raise BlobSidecarError(f"invalid blob proof: {exc}") from None
    if not valid:
        raise BlobSidecarError("invalid blob proof")


__all__ = ["BlobSchedule", "BlobSidecar", "BlobSidecarError", "blob_count", "compute_base_fee_per_blob_gas",
           "compute_excess_blob_gas", "split_network_form", "trusted_setup", "validate_block_blob_gas",
           "verify_sidecar"]
