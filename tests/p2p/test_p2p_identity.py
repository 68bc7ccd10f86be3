"""The node key in the datadir."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from p2p.identity import NodeKeyError, load_or_create_node_key, node_key_path, peer_id_of


@pytest.mark.timeout(10)
def test_node_key_is_created_with_0600_and_reloaded_unchanged(tmp_path: Path) -> None:
    first = load_or_create_node_key(tmp_path / "datadir")
    path = node_key_path(tmp_path / "datadir")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = load_or_create_node_key(tmp_path / "datadir")
    assert first.private_key.to_bytes() == second.private_key.to_bytes()
    assert peer_id_of(first) == peer_id_of(second)
    assert str(peer_id_of(first)).startswith("16Uiu2")  # secp256k1 peer ids


@pytest.mark.timeout(10)
def test_distinct_datadirs_get_distinct_identities(tmp_path: Path) -> None:
    assert peer_id_of(load_or_create_node_key(tmp_path / "a")) != peer_id_of(
        load_or_create_node_key(tmp_path / "b")
    )


@pytest.mark.timeout(10)
def test_invalid_world_readable_key_is_refused(tmp_path: Path) -> None:
    load_or_create_node_key(tmp_path)
    os.chmod(node_key_path(tmp_path), 0o644)
    with pytest.raises(NodeKeyError, match="chmod 600"):
        load_or_create_node_key(tmp_path)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("content", ["not hex", "00" * 32, "ff" * 32, "ab" * 31])
def test_invalid_key_contents_are_refused(tmp_path: Path, content: str) -> None:
    path = node_key_path(tmp_path)
    path.write_text(content)
    os.chmod(path, 0o600)
    with pytest.raises(NodeKeyError):
        load_or_create_node_key(tmp_path)
