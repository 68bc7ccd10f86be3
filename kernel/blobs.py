"""Blob transactions in their network form (EIP-4844): the sidecar split off and verified.

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

import kernel.vm  # noqa: F401  (it makes the precompile's setup loader load once)

BLOB_TX_TYPE = 3
VERSIONED_HASH_VERSION_KZG = b"\x01"


class BlobSidecarError(ValueError):
    """A sidecar that does not prove the transaction's blobs; the message is geth's wording."""


@dataclass(frozen=True)
class BlobSidecar:
    blobs: tuple[bytes, ...]
    commitments: tuple[bytes, ...]
    proofs: tuple[bytes, ...]


def trusted_setup() -> Any:
    """The KZG trusted setup, loaded on first use and kept (kernel.vm caches the loader)."""
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


__all__ = ["BlobSidecar", "BlobSidecarError", "split_network_form", "trusted_setup", "verify_sidecar"]
