"""`azora`'s wallet, DAO, credential and oracle commands are run by hand and by scripts, one
process each: the command line must not load py-evm (half a second) to build its parser.
Only the commands that run or read a chain (dev, init, import, ...) import it, when they run."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_building_the_command_line_does_not_load_the_evm() -> None:
    probe = ("import sys, node.cli; "
             "print(sorted(m for m in sys.modules if m == 'eth' or m.startswith(('eth.', 'kernel.genesis', 'kernel.execution'))))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout[:500]


def test_a_wallet_command_still_runs_without_it() -> None:
    out = subprocess.run([sys.executable, "-m", "node.cli", "wallet", "new", "--help"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "usage:" in out.stdout
