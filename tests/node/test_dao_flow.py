"""The DAO flow of docs/dao.md runs as written against a fresh ``azora dev``: a proposal goes
from Pending to Executed through the Timelock, and its effect is visible."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_dao_flow_script_executes_a_proposal(dev_node):
    run = subprocess.run([sys.executable, "scripts/dao_flow.py", "--rpc", dev_node.url,
                          "--new-voting-period", "33"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result == {"proposalId": result["proposalId"], "state": "Executed", "votingPeriod": 33}
    assert "state Queued" in run.stdout and "voted For; state Active" in run.stdout
