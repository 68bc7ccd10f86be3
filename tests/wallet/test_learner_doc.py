"""docs/learner.md runs as written: its ``sh`` blocks, in order, in one shell, against a fresh
``azora dev`` (as tests/node/test_dao_flow.py runs the DAO flow), with ``azora`` on PATH and
the default keystore directory under a temporary HOME. The credential comes through the real
oracle committee (three `azora oracle run` processes the doc starts and stops)."""
from __future__ import annotations

import os
import signal
import subprocess

from helpers import REPO, doc_sh_blocks, doc_shell_env, free_port_range


def doc_commands() -> str:
    return doc_sh_blocks(REPO / "docs" / "learner.md")


def test_learner_doc_runs_from_nothing_to_a_verified_credential_and_a_reward(dev_node, w3, tmp_path):
    # the committee's xAPI ports (base + 0..2) and p2p ports (base + 100..102)
    env = doc_shell_env(tmp_path, dev_node.url, ORACLE_PORT=str(free_port_range(103)))
    home = tmp_path / "home"
    # its own process group: should the doc's waits never end, the oracles it started go too
    shell = subprocess.Popen(["bash", "-euo", "pipefail", "-c", doc_commands()], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = shell.communicate(timeout=600)
    finally:
        try:
            os.killpg(shell.pid, signal.SIGKILL)   # whatever of the group is left
        except ProcessLookupError:
            pass
    run = subprocess.CompletedProcess(shell.args, shell.returncode, stdout, stderr)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:] + (tmp_path / "committee.log").read_text()[-3000:]
    assert "VALID: credential #" in run.stdout and "valid: signed by" in run.stdout
    assert "withdrew 100.0 AZR" in run.stdout
    keys = [p for p in (home / ".azora" / "keystore").iterdir() if not p.name.startswith(".")]
    assert len(keys) == 2 and all(k.name.startswith("UTC--") and k.stat().st_mode & 0o777 == 0o600 for k in keys)
    for secret in ("test test test", "a long passphrase"):
        assert all(secret not in k.read_text() for k in keys)
