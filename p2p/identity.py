"""The node's libp2p identity: a secp256k1 key kept in the datadir.

The key file holds the 32-byte secret as hex (as geth's ``nodekey``), is created with mode
0600 and is never rewritten, so the peer id — and every bootnode multiaddr naming it — stays
stable across restarts.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from libp2p.crypto.keys import KeyPair
from libp2p.crypto.secp256k1 import create_new_key_pair
from libp2p.peer.id import ID

NODE_KEY_FILENAME = "nodekey"
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class NodeKeyError(ValueError):
    """The node key file exists but is unreadable, malformed or too permissive."""


def node_key_path(datadir: str | os.PathLike[str]) -> Path:
    """Where the node key of ``datadir`` lives."""
    return Path(datadir) / NODE_KEY_FILENAME


def is_valid_secret(secret: bytes) -> bool:
    """A secp256k1 secret is 32 bytes encoding an integer in [1, n)."""
    return len(secret) == 32 and 0 < int.from_bytes(secret, "big") < SECP256K1_ORDER


def _write_new_key(path: Path, secret: bytes) -> None:
    # O_EXCL: two processes racing on one datadir cannot both create a key; the mode is set
    # at creation so the secret is never readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _read_key(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise NodeKeyError(f"{path} is accessible by other users (mode {mode:o}); chmod 600 it")
    try:
        secret = bytes.fromhex(path.read_text().strip())
    except ValueError:
        raise NodeKeyError(f"{path} does not hold a hex secret") from None
    if not is_valid_secret(secret):
        raise NodeKeyError(f"{path} does not hold a valid secp256k1 secret")
    return secret


def load_or_create_node_key(datadir: str | os.PathLike[str]) -> KeyPair:
    """Load the datadir's secp256k1 node key, creating it (mode 0600) on first use."""
    path = node_key_path(datadir)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        secret = secrets.token_bytes(32)
        while not is_valid_secret(secret):
            secret = secrets.token_bytes(32)
        try:
            _write_new_key(path, secret)
        except FileExistsError:
            pass  # another process created it first: use theirs
    return create_new_key_pair(_read_key(path))


def peer_id_of(key_pair: KeyPair) -> ID:
    """The libp2p peer id of a key pair."""
    return ID.from_pubkey(key_pair.public_key)
