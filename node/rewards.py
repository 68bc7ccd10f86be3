"""Epoch rewards: the system call that pays an epoch's validators for the blocks they signed.

DESIGN: the validator reward reserve pays each epoch's validators in proportion to blocks
signed. A validator signed block h when its precommit is in h's canonical commit — the one
block h+1 binds in its mixHash. So that any node can count signatures from the blocks alone
(range sync, and a plain RLP chain file, carry no certificates), block h+1's ``extraData`` is
the bitmap of those signers over h's validator set in address order (≤ 32 bytes, so at most
256 validators; ``consensus.block_rules.signer_bitmap``); validators reject a proposal whose
bitmap does not match the parent commit it carries. At the first block of epoch e+1 the block
runs, as system calls, ``ValidatorRegistry.distributeRewards(e, validators, blocks_signed)``
and ``recordValidatorSet(validators)`` with the set that signs from that block (so the registry
accepts evidence only against a member of the offending height's set), before its transactions.
This module reads the chain for those rules and encodes the calls.
"""
from __future__ import annotations

from collections import Counter

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, to_canonical_address

from consensus.block_rules import (
    compute_epoch_end, compute_epoch_start, compute_extra_data, compute_reward_epoch, signers_from_bitmap,
)
from consensus.types import CommitCertificate
from kernel.chain import Chain
from node.validators import ValidatorSetStore

DISTRIBUTE_SELECTOR = function_signature_to_4byte_selector("distributeRewards(uint256,address[],uint256[])")
RECORD_SET_SELECTOR = function_signature_to_4byte_selector("recordValidatorSet(address[])")


def block_extra_data(sets: ValidatorSetStore, parent_height: int,
                     parent_certificate: CommitCertificate | None) -> bytes:
    """``extraData`` of block ``parent_height + 1``: who signed its parent's canonical commit."""
    parent_set = sets.for_height(parent_height) if parent_height > 0 else None
    return compute_extra_data(parent_height, parent_set, parent_certificate)


def compute_blocks_signed(chain: Chain, sets: ValidatorSetStore, first: int, last: int,
                          last_extra_data: bytes) -> Counter[bytes]:
    """Per validator, how many of blocks first..last it signed, read from the bitmaps in the
    next blocks' extraData (``last_extra_data`` is that of the block after ``last``)."""
    signed: Counter[bytes] = Counter()
    for height in range(first, last + 1):
        bitmap = last_extra_data if height == last else chain.header_by_number(height + 1).extra_data
        signed.update(signers_from_bitmap(sets.for_height(height), bitmap))
    return signed


def runs_system_calls(chain: Chain, sets: ValidatorSetStore, height: int) -> bool:
    """Whether block ``height`` runs system calls (``reward_system_calls``), known before its
    parent commits."""
    return "ValidatorRegistry" in chain.system_contracts and \
        compute_reward_epoch(height, sets.epoch_length) is not None


def reward_system_calls(chain: Chain, sets: ValidatorSetStore, height: int,
                        extra_data: bytes) -> list[tuple[bytes, bytes]]:
    """The system calls block ``height`` (whose extraData is given) must run: empty except at
    the start of an epoch."""
    registry = chain.system_contracts.get("ValidatorRegistry")
    epoch = compute_reward_epoch(height, sets.epoch_length)
    if registry is None or epoch is None:
        return []
    first, last = compute_epoch_start(epoch, sets.epoch_length), compute_epoch_end(epoch, sets.epoch_length)
    signed = compute_blocks_signed(chain, sets, first, last, extra_data)
    validators = sorted(signed)
    data = DISTRIBUTE_SELECTOR + encode(["uint256", "address[]", "uint256[]"],
                                        [epoch, validators, [signed[v] for v in validators]])
    new_set = RECORD_SET_SELECTOR + encode(["address[]"], [sorted(sets.for_height(height).addresses)])
    return [(to_canonical_address(registry), data), (to_canonical_address(registry), new_set)]
