"""Operators' keys: ``azora testnet init`` never overwrites a folder without ``--force``, and
``azora node run`` refuses key and password files that other users can read."""
from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def azora(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def init(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return azora("testnet", "init", "--validators", "1", "--out", str(out), *extra)


def test_invalid_second_init_over_a_testnet_is_refused_and_changes_nothing(tmp_path):
    out = tmp_path / "net"
    assert init(out).returncode == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    again = init(out)
    assert again.returncode == 2
    assert again.stderr.startswith("error: ") and "--force" in again.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_force_replaces_the_whole_testnet_including_chain_data(tmp_path):
    out = tmp_path / "net"
    assert init(out).returncode == 0
    old_genesis = (out / "genesis.json").read_text()
    stale = out / "validator0" / "data" / "chaindata"
    stale.mkdir(parents=True)
    (stale / "CURRENT").write_text("old chain")
    assert init(out, "--force").returncode == 0
    assert (out / "genesis.json").read_text() != old_genesis
    assert not stale.exists()     # no node starts on the old chain under the new genesis
    assert json.loads((out / "testnet.json").read_text())["nodes"][0]["name"] == "validator0"


def test_invalid_force_never_removes_files_a_testnet_did_not_write(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    forced = init(out, "--force")
    assert forced.returncode == 2 and "notes.txt" in forced.stderr
    assert (out / "notes.txt").read_text() == "keep me"


def test_init_writes_secrets_readable_by_their_owner_only(tmp_path):
    out = tmp_path / "net"
    assert init(out).returncode == 0
    assert mode_of(out / "validator0" / "password.txt") == 0o600
    assert mode_of(out / "validator0" / "validator.json") & 0o077 == 0


def test_invalid_world_readable_password_or_key_file_is_refused_by_node_run(tmp_path):
    out = tmp_path / "net"
    assert init(out).returncode == 0
    config = out / "validator0" / "config.yaml"
    for secret in (out / "validator0" / "password.txt", out / "validator0" / "validator.json"):
        secret.chmod(0o644)
        refused = azora("node", "run", "--config", str(config))
        assert refused.returncode == 2
        assert refused.stderr.strip() == f"error: {secret} is accessible by other users (mode 644); chmod 600 it"
        secret.chmod(0o600)
