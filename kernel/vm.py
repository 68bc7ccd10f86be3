"""Azora's VM: py-evm's newest fork (Prague), overriding only what Azora changes."""
from __future__ import annotations

import functools
import logging
from typing import Any

import ckzg
import rlp
import eth.precompiles.point_evaluation as point_evaluation
from eth.abc import BlockAPI
from eth.constants import SYSTEM_ADDRESS
from eth.vm.forks.prague import PragueVM
from eth_utils import keccak

from kernel import ordered_trie

logger = logging.getLogger("azora.kernel.vm")

# The point-evaluation precompile (0x0a) reloads the KZG trusted setup from disk on every call
# (about 3 s): any caller could stall block production with one cheap call. Load it once.
_load_trusted_setup_once = functools.cache(ckzg.load_trusted_setup)
point_evaluation.load_trusted_setup = _load_trusted_setup_once

# Block tries (transactions, receipts, withdrawals) built in one pass, for every fork's VM.
ordered_trie.install()


SYSTEM_CALL_GAS = 30_000_000


class AzoraPragueVM(PragueVM):
    """Prague execution; block headers are Ethereum headers (extraData ≤ 32 bytes,
    difficulty 0, nonce 0) whose coinbase and mixHash carry the BFT proposer and the hash of
    the parent's commit certificate — consensus checks those, the VM only executes.

    ``system_calls`` run at the start of the block, after Prague's own system steps, as calls
    from SYSTEM_ADDRESS (as EIP-4788 and EIP-2935 do): the consensus rules decide them (epoch
    rewards), and every node passes the same ones when it builds or imports the block.
    """

    fork = "prague"
    system_calls: tuple[tuple[bytes, bytes], ...] = ()

    def pack_block(self, block: BlockAPI, *args: Any, **kwargs: Any) -> BlockAPI:
        """py-evm's, without deep-copying the block's transactions: rlp's ``copy`` deep-copies
        every field it is not given, a tenth of the time of building a full block, and
        transactions are immutable."""
        if "uncles" in kwargs:
            uncles = kwargs.pop("uncles")
            kwargs.setdefault("uncles_hash", keccak(rlp.encode(uncles)))
        else:
            uncles = block.uncles
        header = block.header.copy(**kwargs)
        fields = {name: getattr(block, name) for name in block._meta.field_names}
        return block.copy(**{**fields, "uncles": uncles, "header": header})

    def block_preprocessing(self, block: BlockAPI) -> None:
        super().block_preprocessing(block)
        for to, data in self.system_calls:
            computation = self.execute_bytecode(
                origin=SYSTEM_ADDRESS, gas_price=0, gas=SYSTEM_CALL_GAS, to=to, sender=SYSTEM_ADDRESS,
                value=0, data=data, code=self.state.get_code(to), code_address=to)
            if computation.is_error:
                # Deterministic on every node; the block stays valid without the call's effects.
                logger.warning("system call to 0x%s failed: %r", to.hex(), computation.error)
