"""Azora's VM: py-evm's newest fork (Prague), overriding only what Azora changes."""
from __future__ import annotations

import functools

import ckzg
import eth.precompiles.point_evaluation as point_evaluation
from eth.vm.forks.prague import PragueVM

# The point-evaluation precompile (0x0a) reloads the KZG trusted setup from disk on every call
# (about 3 s): any caller could stall block production with one cheap call. Load it once.
_load_trusted_setup_once = functools.cache(ckzg.load_trusted_setup)
point_evaluation.load_trusted_setup = _load_trusted_setup_once


class AzoraPragueVM(PragueVM):
    """Prague execution; block headers are Ethereum headers (extraData ≤ 32 bytes,
    difficulty 0, nonce 0) whose coinbase and mixHash carry the BFT proposer and the hash of
    the parent's commit certificate — consensus checks those, the VM only executes."""

    fork = "prague"
