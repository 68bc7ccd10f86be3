"""The EIP-712 `Completion` the oracles sign, exactly as contracts/ProofOfKnowledge.vy hashes it.

Domain {name: "Azora Proof of Knowledge", version: "1", chainId, verifyingContract}; struct
Completion(address learner,bytes32 courseId,uint32 courseVersion,uint16 score,uint64 completedAt,
bytes32 evidenceHash,uint64 oracleSetVersion,uint64 deadline). Signatures are 65-byte r||s||v
with v in {27, 28} and low s, as the contract (snekmate's ecdsa) accepts them.
"""
from __future__ import annotations

from dataclasses import astuple, dataclass
from functools import cached_property
from typing import Any, Iterable, Mapping

from eth_abi import encode
from eth_keys import keys
from eth_keys.exceptions import BadSignature
from eth_utils import keccak, to_checksum_address

DOMAIN_NAME = "Azora Proof of Knowledge"
DOMAIN_VERSION = "1"
COMPLETION_TYPE = (
    "Completion(address learner,bytes32 courseId,uint32 courseVersion,uint16 score,"
    "uint64 completedAt,bytes32 evidenceHash,uint64 oracleSetVersion,uint64 deadline)"
)
COMPLETION_TYPEHASH = keccak(text=COMPLETION_TYPE)
COMPLETION_ABI_TYPES = ("address", "bytes32", "uint32", "uint16", "uint64", "bytes32", "uint64", "uint64")
DOMAIN_TYPEHASH = keccak(
    text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True)
class Domain:
    """Where a signature is valid: one chain, one ProofOfKnowledge contract."""

    chain_id: int
    contract: str

    @cached_property
    def separator(self) -> bytes:
        return keccak(encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [DOMAIN_TYPEHASH, keccak(text=DOMAIN_NAME), keccak(text=DOMAIN_VERSION), self.chain_id,
             self.contract],
        ))


@dataclass(frozen=True)
class Completion:
    learner: str
    course_id: bytes
    course_version: int
    score: int
    completed_at: int
    evidence_hash: bytes
    oracle_set_version: int
    deadline: int

    def as_abi(self) -> tuple[Any, ...]:
        """The tuple web3.py passes for the contract's `Completion` struct."""
        return astuple(self)

    def to_json(self) -> dict[str, Any]:
        return {"learner": self.learner, "courseId": "0x" + self.course_id.hex(),
                "courseVersion": self.course_version, "score": self.score,
                "completedAt": self.completed_at, "evidenceHash": "0x" + self.evidence_hash.hex(),
                "oracleSetVersion": self.oracle_set_version, "deadline": self.deadline}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Completion":
        return cls(to_checksum_address(data["learner"]), bytes.fromhex(data["courseId"][2:]),
                   int(data["courseVersion"]), int(data["score"]), int(data["completedAt"]),
                   bytes.fromhex(data["evidenceHash"][2:]), int(data["oracleSetVersion"]),
                   int(data["deadline"]))


def compute_struct_hash(completion: Completion) -> bytes:
    """The claim key the contract records: keccak(abi.encode(TYPEHASH, fields...)).

    Every field is a static type, so the encoding is one 32-byte word each, written here
    directly: eth_abi's general encoder cost more than the hash, once per signature made or
    checked (tests compare both)."""
    c = completion
    return keccak(b"".join((
        COMPLETION_TYPEHASH, bytes.fromhex(c.learner[2:]).rjust(32, b"\0"), _bytes32(c.course_id),
        _word(c.course_version, 32), _word(c.score, 16), _word(c.completed_at, 64), _bytes32(c.evidence_hash),
        _word(c.oracle_set_version, 64), _word(c.deadline, 64))))


def _word(value: int, bits: int) -> bytes:
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{value} is not a uint{bits}")
    return value.to_bytes(32, "big")


def _bytes32(value: bytes) -> bytes:
    if len(value) != 32:
        raise ValueError("not 32 bytes")
    return value


def compute_digest(completion: Completion, domain: Domain) -> bytes:
    """keccak256(0x1901 || domainSeparator || structHash): what each oracle signs."""
    return keccak(b"\x19\x01" + domain.separator + compute_struct_hash(completion))


def sign_digest(private_key: bytes, digest: bytes) -> bytes:
    """65-byte r||s||v, v in {27, 28}; eth-keys signs with low s (RFC 6979, canonical)."""
    sig = keys.PrivateKey(private_key).sign_msg_hash(digest)
    assert is_low_s(sig.s)
    return sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v + 27])


def is_low_s(s: int) -> bool:
    return 0 < s <= SECP256K1_N // 2


def recover_signer(digest: bytes, signature: bytes) -> str | None:
    """The address that made `signature` over `digest`, or None if it is not a valid
    contract-acceptable signature (65 bytes, v 27/28, low s)."""
    if len(signature) != 65 or signature[64] not in (27, 28):
        return None
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")
    if not is_low_s(s) or not 0 < r < SECP256K1_N:
        return None
    try:
        public = keys.Signature(vrs=(signature[64] - 27, r, s)).recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValueError):
        return None
    return public.to_checksum_address()


def order_signatures(signatures: Mapping[str, bytes], quorum: int) -> list[bytes]:
    """The first `quorum` signatures in ascending signer order, as `submit` requires."""
    signers = sorted(signatures, key=lambda address: int(address, 16))[:quorum]
    return [signatures[s] for s in signers]


def submitter_rank(me: str, committee: Iterable[str], struct_hash: bytes) -> int:
    """0 for the member that submits a claim first; r waits r grace periods before trying.

    The primary rotates with the claim key so the committee shares the gas.
    """
    members = sorted(committee, key=lambda address: int(address, 16))
    if me not in members:
        return len(members)
    start = int.from_bytes(struct_hash, "big") % len(members)
    return (members.index(me) - start) % len(members)
