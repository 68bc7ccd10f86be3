"""Which chain a key last signed a transaction on, kept beside its keystore.

A key that signed on one chain and is now pointed at a node of another (a testnet key sent to
a mainnet node, or the reverse) is more often a mistake than a plan: the wallet refuses until
``--chain-id`` confirms the new chain. The record is a hidden file next to the keystore
(``.<keystore name>.chain``) holding the chain id; the keystore itself is never rewritten.
"""
from __future__ import annotations

import os
from pathlib import Path

from wallet.errors import WalletError


def last_chain_path(keystore: Path) -> Path:
    return keystore.with_name(f".{keystore.name}.chain")


def read_last_chain(keystore: Path) -> int | None:
    try:
        return int(last_chain_path(keystore).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def check_chain(keystore: Path, node_chain_id: int, confirmed_chain_id: int | None) -> None:
    """Refuse a chain other than the key's last one unless ``--chain-id`` names the node's."""
    if confirmed_chain_id is not None:
        if confirmed_chain_id != node_chain_id:
            raise WalletError(f"--chain-id {confirmed_chain_id} but the node serves chain {node_chain_id}")
        return
    last = read_last_chain(keystore)
    if last is not None and last != node_chain_id:
        raise WalletError(f"this key last signed on chain {last} and the node serves chain {node_chain_id}; "
                          f"pass --chain-id {node_chain_id} if you mean to use it there")


def record_chain(keystore: Path, chain_id: int) -> None:
    path = last_chain_path(keystore)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"{chain_id}\n")
    os.replace(tmp, path)
