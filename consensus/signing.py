"""EIP-712 digests of consensus messages, signature recovery, and a local signer.

The scheme is fixed for the whole project; ``ValidatorRegistry.reportEquivocation`` verifies
votes on chain with exactly these digests:

* domain ``EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)``
  with name "Azora Consensus", version "1", and the ValidatorRegistry address;
* ``Vote(uint8 voteType,uint64 height,uint32 round,bytes32 blockHash)`` (nil = 32 zero bytes);
* ``Proposal(uint64 height,uint32 round,bytes32 blockHash,int32 polRound)``;
* signature = 65 bytes r || s || v with v in {27, 28} and low s (s <= n/2).

Everything except ``LocalSigner`` is a pure function. ``LocalSigner`` holds a private key and
belongs to the host (node/, tests): the state machine and driver never see it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import coincurve
from eth_utils import keccak

from consensus.types import NIL_HASH, Proposal, SignedProposal, SignedVote, Vote

DOMAIN_NAME = "Azora Consensus"
DOMAIN_VERSION = "1"
DOMAIN_TYPE = b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
VOTE_TYPE = b"Vote(uint8 voteType,uint64 height,uint32 round,bytes32 blockHash)"
PROPOSAL_TYPE = b"Proposal(uint64 height,uint32 round,bytes32 blockHash,int32 polRound)"
DOMAIN_TYPEHASH = keccak(DOMAIN_TYPE)
VOTE_TYPEHASH = keccak(VOTE_TYPE)
PROPOSAL_TYPEHASH = keccak(PROPOSAL_TYPE)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _word(value: int) -> bytes:
    """ABI-encode an integer as one 32-byte word (two's complement for negatives)."""
    return (value % 2**256).to_bytes(32, "big")


def compute_domain_separator(chain_id: int, verifying_contract: bytes) -> bytes:
    """EIP-712 domain separator of the Azora consensus domain."""
    if len(verifying_contract) != 20:
        raise ValueError("verifying contract must be a 20-byte address")
    return keccak(DOMAIN_TYPEHASH + keccak(DOMAIN_NAME.encode()) + keccak(DOMAIN_VERSION.encode())
                  + _word(chain_id) + verifying_contract.rjust(32, b"\x00"))


@dataclass(frozen=True)
class SigningDomain:
    """Chain id and ValidatorRegistry address that every signature is bound to."""

    chain_id: int
    verifying_contract: bytes
    separator: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "separator", compute_domain_separator(self.chain_id, self.verifying_contract))


def compute_vote_struct_hash(vote: Vote) -> bytes:
    return keccak(VOTE_TYPEHASH + _word(vote.vote_type) + _word(vote.height) + _word(vote.round)
                  + (vote.block_hash or NIL_HASH))


def compute_proposal_struct_hash(proposal: Proposal) -> bytes:
    return keccak(PROPOSAL_TYPEHASH + _word(proposal.height) + _word(proposal.round)
                  + proposal.block_hash + _word(proposal.pol_round))


# The memo caches below serve copies of the same message arriving from several peers within
# seconds; a few heights' worth is enough. Larger ones filled over tens of thousands of blocks
# (16K and 64K entries, ~30 MB) and showed as memory growing with the chain.
@lru_cache(maxsize=1 << 12)
def compute_vote_digest(domain: SigningDomain, vote: Vote) -> bytes:
    """keccak(0x1901 || domainSeparator || hashStruct(Vote)). Memoised: every peer's copy of a
    vote needs the same digest."""
    return keccak(b"\x19\x01" + domain.separator + compute_vote_struct_hash(vote))


@lru_cache(maxsize=1 << 10)
def compute_proposal_digest(domain: SigningDomain, proposal: Proposal) -> bytes:
    """keccak(0x1901 || domainSeparator || hashStruct(Proposal))."""
    return keccak(b"\x19\x01" + domain.separator + compute_proposal_struct_hash(proposal))


def is_canonical_signature(signature: bytes) -> bool:
    """65 bytes, v in {27, 28}, 0 < r < n, 0 < s <= n/2: the forms the on-chain verifier accepts."""
    if len(signature) != 65 or signature[64] not in (27, 28):
        return False
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    return 0 < r < SECP256K1_N and 0 < s <= SECP256K1_N // 2


def address_of(public_key: coincurve.PublicKey) -> bytes:
    """The 20-byte account address of a secp256k1 public key."""
    return keccak(public_key.format(compressed=False)[1:])[12:]


@lru_cache(maxsize=1 << 12)
def recover_signer(digest: bytes, signature: bytes) -> bytes | None:
    """The address that produced ``signature`` over ``digest``, or None if it is not canonical.

    Memoised: the same gossiped signature reaches a node many times, and recovery is the most
    expensive thing the engine does.
    """
    if not is_canonical_signature(signature):
        return None
    # coincurve directly, as eth-keys' coincurve backend does, without its per-call backend
    # lookup and Signature object: a third of the recovery's time
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            signature[:64] + bytes((signature[64] - 27,)), digest, hasher=None)
    except Exception:  # noqa: BLE001 - coincurve's errors for a point that is not on the curve
        return None
    return address_of(public_key)


def is_valid_vote_signature(domain: SigningDomain, signed: SignedVote) -> bool:
    return recover_signer(compute_vote_digest(domain, signed.vote), signed.signature) == signed.validator


def is_valid_proposal_signature(domain: SigningDomain, signed: SignedProposal) -> bool:
    return recover_signer(compute_proposal_digest(domain, signed.proposal), signed.signature) == signed.proposer


def sign_digest(private_key: coincurve.PrivateKey, digest: bytes) -> bytes:
    """65-byte r||s||v signature (v in {27, 28}); libsecp256k1 always yields low s."""
    signature = private_key.sign_recoverable(digest, hasher=None)
    return signature[:64] + bytes((signature[64] + 27,))


class LocalSigner:
    """Signs consensus messages with a key held in memory. Host-side only.

    It does not consult the last-sign record: wrap it in ``sign_guard.GuardedSigner`` for a
    validator that must never double-sign.
    """

    def __init__(self, private_key: bytes, domain: SigningDomain) -> None:
        # a coincurve key made once: eth-keys makes one (and derives its public key) per
        # signature, more than half of what signing a vote cost
        self._key = coincurve.PrivateKey(private_key)
        self.domain = domain
        self.address: bytes = address_of(self._key.public_key)

    def sign_vote(self, vote: Vote) -> SignedVote:
        signature = sign_digest(self._key, compute_vote_digest(self.domain, vote))
        return SignedVote(vote, self.address, signature)

    def sign_proposal(self, proposal: Proposal) -> SignedProposal:
        signature = sign_digest(self._key, compute_proposal_digest(self.domain, proposal))
        return SignedProposal(proposal, self.address, signature)
