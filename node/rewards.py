"""Epoch rewards: the system call that pays an epoch's validators for the blocks they signed.

DESIGN: the validator reward reserve pays each epoch's validators in proportion to blocks
signed. A validator signed block h when its precommit is in h's canonical commit — the one
block h+1 binds in its mixHash. So that any node can count signatures from the blocks alone
(range sync, and a plain RLP chain file, carry no certificates), block h+1's ``extraData`` is
the bitmap of those signers over h's validator set in address order (≤ 32 bytes, so at most
256 validators); validators reject a proposal whose bitmap does not match the parent commit
it carries. At the first block of epoch e+1 the block runs, as a system call,
``ValidatorRegistry.distributeRewards(e, validators, blocks_signed)`` before its transactions,
and ``recordValidatorSet(validators)`` with the set that signs from that block, so the registry
accepts evidence only against a member of the offending height's set.
"""
from __future__ import annotations

from collections import Counter

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, to_canonical_address

from consensus.epochs import compute_epoch
from consensus.types import CommitCertificate, ValidatorSet
from kernel.chain import Chain
from node.validators import ValidatorSets

DISTRIBUTE_SELECTOR = function_signature_to_4byte_selector("distributeRewards(uint256,address[],uint256[])")
RECORD_SET_SELECTOR = function_signature_to_4byte_selector("recordValidatorSet(address[])")
MAX_BITMAP_VALIDATORS = 32 * 8      # extraData holds at most 32 bytes


def is_first_block_of_epoch(height: int, epoch_length: int) -> bool:
    return height > 1 and (height - 1) % epoch_length == 0


def encode_signers(validator_set: ValidatorSet, certificate: CommitCertificate | None) -> bytes:
    """The bitmap of ``certificate``'s signers over ``validator_set`` sorted by address."""
    if certificate is None:
        return b""
    addresses = sorted(validator_set.addresses)
    if len(addresses) > MAX_BITMAP_VALIDATORS:
        raise ValueError(f"a signer bitmap holds at most {MAX_BITMAP_VALIDATORS} validators")
    signed = {validator for validator, _ in certificate.signatures}
    bitmap = bytearray((len(addresses) + 7) // 8)
    for index, address in enumerate(addresses):
        if address in signed:
            bitmap[index // 8] |= 0x80 >> (index % 8)
    return bytes(bitmap)


def decode_signers(validator_set: ValidatorSet, bitmap: bytes) -> list[bytes]:
    addresses = sorted(validator_set.addresses)
    return [a for index, a in enumerate(addresses)
            if index // 8 < len(bitmap) and bitmap[index // 8] & (0x80 >> (index % 8))]


def block_extra_data(sets: ValidatorSets, parent_height: int,
                     parent_certificate: CommitCertificate | None) -> bytes:
    """``extraData`` of block ``parent_height + 1``: who signed its parent's canonical commit."""
    if parent_height == 0:
        return b""
    return encode_signers(sets.for_height(parent_height), parent_certificate)


def compute_blocks_signed(chain: Chain, sets: ValidatorSets, first: int, last: int,
                          last_extra_data: bytes) -> Counter[bytes]:
    """Per validator, how many of blocks first..last it signed, read from the bitmaps in the
    next blocks' extraData (``last_extra_data`` is that of the block after ``last``)."""
    signed: Counter[bytes] = Counter()
    for height in range(first, last + 1):
        bitmap = last_extra_data if height == last else chain.header_by_number(height + 1).extra_data
        signed.update(decode_signers(sets.for_height(height), bitmap))
    return signed


def reward_system_calls(chain: Chain, sets: ValidatorSets, height: int,
                        extra_data: bytes) -> list[tuple[bytes, bytes]]:
    """The system calls block ``height`` (whose extraData is given) must run: empty except at
    the start of an epoch."""
    registry = chain.system_contracts.get("ValidatorRegistry")
    epoch_length = sets.epoch_length
    if registry is None or not is_first_block_of_epoch(height, epoch_length):
        return []
    epoch = compute_epoch(height - 1, epoch_length)
    first, last = epoch * epoch_length + 1, (epoch + 1) * epoch_length
    signed = compute_blocks_signed(chain, sets, first, last, extra_data)
    validators = sorted(signed)
    data = DISTRIBUTE_SELECTOR + encode(["uint256", "address[]", "uint256[]"],
                                        [epoch, validators, [signed[v] for v in validators]])
    new_set = RECORD_SET_SELECTOR + encode(["address[]"], [sorted(sets.for_height(height).addresses)])
    return [(to_canonical_address(registry), data), (to_canonical_address(registry), new_set)]
