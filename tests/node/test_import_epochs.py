"""A chain file alone re-executes across epoch boundaries: the epoch-reward system calls are
computed from the signer bitmaps the blocks carry, not from certificates the file lacks."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def azora(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "node.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def test_export_import_across_an_epoch_boundary(start_azora, tmp_path):
    source = tmp_path / "source"
    node = start_azora("dev", "--datadir", str(source))
    node.rpc("evm_mine", [{"blocks": hex(105)}])
    head = node.rpc("eth_getBlockByNumber", ["latest", False])["result"]
    assert int(head["number"], 16) == 105
    block_101 = node.rpc("eth_getBlockByNumber", ["0x65", False])["result"]
    assert block_101["extraData"] != "0x"          # the signer bitmap of block 100's commit
    node.stop()

    exported = azora("export", "--datadir", str(source), str(tmp_path / "chain.rlp"))
    assert exported.returncode == 0, exported.stderr
    imported = azora("import", "--datadir", str(tmp_path / "copy"), "--genesis",
                     str(source / "genesis.json"), str(tmp_path / "chain.rlp"))
    assert imported.returncode == 0, imported.stderr
    assert head["hash"][2:] in imported.stdout and "head #105" in imported.stdout
