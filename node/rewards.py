"""Epoch rewards: the system call that pays an epoch's validators for the blocks they signed.

DESIGN: the validator reward reserve pays each epoch's validators in proportion to blocks
signed. At the first block of epoch e+1 the block runs, as a system call,
``ValidatorRegistry.distributeRewards(e, validators, blocks_signed)``, where a validator signed
block h when its precommit is in h's canonical commit — the one block h+1 binds in its
mixHash. For the epoch's last block that is the parent commit the proposer carries, so every
node derives the same call from the same certificates.
"""
from __future__ import annotations

from collections import Counter

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, to_canonical_address

from consensus.epochs import compute_epoch
from consensus.types import CommitCertificate
from kernel.chain import Chain

DISTRIBUTE_SELECTOR = function_signature_to_4byte_selector("distributeRewards(uint256,address[],uint256[])")


def is_first_block_of_epoch(height: int, epoch_length: int) -> bool:
    return height > 1 and (height - 1) % epoch_length == 0


def compute_blocks_signed(chain: Chain, first: int, last: int,
                          last_certificate: CommitCertificate | None) -> Counter[bytes]:
    """Per validator, how many of blocks first..last carry its precommit in their canonical commit."""
    signed: Counter[bytes] = Counter()
    for height in range(first, last + 1):
        if height == last and last_certificate is not None:
            certificate = last_certificate
        else:
            raw = chain.commit_of(chain.header_by_number(height).hash)
            if raw is None:
                continue
            certificate = CommitCertificate.decode(raw)
        signed.update(validator for validator, _ in certificate.signatures)
    return signed


def reward_system_calls(chain: Chain, height: int, epoch_length: int,
                        parent_certificate: CommitCertificate | None) -> list[tuple[bytes, bytes]]:
    """The system calls block ``height`` must run (empty except at the start of an epoch)."""
    registry = chain.system_contracts.get("ValidatorRegistry")
    if registry is None or not is_first_block_of_epoch(height, epoch_length):
        return []
    epoch = compute_epoch(height - 1, epoch_length)
    first, last = epoch * epoch_length + 1, (epoch + 1) * epoch_length
    signed = compute_blocks_signed(chain, first, last, parent_certificate)
    validators = sorted(signed)
    data = DISTRIBUTE_SELECTOR + encode(["uint256", "address[]", "uint256[]"],
                                        [epoch, validators, [signed[v] for v in validators]])
    return [(to_canonical_address(registry), data)]
