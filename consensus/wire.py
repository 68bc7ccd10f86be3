"""Wire formats of the consensus gossip topics and of range-sync items.

Votes and evidence travel as their own RLP (``consensus.types``); a proposal travels with its
block and the parent commit the proposer chose, and a committed block with its certificate and
its parent's (DESIGN: the canonical commit of block H-1 is the one block H's proposer carries).
Blocks are opaque RLP bytes here: the node decodes them with the kernel's block classes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import rlp

from consensus.types import CommitCertificate, SignedProposal


@dataclass(frozen=True)
class ProposalMessage:
    """A signed proposal with its block and the parent commit the proposer chose."""

    signed: SignedProposal
    block: bytes
    parent_certificate: bytes

    def encode(self) -> bytes:
        return rlp.encode([self.signed.encode(), self.block, self.parent_certificate])

    @classmethod
    def decode(cls, data: bytes) -> "ProposalMessage":
        items = _rlp_items(data, "proposal message")
        if not isinstance(items, list) or len(items) != 3 or not all(isinstance(i, bytes) for i in items):
            raise ValueError("proposal message: expected [proposal, block, parentCommit]")
        return cls(SignedProposal.decode(items[0]), items[1], items[2])


@dataclass(frozen=True)
class CommittedBlockMessage:
    """A committed block, its certificate and the canonical certificate of its parent (the one
    the block's mixHash binds): what full nodes follow on gossip and range sync serves."""

    block: bytes
    certificate: bytes
    parent_certificate: bytes    # empty for block 1

    def encode(self) -> bytes:
        return rlp.encode([self.block, self.certificate, self.parent_certificate])

    @classmethod
    def decode(cls, data: bytes) -> "CommittedBlockMessage":
        items = _rlp_items(data, "block message")
        if not isinstance(items, list) or len(items) != 3 or not all(isinstance(i, bytes) for i in items):
            raise ValueError("block message: expected [block, commit, parentCommit]")
        return cls(items[0], items[1], items[2])


def encode_commits(certificate: bytes, parent_certificate: bytes) -> bytes:
    """The commit field of a range-sync item: the block's certificate and its parent's."""
    return rlp.encode([certificate, parent_certificate])


def decode_commits(data: bytes) -> tuple[CommitCertificate, CommitCertificate | None]:
    items = _rlp_items(data, "commits")
    if not isinstance(items, list) or len(items) != 2 or not all(isinstance(i, bytes) for i in items):
        raise ValueError("commits: expected [commit, parentCommit]")
    return CommitCertificate.decode(items[0]), CommitCertificate.decode(items[1]) if items[1] else None


def _rlp_items(data: bytes, what: str) -> Any:
    """RLP-decode gossip bytes; malformed input is a ValueError like every other decoding fault
    (rlp's own exceptions are not ValueErrors, and a gossip validator that raises cannot
    reject, so the sender would go unpunished)."""
    try:
        return rlp.decode(data)
    except rlp.exceptions.RLPException as exc:
        raise ValueError(f"{what}: {exc}") from None
